r"""Lesson 11 — the edge of stability: gradient descent tunes the curvature to its learning rate.

On a quadratic with Hessian :math:`H`, gradient descent with learning rate :math:`\eta` is stable
iff :math:`\eta < 2/\lambda_{\max}(H)` (lesson 4). A neural network's loss is not a quadratic:
its *sharpness* :math:`\lambda_{\max}(\nabla^2\ell(\theta))` changes as :math:`\theta` moves. Cohen et
al. (2021, "Gradient descent on neural networks typically occurs at the edge of stability")
observed that full-batch gradient descent first *increases* the sharpness (progressive
sharpening) until it reaches :math:`2/\eta`, and then, instead of diverging, keeps it
hovering at :math:`2/\eta` while the loss keeps falling, non-monotonically.

Here: a 2 → 32 → 32 → 1 tanh network regresses the two-moons labels with the mean squared
error, trained by full-batch ``optax.sgd`` at a few learning rates from one start
(``jl.fit`` with ``track_params=True``); the sharpness at every recorded iterate is the top
Hessian eigenvalue by power iteration on Hessian-vector products (``jl.sharpness``).

Progressive sharpening alone also raises the sharpness, so "it sits at 2/lr" only shows
the edge of stability when 2/lr is *below* the sharpness that a small learning rate
drifts to by itself. The comparison is therefore repeated from several random starts
(one ``jl.sweep`` with ``seeds=``; the sharpness at each lane's final parameters): the
end sharpness at each edge learning rate against its 2/lr and against the end sharpness
of the small learning rate, whose 2/lr is never reached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._common import SEEDS, default_dtype, say, show_progress
from ._markdown import figure_link, join_words, markdown_table, median_range, plural
from ._stats import seed_table, spread

TITLE = "The edge of stability: sharpness rises to 2/lr and stays there"
SEED_SAYS = (
    "\"Too large (0.5): overshooting, oscillations. Way too large (1.0): divergence! Explodes!\" — the "
    "learning rate is a fixed property of the problem: below some value training is stable, above it it "
    "explodes. \"Steps get SMALLER as we approach minimum (flatter slope).\""
)

SIZES = (2, 32, 32, 1)
OPTIONS = {"activation": "tanh", "output_activation": "identity", "loss": "mse"}
LEARNING_RATES = (0.02, 0.1, 0.15, 0.2)
"""One rate whose 2/lr is far above the sharpness the network ever reaches, three at the edge."""
QUICK_LEARNING_RATES = (0.02, 0.1, 0.2)
STEPS, QUICK_STEPS = 4000, 1500
RECORD_EVERY = 50
POWER_ITERS, POWER_TOL = 100, 1e-5
EDGE_FRACTION = 0.9
"""The run 'reaches the edge' at the first record with sharpness >= this fraction of 2/lr."""
HELD = (0.85, 1.15)
"""Every start's end sharpness·lr/2 inside this interval: the sharpness is held at 2/lr."""
START_SEEDS = tuple(range(1, 1 + SEEDS))
"""The random starts of the seeds comparison; seed 1 is :func:`problem`'s start (the traced run)."""


def problem(dtype: Any = None) -> dict[str, Any]:
    """Two moons (200 points, noise 0.1) as a regression target and a Glorot-initialised tanh MLP."""
    return _problem(default_dtype(dtype))


@jax.jit(static_argnums=0)
def _problem(dtype: Any) -> dict[str, Any]:
    x, y = jl.datasets.two_moons(jax.random.key(0), 200, 0.1)
    params = jl.init_mlp(jax.random.key(START_SEEDS[0]), SIZES, dtype=dtype)
    return {"x": x.astype(dtype), "y": y.astype(dtype), "params": params}


def init(key: jax.Array) -> list[dict[str, jax.Array]]:
    """A random start for ``jl.sweep(..., seeds=...)``: Glorot weights, zero biases, JAX's default float."""
    return jl.init_mlp(key, SIZES, dtype=default_dtype())


def loss_fn(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of the tanh MLP (the loss whose Hessian is tracked)."""
    return jl.manual.mlp_loss_fn(**OPTIONS)(params, x, y)


UNIT_SGD = optax.sgd(1.0)
"""Plain gradient descent with step 1; the traced runs put their learning rate into :func:`scaled_loss`."""


def scaled_loss(params: Any, x: jax.Array, y: jax.Array, learning_rate: jax.Array) -> jax.Array:
    """``learning_rate * loss_fn``: its gradient step of size 1 is ``loss_fn``'s step of size ``learning_rate``."""
    return learning_rate * loss_fn(params, x, y)


def sharpness_trace(params_history: Any, x: jax.Array, y: jax.Array) -> np.ndarray:
    """``jl.sharpness`` at every recorded iterate (leading axis of ``params_history``).

    One compiled power iteration is reused for every record (same loss, same shapes); the
    records are sliced on the host (indexing a device array compiles a program per index).
    """
    params_history = jax.tree_util.tree_map(np.asarray, params_history)
    n_records = jax.tree_util.tree_leaves(params_history)[0].shape[0]
    return np.array([
        jl.sharpness(loss_fn, jax.tree_util.tree_map(lambda h, i=i: h[i], params_history), x, y,
                     iters=POWER_ITERS, tol=POWER_TOL)
        for i in range(n_records)
    ])


def hover_statistics(sharpness: np.ndarray, learning_rate: float) -> dict[str, float]:
    """Ratios sharpness / (2/lr) over the second half of the records, and when 2/lr was first reached."""
    ratio = sharpness * learning_rate / 2.0
    late = ratio[len(ratio) // 2:]
    reached = np.flatnonzero(ratio >= EDGE_FRACTION)
    return {
        "late_median_ratio": float(np.median(late)),
        "late_min_ratio": float(np.min(late)),
        "late_max_ratio": float(np.max(late)),
        "final_ratio": float(ratio[-1]),
        "first_record_at_edge": int(reached[0]) if reached.size else -1,
    }


def _seeds_comparison(rates: tuple[float, ...], steps: int, x: jax.Array, y: jax.Array) -> dict[str, Any]:
    """End sharpness per (rate, start) from one sweep; its ratio to 2/lr; the small rate's drift as reference."""
    say(f"sweep: {len(rates)} learning rates x {len(START_SEEDS)} starts, {steps} steps; sharpness at each end")
    result = jl.sweep(loss_fn, init, optax.sgd, np.asarray(rates), steps=steps, args=(x, y), seeds=list(START_SEEDS),
                      progress=show_progress())
    end_sharpness = np.array([
        jl.sharpness(loss_fn, jax.tree_util.tree_map(lambda leaf, lane=lane: jnp.asarray(leaf[lane]), result.params),
                     x, y, iters=POWER_ITERS, tol=POWER_TOL)
        for lane in range(result.n_lanes)
    ])
    table = seed_table(result, values=end_sharpness)
    drift = spread(table.values[:, 0])
    out = {"drift_rate": float(table.rates[0]), "drift_end_sharpness": drift, "rates": {}}
    for column, rate in enumerate(table.rates):
        sharp = table.values[:, column]
        threshold = 2.0 / rate
        out["rates"][f"lr {rate:g}"] = {
            "learning_rate": float(rate),
            "threshold": threshold,
            "end_sharpness": spread(sharp),
            "end_sharpness_seeds": sharp,
            "end_ratio": spread(sharp * rate / 2.0),
            "n_diverged": int(table.diverged[:, column].sum()),
            "final_loss": spread(np.asarray(result.final_loss)[table.lanes[:, column]]),
            # Is 2/lr below everything the small rate drifted to (so the edge, not the drift, holds it)?
            "threshold_below_drift": bool(threshold < drift["low"]),
            "threshold_within_drift": bool(drift["low"] <= threshold <= drift["high"]),
            "held_at_threshold": bool(HELD[0] <= sharp.min() * rate / 2.0 and sharp.max() * rate / 2.0 <= HELD[1]),
        }
    return out


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Full-batch GD at each learning rate, sharpness at every record; one figure."""
    out_dir = Path(out_dir)
    steps = QUICK_STEPS if quick else STEPS
    data = problem()
    x, y, params = data["x"], data["y"], data["params"]
    initial_sharpness = jl.sharpness(loss_fn, params, x, y, iters=POWER_ITERS, tol=POWER_TOL)
    record_steps = np.arange(steps // RECORD_EVERY) * RECORD_EVERY

    runs: dict[str, Any] = {}
    say(f"one start, {steps} steps per learning rate, sharpness every {RECORD_EVERY} steps")
    for rate in QUICK_LEARNING_RATES if quick else LEARNING_RATES:
        # SGD with step 1 on lr x loss is SGD with step lr on the loss: one compiled loop for every rate.
        trajectory = jl.fit(scaled_loss, params, UNIT_SGD, steps=steps, args=(x, y, jnp.asarray(rate, x.dtype)),
                            record_every=RECORD_EVERY, track_params=True)
        trace = sharpness_trace(trajectory.params_history, x, y)
        losses = np.asarray(trajectory.losses, dtype=np.float64) / rate
        stats = hover_statistics(trace, rate)
        runs[f"lr {rate:g}"] = {
            "learning_rate": rate,
            "threshold": 2.0 / rate,
            "sharpness": trace,
            "losses": losses,
            "final_loss": float(trajectory.final_loss) / rate,
            "max_sharpness": float(np.max(trace)),
            "loss_increases": int(np.sum(np.diff(losses) > 0)),
            **stats,
            "step_at_edge": int(record_steps[stats["first_record_at_edge"]]) if stats["first_record_at_edge"] >= 0 else -1,
        }

    rates = QUICK_LEARNING_RATES if quick else LEARNING_RATES
    seeds = _seeds_comparison(rates, steps, x, y)

    fig = jl.plots.plot_sharpness_trace(
        record_steps, {label: r["sharpness"] for label, r in runs.items()},
        {label: r["learning_rate"] for label, r in runs.items()},
        losses={label: r["losses"] for label, r in runs.items()}, loss_steps=record_steps,
        title=f"Full-batch GD on a 2→32→32→1 tanh MLP (MSE), one start (seed {START_SEEDS[0]}): sharpness (top) "
              "and loss (bottom); dashed: 2/lr",
    )
    jl.plots.save_figure(fig, out_dir / "sharpness.png")
    return {
        "dtype": str(x.dtype),
        "sizes": list(SIZES),
        "n_parameters": int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))),
        "steps": steps,
        "record_every": RECORD_EVERY,
        "record_steps": record_steps,
        "initial_sharpness": initial_sharpness,
        "initial_max_stable_lr": 2.0 / initial_sharpness,
        "edge_fraction": EDGE_FRACTION,
        "runs": runs,
        "n_seeds": len(START_SEEDS),
        "start_seeds": list(START_SEEDS),
        "seeds": seeds,
    }


def _cell(entry: dict[str, float], fmt: str) -> str:
    return median_range(entry["median"], entry["low"], entry["high"], fmt)


def _verdict(row: dict[str, Any]) -> str:
    if row["n_diverged"]:
        return f"{row['n_diverged']} start(s) diverged"
    if row["threshold_within_drift"]:
        return "2/lr inside the drift range: cannot be told from plain sharpening"
    if row["threshold_below_drift"] and row["held_at_threshold"]:
        return "held at 2/lr, below every start's drift: the edge of stability"
    if row["threshold_below_drift"]:
        return "2/lr below the drift, but not held at it"
    return "2/lr above the drift"


def _seeds_section(metrics: dict[str, Any]) -> str:
    seeds = metrics["seeds"]
    rows = [[label, f"{r['threshold']:.3g}", _cell(r["end_sharpness"], ".3g"), _cell(r["end_ratio"], ".3f"),
             _cell(r["final_loss"], ".2e"), _verdict(r) if r["learning_rate"] != seeds["drift_rate"] else
             "the reference: progressive sharpening alone"]
            for label, r in seeds["rates"].items()]
    return (
        f"\n**From {plural(metrics['n_seeds'], 'random start')}** (seeds {metrics['start_seeds'][0]}–"
        f"{metrics['start_seeds'][-1]}, one `jl.sweep`; sharpness at each run's end after {metrics['steps']} steps; "
        "median with the lowest–highest in brackets). Progressive sharpening alone raises the sharpness, so a "
        "sharpness at 2/lr shows the edge of stability only where 2/lr is *below* the end sharpness the small "
        f"learning rate (lr {seeds['drift_rate']:g}, whose 2/lr is never approached) drifts to by itself: "
        f"{_cell(seeds['drift_end_sharpness'], '.3g')}.\n\n"
        + markdown_table(["Run", "2/lr", "end sharpness", "end sharpness·lr/2", "final loss", "reading"], rows)
    )


def report(metrics: dict[str, Any]) -> str:
    """The per-learning-rate table and the figure."""
    rows = [
        [label, f"{r['threshold']:.3g}", f"{r['max_sharpness']:.2f}",
         r["step_at_edge"] if r["step_at_edge"] >= 0 else "never",
         f"{r['late_median_ratio']:.3f}", f"{r['late_min_ratio']:.3f} – {r['late_max_ratio']:.3f}",
         f"{r['final_loss']:.2e}", r["loss_increases"]]
        for label, r in metrics["runs"].items()
    ]
    return (
        f"A {'→'.join(map(str, metrics['sizes']))} tanh network ({metrics['n_parameters']} parameters) "
        f"regressing the two-moons labels (MSE), full-batch `optax.sgd` for {metrics['steps']} steps. **One start** "
        f"(seed {metrics['start_seeds'][0]}), sharpness measured every {metrics['record_every']} steps by power "
        "iteration (`jl.sharpness`). "
        f"At the start the sharpness is {metrics['initial_sharpness']:.2f}, so the classical bound "
        f"says lr < 2/λmax = {metrics['initial_max_stable_lr']:.3f}.\n\n"
        + markdown_table(["Run", "2/lr", "max sharpness", f"step reaching {metrics['edge_fraction']:g}·2/lr",
                          "sharpness·lr/2 (2nd half, median)", "range (2nd half)", "final loss",
                          "loss increases between records"], rows)
        + "\nA ratio sharpness·lr/2 of 1 means the sharpness sits exactly at the stability threshold 2/lr. "
        "In this one start, the runs above the initial bound do not diverge: the sharpness first drops (the "
        "iterate is thrown out of the sharp region — the catapult), then rises again and hovers at 2/lr. The "
        "small learning rate's sharpness rises too (progressive sharpening) but stays far below its 2/lr.\n"
        + _seeds_section(metrics)
        + figure_link("edge_of_stability", "sharpness.png",
                      "One start: sharpness against step for each learning rate with its 2/lr (dashed), and the "
                      "training loss")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """The stable learning rate is not a fixed property of the problem (where the seeds show it)."""
    seeds = metrics["seeds"]
    edge = [label for label, r in seeds["rates"].items()
            if r["threshold_below_drift"] and r["held_at_threshold"] and not r["n_diverged"]]
    unclear = [label for label, r in seeds["rates"].items() if r["threshold_within_drift"]]
    if not edge:
        return []
    ratios = ", ".join(f"{label}: {_cell(seeds['rates'][label]['end_ratio'], '.3f')}" for label in edge)
    above = [label for label, r in seeds["rates"].items()
             if r["learning_rate"] > metrics["initial_max_stable_lr"] and not r["n_diverged"]]
    text = (
        f"The seed treats \"too large\" learning rates as a fixed property: above a threshold training explodes. "
        f"On a network the threshold moves with training: at the traced start 2/λmax = "
        f"{metrics['initial_max_stable_lr']:.3f}, yet {join_words(above) or 'no run'} (above it) trained from every "
        f"one of {plural(metrics['n_seeds'], 'start')} without diverging, and at {join_words(edge)} the end "
        f"sharpness sat at 2/lr (sharpness·lr/2, median and range: {ratios}), below the "
        f"{_cell(seeds['drift_end_sharpness'], '.3g')} that lr {seeds['drift_rate']:g} drifts to by itself — gradient "
        "descent holds the curvature at its step (Cohen et al., 2021), and the loss still falls, non-monotonically."
    )
    if unclear:
        text += (f" At {join_words(unclear)}, 2/lr lies inside that drift range, so its sharpness at 2/lr cannot be "
                 "told apart from plain progressive sharpening.")
    return [text]
