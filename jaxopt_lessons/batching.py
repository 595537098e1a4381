r"""Minibatches: which examples step ``t`` of a run trains on.

Every epoch is a fresh random permutation of the ``n`` examples, drawn from the run's
key and the epoch number; step ``t`` takes the next ``batch_size`` of them:

.. math::

    e = \lfloor t / s \rfloor,\quad s = \lfloor n / B \rfloor, \qquad
    \text{indices}_t = \pi_e[(t \bmod s) B : (t \bmod s) B + B], \qquad
    \pi_e = \text{permutation}(\text{fold\_in}(\text{key}, e), n),

so the incomplete last batch of an epoch is dropped. The order depends only on the
key, never on anything else a run does: :func:`jaxopt_lessons.fit` with ``key=k`` and
every lane of a sweep whose seed gives ``k`` see the same batches (common random
numbers make learning rates and optimizers comparable).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._validate import check_positive_int

__all__ = ["check_batch_size", "epoch_batches", "steps_per_epoch", "take"]


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Full batches per epoch, :math:`\\lfloor n / B \\rfloor`."""
    return n_examples // batch_size


def epoch_batches(key: jax.Array, epoch: jax.Array, n_examples: int, batch_size: int) -> jax.Array:
    """The example indices of every step of ``epoch``: ``(steps_per_epoch, batch_size)`` int32.

    Args:
      key: the run's ``jax.random`` key.
      epoch: the epoch number (a traced int is fine).
      n_examples: examples in the data set.
      batch_size: examples per step.
    """
    per_epoch = steps_per_epoch(n_examples, batch_size)
    order = jax.random.permutation(jax.random.fold_in(key, epoch), n_examples)
    return order[: per_epoch * batch_size].reshape(per_epoch, batch_size).astype(jnp.int32)


def take(args: tuple, indices: jax.Array) -> tuple:
    """Rows ``indices`` of every array in ``args`` (the leading axis is the example axis)."""
    return jax.tree_util.tree_map(lambda a: jnp.take(a, indices, axis=0), args)


def check_batch_size(batch_size: Any, args: tuple, name: str = "args") -> tuple[int, int] | None:
    """Checks ``batch_size`` against the example axis of ``args``.

    Returns:
      ``None`` for full-batch training (``batch_size is None``), else
      ``(batch_size, n_examples)``.

    Raises:
      TypeError, ValueError: naming ``batch_size`` or ``args``: not a positive int, no
        array in ``args``, arrays with different leading lengths, or a batch larger
        than the data.
    """
    if batch_size is None:
        return None
    batch_size = check_positive_int(batch_size, "batch_size")
    leaves = jax.tree_util.tree_leaves(args)
    if not leaves:
        raise ValueError(f"batch_size needs data: {name} holds no array with an example axis")
    lengths = {tuple(jnp.shape(leaf))[:1] for leaf in leaves}
    if () in lengths:
        raise ValueError(f"with batch_size, every array in {name} needs a leading example axis; got a scalar")
    if len(lengths) != 1:
        raise ValueError(f"with batch_size, every array in {name} must have the same number of examples "
                         f"(leading axis), got {sorted(n for (n,) in lengths)}")
    ((n_examples,),) = lengths
    if batch_size > n_examples:
        raise ValueError(f"batch_size ({batch_size}) must be <= the number of examples in {name} ({n_examples})")
    return batch_size, n_examples
