"""Losses: pure functions ``loss(pred, y) -> scalar``.

``bce_with_logits`` reuses :func:`optax.losses.sigmoid_binary_cross_entropy`
(numerically stable in the logits); the squared errors are one line each.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    r"""Mean squared error :math:`\frac1n\sum_i (\hat y_i - y_i)^2`."""
    return jnp.mean(optax.losses.squared_error(pred, y))


def half_mse(pred: jax.Array, y: jax.Array) -> jax.Array:
    r"""Half mean squared error :math:`\frac1{2n}\sum_i (\hat y_i - y_i)^2` (gradient ``(pred - y)/n``)."""
    return 0.5 * mse(pred, y)


def bce_with_logits(logits: jax.Array, y: jax.Array) -> jax.Array:
    r"""Mean binary cross-entropy on logits :math:`z`, labels :math:`y \in \{0, 1\}`.

    :math:`\ell = -\frac1n\sum_i [y_i \log\sigma(z_i) + (1-y_i)\log(1-\sigma(z_i))]`,
    computed stably by :func:`optax.losses.sigmoid_binary_cross_entropy`.
    """
    return jnp.mean(optax.losses.sigmoid_binary_cross_entropy(logits, y))


def accuracy(logits_or_probs: jax.Array, y: jax.Array, *, from_logits: bool = True) -> jax.Array:
    """Fraction of correct predictions.

    With one output column, a prediction is class 1 when the logit is > 0
    (``from_logits=True``) or the probability is > 0.5 (``from_logits=False``);
    with several columns, it is the argmax, compared with integer labels or one-hot ``y``.

    Args:
      logits_or_probs: ``(batch, 1)``/``(batch,)`` scores, or ``(batch, k)`` class scores.
      y: labels in ``{0, 1}`` of the same shape, or class indices / one-hot for ``k`` classes.
      from_logits: whether single-column scores are logits (threshold 0) or probabilities (0.5).
    """
    scores = jnp.asarray(logits_or_probs)
    y = jnp.asarray(y)
    if scores.ndim >= 2 and scores.shape[-1] > 1:
        predicted = jnp.argmax(scores, axis=-1)
        labels = jnp.argmax(y, axis=-1) if y.shape == scores.shape else y.reshape(predicted.shape)
        return jnp.mean(predicted == labels)
    threshold = 0.0 if from_logits else 0.5
    predicted = (scores > threshold).astype(y.dtype if jnp.issubdtype(y.dtype, jnp.floating) else jnp.int32)
    return jnp.mean(predicted.reshape(y.shape) == y)


MLP_LOSSES: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "mse": mse,
    "half_mse": half_mse,
    "bce": bce_with_logits,
}
"""Loss name -> ``loss(output, y)``: the ``loss=`` names of :mod:`jaxopt_lessons.manual`'s MLP
gradients (``"bce"`` takes the last layer's logits)."""
