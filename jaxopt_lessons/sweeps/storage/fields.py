"""The invariants of a ``SweepResult``'s fields: types, dtype kinds, shapes, ranges, statuses.

:func:`check_fields` runs before every save and after every load; each problem is a
``ValueError`` whose message starts with the field's name.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np

from .. import status as status_registry  # read at each check: names are added there

__all__ = ["EXTENSION_FLOATS", "LANE_ARRAYS", "OPTIONAL_ARRAYS", "check_fields", "describe", "kind_of"]

LANE_ARRAYS = {"learning_rates": "f", "seeds": "iu", "optimizers": "U", "final_loss": "f", "status": "U",
               "diverged_at": "iu"}
"""The required ``(n_lanes,)`` fields and their dtype kinds (``losses`` is checked on its own)."""
OPTIONAL_ARRAYS = {"eval_losses": "f", "final_eval": "f", "steps_run": "iu"}
"""The per-lane fields that may be ``None`` and their dtype kinds."""
EXTENSION_FLOATS = {"bfloat16": np.dtype(jax.numpy.bfloat16)}
"""Float dtypes NumPy does not know by name (ml_dtypes, through JAX), by name."""
_KIND_NAMES = {"f": "a float", "iu": "an integer", "U": "a str", "fiu": "a number", "biuf": "a number"}


def kind_of(dtype: np.dtype) -> str:
    """``dtype.kind``, with ``"f"`` for bfloat16 (whose NumPy kind is ``"V"``)."""
    return "f" if dtype in EXTENSION_FLOATS.values() else dtype.kind


def describe(value: Any) -> str:
    """A short description of a wrong value for a message (never the whole of a big one)."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return "null" if value is None else f"a {type(value).__name__}"
    return f"{type(value).__name__} {value!r:.40}"


def check_fields(fields: dict[str, Any]) -> None:
    """Checks every ``SweepResult`` field's type, dtype kind, shape and range, and their consistency.

    Args:
      fields: the fields by name, arrays as NumPy arrays (``params`` is not looked at).

    Raises:
      ValueError: ``"<field>: <what is wrong>"`` for the first problem found.
    """
    steps = _integer(fields["steps"], "steps", 1)
    every = _integer(fields["record_every"], "record_every", 1, steps)
    if fields.get("stopped_at") is not None:
        _integer(fields["stopped_at"], "stopped_at", 0, steps)
    if not isinstance(fields.get("complete", True), (bool, np.bool_)):
        raise ValueError(f"complete: must be true or false, got {describe(fields['complete'])}")
    losses = _array(fields["losses"], "losses", "f")
    if losses.ndim != 2:
        raise ValueError(f"losses: must be 2-D (n_lanes, n_records), got shape {losses.shape}")
    n_lanes, n_records = losses.shape
    if n_records != -(-steps // every):
        raise ValueError(f"losses: has {n_records} records, but steps={steps} and record_every={every} give "
                         f"ceil(steps / record_every) = {-(-steps // every)}")
    for name, kinds in LANE_ARRAYS.items():
        _array(fields[name], name, kinds, (n_lanes,))
    for name, kinds in OPTIONAL_ARRAYS.items():
        if fields.get(name) is not None:
            _array(fields[name], name, kinds, (n_lanes, n_records) if name == "eval_losses" else (n_lanes,))
    for name, other in (("eval_losses", "final_eval"), ("final_eval", "eval_losses")):
        if fields.get(name) is None and fields.get(other) is not None:
            raise ValueError(f"{name}: missing, but {other} is present (an eval_fn gives both)")
    for group, kinds in (("hyperparams", "fiu"), ("stats", "biuf")):
        for name, values in (fields.get(group) or {}).items():
            if not isinstance(name, str):
                raise ValueError(f"{group}: names must be str, got {describe(name)}")
            _array(values, f"{group}[{name!r}]", kinds, (n_lanes,) if group == "hyperparams" else None, n_lanes)
            if group == "hyperparams":
                _lanes_where(~np.isfinite(values), f"{group}[{name!r}]", "must be finite", values)
    _check_ranges(fields, steps)


def _check_ranges(fields: dict[str, Any], steps: int) -> None:
    """Learning rates, seeds, status names, ``diverged`` <-> ``diverged_at``, ``steps_run``."""
    rates, seeds, status, diverged_at = (fields[name] for name in ("learning_rates", "seeds", "status", "diverged_at"))
    with np.errstate(invalid="ignore"):
        _lanes_where(~(np.isfinite(rates) & (rates > 0)), "learning_rates", "must be finite and > 0", rates)
    _lanes_where(seeds < -1, "seeds", "must be >= -1 (-1: init was a pytree)", seeds)
    _lanes_where(~np.isin(status, status_registry.STATUSES), "status",
                 f"must be one of {', '.join(status_registry.STATUSES)}", status)
    diverged = status == "diverged"
    _lanes_where(diverged & ((diverged_at < 0) | (diverged_at >= steps)), "diverged_at",
                 f"of a 'diverged' lane must be in 0..{steps - 1} (steps - 1)", diverged_at)
    _lanes_where(~diverged & (diverged_at != -1), "diverged_at", "must be -1 unless the status is 'diverged'",
                 diverged_at)
    if fields.get("complete", True):
        _lanes_where(status == "incomplete", "status", "'incomplete' only in an incomplete result", status)
    if fields.get("steps_run") is not None:
        steps_run = fields["steps_run"]
        _lanes_where((steps_run < 0) | (steps_run > steps), "steps_run", f"must be in 0..{steps} (steps)", steps_run)


def _integer(value: Any, name: str, low: int, high: int = 2**63 - 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: must be an integer, got {describe(value)}")
    if not low <= value <= high:
        shown = value if abs(value) < 2**63 else "a number out of the int64 range"
        raise ValueError(f"{name}: must be in {low}..{high}, got {shown}")
    return int(value)


def _array(value: Any, name: str, kinds: str, shape: tuple[int, ...] | None = None,
           n_lanes: int | None = None) -> np.ndarray:
    """``value`` if it is an array of one of ``kinds`` with ``shape`` (or ``n_lanes`` leading), else raises."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: must be an array, got {describe(value)}")
    if kind_of(value.dtype) not in kinds:
        raise ValueError(f"{name}: dtype {value.dtype} is not {_KIND_NAMES[kinds]}")
    if shape is not None and value.shape != shape:
        raise ValueError(f"{name}: has shape {value.shape}, expected {shape} (one per lane, {shape[0]} lanes like "
                         "losses)")
    if n_lanes is not None and (value.ndim < 1 or value.shape[0] != n_lanes):
        raise ValueError(f"{name}: has shape {value.shape}, expected a leading axis of {n_lanes} lanes")
    return value


def _lanes_where(bad: np.ndarray, name: str, rule: str, values: np.ndarray) -> None:
    if np.any(bad):
        lane = int(np.flatnonzero(np.ravel(bad))[0])
        raise ValueError(f"{name}: {rule}; lane {lane} has {np.ravel(values)[lane].item()!r} "
                         f"({int(np.sum(bad))} lanes wrong)")
