r"""Lane statuses: the names, the thresholds and the rules, in one place.

The kernel accumulates a few statistics per lane (:class:`jaxopt_lessons.sweeps.kernel.LaneStats`);
:func:`classify` turns them into one status per lane on the host, so thresholds other
than ``blowup`` never trigger a recompilation. The rules are written out in
:func:`jaxopt_lessons.sweep`'s docstring.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["FAILED", "STATUSES", "StatusRules", "classify", "settled"]

STATUSES: tuple[str, ...] = ("converged", "slow", "oscillating", "stalled", "unstable", "diverged", "incomplete")
"""Every lane status, in this order everywhere (tables, plots, files):

* ``converged``: the loss fell below its start and plateaued, and the updates died out;
* ``slow``: the loss fell but was still falling (or the updates did not shrink);
* ``oscillating``: the parameters keep flipping while the loss does not fall;
* ``stalled``: the parameters never changed, or the loss ended no lower than it started;
* ``unstable``: the loss spiked far above its start and did not come back well below it;
* ``diverged``: a non-finite or exploding loss; the lane was frozen at that step;
* ``incomplete``: only in the partial result of an interrupted sweep: the lane did not
  reach ``steps``.
"""

FAILED: frozenset[str] = frozenset({"unstable", "diverged"})
"""Statuses that mean the learning rate was too large: no best lane, not a stable rate."""

class StatusRules(NamedTuple):
    """Thresholds of the lane status rules (see :func:`jaxopt_lessons.sweep`).

    Attributes:
      blowup: a lane diverges at the first step whose loss exceeds
        ``L0 + blowup * max(|L0|, eps)`` (``L0`` the initial loss), or whose loss,
        parameters or update are non-finite.
      plateau_rtol: the loss *plateaued* when it changed over the second half of the
        run by at most ``plateau_rtol * |L0 - L_T|`` (plus a few ulps of rounding).
      flip_fraction: parameters *flip* when, in at least this fraction of the
        second-half steps, successive updates point against each other
        (``<Δθ_t, Δθ_{t-1}> < 0``, a negative cosine).
      settle_ratio: updates *died out* when the last update is at most this fraction
        of the largest update of the run (in Euclidean norm).
      spike: a lane is *unstable* when its largest loss exceeded
        ``L0 + spike * max(|L0|, eps)`` and its final loss did not come back at least 10%
        below ``L0`` (e.g. it collapsed to chance level).
    """

    blowup: float = 1e3
    plateau_rtol: float = 1e-2
    flip_fraction: float = 0.5
    settle_ratio: float = 0.1
    spike: float = 10.0


# --- status rules (host side, NumPy; thresholds documented in ``sweep``) --------------


def _plateau_tolerance(loss0: np.ndarray, start: np.ndarray, end: np.ndarray, rules: StatusRules) -> np.ndarray:
    """How far the loss may move from ``start`` to ``end`` and still count as a plateau.

    ``plateau_rtol`` of the run's total change ``|L_0 - L_end|``, plus 8 ulps of the losses.
    """
    eps = np.finfo(np.result_type(end.dtype, np.float32)).eps
    return rules.plateau_rtol * np.abs(loss0 - end) + 8 * eps * np.maximum(np.abs(start), np.abs(end))


def classify(
    *,
    loss0: np.ndarray,
    loss_mid: np.ndarray,
    final_loss: np.ndarray,
    flips_window: np.ndarray,
    max_sq_update: np.ndarray,
    last_sq_update: np.ndarray,
    diverged_at: np.ndarray,
    steps: int,
    rules: StatusRules,
    peak_loss: np.ndarray | None = None,
    minibatches: bool = False,
) -> np.ndarray:
    """The status of every lane from its scan statistics (rules in ``sweep``'s docstring).

    The first rule that holds wins: diverged, unstable, oscillating, stalled, converged,
    slow (see :data:`STATUSES`). With ``minibatches`` the updates never die out (they
    carry the minibatch noise), so convergence is judged on the full-data loss alone.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        tol = _plateau_tolerance(loss0, loss_mid, final_loss, rules)
        late_drop = loss_mid - final_loss
        falling = late_drop > tol
        plateau = np.abs(late_drop) <= tol
        window = steps - steps // 2
        flipping = flips_window >= rules.flip_fraction * window
        moving = last_sq_update > rules.settle_ratio**2 * max_sq_update
        if minibatches:
            moving = np.zeros_like(moving)
        stalled = (max_sq_update == 0) | ~(final_loss < loss0)
        # a spike that "came back" ended at least 10% below the start (a catapult), not near it
        recovered = final_loss < loss0 - 0.1 * np.abs(loss0)
        spiked = np.zeros_like(stalled) if peak_loss is None else (
            peak_loss - loss0 > rules.spike * np.maximum(np.abs(loss0), np.finfo(np.float32).eps)) & ~recovered
    rules_in_order = [
        (diverged_at >= 0, "diverged"),
        (spiked, "unstable"),
        (flipping & moving & ~falling, "oscillating"),
        (stalled, "stalled"),
        (plateau & ~moving, "converged"),
    ]
    status = np.full(np.shape(final_loss), "slow", dtype="<U11")
    for holds, name in reversed(rules_in_order):
        status = np.where(holds, name, status)
    return status.astype("<U11")


def settled(
    *,
    chunk_start_loss: np.ndarray,
    end_loss: np.ndarray,
    loss0: np.ndarray,
    max_sq_update: np.ndarray,
    last_sq_update: np.ndarray,
    alive: np.ndarray,
    rules: StatusRules,
) -> np.ndarray:
    """Lanes that are finished for early stopping: diverged, or converged over the last chunk."""
    with np.errstate(invalid="ignore", over="ignore"):
        tol = _plateau_tolerance(loss0, chunk_start_loss, end_loss, rules)
        plateau = np.abs(chunk_start_loss - end_loss) <= tol
        moving = last_sq_update > rules.settle_ratio**2 * max_sq_update
    return ~alive | (plateau & ~moving)


