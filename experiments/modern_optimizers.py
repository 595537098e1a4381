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

Every optimizer, as optax ships it and as ``jl.optim`` writes it by hand, runs at every
learning rate of a log grid as one ``jl.sweep`` (one compiled ``jit(vmap(...))`` per
optimizer, every run from the same start). For each: the best learning rate, the best
final loss, and the *good range* — the learning rates whose final loss is within a factor
:data:`GOOD_FACTOR` of the typical loss near the best (a running median over three
neighbouring rates, so that one lucky run does not define it) — whose width in decades
measures how forgiving the optimizer is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table
from ._problems import (
    MOONS_OPTIONS,
    OPTIMIZERS,
    WEIGHT_DECAY,
    hand_name,
    learning_rates,
    moons_problem,
    optax_name,
    sweep_steps,
)

TITLE = "Modern optimizers: SGD, momentum, Adam, AdamW, Lion, swept"
SEED_SAYS = (
    "Trend alert: \"GPT-4: optimizing 1.8 TRILLION parameters — gradient descent in billion-dimensional "
    "space! Advanced optimizers: Adam, AdamW, Lion.\" The practice exercise calls Adam \"advanced "
    "gradient descent\"."
)

GOOD_FACTOR = 2.0
QUICK_HAND_TWINS = ("Adam",)
"""In quick mode only these hand-rolled twins are swept (each costs one more compiled program)."""


def sweep_factories(hand_twins: Any = None) -> dict[str, Any]:
    """The mapping lane label -> factory for :func:`jl.sweep`: every optax optimizer, then the
    hand-rolled twins of ``hand_twins`` (default: all)."""
    hand_twins = list(OPTIMIZERS) if hand_twins is None else list(hand_twins)
    factories = {optax_name(name): OPTIMIZERS[name][0] for name in OPTIMIZERS}
    factories.update({hand_name(name): OPTIMIZERS[name][1] for name in hand_twins})
    return factories


def good_range(rates: np.ndarray, final_losses: np.ndarray, diverged: np.ndarray,
               factor: float = GOOD_FACTOR) -> dict[str, Any]:
    """The best learning rate, the typical loss near it, and the span of good learning rates.

    Single runs are noisy (a lane can escape a plateau by luck, another can stall), so the
    reference is the *typical* loss near the best: the lowest running median of the final
    loss over each learning rate and its two grid neighbours (non-diverged lanes only). A
    learning rate is *good* when it did not diverge and its final loss is within ``factor``
    of that typical loss; the good range spans the smallest to the largest good rate, and
    ``good_fraction`` says how much of the grid inside that span is good.

    Args:
      rates: ``(n,)`` increasing learning rates.
      final_losses: ``(n,)`` final losses (non-finite counts as bad).
      diverged: ``(n,)`` booleans, diverged lanes are never good.
      factor: a learning rate is good when its final loss is <= ``factor`` x the typical loss.

    Returns:
      ``{"best_lr", "best_loss"`` (the lowest single run), ``"typical_loss", "low", "high",
      "decades", "n_good", "good_fraction"}``; ``decades`` is ``log10(high / low)``.
    """
    ok = np.isfinite(final_losses) & ~diverged
    if not ok.any():
        nan = float("nan")
        return {"best_lr": nan, "best_loss": nan, "typical_loss": nan, "low": nan, "high": nan,
                "decades": nan, "n_good": 0, "good_fraction": nan}
    losses = np.where(ok, final_losses, np.inf)
    best = int(np.argmin(losses))
    median = np.array([np.median(losses[max(i - 1, 0):i + 2]) for i in range(len(losses))])
    typical = float(np.min(np.where(ok, median, np.inf)))
    good = np.flatnonzero(ok & (losses <= factor * typical))
    low, high = int(good[0]), int(good[-1])
    return {
        "best_lr": float(rates[best]),
        "best_loss": float(losses[best]),
        "typical_loss": typical,
        "low": float(rates[low]),
        "high": float(rates[high]),
        "decades": float(np.log10(rates[high] / rates[low])),
        "n_good": int(good.size),
        "good_fraction": float(good.size / (high - low + 1)),
    }


def _agreement(result: Any, optax_lanes: np.ndarray, hand_lanes: np.ndarray) -> dict[str, Any]:
    """How far the hand-rolled lanes are from their optax twins (recorded losses, statuses)."""
    both = (result.status[optax_lanes] != "diverged") & (result.status[hand_lanes] != "diverged")
    reference = result.losses[optax_lanes][both].astype(np.float64)
    difference = np.abs(reference - result.losses[hand_lanes][both])
    nan = float("nan")
    return {
        "lanes_compared": int(both.sum()),
        "max_abs_curve_difference": float(difference.max()) if difference.size else nan,
        "max_rel_curve_difference": float((difference / np.maximum(np.abs(reference), 1e-300)).max())
        if difference.size else nan,
        "same_status": bool(np.all(result.status[optax_lanes] == result.status[hand_lanes])),
    }


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """One sweep over 5 optimizers x (optax, hand) x the LR grid; two figures."""
    out_dir = Path(out_dir)
    steps = sweep_steps(quick)
    rates = learning_rates(quick)
    data = moons_problem()
    loss_fn = jl.manual.mlp_loss_fn(**MOONS_OPTIONS)
    hand_twins = QUICK_HAND_TWINS if quick else tuple(OPTIMIZERS)
    result = jl.sweep(loss_fn, data["params"], sweep_factories(hand_twins), rates, steps=steps,
                      args=(data["x"], data["y"]))
    initial_loss = float(result.losses[0, 0])

    per_optimizer: dict[str, Any] = {}
    for name in OPTIMIZERS:
        optax_lanes = np.flatnonzero(result.optimizers == optax_name(name))
        final = result.final_loss[optax_lanes].astype(np.float64)
        diverged = result.status[optax_lanes] == "diverged"
        summary = good_range(rates, final, diverged)
        best = result.best(optimizer=optax_name(name))
        best_lane = best["lane"] if best is not None else int(optax_lanes[0])
        stable = [float(r) for r, d in zip(rates, diverged) if not d]
        per_optimizer[name] = {
            **summary,
            "status_at_best": str(result.status[best_lane]),
            "max_non_diverged_lr": max(stable) if stable else float("nan"),
            "n_diverged": int(diverged.sum()),
            "final_losses": final,
            "statuses": result.status[optax_lanes].tolist(),
            "best_curve": result.losses[best_lane].astype(np.float64),
        }
        if name in hand_twins:
            per_optimizer[name]["hand_vs_optax"] = _agreement(result, optax_lanes,
                                                              np.flatnonzero(result.optimizers == hand_name(name)))

    ranking = sorted(OPTIMIZERS, key=lambda name: per_optimizer[name]["best_loss"])
    fig = jl.plots.plot_optimizer_sweeps(
        {name: rates for name in OPTIMIZERS},
        {name: per_optimizer[name]["final_losses"] for name in OPTIMIZERS},
        best={name: (per_optimizer[name]["best_lr"], per_optimizer[name]["best_loss"]) for name in OPTIMIZERS},
        good_ranges={name: (per_optimizer[name]["low"], per_optimizer[name]["high"]) for name in OPTIMIZERS},
        diverged={name: np.asarray(per_optimizer[name]["statuses"]) == "diverged" for name in OPTIMIZERS},
        title=f"Final loss after {steps} steps vs learning rate (optax)\n"
              f"bands at the bottom: learning rates within {GOOD_FACTOR:g}× of the typical best loss",
        ylabel="final training loss (BCE)", reference=initial_loss, reference_label="initial loss",
    )
    jl.plots.save_figure(fig, out_dir / "sweep.png")
    fig = jl.plots.plot_loss_curves(
        {f"{name} (lr {per_optimizer[name]['best_lr']:.3g})": per_optimizer[name]["best_curve"] for name in ranking},
        steps_per_record=result.record_every,
        title="Each optimizer at its own best learning rate", xlabel="step", ylabel="training loss (BCE)",
    )
    jl.plots.save_figure(fig, out_dir / "best_curves.png")

    return {
        "steps": steps,
        "learning_rates": rates,
        "n_lanes": result.n_lanes,
        "n_hand_twins": len(hand_twins),
        "weight_decay_adamw": WEIGHT_DECAY,
        "good_factor": GOOD_FACTOR,
        "initial_loss": initial_loss,
        "record_every": result.record_every,
        "optimizers": per_optimizer,
        "ranking_by_best_loss": ranking,
        "ranking_by_good_range": sorted(OPTIMIZERS, key=lambda name: -per_optimizer[name]["decades"]),
    }


def report(metrics: dict[str, Any]) -> str:
    """The per-optimizer table, hand-vs-optax agreement and the figures."""
    opts = metrics["optimizers"]
    rows = [
        [name, f"{o['best_lr']:.3g}", f"{o['best_loss']:.4f}", o["status_at_best"], f"{o['typical_loss']:.4f}",
         f"{o['low']:.3g} – {o['high']:.3g} ({o['good_fraction']:.0%} of it good)", f"{o['decades']:.2f}",
         f"{o['max_non_diverged_lr']:.3g}",
         o["n_diverged"]]
        for name, o in opts.items()
    ]
    agreement = [
        [name, o["hand_vs_optax"]["lanes_compared"], f"{o['hand_vs_optax']['max_abs_curve_difference']:.1e}",
         f"{o['hand_vs_optax']['max_rel_curve_difference']:.1e}", "yes" if o["hand_vs_optax"]["same_status"] else "no"]
        for name, o in opts.items() if "hand_vs_optax" in o
    ]
    skipped = [name for name, o in opts.items() if "hand_vs_optax" not in o]
    skipped_note = (" (quick mode sweeps only these hand twins; the full run compares all five)" if skipped else "")
    rates = metrics["learning_rates"]
    return (
        f"One `jl.sweep` of {metrics['n_lanes']} full training runs: 5 optax optimizers and "
        f"{metrics['n_hand_twins']} hand-rolled twins × "
        f"{len(rates)} learning rates from {rates[0]:g} to {rates[-1]:g}, {metrics['steps']} full-batch steps each, "
        f"all from lesson 8's start (initial loss {metrics['initial_loss']:.4f}). AdamW uses weight decay "
        f"{metrics['weight_decay_adamw']}; the other hyperparameters are optax's defaults. *Best*: the single run with the lowest final "
        "loss. *Typical loss near best*: the lowest running median of the final loss over three neighbouring "
        f"learning rates (single runs are noisy: a lucky run can escape a plateau). *Good range*: from the smallest "
        f"to the largest learning rate whose final loss is within {metrics['good_factor']:g}× of the typical loss "
        "(with the share of the grid inside it that is good).\n\n"
        + markdown_table(["Optimizer", "best lr", "best final loss", "status there", "typical loss near best",
                          "good range", "width (decades)", "largest non-diverged lr", "diverged runs"], rows)
        + f"\nBy best loss: {' < '.join(metrics['ranking_by_best_loss'])}. By width of the good range: "
        f"{' > '.join(metrics['ranking_by_good_range'])}.\n\n"
        f"**Hand-rolled (`jl.optim`) vs optax**, every recorded loss of every non-diverged run{skipped_note}:\n\n"
        + markdown_table(["Optimizer", "runs compared", "max abs. difference", "max rel. difference",
                          "same status everywhere"], agreement)
        + figure_link("modern_optimizers", "sweep.png",
                      "Final loss against learning rate per optimizer (log–log); stars: best learning rate; "
                      "bands at the bottom: the good range")
        + figure_link("modern_optimizers", "best_curves.png", "Loss curves of each optimizer at its best learning rate")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """Which 'advanced' optimizer is best here, measured."""
    opts = metrics["optimizers"]
    best_name = metrics["ranking_by_best_loss"][0]
    widest = metrics["ranking_by_good_range"][0]
    sgd, adam, lion = opts["SGD"], opts["Adam"], opts["Lion"]
    others = ", ".join(f"{name} {opts[name]['decades']:.2f}" for name in opts if name != widest)
    return [
        f"The trend note ranks Adam, AdamW and Lion as \"advanced\" optimizers. Measured on the practice "
        f"problem ({metrics['steps']} steps, each at its own best learning rate): the lowest loss is reached by "
        f"**{best_name}** ({opts[best_name]['best_loss']:.4f}); SGD reaches {sgd['best_loss']:.4f} at lr "
        f"{sgd['best_lr']:.3g}, Adam {adam['best_loss']:.4f} at lr {adam['best_lr']:.3g}, Lion "
        f"{lion['best_loss']:.4f} at lr {lion['best_lr']:.3g}. The widest good learning-rate range is "
        f"{widest}'s ({opts[widest]['decades']:.2f} decades, vs {others}). Which optimizer wins depends on the problem and "
        "the tuning budget; none is better by being newer.",
    ]
