r"""The lane kernel: one training run, written once for one lane; a layout batches it.

A *lane* carries its parameters, optimizer state, previous update and a few status
statistics (:class:`LaneStats`) through the steps. :func:`init_lane` and
:func:`step_lane` are written for a single lane; :func:`batch` turns them into batched
functions with the lane axis first (``jax.vmap``) or last
(:func:`jaxopt_lessons.sweeps.lanes_last.vmap_last`), and :func:`build_program`
compiles one ``init`` and one ``chunk`` function per :class:`KernelSpec`.

A chunk runs ``chunk_records`` blocks of ``record_every`` steps from step ``start``
(a traced argument, so every chunk reuses one compiled program). Steps past
``steps`` in the last chunk are masked: the lane state does not change, so chunking
never changes a result. Per step, with :math:`\Delta\theta_t` the change of the
parameters that update ``t`` made:

* the lane *diverges* at the first step whose loss is non-finite or exceeds
  :math:`L_0 + \text{blowup}\cdot\max(|L_0|, \epsilon)`, or whose update is
  non-finite; from then on it is frozen (``jnp.where`` per lane), so its NaNs never
  reach anything else, and ``applied`` (the number of updates applied) stops at the
  diverged step;
* :math:`\|\Delta\theta_t\|^2` feeds the largest and the last update size,
  :math:`\langle\Delta\theta_t, \Delta\theta_{t-1}\rangle < 0` in the second half counts
  a reversal (``flips_window``), the loss before update ``steps // 2`` is kept, and the
  largest loss seen (``peak_loss``).

Losses are recorded before every ``record_every``-th update, on the full data ``args``
(with minibatches, one extra loss evaluation per record), and the optional
``eval_fn(params, *eval_args)`` at the same points.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..batching import epoch_batches, take
from ..train import train_step
from .lanes_last import vmap_last

LANE_AXIS = "lanes"
LAYOUTS = ("vmap", "lanes_last")


class LaneStats(NamedTuple):
    """Per-lane statistics behind the status rules (each a scalar per lane)."""

    loss0: jax.Array  # loss at the start, on the full data
    loss_mid: jax.Array  # full-data loss before update steps // 2
    peak_loss: jax.Array  # largest loss seen at an applied step
    max_sq_update: jax.Array  # max_t ||Δθ_t||²
    last_sq_update: jax.Array  # ||Δθ||² of the last applied update
    flips_window: jax.Array  # int32: reversals <Δθ_t, Δθ_{t-1}> < 0 in the second half
    applied: jax.Array  # int32: updates applied (stops at the diverged step)


class LaneCarry(NamedTuple):
    """What one lane carries from step to step.

    Lanes-last, the parameters ride raveled, one vector per lane (:class:`ParamsLayout`):
    a step of a small model is a few dozen tiny kernels, each costing about the same
    however little it computes, so one subtraction, one two-output reduction and one
    select over the vector replace one of each per leaf. Under ``jax.vmap`` (large
    models) they stay a pytree: there every copy is a pass over a large array (raveling
    cost ~15% of a 784→256→10 step).
    """

    params: Any  # θ_t, raveled or a pytree
    opt_state: Any
    prev: Any  # raveled: θ_{t-1}; a pytree: Δθ_{t-1} (see ParamsLayout.update_sizes)
    stats: LaneStats


class ParamsLayout(NamedTuple):
    """How one lane carries its parameters: raveled into one vector (``flat``) or as the pytree.

    Hashable: part of the compile key.
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]
    flat: bool = True

    @classmethod
    def of(cls, params: Any, flat: bool = True) -> ParamsLayout:
        """The layout of ``params`` (arrays or ``jax.ShapeDtypeStruct`` leaves)."""
        leaves, treedef = jax.tree_util.tree_flatten(params)
        return cls(treedef, tuple(tuple(leaf.shape) for leaf in leaves), tuple(str(leaf.dtype) for leaf in leaves),
                   flat)

    def ravel(self, params: Any) -> Any:
        """The carried form of ``params``: every leaf flattened and concatenated (``flat``), else ``params``."""
        if not self.flat:
            return params
        dtype = jnp.result_type(*self.dtypes)
        return jnp.concatenate([jnp.ravel(leaf).astype(dtype) for leaf in jax.tree_util.tree_leaves(params)])

    def update_sizes(self, new: Any, now: Any, prev: Any) -> tuple[jax.Array, jax.Array, Any]:
        r""":math:`\|\Delta_t\|^2`, :math:`\langle\Delta_t, \Delta_{t-1}\rangle` and the carry's next ``prev``.

        ``new``, ``now``: :math:`\theta_{t+1}, \theta_t`. The two layouts form the sums in
        their own fastest way:

        * raveled (lanes last, small models, where every kernel costs about the same however
          little it computes): ``prev`` is :math:`\theta_{t-1}` and one two-output
          reduction forms both differences in registers, never stored;
        * a pytree (``vmap``, large models, where every pass over the parameters counts):
          ``prev`` is :math:`\Delta_{t-1}`; :math:`\Delta_t` is formed once and carried
          (carrying :math:`\theta_{t-1}` made XLA copy the parameters twice per step) and
          each sum is a one-output reduction (XLA's CPU backend runs those in its fast
          reduction kernels; the two-output reduction cost ~4x more per element). Forming
          the dot product in the second half only (a ``lax.cond`` on the step) saved
          SGD a little more but cost Adam 10%.

        Either way :math:`\Delta_{t-1}` is :math:`\mathrm{fl}(\theta_t - \theta_{t-1})`,
        the same rounded values.
        """
        if self.flat:
            delta, previous = new - now, now - prev
            zero = jnp.zeros((), delta.dtype)
            sq, dot = jax.lax.reduce((delta * delta, delta * previous), (zero, zero),
                                     lambda x, y: (x[0] + y[0], x[1] + y[1]), tuple(range(delta.ndim)))
            return sq, dot, now
        delta = jax.tree_util.tree_map(jnp.subtract, new, now)
        sq = sum(jnp.sum(d * d) for d in jax.tree_util.tree_leaves(delta))
        pairs = zip(jax.tree_util.tree_leaves(delta), jax.tree_util.tree_leaves(prev))
        return sq, sum(jnp.sum(d * p) for d, p in pairs), delta

    def first_prev(self, carried: Any) -> Any:
        r"""The carry's ``prev`` at step 0, so that :math:`\Delta_{-1} = 0`."""
        return carried if self.flat else jax.tree_util.tree_map(jnp.zeros_like, carried)

    def unravel(self, flat: Any) -> Any:
        """The inverse of :meth:`ravel` (exact: each leaf gets its dtype back)."""
        if not self.flat:
            return flat
        leaves, offset = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = math.prod(shape)
            leaves.append(flat[offset:offset + size].reshape(shape).astype(dtype))
            offset += size
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def ravel_lanes(self, params: Any) -> np.ndarray:
        """Host copies of carried parameters with a leading lane axis as ``(lanes, P)`` (NumPy)."""
        if self.flat:
            return np.asarray(params)
        leaves = jax.tree_util.tree_leaves(params)
        dtype = np.result_type(*self.dtypes)
        return np.concatenate([np.asarray(leaf).reshape(leaf.shape[0], -1).astype(dtype) for leaf in leaves], axis=1)

    def unravel_lanes(self, flat: np.ndarray) -> Any:
        """:meth:`unravel` of a host array with a leading lane axis ``(lanes, P)`` (NumPy, no device)."""
        leaves, offset = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = math.prod(shape)
            leaves.append(flat[:, offset:offset + size].reshape((flat.shape[0], *shape)).astype(dtype))
            offset += size
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


class LaneInputs(NamedTuple):
    """What differs between lanes besides their state."""

    learning_rate: jax.Array
    seed_slot: jax.Array  # int32: index of the lane's seed (start and batch order)
    hyperparams: dict[str, jax.Array]


class Shared(NamedTuple):
    """What every lane of a batch shares."""

    args: tuple
    eval_args: tuple
    seed_params: Any  # the starting parameters with a leading seed axis
    seed_keys: jax.Array  # (seeds, 2) uint32 key data, for minibatch orders


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """Everything that shapes one compiled lane program (its cache key)."""

    loss_fn: Callable[..., jax.Array]
    grad_fn: Callable[..., Any] | None
    factory: Callable[..., optax.GradientTransformation]
    schedule: Callable[[jax.Array], jax.Array] | None
    eval_fn: Callable[..., jax.Array] | None
    steps: int
    record_every: int
    chunk_records: int
    unroll: int
    blowup: float
    batch: tuple[int, int] | None  # (batch_size, n_examples) or None (full batch)
    layout: str
    devices: tuple[Any, ...]
    params: ParamsLayout
    end_loss_every_chunk: bool = False  # early stopping reads it; else only the last chunk computes it


class Program(NamedTuple):
    """The two compiled batch functions of one spec.

    ``init(lanes, shared) -> LaneCarry``;
    ``chunk(carry, lanes, start, shared) -> (carry, ChunkOutput)``.
    """

    init: Callable[..., LaneCarry]
    chunk: Callable[..., tuple[LaneCarry, ChunkOutput]]


class ChunkOutput(NamedTuple):
    """What a chunk returns besides the carry: ``(lanes, chunk_records)`` records, end-of-chunk values."""

    losses: jax.Array
    eval_losses: jax.Array | None
    end_loss: jax.Array
    end_eval: jax.Array | None
    stats: LaneStats  # after the chunk (a copy: the carry is donated to the next chunk)


# --- one lane -----------------------------------------------------------------------


def optimizer_of(spec: KernelSpec, lane: LaneInputs) -> optax.GradientTransformation:
    """The lane's optimizer: ``factory(lr, **hyperparams)``, or ``factory(t -> lr * schedule(t), ...)``."""
    rate = lane.learning_rate
    if spec.schedule is not None:
        unit, peak = spec.schedule, lane.learning_rate
        rate = lambda count: peak * unit(count)  # noqa: E731
    return spec.factory(rate, **lane.hyperparams)


def init_lane(spec: KernelSpec, lane: LaneInputs, shared: Shared) -> LaneCarry:
    """A lane at step 0: its seed's start, a fresh optimizer state, zeroed statistics."""
    params = jax.tree_util.tree_map(lambda p: p[lane.seed_slot], shared.seed_params)
    loss0 = spec.loss_fn(params, *shared.args)
    carried = spec.params.ravel(params)
    sq_zero = jnp.zeros((), jnp.result_type(*spec.params.dtypes))
    count = jnp.zeros((), jnp.int32)
    stats = LaneStats(loss0=loss0, loss_mid=loss0, peak_loss=loss0, max_sq_update=sq_zero,
                      last_sq_update=sq_zero, flips_window=count, applied=count)
    return LaneCarry(carried, optimizer_of(spec, lane).init(params), spec.params.first_prev(carried), stats)


def step_lane(spec: KernelSpec, carry: LaneCarry, lane: LaneInputs, step: jax.Array, args: tuple,
              rows: jax.Array | None) -> tuple[LaneCarry, jax.Array]:
    """One update of one lane (masked when past ``steps`` or diverged); returns the loss before it."""
    batch = args if rows is None else take(args, rows[lane.seed_slot])
    value_and_grad = spec.grad_fn or jax.value_and_grad(spec.loss_fn)
    params = spec.params.unravel(carry.params)
    new_params, new_opt_state, loss = train_step(value_and_grad, optimizer_of(spec, lane), params,
                                                 carry.opt_state, batch)
    new_carried = spec.params.ravel(new_params)
    mid = spec.steps // 2
    sq, dot, prev = spec.params.update_sizes(new_carried, carry.params, carry.prev)
    stats = carry.stats
    limit = spec.blowup * jnp.maximum(jnp.abs(stats.loss0), jnp.finfo(stats.loss0.dtype).eps)
    bad = ~(jnp.isfinite(loss) & jnp.isfinite(sq)) | (loss - stats.loss0 > limit)
    # Steps run in order from 0, so a lane is alive at step t exactly when it applied t updates.
    apply = (step < spec.steps) & (stats.applied == step) & ~bad
    if rows is None:
        loss_mid = jnp.where(step == mid, loss, stats.loss_mid)
    else:  # the minibatch loss is noisy: the full-data loss, once
        loss_mid = jax.lax.cond(step == mid, lambda: spec.loss_fn(params, *args), lambda: stats.loss_mid)
    stats = LaneStats(
        loss0=stats.loss0,
        loss_mid=loss_mid,
        peak_loss=jnp.where(apply, jnp.maximum(stats.peak_loss, loss), stats.peak_loss),
        max_sq_update=jnp.where(apply, jnp.maximum(stats.max_sq_update, sq), stats.max_sq_update),
        last_sq_update=jnp.where(apply, sq, stats.last_sq_update),
        flips_window=stats.flips_window + (apply & (dot < 0) & (step >= mid)).astype(jnp.int32),
        applied=stats.applied + apply.astype(jnp.int32),
    )
    # Only the parameters are frozen: once a lane stops applying updates it never applies one
    # again, so its optimizer state and previous update are never read (selecting them too
    # cost compile time and a kernel per state leaf).
    kept = jax.tree_util.tree_map(lambda new, old: jnp.where(apply, new, old), new_carried, carry.params)
    return LaneCarry(kept, new_opt_state, prev, stats), loss


# --- a batch of lanes -------------------------------------------------------------------


def batch(layout: str, fn: Callable[..., Any], batched: tuple[bool, ...]) -> Callable[..., Any]:
    """``fn`` of one lane over a batch: ``jax.vmap`` (lanes first) or lanes last.

    ``batched[i]``: whether argument ``i`` carries the lane axis (else shared).
    """
    if layout == "lanes_last":
        return vmap_last(fn, [-1 if b else None for b in batched])
    return jax.vmap(fn, in_axes=[0 if b else None for b in batched])


def lane_axis(layout: str, ndim: int) -> int:
    """The position of the lane axis in a batched array of ``ndim`` dimensions."""
    return ndim - 1 if layout == "lanes_last" else 0


def constrain(spec: KernelSpec, tree: Any) -> Any:
    """Shards every leaf of a batched tree along its lane axis over ``spec.devices``."""
    mesh = Mesh(np.asarray(spec.devices, dtype=object), (LANE_AXIS,))

    def one(x: jax.Array) -> jax.Array:
        axes = [None] * x.ndim
        axes[lane_axis(spec.layout, x.ndim)] = LANE_AXIS
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(*axes)))

    return jax.tree_util.tree_map(one, tree)


def minibatch_rows(spec: KernelSpec, seed_keys: jax.Array, start: jax.Array, length: int) -> jax.Array:
    """Example indices of steps ``start .. start + length``: ``(length, seeds, batch_size)`` int32.

    Each seed's permutations are drawn once per epoch, inside the compiled program.
    """
    batch_size, n_examples = spec.batch
    per_epoch = n_examples // batch_size
    n_epochs = length // per_epoch + 2  # epochs a window of `length` steps can touch
    first = start // per_epoch
    steps = start + jnp.arange(length)

    def for_seed(key_data: jax.Array) -> jax.Array:
        key = jax.random.wrap_key_data(key_data)
        epochs = jax.vmap(lambda e: epoch_batches(key, first + e, n_examples, batch_size))(jnp.arange(n_epochs))
        return epochs[steps // per_epoch - first, steps % per_epoch]

    return jnp.swapaxes(jax.vmap(for_seed)(seed_keys), 0, 1)


def init_batch(spec: KernelSpec, lanes: LaneInputs, shared: Shared) -> LaneCarry:
    """Every lane of a batch at step 0."""
    return constrain(spec, batch(spec.layout, functools.partial(init_lane, spec), (True, False))(lanes, shared))


def chunk_batch(spec: KernelSpec, carry: LaneCarry, lanes: LaneInputs, start: jax.Array,
                shared: Shared) -> tuple[LaneCarry, ChunkOutput]:
    """``chunk_records`` blocks of ``record_every`` steps of every lane, from step ``start``."""
    every, n_blocks = spec.record_every, spec.chunk_records
    step = batch(spec.layout, functools.partial(step_lane, spec), (True, True, False, False, False))
    full_loss = batch(spec.layout, lambda p, a: spec.loss_fn(spec.params.unravel(p), *a), (True, False))
    evaluate = None
    if spec.eval_fn is not None:
        evaluate = batch(spec.layout, lambda p, a: spec.eval_fn(spec.params.unravel(p), *a), (True, False))
    rows = None
    if spec.batch is not None:
        rows = minibatch_rows(spec, shared.seed_keys, start, n_blocks * every).reshape(n_blocks, every, -1,
                                                                                     spec.batch[0])

    def block(carry: LaneCarry, k: jax.Array):
        base = start + k * every
        evaluated = None if evaluate is None else evaluate(carry.params, shared.eval_args)
        recorded = None if rows is None else full_loss(carry.params, shared.args)

        def one_step(state: tuple[LaneCarry, jax.Array], j: jax.Array):
            carry, first = state
            carry, loss = step(carry, lanes, base + j, shared.args, None if rows is None else rows[k, j])
            return (carry, jnp.where(j == 0, loss, first)), None

        start_record = jnp.zeros_like(carry.stats.loss0) if recorded is None else recorded
        (carry, first), _ = jax.lax.scan(one_step, (carry, start_record), jnp.arange(every),
                                         unroll=min(spec.unroll, every))
        return carry, (first if recorded is None else recorded, evaluated)

    carry, (records, evals) = jax.lax.scan(block, constrain(spec, carry), jnp.arange(n_blocks))
    out = ChunkOutput(
        losses=records.T,
        eval_losses=None if evals is None else evals.T,
        end_loss=_at_end(spec, start, full_loss, carry.params, shared.args, carry.stats.loss0),
        end_eval=None if evaluate is None else _at_end(spec, start, evaluate, carry.params, shared.eval_args,
                                                       carry.stats.loss0),
        stats=carry.stats,
    )
    return constrain(spec, carry), out


def _at_end(spec: KernelSpec, start: jax.Array, fn: Callable[..., jax.Array], params: Any, args: tuple,
            like: jax.Array) -> jax.Array:
    """``fn(params, args)`` after the chunk: in every chunk for early stopping, else in the last one only.

    A full-data evaluation after every chunk cost up to a third more on short runs of large
    models; the other chunks return NaN (the driver keeps the last record for partial results).
    """
    if spec.end_loss_every_chunk:
        return fn(params, args)
    last = start + spec.chunk_records * spec.record_every >= spec.steps
    return jax.lax.cond(last, lambda: fn(params, args).astype(like.dtype), lambda: jnp.full_like(like, jnp.nan))


@functools.lru_cache(maxsize=64)
def _cached_program(spec: KernelSpec) -> Program:
    return Program(jax.jit(functools.partial(init_batch, spec)),
                   jax.jit(functools.partial(chunk_batch, spec), donate_argnums=0))


def build_program(spec: KernelSpec) -> Program:
    """The compiled ``init`` and ``chunk`` of ``spec``, cached while its callables are hashable."""
    try:
        return _cached_program(spec)
    except TypeError:  # an unhashable loss, factory or schedule: compile without caching
        return _cached_program.__wrapped__(spec)
