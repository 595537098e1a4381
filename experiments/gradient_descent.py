r"""Lesson 3 — gradient descent: follow the slope downhill, one step at a time.

On :math:`f(x) = x^2 + 10` from :math:`x_0 = 5` with learning rate :math:`\eta = 0.1`, the
update :math:`x \leftarrow x - \eta f'(x) = (1 - 2\eta)\,x = 0.8\,x` shrinks the distance to
the minimum by the same factor every step. The seed's loop is shown once, by hand, for
teaching; the same descent is then run by ``jl.fit`` (one compiled ``lax.scan``) with
``optax.sgd``, with the toolkit's hand-rolled ``jl.optim.sgd``, and with ``optax.adam``,
whose step is about :math:`\eta` whatever the gradient's size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table, value_range

TITLE = "Gradient descent on f(x) = x² + 10"
SEED_SAYS = (
    "Gradient descent repeats w ← w − learning_rate × gradient. On f(x) = x² + 10 from x = 5 "
    "with learning rate 0.1, 20 iterations \"converge\" to x = 0.057646, f(x) = 10.003323 (true "
    "minimum x = 0, f = 10). Steps are large far from the minimum, where the slope is steep, and "
    "shrink as the slope flattens."
)

X_START = 5.0
LEARNING_RATE = 0.1
ITERATIONS = 20
TOLERANCE = 1e-6
"""Distance to the minimum that counts as converged when we count the steps."""
ADAM_RATES = (0.1, 1.0)


def f(x: Any) -> Any:
    """The seed's function :math:`f(x) = x^2 + 10`."""
    return x**2 + 10.0


def df(x: float) -> float:
    """Its derivative, by hand, as in the seed: :math:`f'(x) = 2x`."""
    return 2 * x


def seed_loop(x: float, learning_rate: float, iterations: int) -> dict[str, list[float]]:
    """The seed's hand-written loop, kept once for teaching (plain Python floats).

    Returns:
      ``{"x": [x_0, ..., x_n], "f": [...], "gradient": [g_0, ..., g_{n-1}]}`` where ``g_i`` is
      the gradient used by step ``i + 1``.
    """
    history = {"x": [x], "f": [f(x)], "gradient": []}
    for _ in range(iterations):
        gradient = df(x)
        x = x - learning_rate * gradient  # the update rule
        history["x"].append(x)
        history["f"].append(f(x))
        history["gradient"].append(gradient)
    return history


def _path(trajectory: jl.Trajectory) -> np.ndarray:
    """x_0 .. x_n from a ``fit`` with ``track_params`` (history holds x before each update)."""
    return np.append(np.asarray(trajectory.params_history), float(trajectory.params))


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """The seed's table, the same descent by ``fit`` with optax/hand SGD and Adam; two figures."""
    del quick  # 20 steps are cheap
    out_dir = Path(out_dir)
    hand = seed_loop(X_START, LEARNING_RATE, ITERATIONS)
    start = jnp.asarray(X_START)
    runs = {
        "optax.sgd": optax.sgd(LEARNING_RATE),
        "jl.optim.sgd (hand-rolled)": jl.optim.sgd(LEARNING_RATE),
        **{f"optax.adam (lr {rate})": optax.adam(rate) for rate in ADAM_RATES},
    }
    paths = {
        name: _path(jl.fit(f, start, optimizer, steps=ITERATIONS, track_params=True))
        for name, optimizer in runs.items()
    }
    hand_x = np.asarray(hand["x"])

    long_run = jl.fit(f, start, optax.sgd(LEARNING_RATE), steps=100, track_params=True)
    long_path = _path(long_run)
    below = np.nonzero(np.abs(long_path) < TOLERANCE)[0]
    steps_to_tolerance = int(below[0]) if below.size else -1
    ratios = hand_x[1:] / hand_x[:-1]

    xs = np.linspace(-6.0, 6.0, 121)
    fig = jl.plots.plot_descent_path(
        xs, f(xs), hand_x, np.asarray(hand["f"]), func_label="f(x) = x² + 10",
        title=f"Gradient descent from x = {X_START:g}, lr {LEARNING_RATE:g}, {ITERATIONS} steps",
        path_label="hand rule (the seed's loop)",
    )
    jl.plots.save_figure(fig, out_dir / "path.png")
    curves = {"hand rule": hand_x**2, **{name: path**2 for name, path in paths.items()}}
    fig = jl.plots.plot_loss_curves(
        curves, title="Distance above the minimum, f(x) − 10 = x² (log scale)",
        xlabel="iteration", ylabel="f(x) − 10",
    )
    jl.plots.save_figure(fig, out_dir / "loss.png")

    table = [
        {"iteration": i + 1, "x": hand["x"][i + 1], "f": hand["f"][i + 1], "gradient": hand["gradient"][i]}
        for i in range(ITERATIONS)
    ]
    return {
        "x0": X_START,
        "learning_rate": LEARNING_RATE,
        "iterations": ITERATIONS,
        "table": table,
        "final_x": hand["x"][-1],
        "final_f": hand["f"][-1],
        "final_x_by_fit": {name: float(path[-1]) for name, path in paths.items()},
        "min_x_by_fit": {name: float(path.min()) for name, path in paths.items()},
        "max_abs_difference_from_hand": {
            name: float(np.max(np.abs(path - hand_x))) for name, path in paths.items()
        },
        "contraction_per_step": [float(ratios.min()), float(ratios.max())],
        "contraction_formula": 1 - 2 * LEARNING_RATE,
        "tolerance": TOLERANCE,
        "steps_to_tolerance": steps_to_tolerance,
        "steps_to_tolerance_formula": math.ceil(math.log(TOLERANCE / X_START) / math.log(1 - 2 * LEARNING_RATE)),
        "step_sizes": np.abs(np.diff(hand_x)).tolist(),
    }


def _seed_rows(metrics: dict[str, Any]) -> list[list[str]]:
    shown = [row for row in metrics["table"] if row["iteration"] <= 10 or row["iteration"] == metrics["iterations"]]
    return [[str(row["iteration"]), f"{row['x']:7.4f}", f"{row['f']:7.4f}", f"{row['gradient']:7.4f}"]
            for row in shown]


def report(metrics: dict[str, Any]) -> str:
    """The seed's table, the comparison with fit + optax/hand SGD and Adam, the figures."""
    differences = metrics["max_abs_difference_from_hand"]
    final = metrics["final_x_by_fit"]
    rows = [[name, f"{final[name]:.6f}", f"{differences[name]:.1e}"] for name in final]
    steps = metrics["step_sizes"]
    return (
        f"The seed's loop (x ← x − {metrics['learning_rate']:g}·2x from x = {metrics['x0']:g}), run by hand "
        "in plain Python — the same columns the seed prints (x and f after the update, and the "
        "gradient that update used):\n\n"
        + markdown_table(["Iteration", "x", "f(x)", "gradient"], _seed_rows(metrics))
        + f"\nAfter {metrics['iterations']} iterations x = {metrics['final_x']:.6f}, "
        f"f(x) = {metrics['final_f']:.6f}, exactly the seed's numbers.\n\n"
        "The same descent with `jl.fit` (one compiled `lax.scan`), same start:\n\n"
        + markdown_table(["Optimizer", f"x after {metrics['iterations']} steps",
                          "max |x − hand rule| along the path"], rows)
        + "\n`optax.sgd` and the hand-rolled `jl.optim.sgd` retrace the hand rule step for step. "
        "Adam does not: its update is ≈ lr·sign(gradient) (the gradient divided by its own running "
        "RMS), so at lr 0.1 it walks 0.1 per step and is still far away after 20 steps, while at "
        f"lr 1.0 it overshoots to x = {metrics['min_x_by_fit']['optax.adam (lr 1.0)']:.2f} and swings back "
        "(it needs a decaying learning rate, or many more steps, to settle).\n\n"
        + figure_link("gradient_descent", "path.png", "The seed's figure: the hand rule's path over the curve")
        + figure_link("gradient_descent", "loss.png", "f(x) − 10 per iteration, log scale: a straight line for SGD (hand, optax and hand-rolled overlap), Adam at two learning rates")
        + f"\nThe steps do shrink as the slope flattens (|Δx| from {steps[0]:.3f} down to {steps[-1]:.4f}): "
        f"every step multiplies x by {_factor_phrase(metrics['contraction_per_step'])} = 1 − 2·lr, so the loss "
        "above the minimum falls by a constant factor per step (linear convergence), not faster.\n\n"
        "Nothing here is random (one fixed start, full gradients), so each run above is the whole "
        "measurement: no seeds to average over.\n"
    )


def _factor_phrase(low_high: list[float]) -> str:
    """'exactly 0.800000' when the smallest and largest ratio x_{k+1}/x_k print alike, else their range."""
    factor = value_range(*low_high, ".6f")
    return f"exactly {factor}" if "–" not in factor else f"{factor} (smallest–largest ratio over the steps)"


def corrections(metrics: dict[str, Any]) -> list[str]:
    """'Converged' after 20 steps: measured distance and the steps really needed."""
    return [
        f"The seed prints \"Converged to x = {metrics['final_x']:.6f}\" after {metrics['iterations']} "
        f"iterations; x is still {metrics['final_x']:.4f} from the minimum and shrinks by a factor "
        f"{metrics['contraction_formula']:g} per step. Measured with `fit`: |x| < {metrics['tolerance']:g} "
        f"first holds after **{metrics['steps_to_tolerance']} steps** "
        f"(formula ⌈ln(1e-6/5)/ln 0.8⌉ = {metrics['steps_to_tolerance_formula']})."
    ]
