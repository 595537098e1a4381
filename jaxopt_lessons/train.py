"""Training: the whole optimisation loop as one compiled ``lax.scan``.

``fit`` runs ``steps`` updates of an optax optimizer from ``params``. The loss is
recorded *before* each recorded update, like the seed notebook's loop
(``loss = ...; loss_history.append(loss); w = w - lr * dw``), every
``record_every`` steps; ``final_loss`` is the loss at the final parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ._cache import cache_when_hashable
from ._validate import check_args, check_loss_and_grad, check_optimizer, check_positive_int

Params = Any
GradFn = Callable[..., tuple[jax.Array, Params]]


class Trajectory(NamedTuple):
    """The result of :func:`fit`.

    Attributes:
      params: the final parameters (after ``steps`` updates).
      losses: ``(n_records,)`` losses, ``losses[k]`` at the parameters before update
        ``k * record_every`` (``n_records = ceil(steps / record_every)``).
      final_loss: the loss at ``params``.
      steps: the number of updates.
      params_history: with ``track_params``, a pytree like ``params`` with a leading
        ``n_records`` axis holding the parameters at which each loss was recorded; else ``None``.
    """

    params: Params
    losses: jax.Array
    final_loss: jax.Array
    steps: int
    params_history: Params | None = None


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
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    args: tuple = (),
    grad_fn: GradFn | None = None,
    record_every: int = 1,
    track_params: bool = False,
    unroll: int = 1,
) -> Trajectory:
    """Minimises ``loss_fn(params, *args)`` with ``optimizer`` for ``steps`` steps.

    The loop is one jitted ``lax.scan`` (a scan of ``record_every``-step chunks when
    ``record_every > 1``), so memory is ``O(steps / record_every)`` and nothing returns
    to Python between steps. The compiled loop is cached: calling ``fit`` again with
    the same ``loss_fn``, ``grad_fn`` and ``optimizer`` objects and shapes does not recompile.

    Args:
      loss_fn: a pure scalar loss ``loss_fn(params, *args)``.
      params: the starting parameters (a pytree of float arrays).
      optimizer: an ``optax.GradientTransformation`` (e.g. ``optax.sgd(0.1)`` or
        ``jaxopt_lessons.optim.adam(1e-3)``).
      steps: number of updates (> 0).
      args: extra arguments of ``loss_fn`` and ``grad_fn`` (e.g. ``(x, y)``).
      grad_fn: ``grad_fn(params, *args) -> (loss, grads)``, e.g. a hand-derived
        gradient from :mod:`jaxopt_lessons.manual`; default ``jax.value_and_grad(loss_fn)``.
      record_every: record the loss every this many steps (1 <= record_every <= steps).
      track_params: also return the parameters at each record.
      unroll: ``lax.scan`` unroll factor for the inner loop (speed only).

    Returns:
      A :class:`Trajectory`.

    Raises:
      ValueError, TypeError: on bad arguments, before anything is compiled.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> traj = fit(lambda x: x ** 2 + 10.0, jnp.array(5.0), optax.sgd(0.1), steps=20)
      >>> round(float(traj.params), 4)
      0.0576
    """
    steps = check_positive_int(steps, "steps")
    record_every = check_positive_int(record_every, "record_every")
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every}")
    unroll = check_positive_int(unroll, "unroll")
    optimizer = check_optimizer(optimizer)
    args = check_args(args)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    check_loss_and_grad(loss_fn, grad_fn, params, args)
    run = _compiled_loop(loss_fn, grad_fn, optimizer, steps, record_every, bool(track_params), unroll)
    final_params, losses, final_loss, history = run(params, args)
    return Trajectory(final_params, losses, final_loss, steps, history if track_params else None)


@cache_when_hashable(maxsize=64)
def _compiled_loop(loss_fn, grad_fn, optimizer, steps, record_every, track_params, unroll):
    """A jitted ``(params, args) -> (params, losses, final_loss, history)`` for these settings."""
    value_and_grad = grad_fn if grad_fn is not None else jax.value_and_grad(loss_fn)
    n_full, remainder = divmod(steps, record_every)

    def run(params, args):
        def step(carry, _):
            params, opt_state = carry
            new_params, opt_state, loss = train_step(value_and_grad, optimizer, params, opt_state, args)
            return (new_params, opt_state), (loss, params if track_params else None)

        def chunk(carry, length):
            carry, (losses, history) = jax.lax.scan(
                step, carry, None, length=length, unroll=min(unroll, length)
            )
            return carry, (losses[0], jax.tree_util.tree_map(lambda h: h[0], history))

        carry = (params, optimizer.init(params))
        if record_every == 1:
            carry, (losses, history) = jax.lax.scan(step, carry, None, length=steps, unroll=unroll)
        else:
            carry, (losses, history) = jax.lax.scan(
                lambda c, _: chunk(c, record_every), carry, None, length=n_full
            )
            if remainder:
                carry, tail = chunk(carry, remainder)
                losses, history = jax.tree_util.tree_map(
                    lambda h, t: jnp.concatenate([h, t[None]]), (losses, history), tail
                )
        return carry[0], losses, loss_fn(carry[0], *args), history

    return jax.jit(run)
