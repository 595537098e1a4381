"""Saving and loading sweep results: plain JSON, atomically, never pickle.

A file is one JSON document ``{"format": "jaxopt_lessons.SweepResult", "version", ...}``
whose arrays are ``{"dtype", "shape", "data"}`` with every float written by Python's
shortest round-trip ``repr`` (``NaN``/``Infinity`` as JSON extensions), so a result
reads back bit for bit. ``params`` is stored when it is a nest of dicts (str keys),
lists and tuples of arrays.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write_json

__all__ = ["load_fields", "save_fields"]

_FORMAT = "jaxopt_lessons.SweepResult"
_VERSION = 1
_ARRAY_FIELDS = ("learning_rates", "seeds", "optimizers", "losses", "final_loss", "status", "diverged_at")
_OPTIONAL_ARRAYS = ("eval_losses", "final_eval", "steps_run")


def save_fields(path: str | os.PathLike, fields: dict[str, Any]) -> Path:
    """Writes a ``SweepResult``'s fields (``dataclasses.fields`` order) to ``path`` atomically.

    Returns:
      The path written.
    """
    params = None
    if fields.get("params") is not None:
        try:
            params = _encode_tree(fields["params"])
        except TypeError:
            params = None
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "steps": int(fields["steps"]),
        "record_every": int(fields["record_every"]),
        "stopped_at": None if fields.get("stopped_at") is None else int(fields["stopped_at"]),
        "complete": bool(fields.get("complete", True)),
        **{name: _encode_array(fields[name]) for name in _ARRAY_FIELDS},
        **{name: None if fields.get(name) is None else _encode_array(fields[name]) for name in _OPTIONAL_ARRAYS},
        "stats": {name: _encode_array(value) for name, value in fields.get("stats", {}).items()},
        "hyperparams": {name: _encode_array(value) for name, value in fields.get("hyperparams", {}).items()},
        "params": params,
    }
    return atomic_write_json(path, document)


def load_fields(path: str | os.PathLike, *, like: Any = None) -> dict[str, Any]:
    """The ``SweepResult`` fields stored in ``path`` by :func:`save_fields`.

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
        _check_lane_shapes(arrays)
        optional = {name: None if document.get(name) is None else _decode_array(document[name])
                    for name in _OPTIONAL_ARRAYS}
        return {
            **arrays,
            **optional,
            "record_every": int(document["record_every"]),
            "steps": int(document["steps"]),
            "stopped_at": document.get("stopped_at"),
            "complete": bool(document.get("complete", True)),
            "params": None if document.get("params") is None else _decode_tree(document["params"]),
            "stats": {name: _decode_array(value) for name, value in document.get("stats", {}).items()},
            "hyperparams": {name: _decode_array(value) for name, value in document.get("hyperparams", {}).items()},
        }
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
