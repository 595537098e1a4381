r"""Lesson 2 — gradients: partial derivatives, and the gradient as the direction of steepest ascent.

For :math:`f(x, y) = x^2 + y^2` the partials are :math:`\partial f/\partial x = 2x`,
:math:`\partial f/\partial y = 2y`, and the gradient :math:`\nabla f = (2x, 2y)`. Here
``jax.grad`` gives them, ``jl.gradient_field`` evaluates them on a whole grid (one vmapped
call) for the seed's surface and contour figure, and the claim "the gradient points in the
direction of steepest ascent" is measured: among 3,600 unit directions :math:`u`, the
directional derivative :math:`\nabla f \cdot u` (a ``jax.jvp``) is largest along
:math:`\nabla f / \|\nabla f\|`, where it equals :math:`\|\nabla f\|`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table

TITLE = "Partial derivatives and gradients"
SEED_SAYS = (
    "For f(x, y) = x² + y² (a bowl), ∂f/∂x = 2x and ∂f/∂y = 2y; the gradient is the vector "
    "of partial derivatives. The gradient points in the direction of steepest ascent, the "
    "negative gradient points toward the minimum, and at the minimum (0, 0) the gradient is [0, 0]."
)

ARROW_POINTS = ((-2.0, -2.0), (-2.0, 2.0), (2.0, -2.0), (2.0, 2.0), (-1.0, 0.0), (0.0, 1.5))
"""The seed's six arrow positions."""
ARROW_SCALE = 0.2
"""The seed draws ``-0.2 * gradient``."""
STEEPEST_POINT = (1.0, -0.5)
"""Where steepest ascent is checked against every direction (any point off the minimum works)."""


def bowl(x: jax.Array, y: jax.Array) -> jax.Array:
    """The seed's function :math:`f(x, y) = x^2 + y^2`."""
    return x**2 + y**2


def _steepest_direction(point: tuple[float, float], n_directions: int) -> dict[str, float]:
    """The direction of largest directional derivative among ``n_directions`` unit vectors."""
    angles = jnp.linspace(0.0, 2 * jnp.pi, n_directions, endpoint=False)
    directions = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    f = lambda p: bowl(p[0], p[1])  # noqa: E731
    p = jnp.asarray(point)
    slopes = jax.vmap(lambda u: jax.jvp(f, (p,), (u,))[1])(directions)
    best = int(jnp.argmax(slopes))
    gradient = jax.grad(f)(p)
    return {
        "best_angle_deg": float(jnp.degrees(angles[best])),
        "gradient_angle_deg": float(jnp.degrees(jnp.arctan2(gradient[1], gradient[0])) % 360),
        "best_slope": float(slopes[best]),
        "gradient_norm": float(jnp.linalg.norm(gradient)),
        "angle_resolution_deg": 360.0 / n_directions,
        "n_directions": n_directions,
    }


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Partials at the seed's points, the gradient field on a grid, steepest ascent; ``surface.png``."""
    del quick
    grad = jax.grad(bowl, argnums=(0, 1))
    points = np.asarray(ARROW_POINTS)
    partials = np.array([[float(g) for g in grad(jnp.asarray(px), jnp.asarray(py))] for px, py in points])

    axis = np.linspace(-3.0, 3.0, 100)
    X, Y = np.meshgrid(axis, axis)
    U, V = (np.asarray(a) for a in jl.gradient_field(bowl, jnp.asarray(axis), jnp.asarray(axis)))
    field_error = float(max(np.max(np.abs(U - 2 * X)), np.max(np.abs(V - 2 * Y))))
    at_minimum = [float(g) for g in grad(jnp.asarray(0.0), jnp.asarray(0.0))]

    fig = jl.plots.plot_surface_contour(
        X, Y, X**2 + Y**2, arrow_points=points, arrow_vectors=-ARROW_SCALE * partials,
        title="f(x, y) = x² + y²",
    )
    jl.plots.save_figure(fig, Path(out_dir) / "surface.png")

    # Does -grad point at the minimum (0, 0)? cosine between -grad and the vector to the origin.
    to_minimum = -points
    cosines = np.sum(-partials * to_minimum, axis=1) / (
        np.linalg.norm(partials, axis=1) * np.linalg.norm(to_minimum, axis=1)
    )
    # The same question on an elongated valley x² + 10y², at (2, 1).
    valley_point = np.array([2.0, 1.0])
    valley_grad = np.asarray(jax.grad(lambda p: p[0] ** 2 + 10 * p[1] ** 2)(jnp.asarray(valley_point)))
    valley_cosine = float(np.dot(-valley_grad, -valley_point)
                          / (np.linalg.norm(valley_grad) * np.linalg.norm(valley_point)))
    return {
        "valley_cosine": valley_cosine,
        "points": points.tolist(),
        "gradients": partials.tolist(),
        "gradients_by_hand": (2 * points).tolist(),
        "max_abs_error_at_points": float(np.max(np.abs(partials - 2 * points))),
        "grid_shape": list(X.shape),
        "gradient_field_max_abs_error": field_error,
        "gradient_at_minimum": at_minimum,
        "cosine_negative_gradient_to_minimum": cosines.tolist(),
        "steepest_ascent": _steepest_direction(STEEPEST_POINT, 3600),
        "steepest_point": list(STEEPEST_POINT),
    }


def report(metrics: dict[str, Any]) -> str:
    """The partials table, the field check, the figure and the steepest-ascent measurement."""
    rows = [
        [f"({p[0]:g}, {p[1]:g})", f"({g[0]:g}, {g[1]:g})", f"({h[0]:g}, {h[1]:g})", f"{c:.6f}"]
        for p, g, h, c in zip(metrics["points"], metrics["gradients"], metrics["gradients_by_hand"],
                              metrics["cosine_negative_gradient_to_minimum"])
    ]
    steep = metrics["steepest_ascent"]
    shape = metrics["grid_shape"]
    return (
        "Partial derivatives by `jax.grad(f, argnums=(0, 1))` at the seed's arrow positions, "
        "against the hand formulas, and the cosine between −∇f and the direction to the minimum:\n\n"
        + markdown_table(["(x, y)", "∇f by jax.grad", "(2x, 2y) by hand", "cos(−∇f, → minimum)"], rows)
        + f"\n`jl.gradient_field` on the {shape[0]}×{shape[1]} grid (one vmapped call) differs from "
        f"(2x, 2y) by at most {metrics['gradient_field_max_abs_error']:.1e}; at the minimum the "
        f"gradient is ({metrics['gradient_at_minimum'][0]:g}, {metrics['gradient_at_minimum'][1]:g}).\n\n"
        + figure_link("gradients", "surface.png",
                      "The bowl in 3-D, and its contours with −0.2·∇f drawn at the seed's six points")
        + f"\n**Steepest ascent, measured.** At (x, y) = ({metrics['steepest_point'][0]:g}, "
        f"{metrics['steepest_point'][1]:g}) the directional derivative ∇f·u (a `jax.jvp`) over "
        f"{steep['n_directions']:,} unit directions u is largest at {steep['best_angle_deg']:.1f}°; the "
        f"gradient points at {steep['gradient_angle_deg']:.1f}° (grid step {steep['angle_resolution_deg']:.1f}°), "
        f"and the largest slope, {steep['best_slope']:.6f}, equals ‖∇f‖ = {steep['gradient_norm']:.6f}.\n\n"
        "On this bowl −∇f points exactly at the minimum (cosine 1 everywhere) because the contours "
        "are circles. That is special: on the elongated valley x² + 10y², at (2, 1), the cosine "
        f"is only {metrics['valley_cosine']:.3f} (−∇f is perpendicular to the contour, not aimed at "
        "the minimum) — which is why gradient descent zig-zags there (see the learning-rate "
        "and optimizer lessons).\n"
    )
