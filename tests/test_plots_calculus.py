"""``jl.plots.calculus``: figures carry the data they were given, bad input is named."""

from __future__ import annotations

import matplotlib.quiver
import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxopt_lessons import plots
from jaxopt_lessons.plots import calculus

XS = np.linspace(-3, 3, 61)


def test_all_is_exported():
    assert sorted(calculus.__all__) == sorted(
        ["plot_tangent_line", "plot_surface_contour", "plot_descent_path", "plot_descent_grid"]
    )
    for name in calculus.__all__:
        assert getattr(plots, name) is getattr(calculus, name)
        assert getattr(calculus, name).__doc__


def test_tangent_line_draws_function_tangent_and_point():
    fig = plots.plot_tangent_line(XS, XS**2, 1.5, 2.25, 3.0, -2.25, func_label="f(x) = x²")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["f(x) = x²"].get_ydata(), XS**2)
    tangent = next(line for label, line in lines.items() if label.startswith("tangent"))
    np.testing.assert_allclose(tangent.get_ydata(), 3.0 * XS - 2.25)
    assert "slope = 3" in tangent.get_label()
    point = next(line for label, line in lines.items() if label.startswith("point"))
    assert list(point.get_xdata()) == [1.5] and list(point.get_ydata()) == [2.25]
    assert ax.get_xlabel() == "x" and ax.get_title()


def test_surface_contour_has_3d_surface_contours_and_arrows():
    X, Y = np.meshgrid(XS, XS)
    points = np.array([[-2.0, -2.0], [0.0, 1.5], [2.0, 2.0]])
    fig = plots.plot_surface_contour(X, Y, X**2 + Y**2, arrow_points=points, arrow_vectors=-0.4 * points,
                                     title="bowl")
    ax3d, ax = fig.axes[:2]
    assert ax3d.name == "3d" and "bowl" in ax3d.get_title()
    quiver = next(c for c in ax.collections if isinstance(c, matplotlib.quiver.Quiver))
    np.testing.assert_allclose(quiver.U, -0.4 * points[:, 0])
    np.testing.assert_allclose(quiver.V, -0.4 * points[:, 1])
    np.testing.assert_allclose(quiver.get_offsets(), points)
    assert plots.plot_surface_contour(X, Y, X * Y).axes[1].collections  # arrows optional
    # The legend sits below the contour map, so it covers no contour label; labels on every other level.
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0
    contour = next(c for c in ax.collections if hasattr(c, "levels"))
    labelled = {text.get_text() for text in ax.texts}
    assert 0 < len(labelled) <= len(contour.levels) // 2 + 1


def test_descent_path_and_extra_paths():
    path = 5.0 * 0.8 ** np.arange(6)
    other = np.array([5.0, 4.9, 4.8])
    fig = plots.plot_descent_path(XS, XS**2 + 10, path, path**2 + 10, func_label="f(x) = x² + 10",
                                  extra_paths={"adam": (other, other**2 + 10)})
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["gradient descent path"].get_xdata(), path)
    np.testing.assert_allclose(lines["adam"].get_ydata(), other**2 + 10)
    assert list(lines["start"].get_xdata()) == [5.0]
    assert lines["end"].get_xdata()[0] == pytest.approx(path[-1])


def test_descent_grid_one_panel_per_path_with_shared_ylim():
    paths = {f"Learning rate = {lr}": (5 * (1 - 2 * lr) ** np.arange(21), 25 * (1 - 2 * lr) ** (2 * np.arange(21)))
             for lr in (0.01, 0.1, 0.5, 1.0)}
    fig = plots.plot_descent_grid(XS, XS**2, paths, ylim=(0, 40))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(paths)
    assert all(ax.get_ylim() == (0.0, 40.0) for ax in visible)
    three = plots.plot_descent_grid(XS, XS**2, dict(list(paths.items())[:3]))
    assert sum(ax.get_visible() for ax in three.axes) == 3


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: plots.plot_tangent_line(XS, XS[:-1], 0, 0, 1, 0), "xs and ys"),
        (lambda: plots.plot_tangent_line(XS, XS, [0, 1], 0, 1, 0), "x0"),
        (lambda: plots.plot_tangent_line(np.zeros((2, 2)), XS, 0, 0, 1, 0), "xs"),
        (lambda: plots.plot_surface_contour(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros(3)), "X, Y and Z"),
        (lambda: plots.plot_surface_contour(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 3)),
                                            arrow_points=np.zeros((2, 2))), "together"),
        (lambda: plots.plot_surface_contour(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 3)),
                                            arrow_points=np.zeros((2, 3)), arrow_vectors=np.zeros((2, 3))),
         "shape \\(k, 2\\)"),
        (lambda: plots.plot_descent_path(XS, XS, [1.0, 2.0], [1.0]), "path_x and path_f"),
        (lambda: plots.plot_descent_grid(XS, XS, {}), "paths"),
        (lambda: plots.plot_descent_grid(XS, XS, {"a": ([1.0], [1.0])}, ylim=(0,)), "ylim"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_figures_save_headless(tmp_path):
    fig = plots.plot_descent_grid(XS, XS**2, {"only": (np.array([1.0, 0.0]), np.array([1.0, 0.0]))})
    path = plots.save_figure(fig, tmp_path / "grid.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
