"""Small data sets for the lessons, each drawn from an explicit ``jax.random`` key.

Classification sets return ``(X (n, 2) float, y (n, 1) float in {0, 1})``.
The ``seed_*`` functions rebuild the seed notebook's own inputs: its
``np.random.seed(42)`` draws come from a private :class:`numpy.random.RandomState`
(the same stream, no global state), in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import check_positive_int


def _check_noise(noise: float) -> float:
    if not float(noise) >= 0:
        raise ValueError(f"noise must be a float >= 0, got {noise!r}")
    return float(noise)


def xor() -> tuple[jax.Array, jax.Array]:
    """The XOR truth table: ``X = [[0,0],[0,1],[1,0],[1,1]]``, ``y = [[0],[1],[1],[0]]``."""
    X = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    return X, y


def noisy_line(
    key: jax.Array,
    n: int = 100,
    w: float = 3.0,
    b: float = 2.0,
    noise: float = 0.5,
    x_scale: float = 2.0,
) -> tuple[jax.Array, jax.Array]:
    r"""Points on a noisy line: :math:`x = s\,z_1`, :math:`y = w x + b + \sigma z_2`, ``z ~ N(0, 1)``.

    Returns:
      ``(x (n, 1), y (n, 1))``.
    """
    n = check_positive_int(n, "n")
    noise = _check_noise(noise)
    key_x, key_noise = jax.random.split(key)
    x = x_scale * jax.random.normal(key_x, (n, 1))
    y = w * x + b + noise * jax.random.normal(key_noise, (n, 1))
    return x, y


def two_moons(key: jax.Array, n: int = 200, noise: float = 0.1) -> tuple[jax.Array, jax.Array]:
    """Two interleaving half circles (class 0 upper, class 1 lower), plus Gaussian noise."""
    n = check_positive_int(n, "n")
    noise = _check_noise(noise)
    key_angle, key_noise = jax.random.split(key)
    n_upper = n // 2
    angles = jnp.pi * jax.random.uniform(key_angle, (n,))
    upper = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    lower = jnp.stack([1.0 - jnp.cos(angles), 0.5 - jnp.sin(angles)], axis=1)
    labels = (jnp.arange(n) >= n_upper).astype(upper.dtype)[:, None]
    X = jnp.where(labels > 0, lower, upper)
    X = X + noise * jax.random.normal(key_noise, X.shape)
    return X, labels


def circles(
    key: jax.Array, n: int = 200, noise: float = 0.05, factor: float = 0.5
) -> tuple[jax.Array, jax.Array]:
    """Two concentric circles: class 0 on radius 1, class 1 on radius ``factor``."""
    n = check_positive_int(n, "n")
    noise = _check_noise(noise)
    if not 0 < factor < 1:
        raise ValueError(f"factor must be in (0, 1), got {factor!r}")
    key_angle, key_noise = jax.random.split(key)
    angles = 2 * jnp.pi * jax.random.uniform(key_angle, (n,))
    labels = (jnp.arange(n) >= n // 2).astype(angles.dtype)[:, None]
    radius = jnp.where(labels[:, 0] > 0, factor, 1.0)
    X = radius[:, None] * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    X = X + noise * jax.random.normal(key_noise, X.shape)
    return X, labels


def spirals(key: jax.Array, n: int = 200, noise: float = 0.1, turns: float = 1.5) -> tuple[jax.Array, jax.Array]:
    """Two interleaved Archimedean spirals, one per class (radius grows with the angle)."""
    n = check_positive_int(n, "n")
    noise = _check_noise(noise)
    key_t, key_noise = jax.random.split(key)
    t = jnp.sqrt(jax.random.uniform(key_t, (n,))) * turns * 2 * jnp.pi
    labels = (jnp.arange(n) >= n // 2).astype(t.dtype)[:, None]
    sign = 1.0 - 2.0 * labels[:, 0]
    X = sign[:, None] * jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=1) / (turns * 2 * jnp.pi)
    X = X + noise * jax.random.normal(key_noise, X.shape)
    return X, labels


# --- The seed notebook's own inputs -------------------------------------------------


def seed_linear_regression() -> dict[str, np.ndarray]:
    """The seed's regression data and start, from its ``np.random.seed(42)`` stream.

    ``X_train = randn(100, 1) * 2``, ``y_train = 3 X + 2 + randn(100, 1) * 0.5``, then
    ``w = randn()``, ``b = randn()`` continue the same stream, exactly as in the notebook.

    Returns:
      ``{"x": (100, 1), "y": (100, 1), "w0": float, "b0": float}`` in float64 NumPy.
    """
    rng = np.random.RandomState(42)
    x = rng.randn(100, 1) * 2
    y = 3 * x + 2 + rng.randn(100, 1) * 0.5
    w0 = rng.randn()
    b0 = rng.randn()
    return {"x": x, "y": y, "w0": float(w0), "b0": float(b0)}


def seed_backprop_example() -> dict[str, np.ndarray]:
    """The seed's 2-layer backprop example: ``x = [[0.5, 0.8]]``, ``y = [[0.9]]``, seeded weights.

    Returns:
      ``{"x", "y", "params"}`` with ``params = [{"W": (2, 3), "b": (1, 3)}, {"W": (3, 1), "b": (1, 1)}]``
      (``W1 = randn(2, 3) * 0.1``, ``W2 = randn(3, 1) * 0.1`` after ``seed(42)``), float64 NumPy.
    """
    rng = np.random.RandomState(42)
    w1 = rng.randn(2, 3) * 0.1
    w2 = rng.randn(3, 1) * 0.1
    params = [{"W": w1, "b": np.zeros((1, 3))}, {"W": w2, "b": np.zeros((1, 1))}]
    return {"x": np.array([[0.5, 0.8]]), "y": np.array([[0.9]]), "params": params}


def seed_xor_init() -> list[dict[str, np.ndarray]]:
    """The seed's XOR start: after ``seed(42)``, ``W1 = randn(2, 4) * 0.5``, ``W2 = randn(4, 1) * 0.5``.

    Returns:
      ``[{"W": (2, 4), "b": (1, 4)}, {"W": (4, 1), "b": (1, 1)}]`` in float64 NumPy (zero biases).
    """
    rng = np.random.RandomState(42)
    w1 = rng.randn(2, 4) * 0.5
    w2 = rng.randn(4, 1) * 0.5
    return [{"W": w1, "b": np.zeros((1, 4))}, {"W": w2, "b": np.zeros((1, 1))}]
