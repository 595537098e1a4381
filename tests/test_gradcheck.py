"""check_grad passes correct gradients and catches a 1% error, naming the leaf and the element.

Oracles: ``jax.grad`` and central differences (float64 ones under ``jax.enable_x64`` computed
here independently of check_grad), and deliberate perturbations of known size and place.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_lessons as jl


@functools.cache
def _mlp_loss(activation, scale):
    """One loss function per (activation, scale), so check_grad's compiled finite differences are reused."""

    def loss(p, x, y):
        return scale * jl.mse(jl.mlp(p, x, activation=activation), y)

    return loss


def _problem(getkey, dtype=jnp.float32, activation="tanh", sizes=(3, 5, 4, 2), batch=6, scale=1.0):
    params = jl.init_mlp(getkey(), list(sizes), dtype=dtype)
    x = jax.random.normal(getkey(), (batch, sizes[0]), dtype=dtype)
    y = jax.random.normal(getkey(), (batch, sizes[-1]), dtype=dtype)
    return _mlp_loss(activation, scale), params, x, y


def _perturbed(grad_fn, index, key, factor=1.01):
    def wrong(p, x, y):
        value, grads = grad_fn(p, x, y)
        grads = [dict(layer) for layer in grads]
        grads[index][key] = grads[index][key] * factor
        return value, grads

    return wrong


@pytest.mark.slow
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


def _relu_problem(getkey):
    """A float32 ReLU MLP whose float32 central differences cross kinks (checked in the test)."""
    return _problem(getkey, activation="relu", sizes=(3, 8, 8, 2), batch=16)


def _shifted(grad_fn, index, key, element, delta=0.01):
    def wrong(p, x, y):
        value, grads = grad_fn(p, x, y)
        grads = [dict(layer) for layer in grads]
        grads[index][key] = grads[index][key].at[element].add(delta)
        return value, grads

    return wrong


@pytest.mark.slow
def test_float32_relu_mlp_against_its_own_autodiff_passes_with_a_note(getkey):
    loss, params, x, y = _relu_problem(getkey)
    report = jl.check_grad(loss, jax.value_and_grad(loss), params, x, y)
    # The premise: float32 central differences really are off here, far beyond their allowance.
    assert max(row["fd_abs_error"] for row in report.per_leaf.values()) > 10 * report.fd_atol
    assert report.ok, str(report)
    assert len(report.notes) == 1 and "float32 finite differences are the only oracle" in report.notes[0]
    assert "Float64 finite differences at the same point agree" in str(report)
    # Independent float64 differences at the same point agree with jax.grad to ~1e-7.
    with jax.enable_x64(True):
        widen = lambda tree: jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)), tree)  # noqa: E731
        numerical64 = jl.numerical_grad(loss, widen(params), widen(x), widen(y))
    for ref, num in zip(jax.tree.leaves(jax.grad(loss)(params, x, y)), jax.tree.leaves(numerical64)):
        np.testing.assert_allclose(np.asarray(ref, np.float64), np.asarray(num), rtol=1e-4, atol=1e-6)
    assert max(row["fd64_abs_error"] for row in report.per_leaf.values()) < 1e-6


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("index,key,element", [(1, "W", (2, 1)), (0, "b", (3,)), (2, "W", (0, 1))])
def test_wrong_element_is_reported_with_its_index(getkey, activation, index, key, element):
    loss, params, x, y = _problem(getkey, activation=activation, sizes=(3, 8, 8, 2), batch=16)
    report = jl.check_grad(loss, _shifted(jax.value_and_grad(loss), index, key, element), params, x, y)
    name = f"[{index}]['{key}']"
    assert not report.ok
    assert report.worst_leaf == name and report.worst_index == element
    assert report.per_leaf[name]["worst_index"] == element and report.per_leaf[name]["ok"] is False
    assert report.max_abs_error == pytest.approx(0.01, rel=1e-4)
    assert report.worst_values["grad_fn"] - report.worst_values["jax.grad"] == pytest.approx(0.01, rel=1e-4)
    written = name + "[" + ", ".join(str(i) for i in element) + "]"
    assert report.worst_element == written and f"worst element {written}:" in str(report)
    assert all(row["ok"] for path, row in report.per_leaf.items() if path != name)


def test_float64_differences_that_also_disagree_fail(getkey):
    # jax.grad of this loss is wrong on purpose (stop_gradient), so grad_fn = jax.grad agrees with
    # it; only finite differences can tell, and the float64 ones confirm: d/dp0 is 2 + 3 = 5, not 2.
    def loss(p):
        return jnp.sum(p**2) + jax.lax.stop_gradient(p[0]) ** 3

    report = jl.check_grad(loss, jax.value_and_grad(loss), jnp.array([1.0, 2.0]))
    assert not report.ok and report.worst_index == (0,)
    assert report.worst_values["finite differences (float64)"] == pytest.approx(5.0, rel=1e-6)
    assert "Float64 finite differences disagree too" in report.notes[0]


def test_no_float64_recheck_when_the_loss_stays_float32(getkey):
    loss32, params, x, y = _relu_problem(getkey)

    def loss(p, x, y):  # computes in float32 whatever it is given
        return loss32(jax.tree.map(lambda a: a.astype(jnp.float32), p), x.astype(jnp.float32), y.astype(jnp.float32))

    report = jl.check_grad(loss, jax.value_and_grad(loss), params, x, y)
    assert not report.ok  # an honest failure: no oracle at all agrees with float32 differences' verdict
    assert "float64 re-check could not run (loss_fn returns float32" in report.notes[0]


def test_large_smooth_loss_passes_on_float32_differences_alone(getkey):
    # fd_atol scales with |loss|: a sigmoid MLP loss of ~1e4 needs no float64 re-check (1e-3 absolute failed).
    loss, params, x, y = _problem(getkey, activation="sigmoid", sizes=(3, 8, 8, 2), batch=16, scale=1e4)
    report = jl.check_grad(loss, jax.value_and_grad(loss), params, x, y)
    assert report.ok and report.notes == (), str(report)
    assert report.fd_atol == pytest.approx(1e-3 * float(loss(params, x, y)), rel=1e-6)


@pytest.mark.slow
def test_float64_keeps_tight_tolerances(getkey, x64):
    loss, params, x, y = _problem(getkey, jnp.float64, activation="relu", sizes=(3, 8, 8, 2), batch=16)
    report = jl.check_grad(loss, jax.value_and_grad(loss), params, x, y)
    assert report.ok and report.notes == () and (report.rtol, report.atol) == (1e-7, 1e-10), str(report)
    assert all(row["fd64_abs_error"] is None for row in report.per_leaf.values())
    for index, key, factor in [(1, "W", 1.01), (0, "b", 1 + 1e-5)]:  # a 1e-5 error passes float32 tolerances
        wrong = jl.check_grad(loss, _perturbed(jax.value_and_grad(loss), index, key, factor), params, x, y)
        assert not wrong.ok and wrong.worst_leaf == f"[{index}]['{key}']"
        assert wrong.max_rel_error == pytest.approx(factor - 1, rel=1e-3)


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
