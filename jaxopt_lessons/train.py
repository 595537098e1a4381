"""Training: the whole optimisation loop as one compiled ``lax.scan``.

``fit`` runs ``steps`` updates of an optax optimizer from ``params``. The loss is
recorded *before* each recorded update, like the seed notebook's loop
(``loss = ...; loss_history.append(loss); w = w - lr * dw``), every
``record_every`` steps; ``final_loss`` is the loss at the final parameters.

With ``batch_size`` each step trains on the next minibatch of a per-epoch random
permutation (:mod:`jaxopt_lessons.batching`), drawn inside the compiled loop; the
records and ``final_loss`` stay on the full data. With ``learning_rate`` the
optimizer is a factory built inside the compiled loop, so new rates (and a
``schedule``) never recompile, exactly as a lane of :func:`jaxopt_lessons.sweep`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._cache import cache_when_hashable
from ._validate import (
    check_args,
    check_loss_and_grad,
    check_optimizer,
    check_optimizer_factory,
    check_positive_int,
    fn_name,
)
from .batching import check_batch_size, epoch_batches, take

Params = Any
GradFn = Callable[..., tuple[jax.Array, Params]]
Factory = Callable[..., optax.GradientTransformation]


class Trajectory(NamedTuple):
    """The result of :func:`fit`.

    Attributes:
      params: the final parameters (after ``steps`` updates).
      losses: ``(n_records,)`` losses, ``losses[k]`` at the parameters before update
        ``k * record_every`` (``n_records = ceil(steps / record_every)``), on the full
        ``args`` (also with minibatches).
      final_loss: the loss at ``params``, on the full ``args``.
      steps: the number of updates.
      params_history: with ``track_params``, a pytree like ``params`` with a leading
        ``n_records`` axis holding the parameters at which each loss was recorded; else ``None``.
      eval_losses: with ``eval_fn``, ``(n_records,)`` values of ``eval_fn(params, *eval_args)``
        at the same parameters as ``losses``; else ``None``.
      final_eval: with ``eval_fn``, its value at ``params``; else ``None``.
    """

    params: Params
    losses: jax.Array
    final_loss: jax.Array
    steps: int
    params_history: Params | None = None
    eval_losses: jax.Array | None = None
    final_eval: jax.Array | None = None


def train_step(
    grad_fn: GradFn,
    optimizer: optax.GradientTransformation,
    params: Params,
    opt_state: optax.OptState,
    args: tuple,
) -> tuple[Params, optax.OptState, jax.Array]:
    r"""One optimisation step: loss and gradient at ``params``, then the optax update.

    :math:`(\ell, g) = \text{grad\_fn}(\theta, \text{args})`,
    :math:`(u, s) = \text{optimizer.update}(g, s, \theta)`, :math:`\theta \leftarrow \theta + u`.

    Returns:
      ``(new_params, new_opt_state, loss_before_update)``.
    """
    loss, grads = grad_fn(params, *args)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def fit(
    loss_fn: Callable[..., jax.Array],
    params: Params,
    optimizer: optax.GradientTransformation | Factory,
    *,
    steps: int,
    args: tuple = (),
    grad_fn: GradFn | None = None,
    record_every: int = 1,
    track_params: bool = False,
    unroll: int = 1,
    learning_rate: float | None = None,
    schedule: Callable[[jax.Array], jax.Array] | None = None,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    eval_fn: Callable[..., jax.Array] | None = None,
    eval_args: tuple = (),
) -> Trajectory:
    r"""Minimises ``loss_fn(params, *args)`` with ``optimizer`` for ``steps`` steps.

    The loop is one jitted ``lax.scan`` (a scan of ``record_every``-step chunks when
    ``record_every > 1``), so memory is ``O(steps / record_every)`` and nothing returns
    to Python between steps. The compiled loop is cached: calling ``fit`` again with
    the same ``loss_fn``, ``grad_fn``, ``optimizer`` (and ``schedule``, ``eval_fn``)
    objects and shapes does not recompile; new ``learning_rate``, ``key`` and data
    values never do.

    **Optimizer.** Either a built ``optax.GradientTransformation`` (``optax.sgd(0.1)``),
    or a factory with ``learning_rate=``: ``fit(loss, p, optax.adam, learning_rate=1e-3)``
    builds ``optax.adam(lr)`` inside the compiled loop with a traced ``lr``, as a lane of
    :func:`jaxopt_lessons.sweep` does. Other hyperparameters go into the factory as
    keywords, ``functools.partial(optax.sgd, momentum=0.9)``. With ``schedule`` (a
    factory only) the rate at step :math:`t` is :math:`\text{lr}\cdot\text{schedule}(t)`:
    ``fit(..., optax.adam, learning_rate=lr, schedule=unit)`` equals
    ``fit(..., optax.adam(lambda t: lr * unit(t)))``.

    **Minibatches.** With ``batch_size=B`` and ``key=k`` every array in ``args`` has a
    leading example axis of length :math:`N`; step :math:`t` trains on
    :math:`\pi_e[(t \bmod s)B : (t \bmod s)B + B]`, :math:`s = \lfloor N/B \rfloor`,
    :math:`e = \lfloor t/s \rfloor`, where :math:`\pi_e` is the epoch's permutation
    ``jaxopt_lessons.batching.epoch_batches(k, e, N, B)`` (the incomplete last batch is
    dropped). The permutation is drawn inside the compiled scan at each epoch boundary
    (``lax.cond``). Lane (optimizer, seed ``s``, lr) of ``sweep(..., batch_size=B)``
    equals ``fit(..., batch_size=B, key=jax.random.key(s))``.

    Args:
      loss_fn: a pure scalar loss ``loss_fn(params, *args)``.
      params: the starting parameters (a pytree of float arrays).
      optimizer: an ``optax.GradientTransformation`` (e.g. ``optax.sgd(0.1)`` or
        ``jaxopt_lessons.optim.adam(1e-3)``), or with ``learning_rate`` a factory
        ``learning_rate -> GradientTransformation`` (``optax.adam``).
      steps: number of updates (> 0).
      args: extra arguments of ``loss_fn`` and ``grad_fn`` (e.g. ``(x, y)``).
      grad_fn: ``grad_fn(params, *args) -> (loss, grads)``, e.g. a hand-derived
        gradient from :mod:`jaxopt_lessons.manual`; default ``jax.value_and_grad(loss_fn)``.
      record_every: record the loss every this many steps (1 <= record_every <= steps).
      track_params: also return the parameters at each record.
      unroll: ``lax.scan`` unroll factor for the inner loop (speed only).
      learning_rate: with a factory ``optimizer``: the (peak) learning rate, finite and > 0.
      schedule: with ``learning_rate``: ``t -> multiplier`` of the learning rate, e.g.
        ``optax.warmup_cosine_decay_schedule(0.0, 1.0, 100, steps)``.
      batch_size: train on minibatches of this many examples (needs ``key``).
      key: the ``jax.random`` key of the batch order (``jax.random.key(seed)``);
        only with ``batch_size``.
      eval_fn: ``eval_fn(params, *eval_args) -> scalar``, a held-out metric recorded
        with every loss (``eval_losses``) and at the end (``final_eval``).
      eval_args: the extra arguments of ``eval_fn``.

    Returns:
      A :class:`Trajectory`.

    Raises:
      ValueError, TypeError: on bad arguments, before anything is compiled.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> traj = fit(lambda x: x ** 2 + 10.0, jnp.array(5.0), optax.sgd(0.1), steps=20)
      >>> round(float(traj.params), 4)
      0.0576
      >>> same = fit(lambda x: x ** 2 + 10.0, jnp.array(5.0), optax.sgd, learning_rate=0.1, steps=20)
      >>> round(float(same.params), 4)
      0.0576
    """
    steps = check_positive_int(steps, "steps")
    record_every = check_positive_int(record_every, "record_every")
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every}")
    unroll = check_positive_int(unroll, "unroll")
    args = check_args(args)
    params = _check_params(params)
    batch = check_batch_size(batch_size, args)
    key = _check_key(key, batch)
    check_loss_and_grad(loss_fn, grad_fn, params, args if batch is None else _minibatch_example(args, batch[0]))
    eval_args = _check_eval(eval_fn, eval_args, params)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    factory, rate = _check_optimizer(optimizer, learning_rate, schedule, params, dtype)
    run = _compiled_loop(loss_fn, grad_fn, optimizer if factory is None else None, factory, schedule, steps,
                         record_every, bool(track_params), unroll, batch, eval_fn)
    out = run(params, args, eval_args, rate, key)
    return Trajectory(out["params"], out["losses"], out["final_loss"], steps,
                      out["history"] if track_params else None, out["evals"], out["final_eval"])


# --- checks ---------------------------------------------------------------------------


def _check_params(params: Any) -> Any:
    """``params`` with array leaves; a model object (non-array leaves) is answered clearly."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if not hasattr(leaf, "shape") and not isinstance(leaf, (int, float, complex, np.number)):
            raise TypeError(f"params must be a pytree of arrays; leaf {jax.tree_util.keystr(path) or '<root>'} is "
                            f"a {type(leaf).__name__} (a model object such as an Equinox module?): pass its array "
                            "part, e.g. params, static = eqx.partition(model, eqx.is_inexact_array), and rebuild "
                            "the model inside loss_fn with eqx.combine(params, static)")
    return jax.tree_util.tree_map(jnp.asarray, params)


def _check_key(key: Any, batch: tuple[int, int] | None) -> jax.Array | None:
    """A typed ``jax.random`` key (legacy ``uint32[2]`` keys are wrapped), only with minibatches."""
    if batch is None:
        if key is not None:
            raise ValueError("key is the batch order of minibatches: pass it together with batch_size")
        return None
    if key is None:
        raise ValueError("batch_size needs key=jax.random.key(seed): the key that draws the batch order")
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.shape == (2,):
        return jnp.asarray(key)  # a legacy jax.random.PRNGKey: wrapped inside the compiled loop
    raise TypeError(f"key must be one jax.random key such as jax.random.key(0), got "
                    f"{type(key).__name__} with shape {getattr(key, 'shape', None)}")


def _check_eval(eval_fn: Any, eval_args: Any, params: Any) -> tuple:
    if eval_fn is None:
        if eval_args != ():
            raise ValueError("eval_args given without eval_fn: pass eval_fn(params, *eval_args) -> scalar")
        return ()
    if not callable(eval_fn):
        raise TypeError(f"eval_fn must be callable as eval_fn(params, *eval_args), got {type(eval_fn).__name__}")
    eval_args = check_args(eval_args)
    check_loss_and_grad(eval_fn, None, params, eval_args)
    return eval_args


def _minibatch_example(args: tuple, batch_size: int) -> tuple:
    """``args`` as one minibatch sees them, abstract (no computation, no compile)."""
    return jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct((batch_size, *jnp.shape(a)[1:]), jnp.result_type(a)), args)


def _build(optimizer: Any, factory: Any, schedule: Any, rate: Any) -> optax.GradientTransformation:
    """The optimizer itself, or ``factory(rate)`` / ``factory(t -> rate * schedule(t))``."""
    if factory is None:
        return optimizer
    if schedule is not None:
        peak = rate
        rate = lambda count: peak * schedule(count)  # noqa: E731
    return factory(rate)


def _check_optimizer(optimizer: Any, learning_rate: Any, schedule: Any, params: Any,
                     dtype: Any) -> tuple[Factory | None, jax.Array | None]:
    """``(factory or None, the rate as a 0-d array of the parameters' dtype or None)``."""
    if learning_rate is None:
        if schedule is not None:
            raise ValueError("schedule needs a factory optimizer and learning_rate=, e.g. "
                             "fit(..., optax.adam, learning_rate=1e-3, schedule=unit_schedule)")
        try:
            check_optimizer(optimizer)
        except TypeError as error:
            if callable(optimizer):
                raise TypeError(f"{error}; or pass the factory with fit(..., learning_rate=lr)") from None
            raise
        return None, None
    if isinstance(optimizer, optax.GradientTransformation):
        raise TypeError("learning_rate is for a factory optimizer (fit(..., optax.adam, learning_rate=1e-3)); "
                        "this optimizer is already built with its own rate: drop learning_rate")
    factory = check_optimizer_factory(optimizer)
    try:
        rate = float(learning_rate)
    except (TypeError, ValueError) as error:
        raise TypeError(f"learning_rate must be a float, got {learning_rate!r}") from error
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
    with np.errstate(over="ignore", under="ignore"):
        cast = np.asarray(rate, dtype=dtype)
    if not (np.isfinite(cast) and cast > 0):
        raise ValueError(f"learning_rate {rate} cannot be represented in the parameters' dtype {np.dtype(dtype)} "
                         f"(it rounds to {float(cast)}); use float64 parameters or another rate")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable step -> multiplier of the learning rate, e.g. "
                        f"optax.cosine_decay_schedule(1.0, steps), got {type(schedule).__name__}")
    scalar = jax.ShapeDtypeStruct((), dtype)
    check_traced_build(lambda p, r: _build(None, factory, schedule, r).init(p), (params, scalar),
                       name=fn_name(factory), caller="fit", where="fit builds it inside the compiled loop",
                       extra=" and schedule" if schedule else "")
    return factory, cast


def check_traced_build(build_and_init: Callable[..., Any], shapes: tuple, *, name: str, caller: str, where: str,
                       extra: str = "") -> None:
    """Builds and initialises an optimizer with a traced learning rate, by ``jax.eval_shape`` (nothing runs).

    Args:
      build_and_init: ``(*shapes) -> optimizer state``, calling the factory on a traced rate.
      shapes: its abstract arguments (``jax.ShapeDtypeStruct`` pytrees).
      name: the optimizer's name, for the message.
      caller: ``"fit"`` or ``"sweep"``, whose ``schedule=`` argument the message names.
      where: where the caller builds the optimizer (why the rate is traced).
      extra: what else is traced (e.g. ``" and traced hyperparameters"``).

    Raises:
      TypeError: the factory needs a concrete rate (e.g. it builds an optax schedule from it:
        the message names ``schedule=`` as the way), or building it fails otherwise.
    """
    try:
        jax.eval_shape(build_and_init, *shapes)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError) as error:
        raise TypeError(f"optimizer {name!r} must accept a traced learning rate ({where}); it needs a concrete "
                        "value. If it builds an optax schedule from the learning rate, pass the schedule's shape as "
                        f"{caller}(..., schedule=unit_schedule) instead (e.g. optax.warmup_cosine_decay_schedule(0.0, "
                        "1.0, warmup, steps)): the rate is then learning_rate * unit_schedule(t). "
                        f"({error})") from error
    except Exception as error:
        raise TypeError(f"optimizer {name!r} must accept a traced learning rate ({where}){extra}; building and "
                        f"initialising it failed: {error}") from error


# --- the compiled loop ----------------------------------------------------------------


@cache_when_hashable(maxsize=64)
def _compiled_loop(loss_fn, grad_fn, optimizer, factory, schedule, steps, record_every, track_params, unroll,
                   batch, eval_fn):
    """A jitted ``(params, args, eval_args, rate, key) -> dict`` for these settings."""
    value_and_grad = grad_fn if grad_fn is not None else jax.value_and_grad(loss_fn)
    n_full, remainder = divmod(steps, record_every)

    def run(params, args, eval_args, rate, key):
        opt = _build(optimizer, factory, schedule, rate)
        if batch is not None and not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.wrap_key_data(key)

        def step(carry, _):
            params, opt_state, order, t = carry
            step_args = args
            if batch is not None:  # a fresh permutation at each epoch boundary
                batch_size, n_examples = batch
                per_epoch = n_examples // batch_size
                order = jax.lax.cond(t % per_epoch == 0,
                                     lambda: epoch_batches(key, t // per_epoch, n_examples, batch_size),
                                     lambda: order)
                step_args = take(args, order[t % per_epoch])
            new_params, opt_state, loss = train_step(value_and_grad, opt, params, opt_state, step_args)
            return (new_params, opt_state, order, t + 1), loss

        def chunk(carry, length):
            params = carry[0]
            if length == 1:
                carry, loss = step(carry, None)
                losses = loss[None]
            else:
                carry, losses = jax.lax.scan(step, carry, None, length=length, unroll=min(unroll, length))
            # full batch: the step's own loss is the full-data loss; minibatches: one extra evaluation
            record = losses[0] if batch is None else loss_fn(params, *args)
            evaluated = None if eval_fn is None else eval_fn(params, *eval_args)
            return carry, (record, evaluated, params if track_params else None)

        order = jnp.zeros((1, 1) if batch is None else (batch[1] // batch[0], batch[0]), jnp.int32)
        carry = (params, opt.init(params), order, jnp.zeros((), jnp.int32))
        carry, records = jax.lax.scan(lambda c, _: chunk(c, record_every), carry, None, length=n_full,
                                      unroll=unroll if record_every == 1 else 1)
        if remainder:
            carry, tail = chunk(carry, remainder)
            records = jax.tree_util.tree_map(lambda h, t: jnp.concatenate([h, t[None]]), records, tail)
        losses, evals, history = records
        final = carry[0]
        return {"params": final, "losses": losses, "final_loss": loss_fn(final, *args), "history": history,
                "evals": evals, "final_eval": None if eval_fn is None else eval_fn(final, *eval_args)}

    return jax.jit(run)
