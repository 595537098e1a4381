"""Input checks shared by the public functions.

Every check runs before anything is compiled and raises :class:`ValueError` or
:class:`TypeError` with a message that names the argument and what was expected.
Shape and structure checks use :func:`jax.eval_shape`, which traces but never
compiles or runs the computation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def fn_name(fn: Any) -> str:
    """A readable name for a callable (``functools.partial`` unwrapped)."""
    while hasattr(fn, "func"):
        fn = fn.func
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def keystr(path: Sequence[Any]) -> str:
    """A readable pytree path such as ``"[1]['W']"`` (``""`` for the root)."""
    return jax.tree_util.keystr(tuple(path))


def check_positive_int(value: Any, name: str) -> int:
    """Returns ``value`` as an ``int`` if it is a positive integer, else raises."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r} of type {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_choice(value: Any, choices: Iterable[str], name: str) -> str:
    """Returns ``value`` if it is one of ``choices``, else raises listing them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_float_tree(tree: Any, name: str) -> None:
    """Raises unless every leaf of ``tree`` is a floating-point array or Python float."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if not leaves:
        raise ValueError(f"{name} must be a pytree with at least one array leaf, got {tree!r}")
    for path, leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"{name} leaf {keystr(path) or '<root>'} must be floating point, got dtype {dtype}; "
                "convert with jnp.asarray(x, dtype=float)"
            )


def check_same_structure(expected: Any, actual: Any, *, expected_name: str, actual_name: str) -> None:
    """Raises if two pytrees differ in structure or leaf shapes, naming the first differing leaf."""
    exp_leaves, exp_def = jax.tree_util.tree_flatten_with_path(expected)
    act_leaves, act_def = jax.tree_util.tree_flatten_with_path(actual)
    if exp_def != act_def:
        exp_paths = [keystr(p) for p, _ in exp_leaves]
        act_paths = [keystr(p) for p, _ in act_leaves]
        first = next(
            (f"{e!r} vs {a!r}" for e, a in zip(exp_paths, act_paths) if e != a),
            f"{len(exp_paths)} leaves vs {len(act_paths)} leaves",
        )
        raise ValueError(
            f"{actual_name} must have the tree structure of {expected_name}; first difference: {first} "
            f"({expected_name}: {exp_def}, {actual_name}: {act_def})"
        )
    for (path, exp), (_, act) in zip(exp_leaves, act_leaves):
        if tuple(jnp.shape(exp)) != tuple(jnp.shape(act)):
            raise ValueError(
                f"{actual_name} leaf {keystr(path) or '<root>'} has shape {tuple(jnp.shape(act))}, "
                f"expected {tuple(jnp.shape(exp))} as in {expected_name}"
            )


def check_optimizer(optimizer: Any, name: str = "optimizer") -> optax.GradientTransformation:
    """Raises unless ``optimizer`` is an ``optax.GradientTransformation``."""
    if not isinstance(optimizer, optax.GradientTransformation):
        hint = ""
        if callable(optimizer):
            hint = " (it looks like a factory: call it with a learning rate, e.g. optimizer(1e-3))"
        raise TypeError(
            f"{name} must be an optax.GradientTransformation such as optax.adam(1e-3), "
            f"got {type(optimizer).__name__}{hint}"
        )
    return optimizer


def check_optimizer_factory(factory: Any, name: str = "optimizer") -> Callable[[Any], Any]:
    """Raises unless ``factory`` is a callable ``learning_rate -> GradientTransformation``."""
    if isinstance(factory, optax.GradientTransformation):
        raise TypeError(
            f"{name} must be an optimizer factory (learning_rate -> GradientTransformation) such as "
            "optax.adam or functools.partial(optax.sgd, momentum=0.9), not an already-built "
            "optimizer like optax.adam(1e-3): pass optax.adam itself"
        )
    if not callable(factory):
        raise TypeError(
            f"{name} must be a callable learning_rate -> optax.GradientTransformation, "
            f"got {type(factory).__name__}"
        )
    return factory


def check_args(args: Any) -> tuple:
    """Returns ``args`` as a tuple; a bare array is a common mistake and is rejected."""
    if isinstance(args, tuple):
        return args
    if isinstance(args, list):
        return tuple(args)
    raise TypeError(
        f"args must be a tuple of extra arguments for the loss, e.g. args=(x, y), got {type(args).__name__}"
    )


def check_loss_and_grad(
    loss_fn: Callable[..., Any],
    grad_fn: Callable[..., Any] | None,
    params: Any,
    args: tuple,
) -> None:
    """Checks, by abstract evaluation only, that the loss and gradient fit ``params``.

    * ``loss_fn(params, *args)`` must trace and return a scalar floating-point value;
    * ``grad_fn(params, *args)``, if given, must return ``(loss, grads)`` with ``grads``
      matching ``params`` leaf for leaf.

    Raises:
      ValueError / TypeError naming ``loss_fn`` or ``grad_fn`` and what was expected.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(params, *args), got {type(loss_fn).__name__}")
    check_float_tree(params, "params")
    try:
        loss_shape = jax.eval_shape(loss_fn, params, *args)
    except Exception as error:
        raise _renamed(error, f"loss_fn {fn_name(loss_fn)!r} failed when called as "
                       f"loss_fn(params, *args) with {len(args)} extra args: {error}") from error
    _check_scalar_loss(loss_shape, f"loss_fn {fn_name(loss_fn)!r}")
    if grad_fn is None:
        return
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable as grad_fn(params, *args), got {type(grad_fn).__name__}")
    try:
        out = jax.eval_shape(grad_fn, params, *args)
    except Exception as error:
        raise ValueError(
            f"grad_fn {fn_name(grad_fn)!r} failed when called as grad_fn(params, *args): {error}"
        ) from error
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(
            f"grad_fn {fn_name(grad_fn)!r} must return (loss, grads) like jax.value_and_grad, "
            f"got {type(out).__name__}"
        )
    _check_scalar_loss(out[0], f"grad_fn {fn_name(grad_fn)!r} loss")
    check_same_structure(params, out[1], expected_name="params", actual_name="grads from grad_fn")


def _renamed(error: Exception, message: str) -> Exception:
    """The same kind of exception as ``error`` with a clearer message (ValueError if impossible)."""
    try:
        return type(error)(message)
    except Exception:
        return ValueError(message)


def _check_scalar_loss(shape_dtype: Any, what: str) -> None:
    shape = getattr(shape_dtype, "shape", None)
    dtype = getattr(shape_dtype, "dtype", None)
    if shape is None or tuple(shape) != ():
        raise ValueError(f"{what} must return a scalar loss, got shape {shape}; reduce it, e.g. with jnp.mean")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{what} must return a floating-point scalar, got dtype {dtype}")


def check_finite_positive(values: Any, name: str) -> np.ndarray:
    """Returns ``values`` as a 1-D float64 NumPy array, all finite and > 0, else raises."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a 1-D sequence of positive floats, got {values!r}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and > 0; got {array[bad][:5].tolist()} at index {np.flatnonzero(bad)[:5].tolist()}")
    return array


def is_finite_number(value: Any) -> bool:
    """True for a finite real Python/NumPy scalar."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
