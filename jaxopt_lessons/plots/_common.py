"""Input checks and finishing touches shared by every ``jaxopt_lessons.plots`` module.

Private: the public plotting functions call these so that the same mistake gets the
same message (naming the argument) whichever figure it was passed to, and every
figure is built and finished the same way (no pyplot state, constrained layout).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

# Line styles cycled through by curves that may overlap, so both stay visible.
LINESTYLES = ("-", "--", ":", "-.")


# --- input checks ------------------------------------------------------------------


def check_mapping(mapping: Any, name: str) -> Mapping[str, Any]:
    """``mapping`` itself, or a TypeError (not a mapping) / ValueError (empty) naming ``name``."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a mapping name -> values, got {type(mapping).__name__}")
    if len(mapping) == 0:
        raise ValueError(f"{name} must not be empty: give at least one name -> values entry")
    return mapping


def as_1d(values: Any, name: str, *, column: bool = True) -> np.ndarray:
    """``values`` as a non-empty 1-D float64 array, or an error naming ``name``.

    Args:
      values: array-like of numbers.
      name: the argument's name, used in the error message.
      column: also accept an ``(n, 1)`` column, returned as ``(n,)``.

    Raises:
      TypeError: ``values`` are not numbers.
      ValueError: not 1-D (or a column, with ``column``), or empty.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers, got {type(values).__name__}") from error
    if column and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    return array


def same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """A ValueError naming both arrays unless they hold as many values."""
    if a.size != b.size:
        raise ValueError(f"{name_a} and {name_b} must have the same length, got {a.size} and {b.size}")


def as_1d_pair(a: Any, b: Any, name_a: str, name_b: str, *, column: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays checked by :func:`as_1d` and :func:`same_length` (e.g. ``xs`` and ``f(xs)``)."""
    a, b = as_1d(a, name_a, column=column), as_1d(b, name_b, column=column)
    same_length(a, b, name_a, name_b)
    return a, b


def positive_x_and_y(x: Any, y: Any, name_x: str, name_y: str) -> tuple[np.ndarray, np.ndarray]:
    """Two same-length 1-D arrays, the first finite and > 0 (a log x axis: learning rates, sizes)."""
    x, y = as_1d_pair(x, y, name_x, name_y)
    return positive(x, name_x), y


def positive(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` itself, or a ValueError unless every value is finite and > 0 (log axes)."""
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{name} must be finite and > 0 (they go on a log axis)")
    return array


def number(value: Any, name: str, *, positive: bool = False) -> float:
    """``value`` as a float (TypeError otherwise); with ``positive``, finite and > 0 (ValueError)."""
    try:
        result = float(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a float, got {value!r}") from error
    if positive and not (math.isfinite(result) and result > 0):
        raise ValueError(f"{name} must be a finite float > 0, got {value!r}")
    return result


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int, or a ValueError unless it is an int > 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


# --- drawing -------------------------------------------------------------------------


def finite_or_nan(array: np.ndarray) -> np.ndarray:
    """inf/NaN (a diverged run) as NaN, so the line shows a gap instead of breaking autoscaling."""
    return np.where(np.isfinite(array), array, np.nan)


def new_axes(figsize: tuple[float, float] = (8.0, 5.0)) -> tuple[Figure, Any]:
    """A pyplot-free figure with constrained layout and its single axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def log_y_if_positive(ax: Any, *arrays: np.ndarray, all_positive: bool = True) -> None:
    """Log-scale the y axis when some finite value is > 0.

    With ``all_positive`` (the default) every finite value must also be > 0, else the
    axis stays linear (a log axis would hide the others).
    """
    if not any(np.any(np.isfinite(a) & (a > 0)) for a in arrays):
        return
    if all_positive and not all(np.all(~np.isfinite(a) | (a > 0)) for a in arrays):
        return
    ax.set_yscale("log")


def finish(ax: Any, *, title: str = "", xlabel: str = "", ylabel: str = "", legend: bool = True,
           legend_fontsize: float | None = None) -> None:
    """Set the non-empty labels, a light major grid, and a legend when some artist has a label."""
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, which="major")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", framealpha=0.9, fontsize=legend_fontsize)
