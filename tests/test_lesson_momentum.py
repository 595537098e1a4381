"""Lesson 14 (momentum) in quick mode: its outputs, and its best runs re-trained independently with ``fit``.

The lesson's numbers come from one ``jl.sweep`` with minibatches, a momentum grid and a
validation ``eval_fn``. Here each seed of each momentum's best learning rate is trained
again by :func:`jaxopt_lessons.fit` (its own compiled loop and batch drawing, the same
key) and the validation loss is evaluated eagerly; the lesson's median and range must
be those numbers.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import optax
from helpers import check_lesson_outputs, experiments_package, lesson

import jaxopt_lessons as jl

experiments_package()  # `experiments` lives at the repository root, not in the package
from experiments import momentum  # noqa: E402


@lesson("momentum")
def test_outputs_and_report(results):
    check_lesson_outputs(results, "momentum", ["effective_lr.png", "heatmap.png", "validation.png"],
                         require_corrections=True)
    metrics = results("momentum")
    config = metrics["config"]
    assert metrics["n_lanes"] == config["n_rates"] * len(config["momenta"]) * config["seeds"]
    assert [s["momentum"] for s in metrics["summaries"]] == config["momenta"]


@lesson("momentum")
def test_best_runs_equal_fit_with_the_same_batches(results, x64):
    metrics = results("momentum")
    config = {**momentum.settings(True), **{k: v for k, v in metrics["config"].items() if k in ("steps", "seeds")}}
    (x, y), (x_val, y_val) = momentum.data(config)
    for summary in metrics["summaries"]:
        factory = functools.partial(optax.sgd, momentum=summary["momentum"])
        finals = []
        for seed in range(config["seeds"]):
            trajectory = jl.fit(momentum.loss_fn, momentum.init(jax.random.key(seed)), factory,
                                learning_rate=summary["best_lr"], steps=config["steps"], args=(x, y),
                                batch_size=momentum.BATCH_SIZE, key=jax.random.key(seed))
            finals.append(float(momentum.loss_fn(trajectory.params, x_val, y_val)))
        expected = [np.median(finals), min(finals), max(finals)]
        # float64; large rates amplify the layouts' different summation order (~1e-9 seen)
        np.testing.assert_allclose(summary["best_val"], expected, rtol=1e-6)
        assert summary["best_effective_lr"] == summary["best_lr"] / (1 - summary["momentum"])
