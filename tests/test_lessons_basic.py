"""Lessons 1–7 in quick mode: each writes its figures and metrics, and its claims hold.

Every lesson runs once (the session-scoped ``results`` fixture) through
:func:`experiments.runner.run_lesson`, exactly as ``python -m experiments --quick`` runs it
(float64 inside ``jax.enable_x64``); ``helpers.SLOW_LESSONS`` says which are slow. The expected
values come from independent computations in this file: NumPy re-runs of the seed's own
loops, closed forms, a NumPy Adam, the normal equations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import check_lesson_outputs, experiments_package, lesson, lesson_marks

experiments_package()  # `experiments` lives at the repository root, not in the package

EXPECTED_FIGURES = {
    "derivatives": ["tangent.png"],
    "gradients": ["surface.png"],
    "gradient_descent": ["loss.png", "path.png"],
    "learning_rates": ["paths.png", "sweep.png"],
    "linear_regression": ["fit.png", "loss.png", "parameters.png"],
    "backprop": ["gradients.png"],
    "xor": ["loss.png", "success.png"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(name, marks=lesson_marks(name)) for name in EXPECTED_FIGURES])
def test_lesson_writes_figures_metrics_and_report(results, name):
    check_lesson_outputs(results, name, EXPECTED_FIGURES[name])


# --- independent oracles ---------------------------------------------------------------


def numpy_adam(grad, x0, lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba) in NumPy: the iterates x_0..x_steps."""
    x = np.array(x0, dtype=float)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    path = [x.copy()]
    for t in range(1, steps + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        path.append(x.copy())
    return np.array(path)


def seed_regression_data():
    rng = np.random.RandomState(42)
    x = rng.randn(100, 1) * 2
    y = 3 * x + 2 + rng.randn(100, 1) * 0.5
    return x, y, rng.randn(), rng.randn()


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# --- lesson 1: derivatives --------------------------------------------------------------


@lesson("derivatives")
def test_derivatives_tangent_and_rules(results):
    metrics = results("derivatives")
    assert metrics["slope"] == pytest.approx(2 * 1.5, abs=1e-12)
    assert metrics["intercept"] == pytest.approx(1.5**2 - 3 * 1.5, abs=1e-12)
    seed_rules = ["Constant", "Linear", "Power", "Power (general", "Exponential", "Natural log",
                  "Sum", "Product", "Chain rule"]
    assert [row["rule"] for row in metrics["rules"]][:3] == seed_rules[:3]
    assert len(metrics["rules"]) == len(seed_rules)
    for row in metrics["rules"]:
        assert row["max_abs_error_autodiff"] <= 1e-12 * max(1.0, row["max_abs_derivative"])
        assert row["max_abs_error_finite_diff"] <= 1e-6 * max(1.0, row["max_abs_derivative"])
    assert metrics["all_rules_agree"] is True


# --- lesson 2: gradients ----------------------------------------------------------------


@lesson("gradients")
def test_gradients_match_closed_form_and_steepest_ascent(results):
    metrics = results("gradients")
    points = np.array(metrics["points"])
    np.testing.assert_allclose(metrics["gradients"], 2 * points, atol=1e-12)
    assert metrics["gradient_field_max_abs_error"] <= 1e-12
    assert metrics["gradient_at_minimum"] == [0.0, 0.0]
    np.testing.assert_allclose(metrics["cosine_negative_gradient_to_minimum"], 1.0, atol=1e-12)
    px, py = metrics["steepest_point"]
    steep = metrics["steepest_ascent"]
    expected_angle = math.degrees(math.atan2(2 * py, 2 * px)) % 360
    assert abs(steep["best_angle_deg"] - expected_angle) <= steep["angle_resolution_deg"]
    assert steep["best_slope"] == pytest.approx(math.hypot(2 * px, 2 * py), rel=1e-6)
    # x² + 10y² at (2, 1): -grad = (-4, -20), direction to the minimum (-2, -1).
    assert metrics["valley_cosine"] == pytest.approx(28 / math.sqrt(416 * 5), rel=1e-12)


# --- lesson 3: gradient descent ---------------------------------------------------------


@lesson("gradient_descent")
def test_gradient_descent_reproduces_the_seed_table(results):
    metrics = results("gradient_descent")
    x, rows = 5.0, []
    for i in range(20):  # the seed's loop, in NumPy
        gradient = 2 * x
        x = x - 0.1 * gradient
        rows.append((i + 1, x, x**2 + 10, gradient))
    table = [(r["iteration"], r["x"], r["f"], r["gradient"]) for r in metrics["table"]]
    np.testing.assert_allclose(np.array(table), np.array(rows), rtol=1e-12)
    assert round(metrics["final_x"], 6) == 0.057646 and round(metrics["final_f"], 6) == 10.003323
    for name in ("optax.sgd", "jl.optim.sgd (hand-rolled)"):
        assert metrics["final_x_by_fit"][name] == pytest.approx(x, rel=1e-12)
        assert metrics["max_abs_difference_from_hand"][name] <= 1e-12
    adam = numpy_adam(lambda x: 2 * x, 5.0, 0.1, 20)
    assert metrics["final_x_by_fit"]["optax.adam (lr 0.1)"] == pytest.approx(adam[-1], rel=1e-9)
    assert metrics["steps_to_tolerance"] == next(k for k in range(200) if 5 * 0.8**k < 1e-6)
    np.testing.assert_allclose(metrics["contraction_per_step"], 0.8, rtol=1e-12)


# --- lesson 5: linear regression --------------------------------------------------------


@lesson("linear_regression")
def test_linear_regression_against_numpy_and_least_squares(results):
    metrics = results("linear_regression")
    x, y, w, b = seed_regression_data()
    design = np.hstack([x, np.ones_like(x)])
    w_star, b_star = np.linalg.solve(design.T @ design, design.T @ y).ravel()  # normal equations
    assert metrics["least_squares"]["w"] == pytest.approx(w_star, rel=1e-10)
    assert metrics["least_squares"]["b"] == pytest.approx(b_star, rel=1e-10)

    printed, epochs_to_tolerance = {}, None
    for epoch in range(1000):  # the seed's loop, continued past its 100 epochs
        if epochs_to_tolerance is None and max(abs(w - w_star), abs(b - b_star)) < 1e-3:
            epochs_to_tolerance = epoch
        pred = w * x + b
        loss = np.mean((pred - y) ** 2)
        dw = 2 / len(x) * np.sum((pred - y) * x)
        db = 2 / len(x) * np.sum(pred - y)
        w, b = w - 0.01 * dw, b - 0.01 * db
        if epoch in (0, 20, 40, 60, 80, 99):
            printed[epoch] = (loss, w, b)
    for row in metrics["seed_printout"]:
        np.testing.assert_allclose((row["loss"], row["w"], row["b"]), printed[row["epoch"]], rtol=1e-10)
    hand = metrics["runs"]["hand rule (hand dw/db + jl.optim.sgd)"]
    assert (round(hand["w"], 3), round(hand["b"], 3)) == (2.941, 1.775)
    assert hand["losses"] == metrics["runs"]["optax.sgd (jax.grad)"]["losses"] or \
        metrics["max_abs_difference_hand_vs_optax_sgd"] <= 1e-12
    assert metrics["epochs_to_tolerance"] == epochs_to_tolerance
    assert metrics["gradient_at_start"]["max_abs_difference"] <= 1e-12

    hessian = 2 * design.T @ design / len(x)
    assert metrics["max_stable_lr"] == pytest.approx(2 / np.linalg.eigvalsh(hessian)[-1], rel=1e-3)
    x_, y_, w0, b0 = seed_regression_data()

    def grad(theta):
        residual = theta[0] * x_ + theta[1] - y_
        return np.array([2 * np.mean(residual * x_), 2 * np.mean(residual)])

    adam = numpy_adam(grad, [w0, b0], 0.1, 100)[-1]
    run = metrics["runs"]["optax.adam (lr 0.1)"]
    np.testing.assert_allclose((run["w"], run["b"]), adam, rtol=1e-8)


# --- lesson 6: backprop -----------------------------------------------------------------


@lesson("backprop")
def test_backprop_matches_the_seed_numpy_code(results):
    metrics = results("backprop")
    x = np.array([[0.5, 0.8]])
    y_true = np.array([[0.9]])
    np.random.seed(42)  # the seed's own code, verbatim in spirit
    W1 = np.random.randn(2, 3) * 0.1
    b1 = np.zeros((1, 3))
    W2 = np.random.randn(3, 1) * 0.1
    b2 = np.zeros((1, 1))
    z1 = x @ W1 + b1
    a1 = sigmoid(z1)
    z2 = a1 @ W2 + b2
    a2 = sigmoid(z2)
    loss = 0.5 * (a2 - y_true) ** 2
    dL_dz2 = (a2 - y_true) * a2 * (1 - a2)
    dL_dz1 = (dL_dz2 @ W2.T) * a1 * (1 - a1)
    expected = {"W1": x.T @ dL_dz1, "b1": dL_dz1, "W2": a1.T @ dL_dz2, "b2": dL_dz2}
    forward = metrics["forward"]
    np.testing.assert_allclose(forward["a1"], a1, rtol=1e-12)
    np.testing.assert_allclose(forward["a2"], a2, rtol=1e-12)
    assert forward["loss"] == pytest.approx(loss[0, 0], rel=1e-12)
    for name, value in expected.items():
        row = metrics["gradients"][name]
        assert row["shape"] == list(value.shape)
        np.testing.assert_allclose(row["manual"], value, rtol=1e-10)
        np.testing.assert_allclose(row["autodiff"], value, rtol=1e-10)
        assert row["max_abs_difference"] <= 1e-15
    assert metrics["check_grad"]["ok"] is True
    assert "gradient check OK" in metrics["check_grad"]["report"]


# --- lesson 4: learning rates -----------------------------------------------------------


@lesson("learning_rates")
def test_learning_rates_statuses_paths_and_boundary(results):
    metrics = results("learning_rates")
    assert metrics["statuses"] == {"0.01": "slow", "0.1": "converged", "0.5": "converged", "1.0": "oscillating"}
    for rate in (0.01, 0.1, 0.5, 1.0):  # the seed's loop, in NumPy
        x, path = 5.0, [5.0]
        for _ in range(20):
            x = x - rate * 2 * x
            path.append(x)
        np.testing.assert_allclose(metrics["paths"][str(rate)], path, rtol=1e-12, atol=1e-12)
    assert metrics["paths"]["0.5"][1] == 0.0 and set(metrics["paths"]["0.5"][1:]) == {0.0}
    assert set(np.abs(metrics["paths"]["1.0"])) == {5.0}  # +5, -5, +5, ... forever
    assert metrics["max_stable_lr"] == pytest.approx(1.0, rel=1e-3)  # 2 / f'' = 2 / 2
    grid = np.unique(np.concatenate([np.geomspace(1e-3, 1.5, 252), [0.01, 0.1, 0.5, 1.0]]))
    assert metrics["n_rates"] == grid.size == 256
    assert metrics["largest_non_growing_lr"] == pytest.approx(1.0)
    assert metrics["smallest_growing_lr"] == pytest.approx(grid[grid > 1].min())
    assert metrics["smallest_diverged_lr"] > 1.0
    assert all(row["lr"] > 1 and row["final_abs_x"] > 5 for row in metrics["slowly_growing"])


# --- lesson 7: xor ----------------------------------------------------------------------


@lesson("xor")
def test_xor_reproduces_the_seed_and_sweeps_seeds(results):
    metrics = results("xor")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    np.random.seed(42)  # the seed's loop, in NumPy
    W1 = np.random.randn(2, 4) * 0.5
    b1 = np.zeros((1, 4))
    W2 = np.random.randn(4, 1) * 0.5
    b2 = np.zeros((1, 1))
    losses = []
    for _ in range(10_000):
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        losses.append(np.mean((a2 - y) ** 2))
        dz2 = 2 * (a2 - y) / len(X) * a2 * (1 - a2)
        dz1 = (dz2 @ W2.T) * a1 * (1 - a1)
        W2, b2 = W2 - 0.5 * a1.T @ dz2, b2 - 0.5 * dz2.sum(0, keepdims=True)
        W1, b1 = W1 - 0.5 * X.T @ dz1, b1 - 0.5 * dz1.sum(0, keepdims=True)
    predictions = sigmoid(sigmoid(X @ W1 + b1) @ W2 + b2).ravel()
    for name in ("hand backprop + jl.optim.sgd", "optax.sgd (jax.grad)"):
        np.testing.assert_allclose(metrics["predictions"][name], predictions, rtol=1e-8)
    assert [round(p, 4) for p in metrics["predictions"]["hand backprop + jl.optim.sgd"]] == [
        0.0298, 0.9748, 0.9748, 0.0250]
    for row in metrics["seed_printout"]:
        assert row["loss"] == pytest.approx(losses[row["epoch"]], rel=1e-9)
    np.testing.assert_allclose(metrics["losses_every_1000"], losses[::1000], rtol=1e-9)
    assert metrics["max_abs_difference_hand_vs_optax_sgd"] <= 1e-12

    sweep = metrics["sweep"]
    n_rates = len(sweep["learning_rates"])
    assert 0.5 in sweep["learning_rates"]
    assert sweep["n_lanes"] == 2 * sweep["seeds"] * n_rates
    for name in ("sgd", "adam"):
        table = np.array(sweep["solved"][name])
        assert table.shape == (sweep["seeds"], n_rates)
        np.testing.assert_allclose(sweep["fraction_solved"][name], table.mean(axis=0))


@lesson("xor")
def test_xor_sweep_lane_matches_a_single_fit(results):
    """One lane of the sweep, re-run alone with ``fit``: same verdict on solving XOR."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxopt_lessons as jl
    from experiments import xor

    sweep = results("xor")["sweep"]
    rate_index = sweep["learning_rates"].index(0.5)
    seed = sweep["seed_values"][0]
    X, y = jl.datasets.xor()
    with jax.enable_x64(True):
        trajectory = jl.fit(jl.manual.mlp_loss_fn(**xor.OPTIONS), xor.init_like_seed(jax.random.key(seed)),
                            optax.sgd(0.5), steps=sweep["steps"], args=(X, y))
        predictions = np.asarray(xor.predict(trajectory.params, X))
    solved = bool(np.all(np.round(predictions) == np.asarray(y)))
    assert sweep["solved"]["sgd"][0][rate_index] == solved
    assert jnp.result_type(trajectory.final_loss) == jnp.float64
