"""Optimizer names: one registry that the command line, the lessons and the benchmarks read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import optax

from .._catalog import OPTIMIZERS as _OPTIMIZER_SETTINGS
from .._validate import check_choice
from . import aliases

# --------------------------------------------------------------------------- registry of names


class OptimizerPair(NamedTuple):
    """One named optimizer as two factories ``learning_rate -> GradientTransformation``.

    Attributes:
      optax_factory: optax's (e.g. ``optax.adam``).
      hand_factory: its hand-rolled twin (e.g. :func:`jaxopt_lessons.optim.adam`).
    """

    optax_factory: Callable[..., optax.GradientTransformation]
    hand_factory: Callable[..., optax.GradientTransformation]


def _bind(function: Callable[..., Any], settings: dict[str, Any]) -> Callable[..., Any]:
    # The same objects on every lookup, so compiled sweeps and fits are reused.
    return functools.partial(function, **settings) if settings else function


OPTIMIZERS: dict[str, OptimizerPair] = {
    name: OptimizerPair(_bind(getattr(optax, base), settings), _bind(getattr(aliases, base), settings))
    for name, (base, settings) in _OPTIMIZER_SETTINGS.items()
}
"""Optimizer name -> :class:`OptimizerPair`: ``sgd``, ``momentum`` (SGD with momentum 0.9),
``nesterov`` (the same with Nesterov's correction), ``adam``, ``adamw``, ``lion``, each with
optax's defaults. The command line, the sweeps and the lessons read their names here."""


def factory(name: str, hand: bool = False) -> Callable[..., optax.GradientTransformation]:
    """The optimizer factory called ``name`` (see :data:`OPTIMIZERS`).

    Args:
      name: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"`` or ``"lion"``.
      hand: the hand-rolled twin (:mod:`jaxopt_lessons.optim`) instead of optax's.

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
