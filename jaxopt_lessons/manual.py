r"""Hand-derived gradients: the chain rule written out, no autodiff inside.

Each gradient function has the signature of ``jax.value_and_grad(loss_fn)``,
``grad_fn(params, x, y) -> (loss, grads)`` with ``grads`` shaped like ``params``,
so it plugs in wherever autodiff does (``fit(..., grad_fn=...)``, ``sweep``,
``check_grad``). The tests hold every one of them equal to ``jax.grad``.

Backpropagation for the MLP :math:`h_0 = x`, :math:`z_l = h_{l-1} W_l + b_l`,
:math:`h_l = \phi_l(z_l)` (:math:`l = 1..L`) and loss :math:`\ell(h_L, y)`:

.. math::
    \delta_L = \frac{\partial \ell}{\partial h_L} \odot \phi_L'(z_L), \qquad
    \delta_l = (\delta_{l+1} W_{l+1}^\top) \odot \phi_l'(z_l),

    \frac{\partial \ell}{\partial W_l} = h_{l-1}^\top \delta_l, \qquad
    \frac{\partial \ell}{\partial b_l} = \textstyle\sum_{\text{batch}} \delta_l .

Broadcasting in the forward pass becomes a sum in the backward pass: a gradient
is summed over every axis along which its parameter was broadcast
(:func:`sum_to_shape`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from . import losses, models
from ._validate import check_choice

Params = Any
GradFn = Callable[..., tuple[jax.Array, Params]]

__all__ = [
    "LOSSES",
    "OUTPUT_ACTIVATIONS",
    "linear_regression_grad",
    "linear_regression_loss",
    "mlp_grad",
    "mlp_grad_fn",
    "mlp_loss_fn",
    "sum_to_shape",
]

# Activations (function and derivative) come from models.ACTIVATIONS, losses from losses.MLP_LOSSES.

OUTPUT_ACTIVATIONS: tuple[str, ...] = tuple(models.ACTIVATIONS)
"""Valid ``output_activation`` names (``"bce"`` needs ``"sigmoid"`` or ``"identity"``)."""

LOSSES: tuple[str, ...] = tuple(losses.MLP_LOSSES)
"""Valid ``loss`` names of :func:`mlp_grad` (the keys of :data:`jaxopt_lessons.losses.MLP_LOSSES`)."""


def sum_to_shape(grad: jax.Array, shape: Sequence[int]) -> jax.Array:
    """Sums ``grad`` over the axes along which an array of ``shape`` was broadcast.

    The adjoint of broadcasting: if ``a`` of shape ``shape`` was broadcast to
    ``grad.shape`` in the forward pass, ``sum_to_shape(grad, shape)`` is ``∂ℓ/∂a``.

    Examples:
      >>> import jax.numpy as jnp
      >>> sum_to_shape(jnp.ones((4, 3)), (1, 3))
      Array([[4., 4., 4.]], dtype=float32)
      >>> sum_to_shape(jnp.ones((4, 3)), ()).item()
      12.0
    """
    shape = tuple(shape)
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    ones = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if ones:
        grad = grad.sum(axis=ones, keepdims=True)
    return grad.reshape(shape)


def _like(grad: jax.Array, param: Any) -> jax.Array:
    """``grad`` reduced to ``param``'s shape and cast to its dtype, as ``jax.grad`` returns it."""
    param = jnp.asarray(param)
    return sum_to_shape(grad, param.shape).astype(param.dtype)


# --------------------------------------------------------------------------- linear regression


def linear_regression_loss(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
    r"""The seed's regression loss :math:`\frac1n\sum_i (w x_i + b - y_i)^2` (``mse`` of ``linear``)."""
    return losses.mse(models.linear(params, x), y)


def linear_regression_grad(
    params: dict[str, Any], x: jax.Array, y: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""Loss and gradient of :math:`\ell(w, b) = \frac1n\sum_i (w x_i + b - y_i)^2`, by hand.

    With residuals :math:`r_i = w x_i + b - y_i`:

    .. math::
        \frac{\partial \ell}{\partial w} = \frac2n \sum_i r_i x_i, \qquad
        \frac{\partial \ell}{\partial b} = \frac2n \sum_i r_i,

    exactly the seed's ``dw`` and ``db``. For array ``w``/``b`` the sums run over the
    axes along which each was broadcast, so ``grads`` have the shapes of ``params``.

    Args:
      params: ``{"w": ..., "b": ...}``, scalars or arrays broadcastable with ``x``.
      x: inputs, e.g. ``(n, 1)``.
      y: targets, broadcastable with ``x * w + b``.

    Returns:
      ``(loss, {"w": dw, "b": db})``, like ``jax.value_and_grad(linear_regression_loss)``.
    """
    _check_linear_params(params)
    w, b = params["w"], params["b"]
    x, y = jnp.asarray(x), jnp.asarray(y)
    residual = x * w + b - y
    loss = jnp.mean(residual**2)
    d_residual = 2 * residual / residual.size  # ∂ℓ/∂r_i
    x_full = jnp.broadcast_to(x, residual.shape)
    return loss, {"w": _like(d_residual * x_full, w), "b": _like(d_residual, b)}


def _check_linear_params(params: Any) -> None:
    if not isinstance(params, dict) or set(params) != {"w", "b"}:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must be a dict with keys 'w' and 'b' (see jaxopt_lessons.linear), got {got}")


# --------------------------------------------------------------------------- MLP


def _check_mlp_options(activation: str, output_activation: str, loss: str) -> None:
    check_choice(activation, models.ACTIVATIONS, "activation")
    check_choice(output_activation, OUTPUT_ACTIVATIONS, "output_activation")
    check_choice(loss, LOSSES, "loss")
    if loss == "bce" and output_activation not in ("sigmoid", "identity"):
        raise ValueError(
            f"loss 'bce' needs output_activation 'identity' (logits) or 'sigmoid' (probabilities), "
            f"got {output_activation!r}"
        )


def _check_mlp_params(params: Any) -> None:
    if not isinstance(params, (list, tuple)) or not params:
        raise ValueError(
            f"params must be a non-empty list of layers {{'W': (n_in, n_out), 'b': (n_out,)}} "
            f"as returned by init_mlp, got {type(params).__name__}"
        )
    for index, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(f"params[{index}] must be a dict with keys 'W' and 'b', got {got}")


def _outer_sum(h: jax.Array, delta: jax.Array) -> jax.Array:
    r""":math:`h^\top \delta` summed over every leading (batch) axis: ``(..., i), (..., j) -> (i, j)``."""
    if h.ndim == 2:
        return h.T @ delta
    return h.reshape(-1, h.shape[-1]).T @ delta.reshape(-1, delta.shape[-1])


def _loss_and_output_delta(
    z: jax.Array, h: jax.Array, y: jax.Array, output_activation: str, loss: str
) -> tuple[jax.Array, jax.Array]:
    r"""The loss and :math:`\delta_L = \partial\ell/\partial z_L` from the output layer.

    * ``mse``: :math:`\ell = \frac1n\sum (h-y)^2`, :math:`\partial\ell/\partial h = 2(h-y)/n`;
    * ``half_mse``: :math:`\ell = \frac1{2n}\sum (h-y)^2`, :math:`\partial\ell/\partial h = (h-y)/n`;
      both then times :math:`\phi_L'(z_L)`;
    * ``bce``: :math:`\ell = \frac1n\sum [\max(z,0) - z y + \log(1 + e^{-|z|})]`, the stable
      form of :math:`-\frac1n\sum [y\log p + (1-y)\log(1-p)]` with :math:`p = \sigma(z)`;
      the sigmoid's derivative cancels the log's: :math:`\delta_L = (p - y)/n`.
    """
    if loss == "bce":
        per_example = jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))
        p = h if output_activation == "sigmoid" else jax.nn.sigmoid(z)
        delta = (p - y) / per_example.size
        return jnp.mean(per_example), sum_to_shape(delta, z.shape)
    error = h - y
    scale = 2.0 if loss == "mse" else 1.0
    value = jnp.mean(error**2) * (1.0 if loss == "mse" else 0.5)
    d_output = sum_to_shape(scale * error / error.size, h.shape)
    return value, d_output * models.ACTIVATIONS[output_activation].derivative(z, h)


def mlp_grad(
    params: Sequence[dict[str, Any]],
    x: jax.Array,
    y: jax.Array,
    *,
    activation: str = "relu",
    output_activation: str = "identity",
    loss: str = "mse",
) -> tuple[jax.Array, list[dict[str, jax.Array]]]:
    r"""Loss and gradient of an MLP by backpropagation, for any depth.

    Forward, keeping every pre-activation: :math:`h_0 = x`, :math:`z_l = h_{l-1}W_l + b_l`,
    :math:`h_l = \phi(z_l)` for hidden layers, :math:`h_L = \phi_{\text{out}}(z_L)`. Backward:

    .. math::
        \delta_L &= \frac{\partial \ell}{\partial z_L}
          = \frac{\partial \ell}{\partial h_L} \odot \phi_{\text{out}}'(z_L)
          \quad (\text{bce: } \delta_L = (\sigma(z_L) - y)/n), \\
        \delta_l &= (\delta_{l+1} W_{l+1}^\top) \odot \phi'(z_l), \\
        \frac{\partial \ell}{\partial W_l} &= h_{l-1}^\top \delta_l, \qquad
        \frac{\partial \ell}{\partial b_l} = \textstyle\sum_{\text{batch}} \delta_l,

    with :math:`\sigma' = \sigma(1-\sigma)`, :math:`\tanh' = 1 - \tanh^2`,
    :math:`\mathrm{relu}'(z) = [z > 0]`. This is the seed's backward pass, layer by layer.

    Args:
      params: layers ``[{"W": (n_in, n_out), "b": (n_out,) or (1, n_out)}, ...]`` as for
        :func:`jaxopt_lessons.models.mlp`.
      x: inputs ``(batch, n_in)``.
      y: targets, broadcastable with the output ``(batch, n_out)``.
      activation: hidden activation, ``"sigmoid"``, ``"relu"``, ``"tanh"`` (or ``"identity"``).
      output_activation: ``"sigmoid"`` or ``"identity"`` (also ``"relu"``, ``"tanh"`` with
        the squared losses).
      loss: ``"mse"`` (:math:`\frac1n\sum(h_L-y)^2`, the seed's XOR loss, whose gradient is
        its ``2 * (a2 - y) / len(X)``), ``"half_mse"`` (half of it, the seed's backprop
        example) or ``"bce"`` (binary cross-entropy: on the logits :math:`z_L` when the
        output is ``"identity"``, on the probabilities :math:`\sigma(z_L)` when it is
        ``"sigmoid"``; both evaluated stably from :math:`z_L`).

    Returns:
      ``(loss, grads)`` with ``grads`` shaped (and typed) like ``params``, as
      ``jax.value_and_grad(mlp_loss_fn(activation, output_activation, loss))`` returns them.

    Raises:
      ValueError: on an unknown ``activation``, ``output_activation`` or ``loss`` (the
        message lists the valid names) or malformed ``params``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxopt_lessons import init_mlp, manual
      >>> params = init_mlp(jax.random.key(0), [2, 3, 1])
      >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
      >>> loss, grads = manual.mlp_grad(params, x, y, activation="tanh")
      >>> [g["W"].shape for g in grads]
      [(2, 3), (3, 1)]
    """
    _check_mlp_options(activation, output_activation, loss)
    _check_mlp_params(params)
    x, y = jnp.asarray(x), jnp.asarray(y)
    n_layers = len(params)

    # Forward: keep z_l and h_l of every layer (h_0 = x).
    hidden_outputs, pre_activations = [x], []
    for index, layer in enumerate(params):
        name = output_activation if index == n_layers - 1 else activation
        z = hidden_outputs[-1] @ layer["W"] + layer["b"]
        pre_activations.append(z)
        hidden_outputs.append(models.ACTIVATIONS[name].fn(z))

    value, delta = _loss_and_output_delta(
        pre_activations[-1], hidden_outputs[-1], y, output_activation, loss
    )

    # Backward: delta_l -> (dW_l, db_l), then delta_{l-1}.
    grads: list[dict[str, jax.Array]] = [{} for _ in params]
    for index in reversed(range(n_layers)):
        layer, h_in = params[index], hidden_outputs[index]
        grad_w = _outer_sum(h_in, delta)
        grads[index] = {"W": _like(grad_w, layer["W"]), "b": _like(delta, layer["b"])}
        if index > 0:
            derivative = models.ACTIVATIONS[activation].derivative
            delta = (delta @ jnp.asarray(layer["W"]).T) * derivative(
                pre_activations[index - 1], hidden_outputs[index]
            )
    return value, grads if isinstance(params, list) else tuple(grads)


def mlp_grad_fn(
    activation: str = "relu", output_activation: str = "identity", loss: str = "mse"
) -> GradFn:
    """A gradient function ``grad_fn(params, x, y) -> (loss, grads)`` for :func:`fit` and ``sweep``.

    :func:`mlp_grad` with the options fixed. The same options return the same function
    object, so ``fit`` reuses its compiled loop. Pair it with :func:`mlp_loss_fn` of the
    same options.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> import jaxopt_lessons as jl
      >>> X, y = jl.datasets.xor()
      >>> params = jl.init_mlp(jax.random.key(0), [2, 4, 1], scale=0.5)
      >>> options = dict(activation="sigmoid", output_activation="sigmoid", loss="mse")
      >>> traj = jl.fit(jl.manual.mlp_loss_fn(**options), params, optax.sgd(0.5), steps=10,
      ...               args=(X, y), grad_fn=jl.manual.mlp_grad_fn(**options))
      >>> traj.losses.shape
      (10,)
    """
    _check_mlp_options(activation, output_activation, loss)
    return _cached_grad_fn(activation, output_activation, loss)


@functools.cache
def _cached_grad_fn(activation: str, output_activation: str, loss: str) -> GradFn:
    def grad_fn(params: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
        return mlp_grad(
            params, x, y, activation=activation, output_activation=output_activation, loss=loss
        )

    grad_fn.__name__ = grad_fn.__qualname__ = f"mlp_grad[{activation}, {output_activation}, {loss}]"
    return grad_fn


def mlp_loss_fn(
    activation: str = "relu", output_activation: str = "identity", loss: str = "mse"
) -> Callable[[Params, jax.Array, jax.Array], jax.Array]:
    """The loss ``loss_fn(params, x, y)`` that :func:`mlp_grad` differentiates, from the library.

    Built from :func:`jaxopt_lessons.models.mlp` and :mod:`jaxopt_lessons.losses`:
    ``mse``/``half_mse`` of the MLP output, or for ``"bce"``
    :func:`~jaxopt_lessons.losses.bce_with_logits` of the last layer's logits (with a
    sigmoid output that is the cross-entropy of its probabilities, computed stably).
    ``jax.value_and_grad(mlp_loss_fn(...))`` is the autodiff twin of :func:`mlp_grad_fn`.
    """
    _check_mlp_options(activation, output_activation, loss)
    return _cached_loss_fn(activation, output_activation, loss)


@functools.cache
def _cached_loss_fn(
    activation: str, output_activation: str, loss: str
) -> Callable[[Params, jax.Array, jax.Array], jax.Array]:
    logits_output = "identity" if loss == "bce" else output_activation
    criterion = losses.MLP_LOSSES[loss]

    def loss_fn(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        output = models.mlp(params, x, activation=activation, output_activation=logits_output)
        return criterion(output, y)

    loss_fn.__name__ = loss_fn.__qualname__ = f"mlp_loss[{activation}, {output_activation}, {loss}]"
    return loss_fn
