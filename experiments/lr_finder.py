r"""Lesson 10 — the one-run learning-rate range test against the full parallel sweep.

The seed calls the learning rate "the most important hyperparameter" and tunes it by
trying four values. The popular shortcut is the *LR range test* (Smith, 2017; fastai's
``lr_find``): a single run whose learning rate grows exponentially,
:math:`\eta_t = \eta_{\min}(\eta_{\max}/\eta_{\min})^{t/(T-1)}`, recording the smoothed loss
and stopping when it blows up; a learning rate is then read off the curve (``steep``:
where the loss falls fastest against :math:`\log\eta`; ``minimum/10``; ``valley``).

``jl.sweep`` can afford the real answer: every learning rate of a log grid trained for
the full budget, in one compiled call. This lesson runs both on the practice problem of
lesson 8 for SGD and Adam, and measures where each one-run suggestion lands relative to
the sweep's best learning rate and to the largest learning rate that did not diverge
(and, for SGD, the curvature bound :math:`2/\lambda_{\max}` at the start). The last column of
the table says what following the suggestion costs: the sweep's final loss at the grid
learning rate nearest the suggestion, against the best final loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table
from ._problems import MOONS_OPTIONS, learning_rates, moons_problem, optax_name, sweep_steps
from ._problems import OPTIMIZERS as OPTIMIZER_TABLE

TITLE = "Learning-rate finder: one run against the full sweep"
SEED_SAYS = (
    "\"Learning Rate — The Most Important Hyperparameter!\" The seed compares four hand-picked "
    "learning rates on a parabola and concludes \"this is why tuning learning rate is crucial for AI "
    "training!\" — without saying how to tune it."
)

OPTIMIZERS = ("SGD", "Adam")
"""Optimizers of lesson 9 (same factory objects, same grid and steps: a combined run reuses its compiled sweeps)."""
RANGE_MIN_LR, RANGE_MAX_LR, RANGE_STEPS = 1e-4, 10.0, 100
"""fastai's defaults are 1e-7 .. 10 over 100 iterations; here the range of the sweep grid, for a fair comparison."""


def nearest_index(rates: np.ndarray, value: float) -> int:
    """Index of the learning rate of ``rates`` nearest ``value`` in log scale."""
    return int(np.argmin(np.abs(np.log(rates) - np.log(value))))


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Range test and sweep for SGD and Adam; one figure each."""
    out_dir = Path(out_dir)
    steps = sweep_steps(quick)
    rates = learning_rates(quick)
    data = moons_problem()
    params, args = data["params"], (data["x"], data["y"])
    loss_fn = jl.manual.mlp_loss_fn(**MOONS_OPTIONS)
    factories = {name: OPTIMIZER_TABLE[name][0] for name in OPTIMIZERS}
    result = jl.sweep(loss_fn, params, {optax_name(n): f for n, f in factories.items()},
                      rates, steps=steps, args=args)
    curvature_bound = jl.max_stable_lr(loss_fn, params, *args)

    per_optimizer: dict[str, Any] = {}
    for name, factory in factories.items():
        label = optax_name(name)
        lanes = np.flatnonzero(result.optimizers == label)
        final = result.final_loss[lanes].astype(np.float64)
        diverged = result.status[lanes] == "diverged"
        best = result.best(optimizer=label)
        best_loss = best["final_loss"] if best is not None else float("inf")
        test = jl.lr_range_test(loss_fn, params, factory, args=args, min_lr=RANGE_MIN_LR, max_lr=RANGE_MAX_LR,
                                steps=RANGE_STEPS)
        comparison = jl.compare_with_sweep(test, result, optimizer=label)
        suggestions = {}
        for key, entry in comparison["suggestions"].items():
            lr = float(entry["lr"])
            nearest = nearest_index(rates, lr) if np.isfinite(lr) else -1
            loss_there = float(final[nearest]) if nearest >= 0 and not diverged[nearest] else float("inf")
            suggestions[key] = {
                **entry,
                "nearest_grid_lr": float(rates[nearest]) if nearest >= 0 else float("nan"),
                "final_loss_there": loss_there,
                "loss_ratio_to_best": loss_there / best_loss,
            }
        per_optimizer[name] = {
            "sweep_best_lr": comparison["sweep_best_lr"],
            "sweep_best_loss": best_loss,
            "max_stable_lr_observed": comparison["max_stable_lr_observed"],
            "suggestions": suggestions,
            "range_test": {
                "stopped_at": test.stopped_at,
                "stopped_at_lr": float(test.learning_rates[test.stopped_at]) if test.stopped_at >= 0 else None,
                "initial_loss": test.initial_loss,
                "learning_rates": test.learning_rates,
                "losses": test.losses,
                "smoothed_losses": test.smoothed_losses,
            },
            "sweep_final_losses": final,
        }
        markers = {"sweep best": comparison["sweep_best_lr"],
                   "largest non-diverged (sweep)": comparison["max_stable_lr_observed"]}
        if name == "SGD":
            markers["2/λmax at the start"] = curvature_bound
        fig = jl.plots.plot_lr_finder(
            test.learning_rates, test.smoothed_losses, raw_losses=test.losses,
            suggestions={key: entry["lr"] for key, entry in comparison["suggestions"].items()},
            markers=markers, sweep_learning_rates=rates,
            sweep_final_losses=np.where(diverged, np.nan, final),
            title=f"{name}: range test ({RANGE_STEPS} steps, lr {RANGE_MIN_LR:g} → {RANGE_MAX_LR:g}) "
                  f"vs {len(rates)} full runs of {steps} steps",
        )
        jl.plots.save_figure(fig, out_dir / f"{name.lower()}.png")

    return {
        "steps": steps,
        "n_sweep_learning_rates": int(rates.size),
        "sweep_lr_range": [float(rates[0]), float(rates[-1])],
        "range_test_settings": {"min_lr": RANGE_MIN_LR, "max_lr": RANGE_MAX_LR, "steps": RANGE_STEPS},
        "curvature_bound_sgd": curvature_bound,
        "optimizers": per_optimizer,
    }


def report(metrics: dict[str, Any]) -> str:
    """Suggestions vs the sweep, per optimizer; the figures."""
    rows = []
    for name, o in metrics["optimizers"].items():
        rows.append([f"**{name}**: sweep best", f"{o['sweep_best_lr']:.3g}", "1", "—",
                     f"{o['sweep_best_loss']:.4f}", "1"])
        for key, s in o["suggestions"].items():
            rows.append([f"{name}: range test `{key}`", f"{s['lr']:.3g}", f"{s['ratio_to_best']:.2g}",
                         f"{s['ratio_to_max_stable']:.2g}", f"{s['final_loss_there']:.4f}",
                         f"{s['loss_ratio_to_best']:.2f}"])
    settings = metrics["range_test_settings"]
    stops = ", ".join(
        f"{name} at lr {o['range_test']['stopped_at_lr']:.3g}" if o["range_test"]["stopped_at_lr"] else f"{name} never"
        for name, o in metrics["optimizers"].items()
    )
    return (
        f"Range test: one run of {settings['steps']} steps with the learning rate growing from "
        f"{settings['min_lr']:g} to {settings['max_lr']:g} (`jl.lr_range_test`, fastai's smoothing 0.98 and "
        f"stop at 4× the best smoothed loss; it stopped for {stops}). Sweep: {metrics['n_sweep_learning_rates']} "
        f"learning rates from {metrics['sweep_lr_range'][0]:g} to {metrics['sweep_lr_range'][1]:g}, each "
        f"trained for the full {metrics['steps']} steps (`jl.sweep`, the same runs as lesson 9). "
        "Ratios > 1 to the largest non-diverged learning rate would mean following the suggestion diverges; "
        "the last two columns are the sweep's final loss at the grid learning rate nearest the suggestion.\n\n"
        + markdown_table(["", "learning rate", "÷ sweep best", "÷ largest non-diverged", "final loss there",
                          "÷ best loss"], rows)
        + f"\nFor SGD the curvature bound at the start is 2/λmax = {metrics['curvature_bound_sgd']:.3g} "
        "(`jl.max_stable_lr`); gradient descent is not bound by it for long: the sharpness changes as it "
        "trains (lesson 11).\n"
        + figure_link("lr_finder", "sgd.png", "SGD: range-test loss (top) and full-run final loss (bottom) "
                      "against learning rate; dashed: one-run suggestions, solid: sweep best and stability edge")
        + figure_link("lr_finder", "adam.png", "Adam: the same comparison")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """The seed tunes by trying four values; what one run can and cannot tell, measured."""
    parts = []
    for name, o in metrics["optimizers"].items():
        ratios = {key: s["loss_ratio_to_best"] for key, s in o["suggestions"].items() if np.isfinite(s["lr"])}
        if not ratios:
            continue
        best_key = min(ratios, key=ratios.get)
        worst_key = max(ratios, key=ratios.get)
        parts.append(
            f"{name}: the best suggestion (`{best_key}`, lr {o['suggestions'][best_key]['lr']:.3g}) ends "
            f"{ratios[best_key]:.2f}× the sweep's best loss, the worst (`{worst_key}`) {ratios[worst_key]:.2f}×; "
            f"the sweep's best lr is {o['sweep_best_lr']:.3g}"
        )
    return [
        "The seed says the learning rate must be tuned but only eyeballs four values. A one-run range test "
        "is a cheap guess, not a measurement of the best rate: " + "; ".join(parts) + ". A sweep of every "
        "learning rate for the full budget costs one compiled call here and answers the question directly.",
    ]
