"""``jaxopt_lessons.plots.research`` and ``.step_size``: each figure draws what it is given, rejects bad input.

Structure is checked on the returned ``Figure`` (axes, lines, scales, labels); no pixels.
Plotting never trains, so these tests need no JAX computation at all.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxopt_lessons import plots
from jaxopt_lessons.plots import research, step_size

RATES = np.geomspace(1e-3, 1.0, 7)


@pytest.fixture(autouse=True)
def no_pyplot_leak():
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before  # figures are built without pyplot's global state


def test_all_is_exported_from_plots():
    assert set(research.__all__) == {"plot_lora", "plot_optimizer_sweeps", "plot_power_law"}
    assert set(step_size.__all__) == {"plot_lr_finder", "plot_sharpness_trace"}
    for module in (research, step_size):
        for name in module.__all__:
            assert getattr(plots, name) is getattr(module, name)
            assert getattr(module, name).__doc__


def test_plot_optimizer_sweeps_draws_lines_best_ranges_and_divergence():
    losses = {"sgd": [0.6, 0.4, 0.2, 0.1, 0.3, 5.0, np.inf], "adam": [0.3, 0.1, 0.05, 0.06, 0.2, 0.6, 0.7]}
    fig = plots.plot_optimizer_sweeps(
        {name: RATES for name in losses}, losses,
        bands={"adam": (np.array(losses["adam"]) * 0.5, np.array(losses["adam"]) * 2)},
        best={"sgd": (RATES[3], 0.1), "adam": (RATES[2], 0.05)},
        good_ranges={"sgd": (RATES[2], RATES[3]), "adam": (RATES[1], RATES[3])},
        diverged={"sgd": [0, 0, 0, 0, 0, 1, 1], "adam": [0, 0, 0, 0, 0, 1, 1]},
        reference=0.69,
    )
    assert isinstance(fig, Figure)
    strip, ax = fig.axes  # a strip of diverged rates above the losses
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert "sgd" in labels and "adam" in labels and "reference" in labels
    sgd_line = next(line for line in ax.get_lines() if line.get_label() == "sgd")
    assert np.isnan(sgd_line.get_ydata()[-2:]).all()  # diverged runs are not on the line
    assert len(ax.patches) == 2  # one good-range bar per optimizer
    assert len(ax.collections) == 1 + 2  # adam's band, plus the legend's two proxy patches
    assert ax.get_xlabel() == "learning rate"
    # Both optimizers diverged at the same two rates: their crosses sit in rows of their own.
    rows = [set(line.get_ydata()) for line in strip.get_lines()]
    assert len(rows) == 2 and rows[0] != rows[1]
    assert [tick.get_text() for tick in strip.get_yticklabels()] == ["adam", "sgd"]
    assert ax.get_legend() is not None and ax.get_legend().get_bbox_to_anchor().x0 > ax.bbox.x1 - 1  # beside


def test_plot_optimizer_sweeps_without_divergence_has_one_axes():
    fig = plots.plot_optimizer_sweeps({"a": RATES}, {"a": np.linspace(1, 0.1, 7)})
    assert len(fig.axes) == 1


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


def test_plot_lr_finder_two_panels_suggestion_markers_and_vertical_lines():
    rates = np.geomspace(1e-4, 10, 50)
    smoothed = np.where(np.arange(50) < 45, 1.0 / (1 + rates), np.nan)
    runs = np.stack([smoothed, smoothed * 1.2])
    fig = plots.plot_lr_finder(rates, runs, raw_losses=smoothed * 1.1,
                               suggestions={"steep": [0.1, 0.2], "valley": [float("nan"), 0.01]},
                               markers={"sweep best": 0.3, "edge": 2.0}, sweep_learning_rates=RATES,
                               sweep_final_losses=np.linspace(1, 0.1, 7),
                               sweep_band=(np.linspace(0.9, 0.05, 7), np.linspace(1.1, 0.2, 7)))
    top, bottom = fig.axes
    assert top.get_xscale() == "log"
    # Suggestions are markers on each run's curve, not lines across the panel.
    steep = next(line for line in top.get_lines() if "steep" in line.get_label())
    np.testing.assert_allclose(steep.get_xdata(), [0.1, 0.2])
    np.testing.assert_allclose(steep.get_ydata(), [1 / 1.1, 1.2 / 1.2], rtol=1e-2)
    valley = next(line for line in top.get_lines() if "valley" in line.get_label())
    assert list(valley.get_xdata()) == [0.01]  # the NaN suggestion is skipped
    assert not [line for line in top.get_lines() if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2]
    vertical = [line for line in bottom.get_lines() if len(set(line.get_xdata())) == 1]
    assert sorted(line.get_xdata()[0] for line in vertical) == [0.3, 2.0]
    assert len(bottom.collections) == 1  # the sweep's band


def test_plot_lr_finder_one_panel_and_errors():
    rates = np.geomspace(1e-4, 10, 5)
    fig = plots.plot_lr_finder(rates, np.ones(5), suggestions={"steep": 0.1}, markers={"best": 1.0})
    assert len(fig.axes) == 1
    assert any(len(set(line.get_xdata())) == 1 and line.get_xdata()[0] == 1.0 for line in fig.axes[0].get_lines())
    plt.close(fig)
    with pytest.raises(ValueError, match="both"):
        plots.plot_lr_finder(rates, np.ones(5), sweep_learning_rates=rates)
    with pytest.raises(ValueError, match="smoothed_losses"):
        plots.plot_lr_finder(rates, np.ones(4))
    with pytest.raises(TypeError, match="suggestions"):
        plots.plot_lr_finder(rates, np.ones(5), suggestions=[0.1])
    with pytest.raises(ValueError, match="suggestions"):
        plots.plot_lr_finder(rates, np.ones((2, 5)), suggestions={"steep": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match="sweep_band"):
        plots.plot_lr_finder(rates, np.ones(5), sweep_band=(np.ones(5), np.ones(5)))


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
                          frozen_loss=7.5, loss_ranges=([0.01, 0.003, 0.001], [0.03, 0.005, 0.004]),
                          full_range=(0.003, 0.006))
    left, right = fig.axes
    assert left.get_xscale() == "log" and right.get_xscale() == "log"
    horizontal = [line.get_ydata()[0] for line in left.get_lines() if len(set(line.get_ydata())) == 1
                  and len(line.get_ydata()) == 2]
    assert sorted(horizontal) == pytest.approx([0.004, 7.5])
    assert any(line.get_marker() == "s" for line in right.get_lines())  # full fine-tuning point
    bars = [c for c in left.collections if c.__class__.__name__ == "LineCollection"]
    segments = bars[0].get_segments()
    np.testing.assert_allclose([seg[:, 1] for seg in segments], [[0.01, 0.03], [0.003, 0.005], [0.001, 0.004]])
    with pytest.raises(ValueError):
        plots.plot_lora([1, 2], [0.1], [1, 2], full_loss=0.1, full_params=10)
    with pytest.raises(ValueError):
        plots.plot_lora([0, 2], [0.1, 0.2], [1, 2], full_loss=0.1, full_params=10)
    with pytest.raises(ValueError):
        plots.plot_lora([1, 2], [0.1, 0.2], [1, 2], full_loss=0.1, full_params=10, loss_ranges=([0.1], [0.2]))


def test_plot_power_law_curve_matches_parameters_over_the_fitted_sizes_only():
    sizes = np.array([4.0, 8.0, 16.0, 32.0])
    a, alpha, c = 2.0, 1.5, 0.01
    losses = a * sizes**-alpha + c
    losses[-1] = 0.9 * c  # at or below the floor: no place on the L - c log axis
    grid = np.geomspace(4, 32, 5)
    fig = plots.plot_power_law(sizes, losses, a=a, alpha=alpha, c=c, points=(sizes, losses),
                               excluded=([1.0, 2.0], [0.3, 0.25]), ranges=(losses * 0.8, losses * 1.2),
                               fit_band=(grid, a * grid**-alpha + 0.5 * c, a * grid**-alpha + 2 * c))
    left, right = fig.axes
    curve = next(line for line in left.get_lines() if line.get_label().startswith("fit"))
    x, y = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(y, a * x**-alpha + c)
    assert (x.min(), x.max()) == pytest.approx((4.0, 32.0))  # drawn over the fitted sizes, not extrapolated
    assert "1.500" in curve.get_label()
    straight = next(line for line in right.get_lines() if "slope" in line.get_label())
    np.testing.assert_allclose(straight.get_ydata(), a * straight.get_xdata() ** -alpha)
    hollow = next(line for line in left.get_lines() if line.get_label() == "measured, not fitted")
    assert list(hollow.get_xdata()) == [1.0, 2.0]  # shown, never dropped
    floor = next(line for line in right.get_lines() if "floor" in line.get_label())
    assert list(floor.get_xdata()) == [32.0]  # the L <= c point is marked, not silently dropped
    measured = next(line for line in right.get_lines() if line.get_label() == "measured L − c")
    assert list(measured.get_xdata()) == [4.0, 8.0, 16.0]
    with pytest.raises(ValueError):
        plots.plot_power_law(sizes, sizes[:2], a=a, alpha=alpha, c=c)
    with pytest.raises(TypeError):
        plots.plot_power_law(sizes, sizes, a="big", alpha=alpha, c=c)


def test_figures_save_headless(tmp_path):
    fig = plots.plot_power_law([1, 2, 4], [1.0, 0.6, 0.4], a=1.0, alpha=0.8, c=0.1)
    path = plots.save_figure(fig, tmp_path / "power_law.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
