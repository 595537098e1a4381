"""Saving and loading sweep results: JSON metadata, arrays inline or in a ``.npz``, never pickle.

**Format (version 2).** ``SweepResult.to_json(path)`` writes one JSON document
``{"format": "jaxopt_lessons.SweepResult", "version": 2, "steps", "record_every",
"stopped_at", "complete", <array fields>, "stats", "hyperparams", "params"}``. Every
array is ``{"dtype", "shape"}`` plus either ``"data"`` (a flat list: floats as Python's
shortest round-trip ``repr``, ``NaN``/``Infinity`` as JSON extensions, complex numbers
as ``[re, im]``; NaNs whose sign or payload JSON's ``NaN`` would lose are listed in
``"nan_bits": [[flat index, bits], ...]``) or ``"npz": member``. Every dtype round-trips bit
for bit (bool, ints, float16/32/64, bfloat16, complex, str).

* A small result (all arrays together at most :data:`INLINE_BYTES`, 1 MiB) is one
  readable JSON file.
* A larger one writes every array to ``<name>.<16 hex digits of its sha256>.npz`` next to the
  JSON (uncompressed members ``a0``, ``a1``, ...) and names it in ``"arrays": {"file",
  "sha256"}``. Both files are written atomically (:mod:`jaxopt_lessons.io`), the npz first
  and the JSON last, so a reader sees the old pair or the new pair, never a mix; the
  npz of an earlier write to the same path is removed afterwards (one writer per path).
  Copy or move the two files together.

**Parameters** of any pytree are stored leaf by leaf with their paths
(:func:`jax.tree_util.keystr`, e.g. ``"[0].W"``). Plain dict/list/tuple nests read back
identical; any other structure reads back as a dict ``{path: array}`` in leaf order, or
into the structure of ``like=`` (one lane's parameters) after its paths and per-lane
shapes are checked (:mod:`.trees`).

**Reading checks everything** and answers a ``ValueError`` naming the file and the field:
the type, dtype kind, shape and range of every field and their consistency
(:func:`check_fields`), the status names (read from
:data:`jaxopt_lessons.sweeps.status.STATUSES` at each call). Hostile files: the JSON may be
at most :data:`MAX_JSON_BYTES` (64 MiB, checked before reading) and nest at most
:data:`MAX_DEPTH` (100) brackets (checked before parsing); numbers out of a dtype's range,
unknown or duplicate keys and wrong JSON types are refused; the npz must match its sha256,
hold only uncompressed ``.npy`` members of the declared dtype and shape, and is read with
``np.load(allow_pickle=False)`` (:mod:`.files`). Version 1 files (all inline) are still read.

============ ==============================================================
``files``    :func:`save_fields`, :func:`load_fields`: the JSON and the npz
``trees``    parameters of any pytree by leaf path; ``like=``
``fields``   :func:`check_fields`: the invariants of every field
============ ==============================================================
"""

from .fields import check_fields as check_fields
from .files import INLINE_BYTES as INLINE_BYTES
from .files import MAX_DEPTH as MAX_DEPTH
from .files import MAX_JSON_BYTES as MAX_JSON_BYTES
from .files import load_fields as load_fields
from .files import save_fields as save_fields

__all__ = ["INLINE_BYTES", "MAX_DEPTH", "MAX_JSON_BYTES", "check_fields", "load_fields", "save_fields"]
