"""digits_like: seven-segment digit images, drawn from an explicit key (issue 10's real-model data)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxopt_lessons import datasets

# The seven-segment table written out by hand for 8 x 8 (rows 1, 4, 6 are the bars, columns 2 and 5 the sides).
EIGHT = np.array([[0, 0, 0, 0, 0, 0, 0, 0],
                  [0, 0, 1, 1, 1, 1, 0, 0],
                  [0, 0, 1, 0, 0, 1, 0, 0],
                  [0, 0, 1, 0, 0, 1, 0, 0],
                  [0, 0, 1, 1, 1, 1, 0, 0],
                  [0, 0, 1, 0, 0, 1, 0, 0],
                  [0, 0, 1, 1, 1, 1, 0, 0],
                  [0, 0, 0, 0, 0, 0, 0, 0]], np.float32)
N = 200
"""Examples per draw (one size for every draw: see ``test_the_key_decides_the_draw_and_shifts_move_the_strokes``)."""


def test_templates_are_ten_distinct_seven_segment_digits():
    templates = datasets.digit_templates(8)
    assert templates.shape == (10, 8, 8)
    np.testing.assert_array_equal(templates[8], EIGHT)
    np.testing.assert_array_equal(templates[1], EIGHT * (np.arange(8) == 5)[None, :])  # the right side only
    zero = EIGHT.copy()
    zero[4, 3:5] = 0.0  # no middle bar
    np.testing.assert_array_equal(templates[0], zero)
    flat = templates.reshape(10, -1)
    assert len({row.tobytes() for row in flat}) == 10
    assert np.all((flat <= EIGHT.reshape(-1)) | (flat == 0))  # every digit is a subset of 8


@pytest.mark.slow
def test_without_noise_or_shift_each_example_is_its_scaled_template():
    X, y = datasets.digits_like(jax.random.key(3), n=N, noise=0.0, max_shift=0)
    assert X.shape == (N, 64) and X.dtype == np.float32 and y.dtype == np.int32
    templates = datasets.digit_templates(8).reshape(10, -1)
    X, y = np.asarray(X), np.asarray(y)
    scale = X.max(axis=1)
    assert np.all((scale >= 0.6) & (scale <= 1.4))
    np.testing.assert_allclose(X / scale[:, None], templates[y], rtol=1e-6)
    assert set(y.tolist()) == set(range(10))


def test_the_key_decides_the_draw_and_shifts_move_the_strokes():
    # n = 200 in every draw of this file: digits_like runs op by op, and each new n compiles every op again
    a, b, c = (datasets.digits_like(jax.random.key(k), n=N, n_classes=4) for k in (1, 1, 2))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert set(np.asarray(a[1]).tolist()) <= {0, 1, 2, 3}
    X, y = datasets.digits_like(jax.random.key(5), n=N, noise=0.0, max_shift=1)
    templates = datasets.digit_templates(8).reshape(10, -1)
    aligned = np.all((np.asarray(X) > 0) == (templates[np.asarray(y)] > 0), axis=1)
    assert 0.05 < aligned.mean() < 0.5  # 1 shift in 9 keeps the strokes in place (up to classes whose roll is a no-op)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_classes=11), ValueError, r"n_classes must be <= 10"),
    (dict(size=4), ValueError, r"size must be >= 5"),
    (dict(noise=-1.0), ValueError, r"noise must be a float >= 0"),
    (dict(max_shift=-1), ValueError, r"max_shift must be an int >= 0"),
    (dict(n=0), ValueError, r"n must be a positive int"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        datasets.digits_like(jax.random.key(0), **kwargs)
