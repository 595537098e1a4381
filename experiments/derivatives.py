"""Lesson 1 — derivatives: the slope of the tangent line, and the rules that ``jax.grad`` knows.

The derivative :math:`f'(x_0)` is the slope of the tangent line
:math:`y = f(x_0) + f'(x_0)(x - x_0)`. For :math:`f(x) = x^2` at :math:`x_0 = 1.5` the
slope is 3. The seed lists the derivative rules to read; here each rule is *checked*:
its hand-written formula is compared with ``jax.grad`` (exact up to rounding) and with
central differences (no calculus at all) at sample points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxopt_lessons as jl

from ._markdown import figure_link, markdown_table

TITLE = "Derivatives: the slope at a point"
SEED_SAYS = (
    "A derivative is the slope of the function at a point: for f(x) = x² at x = 1.5 the "
    "tangent has slope f'(1.5) = 3, so y grows by 3 per unit of x there. The common rules "
    "(constant, power, exponential, logarithm, sum, product, chain) need not be memorised, "
    "because libraries compute derivatives automatically."
)

X0 = 1.5
"""The seed's point of tangency."""


def _rules() -> list[dict[str, Any]]:
    """Each rule: a function (jax.numpy), its derivative written by hand (NumPy), sample points."""
    everywhere = np.linspace(-2.0, 2.0, 9)
    positive = np.linspace(0.25, 4.0, 9)
    return [
        {"rule": "Constant", "f": "f(x) = c (c = 3)", "df": "f'(x) = 0",
         "fn": lambda x: 3.0 + 0.0 * x, "dfn": lambda x: 0.0 * x, "points": everywhere},
        {"rule": "Linear", "f": "f(x) = x", "df": "f'(x) = 1",
         "fn": lambda x: x, "dfn": lambda x: 1.0 + 0.0 * x, "points": everywhere},
        {"rule": "Power", "f": "f(x) = x²", "df": "f'(x) = 2x",
         "fn": lambda x: x**2, "dfn": lambda x: 2 * x, "points": everywhere},
        {"rule": "Power (general, n = 5)", "f": "f(x) = x⁵", "df": "f'(x) = 5x⁴",
         "fn": lambda x: x**5, "dfn": lambda x: 5 * x**4, "points": everywhere},
        {"rule": "Exponential", "f": "f(x) = eˣ", "df": "f'(x) = eˣ",
         "fn": jnp.exp, "dfn": np.exp, "points": everywhere},
        {"rule": "Natural log", "f": "f(x) = ln(x)", "df": "f'(x) = 1/x",
         "fn": jnp.log, "dfn": lambda x: 1 / x, "points": positive},
        {"rule": "Sum", "f": "f(x) = sin x + x³", "df": "f'(x) = cos x + 3x²",
         "fn": lambda x: jnp.sin(x) + x**3, "dfn": lambda x: np.cos(x) + 3 * x**2, "points": everywhere},
        {"rule": "Product", "f": "f(x) = sin x · eˣ", "df": "f'(x) = cos x · eˣ + sin x · eˣ",
         "fn": lambda x: jnp.sin(x) * jnp.exp(x), "dfn": lambda x: (np.cos(x) + np.sin(x)) * np.exp(x),
         "points": everywhere},
        {"rule": "Chain rule", "f": "f(g(x)) = sin(x²)", "df": "f'(g(x))·g'(x) = cos(x²) · 2x",
         "fn": lambda x: jnp.sin(x**2), "dfn": lambda x: np.cos(x**2) * 2 * x, "points": everywhere},
    ]


def _derivatives(functions: list[Any], points: list[jax.Array]) -> list[tuple[jax.Array, jax.Array]]:
    """``(jax.grad, central differences)`` of each function at its points, in one compiled call."""

    def both(fn: Any, xs: jax.Array) -> tuple[jax.Array, jax.Array]:
        # The functions act elementwise, so the gradient of their sum is the vector of derivatives.
        return jl.derivative(fn, xs), jl.numerical_grad(lambda v: jnp.sum(fn(v)), xs)

    return jax.jit(lambda pts: [both(fn, xs) for fn, xs in zip(functions, pts)])(points)


def _check_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    computed = _derivatives([rule["fn"] for rule in rules], [jnp.asarray(rule["points"]) for rule in rules])
    rows = []
    for rule, (autodiff, finite_diff) in zip(rules, computed):
        points = np.asarray(rule["points"])
        by_hand = np.asarray(rule["dfn"](points), dtype=float)
        rows.append({
            "rule": rule["rule"],
            "function": rule["f"],
            "derivative": rule["df"],
            "points": [float(points.min()), float(points.max()), int(points.size)],
            "max_abs_error_autodiff": float(np.max(np.abs(np.asarray(autodiff) - by_hand))),
            "max_abs_error_finite_diff": float(np.max(np.abs(np.asarray(finite_diff) - by_hand))),
            "max_abs_derivative": float(np.max(np.abs(by_hand))),
        })
    return rows


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Measures the tangent of x² at 1.5 and checks every rule; writes ``tangent.png``."""
    del quick  # nothing here is expensive
    square = lambda x: x**2  # noqa: E731
    slope, intercept = jl.tangent_line(square, jnp.asarray(X0))
    xs = np.linspace(-3.0, 3.0, 121)
    fig = jl.plots.plot_tangent_line(
        xs, xs**2, X0, X0**2, slope, intercept, func_label="f(x) = x²",
        title="Derivative = slope of the tangent line (slope from jax.grad)",
    )
    jl.plots.save_figure(fig, Path(out_dir) / "tangent.png")
    rules = _check_rules(_rules())
    return {
        "x0": X0,
        "f_x0": X0**2,
        "slope": float(slope),
        "intercept": float(intercept),
        "slope_by_hand": 2 * X0,
        "rules": rules,
        "all_rules_agree": all(row["max_abs_error_autodiff"] <= 1e-9 * max(1.0, row["max_abs_derivative"])
                               for row in rules),
    }


def report(metrics: dict[str, Any]) -> str:
    """The tangent-line figure and the rules table with their measured errors."""
    rows = [
        [row["rule"], row["function"], row["derivative"],
         f"{row['points'][2]} points in [{row['points'][0]:g}, {row['points'][1]:g}]",
         f"{row['max_abs_error_autodiff']:.1e}", f"{row['max_abs_error_finite_diff']:.1e}"]
        for row in metrics["rules"]
    ]
    verdict = "every rule agrees" if metrics["all_rules_agree"] else "**some rule disagrees**"
    return (
        f"`jl.tangent_line(lambda x: x**2, {metrics['x0']})` gives slope "
        f"**{metrics['slope']:g}** (by hand: 2·x₀ = {metrics['slope_by_hand']:g}) and intercept "
        f"{metrics['intercept']:g}, so the tangent is y = {metrics['slope']:g}x − "
        f"{-metrics['intercept']:g}, touching the curve at ({metrics['x0']}, {metrics['f_x0']}).\n\n"
        + figure_link("derivatives", "tangent.png", "f(x) = x² and its tangent at x = 1.5")
        + "\nEach rule's hand-written derivative against `jax.grad` (via `jl.derivative`, vmapped "
        "over the points) and against central differences (`jl.numerical_grad`, no autodiff):\n\n"
        + markdown_table(
            ["Rule", "Function", "Derivative (by hand)", "Checked at", "max error vs jax.grad",
             "max error vs finite differences"],
            rows,
        )
        + f"\nIn float64, {verdict} with `jax.grad` to rounding error (~1e-16 relative); central "
        "differences agree to ~1e-10, the truncation error of a finite step. The rules are not "
        "something to memorise: they are what autodiff applies mechanically, one primitive at a time.\n"
    )
