"""The building blocks of the hand-rolled optimizers: one ``scale_by_<rule>`` per update rule.

See :mod:`jaxopt_lessons.optim` for the contract they share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], Any]


# --------------------------------------------------------------------------- checks


def _check_scalar(
    value: Any,
    name: str,
    *,
    high: float | None = None,
    schedule_ok: bool = False,
    array_ok: bool = False,
) -> Any:
    """Checks ``0 <= value`` (``< high`` if given) for concrete numbers; returns ``value`` unchanged.

    Traced values (inside ``jit``/``vmap``) can't be inspected and pass through, as long
    as they are scalars. With ``array_ok`` (the learning rate) arrays are accepted too,
    traced or concrete (every element checked), and broadcast against the parameters'
    trailing axes: a ``(lanes,)`` learning rate scales leaves shaped ``(..., lanes)``
    lane by lane (``sweep``'s lanes-last layout). ``value`` is returned as given so that
    Python floats stay weakly typed and the arithmetic matches optax bit for bit.
    """
    expected = f"a number in [0, {high:g})" if high is not None else "a number >= 0"
    if schedule_ok and callable(value):
        try:
            out = jax.eval_shape(value, jax.ShapeDtypeStruct((), jnp.int32))
        except Exception as error:
            raise TypeError(
                f"{name} schedule must be callable as {name}(count), got error: {error}"
            ) from error
        if getattr(out, "shape", None) != ():
            raise ValueError(
                f"{name} schedule must return a scalar, got shape {getattr(out, 'shape', None)}"
            )
        return value
    if isinstance(value, jax.core.Tracer):
        if jnp.ndim(value) != 0 and not array_ok:
            raise ValueError(
                f"{name} must be a scalar, got a traced value of shape {jnp.shape(value)}"
            )
        return value
    kind = " or an optax schedule" if schedule_ok else ""
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise TypeError(f"{name} must be {expected}{kind}, got {value!r}")
    try:
        array = np.asarray(value)
    except Exception as error:
        raise TypeError(f"{name} must be {expected}{kind}, got {type(value).__name__}") from error
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(
            f"{name} must be {expected}{kind}, got {value!r} of type {type(value).__name__}"
        )
    if array.ndim != 0 and not array_ok:
        raise ValueError(f"{name} must be a scalar ({expected}), got shape {array.shape}")
    numbers = array.astype(np.float64)
    if not (np.all(np.isfinite(numbers)) and np.all(numbers >= 0)
            and (high is None or np.all(numbers < high))):
        raise ValueError(f"{name} must be {expected}" + (" (every element)" if array.ndim else "")
                         + f", got {value!r}")
    return value


def _check_decay(value: Any, name: str) -> Any:
    return _check_scalar(value, name, high=1.0)


def _tree_map(fn: Callable[..., Any], *trees: Any) -> Any:
    """``jax.tree.map`` that passes ``None`` leaves (masked-out updates) through, like optax."""
    return jax.tree.map(
        lambda first, *rest: None if first is None else fn(first, *rest),
        *trees,
        is_leaf=lambda leaf: leaf is None,
    )


# --------------------------------------------------------------------------- building blocks


class ScaleByLearningRateState(NamedTuple):
    """State of :func:`scale_by_learning_rate` with a schedule: the step count."""

    count: jax.Array  # int32 scalar


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> optax.GradientTransformation:
    r"""Scales updates by :math:`-\alpha_t` (or :math:`+\alpha_t` with ``flip_sign=False``).

    :math:`u_t = -\alpha_t\, g_t` where :math:`\alpha_t` is ``learning_rate`` (a float or
    a traced scalar) or ``learning_rate(t - 1)`` for a schedule (its count starts at 0).
    The step size is cast to each leaf's dtype, so updates keep the params' dtype.

    Args:
      learning_rate: a number >= 0, a traced scalar, or a schedule ``count -> lr``; or
        an array of them (traced or not), broadcast against each leaf's trailing axes
        (one learning rate per lane of a lanes-last sweep).
      flip_sign: multiply by ``-learning_rate`` (descent) when True.

    Returns:
      An ``optax.GradientTransformation``; its state is ``optax.EmptyState()`` for a
      constant and :class:`ScaleByLearningRateState` for a schedule.
    """
    learning_rate = _check_scalar(learning_rate, "learning_rate", schedule_ok=True, array_ok=True)
    sign = -1 if flip_sign else 1

    def scaled(step_size: Any, updates: Any) -> Any:
        return _tree_map(lambda g: jnp.asarray(step_size, dtype=g.dtype) * g, updates)

    if not callable(learning_rate):
        return optax.GradientTransformation(
            lambda params: optax.EmptyState(),
            lambda updates, state, params=None: (scaled(sign * learning_rate, updates), state),
        )

    def init_fn(params: Any) -> ScaleByLearningRateState:
        return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates: Any, state: ScaleByLearningRateState, params: Any = None):
        updates = scaled(sign * learning_rate(state.count), updates)
        return updates, ScaleByLearningRateState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


class AddDecayedWeightsState(NamedTuple):
    """State of :func:`add_decayed_weights` with a scheduled weight decay: the step count."""

    count: jax.Array  # int32 scalar


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Any = None
) -> optax.GradientTransformation:
    r"""Adds decoupled weight decay: :math:`u_t = g_t + \lambda\, \theta_{t-1}`.

    Args:
      weight_decay: :math:`\lambda \ge 0`, or a schedule ``count -> lambda``.
      mask: a pytree of booleans like ``params`` (or a prefix of it), or a function
        ``params -> such a tree``; weight decay applies where it is True
        (``optax.masked``). ``None`` decays every leaf.

    Returns:
      An ``optax.GradientTransformation`` (needs ``params`` in ``update``).
    """
    weight_decay = _check_scalar(weight_decay, "weight_decay", schedule_ok=True)
    scheduled = callable(weight_decay)

    def init_fn(params: Any) -> Any:
        return (
            AddDecayedWeightsState(count=jnp.zeros([], jnp.int32))
            if scheduled
            else optax.EmptyState()
        )

    def update_fn(updates: Any, state: Any, params: Any = None):
        if params is None:
            raise ValueError(
                "add_decayed_weights needs params: call opt.update(grads, state, params)"
            )
        if scheduled:
            decay, state = (
                weight_decay(state.count),
                AddDecayedWeightsState(optax.safe_increment(state.count)),
            )
        elif isinstance(weight_decay, (int, float)) and weight_decay == 0:
            return updates, state  # exactly the gradient, even where params are inf
        else:
            decay = weight_decay
        return _tree_map(lambda g, p: g + decay * p, updates, params), state

    transform = optax.GradientTransformation(init_fn, update_fn)
    return transform if mask is None else optax.masked(transform, mask)


class ScaleByMomentumState(NamedTuple):
    """State of :func:`scale_by_momentum`: the velocity (a trace of past gradients)."""

    trace: Any


def scale_by_momentum(decay: Any, nesterov: bool = False) -> optax.GradientTransformation:
    r"""Heavy-ball or Nesterov momentum (``optax.trace``).

    .. math::
        v_t = g_t + \mu\, v_{t-1}, \qquad
        u_t = v_t \;\text{(heavy ball)} \quad\text{or}\quad u_t = g_t + \mu\, v_t \;\text{(Nesterov)}.

    Args:
      decay: the momentum :math:`\mu \in [0, 1)`.
      nesterov: use the Nesterov look-ahead form.
    """
    decay = _check_decay(decay, "momentum")

    def init_fn(params: Any) -> ScaleByMomentumState:
        return ScaleByMomentumState(trace=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates: Any, state: ScaleByMomentumState, params: Any = None):
        trace = _tree_map(lambda g, v: (g + decay * v).astype(v.dtype), updates, state.trace)
        if nesterov:
            updates = _tree_map(lambda g, v: (g + decay * v).astype(g.dtype), updates, trace)
        else:
            updates = trace
        return updates, ScaleByMomentumState(trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByAdamState(NamedTuple):
    """State of :func:`scale_by_adam`: step count and the two moment estimates."""

    count: jax.Array  # int32 scalar
    mu: Any
    nu: Any


def scale_by_adam(
    b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0
) -> optax.GradientTransformation:
    r"""Adam's direction :math:`\hat m_t / (\sqrt{\hat v_t + \bar\varepsilon} + \varepsilon)`.

    .. math::
        m_t = (1-\beta_1) g_t + \beta_1 m_{t-1}, \quad
        v_t = (1-\beta_2) |g_t|^2 + \beta_2 v_{t-1}, \quad
        \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}.

    The count is incremented before the bias correction, so the first step uses
    :math:`t = 1`. For complex gradients :math:`|g_t|^2 = \bar g_t g_t` (as in optax;
    :math:`v_t` is stored in the parameters' complex dtype with a zero imaginary part).
    See :func:`adam` for the arguments.
    """
    b1, b2 = _check_decay(b1, "b1"), _check_decay(b2, "b2")
    eps, eps_root = _check_scalar(eps, "eps"), _check_scalar(eps_root, "eps_root")

    def init_fn(params: Any) -> ScaleByAdamState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=zeros, nu=zeros)

    def update_fn(updates: Any, state: ScaleByAdamState, params: Any = None):
        mu = _tree_map(lambda g, m: ((1 - b1) * g + b1 * m).astype(m.dtype), updates, state.mu)
        # |g|^2, not g^2: for complex gradients the second moment is the squared modulus, as in
        # optax (for real g the helper computes exactly (1 - b2) * g**2 + b2 * v).
        nu = optax.tree.update_moment_per_elem_norm(updates, state.nu, b2, 2)
        nu = _tree_map(lambda n, v: n.astype(v.dtype), nu, state.nu)
        count = optax.safe_increment(state.count)
        # m / (1 - b1**t) via optax's helper: in float32, 1 - 0.999**t amplifies the
        # rounding of pow ~1000x, so computing it the same (compiled) way keeps eager
        # results equal to optax's to the ulp.
        mu_hat, nu_hat = (
            optax.tree.bias_correction(mu, b1, count),
            optax.tree.bias_correction(nu, b2, count),
        )

        def direction(g, m_hat, v_hat):
            return (m_hat / (jnp.sqrt(v_hat + eps_root) + eps)).astype(g.dtype)

        return _tree_map(direction, updates, mu_hat, nu_hat), ScaleByAdamState(
            count=count, mu=mu, nu=nu
        )

    return optax.GradientTransformation(init_fn, update_fn)


class ScaleByLionState(NamedTuple):
    """State of :func:`scale_by_lion`: the momentum (Lion needs no count)."""

    mu: Any


def _reject_complex(tree: Any, name: str) -> None:
    """Raises ``TypeError`` naming the first complex leaf of ``tree`` (Lion is real-only)."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if leaf is not None and jnp.iscomplexobj(leaf):
            raise TypeError(
                f"lion does not support complex {name} (leaf {jax.tree_util.keystr(path) or '<root>'} "
                f"has dtype {jnp.result_type(leaf)}): optax does not either (its alias tests skip "
                "lion on complex), and the sign of a complex number is ambiguous (optax.lion would "
                "silently take z/|z|). Optimise the real and imaginary parts as separate real leaves, "
                "e.g. {'re': z.real, 'im': z.imag}, or use sgd/adam/adamw, which support complex."
            )


def scale_by_lion(b1: Any = 0.9, b2: Any = 0.99) -> optax.GradientTransformation:
    r"""Lion's direction: the sign of an interpolation of gradient and momentum.

    .. math::
        c_t = \operatorname{sign}\big((1-\beta_1) g_t + \beta_1 m_{t-1}\big), \qquad
        m_t = (1-\beta_2) g_t + \beta_2 m_{t-1}.

    Complex parameters or gradients raise ``TypeError`` (see :func:`lion`).
    See :func:`lion` for the arguments.
    """
    b1, b2 = _check_decay(b1, "b1"), _check_decay(b2, "b2")

    def init_fn(params: Any) -> ScaleByLionState:
        _reject_complex(params, "parameters")
        return ScaleByLionState(mu=jax.tree.map(jnp.zeros_like, params))

    def update_fn(updates: Any, state: ScaleByLionState, params: Any = None):
        _reject_complex(updates, "gradients")
        direction = _tree_map(
            lambda g, m: jnp.sign((1 - b1) * g + b1 * m).astype(g.dtype), updates, state.mu
        )
        mu = _tree_map(lambda g, m: ((1 - b2) * g + b2 * m).astype(m.dtype), updates, state.mu)
        return direction, ScaleByLionState(mu=mu)

    return optax.GradientTransformation(init_fn, update_fn)


