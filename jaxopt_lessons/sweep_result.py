"""The result of :func:`jaxopt_lessons.sweep`: flat per-lane NumPy arrays, summaries, status rules.

Lane ``i`` is one training run; every per-lane field has the lane as its first axis,
in the order optimizer (outer) x seed x learning rate (inner). ``to_json`` writes
plain JSON atomically (``NaN``/``Infinity`` included, no pickle) and ``from_json``
reads it back bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .io import atomic_write_json

_FORMAT = "jaxopt_lessons.SweepResult"
_VERSION = 1
_ARRAY_FIELDS = ("learning_rates", "seeds", "optimizers", "losses", "final_loss", "status", "diverged_at")


STATUSES = ("converged", "slow", "oscillating", "diverged")
"""The four lane statuses, in this order everywhere (tables, plots)."""

class StatusRules(NamedTuple):
    """Thresholds of the lane status rules (see :func:`jaxopt_lessons.sweep`).

    Attributes:
      blowup: a lane diverges at the first step whose loss exceeds
        ``L0 + blowup * max(|L0|, eps)`` (``L0`` the initial loss), or whose loss,
        parameters or update are non-finite.
      plateau_rtol: the loss *plateaued* when it changed over the second half of the
        run by at most ``plateau_rtol * |L0 - L_T|`` (plus a few ulps of rounding).
      flip_fraction: parameters *flip* when, in at least this fraction of the
        second-half steps, successive updates point against each other
        (``<Δθ_t, Δθ_{t-1}> < 0``, a negative cosine).
      settle_ratio: updates *died out* when the last update is at most this fraction
        of the largest update of the run (in Euclidean norm).
    """

    blowup: float = 1e3
    plateau_rtol: float = 1e-2
    flip_fraction: float = 0.5
    settle_ratio: float = 0.1


# --- status rules (host side, NumPy; thresholds documented in ``sweep``) --------------


def _plateau_tolerance(loss0: np.ndarray, start: np.ndarray, end: np.ndarray, rules: StatusRules) -> np.ndarray:
    """How far the loss may move from ``start`` to ``end`` and still count as a plateau.

    ``plateau_rtol`` of the run's total change ``|L_0 - L_end|``, plus 8 ulps of the losses.
    """
    eps = np.finfo(np.result_type(end.dtype, np.float32)).eps
    return rules.plateau_rtol * np.abs(loss0 - end) + 8 * eps * np.maximum(np.abs(start), np.abs(end))


def classify(
    *,
    loss0: np.ndarray,
    loss_mid: np.ndarray,
    final_loss: np.ndarray,
    flips_window: np.ndarray,
    max_sq_update: np.ndarray,
    last_sq_update: np.ndarray,
    diverged_at: np.ndarray,
    steps: int,
    rules: StatusRules,
) -> np.ndarray:
    """The status of every lane from its scan statistics (rules in ``sweep``'s docstring)."""
    with np.errstate(invalid="ignore", over="ignore"):
        tol = _plateau_tolerance(loss0, loss_mid, final_loss, rules)
        late_drop = loss_mid - final_loss
        falling = late_drop > tol
        plateau = np.abs(late_drop) <= tol
        window = steps - steps // 2
        flipping = flips_window >= rules.flip_fraction * window
        moving = last_sq_update > rules.settle_ratio**2 * max_sq_update
    status = np.where(
        diverged_at >= 0,
        "diverged",
        np.where(flipping & moving & ~falling, "oscillating", np.where(plateau & ~moving, "converged", "slow")),
    )
    return status.astype("<U11")


def settled(
    *,
    chunk_start_loss: np.ndarray,
    end_loss: np.ndarray,
    loss0: np.ndarray,
    max_sq_update: np.ndarray,
    last_sq_update: np.ndarray,
    alive: np.ndarray,
    rules: StatusRules,
) -> np.ndarray:
    """Lanes that are finished for early stopping: diverged, or converged over the last chunk."""
    with np.errstate(invalid="ignore", over="ignore"):
        tol = _plateau_tolerance(loss0, chunk_start_loss, end_loss, rules)
        plateau = np.abs(chunk_start_loss - end_loss) <= tol
        moving = last_sq_update > rules.settle_ratio**2 * max_sq_update
    return ~alive | (plateau & ~moving)


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """Every lane of a sweep, flat: lane ``i`` is ``(optimizers[i], seeds[i], learning_rates[i])``.

    Attributes:
      learning_rates: ``(n_lanes,)`` float64, each lane's learning rate as given.
      seeds: ``(n_lanes,)`` int64, each lane's seed (``-1`` when ``init`` was a pytree).
      optimizers: ``(n_lanes,)`` str, each lane's optimizer name.
      losses: ``(n_lanes, n_records)`` in the loss dtype; ``losses[i, k]`` is the loss
        before update ``k * record_every`` (a diverged lane repeats its frozen loss).
      final_loss: ``(n_lanes,)`` loss at each lane's final parameters (for a diverged
        lane, the frozen parameters of step ``diverged_at``).
      status: ``(n_lanes,)`` str, one of ``"converged"``, ``"slow"``, ``"oscillating"``,
        ``"diverged"`` (rules in :func:`jaxopt_lessons.sweep`).
      diverged_at: ``(n_lanes,)`` int64, the first diverged step, or ``-1``.
      record_every: steps between two records.
      steps: updates each lane was asked to run.
      stopped_at: steps actually run (``< steps`` after an early stop).
      params: final parameters, a pytree like the model's with a leading lane axis
        (NumPy), or ``None`` (e.g. read from a JSON file written without them).
      stats: the status statistics per lane (``loss0``, ``loss_mid``, ``flips_window``,
        ``max_sq_update``, ``last_sq_update``), NumPy arrays.
    """

    learning_rates: np.ndarray
    seeds: np.ndarray
    optimizers: np.ndarray
    losses: np.ndarray
    final_loss: np.ndarray
    status: np.ndarray
    diverged_at: np.ndarray
    record_every: int
    steps: int
    stopped_at: int | None = None
    params: Any = None
    stats: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    # --- views --------------------------------------------------------------------

    @property
    def n_lanes(self) -> int:
        """Number of lanes."""
        return int(self.learning_rates.shape[0])

    @property
    def record_steps(self) -> np.ndarray:
        """The step of each record: ``arange(n_records) * record_every``."""
        return np.arange(self.losses.shape[1]) * self.record_every

    def best(self, optimizer: str | None = None) -> dict[str, Any] | None:
        """The lane with the lowest finite final loss among non-diverged lanes.

        Args:
          optimizer: only consider this optimizer's lanes (default: every lane).

        Returns:
          ``{"lane", "optimizer", "seed", "learning_rate", "final_loss", "status"}``, or
          ``None`` when every (considered) lane diverged.

        Raises:
          ValueError: if ``optimizer`` is not one of the sweep's optimizer names.
        """
        considered = np.ones(self.n_lanes, bool)
        if optimizer is not None:
            names = sorted(set(self.optimizers.tolist()))
            if optimizer not in names:
                raise ValueError(f"unknown optimizer {optimizer!r}; this sweep has {', '.join(map(repr, names))}")
            considered = self.optimizers == optimizer
        candidates = np.flatnonzero(considered & (self.status != "diverged") & np.isfinite(self.final_loss))
        if candidates.size == 0:
            return None
        lane = int(candidates[np.argmin(self.final_loss[candidates])])
        return {
            "lane": lane,
            "optimizer": str(self.optimizers[lane]),
            "seed": int(self.seeds[lane]),
            "learning_rate": float(self.learning_rates[lane]),
            "final_loss": float(self.final_loss[lane]),
            "status": str(self.status[lane]),
        }

    def summary(self) -> list[dict[str, Any]]:
        """Per (optimizer, learning rate), across seeds: median and worst final loss, fraction diverged.

        A non-finite final loss counts as ``+inf`` (the worst).

        Returns:
          One dict per (optimizer, learning rate) in lane order, with ``optimizer``,
          ``learning_rate``, ``n_seeds``, ``median_final_loss``, ``worst_final_loss``,
          ``fraction_diverged`` and ``statuses`` (status -> count).
        """
        rows = []
        for optimizer, learning_rate, lanes in self._groups():
            losses = np.where(np.isfinite(self.final_loss[lanes]), self.final_loss[lanes], np.inf)
            statuses = self.status[lanes]
            rows.append({
                "optimizer": optimizer,
                "learning_rate": learning_rate,
                "n_seeds": int(lanes.size),
                "median_final_loss": float(np.median(losses)),
                "worst_final_loss": float(np.max(losses)),
                "fraction_diverged": float(np.mean(statuses == "diverged")),
                "statuses": {s: int(np.sum(statuses == s)) for s in STATUSES if np.any(statuses == s)},
            })
        return rows

    def max_stable_lr_observed(self) -> dict[str, float | None]:
        """Per optimizer, the largest learning rate at which no seed diverged (``None`` if none)."""
        out: dict[str, float | None] = {}
        for optimizer, learning_rate, lanes in self._groups():
            out.setdefault(optimizer, None)
            if not np.any(self.status[lanes] == "diverged"):
                current = out[optimizer]
                out[optimizer] = learning_rate if current is None else max(current, learning_rate)
        return out

    def _groups(self) -> list[tuple[str, float, np.ndarray]]:
        groups: dict[tuple[str, float], list[int]] = {}
        for lane, key in enumerate(zip(self.optimizers.tolist(), self.learning_rates.tolist())):
            groups.setdefault(key, []).append(lane)
        return [(opt, lr, np.asarray(lanes)) for (opt, lr), lanes in groups.items()]

    def table(self) -> str:
        """One line per lane: optimizer, seed, learning rate, final loss, status, diverged step."""
        width = max([len("optimizer"), *(len(str(o)) for o in self.optimizers)])
        lines = [f"{'optimizer':<{width}}  {'seed':>5}  {'learning_rate':>13}  {'final_loss':>12}  "
                 f"{'status':<11}  {'diverged_at':>11}"]
        for lane in range(self.n_lanes):
            diverged = int(self.diverged_at[lane])
            lines.append(
                f"{self.optimizers[lane]:<{width}}  {int(self.seeds[lane]):>5}  "
                f"{float(self.learning_rates[lane]):>13.6g}  {float(self.final_loss[lane]):>12.6g}  "
                f"{self.status[lane]:<11}  {diverged if diverged >= 0 else '-':>11}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={int(np.sum(self.status == s))}" for s in STATUSES)
        return f"SweepResult(n_lanes={self.n_lanes}, steps={self.steps}, record_every={self.record_every}, {counts})"

    def plot(self, max_stable_lr: Any = None, **kwargs: Any) -> Any:
        """Final loss vs learning rate, coloured by status (:func:`jaxopt_lessons.plots.plot_sweep`).

        Args:
          max_stable_lr: a float (or optimizer name -> float), e.g. ``2 / λmax`` from
            :func:`jaxopt_lessons.max_stable_lr`, drawn as a vertical line.
          **kwargs: passed on (``title``).

        Returns:
          A matplotlib ``Figure``.
        """
        from .plots.sweeps import plot_sweep

        return plot_sweep(self, max_stable_lr=max_stable_lr, **kwargs)

    # --- JSON ----------------------------------------------------------------------

    def to_json(self, path: str | os.PathLike) -> Path:
        """Writes the result to ``path`` as JSON, atomically; ``from_json`` reads it back exactly.

        Arrays are stored as ``{"dtype", "shape", "data"}`` with every float written by
        Python's shortest round-trip ``repr`` (``NaN``/``Infinity`` as JSON extensions).
        ``params`` is stored when it is a nest of dicts (str keys), lists and tuples of
        arrays; other pytree nodes are left out (``params`` reads back as ``None``).

        Returns:
          The path written.
        """
        params = None
        if self.params is not None:
            try:
                params = _encode_tree(self.params)
            except TypeError:
                params = None
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "steps": int(self.steps),
            "record_every": int(self.record_every),
            "stopped_at": None if self.stopped_at is None else int(self.stopped_at),
            **{name: _encode_array(getattr(self, name)) for name in _ARRAY_FIELDS},
            "stats": {name: _encode_array(value) for name, value in self.stats.items()},
            "params": params,
        }
        return atomic_write_json(path, document)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> SweepResult:
        """Reads a file written by :meth:`to_json`.

        Raises:
          ValueError: if the file is not valid JSON or not a saved ``SweepResult``
            (the message names the file and what is wrong).
        """
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a SweepResult JSON file: not valid JSON ({error})") from error
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a SweepResult JSON file (no \"format\": {_FORMAT!r} entry)")
        if document.get("version") != _VERSION:
            raise ValueError(f"{path}: unsupported SweepResult file version {document.get('version')!r}")
        try:
            arrays = {name: _decode_array(document[name]) for name in _ARRAY_FIELDS}
            stats = {name: _decode_array(value) for name, value in document.get("stats", {}).items()}
            params = None if document.get("params") is None else _decode_tree(document["params"])
            _check_lane_shapes(arrays)
            return cls(
                **arrays,
                record_every=int(document["record_every"]),
                steps=int(document["steps"]),
                stopped_at=document.get("stopped_at"),
                params=params,
                stats=stats,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{path} is not a valid SweepResult JSON file: {error!r}") from error


def _check_lane_shapes(arrays: dict[str, np.ndarray]) -> None:
    """Every per-lane field has the same number of lanes; ``losses`` is ``(n_lanes, n_records)``."""
    if arrays["losses"].ndim != 2:
        raise ValueError(f"losses must be 2-D (n_lanes, n_records), got shape {arrays['losses'].shape}")
    n_lanes = arrays["losses"].shape[0]
    for name, array in arrays.items():
        if array.ndim < 1 or array.shape[0] != n_lanes:
            raise ValueError(f"{name} has shape {array.shape}, expected {n_lanes} lanes like losses")


def _encode_array(array: Any) -> dict[str, Any]:
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "U":
        return {"dtype": array.dtype.str, "shape": list(array.shape), "data": array.ravel().tolist()}
    if kind == "f":
        data: list[Any] = [float(x) for x in array.ravel().tolist()]  # exact: repr round-trips
    elif kind in "iub":
        data = [int(x) for x in array.ravel().tolist()]
    else:
        raise TypeError(f"cannot store an array of dtype {array.dtype} in JSON")
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": data}


def _decode_array(entry: dict[str, Any]) -> np.ndarray:
    shape = tuple(int(n) for n in entry["shape"])
    dtype = np.dtype(entry["dtype"])
    if dtype.kind == "U":
        data = [str(x) for x in entry["data"]]
        if len(data) != math.prod(shape):
            raise ValueError(f"{len(data)} values for shape {shape}")
        return np.asarray(data, dtype=dtype).reshape(shape)
    if dtype.kind not in "fiub":
        raise ValueError(f"unexpected dtype {dtype}")
    if dtype.kind == "f":
        values = [float(x) for x in entry["data"]]  # exact: JSON holds repr(float)
    else:
        values = [int(x) for x in entry["data"]]
    if len(values) != math.prod(shape):
        raise ValueError(f"{len(values)} values for shape {shape}")
    return np.asarray(values, dtype=dtype).reshape(shape)


def _encode_tree(tree: Any) -> dict[str, Any]:
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise TypeError("only str dict keys are stored")
        return {"dict": {k: _encode_tree(v) for k, v in tree.items()}}
    if type(tree) in (list, tuple):
        return {type(tree).__name__: [_encode_tree(v) for v in tree]}
    if tree is None:
        return {"none": None}
    if hasattr(tree, "shape") and hasattr(tree, "dtype"):
        return {"array": _encode_array(np.asarray(tree))}
    raise TypeError(f"cannot store a {type(tree).__name__} node in JSON")


def _decode_tree(entry: dict[str, Any]) -> Any:
    (kind, value), = entry.items()
    if kind == "dict":
        return {k: _decode_tree(v) for k, v in value.items()}
    if kind == "list":
        return [_decode_tree(v) for v in value]
    if kind == "tuple":
        return tuple(_decode_tree(v) for v in value)
    if kind == "none":
        return None
    if kind == "array":
        return _decode_array(value)
    raise ValueError(f"unknown params node {kind!r}")
