"""check_grad passes correct gradients and catches a 1% error, naming the leaf."""

import jax
import jax.numpy as jnp
import pytest

import jaxopt_lessons as jl


def _problem(getkey, dtype=jnp.float32):
    params = jl.init_mlp(getkey(), [3, 5, 4, 2], dtype=dtype)
    x = jax.random.normal(getkey(), (6, 3), dtype=dtype)
    y = jax.random.normal(getkey(), (6, 2), dtype=dtype)

    def loss(p, x, y):
        return jl.mse(jl.mlp(p, x, activation="tanh"), y)

    return loss, params, x, y


def _perturbed(grad_fn, index, key, factor=1.01):
    def wrong(p, x, y):
        value, grads = grad_fn(p, x, y)
        grads = [dict(layer) for layer in grads]
        grads[index][key] = grads[index][key] * factor
        return value, grads

    return wrong


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_correct_gradient_passes(getkey, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        loss, params, x, y = _problem(getkey, dtype)
        report = jl.check_grad(loss, jax.value_and_grad(loss), params, x, y)
    assert report.ok, str(report)
    assert set(report.per_leaf) == {"[0]['W']", "[0]['b']", "[1]['W']", "[1]['b']", "[2]['W']", "[2]['b']"}


@pytest.mark.parametrize("index,key", [(0, "W"), (1, "b"), (2, "W")])
def test_one_percent_error_fails_and_names_the_leaf(getkey, index, key):
    loss, params, x, y = _problem(getkey)
    report = jl.check_grad(loss, _perturbed(jax.value_and_grad(loss), index, key), params, x, y)
    assert not report.ok
    assert report.worst_leaf == f"[{index}]['{key}']"
    assert report.per_leaf[f"[{index}]['{key}']"]["ok"] is False
    assert report.max_rel_error == pytest.approx(0.01, rel=1e-3)
    assert f"[{index}]['{key}']" in str(report) and "FAILED" in str(report)


def test_assert_grad_close_raises_with_report(getkey):
    loss, params, x, y = _problem(getkey)
    jl.assert_grad_close(loss, jax.value_and_grad(loss), params, x, y)
    with pytest.raises(AssertionError, match=r"\[1\]\['W'\]"):
        jl.assert_grad_close(loss, _perturbed(jax.value_and_grad(loss), 1, "W"), params, x, y)


def test_nan_gradient_fails(getkey):
    loss, params, x, y = _problem(getkey)
    report = jl.check_grad(loss, _perturbed(jax.value_and_grad(loss), 0, "b", jnp.nan), params, x, y)
    assert not report.ok and report.worst_leaf == "[0]['b']"


def test_integer_params_rejected():
    with pytest.raises(TypeError, match="params"):
        jl.check_grad(lambda p: jnp.sum(p**2), lambda p: (jnp.sum(p**2), 2 * p), jnp.arange(3))


def test_mismatched_structure_rejected():
    params = {"w": jnp.ones(3), "b": jnp.zeros(())}
    with pytest.raises(ValueError, match="grads from grad_fn"):
        jl.check_grad(
            lambda p: jnp.sum(p["w"] ** 2) + p["b"],
            lambda p: (jnp.sum(p["w"] ** 2) + p["b"], {"w": 2 * p["w"]}),
            params,
        )
    with pytest.raises(ValueError, match=r"\['w'\] has shape"):
        jl.check_grad(
            lambda p: jnp.sum(p["w"] ** 2) + p["b"],
            lambda p: (jnp.sum(p["w"] ** 2) + p["b"], {"w": jnp.ones(2), "b": jnp.ones(())}),
            params,
        )
