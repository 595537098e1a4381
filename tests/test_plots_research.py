"""``jaxopt_lessons.plots.research``: each figure draws what it is given, and rejects bad input.

Structure is checked on the returned ``Figure`` (axes, lines, scales, labels); no pixels.
Plotting never trains, so these tests need no JAX computation at all.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxopt_lessons import plots
from jaxopt_lessons.plots import research

RATES = np.geomspace(1e-3, 1.0, 7)


@pytest.fixture(autouse=True)
def no_pyplot_leak():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before  # figures are built without pyplot's global state


def test_all_is_exported_from_plots():
    assert set(research.__all__) == {"plot_lora", "plot_lr_finder", "plot_optimizer_sweeps", "plot_power_law",
                                     "plot_sharpness_trace"}
    for name in research.__all__:
        assert getattr(plots, name) is getattr(research, name)
        assert getattr(research, name).__doc__


def test_plot_optimizer_sweeps_draws_lines_best_ranges_and_divergence():
    losses = {"sgd": [0.6, 0.4, 0.2, 0.1, 0.3, 5.0, np.inf], "adam": [0.3, 0.1, 0.05, 0.06, 0.2, 0.6, 0.7]}
    fig = plots.plot_optimizer_sweeps(
        {name: RATES for name in losses}, losses,
        best={"sgd": (RATES[3], 0.1), "adam": (RATES[2], 0.05)},
        good_ranges={"sgd": (RATES[2], RATES[3]), "adam": (RATES[1], RATES[3])},
        diverged={"sgd": [0, 0, 0, 0, 0, 1, 1], "adam": np.zeros(7, bool)},
        reference=0.69,
    )
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert "sgd" in labels and "adam" in labels and "reference" in labels
    sgd_line = next(line for line in ax.get_lines() if line.get_label() == "sgd")
    assert np.isnan(sgd_line.get_ydata()[-2:]).all()  # diverged runs are not on the line
    assert len(ax.patches) == 2  # one good-range band per optimizer
    assert ax.get_xlabel() == "learning rate"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(learning_rates={"a": RATES}, final_losses={"b": RATES}), ValueError),
        (dict(learning_rates={"a": RATES}, final_losses={"a": RATES[:3]}), ValueError),
        (dict(learning_rates={"a": -RATES}, final_losses={"a": RATES}), ValueError),
        (dict(learning_rates=[RATES], final_losses={"a": RATES}), TypeError),
        (dict(learning_rates={}, final_losses={}), ValueError),
        (dict(learning_rates={"a": RATES}, final_losses={"a": RATES}, best={"z": (1.0, 1.0)}), ValueError),
        (dict(learning_rates={"a": RATES}, final_losses={"a": RATES}, diverged={"a": [True]}), ValueError),
    ],
)
def test_plot_optimizer_sweeps_rejects_bad_input(kwargs, error):
    with pytest.raises(error):
        plots.plot_optimizer_sweeps(**kwargs)


def test_plot_lr_finder_two_panels_with_vertical_lines():
    rates = np.geomspace(1e-4, 10, 50)
    smoothed = np.where(np.arange(50) < 45, 1.0 / (1 + rates), np.nan)
    fig = plots.plot_lr_finder(rates, smoothed, raw_losses=smoothed * 1.1,
                               suggestions={"steep": 0.1, "valley": float("nan")},
                               markers={"sweep best": 0.3}, sweep_learning_rates=RATES,
                               sweep_final_losses=np.linspace(1, 0.1, 7))
    top, bottom = fig.axes
    assert top.get_xscale() == "log"
    vertical = [line for line in top.get_lines() if len(set(line.get_xdata())) == 1]
    assert len(vertical) == 2  # the NaN suggestion is skipped
    assert any("steep" in line.get_label() for line in vertical)
    assert len([line for line in bottom.get_lines() if len(set(line.get_xdata())) == 1]) == 2


def test_plot_lr_finder_one_panel_and_errors():
    rates = np.geomspace(1e-4, 10, 5)
    fig = plots.plot_lr_finder(rates, np.ones(5))
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="both"):
        plots.plot_lr_finder(rates, np.ones(5), sweep_learning_rates=rates)
    with pytest.raises(ValueError, match="same length"):
        plots.plot_lr_finder(rates, np.ones(4))
    with pytest.raises(TypeError, match="suggestions"):
        plots.plot_lr_finder(rates, np.ones(5), suggestions=[0.1])


def test_plot_sharpness_trace_threshold_lines_and_view():
    steps = np.arange(10) * 50
    fig = plots.plot_sharpness_trace(
        steps, {"lr 0.1": np.linspace(14, 20, 10), "lr 0.02": np.linspace(14, 18, 10)},
        {"lr 0.1": 0.1, "lr 0.02": 0.02},
        losses={"lr 0.1": np.geomspace(1, 0.01, 10), "lr 0.02": np.geomspace(1, 0.1, 10)}, loss_steps=steps,
    )
    top, bottom = fig.axes
    thresholds = sorted(line.get_ydata()[0] for line in top.get_lines() if line.get_linestyle() == "--")
    assert thresholds == pytest.approx([20.0, 100.0])
    assert top.get_ylim()[1] < 100  # a far threshold does not squash the traces
    assert any("above the view" in line.get_label() for line in top.get_lines())
    assert bottom.get_yscale() == "log"


@pytest.mark.parametrize(
    "sharpness, rates, error",
    [({"a": [1.0, 2.0]}, {"b": 0.1}, ValueError), ({"a": [1.0, 2.0]}, {"a": 0.0}, ValueError),
     ({"a": [1.0]}, {"a": 0.1}, ValueError)],
)
def test_plot_sharpness_trace_rejects_bad_input(sharpness, rates, error):
    with pytest.raises(error):
        plots.plot_sharpness_trace([0, 1], sharpness, rates)


def test_plot_lora_panels_and_reference_lines():
    fig = plots.plot_lora([1, 2, 4], [0.02, 0.004, 0.002], [131, 262, 524], full_loss=0.004, full_params=1185,
                          frozen_loss=7.5)
    left, right = fig.axes
    assert left.get_xscale() == "log" and right.get_xscale() == "log"
    horizontal = [line.get_ydata()[0] for line in left.get_lines() if len(set(line.get_ydata())) == 1
                  and len(line.get_ydata()) == 2]
    assert sorted(horizontal) == pytest.approx([0.004, 7.5])
    assert any(line.get_marker() == "s" for line in right.get_lines())  # full fine-tuning point
    with pytest.raises(ValueError):
        plots.plot_lora([1, 2], [0.1], [1, 2], full_loss=0.1, full_params=10)
    with pytest.raises(ValueError):
        plots.plot_lora([0, 2], [0.1, 0.2], [1, 2], full_loss=0.1, full_params=10)


def test_plot_power_law_curve_matches_parameters():
    sizes = np.array([4.0, 8.0, 16.0, 32.0])
    a, alpha, c = 2.0, 1.5, 0.01
    fig = plots.plot_power_law(sizes, a * sizes**-alpha + c, a=a, alpha=alpha, c=c,
                               points=(sizes, a * sizes**-alpha + c), excluded=([1.0, 2.0], [0.3, 0.25]))
    left, right = fig.axes
    curve = next(line for line in left.get_lines() if line.get_label().startswith("fit"))
    x, y = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(y, a * x**-alpha + c)
    assert x.min() == pytest.approx(1.0)  # the curve spans the excluded points too
    assert "1.500" in curve.get_label()
    straight = next(line for line in right.get_lines() if "slope" in line.get_label())
    np.testing.assert_allclose(straight.get_ydata(), a * straight.get_xdata() ** -alpha)
    with pytest.raises(ValueError):
        plots.plot_power_law(sizes, sizes[:2], a=a, alpha=alpha, c=c)
    with pytest.raises(TypeError):
        plots.plot_power_law(sizes, sizes, a="big", alpha=alpha, c=c)


def test_figures_save_headless(tmp_path):
    fig = plots.plot_power_law([1, 2, 4], [1.0, 0.6, 0.4], a=1.0, alpha=0.8, c=0.1)
    path = plots.save_figure(fig, tmp_path / "power_law.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
