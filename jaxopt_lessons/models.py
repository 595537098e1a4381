"""Models as pure functions of parameter pytrees.

A multilayer perceptron is a list of layers ``{"W": (n_in, n_out), "b": (n_out,)}``
applied as ``h <- act(h @ W + b)``; a 1-D linear model is ``{"w", "b"}`` applied as
``x * w + b``. Nothing here holds state: initialisation takes an explicit
``jax.random`` key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._validate import check_choice, check_positive_int, is_finite_number

Params = Any


class Activation(NamedTuple):
    r"""An elementwise activation :math:`h = \phi(z)` and its derivative.

    Attributes:
      fn: :math:`\phi`, ``z -> h``.
      derivative: :math:`\phi'(z)` written as a function of ``z`` and ``h = fn(z)``,
        ``(z, h) -> phi'(z)``, so backpropagation reuses the forward pass's outputs.

    Calling an ``Activation`` applies ``fn``.
    """

    fn: Callable[[jax.Array], jax.Array]
    derivative: Callable[[jax.Array, jax.Array], jax.Array]

    def __call__(self, z: jax.Array) -> jax.Array:
        """``fn(z)``."""
        return self.fn(z)


def _identity(z: jax.Array) -> jax.Array:
    return z


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(jax.nn.sigmoid, lambda z, h: h * (1 - h)),  # sigma' = sigma (1 - sigma)
    "relu": Activation(jax.nn.relu, lambda z, h: (z > 0).astype(h.dtype)),  # 0 at z = 0, like jax.nn.relu
    "tanh": Activation(jnp.tanh, lambda z, h: 1 - h * h),  # tanh' = 1 - tanh^2
    "identity": Activation(_identity, lambda z, h: jnp.ones_like(h)),
}
"""Activation name -> :class:`Activation` (function and derivative): the names every
``activation=`` accepts, in :func:`mlp` and in :mod:`jaxopt_lessons.manual`'s backpropagation."""


def get_activation(name: str, argname: str = "activation") -> Callable[[jax.Array], jax.Array]:
    """Returns the activation function called ``name`` (see :data:`ACTIVATIONS`).

    Raises:
      ValueError: if ``name`` is unknown; the message lists the valid names.
    """
    return ACTIVATIONS[check_choice(name, ACTIVATIONS, argname)].fn


def init_mlp(
    key: jax.Array,
    sizes: Sequence[int],
    *,
    scale: float | None = None,
    dtype: Any = None,
) -> list[dict[str, jax.Array]]:
    """Initialises an MLP with layer sizes ``sizes = (n_in, h_1, ..., n_out)``.

    With ``scale=None`` the weights are Glorot-normal,
    ``W ~ N(0, 2 / (n_in + n_out))``, suited to sigmoid/tanh networks; with a float,
    ``W = scale * N(0, 1)`` as in the seed notebook (``np.random.randn(...) * 0.5``).
    Biases start at zero.

    Args:
      key: a ``jax.random`` key.
      sizes: at least two positive layer widths.
      scale: ``None`` for Glorot, else the standard deviation of the weights.
      dtype: floating dtype of the parameters (default: JAX's default float).

    Returns:
      ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``, one dict per layer.

    Examples:
      >>> import jax
      >>> params = init_mlp(jax.random.key(0), [2, 4, 1])
      >>> [p["W"].shape for p in params]
      [(2, 4), (4, 1)]
    """
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else sizes
    if not isinstance(sizes, list) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence of at least 2 layer widths (input, ..., output), got {sizes!r}")
    sizes = [check_positive_int(size, f"sizes[{i}]") for i, size in enumerate(sizes)]
    if scale is not None and not (is_finite_number(scale) and float(scale) > 0):
        raise ValueError(f"scale must be None (Glorot) or a finite positive float, got {scale!r}")
    if dtype is not None and not _is_float_dtype(dtype):
        raise TypeError(f"dtype must be a floating-point dtype such as jnp.float32, got {dtype!r}")
    dtype = dtype or jnp.zeros(()).dtype
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for layer_key, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]):
        std = (2.0 / (n_in + n_out)) ** 0.5 if scale is None else float(scale)
        weights = std * jax.random.normal(layer_key, (n_in, n_out), dtype=dtype)
        layers.append({"W": weights, "b": jnp.zeros((n_out,), dtype=dtype)})
    return layers


def _is_float_dtype(dtype: Any) -> bool:
    try:
        return bool(jnp.issubdtype(dtype, jnp.floating))
    except TypeError:
        return False


def mlp(
    params: Sequence[dict[str, jax.Array]],
    x: jax.Array,
    *,
    activation: str = "relu",
    output_activation: str = "identity",
) -> jax.Array:
    """Applies the MLP: ``h_0 = x``, ``h_{l+1} = act(h_l @ W_l + b_l)``.

    The hidden layers use ``activation``; the last layer uses ``output_activation``.

    Args:
      params: layers as returned by :func:`init_mlp`; ``b`` may be ``(n_out,)`` or
        ``(1, n_out)`` (the seed's shape).
      x: inputs of shape ``(batch, n_in)``.
      activation: one of ``"sigmoid"``, ``"relu"``, ``"tanh"``, ``"identity"``.
      output_activation: same choices, for the last layer.

    Returns:
      Outputs of shape ``(batch, n_out)``.
    """
    hidden = get_activation(activation, "activation")
    output = get_activation(output_activation, "output_activation")
    h = x
    for index, layer in enumerate(params):
        act = output if index == len(params) - 1 else hidden
        h = act(h @ layer["W"] + layer["b"])
    return h


def linear(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """The 1-D linear model ``x * w + b`` (broadcasting, as in the seed's regression).

    Args:
      params: ``{"w": ..., "b": ...}``, scalars or arrays broadcastable with ``x``.
      x: inputs, e.g. of shape ``(n, 1)``.
    """
    return x * params["w"] + params["b"]
