"""Saving and loading sweep results: JSON metadata, arrays inline or in a ``.npz``, never pickle.

**Format (version 2).** ``to_json(path)`` writes one JSON document
``{"format": "jaxopt_lessons.SweepResult", "version": 2, "steps", "record_every",
"stopped_at", "complete", <array fields>, "stats", "hyperparams", "params"}``. Every
array is ``{"dtype", "shape"}`` plus either ``"data"`` (a flat list: floats as Python's
shortest round-trip ``repr``, ``NaN``/``Infinity`` as JSON extensions, complex numbers
as ``[re, im]``) or ``"npz": member``. Every dtype round-trips bit for bit (bool, ints,
float16/32/64, bfloat16, complex, str).

* A small result (all arrays together at most :data:`INLINE_BYTES`) is one readable JSON file.
* A larger one writes every array to ``<name>.<16 hex digits of its sha256>.npz`` next to the
  JSON (uncompressed members ``a0``, ``a1``, ...) and names it in ``"arrays": {"file",
  "sha256"}``. Both files are written atomically (:mod:`jaxopt_lessons.io`), the npz first
  and the JSON last, so a reader sees the old pair or the new pair, never a mix; the
  npz of an earlier write to the same path is removed afterwards (one writer per path).

**Parameters.** ``params`` is ``{"treedef", "structure", "leaves"}``: ``leaves`` lists every
leaf of any pytree as an array with its path (:func:`jax.tree_util.keystr`, e.g. ``"[0].W"``),
``treedef`` is the structure as text (for people). A nest of plain dicts (str keys), lists,
tuples and ``None`` is also stored as ``structure`` and reads back identical. Any other
structure (namedtuples, dataclasses, Flax/Equinox containers, registered classes) reads
back as a dict ``{path: array}`` in leaf order unless ``like=`` (one lane's parameters,
e.g. ``init(key)``) is given: then the file's paths and leaf shapes (less the lane axis)
must equal the template's and the template's structure is rebuilt.

**Reading checks everything** and answers a ``ValueError`` naming the file and the field:
types, dtype kinds, shapes and ranges of every field (:func:`check_fields`), the status
names (:data:`jaxopt_lessons.sweeps.status.STATUSES`), ``diverged`` <-> ``diverged_at``.
Hostile files: the JSON may be at most :data:`MAX_JSON_BYTES` (checked before reading) and
nest at most :data:`MAX_DEPTH` brackets (checked before parsing); numbers out of a dtype's
range, unknown or duplicate keys and wrong JSON types are refused; the npz must match its
sha256, hold only uncompressed ``.npy`` members of the declared dtype and shape, and is read
with ``np.load(allow_pickle=False)``. Version 1 files (all inline) are still read.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import numbers
import re
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..io import atomic_write_bytes, atomic_write_text
from . import status as status_registry  # read at each check: names are added there

__all__ = ["INLINE_BYTES", "MAX_DEPTH", "MAX_JSON_BYTES", "check_fields", "load_fields", "save_fields"]

INLINE_BYTES = 1 << 20
"""Results whose arrays hold at most this many bytes are written as one JSON file."""
MAX_JSON_BYTES = 64 << 20
"""The largest JSON file :func:`load_fields` reads (the arrays of larger results live in the npz)."""
MAX_DEPTH = 100
"""The deepest bracket nesting :func:`load_fields` parses."""

_FORMAT = "jaxopt_lessons.SweepResult"
_VERSION = 2
_LANE_ARRAYS = {"learning_rates": "f", "seeds": "iu", "optimizers": "U", "final_loss": "f", "status": "U",
                "diverged_at": "iu"}
_OPTIONAL_ARRAYS = {"eval_losses": "f", "final_eval": "f", "steps_run": "iu"}
_SCALARS = ("steps", "record_every", "stopped_at", "complete")
_KNOWN = {"format", "version", "arrays", "losses", "stats", "hyperparams", "params", *_SCALARS, *_LANE_ARRAYS,
          *_OPTIONAL_ARRAYS}
_DTYPE = re.compile(r"[<>|=]?(b1|[iu][1248]|f[248]|c(8|16)|U[0-9]{1,6})")
_EXTENSION_FLOATS = {"bfloat16": np.dtype(jax.numpy.bfloat16)}  # ml_dtypes; stored in the npz as uint bits
_JSON_TYPES = {"b": {bool}, "i": {int}, "u": {int}, "f": {int, float}, "U": {str}, "c": {list}}


# --- saving --------------------------------------------------------------------------


def save_fields(path: str | Path, fields: dict[str, Any]) -> Path:
    """Writes a ``SweepResult``'s fields to ``path`` (and maybe an npz beside it) atomically.

    Args:
      path: the JSON file.
      fields: every ``SweepResult`` field by name.

    Returns:
      The JSON path written.

    Raises:
      ValueError: if the fields are inconsistent (:func:`check_fields`) or ``params``
        holds a leaf that is not an array; nothing is written then.
    """
    path = Path(path)
    fields = {name: np.asarray(value) if name in _LANE_ARRAYS or name == "losses" else value
              for name, value in fields.items()}
    for name in _OPTIONAL_ARRAYS:
        fields[name] = None if fields.get(name) is None else np.asarray(fields[name])
    for group in ("stats", "hyperparams"):
        fields[group] = {name: np.asarray(value) for name, value in (fields.get(group) or {}).items()}
    writer = _Writer()
    try:
        check_fields(fields)
        document: dict[str, Any] = {"format": _FORMAT, "version": _VERSION, "steps": int(fields["steps"]),
                                    "record_every": int(fields["record_every"]),
                                    "stopped_at": None if fields["stopped_at"] is None else int(fields["stopped_at"]),
                                    "complete": bool(fields["complete"])}
        for name in ("losses", *_LANE_ARRAYS, *_OPTIONAL_ARRAYS):
            document[name] = None if fields[name] is None else writer.put(fields[name], name)
        for group in ("stats", "hyperparams"):
            document[group] = {name: writer.put(value, f"{group}[{name!r}]") for name, value in fields[group].items()}
        document["params"] = _encode_params(fields.get("params"), writer, fields["losses"].shape[0])
    except (TypeError, ValueError) as error:
        raise ValueError(f"cannot save this SweepResult to {path}: {error}") from error
    return writer.write(path, document)


class _Writer:
    """Collects the arrays of one document, then writes them inline or to an npz."""

    def __init__(self) -> None:
        self.arrays: list[tuple[dict[str, Any], np.ndarray]] = []

    def put(self, array: np.ndarray, field: str, **first: Any) -> dict[str, Any]:
        array = np.asarray(array)
        if array.dtype in _EXTENSION_FLOATS.values():
            name = array.dtype.name
        elif _DTYPE.fullmatch(array.dtype.str):
            name = array.dtype.str
        else:
            raise TypeError(f"{field}: cannot store an array of dtype {array.dtype}")
        entry = {**first, "dtype": name, "shape": list(array.shape)}
        self.arrays.append((entry, array))
        return entry

    def write(self, path: Path, document: dict[str, Any]) -> Path:
        """The npz (when the arrays are large) first, then the JSON, each atomically."""
        npz, created = None, False
        if sum(array.nbytes for _, array in self.arrays) <= INLINE_BYTES:
            text = self._inline_json(document)
        else:
            buffer = io.BytesIO()
            for index, (entry, _) in enumerate(self.arrays):
                entry["npz"] = f"a{index}"
            np.savez(buffer, allow_pickle=False, **{entry["npz"]: _as_bits(array) for entry, array in self.arrays})
            data = buffer.getbuffer()
            digest = hashlib.sha256(data).hexdigest()
            npz = path.with_name(f"{path.name}.{digest[:16]}.npz")
            created = not npz.exists()
            atomic_write_bytes(npz, data)
            del data
            document = {**document, "arrays": {"file": npz.name, "sha256": digest}}
            text = json.dumps(document, indent=2) + "\n"
        try:
            atomic_write_text(path, text)
        except BaseException:
            if created:
                npz.unlink(missing_ok=True)
            raise
        stale = re.compile(re.escape(path.name) + r"\.[0-9a-f]{16}\.npz")
        for old in path.parent.glob(f"{glob_escape(path.name)}.*.npz"):
            if stale.fullmatch(old.name) and old != npz:
                old.unlink(missing_ok=True)
        return path

    def _inline_json(self, document: dict[str, Any]) -> str:
        """Indented JSON whose arrays' data sit on one line each (compact and readable)."""
        token, chunks = secrets.token_hex(8), []
        for entry, array in self.arrays:
            floats = _real_view(array)
            if floats is None:
                values: Any = array.ravel().tolist()
            else:  # repr() of a float64 round-trips, and every narrower float is a float64
                values = floats.astype(np.float64).tolist()
                values = np.reshape(values, (-1, 2)).tolist() if array.dtype.kind == "c" else values
                bits, nan = floats.view(f"<u{floats.itemsize}"), np.asarray(np.nan, floats.dtype)
                odd = np.flatnonzero(np.isnan(floats) & (bits != nan.view(bits.dtype)))
                if odd.size:  # NaNs with a sign or payload: JSON's NaN would lose their bits
                    entry["nan_bits"] = [[int(i), int(bits[i])] for i in odd]
            entry["data"] = f"@{token}:{len(chunks)}@"
            chunks.append(json.dumps(values))
        text = json.dumps(document, indent=2) + "\n"
        return re.sub(f'"@{token}:([0-9]+)@"', lambda match: chunks[int(match[1])], text)


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _real_view(array: np.ndarray) -> np.ndarray | None:
    """A float array's values flat (a complex one's as re, im, re, ...), or ``None`` if not floating."""
    if array.dtype.kind == "c":
        return np.ascontiguousarray(array).view(f"f{array.itemsize // 2}").ravel()
    floating = array.dtype.kind == "f" or array.dtype in _EXTENSION_FLOATS.values()
    return np.ascontiguousarray(array).ravel() if floating else None


def _as_bits(array: np.ndarray) -> np.ndarray:
    """bfloat16 (not a NumPy dtype) as its unsigned-integer bits for ``.npy``; other arrays as they are."""
    return array.view(f"<u{array.itemsize}") if array.dtype in _EXTENSION_FLOATS.values() else array


def _encode_params(params: Any, writer: _Writer, n_lanes: int) -> dict[str, Any] | None:
    """``params`` as its leaves with paths, plus the structure when it is a plain nest."""
    if params is None:
        return None
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    leaves, seen = [], set()
    for key_path, leaf in flat:
        name = jax.tree_util.keystr(key_path)
        field = f"params{name}"
        array = np.asarray(leaf)
        if array.dtype == object:
            raise ValueError(f"{field}: a {type(leaf).__name__} is not an array; pass only the array leaves "
                             "(e.g. equinox.partition(model, equinox.is_array)[0])")
        if name in seen:
            raise ValueError(f"{field}: two leaves have the same path")
        if array.ndim < 1 or array.shape[0] != n_lanes:
            raise ValueError(f"{field}: has shape {array.shape}, expected a leading axis of {n_lanes} lanes")
        seen.add(name)
        leaves.append(writer.put(array, field, path=name))
    structure = _plain_structure(params, ())
    if structure is not None and _structure_paths(structure) != seen:
        structure = None
    return {"treedef": str(treedef), "structure": structure, "leaves": leaves}


def _plain_structure(tree: Any, prefix: tuple) -> Any:
    """A tagged nest of a tree of plain dicts/lists/tuples/None whose leaves name their paths, else ``None``."""
    tree_util = jax.tree_util
    if tree is None:
        return {"none": None}
    if type(tree) is dict and all(isinstance(key, str) for key in tree):
        children = {key: _plain_structure(value, (*prefix, tree_util.DictKey(key))) for key, value in tree.items()}
        return None if None in children.values() else {"dict": children}
    if type(tree) in (list, tuple):
        items = [_plain_structure(value, (*prefix, tree_util.SequenceKey(i))) for i, value in enumerate(tree)]
        return None if None in items else {type(tree).__name__: items}
    if tree_util.treedef_is_leaf(tree_util.tree_structure(tree)):
        return {"leaf": tree_util.keystr(prefix)}
    return None


def _structure_paths(structure: Any, depth: int = 0) -> set[str]:
    (kind, value), = structure.items()
    if depth > MAX_DEPTH:
        raise ValueError("params: the structure is nested too deeply")
    if kind == "leaf":
        return {value}
    children = value.values() if kind == "dict" else value if kind in ("list", "tuple") else []
    return set().union(*(_structure_paths(child, depth + 1) for child in children))


# --- reading -------------------------------------------------------------------------


def load_fields(path: str | Path, *, like: Any = None) -> dict[str, Any]:
    """The ``SweepResult`` fields stored in ``path`` by :func:`save_fields`, all checked.

    Args:
      path: the JSON file (its npz, if any, is found next to it).
      like: one lane's parameters whose structure ``params`` is rebuilt into.

    Raises:
      ValueError: if the file is not a valid saved ``SweepResult`` (the message names
        the file and the field), or ``params`` does not match ``like``.
    """
    path = Path(path)
    document = _read_document(path)
    try:
        with _Arrays(path, document.get("arrays")) as arrays:
            fields = _decode_fields(document, arrays)
            check_fields(fields)
            leaves, structure = _decode_params(document.get("params"), arrays, fields["losses"].shape[0])
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError, zipfile.BadZipFile,
            EOFError) as error:
        raise ValueError(f"{path} is not a valid SweepResult JSON file: {error}") from error
    if leaves is None:
        fields["params"] = None
    elif like is not None:
        fields["params"] = _restore_like(like, leaves, path)
    else:
        fields["params"] = structure() if structure is not None else leaves
    return fields


def _read_document(path: Path) -> dict[str, Any]:
    """The JSON document, after the size and depth limits; format and version checked."""
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{path} is not a SweepResult JSON file: it has {size} bytes, more than the "
                         f"{MAX_JSON_BYTES} bytes allowed (MAX_JSON_BYTES)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
        depth = _nesting_depth(raw)
        if depth > MAX_DEPTH:
            raise ValueError(f"brackets nest {depth} deep, more than the {MAX_DEPTH} allowed (MAX_DEPTH)")
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{path} is not a SweepResult JSON file: not valid JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a SweepResult JSON file (no \"format\": {_FORMAT!r} entry)")
    if document.get("version") not in (1, _VERSION) or isinstance(document.get("version"), bool):
        raise ValueError(f"{path}: unsupported SweepResult file version {document.get('version')!r} "
                         f"(this version reads 1 and {_VERSION})")
    return document


def _nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting outside strings, counted without recursion."""
    outside = re.sub(rb'"[^"\\]*(?:\\.[^"\\]*)*"', b'""', raw)
    codes = np.frombuffer(outside, np.uint8)
    brackets = codes[np.isin(codes, np.frombuffer(b"[]{}", np.uint8))]
    return int(np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)).max(initial=0))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        keys = [key for key, _ in pairs]
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return document


def _describe(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, tuple)):
        return "null" if value is None else f"a {type(value).__name__}"
    return f"{type(value).__name__} {value!r:.40}"


class _Arrays:
    """Decodes array entries: inline ``data``, or members of the npz named by ``"arrays"``."""

    def __init__(self, path: Path, entry: Any) -> None:
        self.npz: Any = None
        if entry is None:
            return
        if not isinstance(entry, dict) or set(entry) != {"file", "sha256"}:
            raise ValueError(f"{path} is not a valid SweepResult JSON file: arrays: expected "
                             f"{{\"file\", \"sha256\"}}, got {_describe(entry)}")
        name, digest = entry["file"], entry["sha256"]
        if not (isinstance(name, str) and name.endswith(".npz") and Path(name).name == name and "\\" not in name):
            raise ValueError(f"{path} is not a valid SweepResult JSON file: arrays: {name!r} is not a file name "
                             "beside the JSON")
        npz = path.with_name(name)
        if not npz.is_file():
            raise ValueError(f"{path} is not a valid SweepResult JSON file: arrays: {npz} is missing (the npz "
                             "must stay next to its JSON)")
        with open(npz, "rb") as handle:
            if hashlib.file_digest(handle, "sha256").hexdigest() != digest:
                raise ValueError(f"{path} is not a valid SweepResult JSON file: arrays: {npz} does not match "
                                 "the sha256 in the JSON (changed, or from another write)")
        try:
            with zipfile.ZipFile(npz) as archive:
                self.sizes = {info.filename: info.file_size for info in archive.infolist()
                              if info.compress_type == zipfile.ZIP_STORED}
            self.npz = np.load(npz, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError) as error:
            raise ValueError(f"{path} is not a valid SweepResult JSON file: arrays: {npz} is not an npz "
                             f"({error})") from error

    def __enter__(self) -> _Arrays:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.npz is not None:
            self.npz.close()

    def __call__(self, entry: Any, field: str) -> np.ndarray:
        if not isinstance(entry, dict) or set(entry) - {"nan_bits"} not in ({"dtype", "shape", "data"},
                                                                          {"dtype", "shape", "npz"}):
            raise ValueError(f"{field}: expected an array {{\"dtype\", \"shape\", \"data\" or \"npz\"}}, "
                             f"got {_describe(entry)}")
        name, shape = entry["dtype"], entry["shape"]
        if not isinstance(name, str) or not (_DTYPE.fullmatch(name) or name in _EXTENSION_FLOATS):
            raise ValueError(f"{field}: unexpected dtype {name!r}")
        dtype = _EXTENSION_FLOATS.get(name) or np.dtype(name)
        if not (isinstance(shape, list) and len(shape) <= 32
                and all(type(n) is int and 0 <= n < 2**62 for n in shape)):
            raise ValueError(f"{field}: shape must be a list of at most 32 sizes >= 0, got {shape!r:.80}")
        if "data" in entry:
            return _with_nan_bits(_inline(entry["data"], dtype, tuple(shape), field), entry.get("nan_bits"), field)
        return self._member(entry["npz"], dtype, tuple(shape), field)

    def _member(self, member: Any, dtype: np.dtype, shape: tuple[int, ...], field: str) -> np.ndarray:
        stored = np.dtype(f"<u{dtype.itemsize}") if dtype in _EXTENSION_FLOATS.values() else dtype
        if self.npz is None or not isinstance(member, str) or f"{member}.npy" not in self.sizes:
            raise ValueError(f"{field}: the npz has no uncompressed member {member!r:.40}")
        if math.prod(shape) * dtype.itemsize > self.sizes[f"{member}.npy"]:
            raise ValueError(f"{field}: declares more data than its npz member {member!r} holds")
        try:
            array = self.npz[member]
        except (ValueError, OSError, EOFError) as error:  # an object array: pickle is refused
            raise ValueError(f"{field}: npz member {member!r} is not a plain .npy array ({error})") from error
        if not isinstance(array, np.ndarray) or array.dtype != stored or array.shape != shape:
            found = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else "not a .npy array"
            raise ValueError(f"{field}: npz member {member!r} is {found}, expected {stored} {shape}")
        return array.view(dtype) if stored != dtype else array


def _inline(data: Any, dtype: np.dtype, shape: tuple[int, ...], field: str) -> np.ndarray:
    """An inline ``data`` list as an array, refusing wrong JSON types and out-of-range numbers."""
    if not isinstance(data, list):
        raise ValueError(f"{field}: data must be a list, got {_describe(data)}")
    if len(data) != math.prod(shape):
        raise ValueError(f"{field}: {len(data)} values for shape {shape}")
    kind = "f" if dtype in _EXTENSION_FLOATS.values() else dtype.kind
    found = {type(value) for value in data}
    if not found <= _JSON_TYPES[kind]:
        names = sorted(t.__name__ for t in found - _JSON_TYPES[kind])
        raise ValueError(f"{field}: {dtype} data holds JSON values of type {', '.join(names)}")
    if kind == "U" and data and max(map(len, data)) > dtype.itemsize // 4:
        raise ValueError(f"{field}: a string is longer than {dtype} holds")
    if kind == "c":
        if not all(len(pair) == 2 and {type(x) for x in pair} <= {int, float} for pair in data):
            raise ValueError(f"{field}: complex data must be [re, im] pairs of numbers")
        pairs = _inline(sum(data, []), np.dtype(f"f{dtype.itemsize // 2}"), (len(data), 2), field)
        return (pairs[:, 0] + 1j * pairs[:, 1]).astype(dtype).reshape(shape)
    if kind in "iu" and data and (min(data) < np.iinfo(dtype).min or max(data) > np.iinfo(dtype).max):
        raise ValueError(f"{field}: a value is out of range for {dtype}")
    try:
        wide = np.asarray(data, np.float64 if kind == "f" else dtype)
    except OverflowError as error:  # an int like 10**400 in a float array
        raise ValueError(f"{field}: a value is out of range for {dtype}") from error
    with np.errstate(over="ignore"):
        array = wide.astype(dtype)
    if kind == "f" and not np.array_equal(np.isfinite(array), np.isfinite(wide)):
        raise ValueError(f"{field}: a value is out of range for {dtype}")
    return array.reshape(shape)


def _with_nan_bits(array: np.ndarray, nan_bits: Any, field: str) -> np.ndarray:
    """``array`` with the NaNs listed as ``[[flat index, bits], ...]`` given their exact bits."""
    floats = _real_view(array)
    if nan_bits is None or floats is None:
        return array if nan_bits is None else _fail(f"{field}: nan_bits on a {array.dtype} array")
    bits = floats.view(f"<u{floats.itemsize}")
    if not (isinstance(nan_bits, list) and all(isinstance(pair, list) and len(pair) == 2
                                               and all(type(x) is int for x in pair) for pair in nan_bits)):
        raise ValueError(f"{field}: nan_bits must be a list of [index, bits] integer pairs")
    for index, value in nan_bits:
        if not (0 <= index < bits.size and 0 <= value <= np.iinfo(bits.dtype).max and np.isnan(floats[index])):
            raise ValueError(f"{field}: nan_bits [{index}, {value}] does not mark a NaN of this array")
        bits[index] = value
        if not np.isnan(floats[index]):
            raise ValueError(f"{field}: nan_bits [{index}, {value}] are not the bits of a NaN")
    return floats.view(array.dtype).reshape(array.shape)


def _fail(message: str) -> Any:
    raise ValueError(message)


def _decode_fields(document: dict[str, Any], arrays: _Arrays) -> dict[str, Any]:
    """Every field but ``params`` from the document (optional fields default), not yet checked."""
    unknown = sorted(set(document) - _KNOWN)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field")
    for name in ("steps", "record_every", "losses", *_LANE_ARRAYS):
        if name not in document:
            raise ValueError(f"{name}: missing")
    fields = {name: arrays(document[name], name) for name in ("losses", *_LANE_ARRAYS)}
    for name in _OPTIONAL_ARRAYS:
        fields[name] = None if document.get(name) is None else arrays(document[name], name)
    for group in ("stats", "hyperparams"):
        entries = document.get(group, {})
        if not isinstance(entries, dict):
            raise ValueError(f"{group}: expected an object of name -> array, got {_describe(entries)}")
        fields[group] = {name: arrays(entry, f"{group}[{name!r}]") for name, entry in entries.items()}
    fields.update(steps=document["steps"], record_every=document["record_every"],
                  stopped_at=document.get("stopped_at"), complete=document.get("complete", True))
    return fields


def _decode_params(entry: Any, arrays: _Arrays, n_lanes: int) -> tuple[dict[str, np.ndarray] | None, Any]:
    """The stored leaves by path and a function rebuilding the plain structure (``None`` if not plain)."""
    if entry is None:
        return None, None
    if isinstance(entry, dict) and set(entry) == {"treedef", "structure", "leaves"}:  # version 2
        if not isinstance(entry["leaves"], list):
            raise ValueError(f"params: leaves must be a list, got {_describe(entry['leaves'])}")
        leaves: dict[str, np.ndarray] = {}
        for item in entry["leaves"]:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str) or item["path"] in leaves:
                raise ValueError("params: every leaf needs its own str \"path\"")
            leaves[item["path"]] = arrays({k: v for k, v in item.items() if k != "path"}, f"params{item['path']}")
        structure = entry["structure"]
        if structure is not None:
            refs = _build(structure, lambda kind, value: value if kind == "leaf" else _unknown(kind))
            paths = [leaf for _, leaf in jax.tree_util.tree_flatten_with_path(refs)[0]]
            if not _leaf_paths_match(refs) or sorted(paths) != sorted(leaves):
                raise ValueError("params: the structure does not place every stored leaf at its path")
        build = None if structure is None else (lambda: _build(structure, lambda kind, value: leaves[value]))
    else:  # version 1: a tagged nest of inline arrays
        tree = _build(entry, lambda kind, value: arrays(value, "params") if kind == "array" else _unknown(kind))
        leaves = {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
        build = lambda: tree  # noqa: E731
    for name, leaf in leaves.items():
        if leaf.ndim < 1 or leaf.shape[0] != n_lanes:
            raise ValueError(f"params{name}: has shape {leaf.shape}, expected a leading axis of {n_lanes} lanes")
    return leaves, build


def _unknown(kind: str) -> Any:
    raise ValueError(f"params: unknown params node {kind!r}")


def _build(node: Any, leaf: Callable[[str, Any], Any], depth: int = 0) -> Any:
    """A tree from a tagged nest (``dict``/``list``/``tuple``/``none``; leaves via ``leaf(kind, value)``)."""
    if depth > MAX_DEPTH:
        raise ValueError("params: the structure is nested too deeply")
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"params: a structure node must be one {{kind: value}}, got {_describe(node)}")
    (kind, value), = node.items()
    if kind == "dict" and isinstance(value, dict):
        return {key: _build(child, leaf, depth + 1) for key, child in value.items()}
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [_build(child, leaf, depth + 1) for child in value]
        return items if kind == "list" else tuple(items)
    if kind == "none" and value is None:
        return None
    return leaf(kind, value)


def _leaf_paths_match(tree: Any) -> bool:
    """Whether every leaf of ``tree`` (a path string) is its own path."""
    return all(jax.tree_util.keystr(p) == leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0])


def _restore_like(like: Any, leaves: dict[str, np.ndarray], path: Path) -> Any:
    """``like``'s structure holding the stored leaves, after checking paths and per-lane shapes."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    paths = [jax.tree_util.keystr(p) for p, _ in flat]
    problems = [f"paths only in like=: {', '.join(p for p in paths if p not in leaves)[:200]}",
                f"paths only in the file: {', '.join(p for p in leaves if p not in set(paths))[:200]}"]
    problems = [text for text in problems if not text.endswith(": ")]
    if not problems:
        wrong = [(p, np.shape(x), leaves[p].shape) for p, (_, x) in zip(paths, flat) if np.shape(x) != leaves[p].shape[1:]]
        problems = [f"{p or 'the root'} is {a} in like= but {b[1:]} per lane in the file" for p, a, b in wrong[:5]]
        if wrong and all(a == b for _, a, b in wrong):
            problems.append("like= must be one lane's parameters, without the leading lane axis")
    if problems:
        raise ValueError(f"{path}: params do not match like=: {'; '.join(problems)}")
    return jax.tree_util.tree_unflatten(treedef, [leaves[p] for p in paths])


# --- checks --------------------------------------------------------------------------

_KIND_NAMES = {"f": "a float", "iu": "an integer", "U": "a str", "fiu": "a number", "biuf": "a number"}


def check_fields(fields: dict[str, Any]) -> None:
    """Checks every ``SweepResult`` field's type, dtype kind, shape and range, and their consistency.

    Raises:
      ValueError: ``"<field>: <what is wrong>"`` for the first problem found.
    """
    steps = _integer(fields["steps"], "steps", 1)
    every = _integer(fields["record_every"], "record_every", 1, steps)
    if fields.get("stopped_at") is not None:
        _integer(fields["stopped_at"], "stopped_at", 0, steps)
    if not isinstance(fields.get("complete", True), (bool, np.bool_)):
        raise ValueError(f"complete: must be true or false, got {_describe(fields['complete'])}")
    losses = _array(fields["losses"], "losses", "f")
    if losses.ndim != 2:
        raise ValueError(f"losses: must be 2-D (n_lanes, n_records), got shape {losses.shape}")
    n_lanes, n_records = losses.shape
    if n_records != -(-steps // every):
        raise ValueError(f"losses: has {n_records} records, but steps={steps} and record_every={every} give "
                         f"ceil(steps / record_every) = {-(-steps // every)}")
    for name, kinds in _LANE_ARRAYS.items():
        _array(fields[name], name, kinds, (n_lanes,))
    for name, kinds in _OPTIONAL_ARRAYS.items():
        if fields.get(name) is not None:
            _array(fields[name], name, kinds, (n_lanes, n_records) if name == "eval_losses" else (n_lanes,))
    for name, other in (("eval_losses", "final_eval"), ("final_eval", "eval_losses")):
        if fields.get(name) is None and fields.get(other) is not None:
            raise ValueError(f"{name}: missing, but {other} is present (an eval_fn gives both)")
    for group, kinds in (("hyperparams", "fiu"), ("stats", "biuf")):
        for name, values in (fields.get(group) or {}).items():
            if not isinstance(name, str):
                raise ValueError(f"{group}: names must be str, got {_describe(name)}")
            _array(values, f"{group}[{name!r}]", kinds, (n_lanes,) if group == "hyperparams" else None, n_lanes)
            _lanes_where(~np.isfinite(values) if group == "hyperparams" else None, f"{group}[{name!r}]",
                         "must be finite", values)
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
        raise ValueError(f"{name}: must be an integer, got {_describe(value)}")
    if not low <= value <= high:
        shown = value if abs(value) < 2**63 else "a number out of the int64 range"
        raise ValueError(f"{name}: must be in {low}..{high}, got {shown}")
    return int(value)


def _array(value: Any, name: str, kinds: str, shape: tuple[int, ...] | None = None,
           n_lanes: int | None = None) -> np.ndarray:
    """``value`` if it is an array of one of ``kinds`` with ``shape`` (or ``n_lanes`` leading), else raises."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: must be an array, got {_describe(value)}")
    kind = "f" if value.dtype in _EXTENSION_FLOATS.values() else value.dtype.kind
    if kind not in kinds:
        raise ValueError(f"{name}: dtype {value.dtype} is not {_KIND_NAMES[kinds]}")
    if shape is not None and value.shape != shape:
        raise ValueError(f"{name}: has shape {value.shape}, expected {shape} (one per lane, {shape[0]} lanes like "
                         "losses)")
    if n_lanes is not None and (value.ndim < 1 or value.shape[0] != n_lanes):
        raise ValueError(f"{name}: has shape {value.shape}, expected a leading axis of {n_lanes} lanes")
    return value


def _lanes_where(bad: np.ndarray | None, name: str, rule: str, values: np.ndarray) -> None:
    if bad is not None and np.any(bad):
        lane = int(np.flatnonzero(np.ravel(bad))[0])
        raise ValueError(f"{name}: {rule}; lane {lane} has {np.ravel(values)[lane].item()!r} "
                         f"({int(np.sum(bad))} lanes wrong)")
