"""Checkpoints: a long sweep survives Ctrl-C, a crash or a lost machine, and resumes bit for bit.

``sweep(..., checkpoint=path)`` keeps a folder at ``path``:

* ``manifest.json``: the format version, the inputs'
  :func:`~jaxopt_lessons.sweeps.fingerprint.fingerprint` and the batch size of each
  optimizer (a resumed sweep reuses them; a folder of another format version is refused);
* ``batch-<n>.npz``: every finished batch's results (records, final losses, status
  statistics, raveled final parameters), written once;
* ``running.npz``: the running batch after its last finished chunk: its lane state
  (every leaf of the :class:`~jaxopt_lessons.sweeps.kernel.LaneCarry`) and its results so far.

Every file is written atomically (temporary file + rename, :mod:`jaxopt_lessons.io`) and
holds plain arrays (read with ``allow_pickle=False``). Calling ``sweep`` again with the
same inputs and ``checkpoint`` skips the finished batches and restarts the running one
from its last chunk, through the same compiled program, so the result is bit-identical
to an uninterrupted run; Ctrl-C loses at most the running chunk. Different inputs are
an error naming what differs (or ``overwrite=True`` starts afresh). In a
``jax.distributed`` run only process 0 writes; every process reads, so the folder must
be on a file system all processes see.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..io import atomic_write_bytes, atomic_write_json

__all__ = ["Checkpoint"]

_FORMAT_NAME = "jaxopt_lessons.sweep-checkpoint"
_FORMAT = _FORMAT_NAME + "/2"
"""Version 2: under ``vmap`` the running carry's ``prev`` holds Δθ_{t-1}, not θ_{t-1}."""


class Checkpoint:
    """One sweep's checkpoint folder (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, fingerprint: dict[str, str], *, overwrite: bool) -> None:
        self.path = Path(path)
        self.writer = jax.process_index() == 0
        self.running_saves = 0  # calls of save_running in this sweep (the driver saves the first at once)
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"checkpoint {self.path} exists and is not a folder")
        manifest = self._read_manifest()
        if manifest is not None and manifest["fingerprint"] != fingerprint:
            if not overwrite:
                differ = sorted(k for k in set(fingerprint) | set(manifest["fingerprint"])
                                if fingerprint.get(k) != manifest["fingerprint"].get(k))
                raise ValueError(f"checkpoint {self.path} belongs to a sweep with other inputs ({', '.join(differ)} "
                                 "differ): pass the same inputs to resume it, overwrite=True to start afresh, or "
                                 "another checkpoint path")
            manifest = None
            if self.writer:
                shutil.rmtree(self.path)
        self.manifest = manifest or {"format": _FORMAT, "fingerprint": fingerprint, "lanes_per_batch": {}}
        if manifest is None:
            self._write_manifest()

    def _read_manifest(self) -> dict[str, Any] | None:
        file = self.path / "manifest.json"
        if not file.exists():
            return None
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"checkpoint {self.path}: unreadable manifest.json ({error})") from error
        if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith(_FORMAT_NAME):
            raise ValueError(f"checkpoint {self.path}: manifest.json is not a sweep checkpoint manifest")
        if manifest["format"] != _FORMAT:
            raise ValueError(f"checkpoint {self.path} was written by another version of jaxopt_lessons (format "
                             f"{manifest['format']!r}, this version reads {_FORMAT!r}): start a new checkpoint folder")
        return manifest

    def _write_manifest(self) -> None:
        if self.writer:
            atomic_write_json(self.path / "manifest.json", self.manifest)

    def lanes_per_batch(self, optimizer: str, computed: int) -> int:
        """The batch size recorded for ``optimizer`` (so a resumed sweep splits alike), else ``computed``."""
        recorded = self.manifest["lanes_per_batch"].get(optimizer)
        if recorded is None:
            self.manifest["lanes_per_batch"][optimizer] = int(computed)
            self._write_manifest()
            return int(computed)
        return int(recorded)

    def state(self) -> dict[str, str]:
        """A hash of what this process sees in the folder: the manifest, the finished batches, the running one.

        Compared across the processes of a ``jax.distributed`` run before resuming: processes
        that resume from different states would run different computations and hang.
        """
        finished = sorted(file.name for file in self.path.glob("batch-*.npz"))
        running = None
        if (self.path / "running.npz").exists():
            with np.load(self.path / "running.npz", allow_pickle=False) as stored:
                running = [int(stored["_batch"]), int(stored["_next_chunk"])]
        seen = json.dumps([self.manifest, finished, running], sort_keys=True, default=str)
        return {"checkpoint": hashlib.sha256(seen.encode()).hexdigest()[:16]}

    # --- batches -------------------------------------------------------------------

    def finished(self, batch: int) -> dict[str, np.ndarray] | None:
        """The stored results of finished ``batch``, or ``None``."""
        return _load(self.path / f"batch-{batch:06d}.npz")

    def finish(self, batch: int, rows: dict[str, np.ndarray]) -> None:
        """Stores finished ``batch``'s results, then drops the running state."""
        if self.writer:
            _save(self.path / f"batch-{batch:06d}.npz", rows)
            (self.path / "running.npz").unlink(missing_ok=True)

    def running(self, batch: int) -> tuple[int, list[np.ndarray], dict[str, np.ndarray]] | None:
        """``(next chunk, carry leaves, results so far)`` of ``batch`` if it was running, else ``None``."""
        stored = _load(self.path / "running.npz")
        if stored is None or int(stored.pop("_batch")) != batch:
            return None
        next_chunk = int(stored.pop("_next_chunk"))
        leaves = [stored.pop(f"_carry_{i}") for i in range(int(stored.pop("_n_leaves")))]
        return next_chunk, leaves, stored

    def save_running(self, batch: int, next_chunk: int, leaves: list[np.ndarray], rows: dict[str, np.ndarray]) -> None:
        """Stores the running ``batch`` after ``next_chunk`` chunks: its lane state and results so far."""
        self.running_saves += 1
        if self.writer:
            extra = {"_batch": np.int64(batch), "_next_chunk": np.int64(next_chunk), "_n_leaves": np.int64(len(leaves))}
            extra.update({f"_carry_{i}": leaf for i, leaf in enumerate(leaves)})
            _save(self.path / "running.npz", {**rows, **extra})


def _save(file: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    atomic_write_bytes(file, buffer.getvalue())


def _load(file: Path) -> dict[str, np.ndarray] | None:
    if not file.exists():
        return None
    try:
        with np.load(file, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"checkpoint file {file} is unreadable ({error}); delete the checkpoint folder or pass "
                         "overwrite=True") from error
