"""``jl.sweep``: lane statuses, NaN isolation, lane layout, recompilation, batching, results, plots.

Oracles: an independent NumPy re-run of the seed's gradient-descent loop, the closed-form
Hessian of least squares, and single ``jl.fit`` runs. Every test reuses a few loss
functions and shapes so the compiled programs are shared.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import interrupt_after, tree_allclose
from matplotlib.figure import Figure

import jaxopt_lessons as jl
from jaxopt_lessons.plots import sweeps as sweep_plots
from jaxopt_lessons.sweeps import StatusRules

PARABOLA_LRS = [0.001, 0.1, 0.5, 1.0, 1.05]
PARABOLA_STATUS = ["slow", "converged", "converged", "oscillating", "diverged"]


def parabola(x):
    return x**2 + 10.0


def regression_loss(params, x, y):
    return jl.mse(jl.linear(params, x), y)


def regression_init(key):
    k_w, k_b = jax.random.split(key)
    return {"w": 2.0 * jax.random.normal(k_w), "b": 2.0 * jax.random.normal(k_b)}


@functools.cache
def regression_data(dtype=np.float32):
    data = jl.datasets.seed_linear_regression()
    x, y = (np.asarray(data[k], dtype) for k in ("x", "y"))
    params = {"w": np.asarray(data["w0"], dtype), "b": np.asarray(data["b0"], dtype)}
    return x, y, params


def numpy_parabola_run(lr, steps=50, x=5.0, blowup=1e3):
    """The seed's loop ``x = x - lr * 2x`` in float64, with the documented blow-up rule."""
    losses = []
    loss0 = x * x + 10.0
    for step in range(steps):
        loss = x * x + 10.0
        if not math.isfinite(loss) or loss - loss0 > blowup * abs(loss0):
            return losses, step, x
        losses.append(loss)
        x = x - lr * 2.0 * x
    return losses, -1, x


def lane_params(result, lane):
    return jax.tree_util.tree_map(lambda p: p[lane], result.params)


# --- status rules ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parabola_status_table_and_numpy_oracle(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    x0 = jnp.asarray(5.0, dtype)
    result = jl.sweep(parabola, x0, optax.sgd, PARABOLA_LRS, steps=50)
    assert result.status.tolist() == PARABOLA_STATUS
    assert result.losses.dtype == np.dtype(dtype) and result.final_loss.dtype == np.dtype(dtype)
    assert result.params.dtype == np.dtype(dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for lane, lr in enumerate(PARABOLA_LRS):
        losses, diverged_at, x_final = numpy_parabola_run(lr)
        assert result.diverged_at[lane] == diverged_at
        if diverged_at < 0:
            np.testing.assert_allclose(result.losses[lane], losses, rtol=rtol)
            np.testing.assert_allclose(result.params[lane], x_final, rtol=rtol, atol=rtol)
        else:  # frozen at the last good parameters: records repeat the loss there
            np.testing.assert_allclose(result.losses[lane, :diverged_at], losses, rtol=rtol)
            np.testing.assert_allclose(result.losses[lane, diverged_at:], result.final_loss[lane], rtol=0)
            np.testing.assert_allclose(result.params[lane], x_final, rtol=rtol)
            assert result.final_loss[lane] > 1e3 * 35.0


def test_step_counters_are_exact_int32_past_float32_precision():
    """Counters are int32 in every layout: a run longer than float32 counts exactly (2**24 + 3 steps)."""
    steps = 2**24 + 3
    result = jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, [1.05, 0.1], steps=steps, record_every=steps,
                      early_stop=False, keep_params=False)
    assert result.diverged_at.tolist()[0] == 39 and result.diverged_at.tolist()[1] == -1
    assert int(result.stats["flips_window"][1]) == 0


def test_lanes_that_never_moved_are_stalled_not_converged():
    """lr 1e-9 in float32 (x - 2e-9 x rounds to x) and float16 Adam at 1e-4 (below float16 spacing)."""
    result = jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, [1e-9, 0.1], steps=50)
    assert result.status.tolist() == ["stalled", "converged"]
    assert result.final_loss[0] == 35.0 and result.stats["max_sq_update"][0] == 0
    half = jl.sweep(lambda x: jnp.sum(x * x) + 10, jnp.full(3, 2.0, jnp.float16), optax.adam, [1e-4], steps=20)
    assert half.status.tolist() == ["stalled"] and half.final_loss[0] == 22.0


def test_a_spike_that_collapses_to_the_start_is_unstable_and_not_a_stable_rate():
    """Classified from statistics built by hand: a lane that rose 215x and ended at chance level."""
    common = dict(loss_mid=np.array([2.3, 2.0]), flips_window=np.array([0, 0]), max_sq_update=np.array([4.0, 4.0]),
                  last_sq_update=np.array([0.0, 0.0]), diverged_at=np.array([-1, -1]), steps=100,
                  rules=StatusRules())
    loss0 = np.array([2.30, 2.30])
    status = jl.sweeps.classify(loss0=loss0, final_loss=np.array([2.278, 0.1]), peak_loss=np.array([495.0, 495.0]),
                                **common)
    assert status.tolist() == ["unstable", "slow"]  # the second came back well below its start: a catapult
    # minibatch noise keeps the updates from dying out: the full-data plateau alone says converged
    moving = dict(common, last_sq_update=np.array([4.0, 4.0]), loss_mid=np.array([0.1, 0.1]))
    assert jl.sweeps.classify(loss0=loss0, final_loss=np.array([0.1, 0.1]), **moving).tolist() == ["slow", "slow"]
    assert jl.sweeps.classify(loss0=loss0, final_loss=np.array([0.1, 0.1]), minibatches=True,
                              **moving).tolist() == ["converged", "converged"]
    result = dataclasses.replace(seeded_result(), status=np.where(np.arange(12) % 4 == 3, "unstable", "converged"))
    assert result.max_stable_lr_observed() == {"sgd": 0.2}  # the lanes at lr 0.5 are unstable
    assert result.best()["learning_rate"] != 0.5


def test_edge_of_stability_on_linear_regression():
    """3% below 2/λmax (closed-form Hessian (2/n) AᵀA with a bias column) is stable, 3% above diverges."""
    x, y, params = regression_data()
    design = np.hstack([x, np.ones_like(x)]).astype(np.float64)
    lam_max = np.linalg.eigvalsh(2.0 / len(x) * design.T @ design).max()
    bound = 2.0 / lam_max
    result = jl.sweep(regression_loss, params, optax.sgd, [0.97 * bound, 1.03 * bound], steps=300, args=(x, y))
    assert result.status[0] != "diverged" and result.diverged_at[0] == -1
    assert result.status[1] == "diverged" and result.diverged_at[1] > 0
    assert result.max_stable_lr_observed() == {"sgd": pytest.approx(0.97 * bound)}


def test_diverged_lane_is_frozen_and_other_lanes_equal_fit():
    x, y, params = regression_data()
    lrs = [0.01, 0.1, 50.0, 1e30]
    result = jl.sweep(regression_loss, params, optax.sgd, lrs, steps=40, args=(x, y))
    assert result.status[2] == result.status[3] == "diverged"
    assert np.all(np.isfinite(result.losses)) and np.all(np.isfinite(result.params["w"]))
    for lane in (2, 3):  # frozen: later records repeat the loss at the frozen parameters
        d = result.diverged_at[lane]
        assert np.all(result.losses[lane, d:] == result.losses[lane, d])
    for lane in (0, 1):
        trajectory = jl.fit(regression_loss, params, optax.sgd(lrs[lane]), steps=40, args=(x, y))
        np.testing.assert_allclose(result.losses[lane], trajectory.losses, rtol=1e-5)
        np.testing.assert_allclose(result.final_loss[lane], trajectory.final_loss, rtol=1e-5)
        assert tree_allclose(lane_params(result, lane), trajectory.params, rtol=1e-5)


# --- lanes ------------------------------------------------------------------------


def test_optimizer_seed_lr_lanes_and_labels():
    x, y, _ = regression_data()
    optimizers = {"sgd": optax.sgd, "adam": optax.adam}
    seeds, lrs = [3, 7], [0.01, 0.05, 0.2]
    result = jl.sweep(regression_loss, regression_init, optimizers, lrs, steps=30, args=(x, y), seeds=seeds)
    assert result.n_lanes == 2 * 2 * 3 and result.losses.shape == (12, 30)
    expected = [(o, s, lr) for o in optimizers for s in seeds for lr in lrs]
    assert list(zip(result.optimizers.tolist(), result.seeds.tolist(), result.learning_rates.tolist())) == expected
    for lane in (4, 7):  # each lane is fit from init(key(seed)) with factory(lr)
        name, seed, lr = expected[lane]
        start = regression_init(jax.random.key(seed))
        trajectory = jl.fit(regression_loss, start, optimizers[name](lr), steps=30, args=(x, y))
        np.testing.assert_allclose(result.losses[lane], trajectory.losses, rtol=1e-5)
        assert tree_allclose(lane_params(result, lane), trajectory.params, rtol=1e-5)


def test_seed_count_means_range():
    x, y, _ = regression_data()
    result = jl.sweep(regression_loss, regression_init, optax.sgd, [0.01, 0.05, 0.2], steps=30, args=(x, y), seeds=2)
    assert result.seeds.tolist() == [0, 0, 0, 1, 1, 1]


def test_new_learning_rates_do_not_recompile(caplog):
    x, y, params = regression_data()
    jl.sweep(regression_loss, params, optax.sgd, [0.01, 0.1, 50.0, 1e30], steps=40, args=(x, y))
    with caplog.at_level(logging.DEBUG), jax.log_compiles():
        result = jl.sweep(regression_loss, params, optax.sgd, [0.02, 0.03, 0.04, 0.05], steps=40, args=(x, y))
    compiles = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage()]
    assert compiles == []
    assert result.learning_rates.tolist() == [0.02, 0.03, 0.04, 0.05]


def test_splitting_into_batches_gives_identical_results():
    x, y, _ = regression_data()
    kwargs = dict(steps=30, args=(x, y), seeds=[3, 7])
    lrs = [0.01, 0.05, 0.2]
    whole = jl.sweep(regression_loss, regression_init, {"sgd": optax.sgd}, lrs, **kwargs)
    split = jl.sweep(regression_loss, regression_init, {"sgd": optax.sgd}, lrs, max_lanes_per_batch=4, **kwargs)
    for name in ("losses", "final_loss", "status", "diverged_at"):
        np.testing.assert_array_equal(getattr(split, name), getattr(whole, name))
    assert tree_allclose(split.params, whole.params, rtol=0)


def test_repeated_calls_are_bit_identical():
    x, y, params = regression_data()
    first, second = (jl.sweep(regression_loss, params, optax.sgd, [0.01, 0.1, 50.0, 1e30], steps=40, args=(x, y))
                     for _ in range(2))
    for name in ("losses", "final_loss", "status", "diverged_at"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert tree_allclose(first.params, second.params, rtol=0)


def test_record_every_and_early_stop():
    every = jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, PARABOLA_LRS, steps=50, record_every=7)
    full = jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, PARABOLA_LRS, steps=50)
    assert every.losses.shape == (5, 8) and every.record_steps.tolist() == list(range(0, 50, 7))
    np.testing.assert_allclose(every.losses, full.losses[:, ::7], rtol=1e-6)
    assert every.status.tolist() == PARABOLA_STATUS

    lrs = [0.1, 0.5, 1.05]
    stopped = jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, lrs, steps=3200, early_stop=True)
    assert stopped.stopped_at < 3200
    assert stopped.status.tolist() == ["converged", "converged", "diverged"]
    k = stopped.stopped_at  # record_every defaults to ceil(3200 / 1000) = 4
    assert stopped.record_every == 4
    assert np.all(stopped.losses[:, k // 4:] == stopped.final_loss[:, None])
    np.testing.assert_allclose(stopped.losses[:, :8], full.losses[[1, 2, 4], :32:4], rtol=1e-6)


def test_progress_bar_and_ctrl_c(capsys, monkeypatch):
    jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, PARABOLA_LRS, steps=50, progress=True)
    assert "lane-step" in capsys.readouterr().err

    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", interrupt_after(2))  # the public seam between chunks
    with pytest.raises(KeyboardInterrupt):
        jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, PARABOLA_LRS, steps=50, progress=True)


# --- the lanes-last layout -------------------------------------------------------------


def xor_loss(params, x, y):
    return jl.mse(jl.mlp(params, x, activation="sigmoid", output_activation="sigmoid"), y)


def xor_init(key):
    return jl.init_mlp(key, [2, 4, 1], scale=0.5)


def assert_same_sweep(a, b, rtol):
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
    np.testing.assert_allclose(a.losses, b.losses, rtol=rtol)
    np.testing.assert_allclose(a.final_loss, b.final_loss, rtol=rtol)
    assert tree_allclose(a.params, b.params, rtol=rtol, atol=1e-6)


@pytest.mark.slow
def test_lanes_last_layout_equals_the_vmapped_one():
    """The same per-lane loss, re-emitted lanes last: statuses equal, numbers to float rounding."""
    x, y, params = regression_data()
    lrs = [0.01, 0.1, 50.0, 1e30]
    generic = jl.sweep(regression_loss, params, optax.sgd, lrs, steps=40, args=(x, y), lanes_last=False)
    fast = jl.sweep(regression_loss, params, optax.sgd, lrs, steps=40, args=(x, y), lanes_last=True)
    assert_same_sweep(fast, generic, rtol=1e-5)

    X, Y = jl.datasets.xor()
    kwargs = dict(steps=40, args=(X, Y), seeds=[0, 5])
    # adam: its state holds moments and a step count per lane
    generic = jl.sweep(xor_loss, xor_init, optax.adam, [0.01, 0.1, 1.0], lanes_last=False, **kwargs)
    fast = jl.sweep(xor_loss, xor_init, optax.adam, [0.01, 0.1, 1.0], lanes_last=True, **kwargs)
    assert_same_sweep(fast, generic, rtol=1e-5)


# --- SweepResult ----------------------------------------------------------------------


@functools.cache
def seeded_result():
    x, y, _ = regression_data()
    lrs = [0.01, 0.05, 0.2, 0.5]
    return jl.sweep(regression_loss, regression_init, optax.sgd, lrs, steps=30, args=(x, y), seeds=[3, 7, 11])


def test_best_summary_and_max_stable_lr():
    result = seeded_result()
    best = result.best()
    failed = np.isin(result.status, ["diverged", "unstable"])
    medians = {lr: np.median(np.where(failed, np.inf, result.final_loss)[result.learning_rates == lr])
               for lr in (0.01, 0.05, 0.2, 0.5)}
    want_lr = min(medians, key=medians.get)
    assert best["learning_rate"] == want_lr and best["n_seeds"] == 3 and best["metric"] == "final_loss"
    assert best["score"] == pytest.approx(float(medians[want_lr]))
    group = np.flatnonzero(result.learning_rates == want_lr)
    assert best["lane"] in group and best["final_loss"] == pytest.approx(float(medians[want_lr]))
    assert best["spread"] == pytest.approx([float(result.final_loss[group].min()), float(result.final_loss[group].max())])
    rows = result.summary()
    assert [r["learning_rate"] for r in rows] == [0.01, 0.05, 0.2, 0.5]
    for row in rows:
        lanes = result.learning_rates == row["learning_rate"]
        assert row["n_seeds"] == 3
        assert row["median_final_loss"] == pytest.approx(float(np.median(result.final_loss[lanes])))
        assert row["worst_final_loss"] == pytest.approx(float(np.max(result.final_loss[lanes])))
        assert row["fraction_diverged"] == pytest.approx(np.mean(result.status[lanes] == "diverged"))
    stable = [lr for lr in (0.01, 0.05, 0.2, 0.5) if not np.any(result.status[result.learning_rates == lr] == "diverged")]
    assert result.max_stable_lr_observed() == {"sgd": max(stable)}
    table = result.table().splitlines()
    assert len(table) == 1 + result.n_lanes and "status" in table[0]


def test_best_ignores_a_lucky_lane_between_failed_neighbours_and_breaks_ties_upwards():
    """One seed: a lane far better than both its neighbours on the rate grid does not win."""
    base = seeded_result()
    rates = np.array([0.01, 0.02, 0.04, 0.08, 0.16, 0.32])
    finals = np.array([0.30, 0.20, 0.125, 3.7e-9, 0.5, 0.5])  # the lucky lane at 0.08
    lucky = dataclasses.replace(base, learning_rates=rates, seeds=np.full(6, -1), optimizers=np.full(6, "adam"),
                                final_loss=finals, losses=np.zeros((6, 1)), status=np.full(6, "converged"),
                                diverged_at=np.full(6, -1), params=None, stats={})
    best = lucky.best()
    assert best["learning_rate"] == 0.04 and best["score"] == pytest.approx(0.125)  # median(0.2, 0.125, 3.7e-9)
    assert "neighbouring rates" in best["rule"]
    dense = np.full(20, 0.4)
    dense[:6], dense[11:13] = [0.3, 0.25, 0.2, 0.2, 0.25, 0.3], [1e-9, 3e-8]  # two lucky neighbours among stuck lanes
    many = dataclasses.replace(lucky, learning_rates=np.geomspace(1e-3, 1, 20), seeds=np.full(20, -1),
                               optimizers=np.full(20, "adam"), final_loss=dense, losses=np.zeros((20, 1)),
                               status=np.full(20, "converged"), diverged_at=np.full(20, -1))
    assert many.best()["lane"] == 3 and many.best()["score"] == pytest.approx(0.25)  # not 11 or 12
    tie = dataclasses.replace(lucky, final_loss=np.array([10.5, 10.0, 10.0, 10.0, 12.0, 14.0]))
    best = tie.best()
    assert best["tied_learning_rates"] == [0.02, 0.08] and best["learning_rate"] == 0.08


def test_best_is_none_when_everything_diverged():
    result = dataclasses.replace(seeded_result(), status=np.full(12, "diverged"))
    assert result.best() is None
    assert result.max_stable_lr_observed() == {"sgd": None}


def test_json_round_trip_is_exact(tmp_path):
    result = seeded_result()
    losses = result.losses.copy()
    losses[0, :3] = [np.nan, np.inf, -np.inf]
    result = dataclasses.replace(result, losses=losses)
    path = result.to_json(tmp_path / "sweep.json")
    back = jl.SweepResult.from_json(path)
    for field in dataclasses.fields(result):
        if field.name in ("params", "stats"):
            continue
        a, b = getattr(result, field.name), getattr(back, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert tree_allclose(back.params, result.params, rtol=0) and back.params["w"].dtype == result.params["w"].dtype
    assert back.stats.keys() == result.stats.keys()


@pytest.mark.parametrize("content", ["not json at all", json.dumps({"format": "something else"}), "[1, 2]",
                                     json.dumps({"format": "jaxopt_lessons.SweepResult", "version": 1})])
def test_from_json_rejects_other_files(tmp_path, content):
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="SweepResult"):
        jl.SweepResult.from_json(path)


# --- bad input -------------------------------------------------------------------------

GOOD = dict(loss_fn=parabola, init=jnp.asarray(5.0), optimizer=optax.sgd, learning_rates=[0.1], steps=5)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"learning_rates": []}, ValueError, "learning_rates must not be empty"),
        ({"learning_rates": [0.1, -0.1]}, ValueError, "learning_rates must be finite and > 0"),
        ({"learning_rates": [0.0]}, ValueError, "learning_rates must be finite and > 0"),
        ({"learning_rates": [float("nan")]}, ValueError, "learning_rates must be finite"),
        ({"learning_rates": [float("inf")]}, ValueError, "learning_rates must be finite"),
        ({"learning_rates": [[0.1, 0.2]]}, ValueError, "learning_rates must be 1-D"),
        ({"learning_rates": 0.1}, ValueError, "learning_rates must be 1-D"),
        ({"learning_rates": ["a"]}, TypeError, "learning_rates"),
        ({"steps": 0}, ValueError, "steps must be a positive int"),
        ({"steps": -3}, ValueError, "steps must be a positive int"),
        ({"steps": 2.5}, TypeError, "steps must be a positive int"),
        ({"record_every": 0}, ValueError, "record_every must be a positive int"),
        ({"record_every": 6}, ValueError, "record_every must be <= steps"),
        ({"seeds": 3}, ValueError, "seeds must be None when init is a params pytree"),
        ({"init": regression_init, "seeds": 0}, ValueError, "seeds must be a positive int"),
        ({"init": regression_init, "seeds": -2}, ValueError, "seeds must be a positive int"),
        ({"init": regression_init, "seeds": []}, ValueError, "seeds must not be empty"),
        ({"init": regression_init, "seeds": [1, -1]}, ValueError, "seeds must be ints in"),
        ({"optimizer": optax.adam(1e-3)}, TypeError, "pass optax.adam itself"),
        ({"optimizer": {"adam": optax.adam(1e-3)}}, TypeError, r"optimizer\['adam'\] must be an optimizer factory"),
        ({"optimizer": {}}, ValueError, "optimizer mapping must not be empty"),
        ({"optimizer": 3}, TypeError, "optimizer must be a callable"),
        ({"optimizer": lambda lr: 0.1}, TypeError, "must return an optax.GradientTransformation"),
        ({"optimizer": lambda lr: optax.sgd(float(lr))}, TypeError, "must accept a traced learning rate"),
        ({"loss_fn": lambda x: jnp.stack([x, x])}, ValueError, "must return a scalar loss"),
        ({"loss_fn": lambda x: (x > 0).astype(jnp.int32)}, TypeError, "floating-point scalar"),
        ({"init": jnp.asarray(5)}, TypeError, "must be floating point"),
        ({"args": jnp.ones(3)}, TypeError, "args must be a tuple"),
        ({"grad_fn": lambda x: (x**2, {"x": x})}, ValueError, "grads from grad_fn"),
        ({"devices": []}, ValueError, "devices must be a non-empty"),
        ({"devices": ["cpu"]}, TypeError, "devices must hold jax.Device"),
        ({"unroll": 0}, ValueError, "unroll must be a positive int"),
        ({"max_lanes_per_batch": 0}, ValueError, "max_lanes_per_batch must be a positive int"),
        ({"rules": StatusRules(blowup=-1.0)}, ValueError, "rules.blowup"),
    ],
)
def test_bad_input_is_rejected_before_compiling(change, error, match):
    with pytest.raises(error, match=match):
        jl.sweep(**{**GOOD, **change})


def test_grad_fn_mismatch_names_the_leaf():
    x, y, params = regression_data()

    def wrong_grad(p, x, y):
        loss, grads = jax.value_and_grad(regression_loss)(p, x, y)
        return loss, {"w": grads["w"], "b": jnp.stack([grads["b"], grads["b"]])}

    with pytest.raises(ValueError, match=r"\['b'\]"):
        jl.sweep(regression_loss, params, optax.sgd, [0.1], steps=5, args=(x, y), grad_fn=wrong_grad)


# --- plots ------------------------------------------------------------------------------


def test_plot_sweep_draws_statuses_and_bound():
    result = jl.sweep(parabola, jnp.asarray(5.0), optax.sgd, PARABOLA_LRS, steps=50)
    fig = result.plot(max_stable_lr=1.0)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(PARABOLA_STATUS) <= set(labels) and any("2/λmax" in t for t in labels)
    assert any(list(line.get_xdata()) == [1.0, 1.0] for line in ax.get_lines())
    with pytest.raises(ValueError, match="max_stable_lr"):
        result.plot(max_stable_lr=-1.0)


def test_heatmap_and_success_fraction():
    result = seeded_result()
    for value in ("final_loss", "status", "diverged_at"):
        fig = sweep_plots.plot_seed_lr_heatmap(result, value=value)
        assert fig.axes[0].get_images()[0].get_array().shape == (3, 4)
    with pytest.raises(ValueError, match="unknown optimizer"):
        sweep_plots.plot_seed_lr_heatmap(result, optimizer="adam")
    fig = sweep_plots.plot_success_fraction([0.1, 1.0, 0.01], {"sgd": [0.5, 0.0, 1.0]})
    line = fig.axes[0].get_lines()[0]
    assert line.get_xdata().tolist() == [0.01, 0.1, 1.0] and line.get_ydata().tolist() == [1.0, 0.5, 0.0]
    with pytest.raises(ValueError, match="shape"):
        sweep_plots.plot_success_fraction([0.1, 1.0], {"sgd": [0.5]})
