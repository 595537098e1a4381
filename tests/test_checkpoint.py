"""Nothing lost: an interrupted sweep hands back what it did, and a checkpointed one resumes bit for bit.

The oracle is the same sweep run without interruption (bytes compared). Interrupts come
through the public seam between chunks (the progress bar's ``update``), as Ctrl-C would.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tqdm.auto
from helpers import SWEEP_FIELDS, assert_same_sweep, interrupt_after

import jaxopt_lessons as jl

X, Y = jl.datasets.xor()
RATES = np.geomspace(1e-2, 10, 6)
OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam}
SETTINGS = dict(steps=240, args=(X, Y), seeds=2, record_every=4, max_lanes_per_batch=4)  # 24 lanes, 6 batches
CHECKED = (*SWEEP_FIELDS, "steps_run")


def xor_loss(params, x, y):
    hidden = jax.nn.sigmoid(x @ params[0]["W"] + params[0]["b"])
    return jnp.mean((jax.nn.sigmoid(hidden @ params[1]["W"] + params[1]["b"]) - y) ** 2)


def xor_init(key):
    return jl.init_mlp(key, [2, 4, 1], scale=0.5)


def run(rates=RATES, **kwargs):
    return jl.sweep(xor_loss, xor_init, OPTIMIZERS, rates, **{**SETTINGS, **kwargs})


@functools.cache
def uninterrupted():
    return run()


def test_ctrl_c_hands_back_the_lanes_and_steps_done(monkeypatch):
    monkeypatch.setattr(tqdm.auto, "tqdm", interrupt_after(100))  # ~3 batches of 32 chunks in
    with pytest.raises(KeyboardInterrupt) as caught:
        run(progress=True)
    partial, whole = caught.value.partial, uninterrupted()
    assert not partial.complete and whole.complete
    n = partial.n_lanes
    assert 0 < n < whole.n_lanes and n % 4 == 0  # whole batches of lanes that started
    finished = partial.steps_run == SETTINGS["steps"]
    assert finished.any() and not finished.all()
    for name in ("losses", "final_loss", "status", "diverged_at"):  # finished lanes: exactly the full run's
        np.testing.assert_array_equal(getattr(partial, name)[finished], getattr(whole, name)[:n][finished])
    cut = ~finished
    assert set(partial.status[cut].tolist()) <= {"incomplete", "diverged"}
    steps_done = partial.steps_run[cut][0]
    records_done = steps_done // SETTINGS["record_every"]
    np.testing.assert_array_equal(partial.losses[cut, :records_done], whole.losses[:n][cut, :records_done])
    assert np.isnan(partial.losses[cut, records_done:]).all()  # never reached


def test_interrupted_checkpointed_sweep_resumes_bit_identical(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(tqdm.auto, "tqdm", interrupt_after(70))
        with pytest.raises(KeyboardInterrupt):
            run(progress=True, checkpoint=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "manifest.json" in files and "running.npz" in files and "batch-000000.npz" in files
    assert_same_sweep(run(checkpoint=tmp_path), uninterrupted(), CHECKED)
    assert_same_sweep(run(checkpoint=tmp_path), uninterrupted(), CHECKED)  # a finished checkpoint replays


def test_saves_are_throttled_and_ctrl_c_saves_the_chunks_done_since(tmp_path, monkeypatch):
    """With periodic saves off, the running state is saved after the sweep's first chunk and on Ctrl-C only;
    the resume still starts exactly where the interrupt came (the chunks since the first were not lost)."""
    from jaxopt_lessons.sweeps import checkpoint, driver

    saved_chunks = []
    original = checkpoint.Checkpoint.save_running

    def recording(self, batch, next_chunk, leaves, rows):
        saved_chunks.append((batch, next_chunk))
        return original(self, batch, next_chunk, leaves, rows)

    monkeypatch.setattr(driver, "SAVE_EVERY_SECONDS", 1e9)
    monkeypatch.setattr(checkpoint.Checkpoint, "save_running", recording)
    with monkeypatch.context() as patch:
        patch.setattr(tqdm.auto, "tqdm", interrupt_after(50))  # in the second batch, well past its first chunk
        with pytest.raises(KeyboardInterrupt) as caught:
            run(progress=True, checkpoint=tmp_path)
    batch, next_chunk = saved_chunks[-1]
    assert saved_chunks[:-1] == [(0, 1)] and batch == 1 and next_chunk > 2  # the sweep's first chunk, then Ctrl-C
    chunk_steps = 8  # 240 steps recorded every 4: 60 records in 30 chunks of 2
    np.testing.assert_array_equal(caught.value.partial.steps_run[4:8], next_chunk * chunk_steps)  # batch 1's lanes
    resumed_from = []
    monkeypatch.setattr(driver.Checkpoint, "running",
                        lambda self, b, _orig=checkpoint.Checkpoint.running: resumed_from.append(b) or _orig(self, b))
    assert_same_sweep(run(checkpoint=tmp_path), uninterrupted(), CHECKED)
    assert resumed_from[0] == 1


def test_a_checkpoint_of_other_inputs_is_a_clear_error_unless_overwritten(tmp_path):
    run(checkpoint=tmp_path)
    with pytest.raises(ValueError, match=r"other inputs \(learning_rates differ\)"):
        run(rates=RATES[:5], checkpoint=tmp_path)
    with pytest.raises(ValueError, match=r"steps differ"):
        run(checkpoint=tmp_path, steps=244)
    fresh = run(rates=RATES[:5], checkpoint=tmp_path, overwrite=True)
    assert_same_sweep(fresh, run(rates=RATES[:5]), CHECKED)


def test_an_unreadable_checkpoint_file_is_named(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(tqdm.auto, "tqdm", interrupt_after(40))
        with pytest.raises(KeyboardInterrupt):
            run(progress=True, checkpoint=tmp_path)
    (tmp_path / "running.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="running.npz is unreadable"):
        run(checkpoint=tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="unreadable manifest.json"):
        run(checkpoint=tmp_path)
