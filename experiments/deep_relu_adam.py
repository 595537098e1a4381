r"""Lesson 8 — the practice exercise: a 2 → 8 → 4 → 1 ReLU network trained with Adam.

The seed ends with an exercise: train a 3-layer network (2 → 8 → 4 → 1) with ReLU
activations on non-linear classification data, implement Adam, plot the decision
boundary. Here the data are two noisy moons; the loss is the binary cross-entropy of the
logits, :math:`\ell = -\frac1n\sum_i [y_i\log\sigma(z_i) + (1-y_i)\log(1-\sigma(z_i))]`.

Adam (Kingma & Ba, 2015) keeps moving averages of the gradient and of its square,
:math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`, :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2`,
and steps :math:`\theta \leftarrow \theta - \eta\,\hat m_t/(\sqrt{\hat v_t} + \epsilon)` with the
bias corrections :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)`.

The lesson trains the exercise twice from the same start: the *hand* pipeline
(backpropagation written out, ``jl.manual.mlp_grad``, and the hand-rolled ``jl.optim.adam``)
and the *library* pipeline (``jax.grad`` and ``optax.adam``), and measures how far apart
the two loss curves are. Plain SGD from the same start shows what Adam buys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._common import SEEDS, say, show_progress
from ._markdown import figure_link, markdown_table, median_range, plural
from ._problems import MOONS_N_TEST as N_TEST
from ._problems import MOONS_N_TRAIN as N_TRAIN
from ._problems import MOONS_NOISE as NOISE
from ._problems import MOONS_OPTIONS as OPTIONS
from ._problems import MOONS_SIZES as SIZES
from ._problems import OPTIMIZERS as OPTIMIZER_TABLE
from ._problems import learning_rates, moons_init, sweep_steps
from ._problems import moons_problem as problem
from ._stats import at_best, compare, seed_table, spread

SWEPT = ("SGD", "Adam")
"""Lesson 9's optax SGD and Adam: the same factories, grid, starts and steps, hence the same compiled sweeps."""

TITLE = "Practice exercise: a deep ReLU network trained with Adam"
SEED_SAYS = (
    "Practice exercise: \"Train a 3-layer neural network: architecture 2 → 8 → 4 → 1; generate "
    "non-linear classification data; use ReLU activation (try: max(0, x)); implement Adam optimizer "
    "(advanced gradient descent); plot decision boundary.\""
)

ADAM_LR = 0.01
"""Adam's learning rate in the one-start comparison, and the rate where SGD meets Adam on equal terms."""
LOSS_TARGET = 0.1
"""Steps to reach this training loss are reported per run."""
FIXED_START_SEED = 2
"""``moons_init(jax.random.key(2))`` is the fixed start of ``moons_problem()`` (the figures' start)."""
HAND, OPTAX = "hand: backprop + jl.optim.adam", "library: jax.grad + optax.adam"


@jax.jit
def _evaluate(params: Any, data: dict[str, Any]) -> dict[str, jax.Array]:
    """Accuracies and dead ReLU units (per hidden layer: zero on every training point)."""
    dead, h = [], data["x"]
    for layer in params[:-1]:
        z = h @ layer["W"] + layer["b"]
        dead.append(jnp.sum(jnp.all(z <= 0, axis=0)))
        h = jax.nn.relu(z)
    return {
        "train_accuracy": jl.accuracy(jl.mlp(params, data["x"]), data["y"]),
        "test_accuracy": jl.accuracy(jl.mlp(params, data["x_test"]), data["y_test"]),
        "dead_units": jnp.stack(dead),
    }


@jax.jit
def _probabilities(params: Any, points: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(jl.mlp(params, points))


def _seed_sweep(steps: int, rates: np.ndarray, data: dict[str, Any]) -> Any:
    """SGD and Adam from :data:`SEEDS` random starts over lesson 9's grid (the same compiled sweeps)."""
    say(f"sweep: SGD and Adam x {SEEDS} starts x {rates.size} learning rates, {steps} steps")
    return jl.sweep(jl.manual.mlp_loss_fn(**OPTIONS), moons_init, {name: OPTIMIZER_TABLE[name][0] for name in SWEPT},
                    rates, steps=steps, args=(data["x"], data["y"]), seeds=SEEDS, progress=show_progress())


def _seed_rows(result: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Adam and SGD at Adam's rate and each at its own best rate: median and range over the starts."""
    evaluation = jax.vmap(_evaluate, in_axes=(0, None))(jax.tree_util.tree_map(jnp.asarray, result.params), data)
    below = np.asarray(result.losses, dtype=np.float64) < LOSS_TARGET
    reached = np.where(below.any(axis=1), below.argmax(axis=1) * result.record_every, np.inf)
    per_lane = {
        "final_loss": np.asarray(result.final_loss, dtype=np.float64),
        "train_accuracy": np.asarray(evaluation["train_accuracy"], dtype=np.float64),
        "test_accuracy": np.asarray(evaluation["test_accuracy"], dtype=np.float64),
        "steps_to_target": reached,
        "dead_units": np.asarray(evaluation["dead_units"]).sum(axis=1).astype(np.float64),
    }
    rows = {}
    for name in ("Adam", "SGD"):
        table = seed_table(result, name)
        best = at_best(table)
        columns = {f"{name} at Adam's lr": int(np.argmin(np.abs(np.log(table.rates / ADAM_LR))))}
        if best is not None:
            columns[f"{name} at its best lr"] = best["index"]
        for label, column in columns.items():
            lanes = table.lanes[:, column]
            rows[label] = {
                "optimizer": name, "learning_rate": float(table.rates[column]), "n_seeds": int(lanes.size),
                "n_diverged": int(table.diverged[:, column].sum()),
                **{key: spread(values[lanes]) for key, values in per_lane.items()},
            }
    return rows


def _figures(out_dir: Path, data: dict[str, Any], one_start: dict[str, Any], hand_params: Any, result: Any,
             seeds: dict[str, Any], steps: int) -> None:
    """loss.png and the two boundaries, all from the fixed start (the sweep's seed FIXED_START_SEED)."""
    x, y = data["x"], data["y"]
    sgd_table = seed_table(result, "SGD")
    row = int(np.flatnonzero(sgd_table.seeds == FIXED_START_SEED)[0])
    sgd_lanes = {entry["learning_rate"]: int(sgd_table.lanes[row, np.flatnonzero(sgd_table.rates == entry["learning_rate"])[0]])
                 for entry in seeds.values() if entry["optimizer"] == "SGD"}
    curves = {name: run["losses"] for name, run in one_start.items()}
    curves.update({f"optax.sgd (lr {rate:.3g})": result.losses[lane] for rate, lane in sgd_lanes.items()})
    fig = jl.plots.plot_loss_curves(
        curves, title=f"2→8→4→1 ReLU on two moons: training loss (BCE) from one start, {steps} steps",
        xlabel="step", ylabel="binary cross-entropy",
    )
    jl.plots.save_figure(fig, out_dir / "loss.png")
    xx, yy, grid = jl.plots.decision_grid(np.asarray(x), resolution=150, margin=0.5)
    grid = jnp.asarray(grid, x.dtype)
    slow_rate = seeds["SGD at Adam's lr"]["learning_rate"]
    sgd_slow = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf[sgd_lanes[slow_rate]]), result.params)
    for filename, name, trained in (("boundary_adam.png", HAND, hand_params),
                                    ("boundary_sgd.png", f"optax.sgd (lr {slow_rate:.3g})", sgd_slow)):
        evaluation = _evaluate(trained, data)
        fig = jl.plots.plot_decision_boundary(
            xx, yy, np.asarray(_probabilities(trained, grid)), np.asarray(x), np.asarray(y),
            title=f"{name}, one start: train accuracy {float(evaluation['train_accuracy']):.1%}, "
                  f"test {float(evaluation['test_accuracy']):.1%}",
        )
        jl.plots.save_figure(fig, out_dir / filename)


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Hand Adam vs optax Adam from one start; Adam vs SGD over 5 starts; loss and boundary figures."""
    out_dir = Path(out_dir)
    steps = sweep_steps(quick)
    rates = learning_rates(quick)
    data = problem()
    x, y, params = data["x"], data["y"], data["params"]
    loss_fn = jl.manual.mlp_loss_fn(**OPTIONS)
    hand_grad = jl.manual.mlp_grad_fn(**OPTIONS)

    say(f"hand Adam and optax Adam from one start, {steps} steps")
    hand = jl.fit(loss_fn, params, jl.optim.adam(ADAM_LR), steps=steps, args=(x, y), grad_fn=hand_grad)
    library = jl.fit(loss_fn, params, optax.adam(ADAM_LR), steps=steps, args=(x, y))
    loss_difference = np.abs(np.asarray(hand.losses) - np.asarray(library.losses))
    param_difference = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree_util.tree_leaves(hand.params), jax.tree_util.tree_leaves(library.params))
    )
    one_start = {}
    for name, trajectory in ((HAND, hand), (OPTAX, library)):
        evaluation = _evaluate(trajectory.params, data)
        one_start[name] = {
            "final_loss": float(trajectory.final_loss),
            "train_accuracy": float(evaluation["train_accuracy"]),
            "test_accuracy": float(evaluation["test_accuracy"]),
            "losses": np.asarray(trajectory.losses, dtype=np.float64),
        }

    result = _seed_sweep(steps, rates, data)
    seeds = _seed_rows(result, data)
    _figures(out_dir, data, one_start, hand.params, result, seeds, steps)

    adam, sgd_same = seeds["Adam at Adam's lr"], seeds["SGD at Adam's lr"]
    adam_best, sgd_best = seeds["Adam at its best lr"], seeds["SGD at its best lr"]
    return {
        "dtype": str(x.dtype),
        "sizes": list(SIZES),
        "n_parameters": int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))),
        "n_train": N_TRAIN,
        "n_test": N_TEST,
        "noise": NOISE,
        "steps": steps,
        "adam_lr": ADAM_LR,
        "learning_rates": rates,
        "n_learning_rates": int(rates.size),
        "sgd_own_lr": sgd_best["learning_rate"],
        "loss_target": LOSS_TARGET,
        "initial_loss": float(hand.losses[0]),
        "n_seeds": SEEDS,
        "fixed_start_seed": FIXED_START_SEED,
        "one_start": one_start,
        "seeds": seeds,
        "adam_vs_sgd_same_lr": compare(adam["final_loss"], sgd_same["final_loss"]),
        "adam_vs_sgd_best_loss": compare(adam_best["final_loss"], sgd_best["final_loss"]),
        "adam_vs_sgd_best_test": compare(adam_best["test_accuracy"], sgd_best["test_accuracy"]),
        "hand_vs_optax": {
            "max_abs_loss_difference": float(loss_difference.max()),
            "max_rel_loss_difference": float(np.max(loss_difference / np.abs(np.asarray(library.losses)))),
            "max_abs_param_difference": param_difference,
        },
        "final_params": {name: jax.tree_util.tree_map(np.asarray, trained)
                         for name, trained in ((HAND, hand.params), (OPTAX, library.params))},
    }


def _cell(entry: dict[str, float], fmt: str) -> str:
    return median_range(entry["median"], entry["low"], entry["high"], fmt)


def _steps_cell(entry: dict[str, float], steps: int) -> str:
    if not np.isfinite(entry["high"]):
        reached = "not every seed" if np.isfinite(entry["low"]) else "no seed"
        return f"{reached} within {steps}"
    return median_range(entry["median"], entry["low"], entry["high"], ".0f")


def report(metrics: dict[str, Any]) -> str:
    """The seeds table, the hand-vs-optax difference and the figures."""
    rows = [
        [f"{label} ({row['learning_rate']:.3g})", _cell(row["final_loss"], ".3g"),
         _cell(row["train_accuracy"], ".1%"), _cell(row["test_accuracy"], ".1%"),
         _steps_cell(row["steps_to_target"], metrics["steps"]), _cell(row["dead_units"], ".0f"), row["n_diverged"]]
        for label, row in metrics["seeds"].items()
    ]
    diff = metrics["hand_vs_optax"]
    return (
        f"Two moons ({metrics['n_train']} training points, {metrics['n_test']} test points, noise "
        f"{metrics['noise']}), the exercise's {'→'.join(map(str, metrics['sizes']))} ReLU network "
        f"({metrics['n_parameters']} parameters, Glorot start), binary cross-entropy on the logits, "
        f"{metrics['steps']} full-batch steps, in {metrics['dtype']}.\n\n"
        f"**Adam against SGD over {plural(metrics['n_seeds'], 'random start')}** (one `jl.sweep` of "
        f"{metrics['n_learning_rates']} learning rates from {metrics['learning_rates'][0]:g} to "
        f"{metrics['learning_rates'][-1]:g}, seeds 0–{metrics['n_seeds'] - 1}, the runs lesson 9 sweeps): each "
        "optimizer at Adam's learning rate and at its own best one (lowest median final loss); each cell is the "
        "median over the starts with the lowest–highest in brackets.\n\n"
        + markdown_table(
            ["Run", "final loss", "train acc.", "test acc.", f"steps to loss < {metrics['loss_target']}",
             "dead ReLUs (both layers)", "diverged starts"], rows)
        + f"\n**Hand-rolled Adam with hand-derived gradients equals `optax.adam` with `jax.grad`** (one "
        f"start, seed {metrics['fixed_start_seed']}): the two loss curves differ by at most "
        f"{diff['max_abs_loss_difference']:.1e} (relative {diff['max_rel_loss_difference']:.1e}) over all "
        f"{metrics['steps']} steps, and the final parameters by {diff['max_abs_param_difference']:.1e} — rounding "
        "only; in the figure the two curves lie on top of each other.\n"
        + figure_link("deep_relu_adam", "loss.png", "Training loss per step from one start (log scale): hand Adam, "
                      "optax Adam (the same curve), SGD at Adam's learning rate and at its own best")
        + figure_link("deep_relu_adam", "boundary_adam.png", "Decision boundary of the Adam-trained network "
                      "(one start)")
        + figure_link("deep_relu_adam", "boundary_sgd.png",
                      "Decision boundary of SGD at Adam's learning rate, same start and steps")
    )


_VERDICT = {"lower": "below", "higher": "above", "overlap": "within the seed spread of"}


def corrections(metrics: dict[str, Any]) -> list[str]:
    """Adam is not 'advanced gradient descent' that wins everywhere: measured against SGD at its own rate."""
    seeds = metrics["seeds"]
    adam, slow = seeds["Adam at Adam's lr"], seeds["SGD at Adam's lr"]
    adam_best, sgd_best = seeds["Adam at its best lr"], seeds["SGD at its best lr"]
    n = plural(metrics["n_seeds"], "start")
    verdict = _best_vs_best(metrics["adam_vs_sgd_best_loss"], metrics["adam_vs_sgd_best_test"])
    return [
        f"The exercise calls Adam \"advanced gradient descent\". Its step is η·m̂/(√v̂ + ε), roughly η per "
        f"parameter whatever the gradient's size, so at the same lr {metrics['adam_lr']} Adam reaches a median "
        f"loss of {_cell(adam['final_loss'], '.3g')} over {n} while plain SGD is still at "
        f"{_cell(slow['final_loss'], '.3g')} after {metrics['steps']} steps (Adam "
        f"{_VERDICT[metrics['adam_vs_sgd_same_lr']]} SGD). Each at its own best learning rate (Adam "
        f"{adam_best['learning_rate']:.3g}, SGD {sgd_best['learning_rate']:.3g}) the final losses are "
        f"{_cell(adam_best['final_loss'], '.3g')} and {_cell(sgd_best['final_loss'], '.3g')} (Adam "
        f"{_VERDICT[metrics['adam_vs_sgd_best_loss']]} SGD) and the test accuracies "
        f"{_cell(adam_best['test_accuracy'], '.1%')} and {_cell(sgd_best['test_accuracy'], '.1%')} (Adam "
        f"{_VERDICT[metrics['adam_vs_sgd_best_test']]} SGD): {verdict} (lesson 9 sweeps five optimizers).",
    ]


def _best_vs_best(loss: str, test: str) -> str:
    """What 'Adam vs SGD, each at its best rate' shows, from the two range comparisons."""
    if test == "lower":
        return ("on held-out points SGD at its own rate does better beyond the seed spread, so Adam's advantage "
                "here is a learning rate that is easier to pick, not a better network")
    if test == "higher":
        return "on held-out points Adam does better beyond the seed spread"
    if loss == "overlap":
        return "Adam's advantage here is a learning rate that is easier to pick, not a better network"
    better = "Adam" if loss == "lower" else "SGD"
    return f"{better} fits the training set better beyond the seed spread, but not the held-out points"
