r"""How large may a step be? The curvature bound :math:`2/\lambda_{\max}`.

Near a point :math:`\theta`, a loss is approximately the quadratic
:math:`\ell(\theta + d) \approx \ell + g^\top d + \tfrac12 d^\top H d`. Plain gradient
descent :math:`\theta \leftarrow \theta - \eta \nabla\ell` multiplies the error along an
eigenvector of :math:`H` with eigenvalue :math:`\lambda_i` by :math:`(1 - \eta\lambda_i)` per
step, so it converges iff :math:`|1 - \eta\lambda_i| < 1` for every :math:`i`, i.e. iff
:math:`0 < \eta < 2/\lambda_{\max}`. The top eigenvalue :math:`\lambda_{\max}` is the
*sharpness* (:func:`sharpness`) and :math:`2/\lambda_{\max}` the largest stable step
(:func:`max_stable_lr`): on a quadratic GD diverges for any :math:`\eta > 2/\lambda_{\max}`
and oscillates without progress at exactly :math:`\eta = 2/\lambda_{\max}` (``x² + 10`` from
``x = 5`` with ``lr = 1.0``). On other losses it is a local statement about where the
curvature was measured.

:math:`\lambda_{\max}` is found by power iteration on Hessian-vector products
:math:`Hv = \partial_\epsilon \nabla\ell(\theta + \epsilon v)|_{\epsilon=0}` (``jax.jvp`` of
``jax.grad``, forward-over-reverse), which never forms :math:`H`. The learning-rate range
test, which finds a step by trying them, is :mod:`jaxopt_lessons.lr_finder`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._cache import cache_when_hashable
from ._validate import check_args, check_loss_and_grad, check_positive_int, is_finite_number

Params = Any

__all__ = ["TopEigen", "max_stable_lr", "sharpness", "top_hessian_eigen"]


# --------------------------------------------------------------------------- sharpness


class TopEigen(NamedTuple):
    """The result of :func:`top_hessian_eigen`.

    Attributes:
      value: the largest (algebraic) Hessian eigenvalue found, a Python float.
      vector: its unit eigenvector, a pytree shaped like ``params``.
      iterations: Hessian-vector products used (both phases, see :func:`top_hessian_eigen`).
      converged: whether the relative change of the estimate fell below ``tol``
        before the iteration cap.
    """

    value: float
    vector: Params
    iterations: int
    converged: bool


def _check_power_options(iters: Any, tol: Any) -> tuple[int, float]:
    iters = check_positive_int(iters, "iters")
    if isinstance(tol, bool) or not is_finite_number(tol) or float(tol) < 0:
        raise ValueError(f"tol must be a finite float >= 0, got {tol!r}")
    return iters, float(tol)


def top_hessian_eigen(
    loss_fn: Callable[..., jax.Array],
    params: Params,
    *args: Any,
    iters: int = 100,
    tol: float = 1e-6,
    key: jax.Array | None = None,
) -> TopEigen:
    r"""The largest Hessian eigenvalue of ``loss_fn`` at ``params`` and its eigenvector.

    Power iteration :math:`v \leftarrow Hv / \|Hv\|` with the Rayleigh quotient
    :math:`\lambda = v^\top H v` as the estimate, stopped when
    :math:`|\lambda_k - \lambda_{k-1}| \le \text{tol}\,|\lambda_k|` or after ``iters``
    products. Power iteration finds the eigenvalue of largest *magnitude*; if that one
    is negative (a saddle or a maximum), a second run on the shifted operator
    :math:`H + \sigma I` with :math:`\sigma = \|Hv\| \approx |\lambda_{\min}|`, whose
    spectrum is :math:`\lambda_i + \sigma \ge 0`, finds :math:`\lambda_{\max} + \sigma`.
    Like any power iteration it is slow when the top two eigenvalues are close (then
    ``converged`` is ``False`` at the cap), and exactly opposite extreme eigenvalues
    :math:`\pm\lambda` can fool its first phase. Both loops run in one jitted ``lax.while_loop`` program,
    compiled once per ``loss_fn`` and shapes (``iters`` and ``tol`` are traced values).

    The parameters are flattened with :func:`jax.flatten_util.ravel_pytree`, so any pytree
    works; the iteration runs in the parameters' dtype.

    Args:
      loss_fn: a scalar loss ``loss_fn(params, *args)``, twice differentiable.
      params: where to measure (a pytree of float arrays).
      *args: extra arguments of ``loss_fn`` (e.g. ``x, y``).
      iters: cap on Hessian-vector products per phase (> 0).
      tol: relative tolerance on the change of the eigenvalue estimate (>= 0; 0 runs
        all ``iters``).
      key: ``jax.random`` key for the random start vector (default ``jax.random.key(0)``,
        so results are reproducible).

    Returns:
      A :class:`TopEigen`.
    """
    iters, tol = _check_power_options(iters, tol)
    args = check_args(args)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    check_loss_and_grad(loss_fn, None, params, args)
    flat, unravel = ravel_pytree(params)
    key = jax.random.key(0) if key is None else key
    start = jax.random.normal(key, flat.shape, dtype=flat.dtype)
    value, vector, count, converged = _compiled_power_iteration(loss_fn)(params, args, start, iters, tol)
    return TopEigen(float(value), unravel(vector), int(count), bool(converged))


@cache_when_hashable(maxsize=32)
def _compiled_power_iteration(loss_fn: Callable[..., jax.Array]) -> Callable[..., Any]:
    """A jitted ``(params, args, start, iters, tol) -> (value, vector, count, converged)``."""

    def run(params, args, start, iters, tol):
        flat, unravel = ravel_pytree(params)

        def flat_grad(x):
            return ravel_pytree(jax.grad(loss_fn)(unravel(x), *args))[0]

        def hvp(v):
            return jax.jvp(flat_grad, (flat,), (v,))[1]

        def power(shift, v0):
            """Power iteration on ``H - shift I``: its dominant eigenpair and ``||(H - shift I) v||``."""

            def body(state):
                count, v, estimate, _, _ = state
                w = hvp(v) - shift * v
                new_estimate = jnp.vdot(v, w)
                norm = jnp.linalg.norm(w)
                # A zero product means v is in the null space: keep v, the estimate is 0.
                v = jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1), v)
                change = jnp.abs(new_estimate - estimate)
                converged = (count > 0) & (change <= tol * jnp.abs(new_estimate))
                return count + 1, v, new_estimate, converged, norm

            def cond(state):
                count, _, _, converged, _ = state
                return (count < iters) & ~converged

            v0 = v0 / jnp.linalg.norm(v0)
            zero = jnp.zeros((), flat.dtype)
            return jax.lax.while_loop(cond, body, (jnp.int32(0), v0, zero, jnp.bool_(False), zero))

        count, vector, value, converged, norm = power(jnp.zeros((), flat.dtype), start)

        def shifted(_):
            # The dominant eigenvalue is negative: on H + sigma I with sigma = ||Hv|| ~ |lambda_min|
            # the spectrum is lambda_i + sigma >= 0 and the dominant one is lambda_max + sigma.
            count2, vector2, value2, converged2, _ = power(-norm, start)
            return count + count2, vector2, value2 - norm, converged2

        def unshifted(_):
            return count, vector, value, converged

        count, vector, value, converged = jax.lax.cond(value < 0, shifted, unshifted, None)
        return value, vector, count, converged

    return jax.jit(run)


def sharpness(
    loss_fn: Callable[..., jax.Array],
    params: Params,
    *args: Any,
    iters: int = 100,
    tol: float = 1e-6,
    key: jax.Array | None = None,
) -> float:
    r"""The sharpness :math:`\lambda_{\max}(\nabla^2 \ell(\theta))`, the top Hessian eigenvalue.

    Power iteration on Hessian-vector products (see :func:`top_hessian_eigen`, which also
    returns the eigenvector and whether it converged). Exact to well under 1e-3 relative
    on quadratics with a spectral gap.

    Args:
      loss_fn: a scalar loss ``loss_fn(params, *args)``.
      params: where to measure (any pytree of float arrays).
      *args: extra arguments of ``loss_fn``.
      iters: cap on power iterations (> 0).
      tol: relative tolerance on the eigenvalue estimate.
      key: ``jax.random`` key for the start vector (default ``jax.random.key(0)``).

    Returns:
      :math:`\lambda_{\max}` as a Python float.

    Examples:
      >>> import jax.numpy as jnp
      >>> round(sharpness(lambda x: x ** 2 + 10.0, jnp.array(5.0)), 4)   # f'' = 2
      2.0
    """
    return top_hessian_eigen(loss_fn, params, *args, iters=iters, tol=tol, key=key).value


def max_stable_lr(loss_fn: Callable[..., jax.Array], params: Params, *args: Any, **kwargs: Any) -> float:
    r"""The largest stable step of plain gradient descent at ``params``: :math:`2/\lambda_{\max}`.

    For a quadratic loss with Hessian :math:`H`, gradient descent with learning rate
    :math:`\eta` converges iff :math:`\eta < 2/\lambda_{\max}(H)` and *diverges* for any
    :math:`\eta > 2/\lambda_{\max}` (the error along the top eigenvector grows by
    :math:`|1-\eta\lambda_{\max}| > 1` per step). Elsewhere it is the bound for the local
    quadratic model at ``params``. Momentum methods and Adam have other bounds
    (e.g. heavy-ball momentum :math:`\beta` is stable up to :math:`2(1+\beta)/\lambda_{\max}`).

    Args:
      loss_fn, params, *args: as for :func:`sharpness`.
      **kwargs: ``iters``, ``tol``, ``key`` for :func:`sharpness`.

    Returns:
      :math:`2/\lambda_{\max}`, or ``inf`` when :math:`\lambda_{\max} \le 0` (no positive
      curvature: no step is unstable for curvature reasons).

    Examples:
      >>> import jax.numpy as jnp
      >>> round(max_stable_lr(lambda x: x ** 2 + 10.0, jnp.array(5.0)), 4)
      1.0
    """
    top = sharpness(loss_fn, params, *args, **kwargs)
    return 2.0 / top if top > 0 else math.inf
