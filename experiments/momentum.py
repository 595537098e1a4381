r"""Lesson 14 — momentum, minibatches and the "effective learning rate" lr/(1−m), measured.

SGD with (heavy-ball) momentum :math:`m` keeps a velocity :math:`v_t = m\,v_{t-1} + g_t`
and steps :math:`\theta \leftarrow \theta - \eta\,v_t` (``optax.sgd(eta, momentum=m)``).
While the gradient changes little over :math:`1/(1-m)` steps the velocity sums a geometric
series, :math:`v \approx g/(1-m)`, so momentum :math:`m` at rate :math:`\eta` should move
like plain SGD at the *effective learning rate* :math:`\eta/(1-m)`. That is the folklore
this lesson checks, on two moons with a 2 → 16 → 1 tanh network, minibatches of
:data:`BATCH_SIZE` and a held-out validation set:

* one ``jl.sweep`` call runs every (seed, momentum, learning rate) lane —
  ``hyperparams={"momentum": MOMENTA}`` gives the factory a traced momentum, so the
  whole grid is one compiled program — with ``batch_size`` (every lane of a seed sees
  the same batches) and ``eval_fn`` on the validation split;
* the momenta are :math:`1 - 2^{-k}`, so :math:`1/(1-m) = 1, 2, 4, \ldots` and
  :math:`\eta/(1-m)` of every grid rate is again a grid rate: the validation loss at
  :math:`(\eta, m)` is compared with plain SGD's at exactly :math:`\eta/(1-m)`;
* per momentum: the best learning rate (lowest median validation loss over seeds among
  rates where no seed failed), each seed's own best rate (the spread), the prediction
  ``best(0) * (1 - m)``, and the smallest rate at which half the seeds fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table, median_range, plural

TITLE = "Momentum and the effective learning rate lr/(1−m)"
SEED_SAYS = (
    "The seed trains with plain full-batch gradient descent and one hand-picked learning rate; it never "
    "mentions momentum or minibatches. The rule of thumb checked here is the textbook one: \"SGD with "
    "momentum m behaves like plain SGD with the effective learning rate lr/(1−m)\", so raising the momentum "
    "should call for a proportionally smaller learning rate."
)

MOMENTA = (0.0, 0.5, 0.75, 0.875, 0.9375)
"""1 − 2^−k: 1/(1−m) = 1, 2, 4, 8, 16, whole steps of the rate grid."""
QUICK_MOMENTA = (0.0, 0.75, 0.9375)
BATCH_SIZE = 32
HIDDEN = 16
NOISE = 0.2
FAIL_FRACTION = 0.5
"""A rate *fails* for a momentum when at least this fraction of seeds diverged or went unstable."""
SMALL_FACTOR = 8.0
"""The small-rate regime: effective rates at most plain SGD's best rate / SMALL_FACTOR."""


def settings(quick: bool) -> dict[str, Any]:
    """Grid and sizes: rates ``2^(j/k)`` (k steps per octave), so ``lr/(1-m)`` stays on the grid."""
    if quick:
        return {"momenta": QUICK_MOMENTA, "per_octave": 2, "octaves": (-4, 4), "seeds": 3, "steps": 150,
                "n_train": 256, "n_val": 512}
    return {"momenta": MOMENTA, "per_octave": 4, "octaves": (-9, 5), "seeds": 5, "steps": 1000, "n_train": 512,
            "n_val": 1024}


def learning_rates(config: dict[str, Any]) -> np.ndarray:
    """``2^(j / per_octave)`` over the configured octaves."""
    low, high = config["octaves"]
    k = config["per_octave"]
    return 2.0 ** (np.arange(low * k, high * k + 1) / k)


def data(config: dict[str, Any]) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """``((x, y), (x_val, y_val))``: training and held-out two moons from independent keys."""
    key_train, key_val = jax.random.split(jax.random.key(2024))
    return (jl.datasets.two_moons(key_train, config["n_train"], noise=NOISE),
            jl.datasets.two_moons(key_val, config["n_val"], noise=NOISE))


def loss_fn(params: Any, x: Any, y: Any) -> Any:
    """Binary cross-entropy of the tanh network's logits."""
    return jl.bce_with_logits(jl.mlp(params, x, activation="tanh"), y)


def init(key: jax.Array) -> Any:
    """A 2 → HIDDEN → 1 network, Glorot-normal weights, zero biases."""
    return jl.init_mlp(key, [2, HIDDEN, 1])


def seed_grid(result: Any, momentum: float, rates: np.ndarray, n_seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values, lanes)``, each ``(seeds, rates)``: final validation loss (``inf`` where the lane failed)."""
    failed = np.isin(result.status, ["diverged", "unstable"]) | ~np.isfinite(result.final_eval)
    values = np.full((n_seeds, rates.size), np.inf)
    lanes = np.full((n_seeds, rates.size), -1)
    for lane in np.flatnonzero(np.isclose(result.hyperparams["momentum"], momentum)):
        seed, column = int(result.seeds[lane]), int(np.argmin(np.abs(np.log(rates / result.learning_rates[lane]))))
        values[seed, column] = np.inf if failed[lane] else float(result.final_eval[lane])
        lanes[seed, column] = lane
    return values, lanes


def momentum_summary(values: np.ndarray, rates: np.ndarray, momentum: float) -> dict[str, Any]:
    """Best rate (median over seeds, no seed failed), each seed's best rate, the failure edge."""
    median = np.median(values, axis=0)
    clean = np.all(np.isfinite(values), axis=0)
    best = int(np.argmin(np.where(clean, median, np.inf)))
    failing = np.mean(~np.isfinite(values), axis=0) >= FAIL_FRACTION
    first_fail = float(rates[np.argmax(failing)]) if failing.any() else None
    seed_best = rates[np.argmin(values, axis=1)]
    return {
        "momentum": momentum, "amplification": 1.0 / (1.0 - momentum),
        "best_lr": float(rates[best]), "best_effective_lr": float(rates[best] / (1 - momentum)),
        "seed_best_lr": [float(seed_best.min()), float(seed_best.max())],
        "best_val": [float(median[best]), float(values[:, best].min()), float(values[:, best].max())],
        "first_failing_lr": first_fail,
        "first_failing_effective_lr": None if first_fail is None else first_fail / (1 - momentum),
        "median_val": [float(v) if np.isfinite(v) else None for v in median],
    }


def collapse(summaries: list[dict[str, Any]], rates: np.ndarray, per_octave: int) -> dict[str, Any]:
    """Validation loss at (lr, m) against plain SGD at lr/(1−m), in the small-rate regime and overall.

    Small rates: effective rate at most ``1 / SMALL_FACTOR`` of plain SGD's best rate, where
    the gradient changes little over the ``1/(1-m)`` steps the velocity remembers.
    """
    plain = np.array([np.inf if v is None else v for v in summaries[0]["median_val"]])
    small_limit = summaries[0]["best_lr"] / SMALL_FACTOR
    out = {"small_limit": small_limit, "per_momentum": []}
    for summary in summaries[1:]:
        shift = int(round(per_octave * np.log2(summary["amplification"])))
        mine = np.array([np.inf if v is None else v for v in summary["median_val"]])
        pairs = [(i, i + shift) for i in range(rates.size - shift)
                 if np.isfinite(mine[i]) and np.isfinite(plain[i + shift])]
        small = [abs(mine[i] / plain[j] - 1) for i, j in pairs if rates[j] <= small_limit]
        overall = [abs(mine[i] / plain[j] - 1) for i, j in pairs]
        out["per_momentum"].append({"momentum": summary["momentum"], "n_small": len(small),
                                    "max_small_rel": max(small) if small else None,
                                    "max_rel": max(overall) if overall else None,
                                    "max_small_percent": 100 * max(small) if small else None,
                                    "max_percent": 100 * max(overall) if overall else None})
    return out


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """One sweep of lr × momentum × seeds; the heat map, the collapse and the best runs' validation curves."""
    out_dir = Path(out_dir)
    config = settings(quick)
    rates = learning_rates(config)
    (x, y), (x_val, y_val) = data(config)
    record_every = max(1, config["steps"] // 50)
    result = jl.sweep(loss_fn, init, optax.sgd, rates, steps=config["steps"], args=(x, y), seeds=config["seeds"],
                      hyperparams={"momentum": list(config["momenta"])}, batch_size=BATCH_SIZE, eval_fn=loss_fn,
                      eval_args=(x_val, y_val), record_every=record_every)
    summaries, curves, bands, lanes_at_best = [], {}, {}, {}
    for momentum in config["momenta"]:
        values, lanes = seed_grid(result, momentum, rates, config["seeds"])
        summary = momentum_summary(values, rates, momentum)
        summaries.append(summary)
        column = int(np.argmin(np.abs(rates - summary["best_lr"])))
        chosen = lanes[:, column]
        lanes_at_best[momentum] = chosen.tolist()
        name = f"m = {momentum:g}, lr = {summary['best_lr']:.3g}"
        curves[name] = np.median(result.eval_losses[chosen], axis=0)
        bands[name] = (result.eval_losses[chosen].min(axis=0), result.eval_losses[chosen].max(axis=0))
    _figures(out_dir, result, summaries, rates, curves, bands, record_every, config)
    best_plain = summaries[0]["best_lr"]
    for summary in summaries:
        summary["predicted_best_lr"] = best_plain * (1 - summary["momentum"])
        summary["best_over_predicted"] = summary["best_lr"] / summary["predicted_best_lr"]
    coll = collapse(summaries, rates, config["per_octave"])
    return {
        "config": {**config, "momenta": list(config["momenta"]), "octaves": list(config["octaves"]),
                   "batch_size": BATCH_SIZE, "hidden": HIDDEN, "n_rates": int(rates.size),
                   "record_every": record_every},
        "learning_rates": rates.tolist(),
        "n_lanes": int(result.n_lanes),
        "status_counts": {str(k): int(v) for k, v in zip(*np.unique(result.status, return_counts=True))},
        "summaries": summaries,
        "collapse": coll,
        "claims": claims(summaries, coll, config["per_octave"]),
        "lanes_at_best": {str(k): v for k, v in lanes_at_best.items()},
        "quick": bool(quick),
    }


def _figures(out_dir: Path, result: Any, summaries: list[dict[str, Any]], rates: np.ndarray,
             curves: dict[str, Any], bands: dict[str, Any], record_every: int, config: dict[str, Any]) -> None:
    fig = jl.plots.plot_hyperparam_heatmap(
        result, "momentum",
        title=f"SGD + momentum on two moons, minibatches of {BATCH_SIZE}: median validation loss over "
              f"{config['seeds']} seeds")
    jl.plots.save_figure(fig, out_dir / "heatmap.png")
    names = [f"m = {s['momentum']:g}" for s in summaries]
    effective = {name: rates / (1 - s["momentum"]) for name, s in zip(names, summaries)}
    median = {name: np.array([np.nan if v is None else v for v in s["median_val"]])
              for name, s in zip(names, summaries)}
    fig = jl.plots.plot_optimizer_sweeps(
        effective, median, diverged={name: ~np.isfinite(values) for name, values in median.items()},
        best={name: (s["best_effective_lr"], s["best_val"][0]) for name, s in zip(names, summaries)},
        title="Median validation loss against the EFFECTIVE learning rate lr/(1−m): curves that coincide obey "
              "the rule", ylabel="median validation loss")
    jl.plots.save_figure(fig, out_dir / "effective_lr.png")
    fig = jl.plots.plot_loss_curves(curves, bands=bands, steps_per_record=record_every,
                                    title="Validation loss of each momentum at its best learning rate "
                                          "(median and range over seeds)", ylabel="validation loss")
    jl.plots.save_figure(fig, out_dir / "validation.png")


def _fmt_lr(value: float | None) -> str:
    return "none failed" if value is None else f"{value:.3g}"


def report(metrics: dict[str, Any]) -> str:
    """The heat map, the per-momentum table, the collapse test and the validation curves."""
    config, summaries, coll = metrics["config"], metrics["summaries"], metrics["collapse"]
    rows = [[f"{s['momentum']:g}", f"{s['amplification']:g}", f"**{s['best_lr']:.3g}**",
             f"{s['seed_best_lr'][0]:.3g}–{s['seed_best_lr'][1]:.3g}", f"{s['predicted_best_lr']:.3g}",
             f"{s['best_effective_lr']:.3g}", median_range(*s["best_val"]), _fmt_lr(s["first_failing_lr"]),
             _fmt_lr(s["first_failing_effective_lr"])] for s in summaries]
    collapse_rows = [[f"{c['momentum']:g}", c["n_small"],
                      "—" if c["max_small_percent"] is None else f"{c['max_small_percent']:.1f}%",
                      "—" if c["max_percent"] is None else f"{c['max_percent']:.0f}%"] for c in coll["per_momentum"]]
    return (
        f"**The sweep.** One `jl.sweep(loss, init, optax.sgd, rates, hyperparams={{\"momentum\": "
        f"{config['momenta']}}}, batch_size={config['batch_size']}, eval_fn=loss, eval_args=(x_val, y_val), "
        f"seeds={config['seeds']}, steps={config['steps']})` runs {plural(metrics['n_lanes'], 'lane')} "
        f"({config['n_rates']} rates 2^(j/{config['per_octave']}) × {len(config['momenta'])} momenta × "
        f"{plural(config['seeds'], 'seed')}) in one compiled program; every lane of a seed sees the same "
        f"minibatches, and the validation loss is measured on {config['n_val']} held-out points. Statuses: "
        + ", ".join(f"{n} {name}" for name, n in metrics["status_counts"].items()) + ".\n"
        + figure_link("momentum", "heatmap.png", "Median validation loss per learning rate and momentum "
                      "(× where at least half the seeds failed; circles: each momentum's best rate)")
        + markdown_table(["momentum m", "1/(1−m)", "best lr", "seeds' best lr", "predicted best(0)·(1−m)",
                          "best effective lr", "val loss at best (seed range)", "first failing lr",
                          "… as effective lr"], rows)
        + f"\n**Same effective rate, same run?** Validation loss at (lr, m) against plain SGD at exactly "
        f"lr/(1−m), for small effective rates (≤ {coll['small_limit']:.3g}, plain SGD's best / {SMALL_FACTOR:g}) "
        "and over all rates where both runs survived:\n\n"
        + markdown_table(["momentum", "pairs with small rates", "largest difference (small rates)",
                          "largest difference (all rates)"], collapse_rows)
        + figure_link("momentum", "effective_lr.png", "The same medians against the effective rate lr/(1−m)")
        + figure_link("momentum", "validation.png", "Validation loss during training at each momentum's best rate")
    )


def claims(summaries: list[dict[str, Any]], coll: dict[str, Any], per_octave: int) -> dict[str, Any]:
    """The numbers the corrections quote, computed here so that ``corrections`` only formats them."""
    plain, top = summaries[0], summaries[-1]
    small = [c["max_small_rel"] for c in coll["per_momentum"] if c["max_small_rel"] is not None]
    ratio = top["best_over_predicted"]
    out = {"worst_small_percent": 100 * max(small) if small else None,
           "best_within_one_grid_step": bool(max(ratio, 1 / ratio) <= 2.0 ** (1.0 / per_octave) * (1 + 1e-9)),
           "best_val_ranges_overlap": bool(top["best_val"][2] >= plain["best_val"][1]
                                           and plain["best_val"][2] >= top["best_val"][1]),
           "edge_shrink": None, "edge_effective_gain": None}
    if plain["first_failing_lr"] is not None and top["first_failing_lr"] is not None:
        out["edge_shrink"] = plain["first_failing_lr"] / top["first_failing_lr"]
        out["edge_effective_gain"] = top["first_failing_effective_lr"] / plain["first_failing_lr"]
    return out


def corrections(metrics: dict[str, Any]) -> list[str]:
    """Where lr/(1−m) holds (small rates), how far it holds at the best rate, and where it fails (the edge)."""
    summaries, coll, claim = metrics["summaries"], metrics["collapse"], metrics["claims"]
    plain, top = summaries[0], summaries[-1]
    items = []
    if claim["worst_small_percent"] is not None:
        worst = claim["worst_small_percent"]
        verdict = "**holds for small rates**" if worst <= 10 else "holds only roughly even for small rates"
        items.append(f"\"Momentum m acts like the learning rate lr/(1−m)\" — measured: {verdict}: at effective rates "
                     f"≤ {coll['small_limit']:.3g} the validation loss of (lr, m) matches plain SGD at lr/(1−m) "
                     f"within {worst:.1f}% for every momentum up to {top['momentum']:g} (the velocity starts "
                     f"at zero, so a run with 1/(1−m) = {top['amplification']:g} lags for its first steps).")
    items.append(f"At the best rate: plain SGD's best lr is {plain['best_lr']:.3g}, so m = {top['momentum']:g} "
                 f"should be best at {top['predicted_best_lr']:.3g}; measured {top['best_lr']:.3g} (seeds' own best: "
                 f"{top['seed_best_lr'][0]:.3g}–{top['seed_best_lr'][1]:.3g}), {top['best_over_predicted']:.2f}× the "
                 "prediction — " + ("within one step of the rate grid. " if claim["best_within_one_grid_step"]
                                    else "off by more than one grid step. ")
                 + f"Momentum's best validation loss is {median_range(*top['best_val'])} against plain SGD's "
                 f"{median_range(*plain['best_val'])}"
                 + (" (seed ranges overlap: not a clear win)." if claim["best_val_ranges_overlap"] else "."))
    if claim["edge_shrink"] is not None:
        items.append(f"The rule **fails at the stability edge**: the first failing rate falls only from "
                     f"{plain['first_failing_lr']:.3g} (m = 0) to {top['first_failing_lr']:.3g} "
                     f"(m = {top['momentum']:g}), a factor {claim['edge_shrink']:.2g} where 1/(1−m) = "
                     f"{top['amplification']:g}; in effective units momentum survives "
                     f"{claim['edge_effective_gain']:.2g}× larger steps "
                     "(on a quadratic, heavy ball is stable up to lr < 2(1+m)/λ, not 2(1−m)/λ).")
    return items

