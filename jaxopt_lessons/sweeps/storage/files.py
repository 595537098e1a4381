"""Files: the JSON document and the npz beside it, written atomically, read within limits.

Writing: the fields are checked (:func:`~.fields.check_fields`), every array becomes an entry
``{"dtype", "shape", ...}``; when all arrays together hold at most :data:`INLINE_BYTES`
their values go inline (``"data"``, plus ``"nan_bits"`` where needed), else into
``<name>.<16 hex digits of the sha256>.npz`` (members ``a0``, ``a1``, ...), which is written
first; the JSON, naming the npz and its sha256 in ``"arrays"``, is written last; the npz
of an earlier write to the same path is removed afterwards.

Reading: the JSON's size (:data:`MAX_JSON_BYTES`, before reading) and bracket depth
(:data:`MAX_DEPTH`, before parsing) are bounded; the npz must match its sha256, hold only
uncompressed ``.npy`` members at least as large as their declared dtype and shape (so a
file cannot make the reader allocate more than its own size), and is read with
``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ...io import atomic_write_bytes, atomic_write_text
from .fields import EXTENSION_FLOATS, LANE_ARRAYS, OPTIONAL_ARRAYS, check_fields, describe, kind_of
from .trees import decode_params, encode_params, restore_like

__all__ = ["INLINE_BYTES", "MAX_DEPTH", "MAX_JSON_BYTES", "load_fields", "save_fields"]

INLINE_BYTES = 1 << 20
"""Results whose arrays hold at most this many bytes are written as one JSON file."""
MAX_JSON_BYTES = 64 << 20
"""The largest JSON file :func:`load_fields` reads (the arrays of larger results live in the npz)."""
MAX_DEPTH = 100
"""The deepest bracket nesting :func:`load_fields` parses."""

_FORMAT = "jaxopt_lessons.SweepResult"
_VERSION = 2
_KNOWN = {"format", "version", "arrays", "steps", "record_every", "stopped_at", "complete", "losses", "stats",
          "hyperparams", "params", *LANE_ARRAYS, *OPTIONAL_ARRAYS}
_DTYPE = re.compile(r"[<>|=]?(b1|[iu][1248]|f[248]|c(8|16)|U[0-9]{1,6})")
_JSON_TYPES = {"b": {bool}, "i": {int}, "u": {int}, "f": {int, float}, "U": {str}, "c": {list}}


# --- writing -------------------------------------------------------------------------


def save_fields(path: str | Path, fields: dict[str, Any]) -> Path:
    """Writes a ``SweepResult``'s fields to ``path`` (and maybe an npz beside it) atomically.

    Args:
      path: the JSON file.
      fields: every ``SweepResult`` field by name.

    Returns:
      The JSON path written.

    Raises:
      ValueError: if the fields are inconsistent (:func:`~.fields.check_fields`) or
        ``params`` holds a leaf that is not an array; nothing is written then.
    """
    path = Path(path)
    fields = {**fields, **{name: None if fields.get(name) is None else np.asarray(fields[name])
                           for name in ("losses", *LANE_ARRAYS, *OPTIONAL_ARRAYS)},
              **{group: {k: np.asarray(v) for k, v in (fields.get(group) or {}).items()}
                 for group in ("stats", "hyperparams")}}
    writer = _Writer()
    try:
        check_fields(fields)
        document: dict[str, Any] = {"format": _FORMAT, "version": _VERSION, "steps": int(fields["steps"]),
                                    "record_every": int(fields["record_every"]),
                                    "stopped_at": None if fields["stopped_at"] is None else int(fields["stopped_at"]),
                                    "complete": bool(fields["complete"])}
        for name in ("losses", *LANE_ARRAYS, *OPTIONAL_ARRAYS):
            document[name] = None if fields[name] is None else writer.put(fields[name], name)
        for group in ("stats", "hyperparams"):
            document[group] = {name: writer.put(value, f"{group}[{name!r}]") for name, value in fields[group].items()}
        document["params"] = encode_params(fields.get("params"), writer.put, fields["losses"].shape[0])
    except (TypeError, ValueError) as error:
        raise ValueError(f"cannot save this SweepResult to {path}: {error}") from error
    return writer.write(path, document)


class _Writer:
    """Collects the arrays of one document, then writes them inline or to an npz."""

    def __init__(self) -> None:
        self.arrays: list[tuple[dict[str, Any], np.ndarray]] = []

    def put(self, array: np.ndarray, field: str, **first: Any) -> dict[str, Any]:
        array = np.asarray(array)
        if array.dtype in EXTENSION_FLOATS.values():
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
        inline = sum(array.nbytes for _, array in self.arrays) <= INLINE_BYTES
        if not inline:
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
        try:
            atomic_write_text(path, self._json(document, inline))
        except BaseException:
            if created:
                npz.unlink(missing_ok=True)
            raise
        stale = re.compile(re.escape(path.name) + r"\.[0-9a-f]{16}\.npz")
        for old in path.parent.iterdir():
            if stale.fullmatch(old.name) and old != npz:
                old.unlink(missing_ok=True)
        return path

    def _json(self, document: dict[str, Any], inline: bool) -> str:
        """Indented JSON in which each array's shape (and inline data) sits on one line."""
        token, chunks = secrets.token_hex(8), []

        def hide(text: str) -> str:  # a placeholder that json.dumps leaves alone, replaced below
            chunks.append(text)
            return f"@{token}:{len(chunks) - 1}@"

        for entry, array in self.arrays:
            entry["shape"] = hide(json.dumps(list(array.shape)))
            if not inline:
                continue
            floats = _real_view(array)
            if floats is None:
                data = json.dumps(array.ravel().tolist())
            else:
                numbers = _float_texts(floats)
                if array.dtype.kind == "c":
                    numbers = [f"[{re_}, {im}]" for re_, im in zip(numbers[::2], numbers[1::2])]
                data = f"[{', '.join(numbers)}]"
                bits, nan = floats.view(f"<u{floats.itemsize}"), np.asarray(np.nan, floats.dtype)
                odd = np.flatnonzero(np.isnan(floats) & (bits != nan.view(bits.dtype)))
                if odd.size:  # NaNs with a sign or payload: JSON's NaN would lose their bits
                    entry["nan_bits"] = [[int(i), int(bits[i])] for i in odd]
            entry["data"] = hide(data)
        text = json.dumps(document, indent=2) + "\n"
        return re.sub(f'"@{token}:([0-9]+)@"', lambda match: chunks[int(match[1])], text)


def _float_texts(floats: np.ndarray) -> list[str]:
    """JSON numbers that read back (through float64, as :func:`_inline` does) to exactly ``floats``.

    The dtype's own shortest repr (``0.1`` for a float32, not ``0.10000000149011612``)
    wherever it reads back bit for bit, else float64's repr, which always does.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        wide = floats.astype(np.float64)
        if floats.dtype == np.float64:
            text = np.asarray([repr(value) for value in wide.tolist()])
        else:  # bfloat16 has no str(): its float32 repr is exact too
            text = (floats if floats.dtype.kind == "f" else floats.astype(np.float32)).astype(str)
            back = text.astype(np.float64).astype(floats.dtype).view(f"<u{floats.itemsize}")
            inexact = np.flatnonzero(back != floats.view(f"<u{floats.itemsize}"))
            text = text.astype(f"<U{max(text.dtype.itemsize // 4, 24)}") if inexact.size else text
            text[inexact] = [repr(value) for value in wide[inexact].tolist()]
    specials = np.where(np.isnan(wide), "NaN", np.where(wide > 0, "Infinity", "-Infinity"))
    return np.where(np.isfinite(wide), text, specials).tolist()


def _real_view(array: np.ndarray) -> np.ndarray | None:
    """A float array's values flat (a complex one's as re, im, re, ...), or ``None`` if not floating."""
    if array.dtype.kind == "c":
        return np.ascontiguousarray(array).view(f"f{array.itemsize // 2}").ravel()
    floating = array.dtype.kind == "f" or array.dtype in EXTENSION_FLOATS.values()
    return np.ascontiguousarray(array).ravel() if floating else None


def _as_bits(array: np.ndarray) -> np.ndarray:
    """bfloat16 (not a NumPy dtype) as its unsigned-integer bits for ``.npy``; other arrays as they are."""
    return array.view(f"<u{array.itemsize}") if array.dtype in EXTENSION_FLOATS.values() else array


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
            leaves, structure = decode_params(document.get("params"), arrays, fields["losses"].shape[0])
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError, zipfile.BadZipFile,
            EOFError) as error:
        raise ValueError(f"{path} is not a valid SweepResult JSON file: {error}") from error
    if leaves is None:
        fields["params"] = None
    elif like is not None:
        fields["params"] = restore_like(like, leaves, path)
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
    version = document.get("version")
    if type(version) is not int or version not in (1, _VERSION):
        raise ValueError(f"{path}: unsupported SweepResult file version {version!r:.40} "
                         f"(this version reads 1 and {_VERSION})")
    return document


def _nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting outside strings, counted without recursion."""
    outside = re.sub(rb'"[^"\\]*(?:\\.[^"\\]*)*"', b'""', raw)
    codes = np.frombuffer(outside, np.uint8)
    brackets = codes[np.isin(codes, np.frombuffer(b"[]{}", np.uint8))]
    return int(np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)).max(initial=0))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r:.80}")
        document[key] = value
    return document


class _Arrays:
    """Decodes array entries: inline ``data``, or members of the npz named by ``"arrays"``."""

    def __init__(self, path: Path, entry: Any) -> None:
        self.npz: Any = None
        if entry is None:
            return
        if not isinstance(entry, dict) or set(entry) != {"file", "sha256"}:
            raise ValueError(f"arrays: expected {{\"file\", \"sha256\"}}, got {describe(entry)}")
        name = entry["file"]
        if not (isinstance(name, str) and name.endswith(".npz") and Path(name).name == name and "\\" not in name):
            raise ValueError(f"arrays: {name!r:.80} is not a file name beside the JSON")
        npz = path.with_name(name)
        if not npz.is_file():
            raise ValueError(f"arrays: {npz} is missing (the npz must stay next to its JSON)")
        with open(npz, "rb") as handle:
            if hashlib.file_digest(handle, "sha256").hexdigest() != entry["sha256"]:
                raise ValueError(f"arrays: {npz} does not match the sha256 in the JSON (changed, or another write's)")
        try:
            with zipfile.ZipFile(npz) as archive:
                self.sizes = {info.filename: info.file_size for info in archive.infolist()
                              if info.compress_type == zipfile.ZIP_STORED}
            self.npz = np.load(npz, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError) as error:
            raise ValueError(f"arrays: {npz} is not an npz ({error})") from error

    def __enter__(self) -> _Arrays:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.npz is not None:
            self.npz.close()

    def __call__(self, entry: Any, field: str) -> np.ndarray:
        if not isinstance(entry, dict) or set(entry) - {"nan_bits"} not in ({"dtype", "shape", "data"},
                                                                          {"dtype", "shape", "npz"}):
            raise ValueError(f"{field}: expected an array {{\"dtype\", \"shape\", \"data\" or \"npz\"}}, "
                             f"got {describe(entry)}")
        name, shape = entry["dtype"], entry["shape"]
        if not isinstance(name, str) or not (_DTYPE.fullmatch(name) or name in EXTENSION_FLOATS):
            raise ValueError(f"{field}: unexpected dtype {name!r}")
        dtype = EXTENSION_FLOATS.get(name) or np.dtype(name)
        if not (isinstance(shape, list) and len(shape) <= 32
                and all(type(n) is int and 0 <= n < 2**62 for n in shape)):
            raise ValueError(f"{field}: shape must be a list of at most 32 sizes >= 0, got {shape!r:.80}")
        if "data" in entry:
            return _with_nan_bits(_inline(entry["data"], dtype, tuple(shape), field), entry.get("nan_bits"), field)
        return self._member(entry["npz"], dtype, tuple(shape), field)

    def _member(self, member: Any, dtype: np.dtype, shape: tuple[int, ...], field: str) -> np.ndarray:
        stored = np.dtype(f"<u{dtype.itemsize}") if dtype in EXTENSION_FLOATS.values() else dtype
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
        raise ValueError(f"{field}: data must be a list, got {describe(data)}")
    if len(data) != math.prod(shape):
        raise ValueError(f"{field}: {len(data)} values for shape {shape}")
    kind = kind_of(dtype)
    found = {type(value) for value in data}
    if not found <= _JSON_TYPES[kind]:
        names = sorted(t.__name__ for t in found - _JSON_TYPES[kind])
        raise ValueError(f"{field}: {dtype} data holds JSON values of type {', '.join(names)}")
    if kind == "U" and data and max(map(len, data)) > dtype.itemsize // 4:
        raise ValueError(f"{field}: a string is longer than {dtype} holds")
    if kind == "c":
        if not all(len(pair) == 2 and {type(x) for x in pair} <= {int, float} for pair in data):
            raise ValueError(f"{field}: complex data must be [re, im] pairs of numbers")
        parts = _inline([x for pair in data for x in pair], np.dtype(f"f{dtype.itemsize // 2}"), (2 * len(data),), field)
        return parts.view(dtype).reshape(shape)  # re, im, re, ...: no arithmetic, so inf and NaN stay as written
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
    if nan_bits is None:
        return array
    if floats is None or not (isinstance(nan_bits, list) and all(
            isinstance(pair, list) and len(pair) == 2 and all(type(x) is int for x in pair) for pair in nan_bits)):
        raise ValueError(f"{field}: nan_bits must be [index, bits] integer pairs of a float array")
    bits = floats.view(f"<u{floats.itemsize}")
    for index, value in nan_bits:
        if not (0 <= index < bits.size and 0 <= value <= np.iinfo(bits.dtype).max and np.isnan(floats[index])):
            raise ValueError(f"{field}: nan_bits [{index}, {value}] does not mark a NaN of this array")
        bits[index] = value
        if not np.isnan(floats[index]):
            raise ValueError(f"{field}: nan_bits [{index}, {value}] are not the bits of a NaN")
    return floats.view(array.dtype).reshape(array.shape)


def _decode_fields(document: dict[str, Any], arrays: _Arrays) -> dict[str, Any]:
    """Every field but ``params`` from the document (optional fields default), not yet checked."""
    unknown = sorted(set(document) - _KNOWN)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field")
    for name in ("steps", "record_every", "losses", *LANE_ARRAYS):
        if name not in document:
            raise ValueError(f"{name}: missing")
    fields = {name: arrays(document[name], name) for name in ("losses", *LANE_ARRAYS)}
    for name in OPTIONAL_ARRAYS:
        fields[name] = None if document.get(name) is None else arrays(document[name], name)
    for group in ("stats", "hyperparams"):
        entries = document.get(group, {})
        if not isinstance(entries, dict):
            raise ValueError(f"{group}: expected an object of name -> array, got {describe(entries)}")
        fields[group] = {name: arrays(entry, f"{group}[{name!r}]") for name, entry in entries.items()}
    fields.update(steps=document["steps"], record_every=document["record_every"],
                  stopped_at=document.get("stopped_at"), complete=document.get("complete", True))
    return fields
