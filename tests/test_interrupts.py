"""Issue 6, "no lost results": Ctrl-C stops a sweep cleanly; interrupted writes lose nothing.

* ``sweep(progress=True)`` interrupted between chunks, by a ``KeyboardInterrupt`` raised
  from the progress bar or by a real ``SIGINT`` sent to this process: the interrupt
  propagates, the bar is closed, the caller's arrays are intact and the very next sweep
  gives bit for bit the result of an uninterrupted one. The command line answers
  ``interrupted`` in one line, exit status 130, and writes the partial result to ``--out``.
* ``SweepResult.to_json`` and ``save_figure`` interrupted (or failing) at any stage of
  the write -- half-way through the data, at the ``fsync``, at the rename -- leave the
  previous file byte for byte (or no file) and no temporary file behind.
"""

from __future__ import annotations

import os
import signal

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tqdm.auto
from helpers import assert_same_sweep

import jaxopt_lessons as jl
from jaxopt_lessons import cli

LRS = [0.001, 0.1, 0.5, 1.0, 1.05]
STEPS = 64  # 32 chunks of 2 steps: the bar is updated 32 times


def parabola(x):
    return x**2 + 10.0


START = jnp.asarray(5.0)


def run(**kwargs):
    return jl.sweep(parabola, START, optax.sgd, LRS, steps=STEPS, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted():
    return run()


def _interrupting_bar(interrupt, at_update: int = 2):
    """A tqdm bar that calls ``interrupt()`` on its ``at_update``-th update."""

    class Bar(tqdm.auto.tqdm):
        made: list = []

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.n_updates = 0
            self.was_closed = False
            Bar.made.append(self)

        def update(self, n=1):
            self.n_updates += 1
            if self.n_updates == at_update:
                interrupt()
            return super().update(n)

        def close(self):
            self.was_closed = True
            super().close()

    return Bar


def _raise_keyboard_interrupt():
    raise KeyboardInterrupt


def _send_sigint():
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in a terminal does


INTERRUPTS = [pytest.param(_raise_keyboard_interrupt, id="KeyboardInterrupt"),
              pytest.param(_send_sigint, id="SIGINT")]


@pytest.mark.parametrize("interrupt", INTERRUPTS)
def test_ctrl_c_during_a_sweep_with_progress_stops_cleanly(interrupt, uninterrupted, monkeypatch, capsys):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not handled by Python's default KeyboardInterrupt handler here")
    bar = _interrupting_bar(interrupt)
    monkeypatch.setattr(tqdm.auto, "tqdm", bar)
    with pytest.raises(KeyboardInterrupt):
        run(progress=True)
    (made,) = bar.made
    assert made.n_updates == 2 and made.was_closed  # stopped mid-run, bar closed
    assert made.n < made.total  # it did not run to the end
    assert "lane-step" in capsys.readouterr().err
    assert float(START) == 5.0  # the caller's start is intact (not donated)

    monkeypatch.undo()
    assert_same_sweep(run(progress=True), uninterrupted)  # nothing left half-done


def test_ctrl_c_in_the_command_line_is_one_line_exit_130_and_the_partial_result(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep.json"
    out.write_text("previous result\n")
    monkeypatch.setattr(tqdm.auto, "tqdm", _interrupting_bar(_raise_keyboard_interrupt))
    status = cli.main(["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1,1.05", "--steps", "64",
                       "--progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 130
    assert captured.err.strip().splitlines()[-1].startswith(f"jaxopt-lessons: interrupted; wrote the partial result to {out}")
    assert "Traceback" not in captured.err + captured.out
    partial = jl.SweepResult.from_json(out)  # replaced atomically by the lanes done so far
    assert not partial.complete and partial.n_lanes == 2 and set(partial.status) <= {"incomplete", "diverged"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.json"]


# --- interrupted writes ---------------------------------------------------------------


def _result(scale: float = 1.0) -> jl.SweepResult:
    n = 3
    return jl.SweepResult(
        learning_rates=np.asarray([0.1, 0.5, 1.05]), seeds=np.full(n, -1), optimizers=np.asarray(["sgd"] * n),
        losses=scale * np.arange(12, dtype=np.float32).reshape(n, 4), final_loss=np.asarray([0.1, 0.2, np.inf]),
        status=np.asarray(["converged", "slow", "diverged"]), diverged_at=np.asarray([-1, -1, 2]),
        record_every=1, steps=4, params=np.zeros(n, np.float32),
    )


class _HalfWritingFile:
    """Wraps a file: the first ``write`` puts half the data on disk, then fails."""

    def __init__(self, handle, error):
        self._handle, self._error = handle, error

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise self._error

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._handle.__exit__(*exc)


def _fail_half_way(monkeypatch, error):
    fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _HalfWritingFile(fdopen(*a, **k), error))


def _fail_at(name):
    def patch(monkeypatch, error):
        def boom(*args, **kwargs):
            raise error

        monkeypatch.setattr(os, name, boom)

    return patch


STAGES = [pytest.param(_fail_half_way, id="half-way-through-the-data"),
          pytest.param(_fail_at("fsync"), id="at-fsync"),
          pytest.param(_fail_at("replace"), id="at-the-rename")]
ERRORS = [pytest.param(KeyboardInterrupt, id="ctrl-c"), pytest.param(OSError(28, "No space left on device"), id="disk-full")]


def _write_json(path, scale):
    _result(scale).to_json(path)


def _write_png(path, scale):
    import matplotlib.pyplot as plt

    from jaxopt_lessons.io import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, scale])
    save_figure(fig, path)


WRITERS = [pytest.param(_write_json, "result.json", id="to_json"), pytest.param(_write_png, "curve.png", id="save_figure")]


@pytest.mark.parametrize("writer, name", WRITERS)
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("stage", STAGES)
def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_temporary(stage, error, writer, name, tmp_path,
                                                                              monkeypatch):
    path = tmp_path / name
    writer(path, 1.0)
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        stage(patch, error)
        with pytest.raises(type(error) if isinstance(error, BaseException) else error):
            writer(path, 2.0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]
    if writer is _write_json:  # and it still reads back as the first result
        np.testing.assert_array_equal(jl.SweepResult.from_json(path).losses, _result(1.0).losses)
    writer(path, 2.0)  # and the next write goes through
    assert path.read_bytes() != before


@pytest.mark.parametrize("stage", STAGES)
def test_an_interrupted_first_write_leaves_no_file(stage, tmp_path, monkeypatch):
    path = tmp_path / "new" / "result.json"
    with monkeypatch.context() as patch:
        stage(patch, KeyboardInterrupt)
        with pytest.raises(KeyboardInterrupt):
            _result().to_json(path)
    assert list(path.parent.iterdir()) == []


def test_the_failure_injection_really_reaches_the_write(tmp_path, monkeypatch):
    """Without the temporary file and rename, half the data would be on disk."""
    path = tmp_path / "plain.json"
    _fail_half_way(monkeypatch, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt), os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT), "w") as handle:
        handle.write("0123456789")
    monkeypatch.undo()
    assert path.read_text() == "01234"
