r"""The learning-rate range test ("LR finder"): one run that tries every step size.

:func:`lr_range_test` is the fastai / Lightning "LR finder": one training run whose
learning rate grows exponentially from ``min_lr`` to ``max_lr``, each update a
:func:`jaxopt_lessons.train.train_step`, recording the loss, smoothing it, stopping when
it blows up, and reading suggestions off the curve (:func:`suggest_learning_rates`).
:func:`compare_with_sweep` checks those one-run suggestions against the best learning
rate of a full :func:`jaxopt_lessons.sweep`. The curvature bound that explains where
plain gradient descent blows up is :mod:`jaxopt_lessons.curvature`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._cache import cache_when_hashable
from ._validate import (
    check_args,
    check_loss_and_grad,
    check_optimizer_factory,
    check_positive_int,
    fn_name,
    is_finite_number,
)
from .train import train_step

Params = Any

__all__ = ["LRRangeTest", "compare_with_sweep", "lr_range_test", "suggest_learning_rates"]


class LRRangeTest(NamedTuple):
    """The result of :func:`lr_range_test`.

    Attributes:
      learning_rates: ``(steps,)`` the learning rate of each step (float64 NumPy).
      losses: ``(steps,)`` the loss *after* the update made with ``learning_rates[t]``,
        ``NaN`` after the run stopped.
      smoothed_losses: ``(steps,)`` the debiased exponential moving average of
        ``losses``, ``NaN`` after the run stopped.
      suggestions: ``{"steep": ..., "minimum/10": ..., "valley": ...}`` learning rates
        (``NaN`` when the curve is too short to read).
      stopped_at: the step at which the smoothed loss passed ``divergence_factor`` times
        its best (or became non-finite), whose record is kept; ``-1`` if it never did.
      initial_loss: the loss at the starting parameters.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestions: dict[str, float]
    stopped_at: int
    initial_loss: float


def _check_range_options(min_lr, max_lr, steps, smoothing, divergence_factor, skip_start, skip_end):
    for value, name in ((min_lr, "min_lr"), (max_lr, "max_lr")):
        if isinstance(value, bool) or not is_finite_number(value) or float(value) <= 0:
            raise ValueError(f"{name} must be a finite float > 0, got {value!r}")
    if not float(min_lr) < float(max_lr):
        raise ValueError(f"min_lr must be < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}")
    steps = check_positive_int(steps, "steps")
    if steps < 2:
        raise ValueError(f"steps must be >= 2 for a learning-rate ramp, got {steps}")
    if isinstance(smoothing, bool) or not is_finite_number(smoothing) or not 0 <= float(smoothing) < 1:
        raise ValueError(f"smoothing must be a float in [0, 1), got {smoothing!r}")
    if isinstance(divergence_factor, bool) or not is_finite_number(divergence_factor) or float(divergence_factor) <= 1:
        raise ValueError(f"divergence_factor must be a finite float > 1, got {divergence_factor!r}")
    skip_start = steps // 10 if skip_start is None else skip_start
    for value, name in ((skip_start, "skip_start"), (skip_end, "skip_end")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return float(min_lr), float(max_lr), steps, float(smoothing), float(divergence_factor), int(skip_start), int(skip_end)


def lr_range_test(
    loss_fn: Callable[..., jax.Array],
    params: Params,
    optimizer_factory: Callable[[Any], Any],
    *,
    args: tuple = (),
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    smoothing: float = 0.98,
    divergence_factor: float = 4.0,
    grad_fn: Callable[..., Any] | None = None,
    skip_start: int | None = None,
    skip_end: int = 5,
) -> LRRangeTest:
    r"""The learning-rate range test ("LR finder", Smith 2017; fastai ``lr_find``).

    One run of ``steps`` updates from ``params`` whose learning rate grows exponentially,
    :math:`\eta_t = \eta_{\min} (\eta_{\max}/\eta_{\min})^{t/(T-1)}`, :math:`t = 0..T-1`
    (both ends included). The optimizer is ``optimizer_factory(schedule)`` with an optax
    schedule ``count -> eta_count`` that reads the same ``learning_rates`` array this
    function returns (in the parameters' dtype), so the recorded rates are exactly the
    ones used. The whole run is one jitted ``lax.scan``.

    At each step, with :math:`\ell_t` the loss *after* the update made with
    :math:`\eta_t` (so each loss is paired with the rate that produced it):

    * smoothing like fastai: :math:`a_t = \beta a_{t-1} + (1-\beta)\ell_t`,
      :math:`\bar\ell_t = a_t / (1 - \beta^{t+1})` (debiased, :math:`a_{-1} = 0`);
    * stop like fastai: once :math:`\bar\ell_t > c\,\min_{s\le t}\bar\ell_s` (``c =
      divergence_factor``) or :math:`\bar\ell_t` is not finite, the run is frozen (its
      parameters stop changing) and later records are ``NaN``; this assumes a
      non-negative loss.

    Suggestions, read like fastai from the smoothed curve up to the stop, without its
    first ``skip_start`` (default ``steps // 10``) and last ``skip_end`` points:

    * ``"steep"``: the rate where :math:`\bar\ell` falls fastest against
      :math:`\log\eta` (most negative finite difference);
    * ``"minimum/10"``: the rate at the lowest smoothed loss, divided by 10;
    * ``"valley"``: fastai's valley: the longest strictly descending run of the curve
      (longest decreasing subsequence), and the point about 2/3 of the way down it.

    Args:
      loss_fn: a scalar loss ``loss_fn(params, *args)`` (>= 0).
      params: the starting parameters.
      optimizer_factory: ``learning_rate -> GradientTransformation`` accepting an optax
        schedule (every optax and :mod:`jaxopt_lessons.optim` optimizer does).
      args: extra arguments of ``loss_fn``/``grad_fn``.
      min_lr, max_lr: the ends of the ramp (``0 < min_lr < max_lr``).
      steps: number of updates (>= 2).
      smoothing: :math:`\beta` of the moving average, in [0, 1) (fastai: 0.98).
      divergence_factor: :math:`c > 1`, the blow-up factor (fastai: 4).
      grad_fn: ``grad_fn(params, *args) -> (loss, grads)``; default autodiff.
      skip_start, skip_end: points left out at each end when reading suggestions.

    Returns:
      An :class:`LRRangeTest`.

    Raises:
      ValueError, TypeError: on bad arguments, before anything is compiled.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> result = lr_range_test(lambda x: jnp.sum(x ** 2), jnp.ones(3), optax.sgd)
      >>> sorted(result.suggestions)
      ['minimum/10', 'steep', 'valley']
      >>> bool(result.learning_rates[result.stopped_at] > 1.0)   # past 2 / lambda_max = 1
      True
    """
    min_lr, max_lr, steps, smoothing, divergence_factor, skip_start, skip_end = _check_range_options(
        min_lr, max_lr, steps, smoothing, divergence_factor, skip_start, skip_end
    )
    optimizer_factory = check_optimizer_factory(optimizer_factory, "optimizer_factory")
    args = check_args(args)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    check_loss_and_grad(loss_fn, grad_fn, params, args)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
    learning_rates = np.geomspace(min_lr, max_lr, steps)
    run = _compiled_range_test(loss_fn, grad_fn, optimizer_factory)
    try:
        initial, losses, smoothed, stop = run(
            params, args, jnp.asarray(learning_rates, dtype), smoothing, divergence_factor
        )
    except TypeError as error:
        raise TypeError(
            f"optimizer_factory {fn_name(optimizer_factory)!r} must accept an optax schedule "
            f"(count -> learning rate) as its learning rate: {error}"
        ) from error
    losses = np.asarray(losses, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    stopped_at = int(stop)
    used_rates = np.asarray(jnp.asarray(learning_rates, dtype), dtype=np.float64)
    suggestions = suggest_learning_rates(
        used_rates, smoothed, stopped_at=stopped_at, skip_start=skip_start, skip_end=skip_end
    )
    return LRRangeTest(used_rates, losses, smoothed, suggestions, stopped_at, float(initial))


@cache_when_hashable(maxsize=32)
def _compiled_range_test(loss_fn, grad_fn, optimizer_factory):
    """A jitted ``(params, args, rates, beta, factor) -> (initial, losses, smoothed, stopped_at)``."""
    value_and_grad = grad_fn if grad_fn is not None else jax.value_and_grad(loss_fn)

    def run(params, args, rates, beta, factor):
        n_steps = rates.shape[0]

        def schedule(count):
            return rates[jnp.clip(count, 0, n_steps - 1)]

        optimizer = optimizer_factory(schedule)
        loss_dtype = jax.eval_shape(loss_fn, params, *args).dtype
        beta = jnp.asarray(beta, loss_dtype)
        factor = jnp.asarray(factor, loss_dtype)
        nan = jnp.asarray(jnp.nan, loss_dtype)

        def step(carry, t):
            params, opt_state, average, best, stopped_at = carry
            running = stopped_at < 0
            new_params, new_state, _ = train_step(value_and_grad, optimizer, params, opt_state, args)
            loss = loss_fn(new_params, *args)  # after the update made with rates[t]
            average_new = beta * average + (1 - beta) * loss
            smoothed = average_new / (1 - beta ** (t + 1).astype(loss_dtype))
            best_new = jnp.where((t == 0) | (smoothed < best), smoothed, best)
            blew_up = ~jnp.isfinite(smoothed) | (smoothed > factor * best_new)
            # Once stopped, everything stays frozen: no NaN can leak into later steps.
            def keep(new, old):
                return jax.tree_util.tree_map(lambda n, o: jnp.where(running, n, o), new, old)

            carry = (
                keep(new_params, params),
                keep(new_state, opt_state),
                jnp.where(running, average_new, average),
                jnp.where(running, best_new, best),
                jnp.where(running & blew_up, t, stopped_at),
            )
            return carry, (jnp.where(running, loss, nan), jnp.where(running, smoothed, nan))

        zero = jnp.zeros((), loss_dtype)
        carry = (params, optimizer.init(params), zero, zero, jnp.int32(-1))
        carry, (losses, smoothed) = jax.lax.scan(step, carry, jnp.arange(n_steps, dtype=jnp.int32))
        return loss_fn(params, *args), losses, smoothed, carry[4]

    return jax.jit(run)


def suggest_learning_rates(
    learning_rates: np.ndarray,
    smoothed_losses: np.ndarray,
    *,
    stopped_at: int = -1,
    skip_start: int = 0,
    skip_end: int = 0,
) -> dict[str, float]:
    r"""fastai's three suggestions from a range-test curve (see :func:`lr_range_test`).

    Args:
      learning_rates: ``(n,)`` increasing learning rates.
      smoothed_losses: ``(n,)`` the smoothed loss at each rate.
      stopped_at: the step the run stopped at (kept), or -1 for none.
      skip_start, skip_end: points left out at each end of the kept curve.

    Returns:
      ``{"steep", "minimum/10", "valley"}`` learning rates; ``NaN`` where fewer than two
      usable points remain.
    """
    learning_rates = np.asarray(learning_rates, dtype=np.float64)
    losses = np.asarray(smoothed_losses, dtype=np.float64)
    end = len(losses) if stopped_at < 0 else stopped_at + 1
    lrs, losses = learning_rates[:end], losses[:end]
    window = slice(skip_start, max(len(losses) - skip_end, 0))
    if len(losses[window]) >= 2:
        lrs, losses = lrs[window], losses[window]
    finite = np.flatnonzero(~np.isfinite(losses))
    if finite.size:  # like fastai, cut at the first non-finite value
        lrs, losses = lrs[: finite[0]], losses[: finite[0]]
    nan = float("nan")
    if len(losses) < 2:
        return {"steep": nan, "minimum/10": nan, "valley": nan}
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    steep = float(lrs[int(np.argmin(slopes))])
    minimum = float(lrs[int(np.argmin(losses))]) / 10
    return {"steep": steep, "minimum/10": minimum, "valley": float(lrs[_valley_index(losses)])}


def _valley_index(losses: np.ndarray) -> int:
    """fastai's valley: 2/3 down the longest strictly decreasing subsequence.

    ``descending[i]`` is the length of the longest strictly decreasing subsequence ending
    at ``i``; the valley ends at the first ``i`` with the largest length and starts that
    many points before it; the suggestion sits ``sections + sections // 2`` points (with
    ``sections = length / 3``) from its start. Where that lands before the first point
    (a valley of length <= 2 starting at 0) we take the first point; fastai's index -1
    wraps around to the last, largest rate.
    """
    n = len(losses)
    descending = np.ones(n, dtype=int)
    for i in range(1, n):
        earlier = descending[:i][losses[:i] > losses[i]]
        if earlier.size:
            descending[i] = earlier.max() + 1
    valley_end = int(np.argmax(descending))
    valley_start = valley_end - int(descending[valley_end])
    sections = (valley_end - valley_start) / 3
    return int(min(max(valley_start + int(sections) + int(sections / 2), 0), n - 1))


def compare_with_sweep(range_test: LRRangeTest, sweep_result: Any, *, optimizer: str | None = None) -> dict[str, Any]:
    """How the range test's one-run suggestions compare with a full sweep.

    For each suggestion :math:`s`, its ratio to the sweep's best learning rate
    (``sweep_result.best(optimizer=...)``) and to the largest learning rate the sweep
    observed to be stable (``sweep_result.max_stable_lr_observed()``). A ratio near 1 means the one-run heuristic found what
    hundreds of full runs found; a ratio above 1 for the stable bound means following the
    suggestion would diverge.

    Args:
      range_test: an :class:`LRRangeTest`.
      sweep_result: a :class:`jaxopt_lessons.SweepResult` of the same problem and optimizer.
      optimizer: which of the sweep's optimizers to compare with (default: the one of
        the sweep's best lane).

    Returns:
      ``{"optimizer", "sweep_best_lr", "max_stable_lr_observed", "suggestions": {name:
      {"lr", "ratio_to_best", "ratio_to_max_stable"}}}``; ``sweep_best_lr`` is ``NaN`` when
      every lane of ``optimizer`` diverged.

    Raises:
      TypeError: if ``range_test`` or ``sweep_result`` is of the wrong type.
      ValueError: if every lane of the sweep diverged, or ``optimizer`` is not one of its optimizers.
    """
    if not isinstance(range_test, LRRangeTest):
        raise TypeError(f"range_test must be an LRRangeTest, got {type(range_test).__name__}")
    for method in ("best", "max_stable_lr_observed"):
        if not callable(getattr(sweep_result, method, None)):
            raise TypeError(f"sweep_result must be a SweepResult (with .{method}()), got {type(sweep_result).__name__}")
    best = sweep_result.best()
    if best is None:
        raise ValueError("sweep_result has no non-diverged lane to compare with")
    if optimizer is None:
        optimizer = best.get("optimizer")
    else:
        best = sweep_result.best(optimizer=optimizer)  # raises on an unknown name
    best_lr = float(best["learning_rate"]) if best is not None else float("nan")
    stable = _observed_value(sweep_result.max_stable_lr_observed(), optimizer)

    def ratio(a: float, b: float) -> float:
        return a / b if b and math.isfinite(b) and b > 0 else float("nan")

    return {
        "optimizer": optimizer,
        "sweep_best_lr": best_lr,
        "max_stable_lr_observed": stable,
        "suggestions": {
            name: {"lr": lr, "ratio_to_best": ratio(lr, best_lr), "ratio_to_max_stable": ratio(lr, stable)}
            for name, lr in range_test.suggestions.items()
        },
    }


def _observed_value(observed: Any, optimizer: str | None) -> float:
    """The largest stable lr for ``optimizer`` from ``max_stable_lr_observed()``'s answer."""
    entry = observed
    if isinstance(observed, dict):
        if optimizer in observed:
            entry = observed[optimizer]
        elif len(observed) == 1:
            entry = next(iter(observed.values()))
    if isinstance(entry, dict):
        entry = entry.get("learning_rate", entry.get("lr", float("nan")))
    try:
        return float(entry) if entry is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")

