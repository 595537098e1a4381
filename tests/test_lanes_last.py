"""The lanes-last layout: ``vmap_last`` equals ``jax.vmap`` (the independent oracle) on every kind of step.

Covered: the lessons' MLP losses under optax's Adam, a softmax cross-entropy written with
``logsumexp`` and ``take_along_axis`` (custom_jvp, gather), a ``cond`` on a shared
predicate, global-norm clipping, sorting (the ``vmap`` fallback), random MLPs
(hypothesis), and whole sweeps of the built-in problems in both layouts.
"""

from __future__ import annotations

import functools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings

import jaxopt_lessons as jl
from jaxopt_lessons.sweeps import checks
from jaxopt_lessons.sweeps.lanes_last import dot_sizes, vmap_last

LANES = 5


def lanes_first(tree):
    return jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, -1, 0), tree)


def lanes_last(tree):
    return jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, -1), tree)


def assert_matches_vmap(fn, args, in_axes, rtol=1e-12, atol=1e-12):
    """``jit(vmap_last(fn))`` on lanes-last args equals ``jax.vmap(fn)`` on the same lanes first.

    The oracle runs under ``jit`` too (one compile instead of an eager dispatch, and compile, per
    primitive: several times cheaper); both sides move the lane axis inside their program.
    """
    got = jax.jit(vmap_last(fn, in_axes))(*args)

    @jax.jit
    def oracle(*args):
        first = [lanes_first(a) if axis is not None else a for a, axis in zip(args, in_axes)]
        return lanes_last(jax.vmap(fn, in_axes=[0 if axis is not None else None for axis in in_axes])(*first))

    want = oracle(*args)
    got_leaves, want_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for g, w in zip(got_leaves, want_leaves):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def mlp_starts(sizes, dtype=jnp.float64):
    """``LANES`` MLP starts, lanes last (drawn in one compiled program: eager ``vmap`` compiles every op)."""
    draw = jax.jit(lambda keys: lanes_last(jax.vmap(lambda k: jl.init_mlp(k, sizes, dtype=dtype))(keys)))
    return draw(jax.random.split(jax.random.key(0), LANES))


@pytest.mark.slow
@pytest.mark.parametrize("activation, output, loss", [("sigmoid", "sigmoid", "mse"), ("relu", "identity", "bce"),
                                                      ("tanh", "identity", "half_mse")])
def test_lesson_losses_with_adam(x64, activation, output, loss):
    loss_fn = jl.manual.mlp_loss_fn(activation, output, loss)
    X, y = (a.astype(jnp.float64) for a in jl.datasets.xor())

    def step(params, lr, X, y):
        optimizer = optax.adam(lr)
        value, grads = jax.value_and_grad(loss_fn)(params, X, y)
        updates, _ = optimizer.update(grads, optimizer.init(params), params)
        return optax.apply_updates(params, updates), value

    assert_matches_vmap(step, (mlp_starts([2, 8, 4, 1]), jnp.linspace(0.01, 0.1, LANES), X, y), (-1, -1, None, None))


def softmax_cross_entropy(params, x, labels, step):
    logits = x @ params["W"] + params["b"]
    loss = jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0])
    return jax.lax.cond(step > 2, lambda: 2 * loss, lambda: loss)


@pytest.mark.slow
def test_logsumexp_cond_gather_and_clipping(x64):
    x = jax.random.normal(jax.random.key(1), (16, 6), jnp.float64)
    labels = jnp.arange(16) % 3
    params = {"W": jax.random.normal(jax.random.key(2), (6, 3, LANES), jnp.float64), "b": jnp.zeros((3, LANES))}

    def step(params, x, labels, step):
        value, grads = jax.value_and_grad(softmax_cross_entropy)(params, x, labels, step)
        optimizer = optax.chain(optax.clip_by_global_norm(0.1), optax.sgd(0.1, momentum=0.9))
        updates, _ = optimizer.update(grads, optimizer.init(params), params)
        return value, updates

    for at in (1, 3):  # both branches of the cond
        assert_matches_vmap(step, (params, x, labels, at), (-1, None, None, None))


def test_fallback_primitives_per_lane_indices_and_sort(x64):
    x = jax.random.normal(jax.random.key(1), (16, 6), jnp.float64)
    params = {"W": jax.random.normal(jax.random.key(2), (6, 3, LANES), jnp.float64),
              "b": jax.random.normal(jax.random.key(3), (3, LANES), jnp.float64)}
    rows = jnp.stack([jnp.arange(4) + lane for lane in range(LANES)], -1)  # a different minibatch per lane

    def fn(params, rows, x):
        return jnp.sum(x[rows] @ params["W"]), jnp.sort(params["b"]), jnp.cumsum(params["b"])

    assert_matches_vmap(fn, (params, rows, x), (-1, -1, None))


@pytest.mark.slow
@settings(max_examples=6, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), batch=st.integers(1, 6),
       activation=st.sampled_from(["relu", "tanh", "sigmoid"]), seed=st.integers(0, 2**16))
def test_random_mlps_loss_and_gradient(sizes, batch, activation, seed):
    # drawn by NumPy: only the two programs compared are compiled for each example's shapes
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    y = rng.normal(size=(batch, sizes[-1])).astype(np.float32)
    params = [{"W": (rng.normal(size=(n_in, n_out, LANES)) / np.sqrt(n_in)).astype(np.float32),
               "b": rng.normal(size=(n_out, LANES)).astype(np.float32)} for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    loss_fn = jl.manual.mlp_loss_fn(activation, "identity", "mse")
    assert_matches_vmap(jax.value_and_grad(loss_fn), (params, x, y), (-1, None, None), rtol=2e-5, atol=2e-6)


def test_bad_in_axes():
    with pytest.raises(ValueError, match="in_axes entries must be -1"):
        vmap_last(jnp.sin, (0,))
    with pytest.raises(ValueError, match="at least one"):
        vmap_last(jnp.sin, (None,))


def test_dot_sizes_and_the_automatic_layout():
    x = jnp.ones((8, 6))
    assert dot_sizes(lambda p, x: x @ p, jnp.ones((6, 3)), x) == [(6, 24)]
    xor = jl.problems.get_problem("xor")
    start = xor.initial_params()
    assert checks._choose_layout(None, xor.loss_fn, None, start, xor.args, None) == "lanes_last"
    wide = jl.init_mlp(jax.random.key(0), [64, 32, 10])
    data = (jnp.ones((256, 64)), jnp.ones((256, 10)))
    loss_fn = jl.manual.mlp_loss_fn("relu", "identity", "mse")
    assert checks._choose_layout(None, loss_fn, None, wide, data, None) == "vmap"
    assert checks._choose_layout(True, loss_fn, None, wide, data, None) == "lanes_last"


@functools.cache
def problem_sweep(name, factory, lanes_last):
    problem = jl.problems.get_problem(name, dtype=jnp.float64)
    low, high = problem.default_learning_rates
    rates = np.geomspace(low, high / 100, 6)  # the top decades are chaotic: rounding differences grow there
    return jl.sweep(problem.loss_fn, problem.init, factory, rates, steps=120, args=problem.args, seeds=2,
                    lanes_last=lanes_last)


@pytest.mark.slow
@pytest.mark.parametrize("name, factory", [("xor", optax.sgd), ("moons", optax.adam)])
def test_builtin_problems_sweep_alike_in_both_layouts(x64, name, factory):
    fast, generic = problem_sweep(name, factory, True), problem_sweep(name, factory, False)
    np.testing.assert_array_equal(fast.status, generic.status)
    np.testing.assert_array_equal(fast.diverged_at, generic.diverged_at)
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=1e-9, atol=1e-12)
    for key in ("loss_mid", "max_sq_update", "last_sq_update", "flips_window"):
        np.testing.assert_allclose(fast.stats[key], generic.stats[key], rtol=1e-8, atol=1e-20)
