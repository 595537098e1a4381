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



# Seven-segment strokes: which of a (top), b (top right), c (bottom right), d (bottom),
# e (bottom left), f (top left), g (middle) each digit lights.
_SEGMENTS = ("abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg")


def digit_templates(size: int = 8) -> np.ndarray:
    """The ten noiseless class images of :func:`digits_like`: seven-segment digits 0-9.

    Args:
      size: image side in pixels (>= 5).

    Returns:
      ``(10, size, size)`` float32 NumPy images with strokes of value 1 on a 0 background.
    """
    size = check_positive_int(size, "size")
    if size < 5:
        raise ValueError(f"size must be >= 5 pixels to draw seven segments, got {size}")
    top, bottom = 1, size - 2
    middle = (top + bottom + 1) // 2
    left, right = max(1, size // 4), size - 1 - max(1, size // 4)
    strokes = {
        "a": (slice(top, top + 1), slice(left, right + 1)), "g": (slice(middle, middle + 1), slice(left, right + 1)),
        "d": (slice(bottom, bottom + 1), slice(left, right + 1)),
        "f": (slice(top, middle + 1), slice(left, left + 1)), "b": (slice(top, middle + 1), slice(right, right + 1)),
        "e": (slice(middle, bottom + 1), slice(left, left + 1)), "c": (slice(middle, bottom + 1), slice(right, right + 1)),
    }
    images = np.zeros((10, size, size), np.float32)
    for digit, lit in enumerate(_SEGMENTS):
        for segment in lit:
            images[(digit, *strokes[segment])] = 1.0
    return images


def digits_like(
    key: jax.Array, n: int = 1000, n_classes: int = 10, size: int = 8, noise: float = 0.2, max_shift: int = 1
) -> tuple[jax.Array, jax.Array]:
    r"""A digits-like classification set (no download, no sklearn): noisy seven-segment digits.

    Example :math:`i` of class :math:`c_i` (uniform over ``n_classes``) is the class
    template (:func:`digit_templates`) shifted by :math:`(\delta_y, \delta_x)`, uniform in
    ``[-max_shift, max_shift]`` each (``jnp.roll``), scaled by a stroke intensity
    :math:`a \sim U(0.6, 1.4)`, plus pixel noise :math:`\sigma z`, ``z ~ N(0, 1)``:
    :math:`x_i = a\,\text{roll}(T_{c_i}, \delta) + \sigma z`, flattened to
    ``size * size`` features (64 for 8 x 8, like sklearn's digits).

    Args:
      key: the ``jax.random`` key of the draw.
      n: number of examples.
      n_classes: classes ``0 .. n_classes - 1`` (at most 10, one per digit).
      size: image side in pixels (>= 5).
      noise: pixel noise standard deviation :math:`\sigma` (>= 0).
      max_shift: largest shift in pixels along each axis (>= 0).

    Returns:
      ``(X (n, size * size) float32, y (n,) int32)``.

    Examples:
      >>> X, y = digits_like(jax.random.key(0), n=5)
      >>> X.shape, y.shape, str(y.dtype)
      ((5, 64), (5,), 'int32')
    """
    n = check_positive_int(n, "n")
    n_classes = check_positive_int(n_classes, "n_classes")
    if n_classes > 10:
        raise ValueError(f"n_classes must be <= 10 (one seven-segment digit each), got {n_classes}")
    noise = _check_noise(noise)
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    templates = jnp.asarray(digit_templates(size)[:n_classes])
    key_label, key_shift, key_scale, key_noise = jax.random.split(key, 4)
    labels = jax.random.randint(key_label, (n,), 0, n_classes, dtype=jnp.int32)
    shifts = jax.random.randint(key_shift, (n, 2), -max_shift, max_shift + 1)
    scales = jax.random.uniform(key_scale, (n, 1, 1), minval=0.6, maxval=1.4)
    images = jax.vmap(lambda image, shift: jnp.roll(image, shift, axis=(0, 1)))(templates[labels], shifts)
    images = scales * images + noise * jax.random.normal(key_noise, images.shape)
    return images.reshape(n, size * size).astype(jnp.float32), labels

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
