"""Sharpness, the curvature bound 2/lambda_max and the learning-rate range test.

Oracles: closed-form Hessians and ``numpy.linalg.eigvalsh``, an independent NumPy re-run
of gradient descent / the range test, and a line-by-line transcription of fastai's
suggestion functions.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jaxopt_lessons as jl
from jaxopt_lessons import stability

# --------------------------------------------------------------------------- problems


def _seed_regression(dtype):
    data = jl.datasets.seed_linear_regression()
    params = {"w": jnp.asarray(data["w0"], dtype), "b": jnp.asarray(data["b0"], dtype)}
    return params, jnp.asarray(data["x"], dtype), jnp.asarray(data["y"], dtype), data


def _closed_form_hessian(x: np.ndarray) -> np.ndarray:
    """Hessian of mean((w x + b - y)^2) in (w, b): (2/n) [x 1]^T [x 1]."""
    design = np.hstack([x, np.ones_like(x)])
    return 2.0 / len(x) * design.T @ design


def _pytree_quadratic(params, matrix, offset):
    """0.5 theta^T A theta + c^T theta over the flattened pytree {"a": (3,), "b": [(2, 2)]}."""
    theta = jnp.concatenate([params["a"], params["b"][0].ravel()])
    return 0.5 * theta @ matrix @ theta + offset @ theta


def _pytree_start(dtype):
    return {"a": jnp.arange(1.0, 4.0, dtype=dtype), "b": [jnp.full((2, 2), 0.5, dtype)]}


def _matrix_with_spectrum(eigenvalues, seed):
    rng = np.random.RandomState(seed)
    q, _ = np.linalg.qr(rng.randn(len(eigenvalues), len(eigenvalues)))
    return q @ np.diag(eigenvalues) @ q.T


# --------------------------------------------------------------------------- sharpness


@pytest.mark.parametrize("dtype, rtol", [(jnp.float32, 1e-3), (jnp.float64, 1e-9)])
def test_max_stable_lr_is_two_over_closed_form_top_eigenvalue_on_linear_regression(dtype, rtol):
    with jax.enable_x64(dtype == jnp.float64):
        params, x, y, data = _seed_regression(dtype)
        expected_top = np.linalg.eigvalsh(_closed_form_hessian(data["x"]))[-1]
        tol = 1e-6 if dtype == jnp.float32 else 1e-13
        top = jl.sharpness(jl.manual.linear_regression_loss, params, x, y, iters=500, tol=tol)
        bound = jl.max_stable_lr(jl.manual.linear_regression_loss, params, x, y, iters=500, tol=tol)
    np.testing.assert_allclose(top, expected_top, rtol=rtol)
    np.testing.assert_allclose(bound, 2.0 / expected_top, rtol=rtol)


def test_max_stable_lr_separates_convergence_from_divergence_of_gradient_descent():
    """3% below the bound GD converges, 3% above it diverges (independent NumPy GD loop)."""
    params, x, y, data = _seed_regression(jnp.float32)
    bound = jl.max_stable_lr(jl.manual.linear_regression_loss, params, x, y)
    xs, ys = data["x"][:, 0], data["y"][:, 0]

    def final_loss(lr, steps=400):
        w, b = data["w0"], data["b0"]
        for _ in range(steps):
            residual = w * xs + b - ys
            w, b = w - lr * 2 * np.mean(residual * xs), b - lr * 2 * np.mean(residual)
        return np.mean((w * xs + b - ys) ** 2)

    initial = np.mean((data["w0"] * xs + data["b0"] - ys) ** 2)
    assert final_loss(0.97 * bound) < 1.01 * np.mean((np.polyval(np.polyfit(xs, ys, 1), xs) - ys) ** 2)
    assert final_loss(1.03 * bound) > 1e3 * initial


@settings(deadline=None, max_examples=40)
@given(
    others=st.lists(st.floats(-10.0, 10.0, allow_nan=False), min_size=6, max_size=6),
    gap=st.floats(0.5, 5.0),
    seed=st.integers(0, 999),
)
def test_sharpness_of_random_pytree_quadratics_matches_eigvalsh(others, gap, seed):
    """Any spectrum with a gap at the top, negative dominant eigenvalues included (then the
    shifted second phase runs); pytree params, float64."""
    spectrum = np.array([*others, max(others) + gap])
    magnitudes = np.sort(np.abs(spectrum))
    assume(magnitudes[-2] <= 0.9 * magnitudes[-1])  # power iteration needs a dominant eigenvalue
    matrix = _matrix_with_spectrum(spectrum, seed)
    with jax.enable_x64(True):
        offset = jnp.linspace(-1.0, 1.0, 7)
        result = stability.top_hessian_eigen(
            _pytree_quadratic, _pytree_start(jnp.float64), jnp.asarray(matrix), offset, iters=3000, tol=1e-14
        )
        structure = jax.tree_util.tree_structure(_pytree_start(jnp.float64))
    np.testing.assert_allclose(result.value, spectrum.max(), rtol=1e-6, atol=1e-9)
    assert jax.tree_util.tree_structure(result.vector) == structure


@pytest.mark.parametrize(
    "spectrum",
    [[7.0, 3.0, 2.5, 1.0, 0.5, -1.0, -2.0], [2.0, 1.0, 0.5, 0.0, -1.0, -3.0, -8.0]],
    ids=["positive-dominant", "negative-dominant"],
)
def test_sharpness_float32_pytree_quadratic_within_1e3_and_keeps_dtype(spectrum):
    matrix = _matrix_with_spectrum(np.array(spectrum), 0)
    args = (jnp.asarray(matrix, jnp.float32), jnp.linspace(-1.0, 1.0, 7, dtype=jnp.float32))
    result = stability.top_hessian_eigen(_pytree_quadratic, _pytree_start(jnp.float32), *args, iters=300)
    np.testing.assert_allclose(result.value, max(spectrum), rtol=1e-3)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(result.vector)} == {jnp.dtype(jnp.float32)}


def test_iteration_cap_and_tolerance_control_the_loop():
    """Close top eigenvalues (10, 9.9) converge slowly: the cap stops it, a loose tol stops early."""
    matrix = _matrix_with_spectrum(np.array([10.0, 9.9, 1.0, 0.5, 0.2, 0.1, 0.0]), 1)
    args = (jnp.asarray(matrix, jnp.float32), jnp.zeros(7, jnp.float32))
    start = _pytree_start(jnp.float32)
    capped = stability.top_hessian_eigen(_pytree_quadratic, start, *args, iters=5, tol=1e-7)
    assert capped.iterations == 5 and not capped.converged
    exhaustive = stability.top_hessian_eigen(_pytree_quadratic, start, *args, iters=7, tol=0.0)
    assert exhaustive.iterations == 7 and not exhaustive.converged
    loose = stability.top_hessian_eigen(_pytree_quadratic, start, *args, iters=500, tol=1e-2)
    tight = stability.top_hessian_eigen(_pytree_quadratic, start, *args, iters=500, tol=1e-7)
    assert loose.converged and tight.converged
    assert 1 < loose.iterations < tight.iterations
    assert abs(loose.value - 10.0) <= 0.1 * 10.0  # Rayleigh quotient: between the eigenvalues
    np.testing.assert_allclose(tight.value, 10.0, rtol=1e-3)


def test_concave_loss_has_no_curvature_bound():
    assert jl.sharpness(lambda x: -jnp.sum(x**2), jnp.ones(3)) == pytest.approx(-2.0, rel=1e-5)
    assert math.isinf(jl.max_stable_lr(lambda x: -jnp.sum(x**2), jnp.ones(3)))


@pytest.mark.parametrize(
    "kwargs, error",
    [({"iters": 0}, ValueError), ({"iters": 2.5}, TypeError), ({"tol": -1.0}, ValueError), ({"tol": float("nan")}, ValueError)],
)
def test_sharpness_rejects_bad_options(kwargs, error):
    with pytest.raises(error, match="iters|tol"):
        jl.sharpness(lambda x: jnp.sum(x**2), jnp.ones(3), **kwargs)


def test_sharpness_rejects_integer_params_and_nonscalar_loss():
    with pytest.raises(TypeError, match="params"):
        jl.sharpness(lambda x: jnp.sum(x**2), jnp.arange(3))
    with pytest.raises(ValueError, match="scalar"):
        jl.sharpness(lambda x: x**2, jnp.ones(3))


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
    suggestions = stability.suggest_learning_rates(lrs, losses)
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
    report = stability.compare_with_sweep(range_test, sweep_result)

    stable = sweep_result.status != "diverged"
    best_lr = rates[stable][np.argmin(sweep_result.final_loss[stable])]
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
        stability.compare_with_sweep(range_test, {"learning_rate": 0.1})
