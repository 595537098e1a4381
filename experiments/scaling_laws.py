r"""Lesson 13 — a scaling law, measured and fitted with the toolkit's own optimizer, with error bars.

The seed's trend note: "Loss curves follow power laws — calculus predicts how much
data/compute you need!" Kaplan et al. (2020) and Hoffmann et al. (2022) fit the final
loss of language models of size :math:`N` with

.. math::  L(N) = a\,N^{-\alpha} + c,

a power law down to an irreducible floor :math:`c`. This lesson measures the same
relation in miniature: one-hidden-layer tanh networks of width :math:`N` from 1 to 64
regress a smooth 2-D function from several random starts; for each width the learning
rate with the best median training loss is kept (the optimal rate shifts with width),
and the held-out loss is recorded.

Every (width, start, learning rate) run is a lane of *one* ``jl.sweep``: every width is a
slice of one width-64 network whose unused hidden units start at exactly zero (input
weights, bias and output weight). Such a unit gets exactly zero gradient — its output
weight is zero, so no signal reaches it, and its activation :math:`\tanh(0) = 0` gives its
output weight none — and Adam leaves it at zero, so the padded network *is* the
width-:math:`N` network. The sweep's seed ``i`` encodes width ``i // starts`` and start
``i % starts``; the standard normals of a start are shared by every width (nested networks).

The power law is fitted by minimising the squared error in log space,
:math:`\frac1k\sum_i (\log \hat L(N_i) - \log L_i)^2`, over
:math:`(\log a, \alpha, \log c)` (so :math:`a, c > 0`) with ``jl.fit`` and the hand-rolled
``jl.optim.adam`` under a cosine-decayed learning rate, started from a straight-line fit of
:math:`\log(L - c_0)` against :math:`\log N`. Its uncertainty comes from a bootstrap over the
starts: the starts of every width are resampled with replacement, the medians refitted,
and the spread of the refitted parameters reported. Adam is elementwise and the
objective a sum over samples, so all bootstrap fits run as *one* ``jl.fit`` on stacked
parameters (each sample's fit exactly as if run alone).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._common import (
    SEEDS,
    default_dtype,
    finite_positive,
    key_index,
    positive_int,
    say,
    show_progress,
)
from ._markdown import edge_note, figure_link, markdown_table, median_range, plural
from ._stats import at_best, seed_table, spread

TITLE = "Scaling laws: loss against model size is a power law"
SEED_SAYS = (
    "Trend alert: \"Scaling Laws: Loss curves follow power laws. Calculus predicts how much data/compute "
    "you need!\""
)

WIDTHS, QUICK_WIDTHS = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64), (1, 2, 4, 8, 16, 32, 64)
MAX_WIDTH = WIDTHS[-1]
LEARNING_RATES, QUICK_LEARNING_RATES = (0.003, 0.01, 0.03, 0.1), (0.01, 0.03)
STEPS, QUICK_STEPS = 3000, 1000
N_TRAIN, N_TEST = 256, 1024
INPUT_RANGE = 1.5
POWER_LAW_STEPS = 4000
POWER_LAW_LR = 0.05
LANES_PER_BATCH = 8
"""Lanes per compiled batch: the width-64 lanes ran about twice as fast per step in batches of 8
as all in one batch on a 2-core CPU (measured), and results do not depend on it."""
BOOTSTRAP, QUICK_BOOTSTRAP = 200, 50
"""Bootstrap resamples of the starts behind the fitted parameters' intervals."""
INTERVAL = (5.0, 95.0)
"""Percentiles of the bootstrap distribution reported as the interval (a 90% interval)."""
FIT_BELOW = 0.5
"""Widths whose median held-out loss is above this fraction of the trivial loss (predicting the
mean) are not fitted: a network that barely beats a constant is outside the power-law regime.
They are shown and listed, never dropped silently."""


# --- the power-law fit -------------------------------------------------------------------


def power_law(sizes: Any, a: float, alpha: float, c: float) -> np.ndarray:
    r""":math:`a N^{-\alpha} + c` (NumPy, float64)."""
    return a * np.asarray(sizes, dtype=np.float64) ** (-alpha) + c


def _log_power_law(params: dict[str, jax.Array], log_sizes: jax.Array) -> jax.Array:
    # log(a N^-alpha + c) = logaddexp(log a - alpha log N, log c), stable for any magnitude.
    # Parameters of shape (B,) fit B samples at once: one row of predictions per sample.
    return jnp.logaddexp(params["log_a"][..., None] - params["alpha"][..., None] * log_sizes,
                         params["log_c"][..., None])


def power_law_objective(params: dict[str, jax.Array], log_sizes: jax.Array, log_losses: jax.Array) -> jax.Array:
    r"""Mean squared error in log space, :math:`\frac1k\sum_i (\log\hat L(N_i) - \log L_i)^2`, summed over samples.

    ``params`` leaves have shape ``(B,)`` and ``log_losses`` shape ``(B, k)``: the sum of B
    independent objectives, so each sample's gradient is its own objective's gradient.
    """
    return jnp.sum(jnp.mean((_log_power_law(params, log_sizes) - log_losses) ** 2, axis=-1))


@functools.cache
def _power_law_optimizer(learning_rate: float, steps: int) -> optax.GradientTransformation:
    # One object per setting, so jl.fit reuses its compiled loop across fits.
    return jl.optim.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-4))


def fit_power_law(sizes: Any, losses: Any, *, steps: int = POWER_LAW_STEPS,
                  learning_rate: float = POWER_LAW_LR) -> dict[str, Any]:
    r"""Fits :math:`L = a N^{-\alpha} + c` (:math:`a, c > 0`) to measured losses, one sample or several.

    Start: :math:`c_0 = \min L / 2` and a least-squares line through
    :math:`(\log N, \log(L - c_0))` for :math:`\log a` and :math:`\alpha`. Then ``steps`` steps of
    ``jl.optim.adam`` (cosine-decayed from ``learning_rate``) on the log-space squared error
    (:func:`power_law_objective`) through ``jl.fit``. With ``losses`` of shape ``(B, k)``
    every row is fitted at once: Adam is elementwise and the objective a sum over rows,
    so each row's fit is the fit it would get alone (one compiled loop for all).

    Args:
      sizes: ``(k,)`` model sizes, ``k >= 3``, all > 0.
      losses: ``(k,)`` losses, or ``(B, k)`` for B samples; all > 0.
      steps: optimizer steps.
      learning_rate: peak learning rate.

    Returns:
      ``{"a", "alpha", "c", "rmse_log", "initial": {...}}`` (``rmse_log`` is the root mean
      squared error in log space at the fit): floats for ``(k,)`` losses, ``(B,)`` arrays
      for ``(B, k)``.

    Raises:
      ValueError, TypeError: fewer than 3 points, mismatched lengths, non-positive values.

    Examples:
      >>> fit = fit_power_law([1, 2, 4, 8, 16, 32], [2.0 * n ** -0.5 + 0.1 for n in [1, 2, 4, 8, 16, 32]])
      >>> round(fit["alpha"], 3), round(fit["c"], 3)
      (0.5, 0.1)
    """
    sizes = finite_positive(sizes, "sizes")
    rows = np.asarray(losses, dtype=np.float64)
    single = rows.ndim == 1
    rows = np.atleast_2d(rows)
    if rows.ndim != 2:
        raise ValueError(f"losses must have shape (k,) or (B, k), got {np.shape(losses)}")
    rows = np.stack([finite_positive(row, "losses") for row in rows])
    if sizes.size != rows.shape[1]:
        raise ValueError(f"sizes and losses must have the same length, got {sizes.size} and {rows.shape[1]}")
    if sizes.size < 3:
        raise ValueError(f"a power law with a floor has 3 parameters: give at least 3 points, got {sizes.size}")
    steps = positive_int(steps, "steps")
    c0 = 0.5 * rows.min(axis=1)
    lines = np.array([np.polyfit(np.log(sizes), np.log(row - c), 1) for row, c in zip(rows, c0)])
    dtype = default_dtype()
    start = {"log_a": jnp.asarray(lines[:, 1], dtype), "alpha": jnp.asarray(-lines[:, 0], dtype),
             "log_c": jnp.asarray(np.log(c0), dtype)}
    log_sizes, log_losses = jnp.asarray(np.log(sizes), dtype), jnp.asarray(np.log(rows), dtype)
    fitted = jl.fit(power_law_objective, start, _power_law_optimizer(float(learning_rate), steps), steps=steps,
                    args=(log_sizes, log_losses)).params
    rmse = np.sqrt(np.mean((np.asarray(_log_power_law(fitted, log_sizes)) - np.log(rows)) ** 2, axis=1))
    out = {
        "a": np.exp(np.asarray(fitted["log_a"], np.float64)),
        "alpha": np.asarray(fitted["alpha"], np.float64),
        "c": np.exp(np.asarray(fitted["log_c"], np.float64)),
        "rmse_log": rmse,
        "initial": {"a": np.exp(lines[:, 1]), "alpha": -lines[:, 0], "c": c0},
    }
    if single:
        out = {key: ({k: float(v[0]) for k, v in value.items()} if isinstance(value, dict) else float(value[0]))
               for key, value in out.items()}
    return out


# --- the measurement ---------------------------------------------------------------------


def target(x: jax.Array) -> jax.Array:
    r"""The function to learn: :math:`\sin(3x_1)\cos(2x_2)`, shape ``(n, 1)``."""
    return jnp.sin(3 * x[:, :1]) * jnp.cos(2 * x[:, 1:])


loss_fn = jl.manual.mlp_loss_fn(activation="tanh", output_activation="identity", loss="mse")
"""Mean squared error of a one-hidden-layer tanh network (``jl.manual.mlp_loss_fn``, lanes-last in sweeps)."""


def problem(dtype: Any = None) -> dict[str, Any]:
    """Training and test inputs uniform on ``[-1.5, 1.5]^2`` with their targets."""
    return _problem(default_dtype(dtype))


@jax.jit(static_argnums=0)
def _problem(dtype: Any) -> dict[str, Any]:
    key_train, key_test = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(key_train, (N_TRAIN, 2), dtype, -INPUT_RANGE, INPUT_RANGE)
    x_test = jax.random.uniform(key_test, (N_TEST, 2), dtype, -INPUT_RANGE, INPUT_RANGE)
    return {"x": x, "y": target(x), "x_test": x_test, "y_test": target(x_test)}


def padded_params(key: jax.Array, width: Any, dtype: Any) -> list[dict[str, jax.Array]]:
    """A Glorot-initialised width-``width`` network embedded in a width-64 one (the rest exactly zero).

    Traceable (``width`` may be traced). The standard normals come from ``key`` for the full
    width, so the networks of one key are nested: width ``N`` uses the first ``N`` units.
    """
    keys = jax.random.split(key)
    z_in = jax.random.normal(keys[0], (2, MAX_WIDTH), dtype)
    z_out = jax.random.normal(keys[1], (MAX_WIDTH, 1), dtype)
    keep = jnp.arange(MAX_WIDTH) < width
    w_in = jnp.where(keep, z_in * jnp.sqrt(2.0 / (2 + width)), 0.0).astype(dtype)
    w_out = jnp.where(keep[:, None], z_out * jnp.sqrt(2.0 / (width + 1)), 0.0).astype(dtype)
    return [{"W": w_in, "b": jnp.zeros(MAX_WIDTH, dtype)}, {"W": w_out, "b": jnp.zeros(1, dtype)}]


def padded_init(seed: int, width: int, dtype: Any) -> list[dict[str, jax.Array]]:
    """:func:`padded_params` for start ``seed`` (one compiled draw for every seed and width)."""
    return _padded(jax.random.key(seed), jnp.asarray(width), jnp.dtype(dtype))


@jax.jit(static_argnums=2)
def _padded(key: jax.Array, width: jax.Array, dtype: Any) -> list[dict[str, jax.Array]]:
    return padded_params(key, width, dtype)


def width_init(widths: tuple[int, ...], n_starts: int) -> Any:
    """``init(key)`` for ``jl.sweep`` with ``seeds=range(len(widths) * n_starts)``.

    Seed ``i`` is width ``widths[i // n_starts]`` from start ``i % n_starts``
    (:func:`padded_params` with ``jax.random.key(i % n_starts)``), found with
    :func:`experiments._common.key_index`.
    """
    seeds = tuple(range(len(widths) * n_starts))

    def init(key: jax.Array) -> list[dict[str, jax.Array]]:
        index = key_index(key, seeds)
        return padded_params(jax.random.key(index % n_starts), jnp.asarray(widths)[index // n_starts], default_dtype())

    return init


@jax.jit
def _test_losses(lane_params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    return jax.vmap(lambda params: loss_fn(params, x, y))(lane_params)


def _per_width(result: Any, widths: tuple[int, ...], n_starts: int, test: np.ndarray) -> dict[str, Any]:
    """Per width: the learning rate with the best median training loss, and train/test spreads there."""
    per_width = {}
    for index, width in enumerate(widths):
        table = seed_table(result, where=np.asarray(result.seeds) // n_starts == index)
        best = at_best(table)
        if best is None:
            raise RuntimeError(f"every learning rate diverged for some start at width {width}")
        lanes = table.lanes[:, best["index"]]
        per_width[str(width)] = {
            "width": width,
            "parameters": 4 * width + 1,
            "best_lr": best["learning_rate"],
            "best_lr_at_edge": best["edge"] is not None,
            "train_loss": spread(table.values[:, best["index"]]),
            "test_loss": spread(test[lanes]),
            "test_loss_seeds": test[lanes],
        }
    return per_width


def _bootstrap(per_width: dict[str, Any], fitted: np.ndarray, samples: int) -> np.ndarray:
    """``(samples, k)`` medians of the fitted widths' test losses, each width's starts resampled."""
    rng = np.random.default_rng(0)
    columns = [np.asarray(w["test_loss_seeds"]) for w, used in zip(per_width.values(), fitted) if used]
    return np.stack([[np.median(rng.choice(values, values.size)) for values in columns] for _ in range(samples)])


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """One sweep over widths x starts x learning rates; best rate per width; the fit and its bootstrap."""
    out_dir = Path(out_dir)
    steps = QUICK_STEPS if quick else STEPS
    widths = QUICK_WIDTHS if quick else WIDTHS
    rates = np.asarray(QUICK_LEARNING_RATES if quick else LEARNING_RATES)
    samples = QUICK_BOOTSTRAP if quick else BOOTSTRAP
    data = problem()
    say(f"sweep: {len(widths)} widths x {SEEDS} starts x {rates.size} learning rates, {steps} Adam steps")
    result = jl.sweep(loss_fn, width_init(widths, SEEDS), optax.adam, rates, steps=steps, args=(data["x"], data["y"]),
                      seeds=len(widths) * SEEDS, max_lanes_per_batch=LANES_PER_BATCH, progress=show_progress())
    test = np.asarray(_test_losses(jax.tree_util.tree_map(jnp.asarray, result.params), data["x_test"], data["y_test"]),
                      dtype=np.float64)
    per_width = _per_width(result, widths, SEEDS, test)

    sizes = np.array(widths, dtype=np.float64)
    medians = np.array([w["test_loss"]["median"] for w in per_width.values()])
    trivial_loss = float(jnp.mean((data["y_test"] - jnp.mean(data["y"])) ** 2))
    fitted = medians < FIT_BELOW * trivial_loss
    say(f"power-law fit on {int(fitted.sum())} widths, and {samples} bootstrap refits in one jl.fit")
    # The central fit and every bootstrap refit in one call (one compiled loop, rows independent).
    both = fit_power_law(sizes[fitted], np.vstack([medians[fitted], _bootstrap(per_width, fitted, samples)]))
    fit = {key: ({k: float(v[0]) for k, v in value.items()} if isinstance(value, dict) else float(value[0]))
           for key, value in both.items()}
    boot = {key: value[1:] for key, value in both.items() if not isinstance(value, dict)}
    interval = {name: [float(v) for v in np.percentile(boot[name], INTERVAL)] for name in ("a", "alpha", "c")}
    predicted = power_law(sizes, fit["a"], fit["alpha"], fit["c"])
    for w, prediction, used in zip(per_width.values(), predicted, fitted):
        w["fit"] = float(prediction)
        w["fitted"] = bool(used)
        w["below_floor"] = bool(w["test_loss"]["median"] <= fit["c"])

    grid = np.geomspace(sizes[fitted].min(), sizes[fitted].max(), 100)
    curves = power_law(grid[None, :], boot["a"][:, None], boot["alpha"][:, None], boot["c"][:, None])
    fig = jl.plots.plot_power_law(
        sizes[fitted], medians[fitted], a=fit["a"], alpha=fit["alpha"], c=fit["c"],
        ranges=([w["test_loss"]["low"] for w, u in zip(per_width.values(), fitted) if u],
                [w["test_loss"]["high"] for w, u in zip(per_width.values(), fitted) if u]),
        excluded=(sizes[~fitted], medians[~fitted]) if (~fitted).any() else None,
        points=(np.repeat(sizes, SEEDS), np.concatenate([w["test_loss_seeds"] for w in per_width.values()])),
        fit_band=(grid, *np.percentile(curves, INTERVAL, axis=0)),
        xlabel="hidden width N", ylabel="held-out MSE",
        title=f"Held-out loss against width: median over {plural(SEEDS, 'start')} at each width's best learning "
              f"rate ({steps} Adam steps), the fitted power law and its {INTERVAL[1] - INTERVAL[0]:g}% bootstrap band",
    )
    jl.plots.save_figure(fig, out_dir / "power_law.png")
    return {
        "dtype": str(data["x"].dtype),
        "steps": steps,
        "n_seeds": SEEDS,
        "n_lanes": result.n_lanes,
        "learning_rates": rates,
        "n_train": N_TRAIN,
        "n_test": N_TEST,
        "widths": per_width,
        "fit": fit,
        "bootstrap": {"samples": samples, "percentiles": list(INTERVAL), "interval": interval,
                      "interval_width_percent": INTERVAL[1] - INTERVAL[0],
                      "doubling_factor": [2.0 ** v for v in interval["alpha"]]},
        "doubling_factor": 2.0 ** fit["alpha"],
        "n_fitted": int(fitted.sum()),
        "trivial_loss": trivial_loss,
        "fit_below": FIT_BELOW,
    }


def _cell(entry: dict[str, float], fmt: str = ".4g") -> str:
    return median_range(entry["median"], entry["low"], entry["high"], fmt)


def report(metrics: dict[str, Any]) -> str:
    """The width table, the fitted law with its bootstrap interval and the figure."""
    rows = [[w["width"], w["parameters"], f"{w['best_lr']:g}", _cell(w["train_loss"]), _cell(w["test_loss"]),
             f"{w['fit']:.4g}" + ("" if w["fitted"] else " (not fitted)")
             + (" (at or below the floor c)" if w["below_floor"] else "")]
            for w in metrics["widths"].values()]
    not_fitted = ", ".join(str(w["width"]) for w in metrics["widths"].values() if not w["fitted"])
    below_floor = [str(w["width"]) for w in metrics["widths"].values() if w["below_floor"]]
    below = ("Width " if len(below_floor) == 1 else "Widths ") + ", ".join(below_floor)
    end = "ends" if len(below_floor) == 1 else "end"
    fit, boot = metrics["fit"], metrics["bootstrap"]
    interval = boot["interval"]
    n = plural(metrics["n_seeds"], "start")
    return (
        f"One-hidden-layer tanh networks of width N regress sin(3x₁)cos(2x₂) from "
        f"{metrics['n_train']} points (held-out: {metrics['n_test']}; predicting the training mean scores "
        f"{metrics['trivial_loss']:.3f}, the *trivial loss*). One `jl.sweep` of {metrics['n_lanes']} runs trains every "
        f"width from {n} at each learning rate of {', '.join(f'{r:g}' for r in metrics['learning_rates'])} with "
        f"Adam for {metrics['steps']} full-batch steps; each width keeps the rate with the best median training "
        "loss. Cells: median over the starts, lowest–highest in brackets.\n\n"
        + markdown_table(["width N", "parameters", "best lr", "train MSE", "held-out MSE", "power-law fit"], rows)
        + "\n" + edge_note([f"width {w['width']}" for w in metrics["widths"].values() if w["best_lr_at_edge"]]).lstrip()
        + f"\nWidths whose median held-out loss is above {metrics['fit_below']:g}× the trivial loss barely beat a "
        f"constant and are left out of the fit (shown hollow in the figure): {not_fitted or 'none'}. "
        + (f"{below} {end} at or below the fitted floor c, so the L − c axis (log scale) cannot show "
           f"{'it' if len(below_floor) == 1 else 'them'}; the figure marks the L ≤ c points at its bottom edge.\n"
           if below_floor else "\n")
        + f"\n**Fitted law** (`jl.fit` + `jl.optim.adam` on log a, α, log c, in log space, over the "
        f"{metrics['n_fitted']} fitted widths' medians): L(N) = {fit['a']:.3g}·N^(−{fit['alpha']:.3f}) + "
        f"{fit['c']:.3g}, root-mean-square error {fit['rmse_log']:.3f} in log L. Over {boot['samples']} bootstrap "
        f"resamples of the starts ({boot['interval_width_percent']:g}% interval): α in "
        f"{interval['alpha'][0]:.3g}–{interval['alpha'][1]:.3g}, c in {interval['c'][0]:.3g}–{interval['c'][1]:.3g}, "
        f"a in {interval['a'][0]:.3g}–{interval['a'][1]:.3g}. Doubling the width divides the reducible part "
        f"a·N^(−α) by 2^α = {metrics['doubling_factor']:.3g} ({boot['doubling_factor'][0]:.3g}–"
        f"{boot['doubling_factor'][1]:.3g}). The floor c is where these widths stop improving under this budget "
        f"({metrics['steps']} steps on {metrics['n_train']} points); nothing here shows it is a property of the "
        "function.\n"
        + figure_link("scaling_laws", "power_law.png",
                      "Held-out loss against width (log–log): medians with lowest–highest bars, every start as a "
                      "grey dot, the fit drawn over the fitted widths only with its bootstrap band; right: L − c, "
                      "a straight line of slope −α")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """What the power law does and does not predict, measured."""
    fit, interval = metrics["fit"], metrics["bootstrap"]["interval"]
    widths = [w for w in metrics["widths"].values() if w["fitted"]]
    return [
        f"\"Calculus predicts how much data/compute you need\": a power law is an empirical fit, not a "
        f"derivation. Here L(N) = {fit['a']:.3g}·N^(−{fit['alpha']:.3f}) + {fit['c']:.3g} describes widths "
        f"{widths[0]['width']}–{widths[-1]['width']} to {fit['rmse_log']:.2f} in log L, but resampling the starts "
        f"moves its exponent over {interval['alpha'][0]:.3g}–{interval['alpha'][1]:.3g} and its floor over "
        f"{interval['c'][0]:.3g}–{interval['c'][1]:.3g}, and both depend on the training budget (the floor is set by "
        f"{metrics['steps']} steps), so extrapolating it to other sizes or budgets needs new measurements.",
    ]
