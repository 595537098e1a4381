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


class _Cpu:
    platform = "cpu"


@pytest.mark.parametrize("n_lanes", [1, 3, 64, 255, 256, 1_000, 1_024, 2_048, 3_000, 100_000])
@pytest.mark.parametrize("per_lane", [1_728, 800_000, 11_311_496])  # XOR net, 64→32→10 MLP, 784→256→10 MLP
def test_default_batches_are_cache_sized_balanced_and_cover_every_lane(n_lanes, per_lane, monkeypatch):
    """Default lanes per batch on 2 CPU devices, checked against the rule written out independently."""
    monkeypatch.setattr(memory, "available_bytes", lambda devices: 2**40)  # memory never binds here
    devices = [_Cpu(), _Cpu()]
    size = memory.lanes_per_batch(None, n_lanes, devices, per_lane)
    cap_per_device = min(memory.CPU_LANES_PER_DEVICE, memory.CPU_BATCH_BYTES_PER_DEVICE // per_lane)
    n_batches = -(-n_lanes // size)
    assert size % 2 == 0 and size >= 2 * memory.MIN_LANES_PER_DEVICE
    # at most the cap per device (or one lane over it, from splitting the lanes evenly)
    assert size // 2 <= max(cap_per_device + 1, memory.MIN_LANES_PER_DEVICE)
    # as few batches as the cap allows ...
    assert n_batches == max(1, -(-n_lanes // (2 * max(cap_per_device, memory.MIN_LANES_PER_DEVICE))))
    # ... of nearly equal size: the padding is less than one lane per device per batch
    assert n_batches * size - n_lanes < 2 * n_batches or size == 2 * memory.MIN_LANES_PER_DEVICE


def test_a_requested_batch_size_is_kept():
    devices = [_Cpu(), _Cpu()]
    assert memory.lanes_per_batch(9, 1_000, devices, 800_000) == 8  # rounded down to the device count
    assert memory.lanes_per_batch(4, 10, devices, 1) == 4  # 4, 4, 2 (padded): not rebalanced
