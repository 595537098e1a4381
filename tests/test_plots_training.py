"""Tests for jaxopt_lessons.plots.training: figures, labels, scales, line counts, bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxopt_lessons.plots import training as tp


def _lines_with_label(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_all_names_exist_and_are_documented():
    for name in tp.__all__:
        assert getattr(tp, name).__doc__, name


# --- plot_loss_curves ---------------------------------------------------------------


def test_loss_curves_labels_scale_and_distinct_styles():
    curve = np.exp(-np.arange(50) / 10.0)
    fig = tp.plot_loss_curves({"hand": curve, "optax": curve.copy(), "adam": curve**2}, steps_per_record=10,
                              title="T", xlabel="X", ylabel="Y")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "X", "Y")
    assert ax.get_yscale() == "log"
    lines = _lines_with_label(ax)
    assert [line.get_label() for line in lines] == ["hand", "optax", "adam"]
    # identical curves must stay distinguishable: different dash patterns, drawn on top
    assert len({line.get_linestyle() for line in lines}) == 3
    assert lines[1].get_zorder() > lines[0].get_zorder()
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(50) * 10)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["hand", "optax", "adam"]


def test_loss_curves_bands_shade_between_low_and_high_in_the_curve_colour():
    median = np.geomspace(1, 0.01, 20)
    fig = tp.plot_loss_curves({"adam": median, "sgd": median * 2}, bands={"adam": (median * 0.5, median * 2)},
                              steps_per_record=5)
    ax = fig.axes[0]
    (band,) = ax.collections
    vertices = band.get_paths()[0].vertices
    assert vertices[:, 0].min() == 0 and vertices[:, 0].max() == 95  # spans the records, in steps
    assert np.allclose(band.get_facecolor()[0][:3], matplotlib.colors.to_rgb(ax.get_lines()[0].get_color()))
    with pytest.raises(ValueError, match="bands"):
        tp.plot_loss_curves({"adam": median}, bands={"other": (median, median)})
    with pytest.raises(ValueError, match="bands"):
        tp.plot_loss_curves({"adam": median}, bands={"adam": (median[:3], median)})


def test_loss_curves_linear_scale_styles_and_nonfinite_gap():
    values = np.array([1.0, 2.0, np.inf, np.nan])
    fig = tp.plot_loss_curves({"run": values}, log_y=False, styles={"run": {"color": "k"}})
    (line,) = _lines_with_label(fig.axes[0])
    assert fig.axes[0].get_yscale() == "linear"
    assert line.get_color() == "k"
    assert np.isnan(line.get_ydata()[2:]).all()


def test_loss_curves_falls_back_to_linear_without_positive_values():
    fig = tp.plot_loss_curves({"zero": np.zeros(5)})
    assert fig.axes[0].get_yscale() == "linear"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"curves": {}}, "curves"),
        ({"curves": {"a": np.ones((3, 2))}}, r"curves\['a'\]"),
        ({"curves": {"a": []}}, r"curves\['a'\]"),
        ({"curves": {"a": [1.0]}, "steps_per_record": 0}, "steps_per_record"),
        ({"curves": {"a": [1.0]}, "styles": {"b": {}}}, "styles"),
    ],
)
def test_loss_curves_bad_input(kwargs, match):
    curves = kwargs.pop("curves")
    with pytest.raises(ValueError, match=match):
        tp.plot_loss_curves(curves, **kwargs)


def test_loss_curves_rejects_non_mapping():
    with pytest.raises(TypeError, match="curves"):
        tp.plot_loss_curves([1.0, 2.0])


# --- plot_parameter_paths -----------------------------------------------------------


def test_parameter_paths_with_targets():
    fig = tp.plot_parameter_paths({"w": np.linspace(0, 3, 20), "b": np.linspace(0, 2, 20)},
                                  targets={"w": 3.0}, title="Paths")
    ax = fig.axes[0]
    labels = [line.get_label() for line in _lines_with_label(ax)]
    assert labels == ["w", "w target = 3", "b"]
    target = _lines_with_label(ax)[1]
    assert target.get_color() == _lines_with_label(ax)[0].get_color()
    assert ax.get_xlabel() == "epoch" and ax.get_title() == "Paths"


def test_parameter_paths_markers_and_full_x_span():
    fig = tp.plot_parameter_paths({"w": np.linspace(0, 3, 1001)}, markers={"the seed stops": 100, "done": 375})
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_label() in ("the seed stops", "done")]
    assert sorted(line.get_xdata()[0] for line in marks) == [100, 375]
    assert ax.get_xlim() == (0.0, 1000.0)  # the axis ends where the records end
    with pytest.raises(ValueError, match="markers"):
        tp.plot_parameter_paths({"w": [1.0, 2.0]}, markers={"x": float("nan")})


@pytest.mark.parametrize(
    "histories, targets, match",
    [
        ({}, None, "histories"),
        ({"w": np.ones((2, 2))}, None, r"histories\['w'\]"),
        ({"w": [1.0, 2.0]}, {"b": 1.0}, "targets"),
        ({"w": [1.0, 2.0]}, {"w": float("nan")}, "targets"),
    ],
)
def test_parameter_paths_bad_input(histories, targets, match):
    with pytest.raises(ValueError, match=match):
        tp.plot_parameter_paths(histories, targets=targets)


# --- plot_regression_fit ------------------------------------------------------------


def test_regression_fit_draws_scatter_and_each_line():
    x = np.linspace(-2, 2, 30)[:, None]
    y = 3 * x + 2
    fig = tp.plot_regression_fit(x, y, {"start": (0.0, 0.0), "fit": (3.0, -2.0)})
    ax = fig.axes[0]
    assert len(ax.collections) == 1
    lines = _lines_with_label(ax)
    assert [line.get_label() for line in lines] == ["start: y = 0·x + 0", "fit: y = 3·x - 2"]
    # the drawn line really is w x + b over the data range
    np.testing.assert_allclose(lines[1].get_ydata(), 3 * lines[1].get_xdata() - 2)
    np.testing.assert_allclose(lines[1].get_xdata()[[0, -1]], [-2, 2])


def test_regression_fit_reference_panel_shows_each_line_minus_the_reference():
    x = np.linspace(-2, 2, 30)
    fig = tp.plot_regression_fit(x, 3 * x + 2, {"ls": (3.0, 2.0), "seed": (2.9, 1.8), "true": (3.0, 2.0)},
                                 reference="ls")
    top, below = fig.axes
    differences = [line for line in below.get_lines() if len(line.get_xdata()) == 2 and line.get_label() != ""]
    seed = differences[1]
    np.testing.assert_allclose(seed.get_ydata(), -0.1 * seed.get_xdata() - 0.2, atol=1e-12)  # (w - w_r) x + (b - b_r)
    np.testing.assert_allclose(differences[0].get_ydata(), 0.0)
    with pytest.raises(ValueError, match="reference"):
        tp.plot_regression_fit(x, x, {"a": (1.0, 0.0)}, reference="b")


@pytest.mark.parametrize(
    "x, y, lines, match",
    [
        (np.ones(3), np.ones(4), {"a": (1, 0)}, "x and y"),
        (np.ones(3), np.ones(3), {}, "lines"),
        (np.ones(3), np.ones(3), {"a": (1, 2, 3)}, r"lines\['a'\]"),
        (np.ones(3), np.ones(3), {"a": (np.inf, 0)}, r"lines\['a'\]"),
    ],
)
def test_regression_fit_bad_input(x, y, lines, match):
    with pytest.raises(ValueError, match=match):
        tp.plot_regression_fit(x, y, lines)


# --- decision_grid / plot_decision_boundary -----------------------------------------


def test_decision_grid_covers_points_with_margin_and_keeps_dtype():
    X = np.array([[0.0, -1.0], [2.0, 3.0]], dtype=np.float32)
    xx, yy, points = tp.decision_grid(X, resolution=5, margin=0.5)
    assert xx.shape == yy.shape == (5, 5) and points.shape == (25, 2)
    assert points.dtype == np.float32
    np.testing.assert_allclose([xx.min(), xx.max(), yy.min(), yy.max()], [-0.5, 2.5, -1.5, 3.5])
    # row-major flattening: values evaluated on points reshape back onto the grid
    np.testing.assert_array_equal(points[:, 0].reshape(xx.shape), xx)
    np.testing.assert_array_equal(points[:, 1].reshape(yy.shape), yy)
    assert tp.decision_grid(np.array([[0, 0], [1, 1]]), resolution=3)[2].dtype == np.float64


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.ones((3, 3)), {}, "X"),
        (np.ones((3, 2)), {"resolution": 1}, "resolution"),
        (np.ones((3, 2)), {"margin": -1.0}, "margin"),
        (np.array([[0.0, np.nan]]), {}, "X"),
    ],
)
def test_decision_grid_bad_input(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tp.decision_grid(X, **kwargs)


def _boundary_inputs():
    X = np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])
    y = np.array([[0.0], [1.0], [0.0], [1.0]])
    xx, yy, points = tp.decision_grid(X, resolution=20)
    probabilities = 1.0 / (1.0 + np.exp(-3.0 * points[:, 0]))
    return xx, yy, probabilities, X, y


def test_decision_boundary_has_contours_colourbar_points_and_legend():
    xx, yy, probabilities, X, y = _boundary_inputs()
    fig = tp.plot_decision_boundary(xx, yy, probabilities[:, None], X, y, title="Boundary")
    ax, colourbar_ax = fig.axes
    assert ax.get_title() == "Boundary"
    assert colourbar_ax.get_ylabel() == "p(class 1)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["class 0", "class 1", "p = 0.5 boundary"]
    scatters = [c for c in ax.collections if c.get_label() in ("class 0", "class 1")]
    assert [len(c.get_offsets()) for c in scatters] == [2, 2]
    # The legend sits below the axes, so it covers neither the points nor the boundary.
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.y1 <= ax.get_window_extent().y0


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: {**a, "yy": a["yy"][:-1]}, "xx and yy"),
        (lambda a: {**a, "probabilities": a["probabilities"][:-1]}, "probabilities"),
        (lambda a: {**a, "probabilities": a["probabilities"] * 3}, "probabilities"),
        (lambda a: {**a, "y": a["y"][:-1]}, "X and y"),
        (lambda a: {**a, "y": a["y"] * 2}, "y must"),
        (lambda a: {**a, "X": a["X"][:, :1]}, "X must"),
    ],
)
def test_decision_boundary_bad_input(change, match):
    xx, yy, probabilities, X, y = _boundary_inputs()
    arguments = change({"xx": xx, "yy": yy, "probabilities": probabilities, "X": X, "y": y})
    with pytest.raises(ValueError, match=match):
        tp.plot_decision_boundary(**arguments)


# --- plot_metric_bars ---------------------------------------------------------------


def test_metric_bars_one_bar_per_value_with_labels():
    values = {"NumPy loop": 22000.0, "per-LR scan": 1500.0, "sweep": 35.0}
    fig = tp.plot_metric_bars(values, ylabel="ns per lane-step", title="Speed", log_y=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [patch.get_height() for patch in ax.patches] == list(values.values())
    assert [tick.get_text() for tick in ax.get_xticklabels()] == list(values)
    assert (ax.get_ylabel(), ax.get_title()) == ("ns per lane-step", "Speed")
    assert "22,000" in [text.get_text() for text in ax.texts]


@pytest.mark.parametrize(
    "values, log_y, match",
    [
        ({}, False, "values"),
        ({"a": float("nan")}, False, r"values\['a'\]"),
        ({"a": 0.0}, True, r"values\['a'\]"),
        ({"a": "fast"}, False, r"values\['a'\]"),
    ],
)
def test_metric_bars_bad_input(values, log_y, match):
    with pytest.raises(ValueError, match=match):
        tp.plot_metric_bars(values, ylabel="y", title="t", log_y=log_y)


def test_every_figure_renders_with_agg(tmp_path):
    from jaxopt_lessons.plots import save_figure

    xx, yy, probabilities, X, y = _boundary_inputs()
    figures = [
        tp.plot_loss_curves({"a": [1.0, 0.1]}),
        tp.plot_parameter_paths({"w": [0.0, 1.0]}),
        tp.plot_regression_fit([0.0, 1.0], [0.0, 1.0], {"fit": (1.0, 0.0)}),
        tp.plot_decision_boundary(xx, yy, probabilities, X, y),
        tp.plot_metric_bars({"a": 1.0}, ylabel="y", title="t"),
    ]
    for index, fig in enumerate(figures):
        path = save_figure(fig, tmp_path / f"figure{index}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
