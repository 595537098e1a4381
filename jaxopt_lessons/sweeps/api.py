r"""The public :func:`sweep`: every (optimizer, seed, hyperparameters, learning rate) run as a lane.

Orchestration only: :mod:`.checks` plans the lanes, :mod:`.kernel` compiles one
program per optimizer, :mod:`.driver` runs it batch by batch, :mod:`.status`
classifies the lanes and :mod:`.result` holds them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._validate import check_positive_int
from .checkpoint import Checkpoint
from .checks import SweepPlan, make_plan
from .driver import Batch, Outputs, chunk_records, run_batch
from .fingerprint import fingerprint, require_same_across_processes
from .kernel import LANE_AXIS, KernelSpec, ParamsLayout, Shared, build_program
from .memory import check_host_memory, lane_bytes, lanes_per_batch
from .result import SweepResult
from .status import StatusRules, classify

__all__ = ["kernel_spec", "shared_inputs", "sweep"]

Params = Any
Factory = Callable[..., optax.GradientTransformation]


def sweep(
    loss_fn: Callable[..., jax.Array],
    init: Params | Callable[[jax.Array], Params],
    optimizer: Factory | Mapping[str, Factory],
    learning_rates: Any,
    *,
    steps: int,
    args: tuple = (),
    grad_fn: Callable[..., tuple[jax.Array, Params]] | None = None,
    seeds: int | Sequence[int] | None = None,
    hyperparams: Mapping[str, Sequence[float]] | None = None,
    schedule: Callable[[jax.Array], jax.Array] | None = None,
    batch_size: int | None = None,
    eval_fn: Callable[..., jax.Array] | None = None,
    eval_args: tuple = (),
    record_every: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = False,
    early_stop: bool = False,
    max_lanes_per_batch: int | None = None,
    unroll: int = 1,
    rules: StatusRules | None = None,
    keep_params: bool = True,
    lanes_last: bool | None = None,
    checkpoint: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> SweepResult:
    r"""Trains every (optimizer, seed, hyperparameters, learning rate) lane and classifies each run.

    Lanes are ordered optimizer (outer) x seed x each hyperparameter (in the order of
    ``hyperparams``) x learning rate (inner). All lanes of one optimizer run in one
    compiled program that calls the factory *inside* the batched function with the
    lane's traced learning rate and hyperparameters, ``factory(lr, **{name: value})``,
    so a second sweep with new values, the same shapes and the same ``loss_fn``/
    ``grad_fn``/factory objects reuses the compiled program (no recompilation). Each
    step is :func:`jaxopt_lessons.train.train_step`, the update of
    :func:`jaxopt_lessons.fit`, so lane ``i`` equals
    ``fit(loss_fn, start_i, factory(lr_i, **hp_i), steps=steps)`` (with ``batch_size``:
    ``fit(..., batch_size=batch_size, key=jax.random.key(seed_i))``).

    **Status rules** (:mod:`jaxopt_lessons.sweeps.status`). Let :math:`L_0` be the initial
    loss, :math:`L_m` the loss before update :math:`m = \lfloor \text{steps}/2 \rfloor`,
    :math:`L_T` the final loss (all on the full training data), :math:`\Delta\theta_t` update
    :math:`t`, and ``rules`` the thresholds (:class:`StatusRules`, defaults in brackets).
    The first rule that holds wins:

    * **diverged**: at some step :math:`t` the (minibatch) loss :math:`L_t` is non-finite or
      exceeds :math:`L_0 + \text{blowup}\cdot\max(|L_0|, \epsilon)` [blowup = 1e3], or the update
      :math:`\Delta\theta_t` (hence the new parameters) is non-finite. ``diverged_at = t``
      and the lane is *frozen* at :math:`\theta_t` (its parameters stop changing,
      ``jnp.where`` per lane), so its NaNs never reach anything else;
      its later records repeat :math:`L(\theta_t)` and ``final_loss`` is :math:`L(\theta_t)`.
    * **unstable**: the loss spiked, :math:`\max_t L_t > L_0 + \text{spike}\cdot\max(|L_0|,
      \epsilon)` [spike = 10], and did not come back: :math:`L_T \ge 0.9\,L_0` (a blow-up below
      the divergence limit that collapsed, e.g. to chance level).
    * **oscillating**: the parameters flip: in at least ``flip_fraction`` [0.5] of the
      second-half steps successive updates point against each other,
      :math:`\langle\Delta\theta_t, \Delta\theta_{t-1}\rangle < 0` (negative cosine); the
      flips have not died out, :math:`\|\Delta\theta_{\text{last}}\| >
      \text{settle\_ratio}\cdot\max_t\|\Delta\theta_t\|` [0.1]; and the loss does not
      fall over the second half, :math:`L_m - L_T \le \text{tol}` with
      :math:`\text{tol} = \text{plateau\_rtol}\cdot|L_0 - L_T|` [1e-2] plus 8 ulps.
      (Plain SGD on :math:`x^2 + 10` with lr 1.0 keeps the loss at 35 while x flips ±5.)
    * **stalled**: the parameters never changed (every update rounded away, e.g. lr 1e-9
      in float32) or the loss ended no lower than it started, :math:`L_T \ge L_0`.
    * **converged**: the loss plateaued, :math:`|L_m - L_T| \le \text{tol}`, and the
      updates died out, :math:`\|\Delta\theta_{\text{last}}\| \le
      \text{settle\_ratio}\cdot\max_t\|\Delta\theta_t\|` (with ``batch_size`` the
      updates carry minibatch noise and never die out: the plateau alone decides).
    * **slow**: everything else: the loss was still falling by more than 1% of the
      run's total change in the second half, or the updates did not shrink.

    Plain SGD on :math:`x^2 + 10` from x = 5 for 50 steps gives lr 0.001 slow, 0.1 and
    0.5 converged, 1.0 oscillating, 1.05 diverged (at step 39). The statistics behind
    the rules are accumulated inside the scan; the rules are applied after it (so
    thresholds other than ``blowup`` never trigger a recompilation).

    **Layouts.** ``lanes_last=None`` (default) picks the layout from the loss: when one
    lane's step does little matrix work (at most
    :data:`jaxopt_lessons.sweeps.checks.LANES_LAST_MAX_MACS` multiply-adds in dot
    products, e.g. the seed's XOR net or a small MLP) the step is re-emitted with the
    lane axis *last* (:func:`jaxopt_lessons.sweeps.lanes_last.vmap_last`: every
    operation one vectorised loop over contiguous lanes); otherwise ``jax.vmap``'s
    batched matrix products win. ``True``/``False`` force lanes-last / ``vmap``. Any
    loss and any optimizer run in both; results agree to float rounding.

    **Memory.** Records cost ``itemsize * ceil(steps / record_every)`` bytes per lane on
    the host (twice with ``eval_fn``) plus the final parameters (``keep_params``). On the
    device a lane needs about twice its carry plus the intermediates of one
    loss-and-gradient evaluation (:func:`jaxopt_lessons.sweeps.memory.lane_bytes`,
    traced, never compiled). Lanes run in batches of at most ``max_lanes_per_batch``;
    the default fits half the free device memory and, on CPU devices, a cache-sized
    working set (at most 512 lanes and 128 MiB of that estimate per device:
    :func:`jaxopt_lessons.sweeps.memory.lanes_per_batch`), and splits the lanes into
    batches of equal size. A batch holds at least two lanes per device (padded).

    **Long runs.** The scan runs in up to ~32 chunks (a multiple of ``record_every``
    steps each; steps past ``steps`` in the last chunk are masked out, so chunking never
    changes results). Between chunks ``progress=True`` updates a tqdm bar (lane-steps/s,
    diverged count) and Ctrl-C stops cleanly: the running chunk finishes, the bar is
    closed and :class:`KeyboardInterrupt` is re-raised carrying the lanes and steps done so
    far as ``error.partial`` (a :class:`SweepResult` with ``complete=False``; lanes cut short
    are ``"incomplete"``); with ``checkpoint`` nothing but the running chunk is lost. With
    ``early_stop=True`` a batch
    stops after the first chunk in which every lane is diverged or converged by the rule
    above applied to that chunk; its later records repeat the last loss, its
    non-diverged lanes are marked ``"converged"``, and ``stopped_at`` gives the steps run.

    Sharding: lanes are spread over ``devices`` (default ``jax.devices()``) along a 1-D
    ``jax.sharding.Mesh``; each batch is padded to a multiple of the device count
    (padding lanes are dropped). The library never changes XLA flags
    (:func:`jaxopt_lessons.use_cpu_cores` is for scripts). See "Batching and devices".

    **Batching and devices.** A lane's numbers depend on its inputs and on the compiled
    program that runs it: the layout, the number of devices and the lanes per device.
    Runs that compile the same program give bit-identical results, whatever the lane's
    neighbours or position in the batch, the padding lanes, the chunks, a resumed
    checkpoint, a fresh process, or a ``jax.distributed`` run over the same number of
    devices (tested). Another device count or another number of lanes per device
    (``max_lanes_per_batch``, or the default, which depends on the number of lanes, so
    adding a learning rate can change it) compiles another program, which XLA may optimise
    differently: it may sum a large array in another order (a loss's mean over 100
    examples rounds differently at 64 lanes per device than at 32), or, over several
    devices, rewrite a division differently (Adam's bias correction under ``jax.vmap``).
    Each such change is about one rounding per step: over 200 steps on the XOR net and
    linear regression it moved losses and parameters by at most 2e-4 relative and changed
    no status (tested); near the edge of stability it grows like any perturbation.

    Args:
      loss_fn: scalar loss ``loss_fn(params, *args)``.
      init: the starting parameters (a pytree of arrays, shared by all lanes) or a
        function ``key -> params`` called with ``jax.random.key(seed)`` for each seed.
      optimizer: an optimizer *factory* ``learning_rate -> GradientTransformation``
        (``optax.adam``, ``functools.partial(optax.sgd, momentum=0.9)``,
        ``jaxopt_lessons.optim.adam``), or a mapping name -> factory to sweep optimizers.
      learning_rates: 1-D array of finite positive learning rates (each representable in
        the parameters' dtype).
      steps: updates per lane (> 0).
      args: extra arguments of the loss, shared by every lane (e.g. ``(x, y)``); with
        ``batch_size`` every array has a leading example axis.
      grad_fn: ``grad_fn(params, *args) -> (loss, grads)``; default
        ``jax.value_and_grad(loss_fn)``.
      seeds: with a function ``init``: a count ``n`` (seeds ``0..n-1``) or a list of
        non-negative ints (default: seed 0). Must be ``None`` with a pytree ``init``.
      hyperparams: name -> values, each passed to every factory as a keyword with the
        lane's (traced) value, ``factory(lr, momentum=m)``; lanes are the product of all
        values. New values never recompile.
      schedule: ``t -> multiplier``: the lane's learning rate at step ``t`` is
        ``lr * schedule(t)`` (e.g. ``optax.warmup_cosine_decay_schedule(0.0, 1.0, 100,
        steps)``); the factory receives it as an optax schedule.
      batch_size: minibatches of this many examples: each step takes the next
        ``batch_size`` examples of a per-epoch random permutation drawn inside the
        compiled scan from ``jax.random.key(seed)`` (seed 0 for a pytree ``init``), so
        every lane with the same seed sees the same batches
        (:mod:`jaxopt_lessons.batching`); the incomplete last batch of an epoch is
        dropped. Records, ``final_loss`` and the status statistics use the full ``args``.
      eval_fn: ``eval_fn(params, *eval_args) -> scalar``, a held-out metric evaluated at
        every record (``eval_losses``) and at the end (``final_eval``); ``best()`` and
        ``summary()`` then rank by it.
      eval_args: the extra arguments of ``eval_fn``.
      record_every: record the loss every this many steps (default: at most 1,000
        records per lane, ``ceil(steps / 1000)``; with ``batch_size`` at least one epoch,
        ``n_examples // batch_size`` steps, since a record evaluates the full data).
      devices: devices to shard lanes over (default ``jax.devices()``).
      progress: show a tqdm progress bar.
      early_stop: stop a batch once every lane is converged or diverged (see above).
      max_lanes_per_batch: largest batch of lanes run at once (rounded down to a multiple
        of the device count, at least two lanes per device); default from the memory estimate.
      unroll: ``lax.scan`` unroll factor of the inner loop (speed only).
      rules: status thresholds, default ``StatusRules()``.
      keep_params: return every lane's final parameters in ``SweepResult.params``.
      lanes_last: the layout (see above): ``None`` automatic, ``True`` lanes last,
        ``False`` ``jax.vmap``.
      checkpoint: a folder that keeps the sweep's progress: each finished batch, and the
        running batch's lane state every ``driver.SAVE_EVERY_SECONDS`` (10 s) and on Ctrl-C
        (:mod:`jaxopt_lessons.sweeps.checkpoint`); calling ``sweep`` again with the same
        inputs resumes there and returns a result bit-identical to an uninterrupted run.
      overwrite: with ``checkpoint``, start afresh when the folder holds a sweep with
        other inputs (default: that is an error naming what differs).

    Returns:
      A :class:`SweepResult`, flat per lane.

    Raises:
      ValueError, TypeError: on bad arguments, before anything is compiled.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> result = sweep(lambda x: x ** 2 + 10.0, jnp.array(5.0), optax.sgd,
      ...                [0.001, 0.1, 0.5, 1.0, 1.05], steps=50)
      >>> result.status.tolist()
      ['slow', 'converged', 'converged', 'oscillating', 'diverged']
    """
    plan = make_plan(loss_fn, init, optimizer, learning_rates, steps=steps, args=args, grad_fn=grad_fn,
                     seeds=seeds, record_every=record_every, devices=devices, unroll=unroll, rules=rules,
                     keep_params=keep_params, lanes_last=lanes_last, hyperparams=hyperparams, schedule=schedule,
                     batch_size=batch_size, eval_fn=eval_fn, eval_args=eval_args)
    if max_lanes_per_batch is not None:
        max_lanes_per_batch = check_positive_int(max_lanes_per_batch, "max_lanes_per_batch")
    components = fingerprint(plan, keep_params=plan.keep_params) if checkpoint or jax.process_count() > 1 else {}
    require_same_across_processes(components)
    saved = None if checkpoint is None else Checkpoint(checkpoint, components, overwrite=bool(overwrite))
    if saved is not None and jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxopt_lessons: checkpoint opened")  # process 0 wrote or removed
        require_same_across_processes(saved.state(), advice=(
            f"they see different contents in the checkpoint folder {saved.path}: it must be on a file system "
            "every process sees (not a machine's local disk), and every process must pass the same path"))
    outputs = _outputs(plan)
    shared = shared_inputs(plan)
    from tqdm.auto import tqdm

    bar = tqdm(total=outputs.losses.shape[0] * plan.steps, unit="lane-step", unit_scale=True, disable=not progress,
               desc="sweep", dynamic_ncols=True)
    try:
        for spec, batch in _batches(plan, max_lanes_per_batch, saved, early_stop):
            bar.set_description(f"sweep {outputs_name(plan, batch)}")
            run_batch(build_program(spec), spec, batch, shared, outputs, dtype=plan.dtype, bar=bar,
                      early_stop=early_stop, rules=plan.rules, keep_params=plan.keep_params, checkpoint=saved)
    except KeyboardInterrupt as interrupt:
        interrupt.partial = _assemble(plan, outputs, complete=False)  # type: ignore[attr-defined]
        raise
    finally:
        bar.close()
    return _assemble(plan, outputs, complete=True)


def outputs_name(plan: SweepPlan, batch: Batch) -> str:
    """The optimizer name of ``batch`` (for the progress bar)."""
    return list(plan.factories)[batch.where.start // plan.lanes_per_optimizer]


def _outputs(plan: SweepPlan) -> Outputs:
    """Empty host results for every lane of ``plan`` (checked against the free host memory first)."""
    loss_dtype = np.dtype(jax.eval_shape(plan.loss_fn, plan.example, *plan.args).dtype)
    eval_dtype = None
    if plan.eval_fn is not None:
        eval_dtype = np.dtype(jax.eval_shape(plan.eval_fn, plan.example, *plan.eval_args).dtype)
    n_lanes = plan.lanes_per_optimizer * len(plan.factories)
    check_host_memory(n_lanes, plan.n_records, loss_dtype, plan.example, plan.keep_params)
    layout = ParamsLayout.of(plan.example)
    flat = (sum(math.prod(shape) for shape in layout.shapes), np.dtype(jnp.result_type(*layout.dtypes)))
    return Outputs(n_lanes, plan.n_records, loss_dtype, eval_dtype, flat if plan.keep_params else None)


def _batches(plan: SweepPlan, requested: int | None, saved: Checkpoint | None,
             early_stop: bool) -> Iterator[tuple[KernelSpec, Batch]]:
    """Every batch of every optimizer, in lane order, with its compiled program's settings."""
    number = 0
    for index, (name, factory) in enumerate(plan.factories.items()):
        spec = kernel_spec(plan, factory, early_stop=early_stop)
        per_lane = lane_bytes(spec, plan.example, plan.args, list(plan.hyperparams), plan.dtype)
        size = lanes_per_batch(requested, plan.lanes_per_optimizer, plan.devices, per_lane)
        size = size if saved is None else saved.lanes_per_batch(name, size)
        offset = index * plan.lanes_per_optimizer
        for first in range(0, plan.lanes_per_optimizer, size):
            rows = slice(first, min(first + size, plan.lanes_per_optimizer))
            lanes = {key: values[rows] for key, values in plan.grid.items()}
            yield spec, Batch(number, slice(offset + rows.start, offset + rows.stop), lanes, size)
            number += 1


def kernel_spec(plan: SweepPlan, factory: Factory, *, early_stop: bool = False) -> KernelSpec:
    """The compiled program's settings for one optimizer of ``plan`` (``early_stop`` needs every chunk's loss)."""
    return KernelSpec(
        loss_fn=plan.loss_fn, grad_fn=plan.grad_fn, factory=factory, schedule=plan.schedule, eval_fn=plan.eval_fn,
        steps=plan.steps, record_every=plan.record_every, chunk_records=chunk_records(plan.n_records),
        unroll=plan.unroll, blowup=float(plan.rules.blowup), batch=plan.batch, layout=plan.layout,
        devices=plan.devices, params=ParamsLayout.of(plan.example, flat=plan.layout == "lanes_last"),
        end_loss_every_chunk=early_stop,
    )


def shared_inputs(plan: SweepPlan) -> Shared:
    """The data, each seed's start and batch-order key, replicated on every device.

    ``init`` runs op by op, once per seed: its random draws are then primitives JAX has
    compiled once per shape for the whole process, where a ``jit(vmap(init))`` of every
    new ``init`` function compiled the unrolled random-number generator again (about
    0.7-2 s per sweep on 2 CPU cores).
    """
    seeds = [int(s) for s in (plan.seeds if plan.seeds is not None else [0])]
    if plan.seeds is None:
        seed_params = jax.tree_util.tree_map(lambda p: np.asarray(p)[None], plan.init)
    else:
        starts = [plan.init(jax.random.key(seed)) for seed in seeds]
        seed_params = jax.tree_util.tree_map(lambda *leaves: np.stack([np.asarray(x) for x in leaves]), *starts)
    keys = np.stack([np.asarray(jax.random.key_data(jax.random.key(seed))) for seed in seeds])
    replicated = NamedSharding(Mesh(np.asarray(plan.devices, dtype=object), (LANE_AXIS,)), PartitionSpec())
    return jax.device_put(Shared(plan.args, plan.eval_args, seed_params, keys), replicated)


def _assemble(plan: SweepPlan, outputs: Outputs, *, complete: bool) -> SweepResult:
    """The :class:`SweepResult` of ``outputs``: lane labels, statuses, parameters.

    An incomplete result (an interrupted sweep) holds the lanes that ran at least one
    chunk (a prefix of the lane order); a lane stopped before ``steps`` without
    diverging is ``"incomplete"``.
    """
    n = int(np.sum(outputs.steps_run > 0)) if not complete else outputs.losses.shape[0]
    arrays = {name: value[:n] for name, value in outputs.arrays.items()}
    if not complete:  # lanes cut short: their last record stands for the final value
        for final, records in (("final_loss", "losses"), ("final_eval", "eval_losses")):
            if final in arrays:
                arrays[final] = np.where(np.isnan(arrays[final]), _last_finite(arrays[records]), arrays[final])
    stats = {name[6:]: value for name, value in arrays.items() if name.startswith("stats.")}
    steps_run = arrays["steps_run"]
    applied = stats.pop("applied", np.zeros(n, np.int64)).astype(np.int64)
    diverged_at = np.where(applied < steps_run, applied, -1)
    status = classify(loss0=stats.get("loss0", np.zeros(n)), loss_mid=stats.get("loss_mid", np.zeros(n)),
                      final_loss=arrays["final_loss"], flips_window=stats.get("flips_window", np.zeros(n)),
                      max_sq_update=stats.get("max_sq_update", np.zeros(n)),
                      last_sq_update=stats.get("last_sq_update", np.zeros(n)), diverged_at=diverged_at,
                      steps=plan.steps, rules=plan.rules, peak_loss=stats.get("peak_loss"),
                      minibatches=plan.batch is not None)
    # an early stop happens once every lane of the batch settled: the still-moving ones converged
    stopped = (steps_run < plan.steps) & (diverged_at < 0)
    status = np.where(stopped & np.isin(status, ("slow", "oscillating")), "converged", status)
    if not complete:
        status = np.where(stopped, "incomplete", status)
    params = None
    if plan.keep_params:
        params = ParamsLayout.of(plan.example).unravel_lanes(arrays["params"])
    grid, n_optimizers = plan.grid, len(plan.factories)
    seeds = np.asarray(plan.seeds if plan.seeds is not None else [-1], np.int64)[grid["seed_slot"]]
    return SweepResult(
        learning_rates=np.tile(grid["learning_rate"], n_optimizers)[:n],
        seeds=np.tile(seeds, n_optimizers)[:n],
        optimizers=np.repeat(np.asarray(list(plan.factories)), plan.lanes_per_optimizer)[:n],
        losses=arrays["losses"],
        final_loss=arrays["final_loss"],
        status=status.astype("<U11"),
        diverged_at=diverged_at,
        record_every=plan.record_every,
        steps=plan.steps,
        stopped_at=outputs.stopped_at if complete else int(steps_run.max(initial=0)),
        params=params,
        stats=stats,
        hyperparams={name: np.tile(grid[name], n_optimizers)[:n] for name in plan.hyperparams},
        eval_losses=arrays.get("eval_losses"),
        final_eval=arrays.get("final_eval"),
        complete=complete,
        steps_run=steps_run,
    )


def _last_finite(records: np.ndarray) -> np.ndarray:
    """Each row's last non-NaN record (NaN for a row without one)."""
    reached = ~np.isnan(records)
    last = records.shape[1] - 1 - np.argmax(reached[:, ::-1], axis=1)
    return np.where(reached.any(axis=1), records[np.arange(records.shape[0]), last], np.nan)
