"""Hand-derived gradients (``jaxopt_lessons.manual``) against independent oracles.

Oracles: ``jax.value_and_grad`` of a loss written out here (not the module's own
``mlp_loss_fn``), the seed's closed-form ``dw``/``db``, and central differences.
Shapes are drawn from a small pool so eager JAX reuses its per-primitive compilations.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tree_allclose
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import jaxopt_lessons as jl
from jaxopt_lessons import manual

HIDDEN = ("sigmoid", "relu", "tanh")
OUTPUTS = ("sigmoid", "identity")
LOSSES = ("mse", "half_mse", "bce")
RTOL64, ATOL64 = 1e-8, 1e-12
RTOL32, ATOL32 = 2e-5, 1e-6


def reference_loss(params, x, y, activation, output_activation, loss):
    """The loss ``mlp_grad`` differentiates, written independently of ``manual``."""
    out = jl.mlp(params, x, activation=activation, output_activation=output_activation)
    if loss == "mse":
        return jnp.mean((out - y) ** 2)
    if loss == "half_mse":
        return 0.5 * jnp.mean((out - y) ** 2)
    if output_activation == "identity":  # bce on logits
        return jnp.mean(optax.losses.sigmoid_binary_cross_entropy(out, y))
    # bce on probabilities, the textbook formula (fine for the moderate logits used here)
    return -jnp.mean(y * jnp.log(out) + (1 - y) * jnp.log1p(-out))


def make_mlp(rng, sizes, *, row_bias=False, scale=1.0):
    """Random float64 layers; ``row_bias`` alternates the seed's ``(1, n_out)`` bias shape."""
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bias_shape = (1, n_out) if row_bias and index % 2 == 0 else (n_out,)
        layers.append({"W": scale * rng.normal(size=(n_in, n_out)), "b": rng.normal(size=bias_shape)})
    return layers


def targets(rng, shape, loss):
    return rng.uniform(size=shape) if loss == "bce" else rng.normal(size=shape)


def assert_matches_autodiff(params, x, y, activation, output_activation, loss, rtol, atol):
    value, grads = manual.mlp_grad(
        params, x, y, activation=activation, output_activation=output_activation, loss=loss
    )
    ref_value, ref_grads = jax.value_and_grad(reference_loss)(
        params, x, y, activation, output_activation, loss
    )
    np.testing.assert_allclose(value, ref_value, rtol=rtol, atol=atol)
    assert jax.tree.structure(grads) == jax.tree.structure(ref_grads)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- MLP, table-driven

# Widths and batch sizes come from one small pool (inputs/hidden 2-3, outputs 1-2, batch
# 1 or 3) shared with the property test, so eager JAX compiles each primitive shape once.
DEPTH_SIZES = {1: (2, 1), 2: (3, 2, 2), 3: (2, 3, 2, 1)}
CASES = list(itertools.product(HIDDEN, OUTPUTS, LOSSES, sorted(DEPTH_SIZES)))


@pytest.mark.slow
@pytest.mark.parametrize("activation,output_activation,loss,depth", CASES)
def test_mlp_grad_matches_jax_grad_float64(x64, activation, output_activation, loss, depth):
    rng = np.random.default_rng(depth)
    sizes = DEPTH_SIZES[depth]
    params = make_mlp(rng, sizes, row_bias=True)
    x = rng.normal(size=(3, sizes[0]))
    y = targets(rng, (3, sizes[-1]), loss)
    assert_matches_autodiff(params, x, y, activation, output_activation, loss, RTOL64, ATOL64)


@pytest.mark.parametrize(
    "activation,output_activation,loss",
    [("identity", "identity", "mse"), ("tanh", "tanh", "half_mse"), ("sigmoid", "relu", "mse"),
     ("identity", "sigmoid", "bce")],
)
def test_mlp_grad_extra_activations(x64, activation, output_activation, loss):
    """Beyond the contract: identity hidden layers and relu/tanh outputs for squared losses."""
    rng = np.random.default_rng(7)
    params = make_mlp(rng, (2, 3, 2))
    x, y = rng.normal(size=(3, 2)), targets(rng, (3, 2), loss)
    assert_matches_autodiff(params, x, y, activation, output_activation, loss, RTOL64, ATOL64)


@pytest.mark.parametrize("output_activation,loss", list(itertools.product(OUTPUTS, LOSSES)))
def test_mlp_loss_fn_is_the_loss_mlp_grad_differentiates(x64, output_activation, loss):
    rng = np.random.default_rng(3)
    params = make_mlp(rng, (2, 3, 2))
    x, y = rng.normal(size=(3, 2)), targets(rng, (3, 2), loss)
    loss_fn = manual.mlp_loss_fn("tanh", output_activation, loss)
    grad_fn = manual.mlp_grad_fn("tanh", output_activation, loss)
    expected = reference_loss(params, x, y, "tanh", output_activation, loss)
    np.testing.assert_allclose(loss_fn(params, x, y), expected, rtol=1e-12)
    value, grads = grad_fn(params, x, y)
    ref_value, ref_grads = jax.value_and_grad(loss_fn)(params, x, y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    assert tree_allclose(grads, ref_grads, rtol=RTOL64, atol=ATOL64)


def test_mlp_grad_matches_finite_differences(x64):
    """An oracle with no autodiff at all: central differences."""
    rng = np.random.default_rng(11)
    params = make_mlp(rng, (2, 3, 2), row_bias=True)
    x, y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    loss_fn = manual.mlp_loss_fn("sigmoid", "identity", "bce")
    _, grads = manual.mlp_grad(params, x, y, activation="sigmoid", output_activation="identity", loss="bce")
    numeric = jl.numerical_grad(loss_fn, jax.tree.map(jnp.asarray, params), x, y)
    assert tree_allclose(grads, numeric, rtol=1e-6, atol=1e-9)


def test_relu_derivative_at_zero_matches_jax(x64):
    """Zero first-layer weights and biases put every hidden pre-activation at exactly 0."""
    rng = np.random.default_rng(8)
    params = make_mlp(rng, (2, 3, 2))
    params[0] = {"W": np.zeros((2, 3)), "b": np.zeros(3)}
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    assert_matches_autodiff(params, x, y, "relu", "identity", "mse", RTOL64, ATOL64)


def test_bce_is_stable_for_huge_logits(x64):
    """|z| ~ 1e3: the naive log(sigmoid) is -inf there; the hand loss stays finite and exact."""
    rng = np.random.default_rng(5)
    params = make_mlp(rng, (2, 3, 1), scale=300.0)
    x, y = rng.normal(size=(3, 2)), np.array([[0.0], [1.0], [1.0]])
    for output_activation in OUTPUTS:
        value, grads = manual.mlp_grad(
            params, x, y, activation="tanh", output_activation=output_activation, loss="bce"
        )
        ref_value, ref_grads = jax.value_and_grad(reference_loss)(params, x, y, "tanh", "identity", "bce")
        assert np.isfinite(value) and all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
        np.testing.assert_allclose(value, ref_value, rtol=1e-12)
        assert tree_allclose(grads, ref_grads, rtol=RTOL64, atol=ATOL64)


# --------------------------------------------------------------------------- hypothesis

@st.composite
def mlp_problems(draw):
    depth = draw(st.integers(1, 3))
    sizes = [draw(st.sampled_from([2, 3])) for _ in range(depth)] + [draw(st.sampled_from([1, 2]))]
    batch = draw(st.sampled_from([1, 3]))
    activation = draw(st.sampled_from(HIDDEN))
    output_activation = draw(st.sampled_from(OUTPUTS))
    loss = draw(st.sampled_from(LOSSES))
    values = st.floats(-2.0, 2.0, allow_nan=False, width=64)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bias_shape = draw(st.sampled_from([(n_out,), (1, n_out)]))
        params.append({
            "W": draw(hnp.arrays(np.float64, (n_in, n_out), elements=values)),
            "b": draw(hnp.arrays(np.float64, bias_shape, elements=values)),
        })
    x = draw(hnp.arrays(np.float64, (batch, sizes[0]), elements=values))
    label_values = st.floats(0.0, 1.0, width=64) if loss == "bce" else values
    y = draw(hnp.arrays(np.float64, (batch, sizes[-1]), elements=label_values))
    return params, x, y, activation, output_activation, loss


@pytest.mark.slow
@settings(max_examples=100, deadline=None, derandomize=True)
@given(problem=mlp_problems())
def test_property_mlp_grad_equals_autodiff(problem):
    params, x, y, activation, output_activation, loss = problem
    with jax.enable_x64(True):  # eager float64; no jit, so no per-example compilation
        assert_matches_autodiff(params, x, y, activation, output_activation, loss, 1e-8, 1e-10)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    w=st.floats(-3, 3, width=64),
    b=st.floats(-3, 3, width=64),
    data=hnp.arrays(np.float64, (4, 2), elements=st.floats(-3, 3, width=64)),
)
def test_property_linear_regression_grad_equals_autodiff(w, b, data):
    with jax.enable_x64(True):
        x, y = data[:, :1], data[:, 1:]
        params = {"w": np.float64(w), "b": np.float64(b)}
        value, grads = manual.linear_regression_grad(params, x, y)
        ref_value, ref_grads = jax.value_and_grad(lambda p: jnp.mean((x * p["w"] + p["b"] - y) ** 2))(params)
        np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-14)
        assert tree_allclose(grads, ref_grads, rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- linear regression

LINEAR_SHAPES = [
    # (w shape, b shape, x shape, y shape)
    ((), (), (6, 1), (6, 1)),  # the seed: scalars, column data
    ((1,), (1,), (6, 1), (6, 1)),
    ((1, 1), (), (6, 1), (6, 1)),
    ((), (1,), (6,), (6,)),
    ((3,), (3,), (6, 3), (6, 3)),  # one slope per column
]


@pytest.mark.parametrize("w_shape,b_shape,x_shape,y_shape", LINEAR_SHAPES)
def test_linear_regression_grad_matches_jax_grad_float64(x64, w_shape, b_shape, x_shape, y_shape):
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(size=w_shape), "b": rng.normal(size=b_shape)}
    x, y = rng.normal(size=x_shape), rng.normal(size=y_shape)
    value, grads = manual.linear_regression_grad(params, x, y)
    ref_value, ref_grads = jax.value_and_grad(lambda p: jnp.mean((x * p["w"] + p["b"] - y) ** 2))(params)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    assert jax.tree.structure(grads) == jax.tree.structure(ref_grads)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL64, atol=ATOL64)


def test_linear_regression_grad_is_the_seeds_dw_db(x64):
    seed = jl.datasets.seed_linear_regression()
    x, y, w, b = seed["x"], seed["y"], seed["w0"], seed["b0"]
    value, grads = manual.linear_regression_grad({"w": w, "b": b}, x, y)
    y_pred = w * x + b
    n = len(x)
    np.testing.assert_allclose(value, np.mean((y_pred - y) ** 2), rtol=1e-13)
    np.testing.assert_allclose(grads["w"], (2 / n) * np.sum((y_pred - y) * x), rtol=1e-13)
    np.testing.assert_allclose(grads["b"], (2 / n) * np.sum(y_pred - y), rtol=1e-13)
    np.testing.assert_allclose(value, manual.linear_regression_loss({"w": w, "b": b}, x, y), rtol=1e-13)


# --------------------------------------------------------------------------- dtypes, jit, plug-in


@pytest.mark.parametrize("output_activation,loss", [("sigmoid", "mse"), ("identity", "bce")])
def test_float32_under_jit_matches_autodiff_and_keeps_dtype(output_activation, loss):
    """float32 (the default), jitted: one compilation per function instead of one per primitive."""
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), make_mlp(rng, (2, 3, 2), row_bias=True))
    x = jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
    y = jnp.asarray(rng.uniform(size=(3, 2)), jnp.float32)
    value, grads = jax.jit(manual.mlp_grad_fn("tanh", output_activation, loss))(params, x, y)
    ref_value, ref_grads = jax.jit(jax.value_and_grad(reference_loss), static_argnums=(3, 4, 5))(
        params, x, y, "tanh", output_activation, loss
    )
    assert value.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    np.testing.assert_allclose(value, ref_value, rtol=RTOL32)
    assert tree_allclose(grads, ref_grads, rtol=RTOL32, atol=ATOL32)


def test_linear_regression_grad_float32_under_jit():
    x = jnp.linspace(-1.0, 1.0, 6, dtype=jnp.float32)[:, None]
    y = 3 * x + 2
    params = {"w": jnp.float32(0.5), "b": jnp.float32(-1.0)}
    value, grads = jax.jit(manual.linear_regression_grad)(params, x, y)
    ref_value, ref_grads = jax.jit(jax.value_and_grad(manual.linear_regression_loss))(params, x, y)
    assert value.dtype == jnp.float32 and grads["w"].dtype == grads["b"].dtype == jnp.float32
    np.testing.assert_allclose(value, ref_value, rtol=RTOL32)
    assert tree_allclose(grads, ref_grads, rtol=RTOL32, atol=ATOL32)


def test_float64_is_not_downcast(x64):
    rng = np.random.default_rng(2)
    params = jax.tree.map(jnp.asarray, make_mlp(rng, (2, 3, 2)))
    _, grads = manual.mlp_grad(params, rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    assert all(g.dtype == jnp.float64 for g in jax.tree.leaves(grads))


def test_jit_of_vmap_matches_eager(x64):
    """Traceable: ``jit(vmap(grad_fn))`` over a stack of targets equals eager calls one by one."""
    rng = np.random.default_rng(4)
    params = make_mlp(rng, (2, 3, 2), row_bias=True)
    x, ys = rng.normal(size=(3, 2)), rng.normal(size=(2, 3, 2))
    grad_fn = manual.mlp_grad_fn("relu", "identity", "half_mse")
    values, grads = jax.jit(jax.vmap(grad_fn, in_axes=(None, None, 0)))(params, x, ys)
    for index in range(2):
        value, grad = grad_fn(params, x, ys[index])
        np.testing.assert_allclose(values[index], value, rtol=1e-12)
        assert tree_allclose(jax.tree.map(lambda g, i=index: g[i], grads), grad, rtol=1e-12, atol=1e-15)


def test_grad_fn_factories_are_cached_and_plug_into_check_grad(x64):
    assert manual.mlp_grad_fn("tanh", "sigmoid", "bce") is manual.mlp_grad_fn("tanh", "sigmoid", "bce")
    assert manual.mlp_loss_fn("tanh", "sigmoid", "bce") is manual.mlp_loss_fn("tanh", "sigmoid", "bce")
    rng = np.random.default_rng(6)
    params = jax.tree.map(jnp.asarray, make_mlp(rng, (2, 3, 2)))
    x, y = rng.normal(size=(3, 2)), rng.uniform(size=(3, 2))
    report = jl.check_grad(
        manual.mlp_loss_fn("tanh", "sigmoid", "bce"), manual.mlp_grad_fn("tanh", "sigmoid", "bce"), params, x, y
    )
    assert report.ok, str(report)


# --------------------------------------------------------------------------- bad input

BAD_OPTIONS = [
    ({"activation": "swish"}, "activation", "'sigmoid'"),
    ({"output_activation": "softmax"}, "output_activation", "'identity'"),
    ({"loss": "hinge"}, "loss", "'half_mse'"),
    ({"output_activation": "tanh", "loss": "bce"}, "bce", "'sigmoid'"),
]


@pytest.mark.parametrize("options,argname,listed", BAD_OPTIONS)
def test_bad_names_raise_listing_valid_ones(options, argname, listed):
    params = [{"W": jnp.ones((2, 1)), "b": jnp.zeros((1,))}]
    x, y = jnp.ones((3, 2)), jnp.ones((3, 1))
    for call in (
        lambda: manual.mlp_grad(params, x, y, **options),
        lambda: manual.mlp_grad_fn(**options),
        lambda: manual.mlp_loss_fn(**options),
    ):
        with pytest.raises(ValueError, match=argname) as info:
            call()
        assert listed in str(info.value)


@pytest.mark.parametrize(
    "params",
    [[], {"W": jnp.ones((2, 1)), "b": jnp.zeros(1)}, [{"W": jnp.ones((2, 1))}], [{"w": 1.0, "b": 0.0}]],
)
def test_malformed_mlp_params_raise(params):
    with pytest.raises(ValueError, match="params"):
        manual.mlp_grad(params, jnp.ones((3, 2)), jnp.ones((3, 1)))


def test_malformed_linear_params_raise():
    with pytest.raises(ValueError, match="'w' and 'b'"):
        manual.linear_regression_grad({"W": 1.0, "b": 0.0}, jnp.ones((3, 1)), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="'w' and 'b'"):
        manual.linear_regression_grad([1.0, 0.0], jnp.ones((3, 1)), jnp.ones((3, 1)))
