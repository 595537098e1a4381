"""Gradient checking: compare a gradient function with two independent engines.

A hand-derived ``grad_fn(params, *args) -> (loss, grads)`` is compared leaf by leaf
with ``jax.grad(loss_fn)`` (exact up to rounding) and with central differences
(:func:`jaxopt_lessons.calculus.numerical_grad`, no autodiff at all). A leaf passes
when :math:`|g - g_\\text{ref}| \\le \\text{atol} + \\text{rtol}\\,|g_\\text{ref}|` elementwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import check_args, check_loss_and_grad, keystr
from .calculus import numerical_grad

# (rtol, atol) against jax.grad, and the looser rtol/atol against finite differences.
_TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-7, "atol": 1e-10, "fd_rtol": 1e-5, "fd_atol": 1e-7},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-6, "fd_rtol": 3e-2, "fd_atol": 1e-3},
}


@dataclasses.dataclass(frozen=True)
class GradCheck:
    """The outcome of :func:`check_grad`.

    Attributes:
      ok: every leaf within tolerance of both ``jax.grad`` and finite differences.
      max_abs_error: largest ``|grad_fn - jax.grad|`` over all elements.
      max_rel_error: largest ``|grad_fn - jax.grad| / max(|jax.grad|, atol)``.
      worst_leaf: readable pytree path (e.g. ``"[1]['W']"``) of the leaf furthest out
        of tolerance (relative to its allowance).
      per_leaf: path -> ``{"abs_error", "rel_error", "fd_abs_error", "fd_rel_error", "ok"}``.
      rtol, atol: the tolerances used against ``jax.grad``.
      loss_error: ``|loss from grad_fn - loss_fn(params)|``.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_leaf: str
    per_leaf: dict[str, dict[str, Any]]
    rtol: float
    atol: float
    loss_error: float

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        lines = [
            f"gradient check {verdict}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e} (rtol {self.rtol:g}, atol {self.atol:g}), "
            f"worst leaf {self.worst_leaf}, loss error {self.loss_error:.3e}",
            f"{'leaf':<24} {'abs err':>10} {'rel err':>10} {'fd abs':>10} {'fd rel':>10}  ok",
        ]
        for path, row in self.per_leaf.items():
            lines.append(
                f"{path:<24} {row['abs_error']:>10.3e} {row['rel_error']:>10.3e} "
                f"{row['fd_abs_error']:>10.3e} {row['fd_rel_error']:>10.3e}  {'yes' if row['ok'] else 'NO'}"
            )
        return "\n".join(lines)


def _compare(actual: np.ndarray, reference: np.ndarray, rtol: float, atol: float) -> tuple[float, float, float]:
    """(max abs error, max rel error, max ratio of error to allowance) for one leaf."""
    if actual.size == 0:
        return 0.0, 0.0, 0.0
    error = np.abs(actual - reference)
    with np.errstate(invalid="ignore"):
        rel = error / np.maximum(np.abs(reference), atol)
        ratio = error / (atol + rtol * np.abs(reference))
    bad = ~np.isfinite(actual)  # a NaN/inf gradient is infinitely wrong
    if bad.any():
        return float("inf"), float("inf"), float("inf")
    return float(error.max()), float(rel.max()), float(ratio.max())


def check_grad(
    loss_fn: Callable[..., jax.Array],
    grad_fn: Callable[..., tuple[jax.Array, Any]],
    params: Any,
    *args: Any,
    rtol: float | None = None,
    atol: float | None = None,
) -> GradCheck:
    """Checks ``grad_fn`` against ``jax.grad(loss_fn)`` and central differences.

    Args:
      loss_fn: the scalar loss ``loss_fn(params, *args)``.
      grad_fn: the gradient to check, ``grad_fn(params, *args) -> (loss, grads)``.
      params: float parameters (a pytree); integer leaves are rejected.
      *args: extra arguments of both functions.
      rtol, atol: tolerances against ``jax.grad``; default by dtype (float64: 1e-7,
        1e-10; float32: 1e-4, 1e-6). Finite differences get looser, dtype-dependent
        tolerances (float64: 1e-5, 1e-7; float32: 3e-2, 1e-3), never tighter than ``rtol``/``atol``.

    Returns:
      A :class:`GradCheck`; ``str()`` of it is a per-leaf table.

    Raises:
      TypeError: integer parameters.
      ValueError: ``grad_fn`` returns a different tree structure or leaf shapes.
    """
    args = check_args(args)
    check_loss_and_grad(loss_fn, grad_fn, params, args)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    dtype = np.dtype(jax.tree_util.tree_leaves(params)[0].dtype)
    defaults = _TOLERANCES.get(dtype, _TOLERANCES[np.dtype(np.float32)])
    rtol = defaults["rtol"] if rtol is None else float(rtol)
    atol = defaults["atol"] if atol is None else float(atol)
    fd_rtol, fd_atol = max(rtol, defaults["fd_rtol"]), max(atol, defaults["fd_atol"])

    loss, grads = grad_fn(params, *args)
    reference = jax.grad(loss_fn)(params, *args)
    numerical = numerical_grad(loss_fn, params, *args)
    loss_error = float(abs(np.asarray(loss) - np.asarray(loss_fn(params, *args))))

    per_leaf: dict[str, dict[str, Any]] = {}
    worst, worst_ratio = "", -1.0
    flat = jax.tree_util.tree_flatten_with_path(grads)[0]
    for (path, leaf), ref, num in zip(flat, jax.tree_util.tree_leaves(reference), jax.tree_util.tree_leaves(numerical)):
        leaf, ref, num = (np.asarray(a, dtype=np.float64) for a in (leaf, ref, num))
        abs_err, rel_err, ratio = _compare(leaf, ref, rtol, atol)
        fd_abs, fd_rel, fd_ratio = _compare(leaf, num, fd_rtol, fd_atol)
        name = keystr(path) or "<root>"
        per_leaf[name] = {
            "abs_error": abs_err,
            "rel_error": rel_err,
            "fd_abs_error": fd_abs,
            "fd_rel_error": fd_rel,
            "ok": bool(ratio <= 1.0 and fd_ratio <= 1.0),
        }
        if max(ratio, fd_ratio) > worst_ratio:
            worst, worst_ratio = name, max(ratio, fd_ratio)
    return GradCheck(
        ok=all(row["ok"] for row in per_leaf.values()),
        max_abs_error=max(row["abs_error"] for row in per_leaf.values()),
        max_rel_error=max(row["rel_error"] for row in per_leaf.values()),
        worst_leaf=worst,
        per_leaf=per_leaf,
        rtol=rtol,
        atol=atol,
        loss_error=loss_error,
    )


def assert_grad_close(
    loss_fn: Callable[..., jax.Array],
    grad_fn: Callable[..., tuple[jax.Array, Any]],
    params: Any,
    *args: Any,
    **tol: float,
) -> GradCheck:
    """Like :func:`check_grad`, but raises ``AssertionError`` carrying the report on failure.

    Returns:
      The passing :class:`GradCheck`.
    """
    report = check_grad(loss_fn, grad_fn, params, *args, **tol)
    if not report.ok:
        raise AssertionError(str(report))
    return report
