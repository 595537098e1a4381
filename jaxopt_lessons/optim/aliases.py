"""The hand-rolled optimizers themselves: ``chain(scale_by_<rule>, [weight decay], scale_by_learning_rate)``.

See :mod:`jaxopt_lessons.optim` for the contract they share.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optax

from .transforms import (
    ScalarOrSchedule,
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_momentum,
)

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


