"""Nothing lost: an interrupted sweep hands back what it did, and a checkpointed one resumes bit for bit.

The oracle is the same sweep run without interruption (bytes compared). Interrupts come
through the public seam between chunks (the progress bar's ``update``), as Ctrl-C would.
"""

from __future__ import annotations

import functools
import json

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


@pytest.mark.parametrize("layout", ["automatic", "vmap"])  # XOR: lanes last (carries θ_{t-1}); vmap: Δθ_{t-1}
def test_interrupted_checkpointed_sweep_resumes_bit_identical(tmp_path, monkeypatch, layout):
    kwargs = {} if layout == "automatic" else {"lanes_last": False}
    with monkeypatch.context() as patch:
        patch.setattr(tqdm.auto, "tqdm", interrupt_after(70))
        with pytest.raises(KeyboardInterrupt):
            run(progress=True, checkpoint=tmp_path, **kwargs)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "manifest.json" in files and "running.npz" in files and "batch-000000.npz" in files
    whole = uninterrupted() if not kwargs else run(**kwargs)
    assert_same_sweep(run(checkpoint=tmp_path, **kwargs), whole, CHECKED)
    assert_same_sweep(run(checkpoint=tmp_path, **kwargs), whole, CHECKED)  # a finished checkpoint replays


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


def test_a_checkpoint_of_another_format_version_is_refused_with_its_reason(tmp_path):
    """A folder written by another version (its carry may mean something else) is not resumed silently."""
    folder = tmp_path / "ck"
    run(rates=[0.1, 0.2], checkpoint=folder, steps=8)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format"] = "jaxopt_lessons.sweep-checkpoint"  # version 1, before Δθ_{t-1} was carried
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="another version of jaxopt_lessons"):
        run(rates=[0.1, 0.2], checkpoint=folder, steps=8)


def quadratic(params):
    """0.5 θᵀAθ with A's eigenvalues 3, 1 and 0.5 (over two leaves): rates above 1/3 make the top mode flip sign."""
    return 0.5 * (3 * params["w"][0] ** 2 + params["w"][1] ** 2 + 0.5 * params["b"] ** 2)


@pytest.mark.parametrize("lanes_last", [True, False])  # lanes last carries θ_{t-1}; vmap carries Δθ_{t-1}
def test_the_update_statistics_survive_a_resume_in_the_second_half(tmp_path, monkeypatch, lanes_last):
    start = {"w": jnp.array([1.0, -1.0]), "b": jnp.array(2.0)}
    steps, rates = 60, [0.1, 0.5, 0.6]
    settings = dict(steps=steps, record_every=4, lanes_last=lanes_last)  # 15 chunks of 4 steps
    with monkeypatch.context() as patch:
        patch.setattr(tqdm.auto, "tqdm", interrupt_after(10))  # at step 40 of 60: in the second half
        with pytest.raises(KeyboardInterrupt):
            jl.sweep(quadratic, start, optax.sgd, rates, progress=True, checkpoint=tmp_path, **settings)
    resumed = jl.sweep(quadratic, start, optax.sgd, rates, checkpoint=tmp_path, **settings)
    whole = jl.sweep(quadratic, start, optax.sgd, rates, **settings)
    # independent oracle: gradient descent on the quadratic in float64, reversals <Δθ_t, Δθ_{t-1}> < 0 counted
    # over the second half (only lr 0.6 has its flipping mode, 1 - 3 lr = -0.8, dominate there)
    a, flips = np.array([3.0, 1.0, 0.5]), []
    for rate in rates:
        theta, deltas = np.array([1.0, -1.0, 2.0]), []
        for _ in range(steps):
            deltas.append(-rate * a * theta)
            theta = theta + deltas[-1]
        flips.append(sum(deltas[t] @ deltas[t - 1] < 0 for t in range(steps // 2, steps)))
    assert flips == [0, 0, 30]
    np.testing.assert_array_equal(whole.stats["flips_window"], flips)
    for name in ("flips_window", "max_sq_update", "last_sq_update", "loss_mid", "peak_loss"):
        np.testing.assert_array_equal(resumed.stats[name], whole.stats[name], err_msg=name)
    np.testing.assert_array_equal(resumed.status, whole.status)
