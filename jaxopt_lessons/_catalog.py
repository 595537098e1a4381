"""The built-in problems' and optimizers' names and defaults, as plain data without JAX.

The command line lists them in ``--help`` without importing JAX (which takes seconds);
:mod:`jaxopt_lessons.problems` builds its problems from :data:`PROBLEMS` and
:mod:`jaxopt_lessons.optim` its registry of optimizer factories from :data:`OPTIMIZERS`,
so each name and default is written here once.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class ProblemInfo(NamedTuple):
    """What the command line shows of a built-in problem (see :class:`jaxopt_lessons.problems.Problem`)."""

    description: str
    default_steps: int
    default_learning_rates: tuple[float, float]
    random_init: bool


PROBLEMS: dict[str, ProblemInfo] = {
    "quadratic": ProblemInfo(
        "the seed's parabola x^2 + 10 from x = 5 (minimum 10 at 0, GD stable for lr < 1)",
        50, (1e-3, 1.5), False,
    ),
    "rosenbrock": ProblemInfo(
        "Rosenbrock's valley (1-x)^2 + 100(y-x^2)^2 from (-1.5, 2) (minimum 0 at (1, 1))",
        2000, (1e-5, 1e-2), False,
    ),
    "linear-regression": ProblemInfo(
        "the seed's least squares y = w x + b on its 100 noisy points, from its random start",
        100, (1e-4, 1.0), False,
    ),
    "xor": ProblemInfo(
        "the seed's 2-4-1 sigmoid network, MSE on the XOR table, weights N(0, 0.5^2)",
        10000, (1e-2, 100.0), True,
    ),
    "moons": ProblemInfo(
        "a 2-8-4-1 ReLU network, cross-entropy on logits, 200 two-moons points (+200 held out)",
        2000, (1e-3, 10.0), True,
    ),
}
"""Problem name -> :class:`ProblemInfo`, in listing order."""

MOMENTUM = 0.9
"""The momentum of the named optimizers ``momentum`` and ``nesterov``."""

OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": MOMENTUM}),
    "nesterov": ("sgd", {"momentum": MOMENTUM, "nesterov": True}),
    "adam": ("adam", {}),
    "adamw": ("adamw", {}),
    "lion": ("lion", {}),
}
"""Optimizer name -> (the optax / :mod:`jaxopt_lessons.optim` function, its fixed keyword arguments)."""
