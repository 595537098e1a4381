"""Small helpers shared by several lessons (not a lesson: ``experiments.LESSONS`` lists those)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp


def default_dtype(dtype: Any = None) -> jnp.dtype:
    """``dtype`` as a NumPy dtype, or JAX's default float (float64 under ``jax_enable_x64``).

    Lessons' ``problem(dtype=None)`` resolve their dtype with this before calling a jitted
    builder with the dtype as a static argument, so ``None`` and the explicit default share
    one compilation.
    """
    return jnp.dtype(dtype or jnp.zeros(()).dtype)
