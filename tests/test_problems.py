"""The built-in problems: finite losses at the start, hand gradients equal to autodiff,
the seed's numbers, dtypes, and clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import jaxopt_lessons as jl
from jaxopt_lessons.problems import PROBLEMS, Problem, get_problem

EXPECTED_NAMES = ("quadratic", "rosenbrock", "linear-regression", "xor", "moons")


def test_the_five_problems_are_listed():
    assert set(EXPECTED_NAMES) <= set(PROBLEMS)


@pytest.mark.parametrize("name", PROBLEMS)
def test_the_jax_free_listing_matches_each_problem(name):
    """The command line lists problems (``--help``, ``problems``) from a table without JAX: it
    must say what each built problem is."""
    from jaxopt_lessons._catalog import PROBLEMS as LISTING

    info, problem = LISTING[name], get_problem(name)
    assert (info.description, info.default_steps, info.default_learning_rates, info.random_init) == (
        problem.description, problem.default_steps, problem.default_learning_rates, problem.random_init
    )


@pytest.mark.parametrize("name", PROBLEMS)
def test_loss_at_start_is_finite_and_hand_gradient_matches_autodiff(name, getkey):
    problem = get_problem(name)
    assert isinstance(problem, Problem) and problem.name == name and problem.description
    params = problem.initial_params(getkey())

    @jax.jit  # one compile per problem instead of op-by-op dispatch
    def both(params, args):
        hand = problem.grad_fn(params, *args) if problem.grad_fn is not None else None
        return jax.value_and_grad(problem.loss_fn)(params, *args), hand

    (loss, grads), hand = both(params, problem.args)
    assert loss.shape == () and np.isfinite(loss)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))
    if hand is not None:
        hand_loss, hand_grads = hand
        np.testing.assert_allclose(hand_loss, loss, rtol=1e-5)
        assert tree_allclose(hand_grads, grads, rtol=1e-4, atol=1e-6)
    low, high = problem.default_learning_rates
    assert 0 < low < high and problem.default_steps > 0


@pytest.mark.parametrize("name", PROBLEMS)
def test_float64_problems_stay_float64(name, x64):
    problem = get_problem(name, dtype=jnp.float64)
    params = jax.eval_shape(problem.initial_params, jax.random.key(1))
    leaves = jax.tree_util.tree_leaves((params, problem.args))
    assert {leaf.dtype for leaf in leaves} == {jnp.dtype(jnp.float64)}
    assert jax.eval_shape(problem.loss_fn, params, *problem.args).dtype == jnp.float64


def test_quadratic_is_the_seeds_parabola():
    problem = get_problem("quadratic")
    assert float(problem.init) == 5.0
    assert float(problem.loss_fn(problem.init)) == 5.0**2 + 10
    assert float(problem.loss_fn(jnp.zeros(()))) == problem.min_loss == 10.0
    assert float(problem.grad_fn(jnp.asarray(3.0))[1]) == 6.0  # the seed's df(x) = 2x


def test_rosenbrock_start_and_minimum():
    problem = get_problem("rosenbrock")
    np.testing.assert_array_equal(problem.init, [-1.5, 2.0])
    assert float(problem.loss_fn(problem.init)) == pytest.approx((1 + 1.5) ** 2 + 100 * (2 - 2.25) ** 2)
    assert float(problem.loss_fn(jnp.ones(2))) == problem.min_loss == 0.0


def test_linear_regression_is_the_seeds_data_loss_and_start():
    """Against the seed's own NumPy code: same np.random.seed(42) stream, same loss."""
    rng = np.random.RandomState(42)
    x = rng.randn(100, 1) * 2
    y = 3 * x + 2 + rng.randn(100, 1) * 0.5
    w, b = rng.randn(), rng.randn()
    problem = get_problem("linear-regression")
    np.testing.assert_allclose(problem.args[0], x, rtol=1e-6)
    np.testing.assert_allclose(float(problem.init["w"]), w, rtol=1e-6)
    np.testing.assert_allclose(float(problem.init["b"]), b, rtol=1e-6)
    np.testing.assert_allclose(float(problem.loss_fn(problem.init, *problem.args)), np.mean((w * x + b - y) ** 2), rtol=1e-5)
    # min_loss is the least-squares optimum: no (w, b) nearby does better.
    slope, intercept = np.polyfit(x[:, 0], y[:, 0], 1)
    assert problem.min_loss == pytest.approx(np.mean((slope * x + intercept - y) ** 2), rel=1e-10)


def test_xor_is_the_seeds_network_and_data():
    problem = get_problem("xor")
    assert problem.random_init
    params = problem.initial_params(jax.random.key(3))
    assert [layer["W"].shape for layer in params] == [(2, 4), (4, 1)]
    X, y = problem.args
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y[:, 0], [0, 1, 1, 0])
    # The seed's loss: mean((sigmoid(sigmoid(X W1 + b1) W2 + b2) - y)^2), written out here.
    hidden = 1 / (1 + np.exp(-(np.asarray(X) @ np.asarray(params[0]["W"]) + np.asarray(params[0]["b"]))))
    output = 1 / (1 + np.exp(-(hidden @ np.asarray(params[1]["W"]) + np.asarray(params[1]["b"]))))
    np.testing.assert_allclose(float(problem.loss_fn(params, X, y)), np.mean((output - np.asarray(y)) ** 2), rtol=1e-5)
    # The seed's init, randn * 0.5, drawn from the key.
    assert tree_allclose(params, jl.init_mlp(jax.random.key(3), [2, 4, 1], scale=0.5))


def test_moons_is_binary_cross_entropy_on_two_moons():
    problem = get_problem("moons")
    params = problem.initial_params(jax.random.key(0))
    assert [layer["W"].shape for layer in params] == [(2, 8), (8, 4), (4, 1)]
    X, y = problem.args
    assert X.shape == (200, 2) and set(np.unique(y)) == {0.0, 1.0}
    logits = jl.mlp(params, X, activation="relu")
    expected = np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits))))
    np.testing.assert_allclose(float(problem.loss_fn(params, X, y)), expected, rtol=1e-5)


def test_repeated_lookups_share_loss_functions():
    """The same function objects, so compiled loops keyed on them are reused."""
    for name in PROBLEMS:
        first, second = get_problem(name), get_problem(name)
        assert first.loss_fn is second.loss_fn and first.grad_fn is second.grad_fn


def test_unknown_problem_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown problem 'mnist'") as error:
        get_problem("mnist")
    assert all(name in str(error.value) for name in EXPECTED_NAMES)
    with pytest.raises(TypeError, match="name"):
        get_problem(3)
    with pytest.raises(TypeError, match="dtype"):
        get_problem("quadratic", dtype=jnp.int32)
