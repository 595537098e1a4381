r"""Vectorized sweeps: every (optimizer, seed, learning rate) run as a lane of one compiled batch.

``sweep`` answers "which learning rate, and how robust is it?" with hundreds of full
training runs in one ``jit(vmap(lax.scan))`` call per optimizer, lanes sharded over
devices, each lane classified as converged, slow, oscillating or diverged. The per-lane
kernel lives in :mod:`jaxopt_lessons._lanes`, the result type in
:mod:`jaxopt_lessons.sweep_result`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _lanes
from ._lanes import mlp_lanes_last
from ._validate import (
    check_args,
    check_finite_positive,
    check_float_tree,
    check_loss_and_grad,
    check_optimizer_factory,
    check_positive_int,
    check_same_structure,
    fn_name,
)
from .lanes import LanesLast
from .sweep_result import StatusRules, SweepResult, classify

__all__ = ["StatusRules", "SweepResult", "mlp_lanes_last", "sweep"]

Params = Any
Factory = Callable[[Any], optax.GradientTransformation]

_TARGET_CHUNKS = 32  # progress / early-stop / Ctrl-C granularity
_MAX_DEFAULT_RECORDS = 1000
_CPU_LANES_PER_DEVICE = 512  # default batch per CPU device (see _batch_size)
_PROBE_LANES = 3  # lane count of the abstract lanes-last checks
_MIN_LANES_PER_DEVICE = 2  # see _batch_size


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
    record_every: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = False,
    early_stop: bool = False,
    max_lanes_per_batch: int | None = None,
    unroll: int = 1,
    rules: StatusRules | None = None,
    keep_params: bool = True,
    lanes_last: bool | None = None,
) -> SweepResult:
    r"""Trains every (optimizer, seed, learning rate) lane and classifies each run.

    Lanes are ordered optimizer (outer) x seed x learning rate (inner). All lanes of one
    optimizer run in one ``jit(vmap(...))`` program built by calling the factory *inside*
    the vmapped function with the lane's (traced) learning rate, so a second sweep with
    new learning-rate values, the same shapes and the same ``loss_fn``/``grad_fn``/
    factory objects reuses the compiled program (no recompilation). Each step is
    :func:`jaxopt_lessons.train.train_step`, the same update as :func:`jaxopt_lessons.fit`,
    so lane ``i`` equals ``fit(loss_fn, start_i, factory(lr_i), steps=steps)``.

    **Status rules.** Let :math:`L_0` be the initial loss, :math:`L_m` the loss before update
    :math:`m = \lfloor \text{steps}/2 \rfloor`, :math:`L_T` the final loss,
    :math:`\Delta\theta_t` update :math:`t`, and ``rules`` the thresholds
    (:class:`StatusRules`, defaults in brackets):

    * **diverged**: at some step :math:`t` the loss :math:`L_t` is non-finite or exceeds
      :math:`L_0 + \text{blowup}\cdot\max(|L_0|, \epsilon)` [blowup = 1e3], or the update
      :math:`\Delta\theta_t` (hence the new parameters) is non-finite. ``diverged_at = t``
      and the lane is *frozen* at :math:`\theta_t` (its parameters and optimizer state
      stop changing, ``jnp.where`` per lane), so its NaNs never reach anything else;
      its later records repeat :math:`L_t` and ``final_loss`` is :math:`L(\theta_t)`.
    * **oscillating**: the parameters flip: in at least ``flip_fraction`` [0.5] of the
      second-half steps successive updates point against each other,
      :math:`\langle\Delta\theta_t, \Delta\theta_{t-1}\rangle < 0` (negative cosine); the
      flips have not died out, :math:`\|\Delta\theta_{\text{last}}\| >
      \text{settle\_ratio}\cdot\max_t\|\Delta\theta_t\|` [0.1]; and the loss does not
      fall over the second half, :math:`L_m - L_T \le \text{tol}` with
      :math:`\text{tol} = \text{plateau\_rtol}\cdot|L_0 - L_T|` [1e-2] plus 8 ulps.
      (Plain SGD on :math:`x^2 + 10` with lr 1.0 keeps the loss at 35 while x flips ±5.)
    * **converged**: the loss plateaued, :math:`|L_m - L_T| \le \text{tol}`, and the
      updates died out, :math:`\|\Delta\theta_{\text{last}}\| \le
      \text{settle\_ratio}\cdot\max_t\|\Delta\theta_t\|`.
    * **slow**: everything else: the loss was still changing by more than 1% of the
      run's total change in the second half, or the updates did not shrink.

    Plain SGD on :math:`x^2 + 10` from x = 5 for 50 steps gives lr 0.001 slow, 0.1 and
    0.5 converged, 1.0 oscillating, 1.05 diverged (at step 39). The statistics behind
    the rules are accumulated inside the scan; the rules themselves are applied after
    it (so thresholds other than ``blowup`` never trigger a recompilation).

    **Memory.** Records cost ``itemsize * ceil(steps / record_every)`` bytes per lane on
    the host (4 bytes per record in float32, 8 in float64) plus the final parameters
    (``keep_params``) and ~40 bytes of statistics. On the device a lane needs about twice
    its carry (parameters, previous update, optimizer state, ~40 bytes of accumulators)
    plus the intermediates of one loss-and-gradient evaluation (estimated by tracing the
    loss, never compiling; ``jaxopt_lessons._lanes.lane_bytes``). Lanes run in batches of
    at most ``max_lanes_per_batch``; the default fits half the free device memory, and on
    CPU devices at most 512 lanes per device (measured fastest per lane-step on the XOR
    net and on linear regression). Splitting into batches does not change any result: a
    batch holds at least two lanes per device (padded), because XLA compiles a batch of
    one lane to kernels that round differently.

    **Long runs.** The scan runs in up to ~32 chunks (a multiple of ``record_every``
    steps each; steps past ``steps`` in the last chunk are masked out, so chunking never
    changes results). Between chunks ``progress=True`` updates a tqdm bar (lane-steps/s,
    diverged count) and Ctrl-C stops cleanly: the running chunk finishes, the bar is
    closed and :class:`KeyboardInterrupt` is re-raised (no partial result). With
    ``early_stop=True`` a batch stops after the first chunk in which every lane is
    diverged or converged by the rule above applied to that chunk; its later records
    repeat the last loss, its non-diverged lanes are marked ``"converged"``, and
    ``stopped_at`` gives the steps run.

    Sharding: lanes are spread over ``devices`` (default ``jax.devices()``) along a 1-D
    ``jax.sharding.Mesh`` with a ``NamedSharding``; each batch is padded to a multiple
    of the device count (padding lanes are dropped). The library never changes XLA
    flags; entry points that want several CPU devices set them before importing jax.

    Args:
      loss_fn: scalar loss ``loss_fn(params, *args)``.
      init: the starting parameters (a pytree, shared by all lanes) or a function
        ``key -> params`` called with ``jax.random.key(seed)`` for each seed.
      optimizer: an optimizer *factory* ``learning_rate -> GradientTransformation``
        (``optax.adam``, ``functools.partial(optax.sgd, momentum=0.9)``,
        ``jaxopt_lessons.optim.adam``), or a mapping name -> factory to sweep optimizers.
      learning_rates: 1-D array of finite positive learning rates.
      steps: updates per lane (> 0).
      args: extra arguments of the loss, shared by every lane (e.g. ``(x, y)``).
      grad_fn: ``grad_fn(params, *args) -> (loss, grads)``; default
        ``jax.value_and_grad(loss_fn)``.
      seeds: with a function ``init``: a count ``n`` (seeds ``0..n-1``) or a list of
        non-negative ints (default: seed 0). Must be ``None`` with a pytree ``init``.
      record_every: record the loss every this many steps (default: at most 1,000
        records per lane, ``ceil(steps / 1000)``).
      devices: devices to shard lanes over (default ``jax.devices()``).
      progress: show a tqdm progress bar.
      early_stop: stop a batch once every lane is converged or diverged (see above).
      max_lanes_per_batch: largest batch of lanes run at once (rounded down to a multiple
        of the device count, at least two lanes per device); default from the memory estimate.
      unroll: ``lax.scan`` unroll factor of the inner loop (speed only).
      rules: status thresholds, default ``StatusRules()``.
      keep_params: return every lane's final parameters in ``SweepResult.params``.
      lanes_last: the layout. ``True`` runs the fast layout for losses written over a
        trailing lane axis. Nothing is vmapped: ``init`` is still per lane, but
        ``loss_fn`` (and ``grad_fn``) receive parameters whose every leaf has a trailing
        lane axis and return one loss per lane, shape ``(lanes,)`` (e.g. with
        :func:`mlp_lanes_last`); the factory is called once with the vector of learning
        rates, which must broadcast along the trailing axis (true for optax's
        elementwise optimizers: sgd, momentum, adam, adamw, lion; not for global-norm
        clipping or optimizers that reject vector learning rates). Leaves of the
        optimizer state without a trailing lane axis (optax's step count) are shared by
        all lanes. ``False`` forces the generic ``vmap`` layout. ``None`` (default)
        chooses: a ``loss_fn`` that carries a lanes-last twin,
        ``loss_fn.lanes_last = jaxopt_lessons.lanes.LanesLast(loss, grad_fn, accepts)``
        (as :func:`jaxopt_lessons.manual.mlp_loss_fn` losses do, hence the built-in
        ``xor`` and ``moons`` problems), runs that twin lanes-last when no ``grad_fn`` is
        given, the twin ``accepts`` the parameters and data, and every optimizer is a
        known elementwise factory (optax's or :mod:`jaxopt_lessons.optim`'s sgd, adam,
        adamw, lion, nadam, adamax, rmsprop, adagrad, amsgrad, adabelief, yogi, or a
        ``functools.partial`` of one with keyword arguments); everything else runs
        vmapped. With ``True`` an advertised twin is used too (without the optimizer
        check). Either way results equal the vmapped layout's up to float rounding
        (tested; lane statuses equal). On the seed's XOR net (CPU) the lanes-last twin
        with hand-written gradients ran ~2x faster per lane-step than the vmapped layout.

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
    steps = check_positive_int(steps, "steps")
    if steps >= 2**31 - 1:
        raise ValueError(f"steps must be < 2**31 - 1, got {steps}")
    record_every = _check_record_every(record_every, steps)
    learning_rates = check_finite_positive(learning_rates, "learning_rates")
    factories = _check_optimizers(optimizer)
    args = check_args(args)
    devices = _check_devices(devices)
    unroll = check_positive_int(unroll, "unroll")
    rules = _check_rules(rules)
    if max_lanes_per_batch is not None:
        max_lanes_per_batch = check_positive_int(max_lanes_per_batch, "max_lanes_per_batch")
    seed_list, example = _check_init(init, seeds)
    if not (lanes_last is None or isinstance(lanes_last, (bool, np.bool_))):
        raise TypeError(f"lanes_last must be None (automatic), True or False, got {lanes_last!r}")
    twin = getattr(loss_fn, "lanes_last", None) if grad_fn is None else None
    twin = twin if isinstance(twin, LanesLast) else None
    checked = False
    if twin is not None and lanes_last is not False:
        check_loss_and_grad(loss_fn, grad_fn, example, args)  # the user's loss, as the generic path checks it
        checked = True
        if lanes_last is None:
            dtype = jnp.result_type(*jax.tree_util.tree_leaves(example))
            lanes_last = _twin_applies(twin, factories, example, args, float(learning_rates[0]), dtype)
        elif twin.accepts is not None and not twin.accepts(example, args):
            raise ValueError(f"lanes_last=True: the lanes-last twin of loss_fn {fn_name(loss_fn)!r} does not "
                             "accept these parameters and args; pass lanes_last=None or False")
        if lanes_last:
            loss_fn, grad_fn = twin.loss, twin.grad_fn
    lanes_last = bool(lanes_last)
    if lanes_last:
        probe = _check_lanes_last_loss(loss_fn, grad_fn, example, args)
    else:
        if not checked:
            check_loss_and_grad(loss_fn, grad_fn, example, args)
        probe = example
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(example))
    for name, factory in factories.items():
        _check_factory_traces(factory, name, probe, float(learning_rates[0]), dtype, lanes_last)

    n_records = math.ceil(steps / record_every)
    chunk_records = math.ceil(n_records / _TARGET_CHUNKS)
    n_seeds = len(seed_list) if seed_list is not None else 1
    lanes_per_optimizer = n_seeds * learning_rates.size
    n_lanes = lanes_per_optimizer * len(factories)
    loss_dtype = np.dtype(jax.eval_shape(loss_fn, probe, *args).dtype)
    _check_host_memory(n_lanes, n_records, loss_dtype, example if keep_params else None)

    seed_params = _seed_params(init, seed_list)
    lane_sharding, replicated = _lanes.lane_sharding(devices)
    seed_params = jax.device_put(seed_params, replicated)
    args_on_device = jax.device_put(args, replicated)
    seed_index = np.repeat(np.arange(n_seeds, dtype=np.int32), learning_rates.size)
    lane_lrs = np.tile(learning_rates, n_seeds)

    losses = np.empty((n_lanes, n_records), loss_dtype)
    final_loss = np.empty((n_lanes,), loss_dtype)
    stats: dict[str, list[np.ndarray]] = {}
    params_parts: list[Any] = []
    stopped: list[np.ndarray] = []
    from tqdm.auto import tqdm

    bar = tqdm(total=n_lanes * steps, unit="lane-step", unit_scale=True, disable=not progress,
               desc="sweep", dynamic_ncols=True)
    n_diverged = 0
    try:
        for opt_index, (name, factory) in enumerate(factories.items()):
            batch = _batch_size(max_lanes_per_batch, lanes_per_optimizer, devices, loss_fn, grad_fn,
                                factory, example, args, dtype, chunk_records, lanes_last)
            program = _lanes.lane_program(loss_fn, grad_fn, factory, steps, record_every, chunk_records,
                                          unroll, float(rules.blowup), devices, lanes_last)
            bar.set_description(f"sweep {name}")
            for first in range(0, lanes_per_optimizer, batch):
                count = min(batch, lanes_per_optimizer - first)
                lanes = slice(opt_index * lanes_per_optimizer + first, opt_index * lanes_per_optimizer + first + count)
                run = _lanes.run_batch(
                    program, seed_params, args_on_device, _lanes.pad(seed_index[first:first + count], batch),
                    _lanes.pad(lane_lrs[first:first + count].astype(dtype), batch), lane_sharding,
                    steps=steps, record_every=record_every, chunk_records=chunk_records, count=count,
                    losses=losses[lanes], bar=bar, diverged_before=n_diverged, early_stop=early_stop, rules=rules,
                    keep_params=keep_params, lanes_last=lanes_last,
                )
                final_loss[lanes] = run["final_loss"]
                n_diverged += int(np.sum(run["stats"]["diverged_at"] >= 0))
                stopped.append(np.full(count, run["stopped_at"]))
                for key, value in run["stats"].items():
                    stats.setdefault(key, []).append(value)
                if keep_params:
                    params_parts.append(run["params"])
    finally:
        bar.close()

    stats_arrays = {key: np.concatenate(value) for key, value in stats.items()}
    diverged_at = stats_arrays.pop("diverged_at").astype(np.int64)
    stopped_at = np.concatenate(stopped)
    status = classify(
        loss0=stats_arrays["loss0"], loss_mid=stats_arrays["loss_mid"], final_loss=final_loss,
        flips_window=stats_arrays["flips_window"], max_sq_update=stats_arrays["max_sq_update"],
        last_sq_update=stats_arrays["last_sq_update"], diverged_at=diverged_at, steps=steps, rules=rules,
    )
    status = np.where((stopped_at < steps) & (diverged_at < 0), "converged", status).astype("<U11")
    params = None
    if keep_params:
        params = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts), *params_parts)
    names = list(factories)
    return SweepResult(
        learning_rates=np.tile(learning_rates, n_seeds * len(factories)),
        seeds=np.tile(np.repeat(np.asarray(seed_list if seed_list is not None else [-1], np.int64),
                                learning_rates.size), len(factories)),
        optimizers=np.repeat(np.asarray(names), lanes_per_optimizer),
        losses=losses,
        final_loss=final_loss,
        status=status,
        diverged_at=diverged_at,
        record_every=record_every,
        steps=steps,
        stopped_at=int(stopped_at.max()),
        params=params,
        stats=stats_arrays,
    )


def _batch_size(requested, n_lanes, devices, loss_fn, grad_fn, factory, example, args, dtype, chunk_records,
                lanes_last) -> int:
    """Lanes per batch: a multiple of the device count, at most ``requested`` or what fits memory."""
    if requested is None:
        per_lane = _lanes.lane_bytes(loss_fn, grad_fn, factory, example, args, dtype, chunk_records, lanes_last)
        requested = max(1, _lanes.available_bytes(devices) // max(per_lane, 1))
        if all(device.platform == "cpu" for device in devices):
            # Measured on 2 cores: 512 lanes per CPU device run 1.3-5x faster per lane-step than
            # larger batches (XOR net, linear regression); bigger arrays make XLA split every
            # small op over threads, and big batches fall out of cache.
            requested = min(requested, len(devices) * _CPU_LANES_PER_DEVICE)
    n_devices = len(devices)
    per_device = max(1, min(requested, n_lanes) // n_devices)
    per_device = min(per_device, math.ceil(n_lanes / n_devices))
    # One lane per device compiles to other kernels (XLA drops the unit lane axis) whose
    # rounding differs from every larger batch (~1e-6 after 40 Adam steps on the XOR net);
    # with at least two, a lane's results do not depend on its batch (tested bit for bit).
    return max(per_device, _MIN_LANES_PER_DEVICE) * n_devices


# --- input checks --------------------------------------------------------------------


def _check_record_every(record_every: Any, steps: int) -> int:
    if record_every is None:
        return max(1, math.ceil(steps / _MAX_DEFAULT_RECORDS))
    record_every = check_positive_int(record_every, "record_every")
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every}")
    return record_every


def _factory_name(factory: Any) -> str:
    name = fn_name(factory)
    if name.startswith("<"):
        return "optimizer"
    keywords = getattr(factory, "keywords", None)
    if isinstance(factory, functools.partial) and keywords:
        name += "(" + ", ".join(f"{k}={v!r}" for k, v in keywords.items()) + ")"
    return name


def _check_optimizers(optimizer: Any) -> dict[str, Factory]:
    if isinstance(optimizer, Mapping):
        if not optimizer:
            raise ValueError("optimizer mapping must not be empty: give at least one name -> factory entry")
        factories = {}
        for name, factory in optimizer.items():
            if not isinstance(name, str):
                raise TypeError(f"optimizer mapping keys must be str names, got {name!r}")
            factories[name] = check_optimizer_factory(factory, f"optimizer[{name!r}]")
        return factories
    return {_factory_name(optimizer): check_optimizer_factory(optimizer, "optimizer")}


def _check_factory_traces(factory: Factory, name: str, example: Any, learning_rate: float, dtype: Any,
                          lanes_last: bool) -> None:
    """The factory must build a GradientTransformation from a float and from a traced scalar (vector)."""
    try:
        built = factory(learning_rate)
    except Exception as error:
        raise TypeError(f"optimizer {name!r} must be a factory learning_rate -> GradientTransformation; "
                        f"calling it with {learning_rate} failed: {error}") from error
    if not isinstance(built, optax.GradientTransformation):
        raise TypeError(f"optimizer {name!r} must return an optax.GradientTransformation when called with a "
                        f"learning rate, got {type(built).__name__}")
    lr = jax.ShapeDtypeStruct((_PROBE_LANES,) if lanes_last else (), dtype)
    try:
        jax.eval_shape(lambda p, r: factory(r).init(p), example, lr)
    except Exception as error:
        where = ("a vector of learning rates, one per lane (lanes_last=True)" if lanes_last
                 else "a traced learning rate (sweep builds it inside jax.vmap)")
        raise TypeError(f"optimizer {name!r} must accept {where}; building and initialising it failed: "
                        f"{error}") from error


def _elementwise_factories() -> frozenset:
    """Optimizer functions whose update is elementwise, so a vector learning rate keeps lanes apart."""
    from . import optim

    names = ("sgd", "adam", "adamw", "lion", "nadam", "adamax", "rmsprop", "adagrad", "amsgrad", "adabelief", "yogi")
    known = [getattr(optax, name, None) for name in names] + [optim.sgd, optim.adam, optim.adamw, optim.lion]
    return frozenset(fn for fn in known if fn is not None)


def _is_elementwise(factory: Any) -> bool:
    while isinstance(factory, functools.partial):
        if factory.args:  # a positional argument would shift the learning rate
            return False
        factory = factory.func
    try:
        return factory in _elementwise_factories()
    except TypeError:  # unhashable
        return False


def _twin_applies(twin: LanesLast, factories: Mapping[str, Factory], example: Any, args: tuple,
                  learning_rate: float, dtype: Any) -> bool:
    """Whether ``sweep`` may run ``twin`` lanes-last instead of the vmapped loss (automatic choice)."""
    if not all(_is_elementwise(factory) for factory in factories.values()):
        return False
    try:
        if twin.accepts is not None and not twin.accepts(example, args):
            return False
        probe = _check_lanes_last_loss(twin.loss, twin.grad_fn, example, args)
        for name, factory in factories.items():
            _check_factory_traces(factory, name, probe, learning_rate, dtype, True)
    except (TypeError, ValueError):
        return False
    return True


def _check_lanes_last_loss(loss_fn: Callable[..., Any], grad_fn: Any, example: Any, args: tuple) -> Any:
    """Checks a lanes-last loss (and gradient) on params with a trailing lane axis; returns those params."""
    check_float_tree(example, "params")
    probe = jax.tree_util.tree_map(lambda p: jax.ShapeDtypeStruct((*p.shape, _PROBE_LANES), p.dtype), example)
    for fn, what in ((loss_fn, "loss_fn"), (grad_fn, "grad_fn")):
        if fn is None:
            continue
        if not callable(fn):
            raise TypeError(f"{what} must be callable as {what}(params, *args), got {type(fn).__name__}")
        try:
            out = jax.eval_shape(fn, probe, *args)
        except Exception as error:
            raise ValueError(f"{what} {fn_name(fn)!r} failed on parameters with a trailing lane axis "
                             f"(lanes_last=True): {error}") from error
        losses = out if what == "loss_fn" else (out[0] if isinstance(out, tuple) and len(out) == 2 else None)
        if losses is None:
            raise ValueError(f"grad_fn {fn_name(fn)!r} must return (losses, grads), got {type(out).__name__}")
        if tuple(getattr(losses, "shape", ())) != (_PROBE_LANES,):
            raise ValueError(f"with lanes_last=True, {what} {fn_name(fn)!r} must return one loss per lane, "
                             f"shape (lanes,), got shape {getattr(losses, 'shape', None)}")
        if not jnp.issubdtype(losses.dtype, jnp.floating):
            raise TypeError(f"{what} {fn_name(fn)!r} must return floating-point losses, got {losses.dtype}")
        if what == "grad_fn":
            check_same_structure(probe, out[1], expected_name="params", actual_name="grads from grad_fn")
    return probe


def _check_devices(devices: Any) -> tuple[Any, ...]:
    if devices is None:
        return tuple(jax.devices())
    devices = tuple(devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices (default: jax.devices())")
    for device in devices:
        if not isinstance(device, jax.Device):
            raise TypeError(f"devices must hold jax.Device objects (from jax.devices()), got {type(device).__name__}")
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices must not repeat a device, got {devices}")
    return devices


def _check_rules(rules: Any) -> StatusRules:
    if rules is None:
        return StatusRules()
    if not isinstance(rules, StatusRules):
        raise TypeError(f"rules must be a jaxopt_lessons.sweep.StatusRules, got {type(rules).__name__}")
    for field, value in rules._asdict().items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"rules.{field} must be a finite float > 0, got {value!r}")
    return rules


def _check_init(init: Any, seeds: Any) -> tuple[list[int] | None, Any]:
    """Returns ``(seed list or None, abstract example params)``; traces ``init`` once, no compile."""
    if not callable(init):
        if seeds is not None:
            raise ValueError(
                "seeds must be None when init is a params pytree (every lane starts there); "
                "pass init as a function key -> params to give each seed its own start"
            )
        params = jax.tree_util.tree_map(jnp.asarray, init)
        return None, jax.tree_util.tree_map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype), params)
    seed_list = _check_seeds(seeds) if seeds is not None else [0]
    try:
        example = jax.eval_shape(lambda s: init(jax.random.key(s)), jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as error:
        raise TypeError(f"init {fn_name(init)!r} must be a params pytree or a function key -> params; "
                        f"calling it with jax.random.key(0) failed: {error}") from error
    return seed_list, example


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(check_positive_int(seeds, "seeds")))
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise TypeError(f"seeds must be a positive int count or a sequence of ints, got {type(seeds).__name__}")
    seeds = list(np.asarray(seeds).tolist()) if isinstance(seeds, np.ndarray) else list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seeds must hold ints, got {seed!r}")
        if not 0 <= seed < 2**31:
            raise ValueError(f"seeds must be ints in [0, 2**31), got {seed}")
    return [int(seed) for seed in seeds]


def _check_host_memory(n_lanes: int, n_records: int, loss_dtype: np.dtype, example: Any) -> None:
    needed = n_lanes * (n_records * loss_dtype.itemsize + 64)
    if example is not None:
        needed += n_lanes * sum(math.prod(p.shape) * np.dtype(p.dtype).itemsize
                                for p in jax.tree_util.tree_leaves(example))
    available = _lanes.host_available_bytes()
    if needed > 0.8 * available:
        raise ValueError(
            f"the results of {n_lanes} lanes x {n_records} records need {needed / 2**30:.1f} GiB of host memory, "
            f"more than the {available / 2**30:.1f} GiB available: raise record_every, pass keep_params=False "
            "or sweep fewer lanes"
        )


# --- starting parameters -----------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _batched_init(init: Callable[[jax.Array], Params]) -> Callable[[jax.Array], Params]:
    return jax.jit(jax.vmap(lambda seed: init(jax.random.key(seed))))


def _seed_params(init: Any, seed_list: list[int] | None) -> Params:
    """The starting parameters with a leading seed axis (length 1 for a pytree ``init``)."""
    if seed_list is None:
        return jax.tree_util.tree_map(lambda p: np.asarray(p)[None], init)
    seeds = np.asarray(seed_list, dtype=np.int32)
    try:
        batched = _batched_init(init)
    except TypeError:  # unhashable init
        batched = _batched_init.__wrapped__(init)
    return batched(seeds)
