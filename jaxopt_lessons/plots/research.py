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
    new_axes,
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
    best: Mapping[str, tuple[float, float]] | None = None,
    good_ranges: Mapping[str, tuple[float, float]] | None = None,
    diverged: Mapping[str, Any] | None = None,
    title: str = "Final loss against learning rate, per optimizer",
    ylabel: str = "final loss",
    reference: float | None = None,
    reference_label: str = "reference",
) -> Figure:
    """Final loss against learning rate for several optimizers, on log–log axes.

    Each optimizer is one line (diverged runs, non-finite losses, leave gaps); its best
    learning rate is a star and its good-LR range a shaded band at the bottom of the
    axes in the same colour, so the robustness of each optimizer reads off the width.
    Runs flagged in ``diverged`` are left out of the line and marked with a cross at the
    top of the axes instead, so their huge losses do not squash the interesting range.

    Args:
      learning_rates: optimizer name -> 1-D learning rates (> 0).
      final_losses: optimizer name -> 1-D final losses, same names and lengths.
      best: optional name -> ``(learning_rate, loss)`` marked with a star.
      good_ranges: optional name -> ``(low, high)`` learning rates shaded as a band.
      diverged: optional name -> ``(n,)`` booleans, the runs that diverged.
      title: axes title.
      ylabel: y-axis label.
      reference: optional horizontal reference loss (e.g. the starting loss).
      reference_label: legend text of ``reference``.

    Returns:
      The figure (one axes).

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
    best = {} if best is None else best
    good_ranges = {} if good_ranges is None else good_ranges
    diverged = {} if diverged is None else diverged
    for extra, name in ((best, "best"), (good_ranges, "good_ranges"), (diverged, "diverged")):
        if not isinstance(extra, Mapping):
            raise TypeError(f"{name} must be a mapping optimizer name -> pair of floats, got {type(extra).__name__}")
        unknown = [key for key in extra if key not in learning_rates]
        if unknown:
            raise ValueError(f"{name} names {unknown} are not optimizers of learning_rates ({list(learning_rates)})")
    fig, ax = new_axes((9.0, 5.6))
    n_bands = max(len(good_ranges), 1)
    for index, name in enumerate(learning_rates):
        rates, losses = _positive_x_and_y(learning_rates[name], final_losses[name],
                                          f"learning_rates[{name!r}]", f"final_losses[{name!r}]")
        colour = f"C{index % 10}"
        bad = np.zeros(rates.size, bool)
        if name in diverged:
            bad = np.asarray(diverged[name], dtype=bool).reshape(-1)
            if bad.size != rates.size:
                raise ValueError(f"diverged[{name!r}] must have {rates.size} entries, got {bad.size}")
            if bad.any():
                ax.plot(rates[bad], np.full(int(bad.sum()), 0.97), linestyle="none", marker="x", markersize=7,
                        color=colour, transform=ax.get_xaxis_transform(), clip_on=False)
        order = np.argsort(rates)
        shown = np.where(bad, np.nan, losses)[order]
        ax.plot(rates[order], finite_or_nan(shown), color=colour, linestyle=LINESTYLES[(index // 10) % 4],
                marker="o", markersize=2.5, linewidth=1.6, label=str(name))
        if name in best:
            lr, loss = (number(v, f"best[{name!r}]") for v in best[name])
            ax.plot([lr], [loss], marker="*", markersize=15, color=colour, markeredgecolor="k", zorder=5)
        if name in good_ranges:
            low, high = (number(v, f"good_ranges[{name!r}]", positive=True) for v in good_ranges[name])
            band = list(good_ranges).index(name)
            ax.axvspan(low, high, ymin=band / n_bands * 0.12, ymax=(band + 1) / n_bands * 0.12,
                       color=colour, alpha=0.55, linewidth=0)
    if reference is not None:
        ax.axhline(number(reference, "reference"), color="0.4", linestyle=":", linewidth=1.2, label=reference_label)
    ax.set_xscale("log")
    log_y_if_positive(ax, *[as_1d(v, "final_losses") for v in final_losses.values()])
    ax.plot([], [], marker="*", linestyle="none", markersize=12, color="0.5", markeredgecolor="k",
            label="best learning rate")
    if any(np.any(np.asarray(v, dtype=bool)) for v in diverged.values()):
        ax.plot([], [], marker="x", linestyle="none", markersize=7, color="0.3", label="diverged (top edge)")
    if good_ranges:
        ax.fill_between([], [], color="0.5", alpha=0.55, label="good range (bands at the bottom)")
    _finish(ax, title=title, xlabel="learning rate", ylabel=ylabel)
    return fig


def plot_lr_finder(
    learning_rates: Any,
    smoothed_losses: Any,
    *,
    raw_losses: Any = None,
    suggestions: Mapping[str, float] | None = None,
    markers: Mapping[str, float] | None = None,
    sweep_learning_rates: Any = None,
    sweep_final_losses: Any = None,
    title: str = "Learning-rate range test against the full sweep",
) -> Figure:
    """The range-test curve with its suggestions, over the sweep's final loss per LR.

    Top panel: the (raw and) smoothed loss of the one-run range test against the
    learning rate of each step. Bottom panel (when a sweep is given): the final loss of
    each full run of the sweep against its learning rate. Every suggestion (dashed) and
    marker (solid, e.g. the sweep's best LR and the stability edge) is a vertical line
    through both panels, so where the one-run heuristics land reads off directly.

    Args:
      learning_rates: ``(n,)`` learning rates of the range test (> 0).
      smoothed_losses: ``(n,)`` smoothed losses (NaN after the test stopped).
      raw_losses: optional ``(n,)`` raw losses.
      suggestions: optional name -> learning rate (NaN entries are skipped).
      markers: optional name -> learning rate drawn as solid lines.
      sweep_learning_rates, sweep_final_losses: optional sweep results, ``(m,)`` each.
      title: figure title.

    Returns:
      The figure (one or two axes sharing the learning-rate axis).

    Raises:
      ValueError, TypeError: mismatched lengths, non-positive learning rates, only one
        of the two sweep arrays.
    """
    rates, smoothed = _positive_x_and_y(learning_rates, smoothed_losses, "learning_rates", "smoothed_losses")
    raw = None
    if raw_losses is not None:
        raw = as_1d(raw_losses, "raw_losses")
        same_length(rates, raw, "learning_rates", "raw_losses")
    if (sweep_learning_rates is None) != (sweep_final_losses is None):
        raise ValueError("give both sweep_learning_rates and sweep_final_losses, or neither")
    lines: list[tuple[str, float, str]] = []
    for mapping, name, style in ((suggestions, "suggestions", "--"), (markers, "markers", "-")):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping):
            raise TypeError(f"{name} must be a mapping name -> learning rate, got {type(mapping).__name__}")
        for label, value in mapping.items():
            value = number(value, f"{name}[{label!r}]")
            if math.isfinite(value) and value > 0:
                lines.append((str(label), value, style))

    two = sweep_learning_rates is not None
    fig = Figure(figsize=(9.0, 7.5 if two else 5.0), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True) if two else [fig.add_subplot()]
    top = axes[0]
    if raw is not None:
        top.plot(rates, finite_or_nan(raw), color="0.6", linewidth=0.9, label="loss (raw)")
    top.plot(rates, finite_or_nan(smoothed), color="C0", linewidth=2.2, label="loss (smoothed)")
    log_y_if_positive(top, smoothed)
    if two:
        sweep_rates, sweep_losses = _positive_x_and_y(sweep_learning_rates, sweep_final_losses,
                                                      "sweep_learning_rates", "sweep_final_losses")
        order = np.argsort(sweep_rates)
        axes[1].plot(sweep_rates[order], finite_or_nan(sweep_losses[order]), color="k", marker="o", markersize=2.5,
                     linewidth=1.4, label="full runs: final loss")
        log_y_if_positive(axes[1], sweep_losses)
    for index, (label, value, style) in enumerate(lines):
        colour = f"C{(index + 1) % 10}"
        for ax_index, ax in enumerate(axes):
            ax.axvline(value, color=colour, linestyle=style, linewidth=1.6,
                       label=f"{label}: {value:.3g}" if ax_index == 0 else None)
    top.set_xscale("log")
    _finish(top, title=title if not two else "", xlabel="" if two else "learning rate",
            ylabel="range-test loss")
    if two:
        _finish(axes[1], xlabel="learning rate", ylabel="final loss of a full run")
        fig.suptitle(title)
    return fig


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
    fig = Figure(figsize=(11.0, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    for ax, x, xlabel in ((left, ranks, "adapter rank r"), (right, counts, "trainable parameters")):
        ax.plot(x, finite_or_nan(losses), color="C0", marker="o", linewidth=2.0, label="LoRA adapters (base frozen)")
        for r, xv, lv in zip(ranks, x, losses):
            ax.annotate(f"r={int(r)}", (xv, lv), textcoords="offset points", xytext=(4, 6), fontsize=8)
        ax.axhline(full_loss, color="C3", linestyle="--", linewidth=1.6, label=f"full fine-tuning: {full_loss:.3g}")
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
    xlabel: str = "model size N",
    ylabel: str = "final loss",
    title: str = "Scaling law: loss against model size",
) -> Figure:
    r"""Measured losses on log–log axes with a fitted :math:`L = a N^{-\alpha} + c`.

    Left: the losses and the fitted curve (its exponent in the legend) with the floor
    :math:`c`. Right: :math:`L - c` against :math:`N`, where a power law is a straight
    line of slope :math:`-\alpha`.

    Args:
      sizes: ``(k,)`` sizes (> 0), e.g. hidden widths.
      losses: ``(k,)`` the (mean) loss at each size.
      a, alpha, c: the fitted parameters.
      points: optional ``(sizes, losses)`` of individual runs (e.g. each seed), drawn faintly.
      excluded: optional ``(sizes, losses)`` measured but left out of the fit, drawn hollow.
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
    fig = Figure(figsize=(11.0, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    if points is not None:
        point_sizes, point_losses = as_1d_pair(points[0], points[1], "points[0]", "points[1]")
        left.scatter(point_sizes, point_losses, s=14, color="0.6", label="individual runs", zorder=2)
    left.plot(sizes, losses, "o", color="C0", markersize=7, label="measured (mean), fitted", zorder=3)
    if excluded is not None:
        excluded_sizes, excluded_losses = _positive_x_and_y(excluded[0], excluded[1],
                                                            "excluded[0]", "excluded[1]")
        left.plot(excluded_sizes, excluded_losses, "o", markerfacecolor="none", markeredgecolor="C0",
                  markersize=7, label="measured, not fitted", zorder=3)
        grid = np.geomspace(min(sizes.min(), excluded_sizes.min()), max(sizes.max(), excluded_sizes.max()), 200)
        fitted = a * grid ** (-alpha) + c
    left.plot(grid, fitted, color="C3", linewidth=2.0,
              label=rf"fit $L = {a:.3g}\,N^{{-{alpha:.3f}}} + {c:.3g}$")
    left.axhline(c, color="0.4", linestyle=":", linewidth=1.2, label=f"floor c = {c:.3g}")
    left.set_xscale("log")
    log_y_if_positive(left, losses, fitted)
    _finish(left, xlabel=xlabel, ylabel=ylabel)
    excess = losses - c
    keep = excess > 0
    right.plot(sizes[keep], excess[keep], "o", color="C0", markersize=7, label="measured L − c")
    right.plot(grid, fitted - c, color="C3", linewidth=2.0, label=rf"$a N^{{-\alpha}}$, slope $-\alpha$ = {-alpha:.3f}")
    right.set_xscale("log")
    if keep.any() and a > 0:
        right.set_yscale("log")
    _finish(right, xlabel=xlabel, ylabel=f"{ylabel} − c")
    fig.suptitle(title)
    return fig
