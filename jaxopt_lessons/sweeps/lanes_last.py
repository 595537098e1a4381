r"""The lanes-last layout: ``jax.vmap`` with the lane axis *last*, re-emitted from the jaxpr.

``jax.vmap`` puts the batch ("lane") axis where its batching rules like it; for the
tiny models of a learning-rate sweep that turns every ``x @ W`` into thousands of
tiny batched matrix products, each a separate library call. :func:`vmap_last` instead
traces the one-lane function to a jaxpr and re-emits it with every per-lane value
carrying a *trailing* lane axis, so each operation becomes one vectorised loop over
contiguous lanes:

* elementwise primitives broadcast over the trailing axis (shared operands get a
  unit lane axis);
* shape primitives (``broadcast_in_dim``, ``reshape``, ``transpose``, ``slice``,
  ``pad``, ``concatenate``, reductions, ...) get the lane axis appended to their
  parameters;
* ``dot_general`` becomes a broadcast multiply-and-sum over lanes-last operands
  (:math:`z_{b,o,\lambda} = \sum_i h_{b,i,\lambda} W_{i,o,\lambda}`), unrolled into
  a chain of multiply-adds when the contraction is short;
* sub-jaxprs (``jit``, ``custom_jvp_call``, ``custom_vjp_call``) are inlined, a
  ``cond`` on a shared predicate keeps its branches;
* any other primitive falls back to ``jax.vmap`` of that one primitive with
  ``in_axes=-1, out_axes=-1`` (correct for every primitive, only slower).

Values that depend on no per-lane input (the data, the step number, constants) stay
shared and are computed once. Results equal ``jax.vmap``'s up to float rounding: a
multiply-and-sum adds in another order than a matrix-product kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend import core

__all__ = ["UNROLL_LIMIT", "dot_sizes", "vmap_last"]

UNROLL_LIMIT = 32
"""Contractions up to this length are unrolled into multiply-adds (one fused loop)."""

_ELEMENTWISE = frozenset("""
    abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp complex conj convert_element_type
    copy copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma imag
    integer_pow is_finite le lgamma log log1p logistic lt max min mul ne neg nextafter not or
    population_count pow real reduce_precision rem round rsqrt select_n shift_left shift_right_arithmetic
    shift_right_logical sign sin sinh sqrt square stop_gradient sub tan tanh xor
""".split())
_SAME_AXES = frozenset("""
    reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax argmin
    cumsum cumprod cummax cummin cumlogsumexp squeeze rev split
""".split())
_INLINE = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
           "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr", "custom_vjp_call_jaxpr": "fun_jaxpr",
           "remat": "jaxpr", "checkpoint": "jaxpr"}


def vmap_last(fn: Callable[..., Any], in_axes: Sequence[int | None]) -> Callable[..., Any]:
    """``jax.vmap(fn, in_axes, out_axes=-1)`` with every per-lane value's lane axis last.

    Args:
      fn: a function of one lane, ``fn(*args)`` returning a pytree of arrays.
      in_axes: one entry per positional argument: ``-1`` when every leaf of that
        argument carries a trailing lane axis, ``None`` when it is shared by all lanes.

    Returns:
      The batched function: same arguments with lanes last (at least one batched
      argument), every output leaf with a trailing lane axis.

    Raises:
      ValueError: if ``in_axes`` has the wrong length or an entry other than -1/None,
        or no argument is batched.

    Examples:
      >>> import jax.numpy as jnp
      >>> f = vmap_last(lambda w, x: jnp.sum(x @ w), in_axes=(-1, None))
      >>> f(jnp.ones((3, 2, 5)), jnp.ones((4, 3))).shape
      (5,)
    """
    in_axes = tuple(in_axes)
    if any(axis not in (-1, None) for axis in in_axes):
        raise ValueError(f"in_axes entries must be -1 (lanes last) or None (shared), got {in_axes}")
    if all(axis is None for axis in in_axes):
        raise ValueError("in_axes must batch at least one argument (-1)")

    def batched(*args: Any) -> Any:
        if len(args) != len(in_axes):
            raise ValueError(f"expected {len(in_axes)} arguments as in in_axes, got {len(args)}")
        leaves, flags, lanes = [], [], None
        for arg, axis in zip(args, in_axes):
            for leaf in jax.tree_util.tree_leaves(arg):
                leaves.append(leaf)
                flags.append(axis is not None)
                if axis is not None:
                    lanes = jnp.shape(leaf)[-1]
        treedef = jax.tree_util.tree_structure(args)
        avals = [jax.ShapeDtypeStruct(jnp.shape(x)[:-1] if b else jnp.shape(x), jnp.result_type(x))
                 for x, b in zip(leaves, flags)]
        closed, out_shape = jax.make_jaxpr(lambda *flat: fn(*jax.tree_util.tree_unflatten(treedef, flat)),
                                           return_shape=True)(*avals)
        outs, out_flags = evaluate(closed.jaxpr, closed.consts, leaves, flags, lanes)
        outs = [x if b else _add_lanes(x, lanes) for x, b in zip(outs, out_flags)]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), outs)

    return batched


def evaluate(jaxpr: Any, consts: Sequence[Any], args: Sequence[Any], flags: Sequence[bool],
             lanes: int) -> tuple[list[Any], list[bool]]:
    """Runs ``jaxpr`` on lanes-last ``args`` (``flags[i]``: arg ``i`` has a lane axis).

    Returns:
      ``(outputs, output_flags)``; an output without a lane axis is shared by all lanes.
    """
    env: dict[Any, tuple[Any, bool]] = {}

    def read(var: Any) -> tuple[Any, bool]:
        return (var.val, False) if isinstance(var, core.Literal) else env[var]

    for var, value in zip(jaxpr.constvars, consts):
        env[var] = (value, False)
    for var, value, flag in zip(jaxpr.invars, args, flags):
        env[var] = (value, flag)
    for eqn in jaxpr.eqns:
        values, in_flags = zip(*map(read, eqn.invars)) if eqn.invars else ((), ())
        if any(in_flags):
            outs, out_flags = _batched_eqn(eqn, list(values), list(in_flags), lanes)
        else:
            outs = eqn.primitive.bind(*values, **eqn.primitive.get_bind_params(eqn.params))
            outs = list(outs) if eqn.primitive.multiple_results else [outs]
            out_flags = [False] * len(outs)
        for var, value, flag in zip(eqn.outvars, outs, out_flags):
            env[var] = (value, flag)
    results = [read(var) for var in jaxpr.outvars]
    return [value for value, _ in results], [flag for _, flag in results]


def _batched_eqn(eqn: Any, values: list[Any], flags: list[bool], lanes: int) -> tuple[list[Any], list[bool]]:
    """One equation with at least one lanes-last input: the rule for its primitive, or ``vmap``."""
    name = eqn.primitive.name
    params = dict(eqn.params)
    if name in _INLINE and _INLINE[name] in params:
        closed = params[_INLINE[name]]
        inner = getattr(closed, "jaxpr", closed)
        return evaluate(inner, getattr(closed, "consts", ()), values[-len(inner.invars):] if inner.invars else [],
                        flags[-len(inner.invars):] if inner.invars else [], lanes)
    if name == "cond" and not flags[0]:
        return _cond(params, values, flags, lanes)
    rule = _RULES.get(name)
    if rule is None and name in _ELEMENTWISE:
        rule = _elementwise
    if rule is None and name in _SAME_AXES:
        rule = _same_params
    out = rule(eqn, params, values, flags, lanes) if rule is not None else None
    if out is None:
        out = _fallback(eqn, values, flags)
    outs = list(out) if eqn.primitive.multiple_results else [out]
    return outs, [True] * len(outs)


# --- rules ------------------------------------------------------------------------------


def _per_lane_shape(eqn: Any) -> tuple[int, ...]:
    return tuple(eqn.outvars[0].aval.shape)


def _full(value: Any, flag: bool, shape: tuple[int, ...], lanes: int) -> Any:
    """``value`` broadcast to the lanes-last ``shape + (lanes,)``."""
    value = jnp.asarray(value)
    target = (*shape, lanes)
    if flag:
        if value.shape == target:
            return value
        # a per-lane scalar (lanes,) against per-lane arrays
        return lax.broadcast_in_dim(value, target, (*range(len(shape) - value.ndim + 1, len(shape)), len(shape)))
    if value.ndim == 0:
        return lax.broadcast_in_dim(value, target, ())
    return lax.broadcast_in_dim(value, target, tuple(range(len(shape) - value.ndim, len(shape))))


def _elementwise(eqn, params, values, flags, lanes):
    shape = _per_lane_shape(eqn)
    return eqn.primitive.bind(*(_full(v, f, shape, lanes) for v, f in zip(values, flags)), **params)


def _same_params(eqn, params, values, flags, lanes):
    if len(values) != 1:
        return None
    return eqn.primitive.bind(values[0], **params)


def _broadcast_in_dim(eqn, params, values, flags, lanes):
    if len(values) != 1:  # dynamic shapes
        return None
    shape = tuple(params["shape"])
    params.update(shape=(*shape, lanes), broadcast_dimensions=(*params["broadcast_dimensions"], len(shape)))
    return eqn.primitive.bind(values[0], **params)


def _reshape(eqn, params, values, flags, lanes):
    if len(values) != 1 or params.get("dimensions") is not None:
        return None
    params["new_sizes"] = (*params["new_sizes"], lanes)
    return eqn.primitive.bind(values[0], **params)


def _transpose(eqn, params, values, flags, lanes):
    permutation = tuple(params["permutation"])
    params["permutation"] = (*permutation, len(permutation))
    return eqn.primitive.bind(values[0], **params)


def _concatenate(eqn, params, values, flags, lanes):
    return eqn.primitive.bind(*(v if f else _add_lanes(v, lanes) for v, f in zip(values, flags)), **params)


def _pad(eqn, params, values, flags, lanes):
    if flags[1]:
        return None
    params["padding_config"] = (*params["padding_config"], (0, 0, 0))
    return eqn.primitive.bind(values[0], values[1], **params)


def _slice(eqn, params, values, flags, lanes):
    strides = params.get("strides")
    params.update(start_indices=(*params["start_indices"], 0), limit_indices=(*params["limit_indices"], lanes),
                  strides=None if strides is None else (*strides, 1))
    return eqn.primitive.bind(values[0], **params)


def _dynamic_slice(eqn, params, values, flags, lanes):
    if any(flags[1:]):
        return None
    index = values[1:]
    zero = jnp.zeros((), jnp.result_type(index[0]) if index else jnp.int32)
    params["slice_sizes"] = (*params["slice_sizes"], lanes)
    return eqn.primitive.bind(values[0], *index, zero, **params)


def _dynamic_update_slice(eqn, params, values, flags, lanes):
    if any(flags[2:]):
        return None
    operand, update = (v if f else _add_lanes(v, lanes) for v, f in zip(values[:2], flags[:2]))
    index = values[2:]
    zero = jnp.zeros((), jnp.result_type(index[0]) if index else jnp.int32)
    return eqn.primitive.bind(operand, update, *index, zero, **params)


def _dot_general(eqn, params, values, flags, lanes):
    r"""``dot_general`` as a broadcast multiply-and-sum over lanes-last operands."""
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = params["dimension_numbers"]
    dtype = params.get("preferred_element_type") or eqn.outvars[0].aval.dtype
    lhs, rhs = values
    lhs_rank, rhs_rank = lhs.ndim - flags[0], rhs.ndim - flags[1]
    lhs_free = [d for d in range(lhs_rank) if d not in lhs_contract and d not in lhs_batch]
    rhs_free = [d for d in range(rhs_rank) if d not in rhs_contract and d not in rhs_batch]
    # both as [batch..., lhs_free..., rhs_free..., contract..., lane], unit axes where absent
    a = _arrange(lhs, flags[0], lhs_batch, lhs_free, lhs_contract, (0, len(rhs_free))).astype(dtype)
    b = _arrange(rhs, flags[1], rhs_batch, rhs_free, rhs_contract, (len(lhs_free), 0)).astype(dtype)
    first = len(lhs_batch) + len(lhs_free) + len(rhs_free)
    size = math.prod(lhs.shape[d] for d in lhs_contract)
    if not lhs_contract:
        return a * b
    if size <= UNROLL_LIMIT:
        a = a.reshape(*a.shape[:first], -1, a.shape[-1])
        b = b.reshape(*b.shape[:first], -1, b.shape[-1])
        total = a[..., 0, :] * b[..., 0, :]
        for k in range(1, size):
            total = total + a[..., k, :] * b[..., k, :]
        return total
    return jnp.sum(a * b, axis=tuple(range(first, first + len(lhs_contract))))


def _arrange(x: Any, flag: bool, batch: Sequence[int], free: Sequence[int], contract: Sequence[int],
             units: tuple[int, int]) -> Any:
    """``x`` transposed to ``[batch, free, contract, lane]`` with unit axes for the other operand's free axes.

    ``units = (before, after)``: unit axes inserted before / after ``free``.
    """
    order = [*batch, *free, *contract] + ([x.ndim - 1] if flag else [])
    x = jnp.transpose(x, order)
    shape = list(x.shape)
    n_batch, n_free = len(batch), len(free)
    before, after = units
    new = shape[:n_batch] + [1] * before + shape[n_batch:n_batch + n_free] + [1] * after + shape[n_batch + n_free:]
    if not flag:
        new.append(1)
    return x.reshape(new)


def _cond(params, values, flags, lanes):
    """A ``cond``/``switch`` on a shared index: branches re-emitted lanes-last."""
    branches = params["branches"]
    out_flags = [any(column) for column in zip(*(batched_outputs(b.jaxpr, flags[1:]) for b in branches))]

    def branch_fn(closed: Any) -> Callable[..., list[Any]]:
        def run(*operands: Any) -> list[Any]:
            outs, got = evaluate(closed.jaxpr, closed.consts, operands, flags[1:], lanes)
            return [_add_lanes(x, lanes) if want and not has else x for x, has, want in zip(outs, got, out_flags)]

        return run

    outs = lax.switch(values[0], [branch_fn(b) for b in branches], *values[1:])
    return list(outs), out_flags


def batched_outputs(jaxpr: Any, flags: Sequence[bool]) -> list[bool]:
    """Which outputs of ``jaxpr`` :func:`evaluate` gives a lane axis, for inputs batched as ``flags``."""
    batched: dict[Any, bool] = dict(zip(jaxpr.invars, flags))

    def read(var: Any) -> bool:
        return False if isinstance(var, core.Literal) else batched.get(var, False)

    for eqn in jaxpr.eqns:
        in_flags = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if not any(in_flags):
            outs = [False] * len(eqn.outvars)
        elif name in _INLINE and _INLINE[name] in eqn.params:
            inner = getattr(eqn.params[_INLINE[name]], "jaxpr", eqn.params[_INLINE[name]])
            outs = batched_outputs(inner, in_flags[-len(inner.invars):] if inner.invars else [])
        elif name == "cond" and not in_flags[0]:
            outs = [any(c) for c in zip(*(batched_outputs(b.jaxpr, in_flags[1:]) for b in eqn.params["branches"]))]
        else:
            outs = [True] * len(eqn.outvars)
        batched.update(zip(eqn.outvars, outs))
    return [read(v) for v in jaxpr.outvars]


def _fallback(eqn: Any, values: list[Any], flags: list[bool]) -> Any:
    """Any primitive: ``jax.vmap`` of it alone, lanes last in and out."""
    params = eqn.primitive.get_bind_params(eqn.params)

    def one(*operands: Any) -> Any:
        return eqn.primitive.bind(*operands, **params)

    return jax.vmap(one, in_axes=[-1 if f else None for f in flags], out_axes=-1)(*values)


def _add_lanes(value: Any, lanes: int) -> Any:
    value = jnp.asarray(value)
    return lax.broadcast_in_dim(value, (*value.shape, lanes), tuple(range(value.ndim)))


_RULES: dict[str, Callable[..., Any]] = {
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": _reshape,
    "transpose": _transpose,
    "concatenate": _concatenate,
    "pad": _pad,
    "slice": _slice,
    "dynamic_slice": _dynamic_slice,
    "dynamic_update_slice": _dynamic_update_slice,
    "dot_general": _dot_general,
}


def dot_sizes(fn: Callable[..., Any], *avals: Any) -> list[tuple[int, int]]:
    """``(contraction length, output size)`` of every ``dot_general`` in ``fn``'s jaxpr, sub-jaxprs included.

    The sizes decide the layout: short contractions over small outputs run fastest
    lanes-last; large matrix products are best left to ``jax.vmap``'s batched kernels.
    """
    closed = jax.make_jaxpr(fn)(*avals)
    sizes: list[tuple[int, int]] = []

    def visit(jaxpr: Any) -> None:
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                (lhs_contract, _), _ = eqn.params["dimension_numbers"]
                lhs = eqn.invars[0].aval.shape
                sizes.append((math.prod(lhs[d] for d in lhs_contract), math.prod(eqn.outvars[0].aval.shape)))
            for sub in core.jaxprs_in_params(eqn.params):
                visit(sub)

    visit(closed.jaxpr)
    return sizes
