r"""Hand-derived, fully unrolled lanes-last gradients for sweeping small built-in MLPs.

:func:`jaxopt_lessons.sweep` serves any loss through ``jit(vmap(...))``; with
``lanes_last=True`` it instead runs losses written over a trailing lane axis (no
``vmap``: every array is ``(..., lanes)`` and each operation is a vectorised loop over
contiguous lanes). This module supplies the fastest such loss-and-gradient for the
built-in MLP: every unit written out on its own,

.. math::

    z_j = b_j + \sum_i h_i \, W_{ij}, \qquad h_i,\ z_j: (\text{batch}, \text{lanes}),\quad
    W_{ij},\ b_j: (\text{lanes},)

and the backpropagation of :mod:`jaxopt_lessons.manual` written the same way,
:math:`\delta_L = \partial\ell/\partial a_L \odot \sigma'(z_L)`,
:math:`\partial\ell/\partial W_{ij} = \sum_b a_{i} \delta_{j}`,
:math:`\delta_{l-1,i} = \sigma'(z_{l-1,i}) \sum_j W_{ij} \delta_{l,j}`,
so XLA sees only elementwise multiply-adds and a few batch sums, which it fuses into
a handful of loops (autodiff of a broadcast multiply-sum leaves more, larger
intermediates).

``sweep`` uses it by itself for :func:`jaxopt_lessons.manual.mlp_loss_fn` losses (the
built-in ``xor`` and ``moons`` problems): those carry their :class:`LanesLast` twin
(:func:`mlp_twin`) as ``loss_fn.lanes_last``. It can also be used through
:func:`sweep_mlp` (a thin wrapper around ``sweep(..., lanes_last=True)`` with these
gradients) or by passing :func:`mlp_grad_fn` as ``grad_fn`` yourself. Results equal
the default vmapped sweep up to float rounding (tested in float64). Units are unrolled
in Python, so the compiled program grows with ``n_in * n_out`` per layer: it is meant
for small networks (at most :data:`MAX_UNITS_PRODUCT` weights per layer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ._validate import check_choice, check_positive_int

if TYPE_CHECKING:
    from .sweep_result import SweepResult

__all__ = [
    "MAX_UNITS_PRODUCT",
    "LanesLast",
    "OPTIMIZERS",
    "from_lanes_last",
    "mlp_grad_fn",
    "mlp_loss_and_grad_lanes",
    "mlp_loss_lanes",
    "mlp_twin",
    "sweep_mlp",
    "to_lanes_last",
]

MAX_UNITS_PRODUCT = 256
"""Largest ``n_in * n_out`` of one layer the unrolled code accepts."""

OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": optax.sgd,
    "momentum": functools.partial(optax.sgd, momentum=0.9),
    "nesterov": functools.partial(optax.sgd, momentum=0.9, nesterov=True),
    "adam": optax.adam,
}
"""Optimizer name -> optax factory; each update is elementwise, so lanes never mix."""

# Each activation's derivative written in terms of its output a = act(z).
_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (jax.nn.sigmoid, lambda a: a * (1 - a)),
    "tanh": (jnp.tanh, lambda a: 1 - a * a),
    "relu": (jax.nn.relu, lambda a: (a > 0).astype(a.dtype)),
    "identity": (lambda z: z, lambda a: jnp.ones_like(a)),
}
# loss = scale / 2 * mean((pred - y)^2), so d loss / d pred = scale * (pred - y) / n; "bce" is the
# mean sigmoid cross-entropy of the outputs taken as logits z, d loss / d z = (sigmoid(z) - y) / n
_LOSSES = {"mse": 2.0, "half_mse": 1.0, "bce": None}


def to_lanes_last(params: Any, n_lanes: int) -> Any:
    """Copies one start point onto ``n_lanes`` lanes, lane axis last: leaf ``s -> s + (n_lanes,)``."""
    n_lanes = check_positive_int(n_lanes, "n_lanes")
    return jax.tree_util.tree_map(
        lambda leaf: jnp.broadcast_to(jnp.asarray(leaf)[..., None], jnp.shape(leaf) + (n_lanes,)), params
    )


def from_lanes_last(params: Any) -> Any:
    """Moves the last (lane) axis of every leaf to the front: ``s + (L,) -> (L,) + s``."""
    return jax.tree_util.tree_map(lambda leaf: jnp.moveaxis(leaf, -1, 0), params)


def _forward(params, x, hidden, output):
    """Units of every layer as lists of ``(batch, lanes)`` blocks (inputs are ``(batch, 1)``)."""
    layers = [[x[:, i : i + 1] for i in range(x.shape[1])]]
    for index, layer in enumerate(params):
        act = output if index == len(params) - 1 else hidden
        weights = layer["W"]
        biases = layer["b"].reshape(weights.shape[1], weights.shape[2])
        units = layers[-1]
        layers.append([
            act(biases[j] + sum(units[i] * weights[i, j] for i in range(weights.shape[0])))
            for j in range(weights.shape[1])
        ])
    return layers


def mlp_loss_lanes(
    params: Sequence[dict[str, jax.Array]],
    x: jax.Array,
    y: jax.Array,
    *,
    activation: str = "sigmoid",
    output_activation: str = "sigmoid",
    loss: str = "mse",
) -> jax.Array:
    """Per-lane loss of an MLP whose parameters are lanes-last: ``(lanes,)``.

    Lane ``l`` computes ``mse(mlp(params[..., l], x), y)`` (or ``half_mse``, ``bce``).

    Args:
      params: ``[{"W": (n_in, n_out, L), "b": (n_out, L) or (1, n_out, L)}, ...]``.
      x: inputs ``(batch, n_in)``, shared by every lane.
      y: targets ``(batch, n_out)``.
      activation: hidden activation, one of sigmoid/tanh/relu/identity.
      output_activation: output activation, same choices.
      loss: ``"mse"``, ``"half_mse"`` or ``"bce"`` (see :func:`mlp_loss_and_grad_lanes`).
    """
    return mlp_loss_and_grad_lanes(params, x, y, activation=activation, output_activation=output_activation,
                                   loss=loss, with_grads=False)[0]


def mlp_loss_and_grad_lanes(
    params: Sequence[dict[str, jax.Array]],
    x: jax.Array,
    y: jax.Array,
    *,
    activation: str = "sigmoid",
    output_activation: str = "sigmoid",
    loss: str = "mse",
    with_grads: bool = True,
) -> tuple[jax.Array, list[dict[str, jax.Array]] | None]:
    """Per-lane loss and hand-derived gradients of a lanes-last MLP (see the module docstring).

    Lane ``l`` computes exactly ``mse(mlp(params[..., l], x), y)`` (or ``half_mse``, or
    ``bce_with_logits`` of the outputs) and its gradient, as
    :func:`jaxopt_lessons.manual.mlp_grad` does for one network.

    Args:
      params: ``[{"W": (n_in, n_out, L), "b": (n_out, L) or (1, n_out, L)}, ...]``.
      x: inputs ``(batch, n_in)``, shared by every lane.
      y: targets ``(batch, n_out)``.
      activation: hidden activation, one of sigmoid/tanh/relu/identity.
      output_activation: output activation, same choices.
      loss: ``"mse"``, ``"half_mse"`` or ``"bce"`` (mean sigmoid cross-entropy of the
        outputs as logits, :func:`jaxopt_lessons.losses.bce_with_logits`; use it with
        ``output_activation="identity"``).
      with_grads: ``False`` skips the backward pass (``grads`` is then ``None``).

    Returns:
      ``(losses (L,), grads)`` with ``grads`` shaped like ``params``.
    """
    hidden, hidden_prime = _ACTIVATIONS[check_choice(activation, _ACTIVATIONS, "activation")]
    output, output_prime = _ACTIVATIONS[check_choice(output_activation, _ACTIVATIONS, "output_activation")]
    scale = _LOSSES[check_choice(loss, _LOSSES, "loss")]
    batch, n_out = y.shape
    layers = _forward(params, x, hidden, output)
    outputs, targets = layers[-1], [y[:, j : j + 1] for j in range(n_out)]
    if scale is None:  # bce on logits, optax's stable formula as in losses.bce_with_logits
        losses = sum(jnp.sum(optax.losses.sigmoid_binary_cross_entropy(z, t), axis=0)
                     for z, t in zip(outputs, targets)) / (batch * n_out)
        slopes = [(jax.nn.sigmoid(z) - t) / (batch * n_out) for z, t in zip(outputs, targets)]
    else:
        errors = [a - t for a, t in zip(outputs, targets)]
        losses = sum(jnp.sum(e * e, axis=0) for e in errors) * (scale / (2 * batch * n_out))
        slopes = [scale * e / (batch * n_out) for e in errors]
    if not with_grads:
        return losses, None
    deltas = [slopes[j] * output_prime(outputs[j]) for j in range(n_out)]
    grads: list[dict[str, jax.Array]] = [{} for _ in params]
    for index in range(len(params) - 1, -1, -1):
        weights, inputs = params[index]["W"], layers[index]
        n_in, n_units, n_lanes = weights.shape
        grads[index]["W"] = jnp.stack([
            jnp.stack([jnp.broadcast_to(jnp.sum(inputs[i] * deltas[j], axis=0), (n_lanes,))
                       for j in range(n_units)])
            for i in range(n_in)
        ])
        grads[index]["b"] = jnp.stack([jnp.sum(deltas[j], axis=0) for j in range(n_units)]).reshape(
            params[index]["b"].shape
        )
        if index > 0:
            deltas = [
                hidden_prime(inputs[i]) * sum(deltas[j] * weights[i, j] for j in range(n_units))
                for i in range(n_in)
            ]
    return losses, grads if isinstance(params, list) else type(params)(grads)


def mlp_grad_fn(
    *, activation: str = "sigmoid", output_activation: str = "sigmoid", loss: str = "mse"
) -> Callable[..., tuple[jax.Array, Any]]:
    """A ``grad_fn(params, x, y) -> (losses, grads)`` for ``sweep(..., lanes_last=True)``.

    The returned function is cached per settings, so repeated sweeps reuse their
    compiled program.
    """
    check_choice(activation, _ACTIVATIONS, "activation")
    check_choice(output_activation, _ACTIVATIONS, "output_activation")
    check_choice(loss, _LOSSES, "loss")
    return _grad_fns(activation, output_activation, loss)[1]


@functools.cache
def _grad_fns(activation: str, output_activation: str, loss: str) -> tuple[Callable, Callable]:
    settings = {"activation": activation, "output_activation": output_activation, "loss": loss}
    return functools.partial(mlp_loss_lanes, **settings), functools.partial(mlp_loss_and_grad_lanes, **settings)


class LanesLast(NamedTuple):
    """The lanes-last twin of a per-lane loss: what :func:`jaxopt_lessons.sweep` runs instead of ``vmap``.

    Attach one to a loss function, ``loss_fn.lanes_last = LanesLast(...)`` (as
    :func:`jaxopt_lessons.manual.mlp_loss_fn` and so the built-in ``xor`` and ``moons``
    problems do), and ``sweep(loss_fn, ...)`` without a ``grad_fn`` runs the twin with the
    lane axis last whenever ``accepts`` the parameters and every optimizer is elementwise.
    The twin must compute, lane by lane, the same loss as ``loss_fn`` (tested for the
    built-in ones).

    Attributes:
      loss: ``loss(params, *args) -> (lanes,)``, where every leaf of ``params`` has a
        trailing lane axis; lane ``l`` equals ``loss_fn(params[..., l], *args)``.
      grad_fn: ``grad_fn(params, *args) -> (losses, grads)`` on the same layout, or
        ``None`` for autodiff of the summed losses.
      accepts: ``accepts(params, args) -> bool`` on one lane's (possibly abstract,
        ``jax.ShapeDtypeStruct``) parameters and the loss's extra arguments: whether the
        twin handles them; ``None`` accepts everything.
    """

    loss: Callable[..., jax.Array]
    grad_fn: Callable[..., tuple[jax.Array, Any]] | None = None
    accepts: Callable[[Any, tuple], bool] | None = None


def mlp_twin(activation: str = "relu", output_activation: str = "identity", loss: str = "mse") -> LanesLast | None:
    """The :class:`LanesLast` twin of ``jaxopt_lessons.manual.mlp_loss_fn(activation, output_activation, loss)``.

    With these hand-derived gradients as its ``grad_fn``; it accepts ``(x, y)`` data with
    ``x (batch, n_in)``, ``y (batch, n_out)`` and MLP parameters of at most
    :data:`MAX_UNITS_PRODUCT` weights per layer. As in ``mlp_loss_fn``, ``"bce"`` takes
    the last layer's outputs as logits (its ``output_activation`` is not applied).

    Returns:
      The (cached) twin, or ``None`` for settings this module does not cover.
    """
    if activation not in _ACTIVATIONS or output_activation not in _ACTIVATIONS or loss not in _LOSSES:
        return None
    return _twin(activation, "identity" if loss == "bce" else output_activation, loss)


@functools.cache
def _twin(activation: str, output_activation: str, loss: str) -> LanesLast:
    loss_lanes, grad_lanes = _grad_fns(activation, output_activation, loss)
    return LanesLast(loss=loss_lanes, grad_fn=grad_lanes, accepts=_accepts_mlp)


def _accepts_mlp(params: Any, args: tuple) -> bool:
    """Whether one lane's ``params`` and ``args = (x, y)`` fit the unrolled lanes-last MLP (shapes only)."""
    if len(args) != 2 or not isinstance(params, (list, tuple)) or not params:
        return False
    shape = lambda leaf: tuple(getattr(leaf, "shape", (None,)))  # noqa: E731
    width = None  # outputs of the previous layer
    for layer in params:
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            return False
        weights = shape(layer["W"])
        if len(weights) != 2 or None in weights or weights[0] * weights[1] > MAX_UNITS_PRODUCT:
            return False
        if shape(layer["b"]) not in ((weights[1],), (1, weights[1])) or width not in (None, weights[0]):
            return False
        width = weights[1]
    x, y = shape(args[0]), shape(args[1])
    return len(x) == 2 and x[1] == shape(params[0]["W"])[0] and y == (x[0], width)


def sweep_mlp(
    params: Sequence[dict[str, Any]],
    x: Any,
    y: Any,
    learning_rates: Any,
    *,
    steps: int,
    optimizer: str = "sgd",
    activation: str = "sigmoid",
    output_activation: str = "sigmoid",
    loss: str = "mse",
    **sweep_kwargs: Any,
) -> SweepResult:
    """Sweeps learning rates of an MLP from one start with the lanes-last hand gradients.

    The same lanes, statuses and results as ``jl.sweep(lambda p, x, y: mse(mlp(p, x,
    activation=..., output_activation=...), y), params, OPTIMIZERS[optimizer],
    learning_rates, steps=steps, args=(x, y))`` (up to float rounding), computed by
    ``jl.sweep(..., lanes_last=True, grad_fn=mlp_grad_fn(...))``.

    Args:
      params: the start, ``[{"W": (n_in, n_out), "b": (n_out,) or (1, n_out)}, ...]``.
      x: inputs ``(batch, n_in)``.
      y: targets ``(batch, n_out)``.
      learning_rates: 1-D, finite, > 0; one lane each.
      steps: number of updates.
      optimizer: a name in :data:`OPTIMIZERS`.
      activation: hidden activation (sigmoid, tanh, relu, identity).
      output_activation: output activation (same choices).
      loss: ``"mse"``, ``"half_mse"`` or ``"bce"``.
      **sweep_kwargs: passed on to :func:`jaxopt_lessons.sweep` (``record_every``,
        ``devices``, ``progress``, ``max_lanes_per_batch``, ...).

    Returns:
      The :class:`jaxopt_lessons.SweepResult`.

    Raises:
      ValueError, TypeError: bad names or shapes (here), or anything ``sweep`` rejects.
    """
    from .sweep import sweep

    factory = OPTIMIZERS[check_choice(optimizer, OPTIMIZERS, "optimizer")]
    grad_fn = mlp_grad_fn(activation=activation, output_activation=output_activation, loss=loss)
    params, x, y = _check_mlp_inputs(params, x, y)
    loss_fn = _grad_fns(activation, output_activation, loss)[0]
    return sweep(loss_fn, params, factory, learning_rates, steps=steps, args=(x, y), grad_fn=grad_fn,
                 lanes_last=True, **sweep_kwargs)


def _check_mlp_inputs(params: Any, x: Any, y: Any) -> tuple[list[dict[str, jax.Array]], jax.Array, jax.Array]:
    if not isinstance(params, (list, tuple)) or not params:
        raise TypeError("params must be a non-empty list of {'W', 'b'} layers as from init_mlp")
    layers = []
    for index, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            raise ValueError(f"params[{index}] must be a dict with keys 'W' and 'b', got {layer!r:.80}")
        weights, biases = jnp.asarray(layer["W"]), jnp.asarray(layer["b"])
        if weights.ndim != 2 or biases.shape not in ((weights.shape[1],), (1, weights.shape[1])):
            raise ValueError(
                f"params[{index}] must have W (n_in, n_out) and b (n_out,) or (1, n_out), "
                f"got W {weights.shape}, b {biases.shape}"
            )
        if weights.shape[0] * weights.shape[1] > MAX_UNITS_PRODUCT:
            raise ValueError(
                f"params[{index}]['W'] has shape {weights.shape}: the unrolled fast path takes at most "
                f"{MAX_UNITS_PRODUCT} weights per layer; use jaxopt_lessons.sweep for larger networks"
            )
        for name, leaf in (("W", weights), ("b", biases)):
            if not jnp.issubdtype(leaf.dtype, jnp.floating):
                raise TypeError(f"params[{index}][{name!r}] must be floating point, got {leaf.dtype}")
        if index and weights.shape[0] != layers[-1]["W"].shape[1]:
            raise ValueError(f"params[{index}]['W'] has {weights.shape[0]} inputs, "
                             f"but the previous layer has {layers[-1]['W'].shape[1]} outputs")
        layers.append({"W": weights, "b": biases})
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2 or x.shape[1] != layers[0]["W"].shape[0]:
        raise ValueError(f"x must have shape (batch, {layers[0]['W'].shape[0]}), got {x.shape}")
    if y.shape != (x.shape[0], layers[-1]["W"].shape[1]):
        raise ValueError(f"y must have shape ({x.shape[0]}, {layers[-1]['W'].shape[1]}), got {y.shape}")
    return layers, x, y
