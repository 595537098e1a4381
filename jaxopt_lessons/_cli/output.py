"""What ``jaxopt-lessons sweep`` prints: a per-rate summary that fits one screen, or every lane.

Plain text from a :class:`jaxopt_lessons.SweepResult` (its :meth:`~jaxopt_lessons.SweepResult.summary`
and :meth:`~jaxopt_lessons.SweepResult.best`); nothing here computes or imports JAX.

* :func:`summary_lines`: one row per (optimizer, learning rate) with the median and worst
  final loss across seeds and the status counts. More rows than ``max_rows`` (64 by
  default, a screen) are merged into bins of neighbouring rates of the same optimizer,
  each showing its rate range, the range of its medians, its worst loss and its counts.
* :func:`lane_lines`: one row per lane (``--lanes``).
* :func:`status_line` and :func:`best_lines`: the counts over every lane, and the best rate
  with its spread and the rule that chose it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..sweeps.status import STATUSES

__all__ = ["best_lines", "count", "lane_lines", "status_line", "summary_lines"]

MAX_ROWS = 64
"""Summary rows shown before neighbouring rates are merged into bins (one screen)."""


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in agreement: ``count(1, "seed") == "1 seed"``, ``count(3, "seed") == "3 seeds"``."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def fmt(value: float, digits: int = 4) -> str:
    """A loss or rate in scientific notation (``inf``/``nan`` as such)."""
    value = float(value)
    return f"{value:.{digits}e}" if math.isfinite(value) else str(value)


def _counts(statuses: dict[str, int], total: int) -> str:
    """``"converged"`` for one lane, else ``"3 converged, 2 slow"`` in :data:`STATUSES` order."""
    if total == 1:
        return next(iter(statuses))
    return ", ".join(f"{statuses[s]} {s}" for s in STATUSES if statuses.get(s))


def _table(header: Sequence[str], rows: list[list[str]], left: Sequence[bool]) -> list[str]:
    """Aligned columns: text columns left-aligned, numbers right-aligned, two spaces apart."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return [
        "  ".join(cell.ljust(width) if is_left else cell.rjust(width)
                  for cell, width, is_left in zip(line, widths, left)).rstrip()
        for line in [list(header), *rows]
    ]


def _bins(rows: list[dict[str, Any]], max_rows: int) -> list[list[dict[str, Any]]]:
    """``rows`` in bins of ``k`` neighbouring rates of one optimizer, ``k`` the least that fits ``max_rows``."""
    size = max(1, math.ceil(len(rows) / max_rows))
    lines: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple((name, value) for name, value in row.items() if name not in _ROW_FIELDS)
        lines.setdefault(key, []).append(row)
    return [members[i:i + size] for members in lines.values() for i in range(0, len(members), size)]


_ROW_FIELDS = {"learning_rate", "n_seeds", "metric", "median_final_loss", "worst_final_loss", "fraction_diverged",
               "statuses"}


def summary_lines(result: Any, *, max_rows: int = MAX_ROWS) -> list[str]:
    """The per-rate summary table of ``result`` (header first), at most about ``max_rows`` rows.

    Args:
      result: a :class:`jaxopt_lessons.SweepResult`.
      max_rows: rows shown before neighbouring rates of an optimizer are merged into bins.

    Returns:
      The lines, without trailing newlines.
    """
    rows = result.summary()
    bins = _bins(rows, max_rows)
    several = len({row["optimizer"] for row in rows}) > 1
    hyper = list(result.hyperparams)
    one_seed = all(row["n_seeds"] == 1 for row in rows)
    metric = rows[0]["metric"] if rows else "final_loss"
    header = (["optimizer"] if several else []) + hyper + ["learning_rate"]
    header += [metric] if one_seed else [f"median_{metric}", f"worst_{metric}"]
    header += ["status" if one_seed and len(bins) == len(rows) else "statuses"]
    table = []
    for members in bins:
        first, last = members[0], members[-1]
        medians = [row["median_final_loss"] for row in members]
        statuses: dict[str, int] = {}
        for row in members:
            for name, n in row["statuses"].items():
                statuses[name] = statuses.get(name, 0) + n
        line = [first["optimizer"]] if several else []
        line += [f"{first[name]:.4g}" for name in hyper]
        if len(members) == 1:
            line.append(fmt(first["learning_rate"]))
            line += [fmt(medians[0])] if one_seed else [fmt(medians[0]), fmt(first["worst_final_loss"])]
        else:
            line.append(f"{fmt(first['learning_rate'], 2)}..{fmt(last['learning_rate'], 2)}")
            spread = f"{fmt(min(medians), 2)}..{fmt(max(medians), 2)}"
            line += [spread] if one_seed else [spread, fmt(max(row["worst_final_loss"] for row in members), 2)]
        line.append(_counts(statuses, sum(statuses.values())))
        table.append(line)
    lines = _table(header, table, [True] * several + [False] * (len(header) - several - 1) + [True])
    if len(bins) < len(rows):
        size = max(len(members) for members in bins)
        lines[0] += f"   ({len(rows)} rows, in bins of {size} neighbouring rates; --lanes: every lane)"
    return lines


def lane_lines(result: Any) -> list[str]:
    """One line per lane of ``result`` (header first): optimizer, hyperparameters, rate, seed, loss, status."""
    several = len(set(result.optimizers.tolist())) > 1
    hyper = list(result.hyperparams)
    header = (["optimizer"] if several else []) + hyper + ["learning_rate", "seed", "final_loss", "status",
                                                           "diverged_at"]
    table = []
    for lane in range(result.n_lanes):
        seed, diverged = int(result.seeds[lane]), int(result.diverged_at[lane])
        line = [str(result.optimizers[lane])] if several else []
        line += [f"{float(result.hyperparams[name][lane]):.4g}" for name in hyper]
        line += [fmt(result.learning_rates[lane]), str(seed) if seed >= 0 else "-",
                 fmt(result.final_loss[lane]), str(result.status[lane]), str(diverged) if diverged >= 0 else "-"]
        table.append(line)
    left = [True] * several + [False] * (len(hyper) + 3) + [True, False]
    return _table(header, table, left)


def status_line(result: Any) -> str:
    """The status counts over every lane: ``statuses (64 lanes): 38 converged, 23 slow, 3 stalled``."""
    counts = {s: int(np.sum(result.status == s)) for s in STATUSES}
    listed = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"statuses ({count(result.n_lanes, 'lane')}): {listed}"


def best_lines(result: Any, *, seeds_hint: bool = False) -> list[str]:
    """The best learning rate (overall, then per optimizer when there are several) and the rule.

    Args:
      result: a :class:`jaxopt_lessons.SweepResult`.
      seeds_hint: add "(--seeds N for medians across seeds)" to a one-seed rule.

    Returns:
      ``best: ...`` lines, then one indented line saying how the choice was made.
    """
    names = list(dict.fromkeys(result.optimizers.tolist()))
    overall = result.best()
    if overall is None:
        return ["best: none (every lane failed: diverged or unstable)"]
    hyper = list(result.hyperparams)
    lines = [_best_line("best:", overall, hyper, several=len(names) > 1)]
    if len(names) > 1:
        for name in names:
            chosen = result.best(optimizer=name)
            lines.append(f"  best {name}: none (every lane failed)" if chosen is None
                         else _best_line(f"  best {name}:", chosen, hyper, several=False))
    rule = overall["rule"]
    low, high = overall["tied_learning_rates"]
    if low < high:
        rule += f" (tied: {fmt(low)}..{fmt(high)})"
    if seeds_hint and overall["n_seeds"] == 1:
        rule += "; --seeds N gives medians across seeds"
    return [*lines, f"  rule: {rule}"]


def _best_line(label: str, best: dict[str, Any], names: list[str], *, several: bool) -> str:
    metric = best["metric"]
    where = f" {best['optimizer']}" if several else ""
    hyper = "".join(f"  {name}={best[name]:.4g}" for name in names)
    if best["n_seeds"] == 1:
        return (f"{label}{where} lr={fmt(best['learning_rate'])}{hyper}  {metric}={fmt(best[metric])}  "
                f"score={fmt(best['score'])}")
    low, high = best["spread"]
    return (f"{label}{where} lr={fmt(best['learning_rate'])}{hyper}  median {metric}={fmt(best['score'])}  "
            f"spread {fmt(low)}..{fmt(high)} over {count(best['n_seeds'], 'seed')}")
