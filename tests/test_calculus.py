"""Calculus helpers against closed forms and against each other (jax.grad vs central differences)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxopt_lessons as jl

# function, its closed-form derivative, sample points (the seed's rules table)
DERIVATIVE_TABLE = [
    ("constant", lambda x: 7.0 + 0 * x, lambda x: 0 * x, [-2.0, 0.5, 3.0]),
    ("linear", lambda x: x, lambda x: 1 + 0 * x, [-2.0, 0.5, 3.0]),
    ("square", lambda x: x**2, lambda x: 2 * x, [-2.0, 0.5, 1.5]),
    ("cube", lambda x: x**3, lambda x: 3 * x**2, [-2.0, 0.5, 1.5]),
    ("exp", jnp.exp, jnp.exp, [-1.0, 0.0, 2.0]),
    ("log", jnp.log, lambda x: 1 / x, [0.5, 1.0, 4.0]),
    ("product", lambda x: x**2 * jnp.sin(x), lambda x: 2 * x * jnp.sin(x) + x**2 * jnp.cos(x), [-1.0, 0.3, 2.0]),
    ("chain", lambda x: jnp.sin(x**2), lambda x: jnp.cos(x**2) * 2 * x, [-1.0, 0.3, 2.0]),
]


@pytest.mark.parametrize("name,f,df,points", DERIVATIVE_TABLE, ids=[row[0] for row in DERIVATIVE_TABLE])
def test_derivative_matches_closed_form(name, f, df, points):
    xs = jnp.asarray(points)
    np.testing.assert_allclose(jl.derivative(f, xs), df(xs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jl.derivative(f, xs[1]), df(xs[1]), rtol=1e-5, atol=1e-6)


def test_derivative_keeps_array_shape():
    xs = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)
    assert jl.derivative(jnp.sin, xs).shape == (2, 3)


def test_tangent_line_of_the_seed():
    slope, intercept = jl.tangent_line(lambda x: x**2, 1.5)
    assert float(slope) == pytest.approx(3.0)
    assert float(intercept) == pytest.approx(1.5**2 - 3.0 * 1.5)


def test_gradient_field_of_the_bowl():
    xs, ys = jnp.linspace(-3, 3, 5), jnp.linspace(-2, 2, 4)
    U, V = jl.gradient_field(lambda x, y: x**2 + y**2, xs, ys)
    X, Y = np.meshgrid(np.asarray(xs), np.asarray(ys))
    np.testing.assert_allclose(U, 2 * X, rtol=1e-6)
    np.testing.assert_allclose(V, 2 * Y, rtol=1e-6)


def test_numerical_grad_pytree_float64(x64):
    def f(p, scale):
        return scale * jnp.sum(jnp.sin(p["a"]) * p["b"][0] ** 2) + jnp.prod(p["c"])

    params = {"a": jnp.array([0.3, -1.2, 2.0]), "b": [jnp.array(1.5)], "c": jnp.array([[1.1, 0.9]])}
    numeric = jl.numerical_grad(f, params, 2.0)
    exact = jax.grad(f)(params, 2.0)
    assert jax.tree_util.tree_structure(numeric) == jax.tree_util.tree_structure(params)
    for a, b in zip(jax.tree_util.tree_leaves(numeric), jax.tree_util.tree_leaves(exact)):
        assert a.dtype == jnp.float64
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def _smooth(v, scale):
    return jnp.sum(jnp.tanh(scale * v) + 0.5 * v**2)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-2.0, 2.0), min_size=4, max_size=4),
    st.floats(0.1, 3.0),
)
def test_numerical_grad_property(values, scale):
    """Central differences ~ jax.grad on a smooth function (float32 tolerance).

    One module-level function and a fixed shape, so examples reuse compiled code.
    """
    x = jnp.asarray(values, dtype=jnp.float32)
    scale = jnp.float32(scale)
    np.testing.assert_allclose(
        jl.numerical_grad(_smooth, x, scale), jax.grad(_smooth)(x, scale), rtol=2e-2, atol=2e-3
    )


def test_numerical_grad_rejects_integer_params():
    with pytest.raises(TypeError, match="params"):
        jl.numerical_grad(lambda p: jnp.sum(p), jnp.arange(3))
