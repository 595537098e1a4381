r"""Built-in optimisation problems for the command line, the benchmarks and the lessons.

Each :class:`Problem` bundles a pure loss ``loss_fn(params, *args)``, its data
``args``, a start ``init`` (a params pytree, or a function ``key -> params`` for
networks started at random) and sensible defaults. :func:`get_problem` builds one by
name in the dtype asked for:

============================ =============================================================
``quadratic``                :math:`f(x) = x^2 + 10` from :math:`x = 5` (the seed's parabola)
``rosenbrock``               :math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2` from :math:`(-1.5, 2)`
``linear-regression``        the seed's :math:`\frac1n\sum_i (w x_i + b - y_i)^2` on its data and start
``xor``                      the seed's 2→4→1 sigmoid net, MSE, on the XOR table
``moons``                    a 2→8→4→1 ReLU net, BCE on logits, on 200 two-moons points (+200 held out)
============================ =============================================================
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _catalog, datasets, manual, models
from ._validate import check_choice

Params = Any

__all__ = [
    "PROBLEMS",
    "Problem",
    "get_problem",
    "quadratic_grad",
    "quadratic_loss",
    "rosenbrock_grad",
    "rosenbrock_loss",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A named optimisation problem.

    Attributes:
      name: the name :func:`get_problem` knows it by.
      description: one line for listings.
      loss_fn: the scalar loss ``loss_fn(params, *args)``.
      init: the starting parameters (a pytree), or ``key -> params`` for problems
        started at random (then a sweep takes ``seeds``).
      args: the extra arguments of ``loss_fn`` (the data).
      default_steps: a number of steps that shows the problem's behaviour.
      default_learning_rates: ``(lo, hi)``, a log range worth sweeping for SGD.
      grad_fn: a hand-derived ``grad_fn(params, *args) -> (loss, grads)``, or ``None``.
      min_loss: the known minimum of the loss, when there is a closed form, else ``None``.
      eval_args: held-out data for ``loss_fn`` (``loss_fn(params, *eval_args)``), for
        problems where generalisation means something (moons), else ``()``. The CLI
        passes them to :func:`jaxopt_lessons.sweep` as ``eval_fn=loss_fn``, so its best
        rate is judged on the held-out loss.
    """

    name: str
    description: str
    loss_fn: Callable[..., jax.Array]
    init: Params | Callable[[jax.Array], Params]
    args: tuple = ()
    default_steps: int = 100
    default_learning_rates: tuple[float, float] = (1e-3, 1.0)
    grad_fn: Callable[..., tuple[jax.Array, Params]] | None = None
    min_loss: float | None = None
    eval_args: tuple = ()

    @property
    def random_init(self) -> bool:
        """Whether ``init`` is a function of a ``jax.random`` key."""
        return callable(self.init)

    def initial_params(self, key: jax.Array | None = None) -> Params:
        """The starting parameters: ``init`` itself, or ``init(key)`` (default key 0)."""
        if not self.random_init:
            return self.init
        return self.init(jax.random.key(0) if key is None else key)


# --------------------------------------------------------------------------- losses


def quadratic_loss(x: jax.Array) -> jax.Array:
    r"""The seed's parabola :math:`f(x) = x^2 + 10` (summed over elements for arrays)."""
    return jnp.sum(x**2) + 10.0


def quadratic_grad(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""The seed's ``df``: :math:`f'(x) = 2x`, with the loss."""
    return quadratic_loss(x), 2 * x


def rosenbrock_loss(params: jax.Array) -> jax.Array:
    r"""Rosenbrock's valley :math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`, minimum 0 at (1, 1)."""
    x, y = params[0], params[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_grad(params: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""By hand: :math:`\partial_x f = -2(1-x) - 400x(y-x^2)`, :math:`\partial_y f = 200(y-x^2)`."""
    x, y = params[0], params[1]
    valley = y - x**2
    grad = jnp.stack([-2 * (1 - x) - 400 * x * valley, 200 * valley])
    return rosenbrock_loss(params), grad


_XOR_OPTIONS = {"activation": "sigmoid", "output_activation": "sigmoid", "loss": "mse"}
_MOONS_OPTIONS = {"activation": "relu", "output_activation": "identity", "loss": "bce"}


# --------------------------------------------------------------------------- builders


def _default_dtype(dtype: Any) -> Any:
    if dtype is None:
        return jnp.zeros(()).dtype  # float32, or float64 under jax_enable_x64
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    return dtype


def _listed(name: str) -> dict[str, Any]:
    """The name, description and defaults of problem ``name`` as :mod:`._catalog` lists them."""
    info = _catalog.PROBLEMS[name]
    return {
        "name": name,
        "description": info.description,
        "default_steps": info.default_steps,
        "default_learning_rates": info.default_learning_rates,
    }


def _quadratic(dtype: Any) -> Problem:
    return Problem(
        **_listed("quadratic"),
        loss_fn=quadratic_loss,
        init=jnp.asarray(5.0, dtype),
        grad_fn=quadratic_grad,
        min_loss=10.0,
    )


def _rosenbrock(dtype: Any) -> Problem:
    return Problem(
        **_listed("rosenbrock"),
        loss_fn=rosenbrock_loss,
        init=jnp.asarray([-1.5, 2.0], dtype),
        grad_fn=rosenbrock_grad,
        min_loss=0.0,
    )


def _linear_regression(dtype: Any) -> Problem:
    data = datasets.seed_linear_regression()
    x, y = jnp.asarray(data["x"], dtype), jnp.asarray(data["y"], dtype)
    return Problem(
        **_listed("linear-regression"),
        loss_fn=manual.linear_regression_loss,
        init={"w": jnp.asarray(data["w0"], dtype), "b": jnp.asarray(data["b0"], dtype)},
        args=(x, y),
        grad_fn=manual.linear_regression_grad,
        min_loss=_least_squares_minimum(data["x"], data["y"]),
    )


def _least_squares_minimum(x: np.ndarray, y: np.ndarray) -> float:
    """The minimum of the mean squared error of ``x w + b``, by ``np.linalg.lstsq`` (float64)."""
    design = np.hstack([x, np.ones_like(x)])
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    return float(np.mean((design @ coefficients - y) ** 2))


def _xor(dtype: Any) -> Problem:
    X, y = datasets.xor()

    def init(key: jax.Array) -> Params:
        return models.init_mlp(key, [2, 4, 1], scale=0.5, dtype=dtype)

    return Problem(
        **_listed("xor"),
        loss_fn=manual.mlp_loss_fn(**_XOR_OPTIONS),
        init=init,
        args=(X.astype(dtype), y.astype(dtype)),
        grad_fn=manual.mlp_grad_fn(**_XOR_OPTIONS),
    )


@functools.lru_cache(maxsize=8)
def _moons_data(dtype: Any, seed: int = 0) -> tuple[jax.Array, jax.Array]:
    """The moons data set, drawn once per dtype (key ``seed``, 200 points, noise 0.1): key 0
    for training, key 1 for the held-out split."""
    X, y = jax.jit(datasets.two_moons, static_argnums=(1, 2))(jax.random.key(seed), 200, 0.1)
    return X.astype(dtype), y.astype(dtype)


def _moons(dtype: Any) -> Problem:
    X, y = _moons_data(dtype)

    def init(key: jax.Array) -> Params:
        return models.init_mlp(key, [2, 8, 4, 1], dtype=dtype)

    return Problem(
        **_listed("moons"),
        loss_fn=manual.mlp_loss_fn(**_MOONS_OPTIONS),
        init=init,
        args=(X, y),
        grad_fn=manual.mlp_grad_fn(**_MOONS_OPTIONS),
        eval_args=_moons_data(dtype, 1),
    )


_BUILDERS: dict[str, Callable[[Any], Problem]] = {
    "quadratic": _quadratic,
    "rosenbrock": _rosenbrock,
    "linear-regression": _linear_regression,
    "xor": _xor,
    "moons": _moons,
}

PROBLEMS: tuple[str, ...] = tuple(_catalog.PROBLEMS)
"""The names :func:`get_problem` accepts, in listing order."""


def get_problem(name: str, *, dtype: Any = None) -> Problem:
    """The built-in problem called ``name`` (see :data:`PROBLEMS`).

    The loss functions are module-level (or cached) objects, so repeated calls return
    the same ``loss_fn``/``grad_fn`` and compiled loops are reused.

    Args:
      name: one of ``quadratic``, ``rosenbrock``, ``linear-regression``, ``xor``, ``moons``.
      dtype: floating dtype of the parameters and data (default: JAX's default float,
        float32 or float64 under ``jax_enable_x64``).

    Returns:
      A :class:`Problem`.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).
      TypeError: for a non-floating ``dtype``.

    Examples:
      >>> problem = get_problem("quadratic")
      >>> float(problem.loss_fn(problem.init))
      35.0
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a problem name (str), got {type(name).__name__}")
    check_choice(name, PROBLEMS, "problem")
    return _BUILDERS[name](_default_dtype(dtype))
