"""The host side of a sweep: batches of lanes, padding, sharding, chunks, transfers.

Lanes run in batches (a multiple of the device count, padded by repeating the first
lane; padding lanes are dropped). A batch runs chunk by chunk; between chunks the
host stores the previous chunk's records (while the device runs the next one),
updates the progress bar and checks the early-stop rule. Everything a chunk returns
is written into :class:`Outputs`, so the lanes and steps done so far survive an
interruption.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .kernel import LANE_AXIS, ChunkOutput, KernelSpec, LaneInputs, Program
from .status import StatusRules, settled

__all__ = ["Outputs", "TARGET_CHUNKS", "chunk_records", "run_batch", "to_host"]

TARGET_CHUNKS = 32
"""Chunks per batch: the granularity of progress, early stopping and Ctrl-C."""


def chunk_records(n_records: int) -> int:
    """Records per chunk, so that a batch runs in about :data:`TARGET_CHUNKS` chunks."""
    return math.ceil(n_records / TARGET_CHUNKS)


class Outputs:
    """Host-side results of every lane, filled in place batch by batch, chunk by chunk.

    Records a lane has not reached are NaN; ``steps_run`` says how far each lane got.
    """

    def __init__(self, n_lanes: int, n_records: int, loss_dtype: np.dtype, eval_dtype: np.dtype | None) -> None:
        self.losses = np.full((n_lanes, n_records), np.nan, loss_dtype)
        self.eval_losses = None if eval_dtype is None else np.full((n_lanes, n_records), np.nan, eval_dtype)
        self.final_loss = np.full(n_lanes, np.nan, loss_dtype)
        self.final_eval = None if eval_dtype is None else np.full(n_lanes, np.nan, eval_dtype)
        self.stats: dict[str, np.ndarray] = {}
        self.steps_run = np.zeros(n_lanes, np.int64)
        self.params: list[tuple[slice, Any]] = []

    def store_chunk(self, lanes: slice, out: ChunkOutput, first_record: int, ran: int) -> None:
        """Copies one chunk's outputs of the ``lanes`` of a batch (padding dropped)."""
        count = lanes.stop - lanes.start
        host = tree_to_host(out)
        width = min(host.losses.shape[1], self.losses.shape[1] - first_record)
        self.losses[lanes, first_record:first_record + width] = host.losses[:count, :width]
        self.final_loss[lanes] = host.end_loss[:count]
        if self.eval_losses is not None:
            self.eval_losses[lanes, first_record:first_record + width] = host.eval_losses[:count, :width]
            self.final_eval[lanes] = host.end_eval[:count]
        for name, value in host.stats._asdict().items():
            self.stats.setdefault(name, np.zeros(self.losses.shape[0], value.dtype))[lanes] = value[:count]
        self.steps_run[lanes] = ran


def run_batch(program: Program, spec: KernelSpec, lanes: dict[str, np.ndarray], shared: Any, outputs: Outputs,
              where: slice, *, size: int, dtype: Any, bar: Any, early_stop: bool, rules: StatusRules,
              keep_params: bool) -> int:
    """Runs the lanes ``lanes`` (host arrays, one entry per lane) as one padded batch of ``size``.

    Fills ``outputs[where]`` and returns the steps run (``< spec.steps`` after an early stop).
    """
    count = where.stop - where.start
    sharding = NamedSharding(Mesh(np.asarray(spec.devices, dtype=object), (LANE_AXIS,)), PartitionSpec(LANE_AXIS))
    hyper = {name: put_lanes(pad(values, size).astype(dtype), sharding) for name, values in lanes.items()
             if name not in ("learning_rate", "seed_slot")}
    inputs = LaneInputs(put_lanes(pad(lanes["learning_rate"], size).astype(dtype), sharding),
                        put_lanes(pad(lanes["seed_slot"], size), sharding), hyper)
    carry = program.init(inputs, shared)
    chunk_steps = spec.chunk_records * spec.record_every
    n_chunks = math.ceil(outputs.losses.shape[1] / spec.chunk_records)
    watch = early_stop or not bar.disable
    pending, stopped_at = None, spec.steps
    for chunk in range(n_chunks):
        start = chunk * chunk_steps
        carry, out = program.chunk(carry, inputs, np.int32(start), shared)
        if pending is not None:
            outputs.store_chunk(where, *pending)
        ran = min(start + chunk_steps, spec.steps)
        pending = (out, chunk * spec.chunk_records, ran)
        if not watch:
            continue
        alive = to_host(out.stats.applied)[:count] == ran
        bar.update(count * (ran - start))
        bar.set_postfix(diverged=int(np.sum(~alive)), refresh=False)
        if early_stop and chunk < n_chunks - 1 and _settled(out, count, alive, rules):
            outputs.store_chunk(where, *pending)
            pending, stopped_at = None, ran
            first_missing = (chunk + 1) * spec.chunk_records
            outputs.losses[where, first_missing:] = outputs.final_loss[where, None]
            if outputs.eval_losses is not None:
                outputs.eval_losses[where, first_missing:] = outputs.final_eval[where, None]
            bar.update(count * (spec.steps - ran))
            break
    if pending is not None:
        outputs.store_chunk(where, *pending)
    if keep_params:
        flat = to_host(carry.params)
        flat = np.moveaxis(flat, -1, 0) if spec.layout == "lanes_last" else flat
        outputs.params.append((where, spec.params.unravel_lanes(flat[:count])))
    return stopped_at


def _settled(out: ChunkOutput, count: int, alive: np.ndarray, rules: StatusRules) -> bool:
    """Whether every lane of the batch is diverged or converged over this chunk (early stop)."""
    stats = tree_to_host(out.stats)
    return bool(settled(
        chunk_start_loss=to_host(out.losses)[:count, 0], end_loss=to_host(out.end_loss)[:count],
        loss0=stats.loss0[:count], max_sq_update=stats.max_sq_update[:count],
        last_sq_update=stats.last_sq_update[:count], alive=alive, rules=rules,
    ).all())


# --- transfers ------------------------------------------------------------------------------


def to_host(array: jax.Array) -> np.ndarray:
    """A NumPy copy of a (possibly multi-process) array."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(array)
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def tree_to_host(tree: Any) -> Any:
    """NumPy copies of every leaf, transferred together (``jax.device_get``) when possible."""
    leaves = jax.tree_util.tree_leaves(tree)
    if all(getattr(leaf, "is_fully_addressable", True) for leaf in leaves):
        return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))
    return jax.tree_util.tree_map(to_host, tree)


def put_lanes(values: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """A host array as a device array split along its first (lane) axis."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` padded to ``size`` by repeating its first entry (padding lanes are dropped)."""
    if values.shape[0] == size:
        return values
    return np.concatenate([values, np.repeat(values[:1], size - values.shape[0], axis=0)])
