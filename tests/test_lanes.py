"""The lanes-last hand gradients equal autodiff, and their sweep equals the generic sweep."""

from __future__ import annotations

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons import lanes
from jaxopt_lessons.losses import bce_with_logits, half_mse, mse
from jaxopt_lessons.models import init_mlp, mlp

sweep_module = sys.modules["jaxopt_lessons.sweep"]  # the module (the package re-exports the function)

LOSSES = {"mse": mse, "half_mse": half_mse, "bce": bce_with_logits}


@pytest.mark.parametrize(
    "sizes, activation, output_activation, loss",
    [((3, 4, 2), "tanh", "identity", "mse"), ((2, 3, 3, 1), "relu", "sigmoid", "half_mse"),
     ((2, 3, 2), "sigmoid", "identity", "bce")],
)
def test_loss_and_grad_lanes_equals_jax_grad_per_lane(x64, sizes, activation, output_activation, loss):
    params = init_mlp(jax.random.key(3), sizes, scale=0.8, dtype=jnp.float64)
    stacked = [jax.tree_util.tree_map(lambda leaf, k=k: leaf + 0.1 * k, params) for k in range(3)]
    x = jax.random.normal(jax.random.key(4), (5, sizes[0]), jnp.float64)
    y = jax.random.uniform(jax.random.key(5), (5, sizes[-1]), jnp.float64)
    hand = jax.jit(lanes.mlp_grad_fn(activation=activation, output_activation=output_activation, loss=loss))
    values, grads = hand(jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves, axis=-1), *stacked), x, y)

    def one_lane(p):
        return LOSSES[loss](mlp(p, x, activation=activation, output_activation=output_activation), y)

    want_values, want_grads = jax.jit(jax.vmap(jax.value_and_grad(one_lane)))(
        jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *stacked)
    )
    np.testing.assert_allclose(values, want_values, rtol=1e-12)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(want_grads)
    for got, want in zip(jax.tree_util.tree_leaves(lanes.from_lanes_last(grads)),
                         jax.tree_util.tree_leaves(want_grads)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def _generic_loss(activation, output_activation, loss):
    return functools.partial(_loss, activation=activation, output_activation=output_activation, loss=loss)


def _loss(params, x, y, *, activation, output_activation, loss):
    return LOSSES[loss](mlp(params, x, activation=activation, output_activation=output_activation), y)


def test_sweep_mlp_equals_the_generic_sweep_in_float64_with_diverging_lanes(x64):
    x = jax.random.normal(jax.random.key(1), (6, 2), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (6, 1), jnp.float64)
    params = init_mlp(jax.random.key(0), (2, 3, 1), scale=0.8, dtype=jnp.float64)
    params = [{"W": p["W"], "b": p["b"][None, :] + 0.1} for p in params]  # the seed's (1, n) biases
    rates = np.array([1e-3, 0.05, 0.5, 5.0, 50.0])  # the largest lanes diverge and are frozen
    settings = {"activation": "tanh", "output_activation": "identity", "loss": "mse"}
    fast = lanes.sweep_mlp(params, x, y, rates, steps=30, optimizer="momentum", record_every=4, **settings)
    generic = jl.sweep(_generic_loss(**settings), params, lanes.OPTIMIZERS["momentum"], rates, steps=30,
                       args=(x, y), record_every=4)
    assert (generic.status == "diverged").any() and (generic.status != "diverged").any()
    np.testing.assert_array_equal(fast.status, generic.status)
    np.testing.assert_array_equal(fast.diverged_at, generic.diverged_at)
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(fast.final_loss, generic.final_loss, rtol=1e-10, atol=1e-14)
    for got, want in zip(jax.tree_util.tree_leaves(fast.params), jax.tree_util.tree_leaves(generic.params)):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)


def test_sweep_mlp_adam_float32_stays_float32_and_matches_the_generic_sweep():
    x, y = jl.datasets.xor()
    params = init_mlp(jax.random.key(0), (2, 4, 1), scale=0.5)
    rates = np.geomspace(0.001, 0.1, 4)
    settings = {"activation": "relu", "output_activation": "sigmoid", "loss": "mse"}
    fast = lanes.sweep_mlp(params, x, y, rates, steps=20, optimizer="adam", record_every=5, **settings)
    generic = jl.sweep(_generic_loss(**settings), params, optax.adam, rates, steps=20, args=(x, y),
                       record_every=5)
    assert fast.losses.dtype == np.float32 and fast.final_loss.dtype == np.float32
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=1e-5)
    np.testing.assert_allclose(fast.final_loss, generic.final_loss, rtol=1e-5)
    np.testing.assert_array_equal(fast.status, generic.status)


def test_lanes_last_round_trip():
    params = init_mlp(jax.random.key(0), (2, 3, 1))
    spread = lanes.to_lanes_last(params, 4)
    assert spread[0]["W"].shape == (2, 3, 4) and spread[1]["b"].shape == (1, 4)
    back = lanes.from_lanes_last(spread)
    np.testing.assert_array_equal(back[0]["W"][2], params[0]["W"])


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"optimizer": "lamb"}, ValueError, "optimizer"),
        ({"activation": "gelu"}, ValueError, "activation"),
        ({"loss": "hinge"}, ValueError, "loss"),
        ({"x": np.zeros((4, 3))}, ValueError, "x must"),
        ({"y": np.zeros((3, 1))}, ValueError, "y must"),
        ({"params": [{"W": np.zeros((2, 300)), "b": np.zeros(300)}]}, ValueError, "fast path"),
        ({"params": [{"W": np.zeros((2, 4)), "b": np.zeros(4)}, {"W": np.zeros((3, 1)), "b": np.zeros(1)}]},
         ValueError, "previous layer"),
        ({"params": [{"W": np.zeros((2, 1), int), "b": np.zeros(1, int)}]}, TypeError, "floating"),
        ({"params": {"W": np.zeros((2, 1))}}, TypeError, "params"),
        ({"learning_rates": [0.1, -1.0]}, ValueError, "learning_rates"),
        ({"steps": 0}, ValueError, "steps"),
    ],
)
def test_bad_input_is_named(change, error, match):
    x, y = jl.datasets.xor()
    arguments = {"params": init_mlp(jax.random.key(0), (2, 4, 1)), "x": x, "y": y,
                 "learning_rates": [0.1], "steps": 10, **change}
    with pytest.raises(error, match=match):
        lanes.sweep_mlp(arguments.pop("params"), arguments.pop("x"), arguments.pop("y"),
                        arguments.pop("learning_rates"), **arguments)


# --- automatic dispatch: mlp_loss_fn losses carry a lanes-last twin that sweep runs ------------


@pytest.fixture
def layouts(monkeypatch):
    """Records the layout (lanes_last flag) of every lane program sweep builds."""
    seen = []
    build = sweep_module._lanes.lane_program

    def spy(*args, **kwargs):
        seen.append(args[-1] if len(args) == 10 else kwargs.get("lanes_last", False))
        return build(*args, **kwargs)

    monkeypatch.setattr(sweep_module._lanes, "lane_program", spy)
    return seen


@pytest.mark.parametrize("name, factory", [("xor", optax.sgd), ("moons", jl.optim.adam)])
def test_builtin_problems_sweep_lanes_last_by_themselves_with_the_generic_results(x64, layouts, name, factory):
    problem = jl.problems.get_problem(name, dtype=jnp.float64)
    assert isinstance(problem.loss_fn.lanes_last, lanes.LanesLast)
    rates = np.array([1e-3, 0.3, 3.0, 1e200])  # the last lanes diverge (non-finite update) and are frozen
    common = {"steps": 40, "args": problem.args, "seeds": 2, "record_every": 8}
    fast = jl.sweep(problem.loss_fn, problem.init, factory, rates, **common)
    generic = jl.sweep(problem.loss_fn, problem.init, factory, rates, lanes_last=False, **common)
    assert layouts == [True, False]
    assert (generic.status == "diverged").any() and (generic.status != "diverged").any()
    np.testing.assert_array_equal(fast.status, generic.status)
    np.testing.assert_array_equal(fast.diverged_at, generic.diverged_at)
    np.testing.assert_allclose(fast.losses, generic.losses, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(fast.final_loss, generic.final_loss, rtol=1e-9, atol=1e-13)
    for key in ("loss_mid", "max_sq_update", "last_sq_update", "flips_window"):
        np.testing.assert_allclose(fast.stats[key], generic.stats[key], rtol=1e-8, atol=1e-20)
    assert jax.tree_util.tree_structure(fast.params) == jax.tree_util.tree_structure(generic.params)
    for got, want in zip(jax.tree_util.tree_leaves(fast.params), jax.tree_util.tree_leaves(generic.params)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)


def test_forcing_lanes_last_uses_the_twin_too(layouts):
    problem = jl.problems.get_problem("xor")
    rates = [0.1, 1.0]
    forced = jl.sweep(problem.loss_fn, problem.initial_params(), optax.sgd, rates, steps=20, args=problem.args,
                      lanes_last=True)
    generic = jl.sweep(problem.loss_fn, problem.initial_params(), optax.sgd, rates, steps=20, args=problem.args,
                       lanes_last=False)
    assert layouts == [True, False]
    np.testing.assert_allclose(forced.losses, generic.losses, rtol=1e-5)
    np.testing.assert_array_equal(forced.status, generic.status)


def _clipped_sgd(learning_rate):
    return optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(learning_rate))  # norms mix lanes


@pytest.mark.parametrize(
    "change, applies",
    [
        ({}, True),
        ({"factories": {"a": functools.partial(optax.sgd, momentum=0.9), "b": jl.optim.lion}}, True),
        ({"factories": {"clipped": _clipped_sgd}}, False),  # not known to be elementwise
        ({"factories": {"a": optax.sgd, "b": lambda lr: optax.sgd(lr)}}, False),
        ({"factories": {"a": functools.partial(optax.sgd, 0.1)}}, False),  # positional argument
        ({"sizes": (2, 300, 1)}, False),  # more weights than the unrolled code takes
        ({"y": np.zeros((4,))}, False),  # targets not (batch, n_out)
        ({"args": "x only"}, False),
    ],
)
def test_when_the_twin_applies(change, applies):
    """The automatic choice, without compiling anything."""
    x, y = jl.datasets.xor()
    params = init_mlp(jax.random.key(0), change.get("sizes", (2, 4, 1)))
    example = jax.eval_shape(lambda: params)
    args = (x,) if change.get("args") else (x, change.get("y", y))
    twin = jl.manual.mlp_loss_fn("sigmoid", "sigmoid", "mse").lanes_last
    factories = change.get("factories", {"sgd": optax.sgd})
    assert sweep_module._twin_applies(twin, factories, example, args, 0.1, jnp.float32) is applies


def test_a_grad_fn_or_an_unsupported_setting_keeps_the_generic_path(layouts):
    problem = jl.problems.get_problem("xor")
    start = problem.initial_params()
    jl.sweep(problem.loss_fn, start, optax.sgd, [0.5], steps=4, args=problem.args, grad_fn=problem.grad_fn)
    jl.sweep(problem.loss_fn, start, _clipped_sgd, [0.5], steps=4, args=problem.args)
    assert layouts == [False, False]
    assert jl.manual.mlp_loss_fn("relu", "identity", "mse").lanes_last is not None
    assert lanes.mlp_twin("gelu", "identity", "mse") is None


def test_bad_lanes_last_arguments_are_named():
    problem = jl.problems.get_problem("xor")
    x, y = problem.args
    with pytest.raises(TypeError, match="lanes_last"):
        jl.sweep(problem.loss_fn, problem.initial_params(), optax.sgd, [0.1], steps=4, args=(x, y), lanes_last="yes")
    big = init_mlp(jax.random.key(0), (2, 300, 1))
    with pytest.raises(ValueError, match="does not accept"):
        jl.sweep(problem.loss_fn, big, optax.sgd, [0.1], steps=4, args=(x, y), lanes_last=True)
