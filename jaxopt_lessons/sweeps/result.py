"""The result of :func:`jaxopt_lessons.sweep`: flat per-lane NumPy arrays and their summaries.

Lane ``i`` is one training run; every per-lane field has the lane as its first axis,
in the order optimizer (outer) x seed x each hyperparameter x learning rate (inner).
Saving and loading live in :mod:`jaxopt_lessons.sweeps.storage`; figures in
:mod:`jaxopt_lessons.plots`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import storage
from .status import FAILED, STATUSES

__all__ = ["SweepResult"]


@dataclasses.dataclass(frozen=True, eq=False)
class SweepResult:
    """Every lane of a sweep, flat: lane ``i`` is ``(optimizers[i], seeds[i], hyperparams[.][i], learning_rates[i])``.

    Attributes:
      learning_rates: ``(n_lanes,)`` float64, each lane's learning rate as given.
      seeds: ``(n_lanes,)`` int64, each lane's seed (``-1`` when ``init`` was a pytree).
      optimizers: ``(n_lanes,)`` str, each lane's optimizer name.
      losses: ``(n_lanes, n_records)`` in the loss dtype; ``losses[i, k]`` is the loss on
        the full training data before update ``k * record_every`` (a diverged lane
        repeats its frozen loss; records a lane did not reach are NaN).
      final_loss: ``(n_lanes,)`` loss at each lane's final parameters (for a diverged
        lane, the frozen parameters of step ``diverged_at``).
      status: ``(n_lanes,)`` str, one of :data:`jaxopt_lessons.sweeps.STATUSES`
        (rules in :func:`jaxopt_lessons.sweep`).
      diverged_at: ``(n_lanes,)`` int64, the first diverged step, or ``-1``.
      record_every: steps between two records.
      steps: updates each lane was asked to run.
      stopped_at: steps actually run (``< steps`` after an early stop).
      params: final parameters, a pytree like the model's with a leading lane axis
        (NumPy), or ``None``.
      stats: the status statistics per lane (``loss0``, ``loss_mid``, ``peak_loss``,
        ``flips_window``, ``max_sq_update``, ``last_sq_update``), NumPy arrays.
      hyperparams: name -> ``(n_lanes,)`` float64, each lane's value of every swept
        hyperparameter (empty without ``hyperparams=``).
      eval_losses: ``(n_lanes, n_records)`` held-out metric ``eval_fn`` at every
        record, or ``None`` without ``eval_fn``.
      final_eval: ``(n_lanes,)`` ``eval_fn`` at the final parameters, or ``None``.
      complete: ``False`` for the partial result of an interrupted sweep.
      steps_run: ``(n_lanes,)`` int64, steps each lane ran (``steps`` for a finished
        lane), or ``None`` when unknown.
    """

    learning_rates: np.ndarray
    seeds: np.ndarray
    optimizers: np.ndarray
    losses: np.ndarray
    final_loss: np.ndarray
    status: np.ndarray
    diverged_at: np.ndarray
    record_every: int
    steps: int
    stopped_at: int | None = None
    params: Any = None
    stats: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    hyperparams: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    eval_losses: np.ndarray | None = None
    final_eval: np.ndarray | None = None
    complete: bool = True
    steps_run: np.ndarray | None = None

    # --- views --------------------------------------------------------------------

    @property
    def n_lanes(self) -> int:
        """Number of lanes."""
        return int(self.learning_rates.shape[0])

    @property
    def record_steps(self) -> np.ndarray:
        """The step of each record: ``arange(n_records) * record_every``."""
        return np.arange(self.losses.shape[1]) * self.record_every

    @property
    def metric_name(self) -> str:
        """What ``best()`` and ``summary()`` rank by: ``"final_eval"`` when there is one, else ``"final_loss"``."""
        return "final_loss" if self.final_eval is None else "final_eval"

    @property
    def metric(self) -> np.ndarray:
        """``final_eval`` when the sweep had an ``eval_fn``, else ``final_loss``."""
        return self.final_loss if self.final_eval is None else self.final_eval

    def lane(self, index: int) -> dict[str, Any]:
        """Lane ``index`` as a dict: its coordinates, final loss (and eval), status."""
        index = int(index)
        row: dict[str, Any] = {
            "lane": index,
            "optimizer": str(self.optimizers[index]),
            "seed": int(self.seeds[index]),
            "learning_rate": float(self.learning_rates[index]),
            **{name: float(values[index]) for name, values in self.hyperparams.items()},
            "final_loss": float(self.final_loss[index]),
            "status": str(self.status[index]),
        }
        if self.final_eval is not None:
            row["final_eval"] = float(self.final_eval[index])
        return row

    def best(self, optimizer: str | None = None) -> dict[str, Any] | None:
        """The best learning rate (and hyperparameters), robust to one lucky lane.

        Every (optimizer, hyperparameters, learning rate) group is scored by the median of
        its seeds' final metric (:attr:`metric_name`: ``final_eval`` when the sweep had an
        ``eval_fn``, else ``final_loss``); a failed lane (``diverged``/``unstable``) or a
        non-finite value counts as ``+inf``. With a single seed, a lane's score is instead
        the (upper) median of its own value and its neighbours' on the learning-rate grid,
        one on each side (two on each side on grids of 16 rates or more), so a lucky lane
        (or two) between failed neighbours does not win. Among groups whose score ties the
        lowest within float precision (4 ulps of the metric's dtype), a group whose own value
        is more than twice better than its score is set aside as luck, the lowest own value
        wins, and when several tie there too the largest learning rate wins (it got there
        fastest); the tied range is reported.

        Args:
          optimizer: only consider this optimizer's lanes (default: every lane).

        Returns:
          ``None`` when every considered lane failed, else :meth:`lane`'s dict for the
          chosen group's median lane, plus ``"score"`` (the group's score), ``"spread"``
          (``[min, max]`` of the metric across its seeds), ``"n_seeds"``, ``"metric"``,
          ``"tied_learning_rates"`` (``[lowest, highest]`` rate of the tie) and ``"rule"``
          (one line saying how the choice was made).

        Raises:
          ValueError: if ``optimizer`` is not one of the sweep's optimizer names.
        """
        if optimizer is not None:
            names = sorted(set(self.optimizers.tolist()))
            if optimizer not in names:
                raise ValueError(f"unknown optimizer {optimizer!r}; this sweep has {', '.join(map(repr, names))}")
        groups = [(key, lanes) for key, lanes in self._groups() if optimizer in (None, key["optimizer"])]
        values = [self._metric_values(lanes) for _, lanes in groups]
        if not np.isfinite(np.concatenate(values)).any():
            return None
        single_seed = all(lanes.size == 1 for _, lanes in groups)
        scores = self._neighbour_scores(groups, values) if single_seed else [np.median(v) for v in values]
        scores = np.asarray(scores, np.float64)
        eps = np.finfo(np.result_type(self.metric.dtype, np.float16)).eps
        lowest = np.min(scores)
        tol = lambda value: 4 * eps * abs(value)  # noqa: E731  (float precision of the metric)
        tied = np.flatnonzero(scores <= lowest + tol(lowest))
        own = np.asarray([np.median(values[i]) for i in tied])
        # a lane more than twice better than its neighbourhood's median is luck, not a better rate
        plausible = own >= scores[tied] / 2
        tied, own = (tied[plausible], own[plausible]) if plausible.any() else (tied, own)
        tied = tied[own <= own.min() + tol(own.min())]
        rates = np.asarray([groups[i][0]["learning_rate"] for i in tied])
        chosen = int(tied[np.argmax(rates)])
        key, lanes = groups[chosen]
        order = np.argsort(values[chosen], kind="stable")
        median_lane = int(lanes[order[(lanes.size - 1) // 2]])
        finite = values[chosen][np.isfinite(values[chosen])]
        rule = ("one seed: a rate's score is the median of its own and its neighbouring rates' "
                f"{self.metric_name}" if single_seed else
                f"median {self.metric_name} across {lanes.size} seeds")
        return {
            **self.lane(median_lane),
            "score": float(scores[chosen]),
            "spread": [float(finite.min()), float(finite.max())] if finite.size else [float("inf")] * 2,
            "n_seeds": int(lanes.size),
            "metric": self.metric_name,
            "tied_learning_rates": [float(rates.min()), float(rates.max())],
            "rule": rule + (f"; {tied.size} rates tie, the largest wins" if tied.size > 1 else ""),
        }

    def _metric_values(self, lanes: np.ndarray) -> np.ndarray:
        """The metric of ``lanes`` as float64, failed lanes and non-finite values as ``+inf``."""
        values = self.metric[lanes].astype(np.float64)
        return np.where(np.isfinite(values) & ~np.isin(self.status[lanes], list(FAILED)), values, np.inf)

    @staticmethod
    def _neighbour_scores(groups: list[tuple[dict[str, Any], np.ndarray]], values: list[np.ndarray]) -> list[float]:
        """One seed: each rate's median with its neighbours on its own (optimizer, hyperparameters) grid."""
        scores = [0.0] * len(groups)
        lines: dict[tuple, list[int]] = {}
        for index, (key, _) in enumerate(groups):
            lines.setdefault(tuple((k, v) for k, v in key.items() if k != "learning_rate"), []).append(index)
        for members in lines.values():
            members = sorted(members, key=lambda i: groups[i][0]["learning_rate"])
            line = [float(values[i][0]) for i in members]
            half = 1 if len(line) < 16 else 2  # dense grids: two lucky neighbours cannot win either
            for position, index in enumerate(members):
                window = sorted(line[max(0, position - half):position + half + 1])
                scores[index] = window[len(window) // 2]  # the upper median: at the edges, the worse of two
        return scores

    def summary(self) -> list[dict[str, Any]]:
        """Per (optimizer, hyperparameters, learning rate), across seeds: median and worst metric, fraction diverged.

        The metric is :attr:`metric_name` (``final_eval`` when present, else ``final_loss``);
        a non-finite value counts as ``+inf`` (the worst).

        Returns:
          One dict per group in lane order, with ``optimizer``, each hyperparameter,
          ``learning_rate``, ``n_seeds``, ``metric``, ``median_final_loss``,
          ``worst_final_loss`` (of the metric), ``fraction_diverged`` and ``statuses``
          (status -> count).
        """
        rows = []
        for key, lanes in self._groups():
            values = np.where(np.isfinite(self.metric[lanes]), self.metric[lanes], np.inf)
            statuses = self.status[lanes]
            rows.append({
                **key,
                "n_seeds": int(lanes.size),
                "metric": self.metric_name,
                "median_final_loss": float(np.median(values)),
                "worst_final_loss": float(np.max(values)),
                "fraction_diverged": float(np.mean(statuses == "diverged")),
                "statuses": {s: int(np.sum(statuses == s)) for s in STATUSES if np.any(statuses == s)},
            })
        return rows

    def max_stable_lr_observed(self) -> dict[str, float | None]:
        """Per optimizer, the largest learning rate at which no seed (and no hyperparameter value) failed (diverged or unstable)."""
        out: dict[str, float | None] = {name: None for name in dict.fromkeys(self.optimizers.tolist())}
        for key, lanes in self._groups(with_hyperparams=False):
            if not np.any(np.isin(self.status[lanes], list(FAILED))):
                current = out[key["optimizer"]]
                rate = key["learning_rate"]
                out[key["optimizer"]] = rate if current is None else max(current, rate)
        return out

    def _groups(self, with_hyperparams: bool = True) -> list[tuple[dict[str, Any], np.ndarray]]:
        """Lanes grouped by everything but the seed, in lane order."""
        names = list(self.hyperparams) if with_hyperparams else []
        columns = [self.optimizers.tolist(), *(self.hyperparams[n].tolist() for n in names),
                   self.learning_rates.tolist()]
        groups: dict[tuple, list[int]] = {}
        for lane, key in enumerate(zip(*columns)):
            groups.setdefault(key, []).append(lane)
        fields = ["optimizer", *names, "learning_rate"]
        return [(dict(zip(fields, key)), np.asarray(lanes)) for key, lanes in groups.items()]

    def table(self) -> str:
        """One line per lane: optimizer, seed, hyperparameters, learning rate, final loss (eval), status."""
        width = max([len("optimizer"), *(len(str(o)) for o in self.optimizers)])
        names = list(self.hyperparams)
        header = f"{'optimizer':<{width}}  {'seed':>5}  " + "".join(f"{n:>12}  " for n in names)
        header += f"{'learning_rate':>13}  {'final_loss':>12}  "
        header += f"{'final_eval':>12}  " if self.final_eval is not None else ""
        lines = [header + f"{'status':<11}  {'diverged_at':>11}"]
        for lane in range(self.n_lanes):
            diverged = int(self.diverged_at[lane])
            line = f"{self.optimizers[lane]:<{width}}  {int(self.seeds[lane]):>5}  "
            line += "".join(f"{float(self.hyperparams[n][lane]):>12.6g}  " for n in names)
            line += f"{float(self.learning_rates[lane]):>13.6g}  {float(self.final_loss[lane]):>12.6g}  "
            line += f"{float(self.final_eval[lane]):>12.6g}  " if self.final_eval is not None else ""
            lines.append(line + f"{self.status[lane]:<11}  {diverged if diverged >= 0 else '-':>11}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={int(np.sum(self.status == s))}" for s in STATUSES)
        partial = "" if self.complete else ", incomplete"
        return (f"SweepResult(n_lanes={self.n_lanes}, steps={self.steps}, record_every={self.record_every}, "
                f"{counts}{partial})")

    def plot(self, max_stable_lr: Any = None, **kwargs: Any) -> Any:
        """One-line delegation to :func:`jaxopt_lessons.plots.plot_sweep` (the engine draws nothing)."""
        from ..plots.sweeps import plot_sweep

        return plot_sweep(self, max_stable_lr=max_stable_lr, **kwargs)

    # --- files ---------------------------------------------------------------------

    def to_json(self, path: str | os.PathLike) -> Path:
        """Writes the result to ``path`` atomically; :meth:`from_json` reads it back exactly.

        The format is described in :mod:`jaxopt_lessons.sweeps.storage`.

        Returns:
          The path written.
        """
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return storage.save_fields(path, fields)

    @classmethod
    def from_json(cls, path: str | os.PathLike, *, like: Any = None) -> SweepResult:
        """Reads a file written by :meth:`to_json`.

        Args:
          path: the file.
          like: a parameter pytree (one lane's, e.g. the sweep's start) whose structure
            ``params`` is restored into (see :mod:`jaxopt_lessons.sweeps.storage`).

        Raises:
          ValueError: if the file is not a valid saved ``SweepResult`` (the message names
            the file and what is wrong).
        """
        return cls(**storage.load_fields(path, like=like))
