"""The learning-rate range test and its comparison with a sweep.

Oracles: an independent NumPy re-run of the range test, a line-by-line transcription of
fastai's suggestion functions, and a real sweep of the same quadratic.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxopt_lessons as jl
from jaxopt_lessons import lr_finder

# --------------------------------------------------------------------------- range test

CURVATURES = np.array([4.0, 1.0, 0.25, 0.0625])  # lambda_max = 4: 1/lambda = 0.25, 2/lambda = 0.5


def _diagonal_quadratic(x, curvatures):
    return 0.5 * jnp.sum(curvatures * x**2)


def _numpy_range_test(rates, curvatures, start, beta, factor):
    """fastai's loop re-run in NumPy for SGD on 0.5 sum(c x^2): losses, smoothed, stop."""
    x, average, best = start.copy(), 0.0, None
    losses, smoothed = np.full(len(rates), np.nan), np.full(len(rates), np.nan)
    for t, rate in enumerate(rates):
        x = x - rate * curvatures * x
        losses[t] = 0.5 * np.sum(curvatures * x**2)
        average = beta * average + (1 - beta) * losses[t]
        smoothed[t] = average / (1 - beta ** (t + 1))
        best = smoothed[t] if best is None or smoothed[t] < best else best
        if not np.isfinite(smoothed[t]) or smoothed[t] > factor * best:
            return losses, smoothed, t
    return losses, smoothed, -1


def test_range_test_records_match_an_independent_numpy_run(x64):
    curvatures, start = jnp.asarray(CURVATURES), jnp.ones(4)
    result = jl.lr_range_test(_diagonal_quadratic, start, optax.sgd, args=(curvatures,), min_lr=1e-4, max_lr=10.0, steps=60)
    expected_rates = np.geomspace(1e-4, 10.0, 60)
    np.testing.assert_allclose(result.learning_rates, expected_rates, rtol=1e-12)
    losses, smoothed, stop = _numpy_range_test(expected_rates, CURVATURES, np.ones(4), 0.98, 4.0)
    assert result.stopped_at == stop >= 0
    np.testing.assert_allclose(result.losses, losses, rtol=1e-9)  # NaN where NumPy stopped too
    np.testing.assert_allclose(result.smoothed_losses, smoothed, rtol=1e-9)
    assert result.initial_loss == pytest.approx(0.5 * CURVATURES.sum())
    assert result.losses.dtype == np.float64


def test_range_test_on_a_quadratic_suggests_stable_rates_near_one_over_curvature():
    """Known answer: GD on a quadratic is best near 1/lambda_max and diverges above 2/lambda_max.

    With fastai's defaults (1e-7..10, 100 steps, beta 0.98, stop at 4x): every suggestion is
    stable (< 2/lambda_max); "minimum/10" and "steep" are within a factor 4 of 1/lambda_max;
    the run stops only after the rate has passed 2/lambda_max, and nothing after the stop is kept.
    """
    result = jl.lr_range_test(_diagonal_quadratic, jnp.ones(4), optax.sgd, args=(jnp.asarray(CURVATURES, jnp.float32),))
    one_over, bound = 1 / CURVATURES.max(), 2 / CURVATURES.max()
    assert set(result.suggestions) == {"steep", "minimum/10", "valley"}
    for name, lr in result.suggestions.items():
        assert 1e-7 < lr < bound, name
    for name in ("steep", "minimum/10"):
        assert one_over / 4 < result.suggestions[name] < one_over * 4, name
    stop = result.stopped_at
    assert 0 <= stop < 99 and result.learning_rates[stop] > bound
    assert np.isfinite(result.losses[: stop + 1]).all() and np.isnan(result.losses[stop + 1 :]).all()
    assert np.isnan(result.smoothed_losses[stop + 1 :]).all()
    assert result.smoothed_losses[stop] > 4 * np.nanmin(result.smoothed_losses)
    assert result.learning_rates.shape == result.losses.shape == (100,)


def test_range_test_without_blow_up_keeps_every_record_and_takes_hand_optimizers():
    result = jl.lr_range_test(
        _diagonal_quadratic, jnp.ones(4), jl.optim.sgd, args=(jnp.asarray(CURVATURES, jnp.float32),),
        min_lr=1e-4, max_lr=0.3, steps=100,
    )
    assert result.stopped_at == -1 and np.isfinite(result.losses).all()
    assert all(1e-4 <= lr <= 0.3 for lr in result.suggestions.values())


def _fastai_valley(lrs, losses):
    """fastai.callback.schedule.valley, transcribed."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    # fastai can produce idx = -1 (a valley starting at 0 of length <= 2), which Python
    # wraps to the *last*, largest rate; we deliberately clamp to the first instead.
    return float(lrs[max(idx, 0)])


@settings(deadline=None, max_examples=100)
@given(st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=3, max_size=40))
def test_suggestions_match_fastai_formulas(losses):
    losses = np.asarray(losses)
    lrs = np.geomspace(1e-5, 1.0, len(losses))
    suggestions = lr_finder.suggest_learning_rates(lrs, losses)
    assert suggestions["valley"] == _fastai_valley(lrs, losses)
    assert suggestions["minimum/10"] == pytest.approx(lrs[np.argmin(losses)] / 10)
    slopes = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    assert suggestions["steep"] == lrs[np.argmin(slopes)]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"min_lr": 1.0, "max_lr": 0.1}, ValueError, "min_lr"),
        ({"min_lr": 0.0}, ValueError, "min_lr"),
        ({"max_lr": float("inf")}, ValueError, "max_lr"),
        ({"steps": 1}, ValueError, "steps"),
        ({"steps": -3}, ValueError, "steps"),
        ({"smoothing": 1.0}, ValueError, "smoothing"),
        ({"divergence_factor": 1.0}, ValueError, "divergence_factor"),
        ({"args": jnp.ones(4)}, TypeError, "args"),
    ],
)
def test_range_test_rejects_bad_arguments(kwargs, error, match):
    kwargs = {"args": (jnp.asarray(CURVATURES, jnp.float32),), **kwargs}
    with pytest.raises(error, match=match):
        jl.lr_range_test(_diagonal_quadratic, jnp.ones(4), optax.sgd, **kwargs)


def test_range_test_rejects_a_built_optimizer_with_a_hint():
    with pytest.raises(TypeError, match="factory"):
        jl.lr_range_test(_diagonal_quadratic, jnp.ones(4), optax.sgd(0.1), args=(jnp.asarray(CURVATURES),))


def test_compare_with_sweep_reports_ratios_to_the_sweeps_best_and_stable_rates():
    """A real sweep of the same quadratic: its largest stable rate is the largest grid rate
    below 2/lambda_max, and the range test's suggestions all sit below it."""
    curvatures = jnp.asarray(CURVATURES, jnp.float32)
    rates = np.geomspace(1e-3, 1.0, 12)
    sweep_result = jl.sweep(_diagonal_quadratic, jnp.ones(4), optax.sgd, rates, steps=100, args=(curvatures,))
    range_test = jl.lr_range_test(_diagonal_quadratic, jnp.ones(4), optax.sgd, args=(curvatures,))
    report = lr_finder.compare_with_sweep(range_test, sweep_result)

    best_lr = sweep_result.best()["learning_rate"]  # the robust rule, tested in test_sweep.py
    assert best_lr in rates[sweep_result.status != "diverged"]
    largest_stable = rates[rates < 2 / CURVATURES.max()].max()
    assert report["optimizer"] == "sgd"
    assert report["sweep_best_lr"] == pytest.approx(best_lr)
    assert report["max_stable_lr_observed"] == pytest.approx(largest_stable)
    assert set(report["suggestions"]) == set(range_test.suggestions)
    for name, row in report["suggestions"].items():
        assert row["lr"] == range_test.suggestions[name]
        assert row["ratio_to_best"] == pytest.approx(row["lr"] / best_lr)
        assert row["ratio_to_max_stable"] == pytest.approx(row["lr"] / largest_stable)
        assert row["ratio_to_max_stable"] < 1, name  # following the suggestion would not diverge
    with pytest.raises(TypeError, match="sweep_result"):
        lr_finder.compare_with_sweep(range_test, {"learning_rate": 0.1})


def test_compare_with_sweep_for_a_named_optimizer_uses_that_optimizers_lanes():
    """Two optimizers in one sweep: the named one's best rate comes from its own lanes, not the overall best."""
    curvatures = jnp.asarray(CURVATURES, jnp.float32)
    rates = np.geomspace(1e-3, 1.0, 8)
    factories = {"sgd": optax.sgd, "momentum": jl.optim.factory("momentum")}
    sweep_result = jl.sweep(_diagonal_quadratic, jnp.ones(4), factories, rates, steps=60, args=(curvatures,))
    range_test = jl.lr_range_test(_diagonal_quadratic, jnp.ones(4), optax.sgd, args=(curvatures,), steps=40)
    for name in factories:
        report = jl.compare_with_sweep(range_test, sweep_result, optimizer=name)
        expected = sweep_result.best(optimizer=name)["learning_rate"]
        assert sweep_result.optimizers[sweep_result.best(optimizer=name)["lane"]] == name
        assert report["optimizer"] == name
        assert report["sweep_best_lr"] == pytest.approx(expected)
        assert report["max_stable_lr_observed"] == pytest.approx(sweep_result.max_stable_lr_observed()[name])
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        jl.compare_with_sweep(range_test, sweep_result, optimizer="adam")
