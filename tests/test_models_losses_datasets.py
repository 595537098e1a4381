"""Models, losses and data sets against NumPy re-implementations and optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons import datasets

NUMPY_ACTIVATIONS = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "identity": lambda z: z,
}


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "identity"])
@pytest.mark.parametrize("output_activation", ["sigmoid", "identity"])
def test_mlp_matches_numpy(getkey, activation, output_activation):
    params = jl.init_mlp(getkey(), [3, 5, 4, 2])
    x = np.asarray(jax.random.normal(getkey(), (7, 3)))
    h = x
    for index, layer in enumerate(params):
        act = NUMPY_ACTIVATIONS[output_activation if index == len(params) - 1 else activation]
        h = act(h @ np.asarray(layer["W"]) + np.asarray(layer["b"]))
    out = jl.mlp(params, x, activation=activation, output_activation=output_activation)
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)


def test_mlp_accepts_seed_bias_shape():
    params = [{"W": w, "b": b} for w, b in zip(
        [jnp.ones((2, 3)), jnp.ones((3, 1))], [jnp.zeros((1, 3)), jnp.zeros((1, 1))])]
    flat = [{"W": p["W"], "b": p["b"][0]} for p in params]
    x = jnp.array([[0.5, 0.8]])
    np.testing.assert_array_equal(jl.mlp(params, x), jl.mlp(flat, x))


def test_init_mlp_shapes_scale_and_glorot(getkey):
    params = jl.init_mlp(getkey(), [200, 300, 1])
    assert [(p["W"].shape, p["b"].shape) for p in params] == [((200, 300), (300,)), ((300, 1), (1,))]
    assert float(jnp.std(params[0]["W"])) == pytest.approx(np.sqrt(2 / 500), rel=0.05)
    scaled = jl.init_mlp(getkey(), [200, 300], scale=0.5)
    assert float(jnp.std(scaled[0]["W"])) == pytest.approx(0.5, rel=0.05)
    assert not np.any(np.asarray(params[0]["b"]))


def test_init_mlp_is_deterministic_per_key():
    a = jl.init_mlp(jax.random.key(3), [2, 4, 1])
    b = jl.init_mlp(jax.random.key(3), [2, 4, 1])
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("sizes,error", [([3], ValueError), ([], ValueError), ([2, 0, 1], ValueError),
                                         ([2, -4, 1], ValueError), ([2, 2.5], TypeError)])
def test_init_mlp_bad_sizes(sizes, error):
    with pytest.raises(error, match="sizes"):
        jl.init_mlp(jax.random.key(0), sizes)


def test_unknown_activation_lists_valid_names():
    params = jl.init_mlp(jax.random.key(0), [2, 1])
    with pytest.raises(ValueError, match="activation 'gelu'.*'sigmoid'"):
        jl.mlp(params, jnp.ones((1, 2)), activation="gelu")
    with pytest.raises(ValueError, match="output_activation"):
        jl.mlp(params, jnp.ones((1, 2)), output_activation="softmax")


@pytest.mark.parametrize("name", sorted(NUMPY_ACTIVATIONS))
def test_activation_registry_functions_and_derivatives_match_numpy_and_autodiff(name):
    """One table: each activation's function equals NumPy's, its derivative (z, h) -> phi'(z)
    equals jax.grad of the function (away from relu's kink at 0), and get_activation agrees."""
    from jaxopt_lessons.models import ACTIVATIONS, get_activation

    assert set(ACTIVATIONS) == set(NUMPY_ACTIVATIONS)
    z = jnp.linspace(-3.0, 3.0, 12)  # 12 points: 0 is not among them
    activation = ACTIVATIONS[name]
    h = activation.fn(z)
    np.testing.assert_allclose(h, NUMPY_ACTIVATIONS[name](np.asarray(z)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activation(z), h)
    autodiff = jax.vmap(jax.grad(activation.fn))(z)
    np.testing.assert_allclose(activation.derivative(z, h), autodiff, rtol=1e-6, atol=1e-7)
    assert get_activation(name) is activation.fn


def test_mlp_loss_registry_names_the_three_losses():
    from jaxopt_lessons.losses import MLP_LOSSES

    assert MLP_LOSSES == {"mse": jl.mse, "half_mse": jl.half_mse, "bce": jl.bce_with_logits}
    assert jl.manual.LOSSES == tuple(MLP_LOSSES)


def test_linear_model():
    x = jnp.arange(4.0)[:, None]
    np.testing.assert_allclose(jl.linear({"w": 3.0, "b": 2.0}, x), 3 * np.arange(4.0)[:, None] + 2)


def test_losses_match_formulas(getkey):
    pred = jax.random.normal(getkey(), (9, 1))
    y = (jax.random.uniform(getkey(), (9, 1)) > 0.5).astype(jnp.float32)
    p, t = np.asarray(pred), np.asarray(y)
    assert float(jl.mse(pred, y)) == pytest.approx(np.mean((p - t) ** 2), rel=1e-6)
    assert float(jl.half_mse(pred, y)) == pytest.approx(0.5 * np.mean((p - t) ** 2), rel=1e-6)
    sig = 1 / (1 + np.exp(-p))
    bce = -np.mean(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    assert float(jl.bce_with_logits(pred, y)) == pytest.approx(bce, rel=1e-5)
    assert float(jl.accuracy(pred, y)) == pytest.approx(np.mean((p > 0) == t))
    assert float(jl.accuracy(sig, y, from_logits=False)) == pytest.approx(np.mean((p > 0) == t))


def test_bce_is_stable_for_large_logits():
    logits = jnp.array([[100.0], [-100.0]])
    assert np.isfinite(float(jl.bce_with_logits(logits, jnp.array([[0.0], [1.0]]))))
    assert float(jl.bce_with_logits(logits, jnp.array([[1.0], [0.0]]))) == pytest.approx(0.0, abs=1e-6)


def test_multiclass_accuracy():
    scores = jnp.array([[0.1, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert float(jl.accuracy(scores, jnp.array([1, 0, 0]))) == pytest.approx(2 / 3)
    assert float(jl.accuracy(scores, jax.nn.one_hot(jnp.array([1, 0, 2]), 3))) == pytest.approx(1.0)


def test_xor_truth_table():
    X, y = datasets.xor()
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(X[:, 0], X[:, 1]).astype(float))


@pytest.mark.parametrize("make", [datasets.two_moons, datasets.circles, datasets.spirals])
def test_classification_sets(make):
    X, y = make(jax.random.key(0), 101, 0.1)
    assert X.shape == (101, 2) and y.shape == (101, 1)
    assert jnp.issubdtype(X.dtype, jnp.floating) and set(np.unique(y)) == {0.0, 1.0}
    X2, _ = make(jax.random.key(0), 101, 0.1)
    np.testing.assert_array_equal(X, X2)
    with pytest.raises(ValueError, match="noise"):
        make(jax.random.key(0), 10, -1.0)
    with pytest.raises(ValueError, match="n must"):
        make(jax.random.key(0), 0, 0.1)


def test_noisy_line_recovers_its_line():
    x, y = datasets.noisy_line(jax.random.key(1), n=2000, w=3.0, b=2.0, noise=0.5)
    design = np.hstack([np.asarray(x), np.ones((2000, 1))])
    (w, b), *_ = np.linalg.lstsq(design, np.asarray(y), rcond=None)
    assert abs(w[0] - 3.0) < 0.05 and abs(b[0] - 2.0) < 0.05


def test_seed_inputs_match_the_notebook_stream():
    """The seed's draws, re-made here with the legacy global-seed API the notebook used."""
    np.random.seed(42)
    x = np.random.randn(100, 1) * 2
    y = 3 * x + 2 + np.random.randn(100, 1) * 0.5
    w0, b0 = np.random.randn(), np.random.randn()
    data = datasets.seed_linear_regression()
    np.testing.assert_array_equal(data["x"], x)
    np.testing.assert_array_equal(data["y"], y)
    assert (data["w0"], data["b0"]) == (w0, b0)
    np.random.seed(42)
    w1 = np.random.randn(2, 4) * 0.5
    w2 = np.random.randn(4, 1) * 0.5
    xor_params = datasets.seed_xor_init()
    np.testing.assert_array_equal(xor_params[0]["W"], w1)
    np.testing.assert_array_equal(xor_params[1]["W"], w2)


def test_mse_uses_optax_squared_error():
    a, b = jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])
    assert float(jl.mse(a, b)) == pytest.approx(float(jnp.mean(optax.losses.squared_error(a, b))))
