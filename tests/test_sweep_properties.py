"""Hypothesis properties of ``jl.sweep`` and ``SweepResult``.

Every sweep here has the same shapes (6 lanes, 12 steps, 16 points), so the compiled
program is built once and each example only runs it. The single-run oracles are
``jl.fit`` (with the learning rate passed as a traced argument, so it too compiles once)
and an independent float64 NumPy re-run of gradient descent on least squares.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxopt_lessons as jl

STEPS = 12
N_LANES = 6
BLOWUP = 1e3
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def loss_fn(params, x, y):
    return jl.mse(jl.linear(params, x), y)


@functools.cache
def data():
    rng = np.random.RandomState(0)
    x = (2.0 * rng.randn(16, 1)).astype(np.float32)
    y = (3.0 * x + 2.0 + 0.5 * rng.randn(16, 1)).astype(np.float32)
    return x, y


START = {"w": np.float32(-0.5), "b": np.float32(0.7)}

learning_rate = st.floats(1e-4, 3.0).map(lambda u: float(np.float32(u)))
learning_rates = st.lists(learning_rate, min_size=N_LANES, max_size=N_LANES)


def run(lrs):
    x, y = data()
    return jl.sweep(loss_fn, START, optax.sgd, lrs, steps=STEPS, args=(x, y), max_lanes_per_batch=N_LANES)


def numpy_gradient_descent(lr):
    """Float64 NumPy gradient descent on the mean squared error, the seed's loop."""
    x, y = (a[:, 0].astype(np.float64) for a in data())
    w, b = float(START["w"]), float(START["b"])
    losses = []
    for _ in range(STEPS):
        residual = w * x + b - y
        losses.append(float(np.mean(residual**2)))
        w, b = w - lr * 2 * np.mean(residual * x), b - lr * 2 * np.mean(residual)
    return np.asarray(losses)


def _update_is_finite(w, b, lr):
    x, y = (a[:, 0] for a in data())
    with np.errstate(over="ignore", invalid="ignore"):
        residual = w * x + b - y
        update = np.float32(lr) * np.float32(2) * np.array([np.mean(residual * x), np.mean(residual)], np.float32)
        return bool(np.isfinite(np.sum(update * update)))


def loss_with_lr(params, x, y, lr):
    del lr
    return loss_fn(params, x, y)


def scaled_value_and_grad(params, x, y, lr):
    """``(loss, lr * grads)``: with ``optax.sgd(1.0)`` this is exactly SGD with step ``lr``,
    and ``fit`` compiles it once because ``lr`` is a traced argument."""
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    return loss, jax.tree_util.tree_map(lambda g: lr * g, grads)


UNIT_SGD = optax.sgd(1.0)


@pytest.mark.slow
@SETTINGS
@given(lrs=learning_rates)
def test_every_lane_equals_a_single_fit_whatever_shares_its_batch(lrs):
    result = run(lrs)
    x, y = data()
    for lane, lr in enumerate(lrs):
        trajectory = jl.fit(loss_with_lr, START, UNIT_SGD, steps=STEPS, args=(x, y, np.float32(lr)),
                            grad_fn=scaled_value_and_grad)
        expected = np.asarray(trajectory.losses)
        d = int(result.diverged_at[lane])
        if d < 0:
            np.testing.assert_allclose(result.losses[lane], expected, rtol=1e-5)
            np.testing.assert_allclose(result.final_loss[lane], trajectory.final_loss, rtol=1e-5)
            for name in ("w", "b"):
                np.testing.assert_allclose(result.params[name][lane], trajectory.params[name], rtol=1e-5, atol=1e-6)
        else:  # identical up to the divergence, then frozen
            np.testing.assert_allclose(result.losses[lane, :d], expected[:d], rtol=1e-5)
            np.testing.assert_allclose(result.losses[lane, d:], result.losses[lane, d], rtol=0)


@SETTINGS
@given(lrs=st.lists(st.floats(1e-4, 30.0), min_size=N_LANES, max_size=N_LANES))
def test_status_invariants(lrs):
    result = run(lrs)
    assert set(result.status.tolist()) <= set(jl.sweeps.STATUSES) - {"incomplete"}
    for lane, lr in enumerate(result.learning_rates):
        losses, d = result.losses[lane], int(result.diverged_at[lane])
        loss0 = losses[0]
        status, final = result.status[lane], result.final_loss[lane]
        if status == "unstable":  # spiked and did not come back 10% below the start (near lr 1: growing flips)
            assert d < 0 and final >= 0.9 * loss0, (lr, losses)
        if status in ("converged", "slow"):  # else it would be stalled
            assert final < loss0, (lr, status, losses)
        threshold = loss0 + BLOWUP * max(abs(loss0), np.finfo(np.float32).eps)
        assert (result.status[lane] == "diverged") == (d >= 0)
        good = losses if d < 0 else losses[:d]
        assert np.all(np.isfinite(good)) and np.all(good <= threshold)
        if d < 0:
            assert np.isfinite(result.final_loss[lane])
        else:  # the loss at the frozen parameters blew up, or the next update is not finite
            loss_bad = not (np.isfinite(losses[d]) and losses[d] <= threshold)
            assert loss_bad or not _update_is_finite(result.params["w"][lane], result.params["b"][lane], lr)
        # an independent float64 re-run decides the clear cases
        oracle = numpy_gradient_descent(lr)
        with np.errstate(over="ignore", invalid="ignore"):
            ratio = (oracle - oracle[0]) / (BLOWUP * abs(oracle[0]))
        if np.all(np.isfinite(ratio)) and ratio.max() < 0.5:
            assert d < 0, (lr, oracle)
        elif np.any(~np.isfinite(ratio) | (ratio > 2.0)):
            assert d >= 0 and d <= int(np.argmax(~np.isfinite(ratio) | (ratio > 2.0))), (lr, oracle, d)


def _consistent(kw, n_records):
    """steps giving ``n_records`` records, ``diverged_at`` set exactly on diverged lanes, ``stopped_at <= steps``."""
    steps = max((n_records - 1) * kw["record_every"] + 1 + kw["steps"] % kw["record_every"], kw["record_every"])
    diverged_at = np.where(kw["status"] == "diverged", kw["diverged_at"] % steps, -1)
    stopped_at = None if kw["stopped_at"] is None else kw["stopped_at"] % (steps + 1)
    return {**kw, "steps": steps, "diverged_at": diverged_at, "stopped_at": stopped_at}


def _result_strategy():
    def build(n_lanes, n_records, dtype):
        floats = hnp.arrays(dtype, (n_lanes, n_records), elements=st.floats(width=8 * np.dtype(dtype).itemsize,
                                                                                 allow_nan=True, allow_infinity=True))
        finals = hnp.arrays(dtype, (n_lanes,), elements=st.floats(width=8 * np.dtype(dtype).itemsize))
        lanes = st.fixed_dictionaries({
            "learning_rates": hnp.arrays(np.float64, (n_lanes,), elements=st.floats(1e-8, 1e3)),
            "seeds": hnp.arrays(np.int64, (n_lanes,), elements=st.integers(-1, 2**31 - 1)),
            "optimizers": st.lists(st.sampled_from(["sgd", "adam", "hand-adam", "sgd(momentum=0.9)"]),
                                   min_size=n_lanes, max_size=n_lanes).map(np.asarray),
            "losses": floats,
            "final_loss": finals,
            "status": st.lists(st.sampled_from(["converged", "slow", "oscillating", "diverged"]),
                               min_size=n_lanes, max_size=n_lanes).map(lambda s: np.asarray(s, "<U11")),
            "diverged_at": hnp.arrays(np.int64, (n_lanes,), elements=st.integers(0, 10**6)),
            "record_every": st.integers(1, 100),
            "steps": st.integers(0, 10**6),
            "stopped_at": st.none() | st.integers(0, 10**6),
            "params": st.none() | st.fixed_dictionaries({"w": finals}),
        })
        return lanes.map(lambda kw: jl.SweepResult(**_consistent(kw, n_records)))

    return st.tuples(st.integers(1, 5), st.integers(1, 6), st.sampled_from([np.float32, np.float64])).flatmap(
        lambda t: build(*t)
    )


@SETTINGS
@given(result=_result_strategy())
def test_json_round_trip_is_exact(result):
    with tempfile.TemporaryDirectory() as folder:
        back = jl.SweepResult.from_json(result.to_json(Path(folder) / "r.json"))
    for field in dataclasses.fields(result):
        a, b = getattr(result, field.name), getattr(back, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b)
        elif field.name == "params" and a is not None:
            assert b["w"].dtype == a["w"].dtype
            np.testing.assert_array_equal(a["w"], b["w"])
        else:
            assert a == b, field.name
