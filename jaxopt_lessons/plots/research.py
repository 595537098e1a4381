"""Figures for the research lessons: optimizer sweeps, LR finder, sharpness, LoRA, scaling laws.

Every function takes arrays a lesson already computed and returns a
:class:`matplotlib.figure.Figure` built without pyplot's global state. Nothing here
trains or differentiates; quantities the figure marks (best learning rates, good ranges,
a fitted power law) are passed in, so the plot shows exactly the numbers the report
quotes. Non-finite values (diverged runs) leave gaps instead of breaking the log axes.
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
    as_1d_pair,
    check_mapping,
    finite_or_nan,
    log_y_if_positive,
    number,
    positive,
    same_length,
)
from ._common import finish as _finish_any

__all__ = [
    "plot_lora",
    "plot_lr_finder",
    "plot_optimizer_sweeps",
    "plot_power_law",
    "plot_sharpness_trace",
]


def _finish(ax: Any, **kwargs: Any) -> None:
    """The shared finish with this module's smaller legend text (many entries per axes)."""
    _finish_any(ax, legend_fontsize=9, **kwargs)


def _positive_x_and_y(x: Any, y: Any, name_x: str, name_y: str) -> tuple[np.ndarray, np.ndarray]:
    """Two same-length 1-D arrays, the first > 0 (a log x axis: learning rates, sizes)."""
    x, y = as_1d_pair(x, y, name_x, name_y)
    return positive(x, name_x), y


# --- plots -------------------------------------------------------------------------


def plot_optimizer_sweeps(
    learning_rates: Mapping[str, Any],
    final_losses: Mapping[str, Any],
    *,
    bands: Mapping[str, tuple[Any, Any]] | None = None,
    best: Mapping[str, tuple[float, float]] | None = None,
    good_ranges: Mapping[str, tuple[float, float]] | None = None,
    diverged: Mapping[str, Any] | None = None,
    title: str = "Final loss against learning rate, per optimizer",
    ylabel: str = "final loss",
    reference: float | None = None,
    reference_label: str = "reference",
) -> Figure:
    """Final loss against learning rate for several optimizers, on log–log axes.

    Each optimizer is one line (e.g. the median over seeds; non-finite values leave
    gaps), optionally with a shaded band (e.g. lowest to highest seed); its best learning
    rate is a star and its good-LR range a bar at the bottom of the axes in the same
    colour, so the robustness of each optimizer reads off the bar's width. Rates flagged
    in ``diverged`` are left out of the line and marked with a cross in a row of their
    own in a strip above the data (one row per optimizer, so crosses of different
    optimizers at the same rate never hide each other). The legend sits beside the axes.

    Args:
      learning_rates: optimizer name -> 1-D learning rates (> 0).
      final_losses: optimizer name -> 1-D final losses, same names and lengths.
      bands: optional name -> ``(low, high)`` arrays like its losses, shaded between.
      best: optional name -> ``(learning_rate, loss)`` marked with a star.
      good_ranges: optional name -> ``(low, high)`` learning rates drawn as a bar.
      diverged: optional name -> ``(n,)`` booleans, the rates that diverged.
      title: axes title.
      ylabel: y-axis label.
      reference: optional horizontal reference loss (e.g. the starting loss).
      reference_label: legend text of ``reference``.

    Returns:
      The figure: the losses axes, below a strip axes of diverged rates when any rate diverged.

    Raises:
      ValueError, TypeError: mismatched names or lengths, non-positive learning rates.

    Examples:
      >>> fig = plot_optimizer_sweeps({"sgd": [0.1, 1.0]}, {"sgd": [0.5, 0.2]},
      ...                             best={"sgd": (1.0, 0.2)})
      >>> len(fig.axes)
      1
    """
    learning_rates = check_mapping(learning_rates, "learning_rates")
    final_losses = check_mapping(final_losses, "final_losses")
    if list(learning_rates) != list(final_losses):
        raise ValueError(
            f"learning_rates and final_losses must have the same names in the same order, "
            f"got {list(learning_rates)} and {list(final_losses)}"
        )
    extras = {"bands": {} if bands is None else bands, "best": {} if best is None else best,
              "good_ranges": {} if good_ranges is None else good_ranges,
              "diverged": {} if diverged is None else diverged}
    for name, extra in extras.items():
        if not isinstance(extra, Mapping):
            raise TypeError(f"{name} must be a mapping optimizer name -> values, got {type(extra).__name__}")
        unknown = [key for key in extra if key not in learning_rates]
        if unknown:
            raise ValueError(f"{name} names {unknown} are not optimizers of learning_rates ({list(learning_rates)})")
    names = list(learning_rates)
    any_diverged = any(np.any(np.asarray(v, dtype=bool)) for v in extras["diverged"].values())
    fig = Figure(figsize=(11.0, 6.2 if any_diverged else 5.8), layout="constrained")
    if any_diverged:
        strip, ax = fig.subplots(2, 1, sharex=True, height_ratios=(0.3 + 0.22 * len(names), 5.0))
    else:
        strip, ax = None, fig.add_subplot()
    shown_losses = []
    for index, name in enumerate(names):
        rates, losses = _positive_x_and_y(learning_rates[name], final_losses[name],
                                          f"learning_rates[{name!r}]", f"final_losses[{name!r}]")
        colour = f"C{index % 10}"
        bad = np.zeros(rates.size, bool)
        if name in extras["diverged"]:
            bad = np.asarray(extras["diverged"][name], dtype=bool).reshape(-1)
            if bad.size != rates.size:
                raise ValueError(f"diverged[{name!r}] must have {rates.size} entries, got {bad.size}")
            if strip is not None:  # one row per optimizer in the strip above the data
                strip.plot(rates[bad], np.full(int(bad.sum()), len(names) - 1 - index), linestyle="none",
                           marker="x", markersize=7, color=colour)
        order = np.argsort(rates)
        shown = np.where(bad, np.nan, losses)[order]
        shown_losses.append(shown)
        ax.plot(rates[order], finite_or_nan(shown), color=colour, linestyle=LINESTYLES[(index // 10) % 4],
                marker="o", markersize=2.5, linewidth=1.6, label=str(name))
        if name in extras["bands"]:
            low, high = (as_1d(v, f"bands[{name!r}]") for v in extras["bands"][name])
            same_length(rates, low, f"learning_rates[{name!r}]", f"bands[{name!r}] low")
            same_length(rates, high, f"learning_rates[{name!r}]", f"bands[{name!r}] high")
            ax.fill_between(rates[order], finite_or_nan(np.where(bad, np.nan, low)[order]),
                            finite_or_nan(np.where(bad, np.nan, high)[order]), color=colour, alpha=0.15,
                            linewidth=0)
        if name in extras["best"]:
            lr, loss = (number(v, f"best[{name!r}]") for v in extras["best"][name])
            ax.plot([lr], [loss], marker="*", markersize=15, color=colour, markeredgecolor="k", zorder=5)
        if name in extras["good_ranges"]:
            low, high = (number(v, f"good_ranges[{name!r}]", positive=True) for v in extras["good_ranges"][name])
            band = names.index(name)
            ax.axvspan(low, high, ymin=band / len(names) * 0.12, ymax=(band + 0.8) / len(names) * 0.12,
                       color=colour, alpha=0.55, linewidth=0)
    if reference is not None:
        ax.axhline(number(reference, "reference"), color="0.4", linestyle=":", linewidth=1.2, label=reference_label)
    ax.set_xscale("log")
    log_y_if_positive(ax, *shown_losses)
    ax.plot([], [], marker="*", linestyle="none", markersize=12, color="0.5", markeredgecolor="k",
            label="best learning rate")
    if extras["bands"]:
        ax.fill_between([], [], color="0.5", alpha=0.15, label="band: lowest–highest")
    if extras["good_ranges"]:
        ax.fill_between([], [], color="0.5", alpha=0.55, label="good range\n(bars at the bottom)")
    _finish(ax, xlabel="learning rate", ylabel=ylabel, legend=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, framealpha=0.9)
    if strip is not None:
        strip.set_yticks(range(len(names)), [str(name) for name in reversed(names)], fontsize=8)
        strip.set_ylim(-0.6, len(names) - 0.4)
        strip.set_ylabel("diverged", fontsize=9)
        strip.grid(True, axis="x", alpha=0.3)
        strip.tick_params(axis="x", labelbottom=False)
    fig.suptitle(title)
    return fig


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
    if raw is not None:
        top.plot(rates, finite_or_nan(raw), color="0.65", linewidth=0.9, label="loss (raw, first run)")
    for index, curve in enumerate(curves):
        top.plot(rates, finite_or_nan(curve), color="C0", linewidth=2.2 if index == 0 else 0.9,
                 alpha=1.0 if index == 0 else 0.6,
                 label="loss (smoothed)" if index == 0 else ("other runs" if index == 1 else None))
    for shape, (label, values) in zip(_SUGGESTION_MARKERS, points.items()):
        xs, ys = [], []
        for run, value in enumerate(values):
            if math.isfinite(value) and value > 0:
                xs.append(value)
                ys.append(np.interp(np.log(value), np.log(rates), curves[run]))
        top.plot(xs, ys, linestyle="none", marker=shape, markersize=8, markeredgecolor="k",
                 color=f"C{(_SUGGESTION_MARKERS.index(shape) + 1) % 10}", zorder=4,
                 label=f"suggestion '{label}'" + (f": {xs[0]:.3g}" if len(values) == 1 and xs else ""))
    log_y_if_positive(top, curves.ravel())
    top.set_xscale("log")
    target = top
    if two:
        sweep_rates, sweep_losses = _positive_x_and_y(sweep_learning_rates, sweep_final_losses,
                                                      "sweep_learning_rates", "sweep_final_losses")
        order = np.argsort(sweep_rates)
        bottom = axes[1]
        bottom.plot(sweep_rates[order], finite_or_nan(sweep_losses[order]), color="k", marker="o", markersize=2.5,
                    linewidth=1.4, label="full runs: final loss")
        shaded = [sweep_losses]
        if sweep_band is not None:
            low, high = (as_1d(v, "sweep_band") for v in sweep_band)
            same_length(sweep_rates, low, "sweep_learning_rates", "sweep_band low")
            same_length(sweep_rates, high, "sweep_learning_rates", "sweep_band high")
            bottom.fill_between(sweep_rates[order], finite_or_nan(low[order]), finite_or_nan(high[order]),
                                color="0.5", alpha=0.25, linewidth=0, label="full runs: lowest–highest")
            shaded += [low, high]
        log_y_if_positive(bottom, *shaded)
        target = bottom
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


def plot_lora(
    ranks: Any,
    losses: Any,
    trainable_params: Any,
    *,
    full_loss: float,
    full_params: int,
    frozen_loss: float | None = None,
    loss_ranges: tuple[Any, Any] | None = None,
    full_range: tuple[float, float] | None = None,
    title: str = "LoRA: loss on the new task against adapter rank",
) -> Figure:
    """Loss after adapter training against rank and against trainable parameters.

    Left: loss against rank (log-2 axis). Right: the same losses against the number of
    trainable parameters, with full fine-tuning as a point. Both panels show full
    fine-tuning (and optionally the frozen base, no adaptation) as horizontal lines.

    Args:
      ranks: ``(k,)`` adapter ranks (> 0).
      losses: ``(k,)`` losses on the new task after training the adapters.
      trainable_params: ``(k,)`` trainable parameter counts (> 0).
      full_loss: loss of full fine-tuning.
      full_params: number of parameters full fine-tuning trains.
      frozen_loss: optional loss of the frozen base model on the new task.
      loss_ranges: optional ``(low, high)``, ``(k,)`` each: drawn as error bars around
        ``losses`` (e.g. lowest and highest seed around the median).
      full_range: optional ``(low, high)`` of full fine-tuning, shaded around its line.
      title: figure title.

    Returns:
      The figure (two axes).

    Raises:
      ValueError, TypeError: mismatched lengths, non-positive ranks or counts.
    """
    ranks = positive(as_1d(ranks, "ranks"), "ranks")
    losses = as_1d(losses, "losses")
    counts = positive(as_1d(trainable_params, "trainable_params"), "trainable_params")
    same_length(ranks, losses, "ranks", "losses")
    same_length(ranks, counts, "ranks", "trainable_params")
    full_loss = number(full_loss, "full_loss")
    full_params = number(full_params, "full_params", positive=True)
    yerr = None
    if loss_ranges is not None:
        low, high = (as_1d(v, "loss_ranges") for v in loss_ranges)
        same_length(losses, low, "losses", "loss_ranges low")
        same_length(losses, high, "losses", "loss_ranges high")
        yerr = np.stack([np.maximum(losses - low, 0.0), np.maximum(high - losses, 0.0)])
    fig = Figure(figsize=(11.0, 5.0), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    for ax, x, xlabel in ((left, ranks, "adapter rank r"), (right, counts, "trainable parameters")):
        ax.errorbar(x, finite_or_nan(losses), yerr=yerr, color="C0", marker="o", linewidth=2.0, capsize=4,
                    label="LoRA adapters (base frozen)")
        for r, xv, lv in zip(ranks, x, losses):
            ax.annotate(f"r={int(r)}", (xv, lv), textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.axhline(full_loss, color="C3", linestyle="--", linewidth=1.6, label=f"full fine-tuning: {full_loss:.3g}")
        if full_range is not None:
            low, high = (number(v, "full_range") for v in full_range)
            ax.axhspan(low, high, color="C3", alpha=0.12, linewidth=0)
        if frozen_loss is not None:
            frozen = number(frozen_loss, "frozen_loss")
            ax.axhline(frozen, color="0.4", linestyle=":", linewidth=1.6, label=f"frozen base, no adapters: {frozen:.3g}")
        ax.set_xscale("log", base=2 if ax is left else 10)
        _finish(ax, xlabel=xlabel, ylabel="loss on the new task" if ax is left else "", legend=ax is left)
    right.plot([full_params], [full_loss], marker="s", color="C3", markersize=8, linestyle="none",
               label=f"full fine-tuning ({int(full_params)} params)")
    right.legend(loc="best", fontsize=9)
    log_y_if_positive(left, losses, np.array([full_loss]))
    fig.suptitle(title)
    return fig


def plot_power_law(
    sizes: Any,
    losses: Any,
    *,
    a: float,
    alpha: float,
    c: float,
    points: tuple[Any, Any] | None = None,
    excluded: tuple[Any, Any] | None = None,
    ranges: tuple[Any, Any] | None = None,
    fit_band: tuple[Any, Any, Any] | None = None,
    xlabel: str = "model size N",
    ylabel: str = "final loss",
    title: str = "Scaling law: loss against model size",
) -> Figure:
    r"""Measured losses on log–log axes with a fitted :math:`L = a N^{-\alpha} + c`.

    Left: the losses and the fitted curve (its exponent in the legend) with the floor
    :math:`c`. Right: :math:`L - c` against :math:`N`, where a power law is a straight
    line of slope :math:`-\alpha`; measured points at or below the floor (:math:`L \le c`)
    cannot sit on that log axis and are marked at its bottom edge instead of vanishing.
    The fitted curve is drawn only over the fitted sizes (``sizes``), never extrapolated.

    Args:
      sizes: ``(k,)`` fitted sizes (> 0), e.g. hidden widths.
      losses: ``(k,)`` the (median) loss at each size.
      a, alpha, c: the fitted parameters.
      points: optional ``(sizes, losses)`` of individual runs (e.g. each seed), drawn faintly.
      excluded: optional ``(sizes, losses)`` measured but left out of the fit, drawn hollow.
      ranges: optional ``(low, high)``, ``(k,)`` each: error bars around ``losses``.
      fit_band: optional ``(grid, low, high)``: a band around the fit (e.g. bootstrap percentiles).
      xlabel, ylabel, title: labels.

    Returns:
      The figure (two axes).

    Raises:
      ValueError, TypeError: mismatched lengths, non-positive sizes.
    """
    sizes, losses = _positive_x_and_y(sizes, losses, "sizes", "losses")
    a, alpha, c = number(a, "a"), number(alpha, "alpha"), number(c, "c")
    grid = np.geomspace(sizes.min(), sizes.max(), 200)
    fitted = a * grid ** (-alpha) + c
    yerr = None
    if ranges is not None:
        low, high = (as_1d(v, "ranges") for v in ranges)
        same_length(losses, low, "losses", "ranges low")
        same_length(losses, high, "losses", "ranges high")
        yerr = np.stack([np.maximum(losses - low, 0.0), np.maximum(high - losses, 0.0)])
    fig = Figure(figsize=(12.0, 5.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    if points is not None:
        point_sizes, point_losses = as_1d_pair(points[0], points[1], "points[0]", "points[1]")
        left.scatter(point_sizes, point_losses, s=12, color="0.65", label="individual runs", zorder=2)
    left.errorbar(sizes, losses, yerr=yerr, fmt="o", color="C0", markersize=7, capsize=3,
                  label="measured (median), fitted", zorder=3)
    excluded_sizes = excluded_losses = np.zeros(0)
    if excluded is not None:
        excluded_sizes, excluded_losses = _positive_x_and_y(excluded[0], excluded[1], "excluded[0]", "excluded[1]")
        left.plot(excluded_sizes, excluded_losses, "o", markerfacecolor="none", markeredgecolor="C0",
                  markersize=7, label="measured, not fitted", zorder=3)
    if fit_band is not None:
        band_grid, band_low, band_high = (as_1d(v, "fit_band") for v in fit_band)
        same_length(band_grid, band_low, "fit_band grid", "fit_band low")
        same_length(band_grid, band_high, "fit_band grid", "fit_band high")
        left.fill_between(band_grid, band_low, band_high, color="C3", alpha=0.18, linewidth=0,
                          label="fit: bootstrap band")
        right.fill_between(band_grid, np.where(band_low > c, band_low - c, np.nan),
                           np.where(band_high > c, band_high - c, np.nan), color="C3", alpha=0.18, linewidth=0)
    left.plot(grid, fitted, color="C3", linewidth=2.0,
              label=rf"fit $L = {a:.3g}\,N^{{-{alpha:.3f}}} + {c:.3g}$")
    left.axhline(c, color="0.4", linestyle=":", linewidth=1.2, label=f"floor c = {c:.3g}")
    left.set_xscale("log")
    log_y_if_positive(left, losses, fitted, excluded_losses)
    _finish(left, xlabel=xlabel, ylabel=ylabel)
    _excess_panel(right, sizes, losses, excluded_sizes, excluded_losses, grid, fitted - c, alpha, c)
    _finish(right, xlabel=xlabel, ylabel=f"{ylabel} − c")
    fig.suptitle(title)
    return fig


def _excess_panel(ax: Any, sizes: np.ndarray, losses: np.ndarray, excluded_sizes: np.ndarray,
                  excluded_losses: np.ndarray, grid: np.ndarray, excess_fit: np.ndarray, alpha: float,
                  c: float) -> None:
    """L − c on log–log axes; points with L <= c marked at the bottom edge (they have no log)."""
    excess, keep = losses - c, losses > c
    ax.plot(sizes[keep], excess[keep], "o", color="C0", markersize=7, label="measured L − c")
    if excluded_sizes.size:
        above = excluded_losses > c
        ax.plot(excluded_sizes[above], excluded_losses[above] - c, "o", markerfacecolor="none",
                markeredgecolor="C0", markersize=7, label="measured, not fitted")
    ax.plot(grid, excess_fit, color="C3", linewidth=2.0, label=rf"$a N^{{-\alpha}}$, slope $-\alpha$ = {-alpha:.3f}")
    ax.set_xscale("log")
    if np.any(excess_fit > 0):
        ax.set_yscale("log")
    if (~keep).any():
        ax.plot(sizes[~keep], np.full(int((~keep).sum()), 0.02), "v", color="C0", markersize=9, clip_on=False,
                transform=ax.get_xaxis_transform(), label="L ≤ c (at or below the floor)")
