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

from ._markdown import figure_link, markdown_table
from ._problems import MOONS_N_TEST as N_TEST
from ._problems import MOONS_N_TRAIN as N_TRAIN
from ._problems import MOONS_NOISE as NOISE
from ._problems import MOONS_OPTIONS as OPTIONS
from ._problems import MOONS_SIZES as SIZES
from ._problems import moons_problem as problem

TITLE = "Practice exercise: a deep ReLU network trained with Adam"
SEED_SAYS = (
    "Practice exercise: \"Train a 3-layer neural network: architecture 2 → 8 → 4 → 1; generate "
    "non-linear classification data; use ReLU activation (try: max(0, x)); implement Adam optimizer "
    "(advanced gradient descent); plot decision boundary.\""
)

ADAM_LR = 0.01
SGD_RATES = (0.01, 0.5)
"""SGD at Adam's learning rate, and at the seed's XOR learning rate."""
STEPS, QUICK_STEPS = 2000, 400
LOSS_TARGET = 0.1
"""Steps to reach this training loss are reported per run."""
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


def _steps_to(losses: np.ndarray, target: float) -> int:
    below = np.flatnonzero(losses < target)
    return int(below[0]) if below.size else -1


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Hand Adam vs optax Adam vs SGD from one start; loss and decision-boundary figures."""
    out_dir = Path(out_dir)
    steps = QUICK_STEPS if quick else STEPS
    data = problem()
    x, y, params = data["x"], data["y"], data["params"]
    loss_fn = jl.manual.mlp_loss_fn(**OPTIONS)
    hand_grad = jl.manual.mlp_grad_fn(**OPTIONS)

    runs = {
        HAND: jl.fit(loss_fn, params, jl.optim.adam(ADAM_LR), steps=steps, args=(x, y), grad_fn=hand_grad),
        OPTAX: jl.fit(loss_fn, params, optax.adam(ADAM_LR), steps=steps, args=(x, y)),
        **{f"optax.sgd (lr {rate})": jl.fit(loss_fn, params, optax.sgd(rate), steps=steps, args=(x, y))
           for rate in SGD_RATES},
    }
    hand, library = runs[HAND], runs[OPTAX]
    loss_difference = np.abs(np.asarray(hand.losses) - np.asarray(library.losses))
    param_difference = max(
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(jax.tree_util.tree_leaves(hand.params), jax.tree_util.tree_leaves(library.params))
    )

    summary = {}
    for name, trajectory in runs.items():
        losses = np.asarray(trajectory.losses, dtype=np.float64)
        evaluation = _evaluate(trajectory.params, data)
        summary[name] = {
            "final_loss": float(trajectory.final_loss),
            "train_accuracy": float(evaluation["train_accuracy"]),
            "test_accuracy": float(evaluation["test_accuracy"]),
            "steps_to_target": _steps_to(losses, LOSS_TARGET),
            "dead_units": [int(d) for d in evaluation["dead_units"]],
            "losses": losses,
        }

    fig = jl.plots.plot_loss_curves(
        {name: s["losses"] for name, s in summary.items()},
        title=f"2→8→4→1 ReLU on two moons: training loss (BCE), same start, {steps} steps",
        xlabel="step", ylabel="binary cross-entropy",
    )
    jl.plots.save_figure(fig, out_dir / "loss.png")
    xx, yy, grid = jl.plots.decision_grid(np.asarray(x), resolution=150, margin=0.5)
    grid = jnp.asarray(grid, x.dtype)
    for filename, name in (("boundary_adam.png", HAND), ("boundary_sgd.png", f"optax.sgd (lr {SGD_RATES[0]})")):
        probabilities = _probabilities(runs[name].params, grid)
        fig = jl.plots.plot_decision_boundary(
            xx, yy, np.asarray(probabilities), np.asarray(x), np.asarray(y),
            title=f"{name}: train accuracy {summary[name]['train_accuracy']:.1%}, "
                  f"test {summary[name]['test_accuracy']:.1%}",
        )
        jl.plots.save_figure(fig, out_dir / filename)

    return {
        "dtype": str(x.dtype),
        "sizes": list(SIZES),
        "n_parameters": int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))),
        "n_train": N_TRAIN,
        "n_test": N_TEST,
        "noise": NOISE,
        "steps": steps,
        "adam_lr": ADAM_LR,
        "loss_target": LOSS_TARGET,
        "initial_loss": float(hand.losses[0]),
        "runs": summary,
        "hand_vs_optax": {
            "max_abs_loss_difference": float(loss_difference.max()),
            "max_rel_loss_difference": float(np.max(loss_difference / np.abs(np.asarray(library.losses)))),
            "max_abs_param_difference": param_difference,
        },
        "final_params": {name: jax.tree_util.tree_map(np.asarray, runs[name].params) for name in (HAND, OPTAX)},
    }


def report(metrics: dict[str, Any]) -> str:
    """The optimizer table, the hand-vs-optax difference and the figures."""
    rows = [
        [name, f"{r['final_loss']:.4f}", f"{r['train_accuracy']:.1%}", f"{r['test_accuracy']:.1%}",
         r["steps_to_target"] if r["steps_to_target"] >= 0 else f"> {metrics['steps']}",
         " + ".join(map(str, r["dead_units"]))]
        for name, r in metrics["runs"].items()
    ]
    diff = metrics["hand_vs_optax"]
    return (
        f"Two moons ({metrics['n_train']} training points, {metrics['n_test']} test points, noise "
        f"{metrics['noise']}), the exercise's {'→'.join(map(str, metrics['sizes']))} ReLU network "
        f"({metrics['n_parameters']} parameters, Glorot start), binary cross-entropy on the logits, "
        f"{metrics['steps']} full-batch steps from one start (initial loss {metrics['initial_loss']:.4f}), "
        f"in {metrics['dtype']}.\n\n"
        + markdown_table(
            ["Run", "final loss", "train acc.", "test acc.", f"steps to loss < {metrics['loss_target']}",
             "dead ReLUs (layer 1 + 2)"], rows)
        + f"\n**Hand-rolled Adam with hand-derived gradients equals `optax.adam` with `jax.grad`:** the "
        f"two loss curves differ by at most {diff['max_abs_loss_difference']:.1e} "
        f"(relative {diff['max_rel_loss_difference']:.1e}) over all {metrics['steps']} steps, and the final "
        f"parameters by {diff['max_abs_param_difference']:.1e} — rounding only; in the figure the two "
        "curves lie on top of each other.\n"
        + figure_link("deep_relu_adam", "loss.png", "Training loss per step (log scale): hand Adam, optax Adam "
                      "(the same curve), SGD at two learning rates")
        + figure_link("deep_relu_adam", "boundary_adam.png", "Decision boundary of the Adam-trained network")
        + figure_link("deep_relu_adam", "boundary_sgd.png",
                      f"Decision boundary of SGD at Adam's learning rate ({SGD_RATES[0]}), same steps")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """Adam is not 'advanced gradient descent' that wins everywhere: measured against tuned SGD."""
    runs = metrics["runs"]
    adam = runs[HAND]
    slow, fast = (runs[f"optax.sgd (lr {rate})"] for rate in SGD_RATES)
    same_minimum = abs(fast["final_loss"] - adam["final_loss"]) <= 0.25 * adam["final_loss"]
    verdict = (
        "Adam's advantage here is that its learning rate is easier to pick, not a better minimum"
        if same_minimum else
        f"tuned SGD ends {'above' if fast['final_loss'] > adam['final_loss'] else 'below'} Adam within the same steps"
    )
    return [
        f"The exercise calls Adam \"advanced gradient descent\". Its step is "
        f"η·m̂/(√v̂ + ε), roughly η per parameter whatever the gradient's size, so at the same "
        f"lr {metrics['adam_lr']} Adam reaches loss {adam['final_loss']:.3f} while plain SGD is still at "
        f"{slow['final_loss']:.3f} after {metrics['steps']} steps; but SGD with its own learning rate "
        f"({SGD_RATES[1]}) reaches {fast['final_loss']:.3f} (test accuracy {fast['test_accuracy']:.1%} vs "
        f"Adam's {adam['test_accuracy']:.1%}): {verdict} (lesson 9 sweeps both).",
    ]
