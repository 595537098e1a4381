r"""Lesson 9 — the "advanced optimizers" of the trend note, swept over learning rates.

The seed lists Adam, AdamW and Lion as the optimizers behind large-model training. This
lesson measures them, next to plain SGD and SGD with momentum, on the practice problem of
lesson 8 (2 → 8 → 4 → 1 ReLU network, two moons, cross-entropy). Update rules, with
gradient :math:`g_t` and learning rate :math:`\eta`:

* SGD: :math:`\theta \leftarrow \theta - \eta g_t`;
* momentum (heavy ball, :math:`\beta = 0.9`): :math:`m_t = \beta m_{t-1} + g_t`,
  :math:`\theta \leftarrow \theta - \eta m_t`;
* Adam: :math:`\theta \leftarrow \theta - \eta\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)` (lesson 8);
* AdamW (Loshchilov & Hutter, 2019): Adam plus decoupled weight decay,
  :math:`\theta \leftarrow \theta - \eta(\hat m_t/(\sqrt{\hat v_t}+\epsilon) + \lambda\theta)`;
* Lion (Chen et al., 2023): :math:`c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`,
  :math:`\theta \leftarrow \theta - \eta(\operatorname{sign}(c_t) + \lambda\theta)`,
  :math:`m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t` — every coordinate moves by exactly
  :math:`\pm\eta` (plus decay).

Every optimizer (as optax ships it) runs at every learning rate of a log grid from
:data:`~experiments._common.SEEDS` random starts, as one ``jl.sweep`` (one compiled program
per optimizer, every (seed, learning rate) a lane). For each optimizer: the *best learning
rate* (lowest median final loss over the starts, among rates where no start diverged),
the median and range of the final loss there, and the *good range* — the learning rates
whose median final loss is within a factor :data:`GOOD_FACTOR` of the best median, whose
width in decades measures how forgiving the optimizer is. One optimizer beats another
only when their ranges over the starts do not overlap. The hand-rolled twins
(``jl.optim``) run the same seeds and grid and are compared lane by lane.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_lessons as jl

from ._common import SEEDS, say, show_progress
from ._markdown import edge_note, figure_link, join_words, markdown_table, median_range, plural
from ._problems import (
    MOONS_OPTIONS,
    OPTIMIZERS,
    WEIGHT_DECAY,
    hand_name,
    learning_rates,
    moons_init,
    moons_problem,
    optax_name,
    sweep_steps,
)
from ._stats import at_best, compare, seed_table, spread

TITLE = "Modern optimizers: SGD, momentum, Adam, AdamW, Lion, swept"
SEED_SAYS = (
    "Trend alert: \"GPT-4: optimizing 1.8 TRILLION parameters — gradient descent in billion-dimensional "
    "space! Advanced optimizers: Adam, AdamW, Lion.\" The practice exercise calls Adam \"advanced "
    "gradient descent\"."
)

GOOD_FACTOR = 2.0
HAND_TWINS, QUICK_HAND_TWINS = ("AdamW", "Lion"), ()
"""Hand-rolled twins swept next to optax (full run, quick mode): the two whose update rules are not
already compared in lesson 8 (Adam) or trivial (SGD, momentum); each costs a compiled program.
``tests/test_optim.py`` checks every ``jl.optim`` optimizer against optax."""


def good_range(rates: np.ndarray, medians: np.ndarray, usable: np.ndarray,
               factor: float = GOOD_FACTOR) -> dict[str, Any]:
    """The learning rates whose median final loss is within ``factor`` of the best median.

    Args:
      rates: ``(n,)`` increasing learning rates.
      medians: ``(n,)`` median final loss over the seeds at each rate.
      usable: ``(n,)`` booleans, rates where no seed diverged or ended non-finite (never good).
      factor: a rate is good when its median is <= ``factor`` x the best usable median.

    Returns:
      ``{"low", "high", "decades", "n_good", "good_fraction"}``: the smallest and largest
      good rate, ``log10(high / low)``, the number of good rates and the share of the grid
      between ``low`` and ``high`` that is good (NaN and 0 when no rate is usable).
    """
    ok = usable & np.isfinite(medians)
    if not ok.any():
        nan = float("nan")
        return {"low": nan, "high": nan, "decades": nan, "n_good": 0, "good_fraction": nan}
    good = np.flatnonzero(ok & (medians <= factor * np.min(medians[ok])))
    low, high = int(good[0]), int(good[-1])
    return {
        "low": float(rates[low]),
        "high": float(rates[high]),
        "decades": float(np.log10(rates[high] / rates[low])),
        "n_good": int(good.size),
        "good_fraction": float(good.size / (high - low + 1)),
    }


def _agreement(optax_losses: np.ndarray, optax_status: np.ndarray, hand_losses: np.ndarray,
               hand_status: np.ndarray) -> dict[str, Any]:
    """How far the hand-rolled lanes are from their optax twins (recorded losses, statuses)."""
    both = (optax_status != "diverged") & (hand_status != "diverged")
    reference = optax_losses[both].astype(np.float64)
    difference = np.abs(reference - hand_losses[both])
    nan = float("nan")
    return {
        "lanes_compared": int(both.sum()),
        "max_abs_curve_difference": float(difference.max()) if difference.size else nan,
        "max_rel_curve_difference": float((difference / np.maximum(np.abs(reference), 1e-300)).max())
        if difference.size else nan,
        "same_status": bool(np.all(optax_status == hand_status)),
    }


@jax.jit
def _test_accuracy(lane_params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    return jax.vmap(lambda params: jl.accuracy(jl.mlp(params, x), y))(lane_params)


def _per_optimizer(result: Any, name: str, test_accuracy: np.ndarray, stable: float | None) -> dict[str, Any]:
    """Median and range over the seeds at each rate; the best rate; the good range."""
    table = seed_table(result, optax_name(name))
    usable = np.all(np.isfinite(table.values), axis=0)
    medians = table.median()
    best = at_best(table)
    entry: dict[str, Any] = {
        "median_final_losses": medians,
        "low_final_losses": table.values.min(axis=0),
        "high_final_losses": table.values.max(axis=0),
        "n_diverged": int(table.diverged.sum()),
        "rates_with_a_diverged_seed": int(table.diverged.any(axis=0).sum()),
        "max_non_diverged_lr": float("nan") if stable is None else stable,
        **good_range(table.rates, medians, usable),
    }
    if best is None:
        return {**entry, "best": None}
    column = best["index"]
    curves = np.asarray(result.losses, dtype=np.float64)[table.lanes[:, column]]
    statuses, counts = np.unique(table.status[:, column], return_counts=True)
    return {
        **entry,
        "best": {**best, "test_accuracy": spread(test_accuracy[table.lanes[:, column]]),
                 "statuses": {str(s): int(c) for s, c in zip(statuses, counts)}},
        "best_curve_median": np.median(curves, axis=0),
        "best_curve_low": curves.min(axis=0),
        "best_curve_high": curves.max(axis=0),
    }


def _sweeps(quick: bool, steps: int, rates: np.ndarray, data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The optax sweep over every seed, and the hand-rolled twins' sweep over the same seeds and rates."""
    loss_fn = jl.manual.mlp_loss_fn(**MOONS_OPTIONS)
    args = (data["x"], data["y"])
    say(f"sweep: {len(OPTIMIZERS)} optimizers x {SEEDS} starts x {rates.size} learning rates, {steps} steps")
    result = jl.sweep(loss_fn, moons_init, {optax_name(n): OPTIMIZERS[n][0] for n in OPTIMIZERS}, rates,
                      steps=steps, args=args, seeds=SEEDS, progress=show_progress())
    twins = QUICK_HAND_TWINS if quick else HAND_TWINS
    if not twins:
        return result, {}
    # The same seeds and grid, hence the same batch shapes: XLA rounds a batch of another
    # size differently, and at the largest stable rates those ulps grow into O(1) differences.
    say(f"sweep: hand-rolled twins ({', '.join(twins)}), the same starts and rates")
    hand = jl.sweep(loss_fn, moons_init, {hand_name(n): OPTIMIZERS[n][1] for n in twins}, rates,
                    steps=steps, args=args, seeds=SEEDS, progress=show_progress())
    agreement = {}
    for name in twins:
        optax_lanes = seed_table(result, optax_name(name)).lanes.ravel()
        hand_lanes = seed_table(hand, hand_name(name)).lanes.ravel()
        agreement[name] = _agreement(result.losses[optax_lanes], result.status[optax_lanes],
                                     hand.losses[hand_lanes], hand.status[hand_lanes])
    return result, agreement


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """5 optimizers x 5 starts x the LR grid, plus the hand-rolled twins; two figures."""
    out_dir = Path(out_dir)
    steps = sweep_steps(quick)
    rates = learning_rates(quick)
    data = moons_problem()
    result, agreement = _sweeps(quick, steps, rates, data)
    initial_loss = float(np.median(result.losses[:, 0]))
    accuracy = np.asarray(_test_accuracy(jax.tree_util.tree_map(jnp.asarray, result.params),
                                         data["x_test"], data["y_test"]), dtype=np.float64)
    stable = result.max_stable_lr_observed()
    per_optimizer = {name: _per_optimizer(result, name, accuracy, stable[optax_name(name)]) for name in OPTIMIZERS}
    for name, entry in agreement.items():
        per_optimizer[name]["hand_vs_optax"] = entry
    tuned = [name for name in OPTIMIZERS if per_optimizer[name]["best"] is not None]
    ranking = sorted(tuned, key=lambda name: per_optimizer[name]["best"]["median"])

    fig = jl.plots.plot_optimizer_sweeps(
        {name: rates for name in OPTIMIZERS},
        {name: per_optimizer[name]["median_final_losses"] for name in OPTIMIZERS},
        bands={name: (per_optimizer[name]["low_final_losses"], per_optimizer[name]["high_final_losses"])
               for name in OPTIMIZERS},
        best={name: (per_optimizer[name]["best"]["learning_rate"], per_optimizer[name]["best"]["median"])
              for name in tuned},
        good_ranges={name: (per_optimizer[name]["low"], per_optimizer[name]["high"]) for name in tuned},
        diverged={name: seed_table(result, optax_name(name)).diverged.any(axis=0) for name in OPTIMIZERS},
        title=f"Final loss after {steps} steps against learning rate: median over {SEEDS} starts "
              "(band: lowest–highest)",
        ylabel="final training loss (BCE)", reference=initial_loss, reference_label="initial loss",
    )
    jl.plots.save_figure(fig, out_dir / "sweep.png")
    fig = jl.plots.plot_loss_curves(
        {f"{name} (lr {per_optimizer[name]['best']['learning_rate']:.3g})": per_optimizer[name]["best_curve_median"]
         for name in ranking},
        bands={f"{name} (lr {per_optimizer[name]['best']['learning_rate']:.3g})":
               (per_optimizer[name]["best_curve_low"], per_optimizer[name]["best_curve_high"]) for name in ranking},
        # The same colour per optimizer as in sweep.png.
        styles={f"{name} (lr {per_optimizer[name]['best']['learning_rate']:.3g})":
                {"color": f"C{list(OPTIMIZERS).index(name)}"} for name in ranking},
        steps_per_record=result.record_every,
        title=f"Each optimizer at its own best learning rate: median over {SEEDS} starts (band: lowest–highest)",
        xlabel="step", ylabel="training loss (BCE)",
    )
    jl.plots.save_figure(fig, out_dir / "best_curves.png")

    winner = ranking[0] if ranking else None
    return {
        "steps": steps,
        "learning_rates": rates,
        "n_learning_rates": int(rates.size),
        "n_seeds": SEEDS,
        "n_lanes": result.n_lanes,
        "n_hand_twins": len(agreement),
        "weight_decay_adamw": WEIGHT_DECAY,
        "good_factor": GOOD_FACTOR,
        "initial_loss": initial_loss,
        "record_every": result.record_every,
        "optimizers": per_optimizer,
        "ranking_by_median_loss": ranking,
        "ranking_by_good_range": sorted(tuned, key=lambda name: -per_optimizer[name]["decades"]),
        "winner": winner,
        "winner_vs": {name: compare(per_optimizer[winner]["best"], per_optimizer[name]["best"])
                      for name in ranking[1:]} if winner else {},
        "adamw_vs_adam": compare(per_optimizer["AdamW"]["best"], per_optimizer["Adam"]["best"])
        if {"Adam", "AdamW"} <= set(tuned) else None,
    }


def _cell(entry: dict[str, float], fmt: str = ".3g") -> str:
    return median_range(entry["median"], entry["low"], entry["high"], fmt)


def report(metrics: dict[str, Any]) -> str:
    """The per-optimizer table, hand-vs-optax agreement and the figures."""
    opts = metrics["optimizers"]
    rows = []
    for name, o in opts.items():
        best = o["best"]
        if best is None:
            rows.append([name, "every rate had a diverged start", "—", "—", "—", "—", "—", o["n_diverged"]])
            continue
        rows.append([
            name, f"{best['learning_rate']:.3g}", _cell(best), _cell(best["test_accuracy"], ".1%"),
            ", ".join(f"{count} {status}" for status, count in best["statuses"].items()),
            f"{o['low']:.3g} – {o['high']:.3g} ({o['decades']:.2f} decades, {o['good_fraction']:.0%} of it good)",
            f"{o['max_non_diverged_lr']:.3g}", o["n_diverged"],
        ])
    agreement = [
        [name, o["hand_vs_optax"]["lanes_compared"], f"{o['hand_vs_optax']['max_abs_curve_difference']:.1e}",
         f"{o['hand_vs_optax']['max_rel_curve_difference']:.1e}", "yes" if o["hand_vs_optax"]["same_status"] else "no"]
        for name, o in opts.items() if "hand_vs_optax" in o
    ]
    if agreement:
        twins = ("**Hand-rolled (`jl.optim`) vs optax**, the same starts and rates, every recorded loss of every "
                 "non-diverged run:\n\n"
                 + markdown_table(["Optimizer", "runs compared", "max abs. difference", "max rel. difference",
                                   "same status everywhere"], agreement))
    else:
        twins = ("*Quick mode skips the hand-rolled (`jl.optim`) twins; the full run sweeps AdamW's and Lion's "
                 "next to optax, lane by lane.*\n")
    rates = metrics["learning_rates"]
    n = plural(metrics["n_seeds"], "random start")
    return (
        f"One `jl.sweep` of {metrics['n_lanes']:,} full training runs: 5 optax optimizers × {n} × "
        f"{metrics['n_learning_rates']} learning rates from {rates[0]:g} to {rates[-1]:g}, {metrics['steps']} full-batch steps each, "
        f"on lesson 8's problem (median initial loss {metrics['initial_loss']:.4f}). AdamW uses weight decay "
        f"{metrics['weight_decay_adamw']}; the other hyperparameters are optax's defaults. *Best lr*: the rate with "
        "the lowest median final loss over the starts, among rates where no start diverged. Cells give the median "
        f"over the starts and, in brackets, the lowest–highest. *Good range*: the rates whose median final loss is "
        f"within {metrics['good_factor']:g}× of the best median.\n\n"
        + markdown_table(["Optimizer", "best lr", "final loss there", "test accuracy there", "statuses there",
                          "good range", "largest lr with no diverged start", "diverged runs"], rows)
        + "\n" + _ranking_sentence(metrics)
        + edge_note([name for name, o in opts.items() if o["best"] is not None and o["best"]["edge"]]) + "\n\n"
        + twins
        + figure_link("modern_optimizers", "sweep.png",
                      "Median final loss against learning rate per optimizer (log–log) with the lowest–highest "
                      "band over the starts; stars: best rate; crosses at the top: rates where some start "
                      "diverged; bars at the bottom: the good range")
        + figure_link("modern_optimizers", "best_curves.png",
                      "Median loss curve of each optimizer at its best learning rate, with the lowest–highest band")
    )


def _ranking_sentence(metrics: dict[str, Any]) -> str:
    """Which optimizer is lowest, and against which the difference exceeds the seed spread."""
    winner = metrics["winner"]
    if winner is None:
        return "Every optimizer had a diverged start at every learning rate."
    beaten = [name for name, verdict in metrics["winner_vs"].items() if verdict == "lower"]
    within = [name for name, verdict in metrics["winner_vs"].items() if verdict != "lower"]
    text = (f"By median final loss at the best rate: {' < '.join(metrics['ranking_by_median_loss'])}. "
            f"{winner} has the lowest median; ")
    if beaten:
        text += f"its whole range lies below the range{'s' if len(beaten) > 1 else ''} of {join_words(beaten)}"
        text += (f", but overlaps those of {join_words(within)}, so it does not beat "
                 f"{'them' if len(within) > 1 else 'that one'}." if within else ".")
    else:
        text += f"its range overlaps every other optimizer's ({join_words(within)}), so no optimizer wins here."
    return text + f" By width of the good range: {' > '.join(metrics['ranking_by_good_range'])}."


def corrections(metrics: dict[str, Any]) -> list[str]:
    """Which 'advanced' optimizer is best here, measured over seeds."""
    opts = metrics["optimizers"]
    if metrics["winner"] is None:
        return []
    parts = ", ".join(f"{name} {_cell(opts[name]['best'])} at lr {opts[name]['best']['learning_rate']:.3g}"
                      for name in metrics["ranking_by_median_loss"])
    adamw = {"lower": "below Adam's whole range", "higher": "above Adam's whole range",
             "overlap": "within Adam's seed spread"}.get(
        metrics["adamw_vs_adam"], "not comparable with Adam's")
    beaten = [name for name, verdict in metrics["winner_vs"].items() if verdict == "lower"]
    return [
        f"The trend note ranks Adam, AdamW and Lion as \"advanced\" optimizers. Measured on the practice problem "
        f"({metrics['steps']} steps, each optimizer at its own best learning rate, median and range over "
        f"{plural(metrics['n_seeds'], 'start')}): {parts}. AdamW (weight decay {metrics['weight_decay_adamw']}) ends "
        f"{adamw}. {metrics['winner']} has the lowest median, but "
        + (f"beats only {', '.join(beaten)} by more than the seed spread" if beaten else
           "within the seed spread of every other optimizer")
        + "; which optimizer wins depends on the problem and the tuning budget, and none is better by being newer.",
    ]
