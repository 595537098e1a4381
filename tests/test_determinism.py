"""Issue 6, "Determinism": same inputs -> the same bits; lanes independent; dtypes kept.

* ``sweep`` and ``fit`` give bit-identical ``losses``, ``status``, ``final_loss`` and final
  parameters on repeated calls and in a fresh Python process (the same code is run here
  and, from the same source string, in a subprocess).
* A lane's results do not depend on how many lanes share its batch, nor on what the
  other lanes do (diverging, NaN-producing neighbours): within 1e-6 relative.
* float64 in -> float64 throughout: no float32 value anywhere in the traced programs of
  ``fit``, ``sweep``'s lane kernel, the hand gradients and the hand optimizers, and
  float64 outputs; float32 stays float32 even with ``jax_enable_x64`` on (no float64
  anywhere). Jaxprs are only traced, never compiled.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_same_bits, assert_same_sweep, fresh_process_environment

import jaxopt_lessons as jl
from jaxopt_lessons import manual, optim
from jaxopt_lessons.sweeps import api, checks, kernel

ROOT = Path(__file__).resolve().parents[1]

SETUP = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, optax
    import jaxopt_lessons as jl

    X, Y = jl.datasets.xor()

    def loss(params, x, y):
        return jl.mse(jl.mlp(params, x, activation="tanh"), y)

    def init(key):
        return jl.init_mlp(key, [2, 4, 1], scale=0.5)

    LRS = [0.01, 0.3, 3.0, 1e30]  # 1e30 overflows: a diverged, frozen lane

    def run_sweep(lrs=LRS, **kwargs):
        return jl.sweep(loss, init, {"adam": optax.adam}, lrs, steps=40, args=(X, Y), seeds=[0, 5],
                        devices=jax.devices()[:1], **kwargs)

    def run_fit():
        return jl.fit(loss, init(jax.random.key(3)), optax.adam(0.05), steps=40, args=(X, Y),
                      record_every=3, track_params=True)

    def fit_arrays(trajectory):
        leaves = jax.tree_util.tree_leaves((trajectory.params, trajectory.params_history))
        arrays = {"losses": trajectory.losses, "final_loss": trajectory.final_loss}
        arrays.update({f"leaf{i}": leaf for i, leaf in enumerate(leaves)})
        return {name: np.asarray(value) for name, value in arrays.items()}
    """
)

CHILD = SETUP + textwrap.dedent(
    """
    import sys
    out = sys.argv[1]
    run_sweep().to_json(out + "/sweep.json")
    np.savez(out + "/fit.npz", **fit_arrays(run_fit()))
    """
)

NS: dict = {}
exec(SETUP, NS)



def assert_same_fit(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert_same_bits(a[name], b[name], name)


@pytest.fixture(scope="module")
def reference():
    """The sweep and the fit, run once in this process."""
    return NS["run_sweep"](), NS["fit_arrays"](NS["run_fit"]())


def test_the_reference_run_is_not_trivial(reference):
    result, _ = reference
    assert result.n_lanes == 8
    assert "diverged" in result.status.tolist() and "diverged" not in result.status[result.learning_rates < 1].tolist()
    assert len(set(result.final_loss[result.status != "diverged"].tolist())) > 4


def test_repeated_calls_are_bit_identical(reference):
    result, fitted = reference
    assert_same_sweep(NS["run_sweep"](), result)
    assert_same_fit(NS["fit_arrays"](NS["run_fit"]()), fitted)


@pytest.mark.slow
def test_a_fresh_process_gives_the_same_bits(reference, tmp_path):
    completed = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, env=fresh_process_environment(),
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result, fitted = reference
    assert_same_sweep(jl.SweepResult.from_json(tmp_path / "sweep.json"), result)
    with np.load(tmp_path / "fit.npz", allow_pickle=False) as child_fit:
        assert_same_fit(dict(child_fit), fitted)


def test_assert_same_sweep_notices_one_changed_bit(reference):
    result, _ = reference
    losses = result.losses.copy()
    losses[3, 7] = np.nextafter(losses[3, 7], np.inf)
    with pytest.raises(AssertionError, match="losses"):
        assert_same_sweep(dataclasses.replace(result, losses=losses), result)


# --- a lane does not depend on who shares its batch --------------------------------------

def _lane(result: jl.SweepResult, seed: int, lr: float) -> dict:
    lane = int(np.flatnonzero((result.seeds == seed) & (result.learning_rates == lr))[0])
    return {
        "losses": result.losses[lane], "final_loss": result.final_loss[lane], "status": result.status[lane],
        "diverged_at": result.diverged_at[lane],
        "params": jax.tree_util.tree_map(lambda p: p[lane], result.params),
    }


def test_a_lane_does_not_depend_on_how_many_lanes_share_its_batch_or_what_they_do(reference):
    together, _ = reference  # 8 lanes in one batch
    lrs = [0.01, 0.3, 3.0]
    alone = NS["run_sweep"](lrs, max_lanes_per_batch=1)  # every lane in a batch of its own
    crowd = NS["run_sweep"]([1e30, *lrs, 1e6, 2e30], max_lanes_per_batch=4)  # 12 lanes in 3 batches
    assert (crowd.status == "diverged").sum() >= 4  # the neighbours really blow up
    for seed in (0, 5):
        for lr in lrs:
            expected = _lane(alone, seed, lr)
            for other in (crowd, together):
                got = _lane(other, seed, lr)
                assert got["status"] == expected["status"] and got["diverged_at"] == expected["diverged_at"]
                np.testing.assert_allclose(got["losses"], expected["losses"], rtol=1e-6)
                np.testing.assert_allclose(got["final_loss"], expected["final_loss"], rtol=1e-6)
                for x, y in zip(jax.tree_util.tree_leaves(got["params"]), jax.tree_util.tree_leaves(expected["params"])):
                    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


# --- dtypes: float64 throughout, float32 stays float32 -----------------------------------


def _float_dtypes(closed_jaxpr, *, min_ndim: int = 0) -> set[np.dtype]:
    """Every floating dtype of every value in a jaxpr, sub-jaxprs (scan, jit, cond) included.

    ``min_ndim``: only values with at least this many axes. ``1`` keeps parameters,
    gradients, moments and activations and leaves out scalar bookkeeping such as optax's
    bias correction ``1 - b**t``, which optax (and so its hand twins) computes in the
    default float width (float64 under x64) and casts back to the parameters' dtype;
    ``2`` does the same inside ``sweep``'s kernel, where that scalar has a lane axis.
    """
    found: set[np.dtype] = set()

    def note(var) -> None:
        aval = getattr(var, "aval", None)
        dtype = getattr(aval, "dtype", None)
        if len(getattr(aval, "shape", ())) < min_ndim:
            return
        if dtype is not None and jnp.issubdtype(dtype, jnp.floating):
            found.add(np.dtype(dtype))

    def walk(jaxpr) -> None:
        for var in (*jaxpr.constvars, *jaxpr.invars, *jaxpr.outvars):
            note(var)
        for eqn in jaxpr.eqns:
            for var in (*eqn.invars, *eqn.outvars):
                note(var)
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    if hasattr(sub, "eqns"):
                        walk(sub)
                    elif hasattr(getattr(sub, "jaxpr", None), "eqns"):
                        walk(sub.jaxpr)

    walk(closed_jaxpr.jaxpr)
    return found


def _leaf_dtypes(tree) -> set[np.dtype]:
    return {np.dtype(np.asarray(leaf).dtype) for leaf in jax.tree_util.tree_leaves(tree)
            if np.asarray(leaf).dtype.kind == "f"}


def _problem(dtype):
    params = jl.init_mlp(jax.random.key(1), [2, 3, 1], scale=0.5, dtype=dtype)
    x, y = (jnp.asarray(a, dtype) for a in jl.datasets.xor())
    return params, x, y


def _loss(params, x, y):
    return jl.mse(jl.mlp(params, x, activation="tanh"), y)


def _init32(key):
    return jl.init_mlp(key, [2, 3, 1], scale=0.5, dtype=jnp.float32)


def _init64(key):
    return jl.init_mlp(key, [2, 3, 1], scale=0.5, dtype=jnp.float64)


# Plain (momentum) SGD has no scalar bookkeeping: every value keeps the dtype. The others
# are checked on arrays (see ``_float_dtypes``); optax's schedules return float32 scalars.
HAND_OPTIMIZERS = {
    "sgd": (lambda: optim.sgd(0.1), 0),
    "nesterov": (lambda: optim.sgd(0.1, momentum=0.9, nesterov=True), 0),
    "adam": (lambda: optim.adam(1e-2), 1),
    "adamw": (lambda: optim.adamw(1e-2), 1),
    "lion": (lambda: optim.lion(1e-3), 1),
    "adam with a schedule": (lambda: optim.adam(optax.linear_schedule(1e-2, 1e-3, 10)), 1),
}

DTYPES = [pytest.param(jnp.float32, id="float32-with-x64-on"), pytest.param(jnp.float64, id="float64")]


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_hand_gradients_and_hand_optimizers_keep_the_dtype_throughout(dtype, x64):
    want = {np.dtype(dtype)}
    params, x, y = _problem(dtype)
    assert _float_dtypes(jax.make_jaxpr(_loss)(params, x, y)) == want
    assert _float_dtypes(jax.make_jaxpr(manual.mlp_grad)(params, x, y)) == want
    linear = {"w": jnp.asarray(0.5, dtype), "b": jnp.asarray(0.1, dtype)}
    assert _float_dtypes(jax.make_jaxpr(manual.linear_regression_grad)(linear, x[:, :1], y)) == want

    def fit_outputs(p, optimizer, grad_fn=None):
        trajectory = jl.fit(_loss, p, optimizer, steps=4, args=(x, y), grad_fn=grad_fn, record_every=2,
                            track_params=True)
        return trajectory.params, trajectory.losses, trajectory.final_loss, trajectory.params_history

    hand_grad = manual.mlp_grad_fn(activation="tanh")
    momentum = optim.sgd(0.1, momentum=0.9)
    assert _float_dtypes(jax.make_jaxpr(lambda p: fit_outputs(p, momentum, hand_grad))(params)) == want
    assert _float_dtypes(jax.make_jaxpr(lambda p: fit_outputs(p, optax.sgd(0.1)))(params)) == want
    adam = optim.adam(1e-2)
    assert _float_dtypes(jax.make_jaxpr(lambda p: fit_outputs(p, adam))(params), min_ndim=1) == want

    grads = jax.tree_util.tree_map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype), params)
    for name, (make, min_ndim) in HAND_OPTIMIZERS.items():
        optimizer = make()

        def one_update(p, g, optimizer=optimizer):
            updates, state = optimizer.update(g, optimizer.init(p), p)
            return optax.apply_updates(p, updates), state

        jaxpr = jax.make_jaxpr(one_update)(params, grads)
        assert _float_dtypes(jaxpr, min_ndim=min_ndim) == want, name
        assert {np.dtype(v.aval.dtype) for v in jaxpr.jaxpr.outvars if v.aval.dtype.kind == "f"} == want, name


def _trace_sweep_kernel(factory, dtype, layout) -> tuple[set, set]:
    """(all float dtypes, those of per-lane arrays) in the traced init + chunk programs of a sweep (no compile)."""
    _, x, y = _problem(dtype)
    plan = checks.make_plan(_loss, _init32 if dtype == jnp.float32 else _init64, factory, [0.1, 1e30], steps=4,
                            args=(x, y), seeds=2, lanes_last=layout == "lanes_last")
    spec = api.kernel_spec(plan, factory)
    shared = api.shared_inputs(plan)
    lanes = kernel.LaneInputs(jnp.asarray([0.1, 1e30, 0.1, 1e30], plan.dtype), jnp.asarray([0, 0, 1, 1], jnp.int32),
                              {})
    init = functools.partial(kernel.init_batch, spec)
    carry = jax.eval_shape(init, lanes, shared)
    found = [jax.make_jaxpr(init)(lanes, shared),
             jax.make_jaxpr(functools.partial(kernel.chunk_batch, spec))(carry, lanes, np.int32(0), shared)]
    return (set().union(*(_float_dtypes(j) for j in found)),
            set().union(*(_float_dtypes(j, min_ndim=2) for j in found)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["vmap", "lanes_last"])
def test_sweep_keeps_the_dtype_in_its_lane_kernel(dtype, layout, x64):
    want = {np.dtype(dtype)}
    everything, _ = _trace_sweep_kernel(optax.sgd, dtype, layout)
    assert everything == want
    everything, lane_arrays = _trace_sweep_kernel(jl.optim.adam, dtype, layout)
    assert lane_arrays == want  # its scalar bias correction aside (see _float_dtypes)
    assert everything >= want


def test_a_float32_sweep_stays_float32_with_x64_on(x64):
    _, x, y = _problem(jnp.float32)
    result = jl.sweep(_loss, _init32, optax.sgd, [0.1, 1e30], steps=4, args=(x, y), seeds=2)
    want = {np.dtype(np.float32)}
    assert result.losses.dtype == result.final_loss.dtype == np.float32
    assert _leaf_dtypes(result.params) == want
    assert {value.dtype for value in result.stats.values() if value.dtype.kind == "f"} == want
    assert result.status.tolist()[1::2] == ["diverged", "diverged"]


def test_float_dtype_walker_sees_a_hidden_upcast(x64):
    """The jaxpr walk is not vacuous: a float32 loss that computes one step in float64 is caught."""
    def sneaky(p):
        return jnp.sum(p.astype(jnp.float64) ** 2).astype(jnp.float32)

    assert _float_dtypes(jax.make_jaxpr(sneaky)(jnp.ones(2, jnp.float32))) == {np.dtype("float32"), np.dtype("float64")}
