r"""Lesson 13 — a scaling law, measured and fitted with the toolkit's own optimizer.

The seed's trend note: "Loss curves follow power laws — calculus predicts how much
data/compute you need!" Kaplan et al. (2020) and Hoffmann et al. (2022) fit the final
loss of language models of size :math:`N` with

.. math::  L(N) = a\,N^{-\alpha} + c,

a power law down to an irreducible floor :math:`c`. This lesson measures the same
relation in miniature: one-hidden-layer tanh networks of width
:math:`N = 1, 2, \dots, 64` regress a smooth 2-D function; for each width a ``jl.sweep``
over learning rates (every seed) trains the network, the best learning rate per width is
kept (the optimal rate shifts with width), and the held-out loss is recorded.

Every width is a slice of one width-64 network: the unused hidden units are switched
off by a 0/1 mask passed as data, so their weights get zero gradients (Adam leaves them
exactly where they are — at zero) and every width reuses one compiled sweep.

The power law is fitted by minimising the squared error in log space,
:math:`\frac1k\sum_i (\log \hat L(N_i) - \log L_i)^2`, over
:math:`(\log a, \alpha, \log c)` (so :math:`a, c > 0`) with ``jl.fit`` and the hand-rolled
``jl.optim.adam`` under a cosine-decayed learning rate, started from a straight-line fit of
:math:`\log(L - c_0)` against :math:`\log N`.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._common import default_dtype, finite_positive, positive_int
from ._markdown import figure_link, markdown_table

TITLE = "Scaling laws: loss against model size is a power law"
SEED_SAYS = (
    "Trend alert: \"Scaling Laws: Loss curves follow power laws. Calculus predicts how much data/compute "
    "you need!\""
)

WIDTHS = (1, 2, 4, 8, 16, 32, 64)
MAX_WIDTH = WIDTHS[-1]
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1)
SEEDS, QUICK_SEEDS = 3, 1
STEPS, QUICK_STEPS = 3000, 1500
N_TRAIN, N_TEST = 256, 1024
INPUT_RANGE = 1.5
POWER_LAW_STEPS = 4000
POWER_LAW_LR = 0.05
FIT_BELOW = 0.5
"""Widths whose loss is above this fraction of the trivial loss (predicting the mean) are not fitted:
a network that barely beats a constant is outside the power-law regime."""


# --- the power-law fit -------------------------------------------------------------------


def power_law(sizes: Any, a: float, alpha: float, c: float) -> np.ndarray:
    r""":math:`a N^{-\alpha} + c` (NumPy, float64)."""
    return a * np.asarray(sizes, dtype=np.float64) ** (-alpha) + c


def _log_power_law(params: dict[str, jax.Array], log_sizes: jax.Array) -> jax.Array:
    # log(a N^-alpha + c) = logaddexp(log a - alpha log N, log c), stable for any magnitude.
    return jnp.logaddexp(params["log_a"] - params["alpha"] * log_sizes, params["log_c"])


def power_law_objective(params: dict[str, jax.Array], log_sizes: jax.Array, log_losses: jax.Array) -> jax.Array:
    r"""Mean squared error in log space, :math:`\frac1k\sum_i (\log\hat L(N_i) - \log L_i)^2`."""
    return jnp.mean((_log_power_law(params, log_sizes) - log_losses) ** 2)


@functools.cache
def _power_law_optimizer(learning_rate: float, steps: int) -> optax.GradientTransformation:
    # One object per setting, so jl.fit reuses its compiled loop across fits.
    return jl.optim.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-4))


def fit_power_law(sizes: Any, losses: Any, *, steps: int = POWER_LAW_STEPS,
                  learning_rate: float = POWER_LAW_LR) -> dict[str, float]:
    r"""Fits :math:`L = a N^{-\alpha} + c` (:math:`a, c > 0`) to measured losses.

    Start: :math:`c_0 = \min L / 2` and a least-squares line through
    :math:`(\log N, \log(L - c_0))` for :math:`\log a` and :math:`\alpha`. Then ``steps`` steps of
    ``jl.optim.adam`` (cosine-decayed from ``learning_rate``) on the log-space squared error
    (:func:`power_law_objective`) through ``jl.fit``.

    Args:
      sizes: ``(k,)`` model sizes, ``k >= 3``, all > 0.
      losses: ``(k,)`` losses, all > 0.
      steps: optimizer steps.
      learning_rate: peak learning rate.

    Returns:
      ``{"a", "alpha", "c", "rmse_log", "initial": {...}}`` (``rmse_log`` is the root mean
      squared error in log space at the fit).

    Raises:
      ValueError, TypeError: fewer than 3 points, mismatched lengths, non-positive values.

    Examples:
      >>> fit = fit_power_law([1, 2, 4, 8, 16, 32], [2.0 * n ** -0.5 + 0.1 for n in [1, 2, 4, 8, 16, 32]])
      >>> round(fit["alpha"], 3), round(fit["c"], 3)
      (0.5, 0.1)
    """
    sizes = finite_positive(sizes, "sizes")
    losses = finite_positive(losses, "losses")
    if sizes.size != losses.size:
        raise ValueError(f"sizes and losses must have the same length, got {sizes.size} and {losses.size}")
    if sizes.size < 3:
        raise ValueError(f"a power law with a floor has 3 parameters: give at least 3 points, got {sizes.size}")
    steps = positive_int(steps, "steps")
    c0 = 0.5 * float(losses.min())
    slope, intercept = np.polyfit(np.log(sizes), np.log(losses - c0), 1)
    dtype = default_dtype()
    start = {"log_a": jnp.asarray(intercept, dtype), "alpha": jnp.asarray(-slope, dtype),
             "log_c": jnp.asarray(math.log(c0), dtype)}
    trajectory = jl.fit(power_law_objective, start, _power_law_optimizer(float(learning_rate), steps), steps=steps,
                        args=(jnp.asarray(np.log(sizes), dtype), jnp.asarray(np.log(losses), dtype)))
    fitted = trajectory.params
    return {
        "a": float(jnp.exp(fitted["log_a"])),
        "alpha": float(fitted["alpha"]),
        "c": float(jnp.exp(fitted["log_c"])),
        "rmse_log": float(jnp.sqrt(trajectory.final_loss)),
        "initial": {"a": float(np.exp(intercept)), "alpha": float(-slope), "c": c0},
    }


# --- the measurement ---------------------------------------------------------------------


def target(x: jax.Array) -> jax.Array:
    r"""The function to learn: :math:`\sin(3x_1)\cos(2x_2)`, shape ``(n, 1)``."""
    return jnp.sin(3 * x[:, :1]) * jnp.cos(2 * x[:, 1:])


def masked_mlp(params: list[dict[str, jax.Array]], x: jax.Array, mask: jax.Array) -> jax.Array:
    """One tanh hidden layer whose hidden units are multiplied by ``mask`` (1 = in use, 0 = off)."""
    hidden = jnp.tanh(x @ params[0]["W"] + params[0]["b"]) * mask
    return hidden @ params[1]["W"] + params[1]["b"]


def loss_fn(params: list[dict[str, jax.Array]], x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean squared error of :func:`masked_mlp`."""
    return jl.mse(masked_mlp(params, x, mask), y)


def problem(dtype: Any = None) -> dict[str, Any]:
    """Training and test inputs uniform on ``[-1.5, 1.5]^2`` with their targets."""
    return _problem(default_dtype(dtype))


@jax.jit(static_argnums=0)
def _problem(dtype: Any) -> dict[str, Any]:
    key_train, key_test = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(key_train, (N_TRAIN, 2), dtype, -INPUT_RANGE, INPUT_RANGE)
    x_test = jax.random.uniform(key_test, (N_TEST, 2), dtype, -INPUT_RANGE, INPUT_RANGE)
    return {"x": x, "y": target(x), "x_test": x_test, "y_test": target(x_test)}


@jax.jit
def _standard_normals(key: jax.Array, like: jax.Array) -> list[jax.Array]:
    keys = jax.random.split(key)
    return [jax.random.normal(keys[0], (2, MAX_WIDTH), like.dtype), jax.random.normal(keys[1], (MAX_WIDTH, 1), like.dtype)]


def padded_init(seed: int, width: int, dtype: Any) -> list[dict[str, jax.Array]]:
    """A Glorot-initialised width-``width`` network embedded in a width-64 one (the rest zero).

    The standard normals are drawn once per seed for the full width (one compiled draw);
    scaling and padding happen on the host, so no width triggers a compilation.
    """
    z_in, z_out = (np.asarray(z) for z in _standard_normals(jax.random.key(seed), jnp.zeros((), dtype)))
    keep = np.arange(MAX_WIDTH) < width
    w_in = np.where(keep, z_in * math.sqrt(2.0 / (2 + width)), 0.0)
    w_out = np.where(keep[:, None], z_out * math.sqrt(2.0 / (width + 1)), 0.0)
    zeros = np.zeros(MAX_WIDTH, z_in.dtype)
    return [{"W": jnp.asarray(w_in), "b": jnp.asarray(zeros)},
            {"W": jnp.asarray(w_out), "b": jnp.asarray(np.zeros(1, z_in.dtype))}]


@functools.cache
def adam_with_cosine_decay(steps: int) -> Any:
    """The optimizer factory of the sweeps: Adam whose learning rate decays to 0 along a cosine.

    Decaying the rate removes most of the noise floor that a constant-rate Adam leaves,
    so the measured loss reflects the width more than the optimizer's jitter. Cached per
    ``steps``: the same factory object lets every sweep reuse one compiled program.
    """

    def factory(learning_rate: Any) -> optax.GradientTransformation:
        return optax.adam(optax.cosine_decay_schedule(learning_rate, steps))

    return factory


@jax.jit
def _test_losses(lane_params: Any, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
    return jax.vmap(lambda params: loss_fn(params, x, y, mask))(lane_params)


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Sweeps per width and seed, best learning rate per width, the power-law fit; one figure."""
    out_dir = Path(out_dir)
    steps = QUICK_STEPS if quick else STEPS
    n_seeds = QUICK_SEEDS if quick else SEEDS
    data = problem()
    dtype = data["x"].dtype
    rates = np.asarray(LEARNING_RATES)

    per_width: dict[str, Any] = {}
    for width in WIDTHS:
        mask = jnp.asarray((np.arange(MAX_WIDTH) < width).astype(dtype))
        train = np.empty((n_seeds, rates.size))
        test = np.empty((n_seeds, rates.size))
        for seed in range(n_seeds):
            result = jl.sweep(loss_fn, padded_init(seed, width, dtype), optax.adam, rates, steps=steps,
                              args=(data["x"], data["y"], mask))
            diverged = result.status == "diverged"
            train[seed] = np.where(diverged, np.inf, result.final_loss)
            test[seed] = np.where(diverged, np.inf,
                                  np.asarray(_test_losses(result.params, data["x_test"], data["y_test"], mask)))
        best = int(np.argmin(np.median(train, axis=0)))
        per_width[str(width)] = {
            "width": width,
            "parameters": 4 * width + 1,
            "best_lr": float(rates[best]),
            "train_loss": float(np.mean(train[:, best])),
            "test_loss": float(np.mean(test[:, best])),
            "test_loss_seeds": test[:, best],
            "test_loss_std": float(np.std(test[:, best])),
        }

    widths = np.array(WIDTHS, dtype=np.float64)
    test_means = np.array([w["test_loss"] for w in per_width.values()])
    trivial_loss = float(jnp.mean((data["y_test"] - jnp.mean(data["y"])) ** 2))
    fitted = test_means < FIT_BELOW * trivial_loss
    fit = fit_power_law(widths[fitted], test_means[fitted])
    predicted = power_law(widths, fit["a"], fit["alpha"], fit["c"])
    for w, prediction, used in zip(per_width.values(), predicted, fitted):
        w["fit"] = float(prediction)
        w["fitted"] = bool(used)

    fig = jl.plots.plot_power_law(
        widths[fitted], test_means[fitted], a=fit["a"], alpha=fit["alpha"], c=fit["c"],
        excluded=(widths[~fitted], test_means[~fitted]) if (~fitted).any() else None,
        points=(np.repeat(widths, n_seeds), np.concatenate([w["test_loss_seeds"] for w in per_width.values()])),
        xlabel="hidden width N", ylabel="held-out MSE",
        title=f"Held-out loss against width (best of {len(LEARNING_RATES)} learning rates, {steps} Adam steps, "
              f"{n_seeds} seed{'s' if n_seeds > 1 else ''}) and the fitted power law",
    )
    jl.plots.save_figure(fig, out_dir / "power_law.png")
    return {
        "dtype": str(dtype),
        "steps": steps,
        "n_seeds": n_seeds,
        "learning_rates": list(LEARNING_RATES),
        "n_train": N_TRAIN,
        "n_test": N_TEST,
        "widths": per_width,
        "fit": fit,
        "trivial_loss": trivial_loss,
        "fit_below": FIT_BELOW,
    }


def report(metrics: dict[str, Any]) -> str:
    """The width table, the fitted law and the figure."""
    rows = [[w["width"], w["parameters"], f"{w['best_lr']:g}", f"{w['train_loss']:.4g}",
             f"{w['test_loss']:.4g} ± {w['test_loss_std']:.1g}", f"{w['fit']:.4g}" + ("" if w["fitted"] else " (not fitted)")]
            for w in metrics["widths"].values()]
    not_fitted = ", ".join(str(w["width"]) for w in metrics["widths"].values() if not w["fitted"])
    fit = metrics["fit"]
    return (
        f"One-hidden-layer tanh networks of width N regress sin(3x₁)cos(2x₂) from "
        f"{metrics['n_train']} points (held-out: {metrics['n_test']}; predicting the training mean scores "
        f"{metrics['trivial_loss']:.3f}, the *trivial loss*). For every width and seed a `jl.sweep` trains the learning rates "
        f"{', '.join(map(str, metrics['learning_rates']))} with Adam for {metrics['steps']} full-batch steps; the "
        f"learning rate with the best median training loss is kept; the table gives the mean over "
        f"{metrics['n_seeds']} seed(s).\n\n"
        + markdown_table(["width N", "parameters", "best lr", "train MSE", "held-out MSE (mean ± sd)",
                          "power-law fit"], rows)
        + f"\nWidths whose held-out loss is above {metrics['fit_below']:g}× the trivial loss barely beat a constant "
        f"and are left out of the fit (marked \"not fitted\"): {not_fitted or 'none'}.\n"
        + f"\n**Fitted law** (`jl.fit` + `jl.optim.adam` on log a, α, log c, in log space): "
        f"L(N) = {fit['a']:.3g}·N^(−{fit['alpha']:.3f}) + {fit['c']:.3g}, root-mean-square error "
        f"{fit['rmse_log']:.3f} in log L (straight-line start: α = {fit['initial']['alpha']:.3f}). "
        f"Doubling the width divides the reducible part a·N^(−α) by 2^α = {2 ** fit['alpha']:.2f}; the floor "
        f"c = {fit['c']:.3g} is what {metrics['steps']} steps on {metrics['n_train']} points can reach, not a "
        "property of the function.\n"
        + figure_link("scaling_laws", "power_law.png",
                      "Held-out loss against width (log–log) with the fitted power law; right: L − c, a straight line "
                      "of slope −α")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """What the power law does and does not predict, measured."""
    fit = metrics["fit"]
    widths = [w for w in metrics["widths"].values() if w["fitted"]]
    return [
        f"\"Calculus predicts how much data/compute you need\": a power law is an empirical fit, not a "
        f"derivation. Here L(N) = {fit['a']:.3g}·N^(−{fit['alpha']:.3f}) + {fit['c']:.3g} describes widths "
        f"{widths[0]['width']}–{widths[-1]['width']} to {fit['rmse_log']:.2f} in log L, but its exponent and floor "
        f"depend on the training budget (the floor {fit['c']:.3g} is set by {metrics['steps']} steps), so "
        "extrapolating it to other budgets needs new measurements.",
    ]
