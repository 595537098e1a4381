"""Gradient checking: compare a gradient function with two independent engines.

A hand-derived ``grad_fn(params, *args) -> (loss, grads)`` is compared leaf by leaf
with ``jax.grad(loss_fn)`` (exact up to rounding) and with central differences
(:func:`jaxopt_lessons.calculus.numerical_grad`, no autodiff at all). A leaf passes
when :math:`|g - g_\\text{ref}| \\le \\text{atol} + \\text{rtol}\\,|g_\\text{ref}|` elementwise.

Central differences in float32 (step :math:`h \\approx \\epsilon^{1/3} \\approx 5\\cdot10^{-3}`)
are accurate to about :math:`\\epsilon^{2/3}|L| \\approx 2.4\\cdot10^{-5}|L|` on smooth losses,
but a step that large crosses ReLU kinks and can be off by O(1) in single elements. So when
they are the *only* oracle that disagrees (``jax.grad`` agrees), the differences are taken
again in float64 (under ``jax.enable_x64``, on float64 copies of the parameters and of the
floating arguments, at the very same point); those decide, and the report carries a note.
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

# (rtol, atol) against jax.grad, and the looser rtol/atol against finite differences in the
# parameters' dtype; fd_atol is multiplied by max(1, |loss|), the scale of the rounding error of
# central differences (float32: 1e-3 is ~40 eps^(2/3); float64: 1e-7, far above eps^(2/3) = 4e-11).
_TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-7, "atol": 1e-10, "fd_rtol": 1e-5, "fd_atol": 1e-7},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-6, "fd_rtol": 3e-2, "fd_atol": 1e-3},
}


@dataclasses.dataclass(frozen=True)
class GradCheck:
    """The outcome of :func:`check_grad`.

    Attributes:
      ok: every leaf within tolerance of both ``jax.grad`` and finite differences (float64
        finite differences where the re-check ran).
      max_abs_error: largest ``|grad_fn - jax.grad|`` over all elements.
      max_rel_error: largest ``|grad_fn - jax.grad| / max(|jax.grad|, atol)``.
      worst_leaf: readable pytree path (e.g. ``"[1]['W']"``) of the leaf furthest out
        of tolerance (relative to its allowance).
      per_leaf: path -> ``{"abs_error", "rel_error", "fd_abs_error", "fd_rel_error",
        "fd64_abs_error", "fd64_rel_error", "worst_index", "ok"}``; the ``fd64`` errors are
        ``None`` unless the float64 re-check ran.
      rtol, atol: the tolerances used against ``jax.grad`` (and against float64 differences).
      loss_error: ``|loss from grad_fn - loss_fn(params)|``.
      worst_index: index of the worst element inside ``worst_leaf`` (``()`` for a scalar leaf),
        e.g. ``(2, 1)``; ``str()`` writes it as ``[1]['W'][2, 1]``.
      worst_values: that element's value from each source (``"grad_fn"``, ``"jax.grad"``,
        ``"finite differences (float32)"``, ``"finite differences (float64)"``).
      notes: sentences about how to read the result, e.g. that float32 finite differences
        were the only disagreeing oracle.
      fd_rtol, fd_atol: the tolerances used against finite differences in the parameters' dtype.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_leaf: str
    per_leaf: dict[str, dict[str, Any]]
    rtol: float
    atol: float
    loss_error: float
    worst_index: tuple[int, ...] = ()
    worst_values: dict[str, float] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    fd_rtol: float = float("nan")
    fd_atol: float = float("nan")

    @property
    def worst_element(self) -> str:
        """``worst_leaf`` followed by ``worst_index``, e.g. ``"[1]['W'][2, 1]"``."""
        return _element_name(self.worst_leaf, self.worst_index)

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "FAILED"
        values = ", ".join(f"{source} {value:.6e}" for source, value in self.worst_values.items())
        rechecked = any(row["fd64_abs_error"] is not None for row in self.per_leaf.values())
        lines = [
            f"gradient check {verdict}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e} (rtol {self.rtol:g}, atol {self.atol:g}), "
            f"worst leaf {self.worst_leaf}, loss error {self.loss_error:.3e}",
            f"worst element {self.worst_element}: {values}",
            f"{'leaf':<24} {'abs err':>10} {'rel err':>10} {'fd abs':>10} {'fd rel':>10} "
            + (f"{'fd64 abs':>10} " if rechecked else "")
            + f"{'worst at':>10}  ok",
        ]
        for path, row in self.per_leaf.items():
            fd64 = "-" if row["fd64_abs_error"] is None else f"{row['fd64_abs_error']:.3e}"
            index = "[" + ", ".join(str(i) for i in row["worst_index"]) + "]"
            lines.append(
                f"{path:<24} {row['abs_error']:>10.3e} {row['rel_error']:>10.3e} "
                f"{row['fd_abs_error']:>10.3e} {row['fd_rel_error']:>10.3e} "
                + (f"{fd64:>10} " if rechecked else "")
                + f"{index:>10}  {'yes' if row['ok'] else 'NO'}"
            )
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _element_name(path: str, index: tuple[int, ...]) -> str:
    return path + (f"[{', '.join(str(i) for i in index)}]" if index else "")


def _compare(actual: np.ndarray, reference: np.ndarray, rtol: float, atol: float) -> dict[str, Any]:
    """Max abs and rel error of one leaf, and the elementwise ratio of error to allowance."""
    error = np.abs(actual - reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = error / np.maximum(np.abs(reference), atol)
        ratio = error / (atol + rtol * np.abs(reference))
    ratio = np.where(error == 0, 0.0, ratio)  # 0/0 when atol = 0 and the reference is 0
    bad = ~np.isfinite(actual) | np.isnan(ratio)  # a NaN/inf gradient is infinitely wrong
    error, rel, ratio = (np.where(bad, np.inf, a) for a in (error, rel, ratio))
    return {"abs": float(error.max(initial=0.0)), "rel": float(rel.max(initial=0.0)), "ratio": ratio}


def _float64_differences(
    loss_fn: Callable[..., jax.Array], params: Any, args: tuple
) -> tuple[list[np.ndarray] | None, str]:
    """Central differences in float64 at the same point: ``(leaves, "")`` or ``(None, why not)``."""

    def widen(leaf: Any) -> Any:
        if isinstance(leaf, (jax.Array, np.ndarray)) and jnp.issubdtype(leaf.dtype, jnp.floating):
            return np.asarray(leaf, dtype=np.float64)
        return leaf

    try:
        with jax.enable_x64(True):
            params64 = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, np.float64)), params)
            args64 = jax.tree_util.tree_map(widen, args)
            loss_dtype = jnp.result_type(loss_fn(params64, *args64))
            if loss_dtype != jnp.float64:
                return None, f"loss_fn returns {loss_dtype} on float64 inputs"
            grads = numerical_grad(loss_fn, params64, *args64)
            return _numpy_leaves(grads), ""
    except Exception as error:  # any failure only means the re-check is unavailable, said in the note
        return None, f"{type(error).__name__}: {error}"


def _numpy_leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(leaf, dtype=np.float64) for leaf in jax.tree_util.tree_leaves(tree)]


def _passes(comparison: dict[str, Any]) -> bool:
    return bool(comparison["ratio"].max(initial=0.0) <= 1.0)


def _argmax_index(ratio: np.ndarray) -> tuple[int, ...]:
    """Index of the largest ratio (``()`` for a scalar or empty leaf)."""
    if ratio.size == 0:
        return ()
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))


def _per_leaf(
    names: list[str], autodiff: list[dict], finite: list[dict], finite64: list[dict | None]
) -> tuple[dict[str, dict[str, Any]], list[np.ndarray]]:
    """The per-leaf rows of :class:`GradCheck` and each leaf's elementwise worst ratio."""
    per_leaf, ratios = {}, []
    for i, name in enumerate(names):
        # Once float64 differences exist they are the finite-difference oracle: strictly more accurate.
        fd_ratio = finite[i]["ratio"] if finite64[i] is None else finite64[i]["ratio"]
        ratio = np.maximum(autodiff[i]["ratio"], fd_ratio)
        ratios.append(ratio)
        per_leaf[name] = {
            "abs_error": autodiff[i]["abs"],
            "rel_error": autodiff[i]["rel"],
            "fd_abs_error": finite[i]["abs"],
            "fd_rel_error": finite[i]["rel"],
            "fd64_abs_error": None if finite64[i] is None else finite64[i]["abs"],
            "fd64_rel_error": None if finite64[i] is None else finite64[i]["rel"],
            "worst_index": _argmax_index(ratio),
            "ok": bool(ratio.max(initial=0.0) <= 1.0),
        }
    return per_leaf, ratios


def _fd_note(
    dtype: np.dtype, names: list[str], fd_error: float, rechecked: bool, passed: bool, why: str
) -> str:
    """The sentence for leaves where only finite differences in ``dtype`` disagree."""
    head = (
        f"{dtype.name} finite differences are the only oracle that disagrees (jax.grad agrees) at "
        f"{', '.join(names)}, by up to {fd_error:.3e}."
    )
    if not rechecked:
        return head + f" The float64 re-check could not run ({why}), so these leaves fail; check in float64."
    if passed:
        return head + (
            " Float64 finite differences at the same point agree with grad_fn, so these leaves pass:"
            f" a {dtype.name} central difference (step ~eps^(1/3)) cannot resolve these partials, e.g. its"
            " step crosses ReLU kinks or loses digits to rounding."
        )
    return head + (
        f" Float64 finite differences disagree too, so this is not {dtype.name} rounding: jax.grad of loss_fn"
        " itself may be wrong (stop_gradient, a custom_jvp, a non-differentiable point)."
    )


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
        1e-10; float32: 1e-4, 1e-6). Finite differences in the parameters' dtype get looser
        tolerances (float64: 1e-5 and 1e-7·max(1, |loss|); float32: 3e-2 and 1e-3·max(1, |loss|)),
        never tighter than ``rtol``/``atol``. Where those alone disagree in a dtype narrower than
        float64, float64 differences (checked with ``rtol``/``atol``) decide instead.

    Returns:
      A :class:`GradCheck`; ``str()`` of it is a per-leaf table with the worst element and notes.

    Raises:
      TypeError: integer parameters.
      ValueError: ``grad_fn`` returns a different tree structure or leaf shapes.

    Examples:
      >>> loss = lambda w: jnp.sum(jnp.maximum(w, 0.0) ** 2)
      >>> check_grad(loss, jax.value_and_grad(loss), jnp.array([1.0, -2.0])).ok
      True
    """
    args = check_args(args)
    check_loss_and_grad(loss_fn, grad_fn, params, args)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    dtype = np.dtype(jax.tree_util.tree_leaves(params)[0].dtype)
    defaults = _TOLERANCES.get(dtype, _TOLERANCES[np.dtype(np.float32)])
    rtol = defaults["rtol"] if rtol is None else float(rtol)
    atol = defaults["atol"] if atol is None else float(atol)

    loss, grads = grad_fn(params, *args)
    loss_value = float(np.asarray(loss_fn(params, *args)))
    scale = max(1.0, abs(loss_value)) if np.isfinite(loss_value) else 1.0
    fd_rtol, fd_atol = max(rtol, defaults["fd_rtol"]), max(atol, defaults["fd_atol"] * scale)
    names = [keystr(path) or "<root>" for path, _ in jax.tree_util.tree_flatten_with_path(grads)[0]]
    actual = _numpy_leaves(grads)
    reference = _numpy_leaves(jax.grad(loss_fn)(params, *args))
    numerical = _numpy_leaves(numerical_grad(loss_fn, params, *args))
    sources = {"grad_fn": actual, "jax.grad": reference, f"finite differences ({dtype.name})": numerical}
    autodiff = [_compare(g, r, rtol, atol) for g, r in zip(actual, reference)]
    finite = [_compare(g, n, fd_rtol, fd_atol) for g, n in zip(actual, numerical)]
    only_fd = [i for i in range(len(names)) if _passes(autodiff[i]) and not _passes(finite[i])]

    notes, finite64 = [], [None] * len(names)
    if only_fd and dtype != np.float64:
        numerical64, why = _float64_differences(loss_fn, params, args)
        if numerical64 is not None:
            sources["finite differences (float64)"] = numerical64
            finite64 = [_compare(g, n, rtol, atol) for g, n in zip(actual, numerical64)]
        passed = numerical64 is not None and all(_passes(finite64[i]) for i in only_fd)
        worst = max(finite[i]["abs"] for i in only_fd)
        only_fd_names = [names[i] for i in only_fd]
        notes.append(_fd_note(dtype, only_fd_names, worst, numerical64 is not None, passed, why))

    per_leaf, ratios = _per_leaf(names, autodiff, finite, finite64)
    leaf = max(range(len(names)), key=lambda i: ratios[i].max(initial=-1.0))
    index = per_leaf[names[leaf]]["worst_index"]
    return GradCheck(
        ok=all(row["ok"] for row in per_leaf.values()),
        max_abs_error=max(row["abs_error"] for row in per_leaf.values()),
        max_rel_error=max(row["rel_error"] for row in per_leaf.values()),
        worst_leaf=names[leaf],
        per_leaf=per_leaf,
        rtol=rtol,
        atol=atol,
        loss_error=float(abs(np.asarray(loss) - loss_value)),
        worst_index=index,
        worst_values={
            source: float(leaves[leaf][index]) for source, leaves in sources.items() if leaves[leaf].size
        },
        notes=tuple(notes),
        fd_rtol=fd_rtol,
        fd_atol=fd_atol,
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
