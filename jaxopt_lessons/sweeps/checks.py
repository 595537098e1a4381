"""Input checks of :func:`jaxopt_lessons.sweep`, all before anything is compiled.

:func:`make_plan` checks every argument (shapes and dtypes by ``jax.eval_shape``,
which traces but never compiles) and returns a :class:`SweepPlan`: the checked
inputs and the lane grid. Every error is a ``ValueError`` or ``TypeError`` whose
message names the argument and what was expected.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._validate import (
    check_args,
    check_finite_positive,
    check_loss_and_grad,
    check_optimizer_factory,
    check_positive_int,
    fn_name,
)
from ..batching import check_batch_size
from ..train import check_traced_build
from .lanes_last import dot_sizes
from .status import StatusRules

__all__ = ["LANES_LAST_MAX_MACS", "SweepPlan", "make_plan"]

_MAX_DEFAULT_RECORDS = 1000
LANES_LAST_MAX_MACS = 100_000
"""Automatic layout: lanes-last when one lane's step multiplies-and-adds at most this much in dot products."""


@dataclasses.dataclass(frozen=True, eq=False)
class SweepPlan:
    """The checked inputs of one sweep and its lane grid (per optimizer).

    Lanes of one optimizer are ordered seed (outer) x each hyperparameter x learning
    rate (inner); ``lane_*`` arrays hold one entry per such lane.
    """

    loss_fn: Callable[..., jax.Array]
    grad_fn: Callable[..., Any] | None
    factories: dict[str, Callable[..., optax.GradientTransformation]]
    schedule: Callable[[jax.Array], jax.Array] | None
    eval_fn: Callable[..., jax.Array] | None
    args: tuple
    eval_args: tuple
    init: Any
    example: Any  # one lane's parameters, abstract (jax.ShapeDtypeStruct leaves)
    dtype: np.dtype  # the parameters' float dtype: learning rates and hyperparameters are cast to it
    learning_rates: np.ndarray  # float64, as given
    seeds: list[int] | None
    hyperparams: dict[str, np.ndarray]  # name -> the values given (float64)
    steps: int
    record_every: int
    batch: tuple[int, int] | None
    unroll: int
    rules: StatusRules
    devices: tuple[Any, ...]
    layout: str
    keep_params: bool

    @property
    def n_records(self) -> int:
        """Records per lane, ``ceil(steps / record_every)``."""
        return math.ceil(self.steps / self.record_every)

    @functools.cached_property
    def grid(self) -> dict[str, np.ndarray]:
        """One optimizer's lanes: ``seed_slot``, ``learning_rate`` and each hyperparameter, per lane."""
        axes = [np.arange(len(self.seeds or [None])), *self.hyperparams.values(), self.learning_rates]
        columns = [np.asarray(c) for c in zip(*itertools.product(*axes))]
        grid = {"seed_slot": columns[0].astype(np.int32), "learning_rate": columns[-1].astype(np.float64)}
        grid.update({name: c.astype(np.float64) for name, c in zip(self.hyperparams, columns[1:-1])})
        return grid

    @property
    def lanes_per_optimizer(self) -> int:
        """Lanes of one optimizer: seeds x hyperparameter values x learning rates."""
        return len(self.grid["learning_rate"])


def make_plan(loss_fn: Any, init: Any, optimizer: Any, learning_rates: Any, *, steps: Any, args: Any = (),
              grad_fn: Any = None, seeds: Any = None, record_every: Any = None, devices: Any = None,
              unroll: Any = 1, rules: Any = None, keep_params: bool = True, lanes_last: Any = None,
              hyperparams: Any = None, schedule: Any = None, batch_size: Any = None, eval_fn: Any = None,
              eval_args: Any = ()) -> SweepPlan:
    """Checks every argument of :func:`jaxopt_lessons.sweep` (same names) and plans the lanes."""
    steps = check_positive_int(steps, "steps")
    if steps >= 2**31 - 1:
        raise ValueError(f"steps must be < 2**31 - 1, got {steps}")
    learning_rates = check_finite_positive(learning_rates, "learning_rates")
    factories = _check_optimizers(optimizer)
    args, eval_args = check_args(args), _check_eval_args(eval_args, eval_fn)
    seed_list, example = _check_init(init, seeds)
    batch = check_batch_size(batch_size, args)
    record_every = _check_record_every(record_every, steps, batch)
    check_loss_and_grad(loss_fn, grad_fn, example, args if batch is None else _batch_example(args, batch))
    if eval_fn is not None:
        check_loss_and_grad(eval_fn, None, example, eval_args)
    dtype = np.dtype(jnp.result_type(*jax.tree_util.tree_leaves(example)))
    _check_representable(learning_rates, dtype, "learning_rates")
    hyperparams = _check_hyperparams(hyperparams, dtype)
    schedule = _check_schedule(schedule, steps)
    for name, factory in factories.items():
        _check_factory(factory, name, example, learning_rates[0], hyperparams, schedule, dtype)
    if not (lanes_last is None or isinstance(lanes_last, (bool, np.bool_))):
        raise TypeError(f"lanes_last must be None (automatic), True or False, got {lanes_last!r}")
    layout = _choose_layout(lanes_last, loss_fn, grad_fn, example, args, batch)
    return SweepPlan(
        loss_fn=loss_fn, grad_fn=grad_fn, factories=factories, schedule=schedule, eval_fn=eval_fn, args=args,
        eval_args=eval_args, init=init, example=example, dtype=dtype, learning_rates=learning_rates,
        seeds=seed_list, hyperparams=hyperparams, steps=steps, record_every=record_every, batch=batch,
        unroll=check_positive_int(unroll, "unroll"), rules=_check_rules(rules), devices=_check_devices(devices),
        layout=layout, keep_params=bool(keep_params),
    )


# --- one argument each --------------------------------------------------------------------


def _check_record_every(record_every: Any, steps: int, batch: tuple[int, int] | None = None) -> int:
    if record_every is None:
        # with minibatches a record evaluates the full data (n / B steps' worth): once per epoch
        per_epoch = 1 if batch is None else batch[1] // batch[0]
        return min(steps, max(per_epoch, math.ceil(steps / _MAX_DEFAULT_RECORDS)))
    record_every = check_positive_int(record_every, "record_every")
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every}")
    return record_every


def factory_name(factory: Any) -> str:
    """A readable name for an optimizer factory (``functools.partial`` keywords shown)."""
    name = fn_name(factory)
    if name.startswith("<"):
        return "optimizer"
    keywords = getattr(factory, "keywords", None)
    if isinstance(factory, functools.partial) and keywords:
        name += "(" + ", ".join(f"{k}={v!r}" for k, v in keywords.items()) + ")"
    return name


def _check_optimizers(optimizer: Any) -> dict[str, Callable[..., Any]]:
    if isinstance(optimizer, Mapping):
        if not optimizer:
            raise ValueError("optimizer mapping must not be empty: give at least one name -> factory entry")
        factories = {}
        for name, factory in optimizer.items():
            if not isinstance(name, str):
                raise TypeError(f"optimizer mapping keys must be str names, got {name!r}")
            factories[name] = _check_partial(check_optimizer_factory(factory, f"optimizer[{name!r}]"), name)
        return factories
    factory = check_optimizer_factory(optimizer, "optimizer")
    return {factory_name(factory): _check_partial(factory, "optimizer")}


def _check_partial(factory: Any, name: str) -> Any:
    """A ``partial`` with positional arguments would receive the swept rates in another slot."""
    if isinstance(factory, functools.partial) and factory.args:
        raise TypeError(f"optimizer {name!r} is functools.partial({fn_name(factory.func)}, "
                        f"{', '.join(map(repr, factory.args))}, ...): its positional arguments would shift the "
                        "learning rate the sweep passes first; give them as keywords, e.g. "
                        "functools.partial(optax.sgd, momentum=0.9)")
    return factory


def _check_eval_args(eval_args: Any, eval_fn: Any) -> tuple:
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"eval_fn must be callable as eval_fn(params, *eval_args), got {type(eval_fn).__name__}")
    eval_args = check_args(eval_args) if eval_args != () else ()
    if eval_args and eval_fn is None:
        raise ValueError("eval_args given without eval_fn: pass eval_fn(params, *eval_args) -> scalar")
    return eval_args


def _batch_example(args: tuple, batch: tuple[int, int]) -> tuple:
    """``args`` as one minibatch sees them (abstract): the example axis cut to the batch size."""
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((batch[0], *jnp.shape(a)[1:]),
                                                                 jnp.result_type(a)), args)


def _check_representable(values: np.ndarray, dtype: np.dtype, name: str) -> None:
    """Values that round to 0 or overflow in the parameters' dtype would silently change the sweep."""
    with np.errstate(over="ignore", under="ignore"):
        cast = values.astype(dtype)
    bad = (cast == 0) & (values != 0) | ~np.isfinite(cast)
    if bad.any():
        raise ValueError(f"{name} {values[bad][:3].tolist()} cannot be represented in the parameters' dtype "
                         f"{dtype} (they round to {cast[bad][:3].tolist()}); use values within "
                         f"[{np.finfo(dtype).tiny:.3g}, {np.finfo(dtype).max:.3g}] or float64 parameters")


def _check_hyperparams(hyperparams: Any, dtype: np.dtype) -> dict[str, np.ndarray]:
    if hyperparams is None:
        return {}
    if not isinstance(hyperparams, Mapping):
        raise TypeError(f"hyperparams must be a mapping name -> sequence of values, e.g. "
                        f"{{'momentum': [0.0, 0.9]}}, got {type(hyperparams).__name__}")
    checked = {}
    for name, values in hyperparams.items():
        if not isinstance(name, str) or not name.isidentifier() or name == "learning_rate":
            raise ValueError(f"hyperparams keys must be keyword names of the optimizer factory other than "
                             f"learning_rate, got {name!r}")
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"hyperparams[{name!r}] must be a 1-D sequence of numbers, got {values!r}") from error
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"hyperparams[{name!r}] must be a non-empty 1-D sequence, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"hyperparams[{name!r}] must be finite, got {array.tolist()}")
        with np.errstate(over="ignore"):
            if not np.all(np.isfinite(array.astype(dtype))):
                raise ValueError(f"hyperparams[{name!r}] overflows the parameters' dtype {dtype}")
        checked[name] = array
    return checked


def _check_schedule(schedule: Any, steps: int) -> Any:
    if schedule is None:
        return None
    if not callable(schedule):
        raise TypeError(f"schedule must be a callable step -> multiplier of the learning rate, e.g. "
                        f"optax.cosine_decay_schedule(1.0, {steps}), got {type(schedule).__name__}")
    try:
        out = jax.eval_shape(schedule, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as error:
        raise TypeError(f"schedule {fn_name(schedule)!r} must accept a traced step count: {error}") from error
    if tuple(getattr(out, "shape", (None,))) != ():
        raise ValueError(f"schedule {fn_name(schedule)!r} must return a scalar multiplier, got shape "
                         f"{getattr(out, 'shape', None)}")
    return schedule


def _check_factory(factory: Any, name: str, example: Any, learning_rate: float, hyperparams: dict[str, np.ndarray],
                   schedule: Any, dtype: np.dtype) -> None:
    """The factory builds a GradientTransformation from a float, and from traced per-lane values."""
    _check_accepts(factory, name, hyperparams)
    floats = {key: float(values[0]) for key, values in hyperparams.items()}
    try:
        built = factory(learning_rate, **floats)
    except Exception as error:
        raise TypeError(f"optimizer {name!r} must be a factory learning_rate -> GradientTransformation; "
                        f"calling it with {learning_rate}{_kwargs_text(floats)} failed: {error}") from error
    if not isinstance(built, optax.GradientTransformation):
        raise TypeError(f"optimizer {name!r} must return an optax.GradientTransformation when called with a "
                        f"learning rate, got {type(built).__name__}")
    scalar = jax.ShapeDtypeStruct((), dtype)

    def build_and_init(params: Any, rate: Any, values: dict[str, Any]) -> Any:
        if schedule is not None:
            peak, rate = rate, (lambda count: peak * schedule(count))
        return factory(rate, **values).init(params)

    check_traced_build(build_and_init, (example, scalar, {key: scalar for key in hyperparams}), name=name,
                       caller="sweep", where="sweep builds it inside jax.vmap",
                       extra=" and traced hyperparameters" if hyperparams else "")


def _check_accepts(factory: Any, name: str, hyperparams: dict[str, np.ndarray]) -> None:
    if not hyperparams:
        return
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # builtins and C callables: the call below will tell
    parameters = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    accepted = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    missing = [key for key in hyperparams if key not in accepted]
    if missing:
        raise ValueError(f"optimizer {name!r} does not accept the hyperparameter(s) {missing}; its keyword "
                         f"arguments are {sorted(accepted)}")


def _kwargs_text(values: dict[str, float]) -> str:
    return "".join(f", {key}={value!r}" for key, value in values.items())


def _check_devices(devices: Any) -> tuple[Any, ...]:
    if devices is None:
        return tuple(jax.devices())
    devices = tuple(devices)
    if not devices:
        raise ValueError("devices must be a non-empty sequence of jax devices (default: jax.devices())")
    for device in devices:
        if not isinstance(device, jax.Device):
            raise TypeError(f"devices must hold jax.Device objects (from jax.devices()), got {type(device).__name__}")
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices must not repeat a device, got {devices}")
    return devices


def _check_rules(rules: Any) -> StatusRules:
    if rules is None:
        return StatusRules()
    if not isinstance(rules, StatusRules):
        raise TypeError(f"rules must be a jaxopt_lessons.sweeps.StatusRules, got {type(rules).__name__}")
    for field, value in rules._asdict().items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"rules.{field} must be a finite float > 0, got {value!r}")
    return rules


def _check_init(init: Any, seeds: Any) -> tuple[list[int] | None, Any]:
    """Returns ``(seed list or None, abstract example params)``; traces ``init`` once, no compile."""
    # A callable that is a pytree node (an Equinox module has __call__) is a model, not key -> params.
    if not callable(init) or jax.tree_util.tree_leaves(init, is_leaf=lambda leaf: leaf is not init) != [init]:
        if seeds is not None:
            raise ValueError(
                "seeds must be None when init is a params pytree (every lane starts there); "
                "pass init as a function key -> params to give each seed its own start"
            )
        _check_array_leaves(init, "init")
        params = jax.tree_util.tree_map(jnp.asarray, init)
        return None, jax.tree_util.tree_map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype), params)
    seed_list = _check_seeds(seeds) if seeds is not None else [0]
    try:
        example = jax.eval_shape(lambda s: init(jax.random.key(s)), jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as error:
        _explain_model_object(init)
        raise TypeError(f"init {fn_name(init)!r} must be a params pytree or a function key -> params; "
                        f"calling it with jax.random.key(0) failed: {error}") from error
    return seed_list, example


def _explain_model_object(init: Callable[[jax.Array], Any]) -> None:
    """Raises the Equinox hint when ``init(key)`` returns non-array leaves (traced only, never compiled)."""
    found: list[Any] = []

    def arrays_only(seed: jax.Array) -> list[Any]:
        out = init(jax.random.key(seed))
        found.append(out)
        return [leaf for leaf in jax.tree_util.tree_leaves(out) if isinstance(leaf, jax.Array)]

    try:
        jax.eval_shape(arrays_only, jax.ShapeDtypeStruct((), jnp.int32))
    except Exception:
        return
    if found:
        _check_array_leaves(found[0], f"init {fn_name(init)!r} returns a pytree that")


def _check_array_leaves(tree: Any, what: str) -> None:
    """Raises when ``tree`` holds a leaf that is not an array or a number (a model object's function, ...)."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not hasattr(leaf, "shape") and not isinstance(leaf, (int, float, complex, np.number)):
            raise TypeError(f"{what} must be a pytree of arrays; it holds a {type(leaf).__name__} leaf at "
                            f"{jax.tree_util.keystr(path) or '<root>'} (a model object such as an Equinox "
                            "module?): pass its array part, e.g. params, static = eqx.partition(model, "
                            "eqx.is_inexact_array), and rebuild the model inside loss_fn with eqx.combine")


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(check_positive_int(seeds, "seeds")))
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise TypeError(f"seeds must be a positive int count or a sequence of ints, got {type(seeds).__name__}")
    seeds = list(np.asarray(seeds).tolist()) if isinstance(seeds, np.ndarray) else list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seeds must hold ints, got {seed!r}")
        if not 0 <= seed < 2**31:
            raise ValueError(f"seeds must be ints in [0, 2**31), got {seed}")
    return [int(seed) for seed in seeds]


def _choose_layout(lanes_last: Any, loss_fn: Any, grad_fn: Any, example: Any, args: tuple,
                   batch: tuple[int, int] | None) -> str:
    """``"lanes_last"`` or ``"vmap"``: forced by ``lanes_last``, else by the size of the step's dot products."""
    if lanes_last is not None:
        return "lanes_last" if lanes_last else "vmap"
    step_args = args if batch is None else _batch_example(args, batch)
    value_and_grad = grad_fn or jax.value_and_grad(loss_fn)
    macs = sum(length * size for length, size in dot_sizes(value_and_grad, example, *step_args))
    return "lanes_last" if macs <= LANES_LAST_MAX_MACS else "vmap"
