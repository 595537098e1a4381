"""fit: closed-form trajectories, recording semantics, dtypes, caching, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons.train import train_step


def parabola(x):
    return x**2 + 10.0


@pytest.mark.parametrize("lr", [0.01, 0.1, 0.3])
def test_gradient_descent_on_parabola_closed_form(lr, x64):
    """Plain GD on x^2 + 10 gives x_k = 5 (1 - 2 lr)^k; losses are recorded before each update."""
    traj = jl.fit(parabola, jnp.array(5.0), optax.sgd(lr), steps=20)
    k = np.arange(20)
    expected_x = 5.0 * (1 - 2 * lr) ** k
    np.testing.assert_allclose(traj.losses, expected_x**2 + 10.0, rtol=1e-12)
    assert float(traj.params) == pytest.approx(5.0 * (1 - 2 * lr) ** 20, rel=1e-12)
    assert float(traj.final_loss) == pytest.approx(float(traj.params) ** 2 + 10.0, rel=1e-12)
    assert traj.steps == 20 and traj.params.dtype == jnp.float64


@pytest.mark.parametrize("record_every", [1, 3, 7, 20])
def test_record_every_is_a_subsample_of_every_step(record_every):
    full = jl.fit(parabola, jnp.array(5.0), optax.sgd(0.05), steps=20, track_params=True)
    sparse = jl.fit(parabola, jnp.array(5.0), optax.sgd(0.05), steps=20, record_every=record_every, track_params=True)
    assert sparse.losses.shape == (-(-20 // record_every),)
    np.testing.assert_allclose(sparse.losses, full.losses[::record_every], rtol=1e-6)
    np.testing.assert_allclose(sparse.params_history, full.params_history[::record_every], rtol=1e-6)
    np.testing.assert_allclose(sparse.params, full.params, rtol=1e-6)


def test_params_history_holds_params_before_each_update():
    traj = jl.fit(parabola, jnp.array(5.0), optax.sgd(0.1), steps=5, track_params=True)
    np.testing.assert_allclose(traj.params_history, 5.0 * 0.8 ** np.arange(5), rtol=1e-6)
    np.testing.assert_allclose(parabola(traj.params_history), traj.losses, rtol=1e-6)


def test_fit_equals_a_python_loop_of_train_steps(getkey):
    """The scan gives the same result as the same step applied in Python (independent driver)."""
    params = jl.init_mlp(getkey(), [2, 4, 1])
    x, y = jl.datasets.xor()

    def loss(p, x, y):
        return jl.mse(jl.mlp(p, x, activation="tanh", output_activation="sigmoid"), y)

    optimizer = optax.adam(0.05)
    traj = jl.fit(loss, params, optimizer, steps=30, args=(x, y))
    state, current, losses = optimizer.init(params), params, []
    for _ in range(30):
        current, state, value = train_step(jax.value_and_grad(loss), optimizer, current, state, (x, y))
        losses.append(value)
    np.testing.assert_allclose(traj.losses, np.array(losses), rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(traj.params), jax.tree_util.tree_leaves(current)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_hand_grad_fn_plugs_in():
    def grad_fn(x):
        return parabola(x), 2 * x

    auto = jl.fit(parabola, jnp.array(5.0), optax.sgd(0.1), steps=10)
    hand = jl.fit(parabola, jnp.array(5.0), optax.sgd(0.1), steps=10, grad_fn=grad_fn)
    np.testing.assert_array_equal(auto.losses, hand.losses)


def test_float32_stays_float32_and_float64_stays_float64(x64):
    for dtype in (jnp.float32, jnp.float64):
        traj = jl.fit(parabola, jnp.array(5.0, dtype), optax.adam(0.1), steps=3)
        assert traj.params.dtype == dtype and traj.losses.dtype == dtype


def test_no_recompilation_for_the_same_functions():
    optimizer = optax.sgd(0.1)
    jl.fit(parabola, jnp.array(5.0), optimizer, steps=4)
    with jax.log_compiles(True):
        import logging

        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logger = logging.getLogger("jax")
        logger.addHandler(handler)
        try:
            jl.fit(parabola, jnp.array(3.0), optimizer, steps=4)
        finally:
            logger.removeHandler(handler)
    assert not [r for r in records if "Compiling" in r.getMessage() and "run" in r.getMessage()]


# ---- bad input: clear errors before compiling ---------------------------------------

BAD_FIT_CALLS = [
    ("steps zero", dict(steps=0), ValueError, "steps"),
    ("steps negative", dict(steps=-3), ValueError, "steps"),
    ("steps float", dict(steps=2.5), TypeError, "steps"),
    ("record_every zero", dict(steps=5, record_every=0), ValueError, "record_every"),
    ("record_every too big", dict(steps=5, record_every=6), ValueError, "record_every"),
    ("args not tuple", dict(steps=5, args=jnp.ones(2)), TypeError, "args"),
]


@pytest.mark.parametrize("name,kwargs,error,match", BAD_FIT_CALLS, ids=[row[0] for row in BAD_FIT_CALLS])
def test_fit_bad_arguments(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        jl.fit(parabola, jnp.array(5.0), optax.sgd(0.1), **kwargs)


def test_fit_rejects_a_factory_instead_of_an_optimizer():
    with pytest.raises(TypeError, match="optimizer.*GradientTransformation"):
        jl.fit(parabola, jnp.array(5.0), optax.sgd, steps=3)


def test_fit_rejects_non_scalar_loss():
    with pytest.raises(ValueError, match="scalar"):
        jl.fit(lambda x: x**2, jnp.ones(3), optax.sgd(0.1), steps=3)


def test_fit_rejects_integer_loss_and_params():
    with pytest.raises(TypeError, match="params"):
        jl.fit(lambda x: jnp.sum(x), jnp.arange(3), optax.sgd(0.1), steps=3)


def test_fit_names_the_loss_that_fails_to_trace():
    def my_broken_loss(p, x):
        return jnp.sum(p @ x)

    with pytest.raises(TypeError, match="my_broken_loss"):
        jl.fit(my_broken_loss, jnp.ones(3), optax.sgd(0.1), steps=3, args=(jnp.ones(4),))


def test_fit_rejects_grad_fn_with_wrong_structure():
    params = {"w": jnp.ones(2), "b": jnp.zeros(())}

    def loss(p):
        return jnp.sum(p["w"] ** 2) + p["b"]

    with pytest.raises(ValueError, match=r"\['w'\] has shape \(3,\)"):
        jl.fit(loss, params, optax.sgd(0.1), steps=3, grad_fn=lambda p: (loss(p), {"w": jnp.ones(3), "b": p["b"]}))
    with pytest.raises(ValueError, match="tree structure"):
        jl.fit(loss, params, optax.sgd(0.1), steps=3, grad_fn=lambda p: (loss(p), [p["w"], p["b"]]))
