"""Figures for the research lessons: optimizer sweeps, LoRA, scaling laws.

Every function takes arrays a lesson already computed and returns a
:class:`matplotlib.figure.Figure` built without pyplot's global state. Nothing here
trains or differentiates; quantities the figure marks (best learning rates, good ranges,
a fitted power law) are passed in, so the plot shows exactly the numbers the report
quotes. Non-finite values (diverged runs) leave gaps instead of breaking the log axes.
"""

from __future__ import annotations

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
from ._common import (
    positive_x_and_y as _positive_x_and_y,
)

__all__ = [
    "plot_lora",
    "plot_optimizer_sweeps",
    "plot_power_law",
]


def _finish(ax: Any, **kwargs: Any) -> None:
    """The shared finish with this module's smaller legend text (many entries per axes)."""
    _finish_any(ax, legend_fontsize=9, **kwargs)


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
    shown_losses = [
        _draw_optimizer(ax, strip, index, names, learning_rates[name], final_losses[name], extras)
        for index, name in enumerate(names)
    ]
    if reference is not None:
        ax.axhline(number(reference, "reference"), color="0.4", linestyle=":", linewidth=1.2, label=reference_label)
    ax.set_xscale("log")
    log_y_if_positive(ax, *shown_losses)
    _finish(ax, xlabel="learning rate", ylabel=ylabel, legend=False)
    _legend_and_strip(ax, strip, names, extras)
    fig.suptitle(title)
    return fig


def _draw_optimizer(ax: Any, strip: Any, index: int, names: list[str], rates: Any, losses: Any,
                    extras: dict[str, Mapping[str, Any]]) -> np.ndarray:
    """One optimizer's line, band, star, good-range bar and diverged crosses; returns the losses shown."""
    name = names[index]
    rates, losses = _positive_x_and_y(rates, losses, f"learning_rates[{name!r}]", f"final_losses[{name!r}]")
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
    ax.plot(rates[order], finite_or_nan(shown), color=colour, linestyle=LINESTYLES[(index // 10) % 4],
            marker="o", markersize=2.5, linewidth=1.6, label=str(name))
    if name in extras["bands"]:
        low, high = (as_1d(v, f"bands[{name!r}]") for v in extras["bands"][name])
        same_length(rates, low, f"learning_rates[{name!r}]", f"bands[{name!r}] low")
        same_length(rates, high, f"learning_rates[{name!r}]", f"bands[{name!r}] high")
        ax.fill_between(rates[order], finite_or_nan(np.where(bad, np.nan, low)[order]),
                        finite_or_nan(np.where(bad, np.nan, high)[order]), color=colour, alpha=0.15, linewidth=0)
    if name in extras["best"]:
        lr, loss = (number(v, f"best[{name!r}]") for v in extras["best"][name])
        ax.plot([lr], [loss], marker="*", markersize=15, color=colour, markeredgecolor="k", zorder=5)
    if name in extras["good_ranges"]:
        low, high = (number(v, f"good_ranges[{name!r}]", positive=True) for v in extras["good_ranges"][name])
        ax.axvspan(low, high, ymin=index / len(names) * 0.12, ymax=(index + 0.8) / len(names) * 0.12,
                   color=colour, alpha=0.55, linewidth=0)
    return shown


def _legend_and_strip(ax: Any, strip: Any, names: list[str], extras: dict[str, Mapping[str, Any]]) -> None:
    """Legend proxies and the legend beside the axes; the diverged strip's rows named."""
    ax.plot([], [], marker="*", linestyle="none", markersize=12, color="0.5", markeredgecolor="k",
            label="best learning rate")
    if extras["bands"]:
        ax.fill_between([], [], color="0.5", alpha=0.15, label="band: lowest–highest")
    if extras["good_ranges"]:
        ax.fill_between([], [], color="0.5", alpha=0.55, label="good range\n(bars at the bottom)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, framealpha=0.9)
    if strip is not None:
        strip.set_yticks(range(len(names)), [str(name) for name in reversed(names)], fontsize=8)
        strip.set_ylim(-0.6, len(names) - 0.4)
        strip.set_ylabel("diverged", fontsize=9)
        strip.grid(True, axis="x", alpha=0.3)
        strip.tick_params(axis="x", labelbottom=False)


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
    yerr = _error_bars(losses, loss_ranges, "loss_ranges")
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
    yerr = _error_bars(losses, ranges, "ranges")
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


def _error_bars(values: np.ndarray, ranges: Any, name: str) -> np.ndarray | None:
    """``(2, n)`` distances from ``values`` down to ``ranges[0]`` and up to ``ranges[1]`` (matplotlib's ``yerr``)."""
    if ranges is None:
        return None
    low, high = (as_1d(v, name) for v in ranges)
    same_length(values, low, "losses", f"{name} low")
    same_length(values, high, "losses", f"{name} high")
    return np.stack([np.maximum(values - low, 0.0), np.maximum(high - values, 0.0)])
