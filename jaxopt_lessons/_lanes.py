"""The per-lane kernel of :func:`jaxopt_lessons.sweep`: one compiled program per optimizer.

A *lane* is one training run. Each lane carries its parameters, optimizer state and a
few status accumulators through a ``lax.scan``; ``jax.vmap`` turns the one-lane
program into a batch of lanes and ``jax.jit`` compiles it once per
``(loss_fn, grad_fn, factory, steps, record_every, chunk_records, unroll, blowup,
devices)``. The learning rates are a traced argument (the optimizer is built *inside*
the vmapped function from the lane's learning rate), so new learning-rate values with
the same shapes reuse the compiled program.

The scan runs in *chunks* of ``chunk_records * record_every`` steps so that the host
can show progress, stop early and be interrupted between chunks. Steps past ``steps``
in the last chunk are masked out (the lane state does not change), so chunking never
changes a result.

The status *statistics* (initial loss, loss at mid-run, size of the largest and of the
last update, count of direction reversals in the second half, first diverged step) are
accumulated inside the scan; :func:`jaxopt_lessons.sweep_result.classify` turns them
into the four statuses on the host (see ``sweep``'s docstring for the rules).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .sweep_result import settled
from .train import train_step

LANE_AXIS = "lanes"


class LaneState(NamedTuple):
    """What one lane carries through the scan (every field gets a leading lane axis)."""

    params: Any
    opt_state: Any
    prev_update: Any  # Δθ_{t-1}, for the reversal test
    loss0: jax.Array  # loss at the start
    loss_mid: jax.Array  # loss before update steps // 2
    max_sq_update: jax.Array  # max_t ||Δθ_t||²
    last_sq_update: jax.Array  # ||Δθ|| ² of the last applied update
    flips_window: jax.Array  # reversals in the second half (int32)
    flips_chunk: jax.Array  # reversals in the current chunk (int32)
    alive: jax.Array  # False once diverged (bool)
    diverged_at: jax.Array  # first bad step or -1 (int32)


def lane_sharding(devices: tuple[Any, ...]) -> tuple[NamedSharding, NamedSharding]:
    """``(lanes, replicated)`` shardings over a 1-D mesh of ``devices``."""
    mesh = Mesh(np.asarray(devices, dtype=object), (LANE_AXIS,))
    return NamedSharding(mesh, PartitionSpec(LANE_AXIS)), NamedSharding(mesh, PartitionSpec())


class LaneProgram(NamedTuple):
    """The two compiled batch functions of one optimizer.

    ``init(seed_params, seed_index, learning_rates, args) -> LaneState`` gathers each
    lane's start from ``seed_params`` (leading seed axis) and builds its optimizer state;
    ``chunk(state, learning_rates, start, args) -> (state, records, end_loss)`` runs
    ``chunk_records * record_every`` steps from step ``start`` and returns the losses
    recorded before every ``record_every``-th update ``(lanes, chunk_records)`` and the
    loss at the lane's parameters after the chunk.
    """

    init: Callable[..., LaneState]
    chunk: Callable[..., tuple[LaneState, jax.Array, jax.Array]]


@functools.lru_cache(maxsize=64)
def lane_program(
    loss_fn: Callable[..., jax.Array],
    grad_fn: Callable[..., Any] | None,
    factory: Callable[[Any], optax.GradientTransformation],
    steps: int,
    record_every: int,
    chunk_records: int,
    unroll: int,
    blowup: float,
    devices: tuple[Any, ...],
    lanes_last: bool = False,
) -> LaneProgram:
    """Builds (and caches) the jitted ``init`` and ``chunk`` functions for these settings.

    With ``lanes_last=False`` the step below is written for one lane and ``jax.vmap``
    batches it. With ``lanes_last=True`` nothing is vmapped: every parameter leaf has a
    trailing lane axis, ``loss_fn`` returns one loss per lane, the optimizer is built once
    from the vector of learning rates (broadcast along the trailing axis), and per-lane
    reductions sum over every axis but the last. The same step code serves both layouts.
    """
    if grad_fn is not None:
        value_and_grad = grad_fn
    elif lanes_last:
        # per-lane gradients: lanes are independent, so d(sum of losses)/d(lane's params) is its own gradient
        summed = jax.value_and_grad(lambda p, *a: (lambda l: (jnp.sum(l), l))(loss_fn(p, *a)), has_aux=True)

        def value_and_grad(params: Any, *args: Any):
            (_, losses), grads = summed(params, *args)
            return losses, grads
    else:
        value_and_grad = jax.value_and_grad(loss_fn)
    mid = steps // 2
    lanes, _ = lane_sharding(devices)
    mesh = lanes.mesh

    def constrain(tree: Any) -> Any:
        return jax.lax.with_sharding_constraint(tree, lanes)

    def constrain_last(tree: Any) -> Any:
        def one(x: jax.Array) -> jax.Array:
            spec = PartitionSpec(*([None] * (x.ndim - 1)), LANE_AXIS) if x.ndim else PartitionSpec()
            return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))

        return jax.tree_util.tree_map(one, tree)

    def lane_dot(a: Any, b: Any) -> jax.Array:
        # Elementwise multiply-sum, not jnp.vdot: under vmap a vdot becomes a batched
        # dot_general, several times slower for the tiny leaves of a sweep lane.
        def one(x: jax.Array, y: jax.Array) -> jax.Array:
            return jnp.sum(x * y, axis=tuple(range(x.ndim - 1)) if lanes_last else None)

        return functools.reduce(jnp.add, jax.tree_util.tree_leaves(jax.tree_util.tree_map(one, a, b)))

    def lane_where(condition: jax.Array, new: Any, old: Any) -> Any:
        def one(n: jax.Array, o: jax.Array) -> jax.Array:
            if lanes_last and not (n.ndim and n.shape[-1] == condition.shape[-1]):
                return n  # shared by all lanes (e.g. optax's step count)
            return jnp.where(condition, n, o)

        return jax.tree_util.tree_map(one, new, old)

    def init_lane(params: Any, learning_rate: jax.Array, args: tuple) -> LaneState:
        optimizer = factory(learning_rate)
        loss0 = loss_fn(params, *args)
        sq_zero = jnp.zeros_like(lane_dot(params, params))
        return LaneState(
            params=params,
            opt_state=optimizer.init(params),
            prev_update=optax.tree_utils.tree_zeros_like(params),
            loss0=loss0,
            loss_mid=loss0,
            max_sq_update=sq_zero,
            last_sq_update=sq_zero,
            flips_window=jnp.zeros_like(loss0, jnp.int32),
            flips_chunk=jnp.zeros_like(loss0, jnp.int32),
            alive=jnp.ones_like(loss0, bool),
            diverged_at=jnp.full_like(loss0, -1, jnp.int32),
        )

    def step_lane(state: LaneState, step: jax.Array, optimizer: Any, args: tuple):
        new_params, new_opt_state, loss = train_step(value_and_grad, optimizer, state.params, state.opt_state, args)
        update = jax.tree_util.tree_map(jnp.subtract, new_params, state.params)
        sq = lane_dot(update, update)
        reversal = lane_dot(update, state.prev_update) < 0
        eps = jnp.finfo(state.loss0.dtype).eps
        blown = loss - state.loss0 > blowup * jnp.maximum(jnp.abs(state.loss0), eps)
        bad = ~(jnp.isfinite(loss) & jnp.isfinite(sq)) | blown
        active = step < steps  # steps past the end of the run (last chunk) are no-ops
        newly_diverged = active & state.alive & bad
        apply = active & state.alive & ~bad
        flip = (apply & reversal).astype(jnp.int32)
        state = LaneState(
            params=lane_where(apply, new_params, state.params),
            opt_state=lane_where(apply, new_opt_state, state.opt_state),
            prev_update=lane_where(apply, update, state.prev_update),
            loss0=state.loss0,
            loss_mid=jnp.where(step == mid, loss, state.loss_mid),
            max_sq_update=jnp.where(apply, jnp.maximum(state.max_sq_update, sq), state.max_sq_update),
            last_sq_update=jnp.where(apply, sq, state.last_sq_update),
            flips_window=state.flips_window + flip * (step >= mid),
            flips_chunk=state.flips_chunk + flip,
            alive=state.alive & ~newly_diverged,
            diverged_at=jnp.where(newly_diverged, step, state.diverged_at),
        )
        return state, loss

    def chunk_lane(state: LaneState, learning_rate: jax.Array, start: jax.Array, args: tuple):
        optimizer = factory(learning_rate)
        state = state._replace(flips_chunk=jnp.zeros_like(state.flips_chunk))
        if record_every == 1:
            state, records = jax.lax.scan(
                lambda s, i: step_lane(s, start + i, optimizer, args),
                state,
                jnp.arange(chunk_records, dtype=jnp.int32),
                unroll=min(unroll, chunk_records),
            )
        else:

            def block(state: LaneState, k: jax.Array):
                def inner(carry, j):
                    lane, recorded = carry
                    lane, loss = step_lane(lane, start + k * record_every + j, optimizer, args)
                    return (lane, jnp.where(j == 0, loss, recorded)), None

                (state, recorded), _ = jax.lax.scan(
                    inner,
                    (state, jnp.zeros_like(state.loss0)),
                    jnp.arange(record_every, dtype=jnp.int32),
                    unroll=min(unroll, record_every),
                )
                return state, recorded

            state, records = jax.lax.scan(block, state, jnp.arange(chunk_records, dtype=jnp.int32))
        return state, records, loss_fn(state.params, *args)

    def init_batch(seed_params: Any, seed_index: jax.Array, learning_rates: jax.Array, args: tuple) -> LaneState:
        params = jax.tree_util.tree_map(lambda p: p[seed_index], seed_params)
        if lanes_last:
            params = jax.tree_util.tree_map(lambda p: jnp.moveaxis(p, 0, -1), params)
            return constrain_last(init_lane(constrain_last(params), learning_rates, args))
        state = jax.vmap(init_lane, in_axes=(0, 0, None))(constrain(params), learning_rates, args)
        return constrain(state)

    def chunk_batch(state: LaneState, learning_rates: jax.Array, start: jax.Array, args: tuple):
        if lanes_last:
            state, records, end_loss = chunk_lane(constrain_last(state), learning_rates, start, args)
            return constrain_last(state), constrain(records.T), constrain(end_loss)
        out = jax.vmap(chunk_lane, in_axes=(0, 0, None, None))(constrain(state), learning_rates, start, args)
        return constrain(out)

    return LaneProgram(jax.jit(init_batch), jax.jit(chunk_batch, donate_argnums=0))


def mlp_lanes_last(
    params: Sequence[dict[str, jax.Array]],
    x: jax.Array,
    *,
    activation: str = "relu",
    output_activation: str = "identity",
) -> jax.Array:
    r""":func:`jaxopt_lessons.mlp` for ``sweep(..., lanes_last=True)``: every leaf has a trailing lane axis.

    Layer :math:`l` computes :math:`z_{b,o,\lambda} = \sum_i h_{b,i,\lambda} W_{i,o,\lambda}
    + b_{o,\lambda}` as a broadcast multiply-sum with the lanes innermost (contiguous),
    which XLA vectorises over lanes; a vmapped ``h @ W`` instead becomes thousands of tiny
    batched matrix products.

    Args:
      params: layers ``{"W": (n_in, n_out, lanes), "b": (n_out, lanes) or (1, n_out, lanes)}``.
      x: shared inputs ``(batch, n_in)`` (or per-lane ``(batch, n_in, lanes)``).
      activation: hidden activation name (as in :func:`jaxopt_lessons.mlp`).
      output_activation: output activation name.

    Returns:
      ``(batch, n_out, lanes)`` outputs.
    """
    from .models import get_activation

    hidden = get_activation(activation, "activation")
    output = get_activation(output_activation, "output_activation")
    h = x if x.ndim == 3 else x[:, :, None]
    for index, layer in enumerate(params):
        act = output if index == len(params) - 1 else hidden
        weights = layer["W"]
        if weights.shape[0] <= 32:  # unrolled sum of broadcasts: ~3x faster than one reduce here
            z = layer["b"]
            for i in range(weights.shape[0]):
                z = z + h[:, i, None, :] * weights[i][None]
        else:
            z = jnp.sum(h[:, :, None, :] * weights[None], axis=1) + layer["b"]
        h = act(z)
    return h


# --- running one batch on the host side ----------------------------------------------


def run_batch(program, seed_params, args, seed_index, learning_rates, sharding, *, steps, record_every,
               chunk_records, count, losses, bar, diverged_before, early_stop, rules, keep_params,
              lanes_last=False) -> dict[str, Any]:
    """Runs one padded batch chunk by chunk; fills ``losses`` (a view) and returns the rest."""
    chunk_steps = chunk_records * record_every
    n_records = losses.shape[1]
    n_chunks = math.ceil(n_records / chunk_records)
    learning_rates = put_lanes(learning_rates, sharding)
    state = program.init(seed_params, put_lanes(seed_index, sharding), learning_rates, args)
    watch = early_stop or not bar.disable
    pending = None
    stopped_at = steps
    end_loss = None
    for chunk in range(n_chunks):
        start = chunk * chunk_steps
        state, records, end_loss = program.chunk(state, learning_rates, np.int32(start), args)
        if pending is not None:
            store_records(losses, *pending, count)
        pending = (records, chunk * chunk_records)
        if not watch:
            continue
        alive = to_host(state.alive)[:count]
        bar.update(count * min(chunk_steps, steps - start))
        bar.set_postfix(diverged=diverged_before + int(np.sum(~alive)), refresh=False)
        if early_stop and chunk < n_chunks - 1:
            finished = settled(
                chunk_start_loss=to_host(records)[:count, 0], end_loss=to_host(end_loss)[:count],
                loss0=to_host(state.loss0)[:count], max_sq_update=to_host(state.max_sq_update)[:count],
                last_sq_update=to_host(state.last_sq_update)[:count], alive=alive, rules=rules,
            )
            if finished.all():
                store_records(losses, *pending, count)
                pending = None
                first_missing = (chunk + 1) * chunk_records
                losses[:, first_missing:] = to_host(end_loss)[:count, None]
                stopped_at = start + chunk_steps
                bar.update(count * (steps - stopped_at))
                break
    if pending is not None:
        store_records(losses, *pending, count)
    names = ("loss0", "loss_mid", "max_sq_update", "last_sq_update", "flips_window", "diverged_at")
    fetched = tree_to_host({
        "stats": {name: getattr(state, name) for name in names},
        "final_loss": end_loss,
        "params": state.params if keep_params else None,
    })
    params = None
    if keep_params:
        first = (lambda p: np.moveaxis(p, -1, 0)) if lanes_last else (lambda p: p)
        params = jax.tree_util.tree_map(lambda p: first(p)[:count], fetched["params"])
    stats = {name: value[:count] for name, value in fetched["stats"].items()}
    return {"final_loss": fetched["final_loss"][:count], "stats": stats, "params": params, "stopped_at": stopped_at}


def store_records(losses: np.ndarray, records: jax.Array, first: int, count: int) -> None:
    block = to_host(records)[:count]
    width = min(block.shape[1], losses.shape[1] - first)
    losses[:, first:first + width] = block[:, :width]


def to_host(array: jax.Array) -> np.ndarray:
    """A NumPy copy of a (possibly multi-host) array."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(array)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def tree_to_host(tree: Any) -> Any:
    """NumPy copies of every leaf, transferred together (``jax.device_get``) when possible."""
    leaves = jax.tree_util.tree_leaves(tree)
    if all(getattr(leaf, "is_fully_addressable", True) for leaf in leaves):
        return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))
    return jax.tree_util.tree_map(to_host, tree)


def put_lanes(values: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` padded to ``size`` by repeating its first entry (padding lanes are dropped)."""
    if values.shape[0] == size:
        return values
    return np.concatenate([values, np.repeat(values[:1], size - values.shape[0], axis=0)])


# --- memory ----------------------------------------------------------------------------


def _nbytes(tree: Any) -> int:
    return sum(int(np.prod(leaf.shape)) * np.dtype(leaf.dtype).itemsize for leaf in jax.tree_util.tree_leaves(tree))


def _jaxpr_bytes(jaxpr: Any) -> int:
    """Sum of the sizes of every intermediate value of a jaxpr (sub-jaxprs included)."""
    total = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            aval = getattr(var, "aval", None)
            if aval is not None and hasattr(aval, "shape") and hasattr(aval, "dtype"):
                try:
                    total += int(np.prod(aval.shape)) * np.dtype(aval.dtype).itemsize
                except TypeError:  # extended dtypes (keys) are tiny here
                    pass
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                total += _jaxpr_bytes(inner)
    return total


def lane_bytes(
    loss_fn: Callable[..., Any],
    grad_fn: Callable[..., Any] | None,
    factory: Callable[[Any], Any],
    params: Any,
    args: tuple,
    learning_rate_dtype: Any,
    chunk_records: int,
    lanes_last: bool = False,
) -> int:
    """An upper estimate of the device bytes one lane needs while a chunk runs.

    Carry (parameters, previous update, optimizer state, accumulators) twice (input and
    output of a chunk), the chunk's records, and every intermediate of one
    loss-and-gradient evaluation (traced with ``jax.make_jaxpr``, never compiled).
    """
    if lanes_last:  # one lane = a trailing lane axis of length 1
        params = jax.tree_util.tree_map(lambda p: jax.ShapeDtypeStruct((*p.shape, 1), p.dtype), params)
        lr = jax.ShapeDtypeStruct((1,), learning_rate_dtype)
        summed = lambda p, *a: jnp.sum(loss_fn(p, *a))  # noqa: E731
        value_and_grad = grad_fn if grad_fn is not None else jax.value_and_grad(summed)
    else:
        lr = jax.ShapeDtypeStruct((), learning_rate_dtype)
        value_and_grad = grad_fn if grad_fn is not None else jax.value_and_grad(loss_fn)
    opt_state = jax.eval_shape(lambda p, r: factory(r).init(p), params, lr)
    loss = jax.eval_shape(loss_fn, params, *args)
    carry = 2 * _nbytes(params) + _nbytes(opt_state) + 64
    temporaries = _jaxpr_bytes(jax.make_jaxpr(value_and_grad)(params, *args).jaxpr) + 3 * _nbytes(params)
    return 2 * carry + temporaries + chunk_records * np.dtype(loss.dtype).itemsize


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
