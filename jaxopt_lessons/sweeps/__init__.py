"""The sweep engine: every (optimizer, seed, hyperparameters, learning rate) run as a lane.

One module per concept:

=============== =====================================================================
``api``         the public :func:`sweep` (orchestration only)
``checks``      input checks and the lane grid (:class:`~.checks.SweepPlan`), before any compile
``kernel``      one lane's ``init`` and ``step`` (:class:`~.kernel.LaneStats`), batched and compiled
``lanes_last``  the lanes-last layout: ``jax.vmap`` with the lane axis last, re-emitted from the jaxpr
``driver``      the host side: batches, padding, sharding, chunks, transfers
``memory``      the per-lane memory estimate and the batch size it allows
``status``      status names (:data:`STATUSES`), thresholds (:class:`StatusRules`), :func:`classify`
``result``      :class:`SweepResult` and its summaries (``best``, ``summary``, ``table``)
``storage``     saving and loading results (JSON, an npz beside large ones; atomic; no pickle)
``fingerprint`` the inputs as named hashes: resuming checkpoints, comparing processes
``checkpoint``  the checkpoint folder: finished batches and the running batch's lane state
=============== =====================================================================
"""

from .api import sweep as sweep
from .lanes_last import vmap_last as vmap_last
from .result import SweepResult as SweepResult
from .status import STATUSES as STATUSES
from .status import StatusRules as StatusRules
from .status import classify as classify

__all__ = ["STATUSES", "StatusRules", "SweepResult", "classify", "sweep", "vmap_last"]
