"""Figures for the calculus lessons: tangent lines, surfaces with gradient arrows, descent paths.

Every function takes arrays (NumPy, JAX or lists) that a lesson has already computed and
returns a :class:`matplotlib.figure.Figure`; nothing here differentiates or trains.
Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so
they work headless and are freed when dropped; save them with
:func:`jaxopt_lessons.plots.save_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._common import as_1d_pair, new_axes

__all__ = [
    "plot_descent_grid",
    "plot_descent_path",
    "plot_surface_contour",
    "plot_tangent_line",
]

_PATH_COLOURS = ("tab:red", "tab:orange", "tab:purple", "tab:green", "tab:brown", "tab:pink")


def _scalar(value: Any, name: str) -> float:
    array = np.asarray(value, dtype=float)
    if array.size != 1:
        raise ValueError(f"{name} must be a scalar, got shape {array.shape}")
    return float(array.reshape(()))


def _style(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel, fontsize=11)
    ax.set_ylabel(ylabel, fontsize=11)
    ax.set_title(title, fontsize=12, fontweight="bold")
    ax.grid(True, alpha=0.3)


def plot_tangent_line(
    xs: Any,
    ys: Any,
    x0: Any,
    y0: Any,
    slope: Any,
    intercept: Any,
    *,
    func_label: str = "f(x)",
    title: str = "Derivative = slope of the tangent line",
) -> Figure:
    r"""A function and its tangent :math:`y = \text{slope}\cdot x + \text{intercept}` at ``(x0, y0)``.

    Args:
      xs, ys: the function sampled on a grid (1-D, same length).
      x0, y0: the point of tangency.
      slope, intercept: the tangent line (e.g. from :func:`jaxopt_lessons.tangent_line`).
      func_label: legend label of the function, e.g. ``"f(x) = x²"``.
      title: the axes title.

    Returns:
      The figure (one axes).
    """
    xs, ys = as_1d_pair(xs, ys, "xs", "ys", column=False)
    x0, y0 = _scalar(x0, "x0"), _scalar(y0, "y0")
    slope, intercept = _scalar(slope, "slope"), _scalar(intercept, "intercept")
    fig, ax = new_axes((8, 5))
    ax.plot(xs, ys, "b-", linewidth=2, label=func_label)
    ax.plot(xs, slope * xs + intercept, "r--", linewidth=2, label=f"tangent (slope = {slope:.4g})")
    ax.plot([x0], [y0], "go", markersize=10, label=f"point ({x0:.4g}, {y0:.4g})")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.axvline(0, color="k", linewidth=0.5)
    span = float(np.max(ys) - np.min(ys)) or 1.0
    ax.set_ylim(float(np.min(ys)) - 0.15 * span, float(np.max(ys)) + 0.15 * span)
    _style(ax, "x", "y", title)
    ax.legend()
    return fig


def plot_surface_contour(
    X: Any,
    Y: Any,
    Z: Any,
    *,
    arrow_points: Any = None,
    arrow_vectors: Any = None,
    title: str = "f(x, y)",
) -> Figure:
    """A 3-D surface of ``Z`` next to its contour map with arrows drawn from points.

    As in the seed lesson, the arrows are usually the *negative* gradient (scaled by
    the caller, e.g. ``-0.2 * grad``), which points downhill, across the contour lines.

    Args:
      X, Y, Z: 2-D arrays of the same shape (a ``meshgrid`` and the function on it).
      arrow_points: ``(k, 2)`` arrow tails, or ``None`` for no arrows.
      arrow_vectors: ``(k, 2)`` arrow displacements (drawn as given), with ``arrow_points``.
      title: the function's name, used in both panel titles.

    Returns:
      The figure (a 3-D axes and a contour axes).
    """
    X, Y, Z = (np.asarray(a, dtype=float) for a in (X, Y, Z))
    if X.ndim != 2 or X.shape != Y.shape or X.shape != Z.shape:
        raise ValueError(f"X, Y and Z must be 2-D arrays of one shape, got {X.shape}, {Y.shape}, {Z.shape}")
    if (arrow_points is None) != (arrow_vectors is None):
        raise ValueError("arrow_points and arrow_vectors must be given together")
    if arrow_points is not None:
        arrow_points = np.asarray(arrow_points, dtype=float)
        arrow_vectors = np.asarray(arrow_vectors, dtype=float)
        if arrow_points.ndim != 2 or arrow_points.shape[1] != 2 or arrow_points.shape != arrow_vectors.shape:
            raise ValueError(
                "arrow_points and arrow_vectors must both have shape (k, 2), got "
                f"{arrow_points.shape} and {arrow_vectors.shape}"
            )
    # No constrained layout: it reserves the 3-D axes' square box and leaves a blank gap
    # between the panels; explicit margins put the two panels side by side.
    fig = Figure(figsize=(11.5, 5.6))
    grid = fig.add_gridspec(1, 2, width_ratios=(1.15, 1.0), left=0.0, right=0.98, bottom=0.16, top=0.9,
                            wspace=0.02)
    ax3d = fig.add_subplot(grid[0], projection="3d")
    ax3d.plot_surface(X, Y, Z, cmap="viridis", alpha=0.85, linewidth=0)
    ax3d.set_xlabel("x")
    ax3d.set_ylabel("y")
    ax3d.set_zlabel("f(x, y)")
    ax3d.set_title(f"{title} (3-D view)", fontweight="bold")

    ax = fig.add_subplot(grid[1])
    contour = ax.contour(X, Y, Z, levels=12, cmap="viridis")
    # Every other level labelled: a label on each of a dozen close rings crowds the map.
    ax.clabel(contour, contour.levels[1::2], inline=True, fontsize=8, fmt="%g")
    if arrow_points is not None:
        ax.quiver(
            arrow_points[:, 0], arrow_points[:, 1], arrow_vectors[:, 0], arrow_vectors[:, 1],
            angles="xy", scale_units="xy", scale=1, color="red", width=0.006,
            label="negative gradient (scaled)",
        )
        ax.plot(arrow_points[:, 0], arrow_points[:, 1], "ro", markersize=7, label="where it is evaluated")
        # Below the map, so it hides neither arrows nor contour labels.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, framealpha=0.9)
    ax.set_aspect("equal")
    ax.set_anchor("W")  # the square map sits next to the 3-D view, not at the far right
    _style(ax, "x", "y", f"{title}: contours and downhill arrows")
    return fig


def _draw_path(ax: Any, path_x: np.ndarray, path_f: np.ndarray, *, colour: str, label: str, stars: bool) -> None:
    ax.plot(path_x, path_f, "o-", color=colour, markersize=6, linewidth=1.8, alpha=0.75, label=label)
    if stars:
        ax.plot(path_x[0], path_f[0], "g*", markersize=18, label="start")
        ax.plot(path_x[-1], path_f[-1], "*", color=colour, markersize=18, label="end")


def plot_descent_path(
    xs: Any,
    fxs: Any,
    path_x: Any,
    path_f: Any,
    *,
    func_label: str = "f(x)",
    title: str = "Gradient descent: finding the minimum",
    path_label: str = "gradient descent path",
    extra_paths: Mapping[str, tuple[Any, Any]] | None = None,
) -> Figure:
    r"""The iterates of a 1-D descent drawn on the curve they descend.

    Args:
      xs, fxs: the function sampled on a grid (1-D, same length).
      path_x, path_f: the iterates :math:`x_0, x_1, \dots` and their values.
      func_label: legend label of the function.
      title: the axes title.
      path_label: legend label of the main path.
      extra_paths: optional ``label -> (path_x, path_f)`` drawn on the same axes
        (e.g. ``optax.sgd`` and ``optax.adam`` next to the hand rule).

    Returns:
      The figure (one axes); start marked by a green star, end by a star.
    """
    xs, fxs = as_1d_pair(xs, fxs, "xs", "fxs", column=False)
    path_x, path_f = as_1d_pair(path_x, path_f, "path_x", "path_f", column=False)
    extras = {}
    for label, (px, pf) in (extra_paths or {}).items():
        px, pf = as_1d_pair(px, pf, f"extra_paths[{label!r}] x", f"extra_paths[{label!r}] f", column=False)
        extras[label] = (px, pf)
    fig, ax = new_axes((10, 5.5))
    ax.plot(xs, fxs, "b-", linewidth=2, label=func_label)
    _draw_path(ax, path_x, path_f, colour=_PATH_COLOURS[0], label=path_label, stars=True)
    for colour, (label, (px, pf)) in zip(_PATH_COLOURS[1:], extras.items()):
        ax.plot(px, pf, "s--", color=colour, markersize=4, linewidth=1.2, alpha=0.8, label=label)
    _style(ax, "x", func_label.split("=")[0].strip() or "f(x)", title)
    ax.legend()
    return fig


def plot_descent_grid(
    xs: Any,
    fxs: Any,
    paths: Mapping[str, tuple[Any, Any]],
    *,
    ylim: Sequence[float] | None = None,
    title: str | None = None,
    func_label: str = "f(x)",
) -> Figure:
    """One descent path per panel on a grid (the seed's 2×2 learning-rate figure).

    Args:
      xs, fxs: the function sampled on a grid (1-D, same length), drawn in every panel.
      paths: ``panel title -> (path_x, path_f)``, e.g. ``{"Learning rate = 0.1": ...}``.
      ylim: optional ``(bottom, top)`` for every panel (the seed uses ``(0, 40)``).
      title: optional figure title.
      func_label: the function's label (used for the y axis).

    Returns:
      The figure, two panels per row.
    """
    xs, fxs = as_1d_pair(xs, fxs, "xs", "fxs", column=False)
    if not isinstance(paths, Mapping) or not paths:
        raise ValueError(f"paths must be a non-empty mapping title -> (path_x, path_f), got {paths!r}")
    if ylim is not None and len(ylim) != 2:
        raise ValueError(f"ylim must be (bottom, top), got {ylim!r}")
    n_cols = 2 if len(paths) > 1 else 1
    n_rows = -(-len(paths) // n_cols)
    fig = Figure(figsize=(7 * n_cols, 4.6 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, (label, (px, pf)) in zip(axes, paths.items()):
        px, pf = as_1d_pair(px, pf, f"paths[{label!r}] x", f"paths[{label!r}] f", column=False)
        ax.plot(xs, fxs, "b-", linewidth=2, alpha=0.5)
        _draw_path(ax, px, pf, colour=_PATH_COLOURS[0], label="path", stars=True)
        if ylim is not None:
            ax.set_ylim(*ylim)
        _style(ax, "x", func_label.split("=")[0].strip() or "f(x)", label)
    for ax in axes[len(paths):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=14, fontweight="bold")
    return fig
