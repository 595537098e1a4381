"""Figures of learning-rate sweeps: the sweep curve, a seed x learning-rate heatmap, success fractions.

Every function takes results a lesson already computed (a
:class:`jaxopt_lessons.SweepResult` or plain arrays) and returns a
:class:`matplotlib.figure.Figure` built without pyplot's global state. Nothing here
trains; quantities marked on a figure (the ``2 / λmax`` bound) are passed in.
Status colours are the same in every figure: converged green, slow orange,
oscillating purple, diverged red.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._common import LINESTYLES, finish, new_axes

__all__ = ["STATUS_COLORS", "plot_seed_lr_heatmap", "plot_success_fraction", "plot_sweep"]

STATUS_COLORS: dict[str, str] = {
    "converged": "#2ca02c",
    "slow": "#ff7f0e",
    "oscillating": "#9467bd",
    "diverged": "#d62728",
}
"""Status -> colour used by every sweep figure."""

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_HEATMAP_VALUES = ("final_loss", "status", "diverged_at")


def _check_result(result: Any) -> None:
    for name in ("learning_rates", "seeds", "optimizers", "final_loss", "status", "diverged_at"):
        if not hasattr(result, name):
            raise TypeError(f"result must be a jaxopt_lessons.SweepResult (missing {name!r}), got {type(result).__name__}")


def _bounds(max_stable_lr: Any, optimizers: list[str]) -> dict[str, float]:
    """``max_stable_lr`` as label -> value (a float applies to every optimizer)."""
    if max_stable_lr is None:
        return {}
    items = max_stable_lr.items() if isinstance(max_stable_lr, Mapping) else [(None, max_stable_lr)]
    out = {}
    for name, value in items:
        try:
            value = float(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"max_stable_lr must be a float or a mapping optimizer -> float, got {value!r}") from error
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"max_stable_lr must be finite and > 0, got {value!r}")
        label = "max stable lr 2/λmax" + ("" if name is None or len(optimizers) == 1 else f" ({name})")
        out[f"{label} = {value:.3g}"] = value
    return out


def plot_sweep(result: Any, *, max_stable_lr: float | Mapping[str, float] | None = None,
               title: str | None = None) -> Figure:
    """Final loss against learning rate on log-log axes, every lane coloured by its status.

    One marker per lane (marker shape per optimizer, colour per status) and, per
    optimizer, a line through the median final loss across seeds. Lanes whose final
    loss is not finite are left out (the title says how many). The loss axis is
    logarithmic when every plotted loss is > 0, else symmetric-log.

    Args:
      result: a :class:`jaxopt_lessons.SweepResult`.
      max_stable_lr: the curvature bound ``2 / λmax`` (a float, or optimizer name ->
        float), drawn as a dashed vertical line.
      title: axes title (default mentions the step count).

    Returns:
      The figure, with a legend of optimizers, statuses and the bound.

    Raises:
      TypeError, ValueError: ``result`` is not a sweep result, or a bound is not a
        finite positive float.
    """
    _check_result(result)
    optimizers = list(dict.fromkeys(np.asarray(result.optimizers).tolist()))
    bounds = _bounds(max_stable_lr, optimizers)
    lrs = np.asarray(result.learning_rates, dtype=np.float64)
    losses = np.asarray(result.final_loss, dtype=np.float64)
    status = np.asarray(result.status)
    finite = np.isfinite(losses)
    fig, ax = new_axes((8.0, 5.0))
    handles: list[Any] = []
    for index, name in enumerate(optimizers):
        lanes = np.asarray(result.optimizers) == name
        marker = _MARKERS[index % len(_MARKERS)]
        for state, colour in STATUS_COLORS.items():
            chosen = lanes & finite & (status == state)
            if chosen.any():
                ax.scatter(lrs[chosen], losses[chosen], c=colour, marker=marker, s=36, alpha=0.8,
                           edgecolors="black", linewidths=0.4, zorder=3)
        unique_lrs = np.unique(lrs[lanes])
        medians = np.array([np.median(np.where(finite, losses, np.inf)[lanes & (lrs == lr)]) for lr in unique_lrs])
        n_seeds = int(np.sum(lanes)) // max(unique_lrs.size, 1)
        label = name if n_seeds <= 1 else f"{name} (median of {n_seeds} seeds)"
        (line,) = ax.plot(unique_lrs, np.where(np.isfinite(medians), medians, np.nan), color="0.35",
                          linestyle=LINESTYLES[index % len(LINESTYLES)], linewidth=1.4, zorder=2,
                          label=label)
        handles.append(Line2D([], [], color="0.35", linestyle=line.get_linestyle(), marker=marker,
                              markerfacecolor="white", markeredgecolor="black", label=label))
    for label, value in bounds.items():
        handles.append(ax.axvline(value, color="black", linestyle="--", linewidth=1.3, label=label))
    present = [s for s in STATUS_COLORS if np.any(status == s)]
    handles += [Line2D([], [], linestyle="", marker="o", markersize=7, markerfacecolor=STATUS_COLORS[s],
                       markeredgecolor="black", label=s) for s in present]
    ax.set_xscale("log")
    plotted = losses[finite]
    if plotted.size and np.all(plotted > 0):
        ax.set_yscale("log")
    elif plotted.size:
        ax.set_yscale("symlog")
    hidden = int(np.sum(~finite))
    default = f"Final loss vs learning rate ({getattr(result, 'steps', '?')} steps)"
    finish(ax, title=(title or default) + (f"\n{hidden} lanes with non-finite loss not shown" if hidden else ""),
           xlabel="learning rate", ylabel="final loss", legend=False)
    ax.legend(handles=handles, loc="best", framealpha=0.9, fontsize=9)
    return fig


def plot_seed_lr_heatmap(result: Any, *, optimizer: str | None = None, value: str = "final_loss") -> Figure:
    """A seed x learning-rate grid of one optimizer's lanes.

    Args:
      result: a :class:`jaxopt_lessons.SweepResult`.
      optimizer: whose lanes to show (default: the first optimizer of the sweep).
      value: ``"final_loss"`` (colour = log10 of the final loss, diverged cells marked
        with a red ×), ``"status"`` (the status colours) or ``"diverged_at"`` (the
        diverged step; blank where the lane did not diverge).

    Returns:
      The figure: rows are seeds, columns learning rates (ascending), with a colour bar.

    Raises:
      ValueError: unknown ``optimizer`` or ``value`` (the message lists the valid ones).
    """
    _check_result(result)
    optimizers = list(dict.fromkeys(np.asarray(result.optimizers).tolist()))
    if optimizer is None:
        optimizer = optimizers[0]
    if optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(map(repr, optimizers))}")
    if value not in _HEATMAP_VALUES:
        raise ValueError(f"unknown value {value!r}; expected one of {', '.join(map(repr, _HEATMAP_VALUES))}")
    lanes = np.flatnonzero(np.asarray(result.optimizers) == optimizer)
    lrs = np.asarray(result.learning_rates, dtype=np.float64)[lanes]
    seeds = np.asarray(result.seeds)[lanes]
    columns, rows = np.unique(lrs), list(dict.fromkeys(seeds.tolist()))
    grid = np.full((len(rows), columns.size), np.nan)
    status_grid = np.full(grid.shape, "", dtype="<U11")
    for lane, lr, seed in zip(lanes, lrs, seeds):
        r, c = rows.index(int(seed)), int(np.searchsorted(columns, lr))
        status_grid[r, c] = result.status[lane]
        if value == "final_loss":
            loss = float(result.final_loss[lane])
            grid[r, c] = math.log10(loss) if math.isfinite(loss) and loss > 0 else np.nan
        elif value == "status":
            grid[r, c] = list(STATUS_COLORS).index(str(result.status[lane]))
        else:
            step = int(result.diverged_at[lane])
            grid[r, c] = step if step >= 0 else np.nan
    fig, ax = new_axes((max(6.0, 0.45 * columns.size + 3), max(3.0, 0.35 * len(rows) + 2)))
    masked = np.ma.masked_invalid(grid)
    if value == "status":
        cmap = ListedColormap(list(STATUS_COLORS.values()))
        image = ax.imshow(masked, aspect="auto", cmap=cmap, norm=BoundaryNorm(np.arange(5) - 0.5, 4),
                          interpolation="nearest")
        bar = fig.colorbar(image, ax=ax, ticks=range(4))
        bar.ax.set_yticklabels(list(STATUS_COLORS))
    else:
        image = ax.imshow(masked, aspect="auto", cmap="viridis", interpolation="nearest")
        fig.colorbar(image, ax=ax, label="log10 final loss" if value == "final_loss" else "diverged at step")
    if value == "final_loss":
        for r, c in zip(*np.nonzero(status_grid == "diverged")):
            ax.text(c, r, "×", ha="center", va="center", color=STATUS_COLORS["diverged"], fontsize=12,
                    fontweight="bold")
    step = max(1, columns.size // 12)
    ax.set_xticks(range(0, columns.size, step), [f"{lr:.2g}" for lr in columns[::step]], rotation=45)
    row_step = max(1, len(rows) // 16)
    ax.set_yticks(range(0, len(rows), row_step), [str(s) for s in rows[::row_step]])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("seed")
    ax.set_title(f"{optimizer}: {value.replace('_', ' ')} per seed and learning rate")
    return fig


def plot_success_fraction(
    learning_rates: Any,
    fractions: Mapping[str, Any],
    *,
    title: str = "Fraction of seeds that solved the task",
    ylabel: str = "fraction of seeds",
) -> Figure:
    """The fraction of seeds that solved a task at each learning rate, one line per optimizer.

    Args:
      learning_rates: 1-D positive learning rates (the x axis, logarithmic).
      fractions: optimizer name -> 1-D fractions in [0, 1], one per learning rate.
      title: axes title.
      ylabel: y-axis label.

    Returns:
      The figure.

    Raises:
      ValueError, TypeError: empty mapping, shapes that do not match
        ``learning_rates``, fractions outside [0, 1] or non-positive learning rates.
    """
    lrs = np.asarray(learning_rates, dtype=np.float64)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError(f"learning_rates must be a non-empty 1-D array of finite positive floats, got {learning_rates!r}")
    if not isinstance(fractions, Mapping) or not fractions:
        raise ValueError("fractions must be a non-empty mapping optimizer name -> fractions per learning rate")
    order = np.argsort(lrs)
    fig, ax = new_axes((8.0, 5.0))
    for index, (name, values) in enumerate(fractions.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != lrs.shape:
            raise ValueError(f"fractions[{name!r}] must have shape {lrs.shape} (one per learning rate), got {values.shape}")
        if np.any((values < 0) | (values > 1)):
            raise ValueError(f"fractions[{name!r}] must lie in [0, 1]")
        ax.plot(lrs[order], values[order], marker=_MARKERS[index % len(_MARKERS)],
                linestyle=LINESTYLES[index % len(LINESTYLES)], linewidth=1.8, label=str(name))
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    finish(ax, title=title, xlabel="learning rate", ylabel=ylabel)
    return fig
