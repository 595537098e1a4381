"""Median and spread across seeds, from a :class:`jaxopt_lessons.SweepResult`'s per-lane fields.

Every lesson claim that compares methods rests on several random starts (seeds): a
method's number is the *median* over seeds, its spread the *range* (lowest to highest
seed). One method beats another only when their ranges do not overlap; otherwise the
lesson says the difference is within the seed spread. A method's best learning rate is
the one with the lowest median over seeds among rates where no seed diverged (ties at
float precision go to the larger rate) — not the single luckiest lane.

Built on ``SweepResult`` fields (``learning_rates``, ``seeds``, ``optimizers``,
``final_loss``, ``status``), so it keeps working as the engine's ``best()`` and
statuses evolve.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class SeedTable(NamedTuple):
    """One optimizer's lanes as a seeds x learning-rates grid.

    Attributes:
      rates: ``(n_rates,)`` increasing learning rates.
      seeds: ``(n_seeds,)`` seeds.
      values: ``(n_seeds, n_rates)`` float64; ``+inf`` where the lane diverged or is not finite.
      status: ``(n_seeds, n_rates)`` str.
      lanes: ``(n_seeds, n_rates)`` int, the lane index of each cell.
    """

    rates: np.ndarray
    seeds: np.ndarray
    values: np.ndarray
    status: np.ndarray
    lanes: np.ndarray

    @property
    def diverged(self) -> np.ndarray:
        """``(n_seeds, n_rates)`` booleans."""
        return self.status == "diverged"

    def median(self) -> np.ndarray:
        """``(n_rates,)`` median over seeds (``inf`` when half or more of the seeds failed)."""
        return np.median(self.values, axis=0)


def seed_table(result: Any, optimizer: str | None = None, values: Any = None, where: Any = None) -> SeedTable:
    """The lanes of ``optimizer`` (default: the only one) arranged seeds x learning rates.

    Args:
      result: a ``SweepResult``.
      optimizer: which optimizer's lanes; required when the sweep has several.
      values: ``(n_lanes,)`` per-lane numbers to tabulate instead of ``final_loss`` (e.g.
        a held-out loss computed from ``result.params``).
      where: optional ``(n_lanes,)`` booleans: only these lanes (e.g. the seeds of one
        model size, when a sweep's seeds encode sizes too).

    Raises:
      ValueError: unknown or missing ``optimizer``; a (seed, rate) cell with no lane or several.
    """
    names = list(dict.fromkeys(np.asarray(result.optimizers).tolist()))
    if optimizer is None:
        if len(names) != 1:
            raise ValueError(f"optimizer must name one of {names}")
        optimizer = names[0]
    if optimizer not in names:
        raise ValueError(f"unknown optimizer {optimizer!r}; the sweep has {names}")
    numbers = np.asarray(result.final_loss if values is None else values, dtype=np.float64)
    selected = np.asarray(result.optimizers) == optimizer
    if where is not None:
        selected &= np.asarray(where, dtype=bool)
    mine = np.flatnonzero(selected)
    rates = np.unique(np.asarray(result.learning_rates)[mine])
    seeds = np.unique(np.asarray(result.seeds)[mine])
    lanes = np.full((seeds.size, rates.size), -1)
    for lane in mine:
        row = np.searchsorted(seeds, result.seeds[lane])
        column = np.searchsorted(rates, result.learning_rates[lane])
        if lanes[row, column] >= 0:
            raise ValueError(f"two lanes of {optimizer!r} at seed {seeds[row]}, lr {rates[column]:g}")
        lanes[row, column] = lane
    if np.any(lanes < 0):
        raise ValueError(f"the lanes of {optimizer!r} do not fill a seeds x learning-rates grid")
    status = np.asarray(result.status)[lanes]
    cells = numbers[lanes]
    cells = np.where(np.isfinite(cells) & (status != "diverged"), cells, np.inf)
    return SeedTable(rates, seeds, cells, status, lanes)


def spread(values: Any) -> dict[str, float]:
    """``{"median", "low", "high", "n"}`` of per-seed numbers (non-finite counts as ``+inf``).

    Examples:
      >>> spread([3.0, 1.0, 2.0])
      {'median': 2.0, 'low': 1.0, 'high': 3.0, 'n': 3}
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    array = np.where(np.isfinite(array), array, np.inf)
    return {"median": float(np.median(array)), "low": float(array.min()), "high": float(array.max()),
            "n": int(array.size)}


def best_rate_index(table: SeedTable, rtol: float = 1e-9) -> int | None:
    """Index of the rate with the lowest median over seeds among rates where no seed failed.

    A rate whose median is within ``rtol`` of the lowest counts as tied, and ties go to the
    larger rate. ``None`` when every rate has a failed (diverged or non-finite) seed.
    """
    usable = np.all(np.isfinite(table.values), axis=0)
    if not usable.any():
        return None
    medians = np.where(usable, table.median(), np.inf)
    lowest = medians.min()
    tied = np.flatnonzero(medians <= lowest + rtol * abs(lowest))
    return int(tied.max())


def at_best(table: SeedTable) -> dict[str, Any] | None:
    """The best rate (:func:`best_rate_index`) and the :func:`spread` of its seeds, or ``None``.

    ``edge`` says whether that rate is the grid's ``"lowest"`` or ``"highest"`` (``None`` inside):
    at an edge the optimum may lie beyond the grid.
    """
    index = best_rate_index(table)
    if index is None:
        return None
    edge = "lowest" if index == 0 else "highest" if index == table.rates.size - 1 else None
    return {"learning_rate": float(table.rates[index]), "index": index, "edge": edge, **spread(table.values[:, index])}


def compare(first: dict[str, float], second: dict[str, float]) -> str:
    """``"lower"``/``"higher"`` when ``first``'s seed range lies wholly below/above ``second``'s, else ``"overlap"``.

    Examples:
      >>> compare({"low": 1, "high": 2}, {"low": 3, "high": 4}), compare({"low": 1, "high": 3}, {"low": 2, "high": 4})
      ('lower', 'overlap')
    """
    if first["high"] < second["low"]:
        return "lower"
    if first["low"] > second["high"]:
        return "higher"
    return "overlap"
