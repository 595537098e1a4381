"""``jaxopt_lessons.plots.sweeps``: status colours for every status, and the hyperparameter heat map.

The results are plain objects with a sweep result's fields, built by hand so that every
cell's median is known in advance; the figure's colour array is compared with those
numbers. Plotting never trains, so these tests run no JAX computation.
"""

from __future__ import annotations

import types

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import LogNorm, to_rgba

from jaxopt_lessons import plots
from jaxopt_lessons.plots import sweeps as sweep_plots
from jaxopt_lessons.sweeps.status import STATUSES


@pytest.fixture(autouse=True)
def no_pyplot_leak():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


def fake_result(metric, status, *, lrs, values, seeds, name="momentum", optimizers=None, extra=None, eval_=True):
    """A sweep-result-like object, lanes ordered seed x value x lr (one optimizer unless given)."""
    seed_grid, value_grid, lr_grid = (a.ravel() for a in np.meshgrid(seeds, values, lrs, indexing="ij"))
    n = seed_grid.size
    hyperparams = {name: value_grid.astype(float), **(extra or {})}
    metric = np.asarray(metric, dtype=float).reshape(n)
    return types.SimpleNamespace(
        learning_rates=lr_grid.astype(float), seeds=seed_grid, hyperparams=hyperparams,
        optimizers=np.asarray(optimizers if optimizers is not None else ["sgd"] * n),
        final_loss=metric * 10 if eval_ else metric, final_eval=metric if eval_ else None,
        metric_name="final_eval" if eval_ else "final_loss", status=np.asarray(status).reshape(n),
        diverged_at=np.where(np.asarray(status).reshape(n) == "diverged", 3, -1), steps=10,
    )


def test_every_registered_status_has_its_own_colour():
    assert set(STATUSES) <= set(sweep_plots.STATUS_COLORS)
    colours = [to_rgba(sweep_plots.STATUS_COLORS[name]) for name in STATUSES]
    assert len(set(colours)) == len(colours)
    assert sweep_plots.status_color("a status from the future") == sweep_plots.UNKNOWN_STATUS_COLOR
    assert to_rgba(sweep_plots.UNKNOWN_STATUS_COLOR) not in colours
    assert plots.plot_hyperparam_heatmap is sweep_plots.plot_hyperparam_heatmap


def test_unknown_statuses_are_drawn_under_their_own_name():
    status = np.array([["converged", "future", "diverged"]] * 2)
    result = fake_result([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]], status, lrs=[0.1, 1.0, 10.0], values=[0.0],
                         seeds=[0, 1])
    labels = [t.get_text() for t in sweep_plots.plot_sweep(result).axes[0].get_legend().get_texts()]
    assert {"converged", "future", "diverged"} <= set(labels)
    fig = sweep_plots.plot_seed_lr_heatmap(result, value="status")
    ticks = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert ticks[: len(STATUSES)] == list(STATUSES) and ticks[-1] == "future"
    image = fig.axes[0].get_images()[0]
    colour = image.cmap(image.norm(image.get_array()[0, 1]))
    assert np.allclose(colour, to_rgba(sweep_plots.UNKNOWN_STATUS_COLOR))


LRS, VALUES, SEEDS = [0.01, 0.1, 1.0], [0.0, 0.9], [0, 1, 2]


def heatmap_case():
    """metric[seed, value, lr]; value 0.9 at lr 1.0 fails for 2 seeds of 3, at lr 0.1 for one."""
    metric = np.array([[[0.5, 0.2, 0.1], [0.3, 0.05, 9.0]],
                       [[0.6, 0.3, 0.2], [0.4, 0.07, np.nan]],
                       [[0.7, 0.1, 0.3], [0.2, 0.06, 7.0]]])
    status = np.full(metric.shape, "slow", dtype=object)
    status[1, 1, 2] = "diverged"
    status[2, 1, 2] = "unstable"
    status[0, 1, 1] = "unstable"  # a failure whose metric is finite still counts as failed
    expected = np.array([[0.6, 0.2, 0.2], [0.3, 0.07, np.nan]])  # median with failures as +inf
    return metric, status, expected


def test_heatmap_colours_are_the_median_metric_across_seeds_with_failures_marked():
    metric, status, expected = heatmap_case()
    fig = sweep_plots.plot_hyperparam_heatmap(fake_result(metric, status, lrs=LRS, values=VALUES, seeds=SEEDS),
                                              "momentum")
    ax = fig.axes[0]
    mesh = ax.collections[0]
    shown = np.ma.filled(np.ma.asarray(mesh.get_array()).reshape(2, 3).astype(float), np.nan)
    np.testing.assert_allclose(shown, expected, equal_nan=True)
    assert isinstance(mesh.norm, LogNorm) and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.9"] and ax.get_ylabel() == "momentum"
    assert "final_eval" in ax.get_title() and "3 seeds" in fig.axes[1].get_ylabel()
    marks = {h.get_label(): h for h in fig.legends[0].legend_handles}
    crosses = next(c for c in ax.collections[1:] if c.get_label() == "≥ half the seeds failed")
    np.testing.assert_allclose(crosses.get_offsets(), [[1.0, 1.0]])
    dots = next(c for c in ax.collections[1:] if c.get_label() == "some seeds failed")
    np.testing.assert_allclose(dots.get_offsets(), [[0.1, 1.0]])
    assert any("best cell: 0.07 at lr 0.1" in label for label in marks)
    row_best = ax.collections[-2].get_offsets()  # each row's best learning rate
    np.testing.assert_allclose(row_best, [[0.1, 0.0], [0.1, 1.0]])


def test_heatmap_uses_final_loss_without_eval_and_a_linear_scale_for_negative_values():
    metric, status, _ = heatmap_case()
    fig = sweep_plots.plot_hyperparam_heatmap(
        fake_result(np.nan_to_num(metric) - 1.0, np.full(metric.shape, "slow"), lrs=LRS, values=VALUES,
                    seeds=SEEDS, eval_=False), "momentum")
    assert "final_loss" in fig.axes[0].get_title()
    assert not isinstance(fig.axes[0].collections[0].norm, LogNorm) and "linear" in fig.axes[1].get_ylabel()


def test_heatmap_picks_an_optimizer_and_fixes_other_hyperparameters():
    metric, status, expected = heatmap_case()
    both = np.concatenate([metric.ravel(), 2 * metric.ravel()])
    twice = lambda a: np.concatenate([a.ravel(), a.ravel()])  # noqa: E731
    result = fake_result(metric, status, lrs=LRS, values=VALUES, seeds=SEEDS)
    result = types.SimpleNamespace(**{**vars(result), "final_eval": both, "final_loss": both,
                                      "learning_rates": twice(result.learning_rates), "seeds": twice(result.seeds),
                                      "status": twice(result.status), "diverged_at": twice(result.diverged_at),
                                      "optimizers": np.repeat(["sgd", "adam"], metric.size),
                                      "hyperparams": {"momentum": twice(result.hyperparams["momentum"])}})
    fig = sweep_plots.plot_hyperparam_heatmap(result, "momentum", optimizer="adam")
    shown = np.ma.filled(np.ma.asarray(fig.axes[0].collections[0].get_array()).reshape(2, 3).astype(float), np.nan)
    np.testing.assert_allclose(shown, 2 * expected, equal_nan=True)
    with pytest.raises(ValueError, match=r"unknown optimizer 'lion'.*'sgd', 'adam'"):
        sweep_plots.plot_hyperparam_heatmap(result, "momentum", optimizer="lion")
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'b1'; the sweep has 'momentum'"):
        sweep_plots.plot_hyperparam_heatmap(result, "b1")
    other = fake_result(metric, status, lrs=LRS, values=VALUES, seeds=SEEDS,
                        extra={"decay": np.tile([0.0, 1.0], metric.size // 2)})
    with pytest.raises(ValueError, match=r"also varies 'decay'.*where="):
        sweep_plots.plot_hyperparam_heatmap(other, "momentum")
    fig = sweep_plots.plot_hyperparam_heatmap(other, "momentum", where={"decay": 1.0})
    assert fig.axes[0].collections[0].get_array().size == 6
    with pytest.raises(TypeError, match="SweepResult"):
        sweep_plots.plot_hyperparam_heatmap(object(), "momentum")
