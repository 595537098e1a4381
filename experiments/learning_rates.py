r"""Lesson 4 — the learning rate: too small, just right, too large, and where "too large" starts.

On :math:`f(x) = x^2 + 10` gradient descent multiplies :math:`x` by :math:`1 - 2\eta` each
step. So :math:`\eta = 0.5` jumps to the minimum in one step, :math:`\eta = 1` flips
:math:`x \to -x` forever (the loss never changes), and only :math:`\eta > 1 = 2/L` (the
curvature :math:`L = f'' = 2`) makes :math:`|x|` grow. The seed's four rates are drawn as its
2×2 figure; then ``jl.sweep`` runs 256 learning rates in one compiled call and classifies
every run, and ``jl.max_stable_lr`` (power iteration on Hessian-vector products) draws the
2/L bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table

TITLE = "The learning rate: the most important hyperparameter"
SEED_SAYS = (
    "Run 20 steps of gradient descent on f(x) = x² + 10 from x = 5 with learning rates "
    "0.01, 0.1, 0.5 and 1.0: \"Too small (0.01): slow convergence. Just right (0.1): fast, "
    "stable convergence. Too large (0.5): overshooting, oscillations. Way too large (1.0): "
    "divergence! Explodes!\""
)

SEED_RATES = (0.01, 0.1, 0.5, 1.0)
SEED_STEPS = 20
X_START = 5.0
SWEEP_STEPS = 50
"""Steps per sweep lane (the sweep's status rules are documented for this problem at 50 steps)."""
N_RATES = 256
LR_RANGE = (1e-3, 1.5)


def f(x: Any) -> Any:
    """The seed's function :math:`f(x) = x^2 + 10`."""
    return x**2 + 10.0


def sweep_learning_rates(n_rates: int) -> np.ndarray:
    """``n_rates`` log-spaced rates over :data:`LR_RANGE` that include the seed's four exactly."""
    grid = np.geomspace(*LR_RANGE, n_rates - len(SEED_RATES))
    return np.unique(np.concatenate([grid, SEED_RATES]))


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """The seed's four paths (``paths.png``) and the 256-rate sweep with the bound (``sweep.png``)."""
    out_dir = Path(out_dir)
    start = jnp.asarray(X_START)
    paths = {}
    for rate in SEED_RATES:
        trajectory = jl.fit(f, start, optax.sgd(rate), steps=SEED_STEPS, track_params=True)
        paths[rate] = np.append(np.asarray(trajectory.params_history), float(trajectory.params))
    xs = np.linspace(-6.0, 6.0, 121)
    fig = jl.plots.plot_descent_grid(
        xs, f(xs), {f"Learning rate = {rate}": (path, f(path)) for rate, path in paths.items()},
        ylim=(0, 40), func_label="f(x) = x² + 10",
        title=f"{SEED_STEPS} steps of gradient descent from x = {X_START:g} (the seed's figure)",
    )
    jl.plots.save_figure(fig, out_dir / "paths.png")

    learning_rates = sweep_learning_rates(N_RATES)
    result = jl.sweep(f, start, optax.sgd, learning_rates, steps=SWEEP_STEPS)
    bound = float(jl.max_stable_lr(f, start))
    fig = jl.plots.plot_sweep(
        result, max_stable_lr=bound,
        title=f"{learning_rates.size} learning rates × {SWEEP_STEPS} steps of SGD on x² + 10, one compiled call",
    )
    jl.plots.save_figure(fig, out_dir / "sweep.png")

    lane_rates = np.asarray(result.learning_rates)
    status = np.asarray(result.status)
    final = np.asarray(result.final_loss)

    def lane(rate: float) -> int:
        return int(np.argmin(np.abs(lane_rates - rate)))

    diverged = status == "diverged"
    # Every status the engine gave, most frequent first (the engine's status names may grow).
    names, tallies = np.unique(status, return_counts=True)
    counts = {str(name): int(n) for n, name in sorted(zip(tallies, names), key=lambda t: (-t[0], t[1]))}
    per_rate = {
        str(rate): {
            "status": str(status[lane(rate)]),
            "final_loss": float(final[lane(rate)]),
            "factor": 1 - 2 * rate,
            "x_after_1_step": float(paths[rate][1]),
            "x_last_4": paths[rate][-4:].tolist(),
            "f_last": float(f(paths[rate][-1])),
        }
        for rate in SEED_RATES
    }
    converged_rates = lane_rates[status == "converged"]
    # |x| after the sweep's steps, from each lane's final parameters: did the iterates grow?
    final_distance = np.abs(np.asarray(result.params, dtype=float)).reshape(-1)
    grows = final_distance > X_START * (1 + 1e-9)
    return {
        "statuses": {str(rate): per_rate[str(rate)]["status"] for rate in SEED_RATES},
        "seed_rates": per_rate,
        "paths": {str(rate): path.tolist() for rate, path in paths.items()},
        "n_rates": int(lane_rates.size),
        "sweep_steps": SWEEP_STEPS,
        "status_counts": counts,
        "max_stable_lr": bound,
        "curvature": 2.0,
        "smallest_diverged_lr": float(lane_rates[diverged].min()) if diverged.any() else None,
        "largest_non_diverged_lr": float(lane_rates[~diverged].max()) if (~diverged).any() else None,
        "smallest_growing_lr": float(lane_rates[grows].min()) if grows.any() else None,
        "largest_non_growing_lr": float(lane_rates[~grows].max()) if (~grows).any() else None,
        "slowly_growing": [
            {"lr": float(rate), "status": str(state), "final_abs_x": float(distance)}
            for rate, state, distance in zip(lane_rates, status, final_distance)
            if rate > 1 and state != "diverged"
        ],
        "converged_lr_range": [float(converged_rates.min()), float(converged_rates.max())]
        if converged_rates.size else None,
        "best": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in result.best().items()},
        "quick": bool(quick),
    }


def report(metrics: dict[str, Any]) -> str:
    """The seed's figure, the four rates measured, the sweep figure and the boundary."""
    rows = []
    for rate, row in metrics["seed_rates"].items():
        last = ", ".join(f"{v:+.4g}" for v in row["x_last_4"])
        rows.append([rate, f"{row['factor']:+g}", f"{row['x_after_1_step']:.4g}", last,
                     f"{row['f_last']:.6g}", f"**{row['status']}**"])
    counts = metrics["status_counts"]
    conv = metrics["converged_lr_range"]
    return (
        figure_link("learning_rates", "paths.png", "The seed's four learning rates, 20 steps each")
        + "\nWhat the four runs actually do (x is multiplied by 1 − 2·lr at every step):\n\n"
        + markdown_table(["lr", "factor 1 − 2·lr", "x after 1 step", "x at steps 17–20", "f(x) at step 20",
                          f"sweep status ({metrics['sweep_steps']} steps)"], rows)
        + f"\n**The sweep.** `jl.sweep(f, 5.0, optax.sgd, learning_rates, steps={metrics['sweep_steps']})` "
        f"runs {metrics['n_rates']} learning rates (log-spaced, the seed's four included) as lanes of one "
        "compiled call and classifies each: "
        + ", ".join(f"{count} {name}" for name, count in counts.items()) + ". "
        + (f"Converged lanes span lr {conv[0]:.3g}–{conv[1]:.3g}. " if conv else "")
        + f"`jl.max_stable_lr` finds the curvature bound 2/L = {metrics['max_stable_lr']:.4f} "
        f"(L = f'' = {metrics['curvature']:g}).\n"
        + figure_link("learning_rates", "sweep.png",
                      "Final loss per learning rate, coloured by status; dashed: the 2/L stability bound")
        + f"\n**Where divergence starts.** From each lane's final parameters: every lane with lr ≤ "
        f"{metrics['largest_non_growing_lr']:.4g} ends with |x| ≤ 5, every lane with lr ≥ "
        f"{metrics['smallest_growing_lr']:.4g} ends with |x| > 5 — the boundary is 2/L = 1, where the "
        "factor |1 − 2·lr| passes 1. "
        + _slow_growth_sentence(metrics)
        + "\n"
    )


def _slow_growth_sentence(metrics: dict[str, Any]) -> str:
    slow = metrics["slowly_growing"]
    if not slow:
        return (f"The sweep marks every lane above 1 diverged (smallest: lr {metrics['smallest_diverged_lr']:.4g}).")
    listed = ", ".join(f"lr {row['lr']:.4g} (|x| = {row['final_abs_x']:.3g}, {row['status']})" for row in slow)
    return (
        f"Just above 1 the growth is slow: within {metrics['sweep_steps']} steps the loss has not yet passed "
        f"the sweep's blow-up threshold (1,000× the initial loss) for {listed}, so the classifier does not "
        f"call it diverged yet; from lr {metrics['smallest_diverged_lr']:.4g} on it does."
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """0.5 is optimal, 1.0 oscillates without exploding, divergence needs lr > 1."""
    half, one = metrics["seed_rates"]["0.5"], metrics["seed_rates"]["1.0"]
    return [
        f"\"Too large (0.5): overshooting, oscillations\" — measured: lr 0.5 reaches the minimum in "
        f"**one step** (x = {half['x_after_1_step']:g} after step 1, factor 1 − 2·0.5 = 0) and stays there; "
        f"it is the best rate for this function (1/L), and the sweep classifies it **{half['status']}**.",
        f"\"Way too large (1.0): divergence! Explodes!\" — measured: lr 1.0 flips x between +5 and −5 "
        f"forever (last iterates {', '.join(f'{v:+g}' for v in one['x_last_4'])}), f stays at "
        f"{one['f_last']:g}; it neither converges nor explodes (sweep status **{one['status']}**).",
        f"Divergence needs lr > 2/L = {metrics['max_stable_lr']:.4g}: in the {metrics['n_rates']}-rate sweep "
        f"|x| never grows for lr ≤ {metrics['largest_non_growing_lr']:.4g} and always grows from lr "
        f"{metrics['smallest_growing_lr']:.4g}; the sweep's classifier calls the first lane diverged at lr "
        f"{metrics['smallest_diverged_lr']:.4g}.",
    ]
