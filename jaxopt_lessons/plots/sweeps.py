"""Figures of sweeps: the sweep curve, heat maps (seed x learning rate, hyperparameter x learning rate), success fractions.

Every function takes results a lesson already computed (a
:class:`jaxopt_lessons.SweepResult` or plain arrays) and returns a
:class:`matplotlib.figure.Figure` built without pyplot's global state. Nothing here
trains; quantities marked on a figure (the ``2 / λmax`` bound) are passed in.
Status colours are the same in every figure (:data:`STATUS_COLORS`, one per name of
:data:`jaxopt_lessons.sweeps.status.STATUSES`; a status unknown to this module is
drawn light grey under its own name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._common import LINESTYLES, finish, new_axes

__all__ = ["STATUS_COLORS", "plot_hyperparam_heatmap", "plot_seed_lr_heatmap", "plot_success_fraction",
           "plot_sweep", "status_color"]

STATUS_COLORS: dict[str, str] = {
    "converged": "#2ca02c",  # green
    "slow": "#ff7f0e",  # orange
    "oscillating": "#9467bd",  # purple
    "stalled": "#7f7f7f",  # grey
    "unstable": "#8c564b",  # brown
    "diverged": "#d62728",  # red
    "incomplete": "#17becf",  # cyan: an interrupted sweep's unfinished lanes
}
"""Status -> colour used by every sweep figure (every name of ``STATUSES``; tests check it)."""

UNKNOWN_STATUS_COLOR = "#c7c7c7"
"""The colour of a status this module does not know (a newer engine's): light grey."""


def status_color(status: str) -> str:
    """The colour of ``status``: :data:`STATUS_COLORS`, else :data:`UNKNOWN_STATUS_COLOR`."""
    return STATUS_COLORS.get(str(status), UNKNOWN_STATUS_COLOR)


def _status_order(present: Any) -> list[str]:
    """Every status name in the registry's order, then any other name that occurs in ``present``."""
    # imported here: the engine (and JAX) is loaded anyway once there is a result to draw
    from ..sweeps.status import STATUSES

    known = list(dict.fromkeys([*STATUSES, *STATUS_COLORS]))
    return known + sorted(set(np.asarray(present).astype(str).tolist()) - set(known))


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
        for state in _status_order(status):
            chosen = lanes & finite & (status == state)
            if chosen.any():
                ax.scatter(lrs[chosen], losses[chosen], c=status_color(state), marker=marker, s=36, alpha=0.8,
                           edgecolors="black", linewidths=0.4, zorder=3)
        unique_lrs = np.unique(lrs[lanes])
        medians = np.array([np.median(np.where(finite, losses, np.inf)[lanes & (lrs == lr)]) for lr in unique_lrs])
        per_rate = int(np.sum(lanes)) // max(unique_lrs.size, 1)
        n_seeds = np.unique(np.asarray(result.seeds)[lanes]).size
        label = name if per_rate <= 1 else (f"{name} (median of {per_rate} seeds)" if per_rate == n_seeds
                                            else f"{name} (median of {per_rate} lanes per rate)")
        (line,) = ax.plot(unique_lrs, np.where(np.isfinite(medians), medians, np.nan), color="0.35",
                          linestyle=LINESTYLES[index % len(LINESTYLES)], linewidth=1.4, zorder=2,
                          label=label)
        handles.append(Line2D([], [], color="0.35", linestyle=line.get_linestyle(), marker=marker,
                              markerfacecolor="white", markeredgecolor="black", label=label))
    for label, value in bounds.items():
        handles.append(ax.axvline(value, color="black", linestyle="--", linewidth=1.3, label=label))
    present = [s for s in _status_order(status) if np.any(status == s)]
    handles += [Line2D([], [], linestyle="", marker="o", markersize=7, markerfacecolor=status_color(s),
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
    status_grid = np.full(grid.shape, "", dtype=object)
    names = _status_order(np.asarray(result.status)[lanes])
    for lane, lr, seed in zip(lanes, lrs, seeds):
        r, c = rows.index(int(seed)), int(np.searchsorted(columns, lr))
        status_grid[r, c] = result.status[lane]
        if value == "final_loss":
            loss = float(result.final_loss[lane])
            grid[r, c] = math.log10(loss) if math.isfinite(loss) and loss > 0 else np.nan
        elif value == "status":
            grid[r, c] = names.index(str(result.status[lane]))
        else:
            step = int(result.diverged_at[lane])
            grid[r, c] = step if step >= 0 else np.nan
    fig, ax = new_axes((max(6.0, 0.45 * columns.size + 3), max(3.0, 0.35 * len(rows) + 2)))
    masked = np.ma.masked_invalid(grid)
    if value == "status":
        cmap = ListedColormap([status_color(name) for name in names])
        image = ax.imshow(masked, aspect="auto", cmap=cmap, norm=BoundaryNorm(np.arange(len(names) + 1) - 0.5,
                                                                               len(names)), interpolation="nearest")
        bar = fig.colorbar(image, ax=ax, ticks=range(len(names)))
        bar.ax.set_yticklabels(names)
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


def _log_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted positive ``values`` on a log axis (geometric midpoints)."""
    logs = np.log10(values)
    if logs.size == 1:
        return 10.0 ** (logs[0] + np.array([-0.25, 0.25]))
    middle = (logs[1:] + logs[:-1]) / 2
    return 10.0 ** np.concatenate([[2 * logs[0] - middle[0]], middle, [2 * logs[-1] - middle[-1]]])


def _hyperparam_lanes(result: Any, name: str, optimizer: str | None, where: Mapping[str, float] | None) -> np.ndarray:
    """The lanes one heat map shows: ``optimizer``'s, with every other hyperparameter fixed."""
    hyperparams = getattr(result, "hyperparams", None) or {}
    if name not in hyperparams:
        raise ValueError(f"unknown hyperparameter {name!r}; the sweep has "
                         f"{', '.join(map(repr, hyperparams)) or 'no hyperparams (pass sweep(..., hyperparams=...))'}")
    optimizers = list(dict.fromkeys(np.asarray(result.optimizers).tolist()))
    optimizer = optimizers[0] if optimizer is None else optimizer
    if optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(map(repr, optimizers))}")
    chosen = np.asarray(result.optimizers) == optimizer
    where = dict(where or {})
    for other, values in hyperparams.items():
        if other == name:
            continue
        if other in where:
            chosen &= np.isclose(np.asarray(values, dtype=np.float64), float(where.pop(other)))
        elif np.unique(np.asarray(values)[chosen]).size > 1:
            raise ValueError(f"the sweep also varies {other!r}: pick one value with where={{{other!r}: value}}")
    if where:
        raise ValueError(f"where names {sorted(where)}, which are not other hyperparameters of the sweep")
    if not chosen.any():
        raise ValueError(f"no lane of {optimizer!r} matches where={where}")
    return np.flatnonzero(chosen)


def _mark_cells(ax: Any, median: np.ndarray, n_failed: np.ndarray, columns: np.ndarray) -> list[Any]:
    """Failure marks, each row's best learning rate and the best cell; returns the legend handles."""
    row_index, col_index = np.indices(median.shape)
    all_bad, some_bad = ~np.isfinite(median), np.isfinite(median) & (n_failed > 0)
    size = float(np.clip(600.0 / max(columns.size, 1), 6.0, 60.0))
    handles = []
    if all_bad.any():
        handles.append(ax.scatter(columns[col_index[all_bad]], row_index[all_bad], marker="x", s=size,
                                  color=STATUS_COLORS["diverged"], label="≥ half the seeds failed", zorder=4))
    if some_bad.any():
        handles.append(ax.scatter(columns[col_index[some_bad]], row_index[some_bad], marker=".", s=size / 2,
                                  color="black", label="some seeds failed", zorder=4))
    finite = np.where(np.isfinite(median), median, np.nan)
    rows = np.flatnonzero(np.isfinite(median).any(axis=1))
    if rows.size:
        ax.scatter(columns[np.nanargmin(finite[rows], axis=1)], rows, marker="o", s=70, facecolors="none",
                   edgecolors="white", linewidths=1.6)
        best = np.unravel_index(np.nanargmin(finite), median.shape)
        ax.scatter(columns[best[1]], best[0], marker="*", s=160, color="white", edgecolors="black", linewidths=0.6)
        handles.append(Line2D([], [], linestyle="", marker="o", markersize=8, markerfacecolor="none",
                              markeredgecolor="0.3", markeredgewidth=1.6, label="best learning rate of the row"))
        handles.append(Line2D([], [], linestyle="", marker="*", markersize=12, markerfacecolor="white",
                              markeredgecolor="black", label=f"best cell: {median[best]:.3g} at lr {columns[best[1]]:.3g}"))
    return handles


def plot_hyperparam_heatmap(result: Any, name: str, optimizer: str | None = None, *,
                            where: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Learning rate x one hyperparameter, colour = the median final metric across seeds.

    The metric is the result's ``metric_name`` (``final_eval`` when the sweep had an
    ``eval_fn``, else ``final_loss``). A lane whose status is a failure (``diverged``,
    ``unstable``) or whose metric is not finite counts as +inf in the median, so a cell
    is blank with a red × when at least half its seeds failed, and carries a small
    black dot when some (fewer) did. An open white circle marks each row's best
    learning rate and a white star the best cell. The colour scale is logarithmic when
    every median shown is > 0.

    Args:
      result: a :class:`jaxopt_lessons.SweepResult` of a sweep with ``hyperparams``.
      name: the hyperparameter on the y axis (one row per value).
      optimizer: whose lanes to show (default: the sweep's first optimizer).
      where: values of the sweep's *other* hyperparameters (each must be fixed).
      title: axes title (default names the optimizer, metric and seed count).

    Returns:
      The figure: columns are learning rates on a log axis, rows hyperparameter values.

    Raises:
      TypeError, ValueError: ``result`` is not a sweep result, ``name``, ``optimizer`` or
        ``where`` do not match the sweep (the message lists the valid names).
    """
    _check_result(result)
    lanes = _hyperparam_lanes(result, name, optimizer, where)
    optimizer = str(np.asarray(result.optimizers)[lanes[0]])
    metric_name = getattr(result, "metric_name", "final_loss")
    metric = np.asarray(getattr(result, metric_name), dtype=np.float64)[lanes]
    from ..sweeps.status import FAILED

    failed = np.isin(np.asarray(result.status)[lanes], list(FAILED)) | ~np.isfinite(metric)
    lrs = np.asarray(result.learning_rates, dtype=np.float64)[lanes]
    values = np.asarray(result.hyperparams[name], dtype=np.float64)[lanes]
    columns, rows = np.unique(lrs), np.unique(values)
    median = np.full((rows.size, columns.size), np.nan)
    n_failed = np.zeros(median.shape, dtype=int)
    n_seeds = 0
    for r, value in enumerate(rows):
        for c, lr in enumerate(columns):
            cell = (values == value) & (lrs == lr)
            if cell.any():
                median[r, c] = np.median(np.where(failed[cell], np.inf, metric[cell]))
                n_failed[r, c] = int(np.sum(failed[cell]))
                n_seeds = max(n_seeds, int(np.sum(cell)))
    shown = median[np.isfinite(median)]
    positive = shown.size > 0 and np.all(shown > 0)
    norm = LogNorm(shown.min(), shown.max()) if positive and shown.min() < shown.max() else (
        Normalize(shown.min(), shown.max()) if shown.size else None)
    fig, ax = new_axes((9.0, max(3.2, 0.45 * rows.size + 2.2)))
    x_edges, y_edges = _log_edges(columns), np.arange(rows.size + 1) - 0.5
    image = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(median), cmap="viridis", norm=norm,
                          shading="flat")
    scale = "log scale" if isinstance(norm, LogNorm) else "linear scale"
    fig.colorbar(image, ax=ax, label=f"median {metric_name} over {n_seeds} seed{'s' * (n_seeds > 1)} ({scale})")
    handles = _mark_cells(ax, median, n_failed, columns)
    ax.set_xscale("log")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_yticks(range(rows.size), [f"{value:g}" for value in rows])
    ax.set_xlabel("learning rate")
    ax.set_ylabel(name)
    ax.set_title(title or f"{optimizer}: median {metric_name} by learning rate and {name}")
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
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
