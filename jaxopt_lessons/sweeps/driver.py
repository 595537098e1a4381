"""The host side of a sweep: batches of lanes, padding, sharding, chunks, transfers, checkpoints.

Lanes run in batches (a multiple of the device count, padded by repeating the first
lane; padding lanes are dropped). A batch runs chunk by chunk; between chunks the
host stores the previous chunk's results (while the device runs the next one),
updates the progress bar, checks the early-stop rule and, with a checkpoint, saves the
batch's lane state (every :data:`SAVE_EVERY_SECONDS` and on Ctrl-C). Everything a chunk
returns is written into :class:`Outputs`, so the lanes and steps done so far survive an
interruption.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .checkpoint import Checkpoint
from .kernel import LANE_AXIS, ChunkOutput, KernelSpec, LaneInputs, Program, lane_axis
from .status import StatusRules, settled

__all__ = ["Batch", "Outputs", "TARGET_CHUNKS", "chunk_records", "put_lanes", "run_batch", "to_host"]

TARGET_CHUNKS = 32
"""Chunks per batch: the granularity of progress, early stopping, checkpoints and Ctrl-C."""

SAVE_EVERY_SECONDS = 10.0
"""With a checkpoint (one process): the running batch's state is saved after the sweep's first
chunk, then after the first chunk that ends this many seconds after the last save, and on
Ctrl-C; finished batches always."""


def chunk_records(n_records: int) -> int:
    """Records per chunk, so that a batch runs in about :data:`TARGET_CHUNKS` chunks."""
    return math.ceil(n_records / TARGET_CHUNKS)


class Outputs:
    """Host-side results of every lane, filled in place batch by batch, chunk by chunk.

    Records a lane has not reached are NaN; ``steps_run`` says how far each lane got;
    ``params`` holds each lane's final parameters raveled, ``(lanes, P)``.
    """

    def __init__(self, n_lanes: int, n_records: int, loss_dtype: np.dtype, eval_dtype: np.dtype | None,
                 params_shape: tuple[int, np.dtype] | None) -> None:
        self.arrays: dict[str, np.ndarray] = {
            "losses": np.full((n_lanes, n_records), np.nan, loss_dtype),
            "final_loss": np.full(n_lanes, np.nan, loss_dtype),
            "steps_run": np.zeros(n_lanes, np.int64),
        }
        if eval_dtype is not None:
            self.arrays["eval_losses"] = np.full((n_lanes, n_records), np.nan, eval_dtype)
            self.arrays["final_eval"] = np.full(n_lanes, np.nan, eval_dtype)
        if params_shape is not None:
            self.arrays["params"] = np.zeros((n_lanes, params_shape[0]), params_shape[1])
        self.stopped_at = 0

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        if f"stats.{name}" in arrays:
            return arrays[f"stats.{name}"]
        raise AttributeError(name)

    @property
    def stats(self) -> dict[str, np.ndarray]:
        """The status statistics per lane, name -> array."""
        return {name[6:]: value for name, value in self.arrays.items() if name.startswith("stats.")}

    def store_chunk(self, lanes: slice, out: ChunkOutput, first_record: int, ran: int) -> None:
        """Copies one chunk's outputs of the ``lanes`` of a batch (padding dropped)."""
        count = lanes.stop - lanes.start
        host = tree_to_host(out)
        n_records = self.arrays["losses"].shape[1]
        width = min(host.losses.shape[1], n_records - first_record)
        self.arrays["losses"][lanes, first_record:first_record + width] = host.losses[:count, :width]
        self.arrays["final_loss"][lanes] = host.end_loss[:count]
        if "eval_losses" in self.arrays:
            self.arrays["eval_losses"][lanes, first_record:first_record + width] = host.eval_losses[:count, :width]
            self.arrays["final_eval"][lanes] = host.end_eval[:count]
        n_lanes = self.arrays["losses"].shape[0]
        for name, value in host.stats._asdict().items():
            self.arrays.setdefault(f"stats.{name}", np.zeros(n_lanes, value.dtype))[lanes] = value[:count]
        self.arrays["steps_run"][lanes] = ran

    def rows(self, lanes: slice) -> dict[str, np.ndarray]:
        """Every array's rows of ``lanes`` (for a checkpoint)."""
        return {name: value[lanes] for name, value in self.arrays.items()}

    def put_rows(self, lanes: slice, rows: dict[str, np.ndarray]) -> None:
        """Restores rows saved by :meth:`rows`."""
        n_lanes = self.arrays["losses"].shape[0]
        for name, value in rows.items():
            self.arrays.setdefault(name, np.zeros((n_lanes, *value.shape[1:]), value.dtype))[lanes] = value


@dataclasses.dataclass(frozen=True)
class Batch:
    """One padded batch of lanes: its number, its place in the sweep's lanes, its inputs."""

    index: int
    where: slice
    lanes: dict[str, np.ndarray]  # host arrays, one entry per (unpadded) lane
    size: int  # padded size


def run_batch(program: Program, spec: KernelSpec, batch: Batch, shared: Any, outputs: Outputs, *, dtype: Any,
              bar: Any, early_stop: bool, rules: StatusRules, keep_params: bool,
              checkpoint: Checkpoint | None = None) -> None:
    """Runs one batch chunk by chunk (resuming from ``checkpoint``) and fills ``outputs[batch.where]``."""
    count = batch.where.stop - batch.where.start
    chunk_steps = spec.chunk_records * spec.record_every
    n_chunks = math.ceil(outputs.losses.shape[1] / spec.chunk_records)
    if checkpoint is not None and (done := checkpoint.finished(batch.index)) is not None:
        outputs.put_rows(batch.where, done)
        outputs.stopped_at = max(outputs.stopped_at, int(done["steps_run"].max()))
        bar.update(count * spec.steps)
        return
    mesh = Mesh(np.asarray(spec.devices, dtype=object), (LANE_AXIS,))
    inputs = _lane_inputs(batch, mesh, dtype)
    first_chunk, carry = 0, None
    if checkpoint is not None and (running := checkpoint.running(batch.index)) is not None:
        first_chunk, leaves, rows = running
        outputs.put_rows(batch.where, rows)
        treedef = jax.tree_util.tree_structure(jax.eval_shape(program.init, inputs, shared))
        carry = jax.tree_util.tree_unflatten(treedef, [put_along(leaf, mesh, lane_axis(spec.layout, leaf.ndim))
                                                       for leaf in leaves])
        bar.update(count * min(first_chunk * chunk_steps, spec.steps))
    carry = program.init(inputs, shared) if carry is None else carry
    watch = early_stop or not bar.disable or checkpoint is not None
    pending, stopped_at = None, spec.steps
    saver = _RunningSaver(checkpoint, batch, outputs, first_chunk)
    try:
        for chunk in range(first_chunk, n_chunks):
            start = chunk * chunk_steps
            carry, out = program.chunk(carry, inputs, np.int32(start), shared)
            if pending is not None:
                outputs.store_chunk(batch.where, *pending)
            ran = min(start + chunk_steps, spec.steps)
            pending = (out, chunk * spec.chunk_records, ran)
            if not watch:
                continue
            outputs.store_chunk(batch.where, *pending)
            pending = None
            saver.done(carry, chunk + 1)
            alive = outputs.stats["applied"][batch.where] == ran
            bar.update(count * (ran - start))
            bar.set_postfix(diverged=int(np.sum(~alive)), refresh=False)
            if early_stop and chunk < n_chunks - 1 and _settled(outputs, batch.where, out, count, alive, rules):
                stopped_at = ran
                _repeat_last_records(outputs, batch.where, (chunk + 1) * spec.chunk_records)
                bar.update(count * (spec.steps - ran))
                break
            if chunk < n_chunks - 1:
                saver.maybe_save()
    except KeyboardInterrupt:
        saver.save()  # the chunks finished since the last save are kept
        raise
    if pending is not None:
        outputs.store_chunk(batch.where, *pending)
    if keep_params:
        host = tree_to_host(carry.params)
        if spec.layout == "lanes_last":
            host = jax.tree_util.tree_map(lambda leaf: np.moveaxis(leaf, -1, 0), host)
        outputs.params[batch.where] = spec.params.ravel_lanes(host)[:count]
    outputs.stopped_at = max(outputs.stopped_at, stopped_at)
    if checkpoint is not None:
        checkpoint.finish(batch.index, outputs.rows(batch.where))


class _RunningSaver:
    """Saves a running batch's lane state to its checkpoint, at most every :data:`SAVE_EVERY_SECONDS`.

    A save copies every lane's carry to the host and writes it (≈ 6 ms for 1,024 lanes of
    a two-parameter model): after every chunk it would cost more than the chunk itself for
    small models. So with one process the state is saved after the sweep's first chunk, then
    when that many seconds have passed since the last save, and at once on Ctrl-C
    (``KeyboardInterrupt``): an interrupt still loses only the running chunk, a killed
    process at most the last seconds. Several processes save after every chunk: gathering
    the carry is a collective, which every process must enter at the same chunk.
    """

    def __init__(self, checkpoint: Checkpoint | None, batch: Batch, outputs: Outputs, first_chunk: int) -> None:
        self.checkpoint, self.batch, self.outputs = checkpoint, batch, outputs
        self.every = 0.0 if jax.process_count() > 1 else SAVE_EVERY_SECONDS
        self.state, self.next_chunk, self.saved_chunk = None, first_chunk, first_chunk
        self.last = time.monotonic()

    def done(self, carry: Any, next_chunk: int) -> None:
        """Chunk ``next_chunk - 1`` finished and its records are stored: keeps that state on the host.

        A host copy, because the device carry is donated to the next chunk (and Ctrl-C may
        come while the next chunk runs). The results rows are read when saving: a later
        chunk may have written some of its records (or statistics) by then, but a resume
        runs that chunk again and overwrites them.
        """
        if self.checkpoint is None:
            return
        self.state = jax.tree_util.tree_leaves(tree_to_host(carry))
        self.next_chunk = next_chunk

    def maybe_save(self) -> None:
        """Saves the safe state after the sweep's first chunk, then when :data:`SAVE_EVERY_SECONDS` passed."""
        if self.checkpoint is not None and (self.checkpoint.running_saves == 0
                                            or time.monotonic() - self.last >= self.every):
            self.save()

    def save(self) -> None:
        """Saves the safe state unless it is already saved (or there is no checkpoint)."""
        if self.checkpoint is None or self.state is None or self.next_chunk == self.saved_chunk:
            return
        self.checkpoint.save_running(self.batch.index, self.next_chunk, self.state,
                                     self.outputs.rows(self.batch.where))
        self.saved_chunk, self.last = self.next_chunk, time.monotonic()


def _lane_inputs(batch: Batch, mesh: Mesh, dtype: Any) -> LaneInputs:
    """The batch's per-lane inputs, padded and split over the devices."""
    hyper = {name: put_along(pad(values, batch.size).astype(dtype), mesh, 0) for name, values in batch.lanes.items()
             if name not in ("learning_rate", "seed_slot")}
    return LaneInputs(put_along(pad(batch.lanes["learning_rate"], batch.size).astype(dtype), mesh, 0),
                      put_along(pad(batch.lanes["seed_slot"], batch.size), mesh, 0), hyper)


def _settled(outputs: Outputs, where: slice, out: ChunkOutput, count: int, alive: np.ndarray,
             rules: StatusRules) -> bool:
    """Whether every lane of the batch is diverged or converged over this chunk (early stop)."""
    stats = outputs.stats
    return bool(settled(
        chunk_start_loss=to_host(out.losses)[:count, 0], end_loss=outputs.final_loss[where],
        loss0=stats["loss0"][where], max_sq_update=stats["max_sq_update"][where],
        last_sq_update=stats["last_sq_update"][where], alive=alive, rules=rules,
    ).all())


def _repeat_last_records(outputs: Outputs, where: slice, first_missing: int) -> None:
    """After an early stop, the records the batch did not reach repeat its last loss."""
    outputs.losses[where, first_missing:] = outputs.final_loss[where, None]
    if "eval_losses" in outputs.arrays:
        outputs.eval_losses[where, first_missing:] = outputs.final_eval[where, None]


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


def put_along(values: np.ndarray, mesh: Mesh, axis: int) -> jax.Array:
    """A host array as a device array split along ``axis`` (the lane axis) over ``mesh``."""
    axes: list[Any] = [None] * values.ndim
    axes[axis] = LANE_AXIS
    sharding = NamedSharding(mesh, PartitionSpec(*axes))
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def put_lanes(values: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """A host array as a device array with ``sharding``."""
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` padded to ``size`` by repeating its first entry (padding lanes are dropped)."""
    if values.shape[0] == size:
        return values
    return np.concatenate([values, np.repeat(values[:1], size - values.shape[0], axis=0)])
