"""Small helpers shared by several lessons (not a lesson: ``experiments.LESSONS`` lists those)."""

from __future__ import annotations

import sys
from typing import Any

import jax.numpy as jnp
import numpy as np

SEEDS = 5
"""Random starts behind every claim that compares methods (median and spread across them)."""


def say(message: str) -> None:
    """One progress line of a long lesson step on stderr (the runner prints the lesson itself)."""
    print(f"        {message}", file=sys.stderr, flush=True)


def show_progress() -> bool:
    """Whether ``jl.sweep`` should draw its progress bar: when stderr is a terminal (not in tests or logs)."""
    return sys.stderr.isatty()


def default_dtype(dtype: Any = None) -> jnp.dtype:
    """``dtype`` as a NumPy dtype, or JAX's default float (float64 under ``jax_enable_x64``).

    Lessons' ``problem(dtype=None)`` resolve their dtype with this before calling a jitted
    builder with the dtype as a static argument, so ``None`` and the explicit default share
    one compilation.
    """
    return jnp.dtype(dtype or jnp.zeros(()).dtype)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int, or an error naming ``name``: TypeError unless an int (bools refused),
    ValueError unless > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def finite_positive(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array whose entries are all finite and > 0, or an error naming ``name``.

    Raises:
      TypeError: ``values`` are not numbers.
      ValueError: not 1-D, empty, or some entry not finite and > 0.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {type(values).__name__}") from error
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{name} must all be finite and > 0, got {array.tolist()}")
    return array


def key_index(key: Any, seeds: Any) -> Any:
    """The index ``i`` with ``key == jax.random.key(seeds[i])`` (0 when none matches); traceable.

    ``jl.sweep`` draws each lane's start as ``init(jax.random.key(seed))``. An ``init`` that
    must start seed ``seeds[i]`` from precomputed or structured parameters (a base network
    trained earlier, a width) finds ``i`` by comparing the key's data with the keys of
    ``seeds`` (public ``jax.random.key_data``; no assumption on the key's layout).

    Args:
      key: a typed PRNG key (traced or not).
      seeds: the sweep's seeds, a sequence of ints.
    """
    import jax

    table = jax.numpy.stack([jax.random.key_data(jax.random.key(int(seed))) for seed in seeds])
    return jax.numpy.argmax(jax.numpy.all(jax.random.key_data(key) == table, axis=-1))
