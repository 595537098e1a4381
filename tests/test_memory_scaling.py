"""A sweep's memory grows linearly with its lane count, and its per-lane estimate bounds it.

The device side is measured on the sweep's own compiled chunk program
(``compile().memory_analysis()``: argument + output + temporary bytes, which XLA
knows exactly without running anything) at three lane counts; the host side on the
arrays a ``SweepResult`` holds.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons.sweeps import api, checks, kernel, memory

STEPS, RECORD_EVERY, CHUNK_RECORDS = 40, 10, 2
X = jnp.linspace(-2.0, 2.0, 100)[:, None]
Y = 3.0 * X + 2.0
START = {"w": jnp.float32(0.5), "b": jnp.float32(-0.5)}


def regression_loss(params, x, y):
    return jl.mse(jl.linear(params, x), y)


def _spec() -> tuple[kernel.KernelSpec, checks.SweepPlan]:
    plan = checks.make_plan(regression_loss, START, optax.sgd, [0.1], steps=STEPS, args=(X, Y),
                            record_every=RECORD_EVERY, devices=jax.devices()[:1])
    return dataclasses.replace(api.kernel_spec(plan, optax.sgd), chunk_records=CHUNK_RECORDS), plan


def _compiled_bytes(n_lanes: int) -> int:
    """Device bytes XLA reserves for one chunk of ``n_lanes`` lanes (arguments + outputs + temporaries)."""
    spec, plan = _spec()
    program = kernel.build_program(spec)
    lanes = kernel.LaneInputs(jax.ShapeDtypeStruct((n_lanes,), jnp.float32), jax.ShapeDtypeStruct((n_lanes,), jnp.int32),
                              {})
    shared = api.shared_inputs(plan)
    carry = jax.eval_shape(program.init, lanes, shared)
    analysis = program.chunk.lower(carry, lanes, jnp.int32(0), shared).compile().memory_analysis()
    if analysis is None:
        pytest.skip("this backend gives no memory analysis")
    return analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes


def test_device_memory_per_lane_is_constant_and_within_the_estimate():
    sizes = (256, 1024, 4096)
    used = [_compiled_bytes(n) for n in sizes]
    per_lane_low = (used[1] - used[0]) / (sizes[1] - sizes[0])
    per_lane_high = (used[2] - used[1]) / (sizes[2] - sizes[1])
    # linear: the same slope between the small and the large pair (no lane-count^2 term)
    assert per_lane_low > 0
    assert abs(per_lane_high - per_lane_low) <= 0.05 * per_lane_low, (used, per_lane_low, per_lane_high)
    # and the estimate the sweep uses to split lanes into batches is an upper bound
    spec, plan = _spec()
    estimate = memory.lane_bytes(spec, plan.example, (X, Y), [], jnp.float32)
    assert per_lane_high <= estimate, (per_lane_high, estimate)


def test_host_result_memory_is_linear_and_batches_do_not_change_results():
    rates = np.geomspace(1e-3, 0.5, 24)
    small = jl.sweep(regression_loss, START, optax.sgd, rates[:8], steps=STEPS, args=(X, Y),
                     record_every=RECORD_EVERY, max_lanes_per_batch=8)
    large = jl.sweep(regression_loss, START, optax.sgd, rates, steps=STEPS, args=(X, Y),
                     record_every=RECORD_EVERY, max_lanes_per_batch=8)

    def result_bytes(result):
        arrays = (result.learning_rates, result.losses, result.final_loss, result.diverged_at,
                  *jax.tree_util.tree_leaves(result.params))
        return sum(np.asarray(a).nbytes for a in arrays)

    assert result_bytes(large) == 3 * result_bytes(small)
    assert large.losses.shape == (24, STEPS // RECORD_EVERY)
    # the first batch of the large sweep is the small sweep, bit for bit
    np.testing.assert_array_equal(large.losses[:8], small.losses)
    np.testing.assert_array_equal(large.final_loss[:8], small.final_loss)
