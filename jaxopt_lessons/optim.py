r"""Hand-rolled optimizers, written out rule by rule and proven equal to optax.

The contract, stated once:

* every optimizer is a builder returning an ``optax.GradientTransformation``
  ``(init, update)``: ``state = opt.init(params)``, then
  ``updates, state = opt.update(grads, state, params)`` and
  ``params = optax.apply_updates(params, updates)``;
* it has the argument names and defaults of the optax function of the same name
  (optax 0.2.8) and matches it to rtol 1e-5 over 1000 steps (in practice bit for
  bit, eager and under ``jit``: the same operations in the same order);
* it is ``optax.chain(scale_by_<rule>(...), [add_decayed_weights(...)],
  scale_by_learning_rate(learning_rate))``, so the learning rate lives in exactly one
  place. ``learning_rate`` is a float, a traced JAX scalar (build the optimizer inside
  ``jax.vmap`` to sweep it) or an optax schedule ``count -> lr``;
* states are ``NamedTuple`` s (``<Rule>State``), with an int32 ``count`` where the rule
  needs one; moments have the tree structure and dtypes of ``params`` (float64 stays
  float64), and so do the updates;
* bad hyperparameters given as concrete numbers raise ``ValueError`` / ``TypeError``
  naming the argument; traced values pass through unchecked;
* complex parameters (complex64/complex128) work as in optax for sgd (with or without
  momentum), adam and adamw: the gradient to pass is the conjugate of ``jax.grad``'s, and
  Adam's second moment uses :math:`|g|^2`. Lion rejects them with a ``TypeError``, as
  optax does not support it on complex numbers.

Notation in the docstrings: :math:`g_t` the gradient at step :math:`t = 1, 2, \dots`,
:math:`\theta` the parameters, :math:`\alpha_t` the learning rate, :math:`u_t` the
update (``params + updates``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._catalog import OPTIMIZERS as _OPTIMIZER_SETTINGS
from ._validate import check_choice

ScalarOrSchedule = float | jax.Array | Callable[[jax.Array], Any]

__all__ = [
    "OPTIMIZERS",
    "AddDecayedWeightsState",
    "OptimizerPair",
    "ScaleByAdamState",
    "ScaleByLearningRateState",
    "ScaleByLionState",
    "ScaleByMomentumState",
    "adam",
    "adamw",
    "add_decayed_weights",
    "factory",
    "lion",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_momentum",
    "sgd",
]


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


# --------------------------------------------------------------------------- optimizers


def sgd(
    learning_rate: ScalarOrSchedule, momentum: Any = None, nesterov: bool = False
) -> optax.GradientTransformation:
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    .. math::
        \text{plain: } u_t = -\alpha_t g_t; \qquad
        \text{momentum: } v_t = g_t + \mu v_{t-1},\;
        u_t = -\alpha_t v_t \;\text{ or, Nesterov, }\; u_t = -\alpha_t (g_t + \mu v_t).

    Args:
      learning_rate: :math:`\alpha`, a number >= 0, a traced scalar or a schedule.
      momentum: :math:`\mu \in [0, 1)`, or ``None`` for plain gradient descent.
      nesterov: use Nesterov momentum (requires ``momentum``).

    Returns:
      An ``optax.GradientTransformation`` equal to ``optax.sgd`` with the same arguments.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxopt_lessons import optim
      >>> opt = optim.sgd(0.1, momentum=0.9)
      >>> params = jnp.array([5.0])
      >>> state = opt.init(params)
      >>> for _ in range(2):  # f(x) = x**2 + 10, f'(x) = 2x
      ...     updates, state = opt.update(2 * params, state, params)
      ...     params = params + updates
      >>> params
      Array([2.3], dtype=float32)

    References:
      Polyak, `Some methods of speeding up the convergence of iteration methods
      <https://doi.org/10.1016/0041-5553(64)90137-5>`_, 1964;
      Sutskever et al., `On the importance of initialization and momentum in deep
      learning <http://proceedings.mlr.press/v28/sutskever13.pdf>`_, 2013.
    """
    if not isinstance(nesterov, (bool, np.bool_)):
        raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
    if momentum is None:
        if nesterov:
            raise ValueError(
                "nesterov=True needs a momentum, e.g. sgd(lr, momentum=0.9, nesterov=True)"
            )
        return optax.chain(scale_by_learning_rate(learning_rate))
    return optax.chain(
        scale_by_momentum(momentum, bool(nesterov)), scale_by_learning_rate(learning_rate)
    )


def adam(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
) -> optax.GradientTransformation:
    r"""Adam: momentum divided by a running RMS of the gradients, bias-corrected.

    .. math::
        m_t = (1-\beta_1) g_t + \beta_1 m_{t-1}, \quad
        v_t = (1-\beta_2) |g_t|^2 + \beta_2 v_{t-1}, \quad
        u_t = -\alpha_t \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t) + \bar\varepsilon} + \varepsilon}.

    Complex parameters work as in optax (:math:`|g|^2 = \bar g g`); pass the conjugate of
    ``jax.grad``'s gradient, which is the descent direction for a real loss of complex
    parameters.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0, a traced scalar or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`, decay of the first moment.
      b2: :math:`\beta_2 \in [0, 1)`, decay of the second moment.
      eps: :math:`\varepsilon \ge 0`, added to the denominator outside the root.
      eps_root: :math:`\bar\varepsilon \ge 0`, added inside the root.

    Returns:
      An ``optax.GradientTransformation`` equal to ``optax.adam`` with the same arguments.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxopt_lessons import optim
      >>> opt = optim.adam(0.1)
      >>> params = jnp.array([5.0, -3.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(2 * params, state, params)
      >>> [round(float(u), 4) for u in updates]  # the first step is -lr * sign(g)
      [-0.1, 0.1]

    References:
      Kingma and Ba, `Adam: A Method for Stochastic Optimization
      <https://arxiv.org/abs/1412.6980>`_, 2014.
    """
    return optax.chain(scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay, added before scaling by the learning rate.

    .. math::
        u_t = -\alpha_t \left(\frac{\hat m_t}{\sqrt{\hat v_t + \bar\varepsilon} + \varepsilon}
              + \lambda\, \theta_{t-1}\right)

    with :math:`\hat m_t, \hat v_t` the bias-corrected moments of :func:`adam`.

    Args:
      learning_rate, b1, b2, eps, eps_root: as in :func:`adam`.
      weight_decay: :math:`\lambda \ge 0` (or a schedule).
      mask: where to apply weight decay: a boolean pytree like ``params`` or a function
        ``params -> tree``; ``None`` decays every leaf.

    Returns:
      An ``optax.GradientTransformation`` equal to ``optax.adamw`` with the same arguments.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxopt_lessons import optim
      >>> opt = optim.adamw(0.1, weight_decay=0.5)
      >>> params = jnp.array([2.0])
      >>> updates, _ = opt.update(jnp.array([4.0]), opt.init(params), params)
      >>> round(float(updates[0]), 4)  # -0.1 * (sign(g) + 0.5 * 2.0)
      -0.2

    References:
      Loshchilov and Hutter, `Decoupled Weight Decay Regularization
      <https://arxiv.org/abs/1711.05101>`_, 2019.
    """
    return optax.chain(
        scale_by_adam(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


def lion(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.9,
    b2: Any = 0.99,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""Lion (EvoLved Sign Momentum): a sign update with two momentum rates.

    .. math::
        u_t = -\alpha_t \left(\operatorname{sign}\big((1-\beta_1) g_t + \beta_1 m_{t-1}\big)
              + \lambda\, \theta_{t-1}\right), \qquad
        m_t = (1-\beta_2) g_t + \beta_2 m_{t-1}.

    Every coordinate moves by exactly :math:`\alpha_t` (plus weight decay), so Lion
    wants a learning rate 3–10x smaller than Adam's. Complex parameters or gradients
    raise ``TypeError``: optax does not support Lion on them either (the sign of a
    complex number is ambiguous); split them into real and imaginary leaves instead.

    Args:
      learning_rate: :math:`\alpha`, a number >= 0, a traced scalar or a schedule.
      b1: :math:`\beta_1 \in [0, 1)`, weight of the momentum inside the sign.
      b2: :math:`\beta_2 \in [0, 1)`, decay of the momentum.
      weight_decay: :math:`\lambda \ge 0` (or a schedule).
      mask: where to apply weight decay, as in :func:`adamw`.

    Returns:
      An ``optax.GradientTransformation`` equal to ``optax.lion`` with the same arguments.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxopt_lessons import optim
      >>> opt = optim.lion(0.01, weight_decay=0.0)
      >>> params = jnp.array([5.0, -3.0, 0.0])
      >>> updates, _ = opt.update(jnp.array([10.0, -0.5, 0.0]), opt.init(params), params)
      >>> updates
      Array([-0.01,  0.01, -0.  ], dtype=float32)

    References:
      Chen et al., `Symbolic Discovery of Optimization Algorithms
      <https://arxiv.org/abs/2302.06675>`_, 2023.
    """
    return optax.chain(
        scale_by_lion(b1, b2),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


# --------------------------------------------------------------------------- registry of names


class OptimizerPair(NamedTuple):
    """One named optimizer as two factories ``learning_rate -> GradientTransformation``.

    Attributes:
      optax_factory: optax's (e.g. ``optax.adam``).
      hand_factory: its hand-rolled twin in this module (e.g. :func:`adam`).
    """

    optax_factory: Callable[..., optax.GradientTransformation]
    hand_factory: Callable[..., optax.GradientTransformation]


def _bind(function: Callable[..., Any], settings: dict[str, Any]) -> Callable[..., Any]:
    # The same objects on every lookup, so compiled sweeps and fits are reused.
    return functools.partial(function, **settings) if settings else function


OPTIMIZERS: dict[str, OptimizerPair] = {
    name: OptimizerPair(_bind(getattr(optax, base), settings), _bind(globals()[base], settings))
    for name, (base, settings) in _OPTIMIZER_SETTINGS.items()
}
"""Optimizer name -> :class:`OptimizerPair`: ``sgd``, ``momentum`` (SGD with momentum 0.9),
``nesterov`` (the same with Nesterov's correction), ``adam``, ``adamw``, ``lion``, each with
optax's defaults. The command line, the sweeps and the lessons read their names here."""


def factory(name: str, hand: bool = False) -> Callable[..., optax.GradientTransformation]:
    """The optimizer factory called ``name`` (see :data:`OPTIMIZERS`).

    Args:
      name: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"`` or ``"lion"``.
      hand: the hand-rolled twin from this module instead of optax's.

    Returns:
      ``learning_rate -> GradientTransformation`` (the same object on every call).

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).

    Examples:
      >>> import optax
      >>> factory("adam") is optax.adam
      True
      >>> factory("momentum", hand=True).keywords
      {'momentum': 0.9}
    """
    pair = OPTIMIZERS[check_choice(name, OPTIMIZERS, "optimizer")]
    return pair.hand_factory if hand else pair.optax_factory
