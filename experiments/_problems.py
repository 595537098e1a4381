"""Problem set-ups shared by several lessons (not a lesson: ``experiments.LESSONS`` lists those).

Lessons never import each other; what two lessons train on lives here. The *moons
problem* is the practice exercise of lesson 8 (a 2 → 8 → 4 → 1 ReLU network on two
noisy moons, binary cross-entropy on the logits), which lessons 9 (modern optimizers)
and 10 (learning-rate finder) sweep too. The optimizer table and the learning-rate
grid are module-level objects, so two lessons run in one process reuse the compiled
sweeps (``jl.sweep`` caches its programs on the factory objects and shapes).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._common import default_dtype

# --- the moons problem (lessons 8-10) -------------------------------------------------

MOONS_SIZES = (2, 8, 4, 1)
"""The exercise's architecture."""
MOONS_OPTIONS = {"activation": "relu", "output_activation": "identity", "loss": "bce"}
"""ReLU hidden layers, a logit output and binary cross-entropy on the logits."""
MOONS_N_TRAIN, MOONS_N_TEST, MOONS_NOISE = 200, 1000, 0.2


def moons_problem(dtype: Any = None) -> dict[str, Any]:
    """The exercise's data and start: two moons (train and test) and a Glorot-initialised MLP.

    Args:
      dtype: floating dtype of data and parameters (default: JAX's default float).

    Returns:
      ``{"x", "y", "x_test", "y_test", "params"}``.
    """
    return _moons_problem(default_dtype(dtype))


@jax.jit(static_argnums=0)
def _moons_problem(dtype: Any) -> dict[str, Any]:
    # One compiled program instead of dozens of eagerly dispatched (and compiled) ops.
    x, y = jl.datasets.two_moons(jax.random.key(0), MOONS_N_TRAIN, MOONS_NOISE)
    x_test, y_test = jl.datasets.two_moons(jax.random.key(1), MOONS_N_TEST, MOONS_NOISE)
    params = jl.init_mlp(jax.random.key(2), MOONS_SIZES, dtype=dtype)
    cast = lambda a: jnp.asarray(a, dtype)  # noqa: E731
    return {"x": cast(x), "y": cast(y), "x_test": cast(x_test), "y_test": cast(y_test), "params": params}


# --- optimizers and the learning-rate grid (lessons 9 and 10) -------------------------

WEIGHT_DECAY = 0.1
"""AdamW's decoupled weight decay, 0.1 as is common in large-model training (optax's default is 1e-4);
each step shrinks the weights by the factor 1 - lr x weight decay."""
OPTIMIZERS: dict[str, tuple[Any, Any]] = {
    "SGD": (optax.sgd, jl.optim.sgd),
    "momentum": (functools.partial(optax.sgd, momentum=0.9), functools.partial(jl.optim.sgd, momentum=0.9)),
    "Adam": (optax.adam, jl.optim.adam),
    "AdamW": (functools.partial(optax.adamw, weight_decay=WEIGHT_DECAY),
              functools.partial(jl.optim.adamw, weight_decay=WEIGHT_DECAY)),
    "Lion": (optax.lion, jl.optim.lion),
}
"""Name -> (optax factory, hand-rolled ``jl.optim`` factory); module-level, so compiled sweeps are reused."""
LR_RANGE = (1e-3, 10.0)
POINTS_PER_DECADE, QUICK_POINTS_PER_DECADE = 4, 2
STEPS, QUICK_STEPS = 1000, 300
"""Full-batch steps of every run of the optimizer sweeps (full run, quick mode)."""


def sweep_steps(quick: bool) -> int:
    """Steps of each run of the optimizer sweeps."""
    return QUICK_STEPS if quick else STEPS


def learning_rates(quick: bool) -> np.ndarray:
    """The log grid of learning rates from ``LR_RANGE[0]`` to ``LR_RANGE[1]`` inclusive."""
    per_decade = QUICK_POINTS_PER_DECADE if quick else POINTS_PER_DECADE
    decades = math.log10(LR_RANGE[1] / LR_RANGE[0])
    return np.geomspace(*LR_RANGE, int(round(decades * per_decade)) + 1)


def optax_name(name: str) -> str:
    """The sweep's lane label of the optax version of optimizer ``name``."""
    return f"{name} (optax)"


def hand_name(name: str) -> str:
    """The sweep's lane label of the hand-rolled version of optimizer ``name``."""
    return f"{name} (hand)"


def moons_init(key: jax.Array) -> list[dict[str, jax.Array]]:
    """A random start of the moons network for ``jl.sweep(..., seeds=...)``: Glorot weights, zero biases.

    ``moons_init(jax.random.key(2))`` is the fixed start of :func:`moons_problem`. In JAX's
    default float (float64 under ``jax_enable_x64``), like :func:`moons_problem`'s data.
    """
    return jl.init_mlp(key, MOONS_SIZES, dtype=default_dtype())
