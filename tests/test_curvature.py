"""Sharpness and the curvature bound 2/lambda_max.

Oracles: closed-form Hessians and ``numpy.linalg.eigvalsh``, and an independent NumPy
re-run of gradient descent.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jaxopt_lessons as jl
from jaxopt_lessons import curvature

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
        result = curvature.top_hessian_eigen(
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
    result = curvature.top_hessian_eigen(_pytree_quadratic, _pytree_start(jnp.float32), *args, iters=300)
    np.testing.assert_allclose(result.value, max(spectrum), rtol=1e-3)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(result.vector)} == {jnp.dtype(jnp.float32)}


def test_iteration_cap_and_tolerance_control_the_loop():
    """Close top eigenvalues (10, 9.9) converge slowly: the cap stops it, a loose tol stops early."""
    matrix = _matrix_with_spectrum(np.array([10.0, 9.9, 1.0, 0.5, 0.2, 0.1, 0.0]), 1)
    args = (jnp.asarray(matrix, jnp.float32), jnp.zeros(7, jnp.float32))
    start = _pytree_start(jnp.float32)
    capped = curvature.top_hessian_eigen(_pytree_quadratic, start, *args, iters=5, tol=1e-7)
    assert capped.iterations == 5 and not capped.converged
    exhaustive = curvature.top_hessian_eigen(_pytree_quadratic, start, *args, iters=7, tol=0.0)
    assert exhaustive.iterations == 7 and not exhaustive.converged
    loose = curvature.top_hessian_eigen(_pytree_quadratic, start, *args, iters=500, tol=1e-2)
    tight = curvature.top_hessian_eigen(_pytree_quadratic, start, *args, iters=500, tol=1e-7)
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
