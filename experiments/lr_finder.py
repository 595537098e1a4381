r"""Lesson 10 — the one-run learning-rate range test against the full parallel sweep.

The seed calls the learning rate "the most important hyperparameter" and tunes it by
trying four values. The popular shortcut is the *LR range test* (Smith, 2017; fastai's
``lr_find``): a single run whose learning rate grows exponentially,
:math:`\eta_t = \eta_{\min}(\eta_{\max}/\eta_{\min})^{t/(T-1)}`, recording the smoothed loss
and stopping when it blows up; a learning rate is then read off the curve (``steep``:
where the loss falls fastest against :math:`\log\eta`; ``minimum/10``; ``valley``).

``jl.sweep`` can afford the real answer: every learning rate of a log grid trained for
the full budget, in one compiled call. This lesson runs both on the practice problem of
lesson 8 for SGD and Adam, from the same random starts (one range test per start, one
sweep lane per start and rate), and measures where each one-run suggestion lands
relative to the sweep's best learning rate (lowest median final loss over the starts)
and to the largest learning rate at which no start diverged (and, for SGD, the curvature
bound :math:`2/\lambda_{\max}` at the first start). The last column says what following the
suggestion costs: each start's final loss at the grid rate nearest its own suggestion,
against the median final loss at the best rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxopt_lessons as jl

from ._common import SEEDS, say, show_progress
from ._markdown import figure_link, markdown_table, median_range, plural
from ._problems import (
    MOONS_OPTIONS,
    learning_rates,
    moons_init,
    moons_problem,
    optax_name,
    sweep_steps,
)
from ._problems import OPTIMIZERS as OPTIMIZER_TABLE
from ._stats import at_best, seed_table, spread

TITLE = "Learning-rate finder: one run against the full sweep"
SEED_SAYS = (
    "\"Learning Rate — The Most Important Hyperparameter!\" The seed compares four hand-picked "
    "learning rates on a parabola and concludes \"this is why tuning learning rate is crucial for AI "
    "training!\" — without saying how to tune it."
)

OPTIMIZERS = ("SGD", "Adam")
"""Optimizers of lesson 9 (same factory objects, grid, starts and steps: a combined run reuses its compiled sweeps)."""
RANGE_STEPS = 100
"""fastai's default: 100 iterations (its range is 1e-7 .. 10; here the sweep grid's range, for a fair comparison)."""


def nearest_index(rates: np.ndarray, value: float) -> int:
    """Index of the learning rate of ``rates`` nearest ``value`` in log scale."""
    return int(np.argmin(np.abs(np.log(rates) - np.log(value))))


@jax.jit
def _starts(seeds: jax.Array) -> Any:
    return jax.vmap(lambda seed: moons_init(jax.random.key(seed)))(seeds)


def _range_tests(loss_fn: Any, factory: Any, args: tuple, seeds: np.ndarray, rates: np.ndarray) -> list[Any]:
    """One range test per start, over the sweep grid's range (one compiled ramp, reused)."""
    # Sliced on the host: indexing a device array by each start would compile a tiny program per index.
    starts = jax.tree_util.tree_map(np.asarray, _starts(np.asarray(seeds, np.int32)))
    return [
        jl.lr_range_test(loss_fn, jax.tree_util.tree_map(lambda leaf, i=i: leaf[i], starts), factory, args=args,
                         min_lr=float(rates[0]), max_lr=float(rates[-1]), steps=RANGE_STEPS)
        for i in range(len(seeds))
    ]


def _suggestion_costs(tests: list[Any], table: Any, best: dict[str, Any], stable: float | None) -> dict[str, Any]:
    """Per heuristic: the suggested rates over the starts, and what following each start's costs."""
    out = {}
    for key in tests[0].suggestions:
        lrs = np.array([float(test.suggestions[key]) for test in tests])
        costs = []
        for row, lr in enumerate(lrs):
            loss = table.values[row, nearest_index(table.rates, lr)] if np.isfinite(lr) else np.inf
            costs.append(loss / best["median"])
        out[key] = {
            "lr": spread(np.where(np.isfinite(lrs), lrs, np.inf)),
            "lrs": lrs,
            "ratio_to_best": spread(lrs / best["learning_rate"]),
            "ratio_to_max_stable": spread(lrs / stable) if stable else None,
            "loss_ratio_to_best": spread(costs),
            "n_readable": int(np.isfinite(lrs).sum()),
        }
    return out


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Range tests and the sweep for SGD and Adam from the same starts; one figure each."""
    out_dir = Path(out_dir)
    steps = sweep_steps(quick)
    rates = learning_rates(quick)
    data = moons_problem()
    args = (data["x"], data["y"])
    loss_fn = jl.manual.mlp_loss_fn(**MOONS_OPTIONS)
    factories = {name: OPTIMIZER_TABLE[name][0] for name in OPTIMIZERS}
    say(f"sweep: {' and '.join(OPTIMIZERS)} x {SEEDS} starts x {rates.size} learning rates, {steps} steps")
    result = jl.sweep(loss_fn, moons_init, {optax_name(n): f for n, f in factories.items()}, rates, steps=steps,
                      args=args, seeds=SEEDS, progress=show_progress())
    stable_rates = result.max_stable_lr_observed()
    seeds = seed_table(result, optax_name(OPTIMIZERS[0])).seeds
    first_start = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[0], _starts(np.asarray(seeds, np.int32)))
    curvature_bound = jl.max_stable_lr(loss_fn, first_start, *args)

    per_optimizer: dict[str, Any] = {}
    for name, factory in factories.items():
        say(f"range tests: {name}, one per start, {RANGE_STEPS} steps each")
        table = seed_table(result, optax_name(name))
        best = at_best(table)
        stable = stable_rates[optax_name(name)]
        tests = _range_tests(loss_fn, factory, args, table.seeds, rates)
        stops = [float(test.learning_rates[test.stopped_at]) for test in tests if test.stopped_at >= 0]
        per_optimizer[name] = {
            "sweep_best": best,
            "max_stable_lr_observed": stable,
            "suggestions": _suggestion_costs(tests, table, best, stable) if best else {},
            "n_stopped": len(stops),
            "stopped_at_lr": spread(stops) if stops else None,
            "range_test_first_start": {
                "learning_rates": tests[0].learning_rates, "losses": tests[0].losses,
                "smoothed_losses": tests[0].smoothed_losses,
            },
            "sweep_final_losses": table.values,
            "sweep_median_final_losses": table.median(),
            "sweep_low_final_losses": table.values.min(axis=0),
            "sweep_high_final_losses": table.values.max(axis=0),
        }
        markers = {}
        if best:
            markers["sweep best (median over starts)"] = best["learning_rate"]
        if stable:
            markers["largest lr with no diverged start"] = stable
        if name == "SGD":
            markers["2/λmax at the first start"] = curvature_bound
        fig = jl.plots.plot_lr_finder(
            tests[0].learning_rates, np.stack([test.smoothed_losses for test in tests]), raw_losses=tests[0].losses,
            suggestions={key: [test.suggestions[key] for test in tests] for key in tests[0].suggestions},
            markers=markers, sweep_learning_rates=rates, sweep_final_losses=table.median(),
            sweep_band=(table.values.min(axis=0), table.values.max(axis=0)),
            title=f"{name}: {plural(len(tests), 'range test')} ({RANGE_STEPS} steps, lr {rates[0]:g} → {rates[-1]:g}) "
                  f"vs {rates.size} rates × {plural(len(tests), 'start')} of {steps} steps (median, band: lowest–highest)",
        )
        jl.plots.save_figure(fig, out_dir / f"{name.lower()}.png")

    return {
        "steps": steps,
        "n_seeds": SEEDS,
        "n_sweep_learning_rates": int(rates.size),
        "learning_rates": rates,
        "sweep_lr_range": [float(rates[0]), float(rates[-1])],
        "range_test_settings": {"min_lr": float(rates[0]), "max_lr": float(rates[-1]), "steps": RANGE_STEPS},
        "curvature_bound_sgd": curvature_bound,
        "optimizers": per_optimizer,
    }


def _cell(entry: dict[str, float] | None, fmt: str = ".3g") -> str:
    return "—" if entry is None else median_range(entry["median"], entry["low"], entry["high"], fmt)


def _stops_phrase(metrics: dict[str, Any]) -> str:
    """Where the range tests stopped early (loss over 4x its best), or that they never did."""
    parts = []
    for name, o in metrics["optimizers"].items():
        if o["n_stopped"] == 0:
            parts.append(f"for {name} it never did")
        else:
            parts.append(f"for {name} {o['n_stopped']} of {metrics['n_seeds']} stopped, at lr {_cell(o['stopped_at_lr'])}")
    return "; ".join(parts)


def report(metrics: dict[str, Any]) -> str:
    """Suggestions vs the sweep, per optimizer; the figures."""
    rows = []
    for name, o in metrics["optimizers"].items():
        best = o["sweep_best"]
        if best is None:
            continue
        rows.append([f"**{name}**: sweep best", f"{best['learning_rate']:.3g}", "1", "—", _cell(best, ".4f"), "1"])
        for key, entry in o["suggestions"].items():
            rows.append([f"{name}: range test `{key}`", _cell(entry["lr"]), _cell(entry["ratio_to_best"], ".2g"),
                         _cell(entry["ratio_to_max_stable"], ".2g"), "—", _cell(entry["loss_ratio_to_best"], ".2f")])
    settings = metrics["range_test_settings"]
    n = plural(metrics["n_seeds"], "random start")
    return (
        f"Range test: one run of {settings['steps']} steps per start with the learning rate growing from "
        f"{settings['min_lr']:g} to {settings['max_lr']:g} (`jl.lr_range_test`, fastai's smoothing 0.98; a test "
        f"stops early when the smoothed loss passes 4× its best: {_stops_phrase(metrics)}). Sweep: "
        f"{metrics['n_sweep_learning_rates']} learning rates from {metrics['sweep_lr_range'][0]:g} to "
        f"{metrics['sweep_lr_range'][1]:g}, each trained for the full {metrics['steps']} steps from the same {n} "
        "(`jl.sweep`, the runs of lesson 9). Every cell is the median over the starts with the lowest–highest in "
        "brackets. A ratio above 1 to the largest learning rate with no diverged start would mean following the "
        "suggestion diverges; the last column is each start's final loss at the grid rate nearest its own "
        "suggestion, divided by the median final loss at the sweep's best rate.\n\n"
        + markdown_table(["", "learning rate", "÷ sweep best", "÷ largest lr with no diverged start",
                          "final loss at best (median)", "loss ÷ best median"], rows)
        + f"\nFor SGD the curvature bound at the first start is 2/λmax = {metrics['curvature_bound_sgd']:.3g} "
        "(`jl.max_stable_lr`); gradient descent is not bound by it for long: the sharpness changes as it "
        "trains (lesson 11).\n"
        + figure_link("lr_finder", "sgd.png", "SGD: range-test loss per start with each heuristic's suggestion "
                      "marked on its curve (top); full-run final loss, median and lowest–highest over the starts, "
                      "with the sweep's best rate and stability edge (bottom)")
        + figure_link("lr_finder", "adam.png", "Adam: the same comparison")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """The seed tunes by trying four values; what one run can and cannot tell, measured."""
    parts = []
    for name, o in metrics["optimizers"].items():
        costs = {key: entry["loss_ratio_to_best"] for key, entry in o["suggestions"].items()
                 if entry["n_readable"] and np.isfinite(entry["loss_ratio_to_best"]["median"])}
        if not costs:
            continue
        best_key = min(costs, key=lambda key: costs[key]["median"])
        worst_key = max(costs, key=lambda key: costs[key]["median"])
        parts.append(
            f"{name}: following the best heuristic (`{best_key}`, lr {_cell(o['suggestions'][best_key]['lr'])}) ends "
            f"at {_cell(costs[best_key], '.2f')}× the sweep's best median loss, the worst (`{worst_key}`) at "
            f"{_cell(costs[worst_key], '.2f')}×; the sweep's best lr is {o['sweep_best']['learning_rate']:.3g}"
        )
    if not parts:
        return []
    return [
        "The seed says the learning rate must be tuned but only eyeballs four values. A one-run range test "
        f"is a cheap guess, not a measurement of the best rate (median and range over "
        f"{plural(metrics['n_seeds'], 'start')}): " + "; ".join(parts) + ". A sweep of every learning rate for "
        "the full budget costs one compiled call here and answers the question directly.",
    ]
