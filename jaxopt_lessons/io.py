"""Atomic file writes: a reader never sees a half-written file.

Every file the toolkit writes goes to a temporary file in the same folder and is
then renamed into place with :func:`os.replace`, which is atomic on POSIX and
Windows. An interrupted run leaves the previous file (or none), never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically and returns the path.

    Args:
      path: destination file; its folder is created if missing.
      data: the bytes to write.

    Returns:
      The destination as a :class:`pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Writes ``obj`` as indented JSON to ``path`` atomically.

    NaN and infinities are written as JSON's ``NaN``/``Infinity`` extensions, which
    Python's :mod:`json` reads back exactly.
    """
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Saves a matplotlib figure to ``path`` atomically and closes it.

    Args:
      fig: a :class:`matplotlib.figure.Figure`.
      path: destination; the format follows the suffix (``.png``, ``.svg``, ...).
      dpi: resolution for raster formats.

    Returns:
      The destination path.
    """
    import io

    import matplotlib.pyplot as plt

    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
