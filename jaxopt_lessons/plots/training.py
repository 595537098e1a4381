"""Figures of training runs: loss curves, parameter paths, fitted lines, decision boundaries.

Every function takes arrays that a lesson already computed and returns a
:class:`matplotlib.figure.Figure` built without pyplot's global state (so nothing
accumulates in long runs and everything works headless with Agg). Nothing here
trains, differentiates or calls ``plt.show()``; save a figure with
:func:`jaxopt_lessons.plots.save_figure`.

The one helper that is not a plot, :func:`decision_grid`, is pure NumPy: it builds
the grid a lesson evaluates its model on before calling
:func:`plot_decision_boundary`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._common import (
    LINESTYLES,
    as_1d,
    check_mapping,
    check_positive_int,
    finish,
    finite_or_nan,
    log_y_if_positive,
    new_axes,
    number,
)

__all__ = [
    "decision_grid",
    "plot_decision_boundary",
    "plot_loss_curves",
    "plot_metric_bars",
    "plot_parameter_paths",
    "plot_regression_fit",
]

# Later curves are drawn thinner and dashed/dotted on top of earlier ones, so two
# identical curves (a hand-written optimizer and its optax twin) both stay visible.
_LINEWIDTHS = (2.6, 1.8, 2.0, 1.4)


# --- plots -------------------------------------------------------------------------


def plot_loss_curves(
    curves: Mapping[str, Any],
    *,
    steps_per_record: int = 1,
    log_y: bool = True,
    title: str = "Loss curves",
    xlabel: str = "step",
    ylabel: str = "loss",
    styles: Mapping[str, Mapping[str, Any]] | None = None,
    bands: Mapping[str, tuple[Any, Any]] | None = None,
) -> Figure:
    """Several named loss curves on one axis, log-scaled by default.

    Record ``i`` of a curve is drawn at ``x = i * steps_per_record``. Curves are drawn
    in order with distinct line styles (solid, dashed, dotted, dash-dot), each later
    one thinner, so identical curves overlay visibly instead of hiding each other.
    Non-finite values (a diverged run) leave a gap.

    Args:
      curves: name -> 1-D array of losses (curves may differ in length).
      steps_per_record: steps between two records (``record_every`` of ``fit``).
      log_y: log-scale the loss axis (falls back to linear when no value is > 0).
      title: axes title.
      xlabel: x-axis label.
      ylabel: y-axis label.
      styles: optional name -> extra keyword arguments for ``Axes.plot`` (e.g.
        ``{"optax": {"color": "k"}}``), overriding the defaults for that curve.
      bands: optional name -> ``(low, high)`` arrays as long as that curve, shaded in
        the curve's colour (e.g. the lowest and highest seed around a median curve).

    Returns:
      The figure; its single axes holds one line per curve (and a band per entry of
      ``bands``) and a legend.

    Raises:
      ValueError: empty ``curves``, a curve that is not 1-D or is empty, a band whose
        name is not a curve or whose length differs, or ``steps_per_record`` <= 0.

    Examples:
      >>> fig = plot_loss_curves({"hand": [1.0, 0.5, 0.25], "optax": [1.0, 0.5, 0.25]})
      >>> [line.get_linestyle() for line in fig.axes[0].get_lines()]
      ['-', '--']
    """
    curves = check_mapping(curves, "curves")
    steps_per_record = check_positive_int(steps_per_record, "steps_per_record")
    styles = {} if styles is None else _check_styles(styles, curves)
    bands = {} if bands is None else _check_styles(bands, curves, "bands")
    arrays = {name: as_1d(values, f"curves[{name!r}]") for name, values in curves.items()}
    fig, ax = new_axes()
    shaded = []
    for index, (name, values) in enumerate(arrays.items()):
        style = {
            "linestyle": LINESTYLES[index % len(LINESTYLES)],
            "linewidth": _LINEWIDTHS[index % len(_LINEWIDTHS)],
            "zorder": 2 + index,
        }
        style.update(styles.get(name, {}))
        steps = np.arange(values.size) * steps_per_record
        (line,) = ax.plot(steps, finite_or_nan(values), label=str(name), **style)
        if name in bands:
            low, high = (as_1d(v, f"bands[{name!r}]") for v in bands[name])
            for edge in (low, high):
                if edge.size != values.size:
                    raise ValueError(f"bands[{name!r}] must be as long as its curve ({values.size}), got {edge.size}")
            ax.fill_between(steps, finite_or_nan(low), finite_or_nan(high), color=line.get_color(), alpha=0.15,
                            linewidth=0, zorder=1)
            shaded += [low, high]
    if log_y:
        log_y_if_positive(ax, *arrays.values(), *shaded, all_positive=False)
    finish(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def plot_parameter_paths(
    histories: Mapping[str, Any],
    *,
    targets: Mapping[str, float] | None = None,
    markers: Mapping[str, float] | None = None,
    title: str = "Parameter paths",
    xlabel: str = "epoch",
    ylabel: str = "value",
    steps_per_record: int = 1,
) -> Figure:
    """Each named scalar parameter against training time, with optional target and time marks.

    Args:
      histories: parameter name -> 1-D array of its recorded values.
      targets: optional name -> true value; drawn as a dotted horizontal line in the
        parameter's colour and labelled ``"<name> target = <value>"``.
      markers: optional label -> step (x value), each drawn as a grey vertical line
        labelled in the legend (e.g. ``{"the seed stops": 100}``).
      title: axes title.
      xlabel: x-axis label.
      ylabel: y-axis label.
      steps_per_record: steps between two records.

    Returns:
      The figure; one solid line per parameter, one dotted line per target, one vertical
      line per marker. The x axis spans exactly the recorded steps.

    Raises:
      ValueError: empty ``histories``, a history that is not 1-D, a target whose name
        is not in ``histories`` or whose value is not finite, a non-finite marker.
    """
    histories = check_mapping(histories, "histories")
    steps_per_record = check_positive_int(steps_per_record, "steps_per_record")
    targets = {} if targets is None else dict(targets)
    for name, value in targets.items():
        if name not in histories:
            raise ValueError(f"targets has {name!r}, which is not a key of histories ({list(histories)})")
        if not math.isfinite(float(value)):
            raise ValueError(f"targets[{name!r}] must be a finite float, got {value!r}")
    marks = {str(label): number(value, f"markers[{label!r}]") for label, value in (markers or {}).items()}
    if not all(math.isfinite(value) for value in marks.values()):
        raise ValueError(f"markers must be finite steps, got {markers!r}")
    arrays = {name: as_1d(values, f"histories[{name!r}]") for name, values in histories.items()}
    fig, ax = new_axes()
    for name, values in arrays.items():
        (line,) = ax.plot(np.arange(values.size) * steps_per_record, finite_or_nan(values),
                          linewidth=2.2, label=str(name))
        if name in targets:
            ax.axhline(float(targets[name]), color=line.get_color(), linestyle=":", linewidth=1.6,
                       label=f"{name} target = {float(targets[name]):g}")
    for index, (label, step) in enumerate(marks.items()):
        ax.axvline(step, color="0.35", linestyle=LINESTYLES[(index + 1) % len(LINESTYLES)], linewidth=1.3,
                   label=label)
    last = max(values.size - 1 for values in arrays.values()) * steps_per_record
    ax.set_xlim(0, max(last, 1))
    finish(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


def plot_regression_fit(
    x: Any,
    y: Any,
    lines: Mapping[str, tuple[float, float]],
    *,
    reference: str | None = None,
    title: str = "Linear regression fit",
    xlabel: str = "x",
    ylabel: str = "y",
) -> Figure:
    """The data as a scatter plot and one fitted line ``y = w x + b`` per entry of ``lines``.

    Lines that nearly coincide are hard to tell apart over the data's range; with
    ``reference`` a second panel below shows every line minus the reference line,
    :math:`(w - w_r)x + (b - b_r)`, where differences of a few hundredths are visible.

    Args:
      x: inputs, shape ``(n,)`` or ``(n, 1)``.
      y: targets, same number of points as ``x``.
      lines: label -> ``(w, b)``; each legend entry reads ``"label: y = w·x + b"``.
      reference: optional label of ``lines`` to subtract in the lower panel.
      title: figure title.
      xlabel: x-axis label.
      ylabel: y-axis label.

    Returns:
      The figure: one axes (scatter and one line per fit), or two with ``reference``.

    Raises:
      ValueError: ``x`` and ``y`` of different lengths, empty ``lines``, a line that is
        not a pair of finite floats, or a ``reference`` that is not a key of ``lines``.
    """
    x = as_1d(x, "x")
    y = as_1d(y, "y")
    if x.size != y.size:
        raise ValueError(f"x and y must have the same number of points, got x: {x.size}, y: {y.size}")
    lines = check_mapping(lines, "lines")
    pairs = {}
    for name, pair in lines.items():
        try:
            w, b = (float(v) for v in pair)
        except (TypeError, ValueError) as error:
            raise ValueError(f"lines[{name!r}] must be a pair (w, b) of floats, got {pair!r}") from error
        if not (math.isfinite(w) and math.isfinite(b)):
            raise ValueError(f"lines[{name!r}] must be finite, got (w, b) = ({w}, {b})")
        pairs[name] = (w, b)
    if reference is not None and reference not in pairs:
        raise ValueError(f"reference must be one of the lines {list(pairs)}, got {reference!r}")
    if reference is None:
        fig, ax = new_axes()
        below = None
    else:
        fig = Figure(figsize=(8.5, 7.5), layout="constrained")
        ax, below = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    ax.scatter(x, y, s=18, alpha=0.6, color="tab:gray", label="data", zorder=2)
    grid = np.linspace(np.nanmin(x), np.nanmax(x), 2)
    for index, (name, (w, b)) in enumerate(pairs.items()):
        sign = "-" if b < 0 else "+"
        style = {"linestyle": LINESTYLES[index % len(LINESTYLES)], "color": f"C{index % 10}",
                 "linewidth": _LINEWIDTHS[index % len(_LINEWIDTHS)], "zorder": 3 + index}
        ax.plot(grid, w * grid + b, label=f"{name}: y = {w:.3g}·x {sign} {abs(b):.3g}", **style)
        if below is not None:
            w_ref, b_ref = pairs[reference]
            below.plot(grid, (w - w_ref) * grid + (b - b_ref), **style)
    if below is None:
        finish(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    else:
        finish(ax, ylabel=ylabel)
        below.axhline(0.0, color="0.5", linewidth=0.8)
        finish(below, xlabel=xlabel, ylabel=f"minus {reference}", legend=False)
        fig.suptitle(title)
    return fig


def decision_grid(
    X: Any, *, resolution: int = 200, margin: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular grid covering 2-D points, for evaluating a classifier before plotting it.

    The grid spans ``[min - margin, max + margin]`` in each coordinate of ``X``.

    Args:
      X: points of shape ``(n, 2)``.
      resolution: grid points per axis.
      margin: padding added around the points' bounding box.

    Returns:
      ``(xx, yy, points)``: ``xx`` and ``yy`` of shape ``(resolution, resolution)``
      (as from :func:`numpy.meshgrid`), and ``points = (resolution**2, 2)``, the grid
      flattened in row-major order so that ``model(points).reshape(xx.shape)`` lines up.
      The dtype is ``X``'s floating dtype (float64 for integer input).

    Raises:
      ValueError: ``X`` not of shape ``(n, 2)``, non-finite ``X``, ``resolution`` < 2
        or a negative ``margin``.

    Examples:
      >>> xx, yy, points = decision_grid([[0.0, 0.0], [1.0, 1.0]], resolution=3, margin=0.0)
      >>> points.shape, float(xx[0, -1]), float(yy[-1, 0])
      ((9, 2), 1.0, 1.0)
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n, 2) with n >= 1, got {X.shape}")
    dtype = np.result_type(X.dtype, np.float32) if np.issubdtype(X.dtype, np.floating) else np.float64
    X = X.astype(dtype)
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ValueError(f"resolution must be an int >= 2, got {resolution!r}")
    if not float(margin) >= 0:
        raise ValueError(f"margin must be a float >= 0, got {margin!r}")
    low = X.min(axis=0) - margin
    high = X.max(axis=0) + margin
    xs = np.linspace(low[0], high[0], resolution, dtype=dtype)
    ys = np.linspace(low[1], high[1], resolution, dtype=dtype)
    xx, yy = np.meshgrid(xs, ys)
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)
    return xx, yy, points


def plot_decision_boundary(
    xx: Any,
    yy: Any,
    probabilities: Any,
    X: Any,
    y: Any,
    *,
    title: str = "Decision boundary",
    class_names: Sequence[str] = ("class 0", "class 1"),
) -> Figure:
    """A classifier's probability map, its 0.5 boundary and the labelled points.

    Args:
      xx, yy: the grid from :func:`decision_grid`, shape ``(r, c)``.
      probabilities: ``p(class 1)`` on the grid, any shape with ``r * c`` entries
        (``(r*c,)``, ``(r*c, 1)`` or ``(r, c)``), values in ``[0, 1]``.
      X: points of shape ``(n, 2)``.
      y: labels in ``{0, 1}``, ``n`` of them (shape ``(n,)`` or ``(n, 1)``).
      title: axes title.
      class_names: legend names of class 0 and class 1.

    Returns:
      The figure: a filled contour of ``p`` with a colourbar, the ``p = 0.5``
      contour line, the points coloured by class, and a legend below the axes.

    Raises:
      ValueError: mismatched grid shapes, probabilities of the wrong size or outside
        ``[0, 1]``, ``X`` not ``(n, 2)``, ``y`` of a different length or not 0/1.
    """
    xx = np.asarray(xx, dtype=np.float64)
    yy = np.asarray(yy, dtype=np.float64)
    if xx.ndim != 2 or xx.shape != yy.shape:
        raise ValueError(f"xx and yy must be 2-D grids of the same shape, got xx: {xx.shape}, yy: {yy.shape}")
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.size != xx.size:
        raise ValueError(
            f"probabilities must have one value per grid point ({xx.size} for grid {xx.shape}), "
            f"got shape {probs.shape}"
        )
    probs = probs.reshape(xx.shape)
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("probabilities must be finite and in [0, 1] (apply a sigmoid to logits first)")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {X.shape}")
    labels = as_1d(y, "y")
    if labels.size != X.shape[0]:
        raise ValueError(f"X and y must have the same number of points, got X: {X.shape[0]}, y: {labels.size}")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("y must hold labels 0 or 1")
    if len(class_names) != 2:
        raise ValueError(f"class_names must name 2 classes, got {class_names!r}")

    fig, ax = new_axes((7.0, 6.4))
    filled = ax.contourf(xx, yy, probs, levels=np.linspace(0.0, 1.0, 21), cmap="RdBu_r", vmin=0, vmax=1,
                         alpha=0.75)
    ax.contour(xx, yy, probs, levels=[0.5], colors="k", linewidths=2.0)
    colorbar = fig.colorbar(filled, ax=ax)
    colorbar.set_label(f"p({class_names[1]})")
    for label, colour, marker in ((0, "tab:blue", "o"), (1, "tab:red", "s")):
        chosen = labels == label
        ax.scatter(X[chosen, 0], X[chosen, 1], c=colour, marker=marker, s=28, edgecolors="k",
                   linewidths=0.6, label=class_names[label], zorder=3)
    handles, names = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="k", linewidth=2.0))
    names.append("p = 0.5 boundary")
    # Below the axes: inside, the legend would cover points or the boundary itself.
    ax.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(names), framealpha=0.9)
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    return fig


def plot_metric_bars(
    values: Mapping[str, float],
    *,
    ylabel: str,
    title: str,
    log_y: bool = False,
    xlabel: str = "",
    annotate: bool = True,
) -> Figure:
    """A labelled bar chart comparing one number across named methods.

    Args:
      values: name -> value (one bar each, in order).
      ylabel: y-axis label (say the unit, e.g. ``"ns per lane-step"``).
      title: axes title.
      log_y: log-scale the bars (all values must then be > 0).
      xlabel: optional x-axis label.
      annotate: write each value (3 significant digits) above its bar.

    Returns:
      The figure; long or many names are rotated so labels never overlap.

    Raises:
      ValueError: empty ``values``, a non-finite value, or a value <= 0 with ``log_y``.
    """
    values = check_mapping(values, "values")
    numbers = []
    for name, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"values[{name!r}] must be a float, got {value!r}") from error
        if not math.isfinite(number):
            raise ValueError(f"values[{name!r}] must be finite, got {number}")
        if log_y and number <= 0:
            raise ValueError(f"values[{name!r}] must be > 0 when log_y=True, got {number}")
        numbers.append(number)
    names = [str(name) for name in values]
    width = max(6.0, 1.1 * len(names) + 2.0)
    fig, ax = new_axes((min(width, 16.0), 5.0))
    positions = np.arange(len(names))
    bars = ax.bar(positions, numbers, color=[f"C{i % 10}" for i in range(len(names))], edgecolor="k",
                  linewidth=0.6)
    ax.set_xticks(positions)
    rotate = len(names) > 6 or max(len(name) for name in names) > 12
    ax.set_xticklabels(names, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    if log_y:
        ax.set_yscale("log")
    if annotate:
        ax.bar_label(bars, labels=[_readable_number(number) for number in numbers], padding=2, fontsize=9)
        ax.margins(y=0.12)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.grid(True, axis="y", alpha=0.3, which="both" if log_y else "major")
    ax.set_axisbelow(True)
    return fig


# --- helpers -----------------------------------------------------------------------


def _check_styles(styles: Any, curves: Mapping[str, Any], what: str = "styles") -> Mapping[str, Any]:
    """``styles`` (or ``bands``): a mapping whose every name is a curve."""
    if not isinstance(styles, Mapping):
        raise TypeError(f"{what} must be a mapping curve name -> values, got {type(styles).__name__}")
    unknown = [name for name in styles if name not in curves]
    if unknown:
        raise ValueError(f"{what} names {unknown} are not keys of curves ({list(curves)})")
    return styles


def _readable_number(number: float) -> str:
    # 22,000 reads better than 2.2e+04; tiny and huge values keep scientific notation.
    if 1_000 <= abs(number) < 1e7:
        return f"{number:,.0f}"
    return f"{number:.3g}"
