"""Atomic writes: the old file survives a failed write, no temporary file is left behind."""

import json
import os
import stat

import numpy as np
import pytest

from jaxopt_lessons import io as jl_io


def test_write_and_mode(tmp_path):
    path = jl_io.atomic_write_json(tmp_path / "sub" / "m.json", {"a": 1.5, "nan": float("nan")})
    loaded = json.loads(path.read_text())
    assert loaded["a"] == 1.5 and np.isnan(loaded["nan"])
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.txt"
    jl_io.atomic_write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(jl_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        jl_io.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.txt"]


def test_save_figure_is_atomic_and_closes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = jl_io.save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
