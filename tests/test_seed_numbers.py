"""The seed notebook's numbers, recomputed through the public API in float64.

Every expected value comes from an independent NumPy re-run of the seed's own loop,
written out below with the seed's semantics (its ``np.random.seed(42)`` draws, its
update order, its loss recorded before each update). The API runs use
``jl.fit`` + ``jl.optim.sgd`` (and ``optax.sgd``), once with the hand-derived
gradients of ``jl.manual`` and once with autodiff.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons import manual

OPTIMIZERS = {"jl.optim.sgd": jl.optim.sgd, "optax.sgd": optax.sgd}
GRADIENTS = ("manual", "autodiff")
TIGHT = dict(rtol=1e-10, atol=1e-12)  # float64, same arithmetic up to summation order
MAX_ABS_DIFF: dict[str, float] = {}  # item -> max |API - NumPy| (printed with -s)


def record(item: str, actual, expected) -> float:
    diff = float(np.max(np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))))
    MAX_ABS_DIFF[item] = max(MAX_ABS_DIFF.get(item, 0.0), diff)
    return diff


@pytest.fixture(scope="module", autouse=True)
def report_differences():
    yield
    for item, diff in sorted(MAX_ABS_DIFF.items()):
        print(f"\nmax |API - NumPy seed re-run| {item}: {diff:.3e}")


@contextlib.contextmanager
def legacy_global_seed(seed: int):
    """``np.random.seed(seed)`` as the notebook does, restoring the global state afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1 - s)


# --------------------------------------------------------------------------- the seed's inputs


def test_seed_inputs_are_the_notebooks_np_random_seed_42_draws():
    with legacy_global_seed(42):
        X_train = np.random.randn(100, 1) * 2
        y_train = 3 * X_train + 2 + np.random.randn(100, 1) * 0.5
        w, b = np.random.randn(), np.random.randn()
    data = jl.datasets.seed_linear_regression()
    np.testing.assert_array_equal(data["x"], X_train)
    np.testing.assert_array_equal(data["y"], y_train)
    assert (data["w0"], data["b0"]) == (w, b)

    with legacy_global_seed(42):
        W1, W2 = np.random.randn(2, 3) * 0.1, np.random.randn(3, 1) * 0.1
    example = jl.datasets.seed_backprop_example()
    np.testing.assert_array_equal(example["params"][0]["W"], W1)
    np.testing.assert_array_equal(example["params"][1]["W"], W2)
    np.testing.assert_array_equal(example["params"][0]["b"], np.zeros((1, 3)))
    np.testing.assert_array_equal(example["params"][1]["b"], np.zeros((1, 1)))
    np.testing.assert_array_equal(example["x"], [[0.5, 0.8]])
    np.testing.assert_array_equal(example["y"], [[0.9]])

    with legacy_global_seed(42):
        W1, W2 = np.random.randn(2, 4) * 0.5, np.random.randn(4, 1) * 0.5
    xor_init = jl.datasets.seed_xor_init()
    np.testing.assert_array_equal(xor_init[0]["W"], W1)
    np.testing.assert_array_equal(xor_init[1]["W"], W2)
    np.testing.assert_array_equal(xor_init[0]["b"], np.zeros((1, 4)))
    np.testing.assert_array_equal(xor_init[1]["b"], np.zeros((1, 1)))
    X, y = jl.datasets.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [[0], [1], [1], [0]])


# --------------------------------------------------------------------------- (1) gradient descent table


def seed_gradient_descent():
    """The seed's loop on f(x) = x² + 10 from x = 5, lr 0.1, 20 iterations: rows (x, f(x), gradient)."""
    def f(x):
        return x**2 + 10

    def df(x):
        return 2 * x

    x, rows = 5.0, []
    for _ in range(20):
        gradient = df(x)
        x = x - 0.1 * gradient
        rows.append((x, f(x), gradient))
    return np.array(rows)


def table_lines(rows):
    """The seed's printed table lines (first 10 iterations and the last)."""
    return [
        f"{i + 1:9} | {x:7.4f} | {fx:7.4f} | {g:7.4f}"
        for i, (x, fx, g) in enumerate(rows)
        if i < 10 or i == len(rows) - 1
    ]


def parabola(x):
    return x**2 + 10


def parabola_hand_grad(x):
    """The seed's ``df(x) = 2x``, as a ``grad_fn``."""
    return parabola(x), 2 * x


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("gradient", GRADIENTS)
def test_gradient_descent_table(x64, optimizer, gradient):
    expected = seed_gradient_descent()
    grad_fn = parabola_hand_grad if gradient == "manual" else None
    traj = jl.fit(parabola, jnp.float64(5.0), OPTIMIZERS[optimizer](0.1), steps=20,
                  grad_fn=grad_fn, track_params=True)
    assert traj.losses.dtype == jnp.float64
    x_before = np.asarray(traj.params_history)  # x_0 .. x_19
    x_after = np.append(x_before[1:], traj.params)  # x_1 .. x_20, the seed's printed x
    f_after = np.append(np.asarray(traj.losses)[1:], traj.final_loss)
    gradients = np.asarray(jl.derivative(parabola, x_before))
    rows = np.stack([x_after, f_after, gradients], axis=1)
    np.testing.assert_allclose(rows, expected, **TIGHT)
    record("(1) gradient-descent table", rows, expected)
    assert table_lines(rows) == table_lines(expected)
    assert f"{float(traj.params):.6f}" == f"{expected[-1, 0]:.6f}"


# --------------------------------------------------------------------------- (2) linear regression


def seed_linear_regression_run(x, y, w, b, learning_rate=0.01, epochs=100):
    """The seed's training loop; the loss is recorded before each update."""
    loss_history, w_history, b_history = [], [w], [b]
    for _ in range(epochs):
        y_pred = w * x + b
        loss_history.append(np.mean((y_pred - y) ** 2))
        dw = (2 / len(x)) * np.sum((y_pred - y) * x)
        db = (2 / len(x)) * np.sum(y_pred - y)
        w = w - learning_rate * dw
        b = b - learning_rate * db
        w_history.append(w)
        b_history.append(b)
    return np.array(loss_history), np.array(w_history), np.array(b_history)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("gradient", GRADIENTS)
def test_linear_regression_loss_curve_and_final_parameters(x64, optimizer, gradient):
    data = jl.datasets.seed_linear_regression()
    losses, w_history, b_history = seed_linear_regression_run(data["x"], data["y"], data["w0"], data["b0"])
    params = {"w": jnp.float64(data["w0"]), "b": jnp.float64(data["b0"])}
    grad_fn = manual.linear_regression_grad if gradient == "manual" else None
    traj = jl.fit(manual.linear_regression_loss, params, OPTIMIZERS[optimizer](0.01), steps=100,
                  args=(data["x"], data["y"]), grad_fn=grad_fn, track_params=True)
    assert traj.losses.shape == (100,) and traj.losses.dtype == jnp.float64
    np.testing.assert_allclose(traj.losses, losses, **TIGHT)
    np.testing.assert_allclose([traj.params["w"], traj.params["b"]], [w_history[-1], b_history[-1]], **TIGHT)
    np.testing.assert_allclose(traj.params_history["w"], w_history[:-1], **TIGHT)
    np.testing.assert_allclose(traj.params_history["b"], b_history[:-1], **TIGHT)
    np.testing.assert_allclose(traj.final_loss, np.mean((w_history[-1] * data["x"] + b_history[-1] - data["y"]) ** 2), **TIGHT)
    record("(2) linear regression loss curve", traj.losses, losses)
    record("(2) linear regression final w, b", [traj.params["w"], traj.params["b"]], [w_history[-1], b_history[-1]])


# --------------------------------------------------------------------------- (3) the 2-layer backprop example


def seed_backprop(x, y_true, W1, b1, W2, b2, *, loss="half_mse"):
    """The seed's forward and backward pass of its 2-layer sigmoid network.

    ``loss="half_mse"``: the backprop example's ``0.5 (a2 - y)²`` (one sample);
    ``loss="mse"``: the XOR loop's ``mean((a2 - y)²)`` with ``dL/da2 = 2 (a2 - y) / n``.
    Returns ``(a1, a2, loss, grads)`` with ``grads`` shaped like ``params``.
    """
    z1 = x @ W1 + b1
    a1 = sigmoid(z1)
    z2 = a1 @ W2 + b2
    a2 = sigmoid(z2)
    if loss == "mse":
        value = np.mean((a2 - y_true) ** 2)
        dL_da2 = 2 * (a2 - y_true) / len(x)
    else:
        value = (0.5 * (a2 - y_true) ** 2)[0, 0]
        dL_da2 = a2 - y_true
    dL_dz2 = dL_da2 * sigmoid_derivative(z2)
    dL_dW2 = a1.T @ dL_dz2
    dL_db2 = np.sum(dL_dz2, axis=0, keepdims=True)
    dL_da1 = dL_dz2 @ W2.T
    dL_dz1 = dL_da1 * sigmoid_derivative(z1)
    dL_dW1 = x.T @ dL_dz1
    dL_db1 = np.sum(dL_dz1, axis=0, keepdims=True)
    grads = [{"W": dL_dW1, "b": dL_db1}, {"W": dL_dW2, "b": dL_db2}]
    return a1, a2, value, grads


@pytest.mark.parametrize("gradient", GRADIENTS)
def test_backprop_example_activations_loss_and_gradients(x64, gradient):
    example = jl.datasets.seed_backprop_example()
    x, y, params = example["x"], example["y"], example["params"]
    a1, a2, loss, grads = seed_backprop(x, y, params[0]["W"], params[0]["b"], params[1]["W"], params[1]["b"])
    options = dict(activation="sigmoid", output_activation="sigmoid")
    api_a1 = jl.mlp(params[:1], x, **options)
    api_a2 = jl.mlp(params, x, **options)
    if gradient == "manual":
        api_loss, api_grads = manual.mlp_grad(params, x, y, loss="half_mse", **options)
    else:
        api_loss, api_grads = jax.value_and_grad(lambda p: jl.half_mse(jl.mlp(p, x, **options), y))(params)
    for got, want in [(api_a1, a1), (api_a2, a2), (api_loss, loss)]:
        np.testing.assert_allclose(got, want, **TIGHT)
        assert got.dtype == jnp.float64
    record("(3) backprop activations a1, a2", np.concatenate([np.ravel(api_a1), np.ravel(api_a2)]),
           np.concatenate([np.ravel(a1), np.ravel(a2)]))
    record("(3) backprop loss", api_loss, loss)
    assert f"{float(api_loss):.6f}" == f"{loss:.6f}"  # the seed prints Loss: {loss:.6f}
    assert jax.tree.structure(api_grads) == jax.tree.structure(grads)
    for name, got, want in zip(("dW1", "db1", "dW2", "db2"), jax.tree.leaves(api_grads), jax.tree.leaves(grads)):
        assert got.shape == want.shape, name  # the seed's (2, 3), (1, 3), (3, 1), (1, 1)
        np.testing.assert_allclose(got, want, **TIGHT, err_msg=name)
        record("(3) backprop gradients", got, want)


# --------------------------------------------------------------------------- (4) XOR

SEED_PRINTED_PREDICTIONS = (0.0298, 0.9748, 0.9748, 0.0250)  # the seed's printed output


@pytest.fixture(scope="module")
def seed_xor_run():
    """The seed's XOR loop: 2 -> 4 -> 1 sigmoid, MSE, lr 0.5, 10,000 epochs."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    with legacy_global_seed(42):
        W1 = np.random.randn(2, 4) * 0.5
        b1 = np.zeros((1, 4))
        W2 = np.random.randn(4, 1) * 0.5
        b2 = np.zeros((1, 1))
    learning_rate, loss_history = 0.5, []
    for _ in range(10000):
        _, _, loss, grads = seed_backprop(X, y, W1, b1, W2, b2, loss="mse")
        loss_history.append(loss)
        W2 -= learning_rate * grads[1]["W"]
        b2 -= learning_rate * grads[1]["b"]
        W1 -= learning_rate * grads[0]["W"]
        b1 -= learning_rate * grads[0]["b"]
    predictions = np.array([sigmoid(sigmoid(X[i:i + 1] @ W1 + b1) @ W2 + b2)[0, 0] for i in range(len(X))])
    return {"losses": np.array(loss_history), "predictions": predictions,
            "params": [{"W": W1, "b": b1}, {"W": W2, "b": b2}]}


def test_numpy_rerun_reproduces_the_seeds_printed_predictions(seed_xor_run):
    assert [f"{p:.4f}" for p in seed_xor_run["predictions"]] == [f"{p:.4f}" for p in SEED_PRINTED_PREDICTIONS]
    np.testing.assert_allclose(seed_xor_run["predictions"], SEED_PRINTED_PREDICTIONS, atol=5e-5)


XOR_RUNS = [("manual", "jl.optim.sgd"), ("autodiff", "jl.optim.sgd"), ("manual", "optax.sgd")]


@pytest.mark.parametrize("gradient,optimizer", XOR_RUNS)
def test_xor_losses_every_1000_epochs_and_final_predictions(x64, seed_xor_run, gradient, optimizer):
    options = dict(activation="sigmoid", output_activation="sigmoid", loss="mse")
    X, y = jl.datasets.xor()
    X, y = jnp.asarray(X, jnp.float64), jnp.asarray(y, jnp.float64)
    grad_fn = manual.mlp_grad_fn(**options) if gradient == "manual" else None
    traj = jl.fit(manual.mlp_loss_fn(**options), jl.datasets.seed_xor_init(), OPTIMIZERS[optimizer](0.5),
                  steps=10000, args=(X, y), grad_fn=grad_fn, record_every=1000)
    assert traj.losses.shape == (10,) and traj.losses.dtype == jnp.float64
    expected_losses = seed_xor_run["losses"][::1000]
    np.testing.assert_allclose(traj.losses, expected_losses, rtol=1e-8, atol=1e-12)
    predictions = np.asarray(jl.mlp(traj.params, X, activation="sigmoid", output_activation="sigmoid"))[:, 0]
    np.testing.assert_allclose(predictions, seed_xor_run["predictions"], rtol=1e-8, atol=1e-10)
    assert [f"{p:.4f}" for p in predictions] == [f"{p:.4f}" for p in SEED_PRINTED_PREDICTIONS]
    for got, want in zip(jax.tree.leaves(traj.params), jax.tree.leaves(seed_xor_run["params"])):
        assert got.shape == want.shape  # the seed's (1, n) biases survive training
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    record("(4) XOR losses every 1000 epochs", traj.losses, expected_losses)
    record("(4) XOR final predictions", predictions, seed_xor_run["predictions"])
