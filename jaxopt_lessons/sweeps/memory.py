"""How many lanes fit at once: a per-lane memory estimate and the batch size it allows.

Nothing here compiles: the estimate traces one lane's loss and gradient
(``jax.make_jaxpr``) and adds the sizes of every intermediate value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core

from .kernel import KernelSpec, LaneInputs, optimizer_of

__all__ = ["CPU_BATCH_BYTES_PER_DEVICE", "CPU_LANES_PER_DEVICE", "MIN_LANES_PER_DEVICE", "available_bytes",
           "lanes_per_batch", "check_host_memory", "host_available_bytes", "lane_bytes"]

CPU_LANES_PER_DEVICE = 512
"""Default batch per CPU device: measured fastest per lane-step on small nets (see ``lanes_per_batch``)."""

CPU_BATCH_BYTES_PER_DEVICE = 128 * 2**20
"""Default working set of a batch per CPU device: at most this many bytes of :func:`lane_bytes`.

Measured on the 64→32→10 MLP (256 examples, 0.76 MiB per lane by :func:`lane_bytes`,
2 CPU devices): 128 lanes per device ran at 0.88× the time per lane-step of a bare
``jit(vmap(lax.scan))`` over all 1,024 lanes, 512 per device at 1.35× (its
activations fall out of cache); the XOR net's lanes are so small that
:data:`CPU_LANES_PER_DEVICE` binds first.
"""

MIN_LANES_PER_DEVICE = 2
"""One lane per device compiles to other kernels (XLA drops the unit lane axis)."""


def _nbytes(tree: Any) -> int:
    return sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in jax.tree_util.tree_leaves(tree))


def _jaxpr_bytes(jaxpr: Any) -> int:
    """Sum of the sizes of every intermediate value of a jaxpr (sub-jaxprs included)."""
    total = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            aval = getattr(var, "aval", None)
            try:
                total += math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
            except (AttributeError, TypeError):  # tokens, extended dtypes (keys): tiny here
                pass
        for sub in core.jaxprs_in_params(eqn.params):
            total += _jaxpr_bytes(sub)
    return total


def lane_bytes(spec: KernelSpec, params: Any, args: tuple, hyperparam_names: Sequence[str], dtype: Any) -> int:
    """An upper estimate of the device bytes one lane needs while a chunk runs.

    Carry (parameters, previous update, optimizer state, statistics) twice (input and
    output of a chunk), the chunk's records, and every intermediate of one
    loss-and-gradient evaluation and of one full-data loss.
    """
    scalar = jax.ShapeDtypeStruct((), dtype)
    lane = LaneInputs(scalar, jax.ShapeDtypeStruct((), jnp.int32), {name: scalar for name in hyperparam_names})
    opt_state = jax.eval_shape(lambda p, lane: optimizer_of(spec, lane).init(p), params, lane)
    step_args = args
    if spec.batch is not None:
        step_args = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct((spec.batch[0], *jnp.shape(a)[1:]), jnp.result_type(a)), args)
    value_and_grad = spec.grad_fn or jax.value_and_grad(spec.loss_fn)
    temporaries = _jaxpr_bytes(jax.make_jaxpr(value_and_grad)(params, *step_args).jaxpr)
    temporaries += _jaxpr_bytes(jax.make_jaxpr(spec.loss_fn)(params, *args).jaxpr)
    carry = 2 * _nbytes(params) + _nbytes(opt_state) + 64
    records = 2 * spec.chunk_records * np.dtype(dtype).itemsize
    return 2 * carry + temporaries + 3 * _nbytes(params) + records


def available_bytes(devices: Sequence[Any]) -> int:
    """Memory a batch may use: half of the free device memory, or of the host's for CPUs."""
    limits = []
    for device in devices:
        try:
            stats = device.memory_stats() or {}
        except Exception:  # backends without memory stats
            stats = {}
        if "bytes_limit" in stats:
            limits.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    if limits and len(limits) == len(devices):
        return int(0.5 * min(limits)) * len(devices)
    return int(0.5 * host_available_bytes())


def host_available_bytes() -> int:
    """Free host memory (``MemAvailable`` on Linux, else the physical memory)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def lanes_per_batch(requested: int | None, n_lanes: int, devices: Sequence[Any], per_lane: int) -> int:
    """Lanes per batch: a multiple of the device count, at most ``requested`` or what fits memory.

    With ``requested`` (the user's ``max_lanes_per_batch``) the batch is the largest
    multiple of the device count not above it. Without, the batch fits half the free
    memory, and on CPU devices a cache-sized working set: at most
    :data:`CPU_LANES_PER_DEVICE` lanes and :data:`CPU_BATCH_BYTES_PER_DEVICE` bytes of
    ``per_lane`` per device (measured on 2 cores: 512 lanes per device ran 1.3-5x faster
    per lane-step than larger batches on the XOR net and linear regression, and
    128 lanes of the 64→32→10 MLP 1.5x faster than 512: bigger arrays make XLA split
    every small op over threads and fall out of cache); the lanes are then split
    into as few batches of equal size as that allows, so that the last batch is not
    mostly padding. At least :data:`MIN_LANES_PER_DEVICE` lanes per device.
    """
    n_devices = len(devices)
    if requested is None:
        per_lane = max(per_lane, 1)
        cap = max(1, available_bytes(devices) // per_lane)
        if all(device.platform == "cpu" for device in devices):
            per_device = min(CPU_LANES_PER_DEVICE, CPU_BATCH_BYTES_PER_DEVICE // per_lane)
            cap = min(cap, n_devices * max(per_device, MIN_LANES_PER_DEVICE))
        n_batches = math.ceil(n_lanes / max(cap, n_devices))
        per_device = math.ceil(math.ceil(n_lanes / n_batches) / n_devices)
        return max(per_device, MIN_LANES_PER_DEVICE) * n_devices
    per_device = max(1, min(requested, n_lanes) // n_devices)
    per_device = min(per_device, math.ceil(n_lanes / n_devices))
    return max(per_device, MIN_LANES_PER_DEVICE) * n_devices


def check_host_memory(n_lanes: int, n_records: int, loss_dtype: np.dtype, params: Any, keep_params: bool) -> None:
    """Raises before the sweep when its results would not fit the host's free memory."""
    needed = n_lanes * (n_records * loss_dtype.itemsize + 64)
    if keep_params:
        needed += n_lanes * _nbytes(params)
    available = host_available_bytes()
    if needed > 0.8 * available:
        raise ValueError(
            f"the results of {n_lanes} lanes x {n_records} records need {needed / 2**30:.1f} GiB of host memory, "
            f"more than the {available / 2**30:.1f} GiB available: raise record_every, pass keep_params=False "
            "or sweep fewer lanes"
        )
