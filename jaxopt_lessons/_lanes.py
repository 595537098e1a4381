r"""The per-lane kernel of :func:`jaxopt_lessons.sweep`: one compiled program per optimizer.

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

**Cost of the bookkeeping.** On a CPU a step of a small network is a few dozen tiny
kernels, and each costs about the same however little it computes, so the step carries
its state packed into few arrays: the parameters raveled into one ``(P,)`` vector per
lane (``(P, lanes)`` lanes-last); vmapped, the previous parameters instead of the
previous update (no update is materialised: :math:`\Delta\theta_{t-1} = \theta_t -
\theta_{t-1}` exactly); and every statistic, the step counters included, as a row of
one float array updated by a single elementwise loop (a stack of rows compiles to a
slow scalar loop). One multiply-sum reduction gives both :math:`\|\Delta\theta_t\|^2`
and :math:`\langle\Delta\theta_t, \Delta\theta_{t-1}\rangle`. On the seed's XOR net
(1,024 lanes, 2 CPU devices) this took the lanes-last step from ~2x to ~1.5x the cost
of a bare scan without any bookkeeping, and the vmapped one down by ~15%.
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
    """What one lane carries between chunks (every field gets a lane axis: leading, or trailing with ``lanes_last``).

    ``params`` is the user's pytree; ``prev`` is raveled (every leaf flattened and
    concatenated, as inside a chunk: see ``lane_program``'s ``Carry``).
    """

    params: Any
    opt_state: Any
    prev: jax.Array  # raveled Δθ_{t-1} (lanes-last) or θ_{t-1} (vmapped), for the reversal test
    loss0: jax.Array  # loss at the start
    loss_mid: jax.Array  # loss before update steps // 2
    max_sq_update: jax.Array  # max_t ||Δθ_t||²
    last_sq_update: jax.Array  # ||Δθ||² of the last applied update
    flips_window: jax.Array  # reversals in the second half (int32)
    diverged_at: jax.Array  # first bad step or -1 (int32)

    @property
    def alive(self) -> jax.Array:
        """False once the lane diverged."""
        return self.diverged_at < 0


def counters_fit(steps: int, dtype: Any) -> bool:
    """Whether every integer up to ``steps`` is exact in ``dtype`` (then the step counters ride in the float stats)."""
    return steps < 2 ** (jnp.finfo(dtype).nmant + 1)


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

    def ravel(tree: Any) -> jax.Array:
        """Every leaf flattened (lane axis kept last) and concatenated: ``(P,)`` or ``(P, lanes)``."""
        leaves = jax.tree_util.tree_leaves(tree)
        dtype = jnp.result_type(*leaves)
        parts = [leaf.reshape(-1, leaf.shape[-1]) if lanes_last else leaf.reshape(-1) for leaf in leaves]
        return jnp.concatenate([part.astype(dtype) for part in parts], axis=0)

    def unraveler(tree: Any) -> Callable[[jax.Array], Any]:
        """The inverse of ``ravel`` for trees shaped like ``tree`` (exact: each leaf gets its dtype back)."""
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        layout = [(leaf.shape, leaf.dtype, math.prod(leaf.shape[:-1] if lanes_last else leaf.shape))
                  for leaf in leaves]

        def unravel(flat: jax.Array) -> Any:
            out, offset = [], 0
            for shape, dtype, size in layout:
                out.append(flat[offset:offset + size].reshape(shape).astype(dtype))
                offset += size
            return jax.tree_util.tree_unflatten(treedef, out)

        return unravel

    def lane_where(condition: jax.Array, new: Any, old: Any) -> Any:
        def one(n: jax.Array, o: jax.Array) -> jax.Array:
            if lanes_last and not (n.ndim and n.shape[-1] == condition.shape[-1]):
                return n  # shared by all lanes (e.g. optax's step count)
            return jnp.where(condition, n, o)

        return jax.tree_util.tree_map(one, new, old)

    def init_lane(params: Any, learning_rate: jax.Array, args: tuple) -> LaneState:
        optimizer = factory(learning_rate)
        loss0 = loss_fn(params, *args)
        flat = ravel(params)
        sq_zero = jnp.zeros(loss0.shape, flat.dtype)
        return LaneState(
            params=params,
            opt_state=optimizer.init(params),
            prev=jnp.zeros_like(flat) if lanes_last else flat,  # so that Δθ_{-1} = 0
            loss0=loss0,
            loss_mid=loss0,
            max_sq_update=sq_zero,
            last_sq_update=sq_zero,
            flips_window=jnp.zeros(loss0.shape, jnp.int32),
            diverged_at=jnp.full(loss0.shape, -1, jnp.int32),
        )

    class Carry(NamedTuple):
        """What a lane carries from step to step inside a chunk, packed into few arrays.

        ``stats`` rows: loss_mid, max_sq_update, last_sq_update, the loss to record, then
        (when ``counts`` is None) the two counters flips_window and ``applied`` (updates
        applied so far), which are exact integers in the float dtype for these ``steps``.
        One array means one fused loop per step instead of one per statistic.
        """

        params: jax.Array  # raveled θ_t
        opt_state: Any
        prev: jax.Array  # raveled Δθ_{t-1} (lanes-last) or θ_{t-1} (vmapped)
        stats: jax.Array  # (4,) or (6,) floats, see above
        counts: jax.Array | None  # (2,) int32 [flips_window, applied] when not in stats

    def step_lane(carry: Carry, step: jax.Array, record: Any, optimizer: Any, args: tuple,
                  unravel: Callable, loss0: jax.Array, limit: jax.Array):
        new_params, new_opt_state, loss = train_step(value_and_grad, optimizer, unravel(carry.params),
                                                     carry.opt_state, args)
        new_flat = ravel(new_params)
        update = new_flat - carry.params
        # Δθ_{t-1} = θ_t - θ_{t-1} is bit for bit the update computed at step t - 1 (θ_t is that
        # step's new_flat). Vmapped, carrying θ_{t-1} (no update materialised) was faster;
        # lanes-last, carrying Δθ_{t-1} was (measured on the XOR net): same numbers either way.
        prev_update = carry.prev if lanes_last else carry.params - carry.prev
        # ||Δθ_t||² and <Δθ_t, Δθ_{t-1}> in one reduction (an elementwise multiply-sum, not
        # jnp.vdot: under vmap a vdot becomes a batched dot_general, slow for tiny vectors)
        zero = jnp.zeros((), update.dtype)
        sq, dot = jax.lax.reduce((update * update, update * prev_update), (zero, zero),
                                 lambda a, b: (a[0] + b[0], a[1] + b[1]), (0,))
        stats = carry.stats
        loss_mid, max_sq, last_sq, recorded = (stats[k] for k in range(4))
        flips, applied = (stats[4], stats[5]) if carry.counts is None else (carry.counts[0], carry.counts[1])
        bad = ~(jnp.isfinite(loss) & jnp.isfinite(sq)) | (loss - loss0 > limit)
        # Steps run in order from 0, so a lane is alive (never diverged) at step t exactly
        # when it applied all t earlier updates; past the last step nothing is applied.
        active = (step < steps) & (applied == step.astype(applied.dtype))
        apply = active & ~bad
        flip = apply & (dot < 0) & (step >= mid)
        if carry.counts is None:
            # Every row updated elementwise over the whole array, each row picking its own
            # rule: one vectorised loop (a stack of rows would compile to a slow scalar one).
            row = jax.lax.broadcasted_iota(jnp.int32, stats.shape, 0)
            loss_, sq_ = loss.astype(stats.dtype), sq.astype(stats.dtype)
            stats = jnp.where(row == 0, jnp.where(step == mid, loss_, stats),
                    jnp.where(row == 1, jnp.where(apply, jnp.maximum(stats, sq_), stats),
                    jnp.where(row == 2, jnp.where(apply, sq_, stats),
                    jnp.where(row == 3, jnp.where(record, loss_, stats),
                    stats + jnp.where(row == 4, flip, apply).astype(stats.dtype)))))  # fmt: skip
            counts = None
        else:
            dtype = stats.dtype
            stats = jnp.stack([
                jnp.where(step == mid, loss, loss_mid).astype(dtype),
                jnp.where(apply, jnp.maximum(max_sq, sq), max_sq).astype(dtype),
                jnp.where(apply, sq, last_sq).astype(dtype),
                jnp.where(record, loss, recorded).astype(dtype),
            ])
            counts = jnp.stack([flips + flip.astype(flips.dtype), applied + apply.astype(applied.dtype)])
        carry = Carry(
            params=jnp.where(apply, new_flat, carry.params),
            opt_state=lane_where(apply, new_opt_state, carry.opt_state),
            # No select needed: once a lane stops applying updates (diverged, or past the
            # last step) it never applies one again, so its prev is never read.
            prev=update if lanes_last else carry.params,
            stats=stats,
            counts=counts,
        )
        return carry, loss

    def chunk_lane(state: LaneState, learning_rate: jax.Array, start: jax.Array, args: tuple):
        optimizer = factory(learning_rate)
        unravel = unraveler(state.params)
        loss_dtype, sq_dtype = state.loss_mid.dtype, state.max_sq_update.dtype
        dtype = functools.reduce(jnp.promote_types, (loss_dtype, sq_dtype, jnp.float32))  # holds all exactly
        loss0 = state.loss0
        limit = blowup * jnp.maximum(jnp.abs(loss0), jnp.finfo(loss0.dtype).eps)
        # a lane that diverged at step t applied t updates; the others applied `start`
        applied = jnp.where(state.diverged_at >= 0, state.diverged_at, start)
        rows = [state.loss_mid.astype(dtype), state.max_sq_update.astype(dtype),
                state.last_sq_update.astype(dtype), jnp.zeros(loss0.shape, dtype)]
        counts = [state.flips_window, applied]
        if counters_fit(steps, dtype):
            stats, counts = jnp.stack(rows + [c.astype(dtype) for c in counts]), None
        else:
            stats, counts = jnp.stack(rows), jnp.stack(counts)
        carry = Carry(params=ravel(state.params), opt_state=state.opt_state, prev=state.prev,
                      stats=stats, counts=counts)

        def one_step(carry: Carry, step: jax.Array, record: Any):
            return step_lane(carry, step, record, optimizer, args, unravel, loss0, limit)

        if record_every == 1:
            carry, records = jax.lax.scan(
                lambda c, i: one_step(c, start + i, True),
                carry,
                jnp.arange(chunk_records, dtype=jnp.int32),
                unroll=min(unroll, chunk_records),
            )
        else:

            def block(carry: Carry, k: jax.Array):
                carry, _ = jax.lax.scan(
                    lambda c, j: (one_step(c, start + k * record_every + j, j == 0)[0], None),
                    carry,
                    jnp.arange(record_every, dtype=jnp.int32),
                    unroll=min(unroll, record_every),
                )
                return carry, carry.stats[3].astype(loss_dtype)

            carry, records = jax.lax.scan(block, carry, jnp.arange(chunk_records, dtype=jnp.int32))
        params = unravel(carry.params)
        stats = carry.stats
        flips, applied = (stats[4], stats[5]) if carry.counts is None else (carry.counts[0], carry.counts[1])
        applied = applied.astype(jnp.int32)
        ran = jnp.minimum(start + chunk_records * record_every, steps)  # steps of the run done so far
        state = LaneState(
            params=params,
            opt_state=carry.opt_state,
            prev=carry.prev,
            loss0=loss0,
            loss_mid=stats[0].astype(loss_dtype),
            max_sq_update=stats[1].astype(sq_dtype),
            last_sq_update=stats[2].astype(sq_dtype),
            flips_window=flips.astype(jnp.int32),
            diverged_at=jnp.where(applied < ran, applied, -1),
        )
        return state, records, loss_fn(params, *args)

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
