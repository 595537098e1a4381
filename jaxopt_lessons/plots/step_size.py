r"""Figures about the step size: the learning-rate range test against a sweep, and the sharpness.

:func:`plot_lr_finder` shows one or several LR range tests with their suggestions over the
final losses of a full learning-rate sweep; :func:`plot_sharpness_trace` the top Hessian
eigenvalue during gradient descent against the stability threshold :math:`2/\eta`. Both take
arrays a lesson computed and return a :class:`matplotlib.figure.Figure` (no pyplot state).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ._common import (
    LINESTYLES,
    as_1d,
    check_mapping,
    finite_or_nan,
    log_y_if_positive,
    number,
    positive,
    positive_x_and_y,
    same_length,
)
from ._common import finish as _finish_any

__all__ = ["plot_lr_finder", "plot_sharpness_trace"]


def _finish(ax: Any, **kwargs: Any) -> None:
    """The shared finish with a smaller legend text (many entries per axes)."""
    _finish_any(ax, legend_fontsize=9, **kwargs)


_SUGGESTION_MARKERS = ("o", "s", "D", "^", "v", "P")


def plot_lr_finder(
    learning_rates: Any,
    smoothed_losses: Any,
    *,
    raw_losses: Any = None,
    suggestions: Mapping[str, Any] | None = None,
    markers: Mapping[str, float] | None = None,
    sweep_learning_rates: Any = None,
    sweep_final_losses: Any = None,
    sweep_band: tuple[Any, Any] | None = None,
    title: str = "Learning-rate range test against the full sweep",
) -> Figure:
    """The range-test curve(s) with their suggestions, over the sweep's final loss per LR.

    Top panel: the smoothed loss of one or several range tests (e.g. one per seed)
    against the learning rate of each step, the first in bold, and each suggestion as a
    marker *on* each curve (one marker shape per heuristic), so several suggestions and
    runs do not crowd the panel with lines. Bottom panel (when a sweep is given): the
    final loss of full runs against their learning rate (with an optional band, e.g.
    lowest to highest seed), and each of ``markers`` (e.g. the sweep's best rate, the
    stability edge) as a vertical line. The legend sits beside the panels.

    Args:
      learning_rates: ``(n,)`` learning rates of the range test (> 0).
      smoothed_losses: ``(n,)`` smoothed losses, or ``(k, n)`` for ``k`` runs (NaN after a run stopped).
      raw_losses: optional raw losses of the first run, ``(n,)``.
      suggestions: optional name -> learning rate, or name -> ``k`` learning rates (one per
        run); NaN entries are skipped.
      markers: optional name -> learning rate, drawn as vertical lines (bottom panel when
        there is one).
      sweep_learning_rates, sweep_final_losses: optional sweep results, ``(m,)`` each.
      sweep_band: optional ``(low, high)``, ``(m,)`` each, shaded around the sweep's losses.
      title: figure title.

    Returns:
      The figure (one or two axes sharing the learning-rate axis).

    Raises:
      ValueError, TypeError: mismatched lengths, non-positive learning rates, only one
        of the two sweep arrays, a band without a sweep.
    """
    rates = positive(as_1d(learning_rates, "learning_rates"), "learning_rates")
    curves = np.atleast_2d(np.asarray(smoothed_losses, dtype=np.float64))
    if curves.ndim != 2 or curves.shape[1] != rates.size:
        raise ValueError(f"smoothed_losses must have shape ({rates.size},) or (k, {rates.size}), "
                         f"got {np.shape(smoothed_losses)}")
    raw = None
    if raw_losses is not None:
        raw = as_1d(raw_losses, "raw_losses")
        same_length(rates, raw, "learning_rates", "raw_losses")
    if (sweep_learning_rates is None) != (sweep_final_losses is None):
        raise ValueError("give both sweep_learning_rates and sweep_final_losses, or neither")
    if sweep_band is not None and sweep_learning_rates is None:
        raise ValueError("sweep_band needs sweep_learning_rates and sweep_final_losses")
    points = _suggestion_points(suggestions, curves.shape[0])
    lines: list[tuple[str, float]] = []
    if markers is not None:
        if not isinstance(markers, Mapping):
            raise TypeError(f"markers must be a mapping name -> learning rate, got {type(markers).__name__}")
        for label, value in markers.items():
            value = number(value, f"markers[{label!r}]")
            if math.isfinite(value) and value > 0:
                lines.append((str(label), value))

    two = sweep_learning_rates is not None
    fig = Figure(figsize=(10.5, 7.5 if two else 5.0), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True) if two else [fig.add_subplot()]
    top = axes[0]
    _range_test_panel(top, rates, curves, raw, points)
    target = top
    if two:
        target = axes[1]
        _sweep_panel(target, sweep_learning_rates, sweep_final_losses, sweep_band)
    for index, (label, value) in enumerate(lines):
        target.axvline(value, color=f"C{(index + 5) % 10}", linestyle=LINESTYLES[index % len(LINESTYLES)],
                       linewidth=1.6, label=f"{label}: {value:.3g}")
    for ax in axes:
        _finish(ax, legend=False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, framealpha=0.9)
    top.set_ylabel("range-test loss")
    axes[-1].set_xlabel("learning rate")
    if two:
        axes[1].set_ylabel("final loss of a full run")
    fig.suptitle(title)
    return fig


def _range_test_panel(top: Any, rates: np.ndarray, curves: np.ndarray, raw: np.ndarray | None,
                      points: dict[str, list[float]]) -> None:
    """The range tests' curves (the first in bold) and each suggestion as a marker on its run's curve."""
    if raw is not None:
        top.plot(rates, finite_or_nan(raw), color="0.65", linewidth=0.9, label="loss (raw, first run)")
    for index, curve in enumerate(curves):
        top.plot(rates, finite_or_nan(curve), color="C0", linewidth=2.2 if index == 0 else 0.9,
                 alpha=1.0 if index == 0 else 0.6,
                 label="loss (smoothed)" if index == 0 else ("other runs" if index == 1 else None))
    for number_, (shape, (label, values)) in enumerate(zip(_SUGGESTION_MARKERS, points.items())):
        xs, ys = [], []
        for run, value in enumerate(values):
            if math.isfinite(value) and value > 0:
                xs.append(value)
                ys.append(np.interp(np.log(value), np.log(rates), curves[run]))
        top.plot(xs, ys, linestyle="none", marker=shape, markersize=8, markeredgecolor="k",
                 color=f"C{(number_ + 1) % 10}", zorder=4,
                 label=f"suggestion '{label}'" + (f": {xs[0]:.3g}" if len(values) == 1 and xs else ""))
    log_y_if_positive(top, curves.ravel())
    top.set_xscale("log")


def _sweep_panel(bottom: Any, learning_rates: Any, final_losses: Any, band: tuple[Any, Any] | None) -> None:
    """The sweep's final loss per learning rate, with an optional lowest–highest band."""
    rates, losses = positive_x_and_y(learning_rates, final_losses, "sweep_learning_rates", "sweep_final_losses")
    order = np.argsort(rates)
    bottom.plot(rates[order], finite_or_nan(losses[order]), color="k", marker="o", markersize=2.5,
                linewidth=1.4, label="full runs: final loss")
    shaded = [losses]
    if band is not None:
        low, high = (as_1d(v, "sweep_band") for v in band)
        same_length(rates, low, "sweep_learning_rates", "sweep_band low")
        same_length(rates, high, "sweep_learning_rates", "sweep_band high")
        bottom.fill_between(rates[order], finite_or_nan(low[order]), finite_or_nan(high[order]),
                            color="0.5", alpha=0.25, linewidth=0, label="full runs: lowest–highest")
        shaded += [low, high]
    log_y_if_positive(bottom, *shaded)


def _suggestion_points(suggestions: Any, n_runs: int) -> dict[str, list[float]]:
    """``name -> one learning rate per run`` from a mapping of floats or of sequences."""
    if suggestions is None:
        return {}
    if not isinstance(suggestions, Mapping):
        raise TypeError(f"suggestions must be a mapping name -> learning rate(s), got {type(suggestions).__name__}")
    points = {}
    for label, value in suggestions.items():
        values = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
        if values.size not in (1, n_runs):
            raise ValueError(f"suggestions[{label!r}] must be one learning rate or {n_runs}, got {values.size}")
        points[str(label)] = values.tolist()
    return points


def plot_sharpness_trace(
    steps: Any,
    sharpness: Mapping[str, Any],
    learning_rates: Mapping[str, float],
    *,
    losses: Mapping[str, Any] | None = None,
    loss_steps: Any = None,
    title: str = "Sharpness during full-batch gradient descent",
) -> Figure:
    r"""Top Hessian eigenvalue against step for several learning rates, with the 2/lr lines.

    Each run's sharpness :math:`\lambda_{\max}` is a solid line; its stability threshold
    :math:`2/\eta` is a dashed line of the same colour (Cohen et al., 2021: under gradient
    descent the sharpness rises until it reaches :math:`2/\eta` and then hovers there).
    With ``losses`` a second panel shows the training loss of each run (log scale).

    Args:
      steps: ``(n,)`` steps at which the sharpness was measured.
      sharpness: run label -> ``(n,)`` sharpness values.
      learning_rates: run label -> learning rate (> 0), same labels.
      losses: optional run label -> loss curve.
      loss_steps: ``(m,)`` steps of the loss curves (default ``0..m-1``).
      title: figure title.

    Returns:
      The figure (one or two axes sharing the step axis).

    Raises:
      ValueError, TypeError: mismatched labels or lengths, non-positive learning rates.
    """
    steps = as_1d(steps, "steps")
    sharpness = check_mapping(sharpness, "sharpness")
    learning_rates = check_mapping(learning_rates, "learning_rates")
    if list(sharpness) != list(learning_rates):
        raise ValueError(f"sharpness and learning_rates must have the same labels, got {list(sharpness)} "
                         f"and {list(learning_rates)}")
    if losses is not None:
        losses = check_mapping(losses, "losses")
        missing = [label for label in sharpness if label not in losses]
        if missing:
            raise ValueError(f"losses is missing the runs {missing}")
    fig = Figure(figsize=(9.0, 7.5 if losses is not None else 5.0), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True) if losses is not None else [fig.add_subplot()]
    ax = axes[0]
    traces = {label: as_1d(values, f"sharpness[{label!r}]") for label, values in sharpness.items()}
    finite = np.concatenate([t[np.isfinite(t)] for t in traces.values()])
    # Thresholds far above every trace would squash the traces: keep the view on the traces.
    top = 1.35 * float(finite.max()) if finite.size else None
    for index, (label, values) in enumerate(traces.items()):
        same_length(steps, values, "steps", f"sharpness[{label!r}]")
        rate = number(learning_rates[label], f"learning_rates[{label!r}]", positive=True)
        colour = f"C{index % 10}"
        ax.plot(steps, finite_or_nan(values), color=colour, linewidth=2.0, label=f"{label}: sharpness")
        off = top is not None and 2.0 / rate > top
        ax.axhline(2.0 / rate, color=colour, linestyle="--", linewidth=1.4,
                   label=f"2/lr = {2.0 / rate:.3g}" + (" (above the view)" if off else ""))
    if top is not None:
        ax.set_ylim(0.0, top)
    _finish(ax, title="" if losses is not None else title, xlabel="" if losses is not None else "step",
            ylabel=r"sharpness $\lambda_{\max}(\nabla^2 \ell)$")
    # eight entries would cover the early transient inside the axes: put them beside it
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, framealpha=0.9)
    if losses is not None:
        for index, label in enumerate(sharpness):
            curve = as_1d(losses[label], f"losses[{label!r}]")
            x = np.arange(curve.size) if loss_steps is None else as_1d(loss_steps, "loss_steps")
            same_length(x, curve, "loss_steps", f"losses[{label!r}]")
            axes[1].plot(x, finite_or_nan(curve), color=f"C{index % 10}", linewidth=1.4, label=str(label))
        log_y_if_positive(axes[1], *[as_1d(losses[label], "losses") for label in sharpness])
        _finish(axes[1], xlabel="step", ylabel="training loss")
        fig.suptitle(title)
    return fig
