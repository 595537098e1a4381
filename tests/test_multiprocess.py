"""Multi-process sweeps on JAX's own runtime: two local CPU processes joined by ``jax.distributed``.

The tests read fresh Python processes (``jax.distributed.initialize`` must run before
JAX's backend starts, and only once per process), all started at once by one fixture so
that their start-up and the survivors' heartbeat waits overlap: pairs of processes with
one CPU device each, their collectives over gloo, each pair's coordinator on a free
localhost port. The oracle for the results is independent of the multi-process path:
one ordinary process with two host devices (:func:`jaxopt_lessons.use_cpu_cores`)
running the same sweep.

Checked: (a) both processes get the full result, byte-equal to the one-process run;
(b) processes passing different inputs both fail with the ``ValueError`` naming what
differs, before any sweep program is built; (c) a process that dies makes the other
fail within a timeout instead of hanging; (d) processes that see different contents
in their checkpoint folders (a machine-local disk) fail instead of hanging. One pair
does (b), (d) and then (a), one call after another: each failure is symmetric (every
process raises), so the pair's next call starts in step and must still give the full
result. For (c) the processes pass ``heartbeat_timeout_seconds=HEARTBEAT_S`` to
``jax.distributed.initialize``: with JAX's default of 100 s the survivor of a dead
worker is stopped only after ~100 s (measured).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REGRESSION_SWEEP

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT_S = 10
"""``heartbeat_timeout_seconds`` of the children: how long a silent process counts as alive."""
DEADLINE_S = 60
"""Seconds a survivor may take to fail after its peer died (JAX's default heartbeat would exceed it)."""

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    mode, process_id, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    import jaxopt_lessons as jl
    import jax

    if mode == "single":  # the oracle: one ordinary process with two host devices
        jl.use_cpu_cores(2)
    else:
        jl.use_cpu_cores(1)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                                   process_id=process_id, initialization_timeout=60,
                                   heartbeat_timeout_seconds=int(os.environ["HEARTBEAT_S"]))
    assert jax.device_count() == 2, jax.devices()
    if mode == f"die-{process_id}":
        os._exit(1)  # gone without a word, after joining the run
    """
) + REGRESSION_SWEEP + textwrap.dedent(
    """
    from jaxopt_lessons.sweeps import api

    built = []  # every sweep program the engine builds (none may be built before the inputs agree)
    api.build_program = lambda spec, _build=api.build_program: built.append(spec) or _build(spec)
    mine = process_id == 1  # what process 1 passes differently from process 0
    MISMATCHES = {  # (b) and (d): name -> the arguments of run()
        "learning_rates": dict(learning_rates=LRS[:4] if mine else LRS),
        "data": dict(args=(x, y + 1.0 if mine else y)),
        # a machine-local checkpoint folder: process 0 finds a finished batch there, process 1 nothing
        "checkpoint": dict(checkpoint=f"{out}/checkpoint-{process_id}"),
    }
    if mode == "cluster":
        if process_id == 0:
            os.makedirs(f"{out}/checkpoint-0")
            open(f"{out}/checkpoint-0/batch-000000.npz", "wb").close()
        for name, kwargs in MISMATCHES.items():
            try:
                run(**kwargs)
                print(json.dumps({"mismatch": name, "error": None}), flush=True)
            except ValueError as error:
                print(json.dumps({"mismatch": name, "error": str(error), "built": len(built)}), flush=True)
    result = run()
    np.savez(f"{out}/{mode}-{process_id}.npz", learning_rates=result.learning_rates, seeds=result.seeds,
             optimizers=result.optimizers, losses=result.losses, final_loss=result.final_loss,
             status=result.status, diverged_at=result.diverged_at, w=result.params["w"], b=result.params["b"],
             process_count=jax.process_count())
    print("DONE", time.time(), flush=True)
    """
)

RUNS = {"cluster": [0, 1], "single": [0], "die-1": [0, 1], "die-0": [0, 1]}
"""The runs the fixture starts: mode -> process ids (a pair shares a coordinator)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class Child:
    """One started child process; its output goes to files (no pipe can fill up while others are waited on)."""

    def __init__(self, mode: str, process_id: int, port: str, out: Path, env: dict[str, str]):
        self.stdout_path, self.stderr_path = out / f"{mode}-{process_id}.out", out / f"{mode}-{process_id}.err"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(process_id), port, str(out)],
                                            cwd=ROOT, env=env, stdout=stdout, stderr=stderr, text=True)
        self.started, self.seconds = time.monotonic(), None

    @property
    def returncode(self) -> int:
        return self.process.returncode

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


@pytest.fixture(scope="module")
def children(tmp_path_factory):
    """``{mode: [Child, ...]}`` of :data:`RUNS`, all started at once and waited for (killed on a hang)."""
    out = tmp_path_factory.mktemp("multiprocess")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "HEARTBEAT_S": str(HEARTBEAT_S), "PYTHONUNBUFFERED": "1"}
    env.pop("XLA_FLAGS", None)
    runs = {}
    for mode, process_ids in RUNS.items():
        port = str(_free_port())
        runs[mode] = [Child(mode, i, port, out, env) for i in process_ids]
    everyone = [child for group in runs.values() for child in group]
    deadline = time.monotonic() + 240
    while any(child.seconds is None for child in everyone) and time.monotonic() < deadline:
        for child in everyone:
            if child.seconds is None and child.process.poll() is not None:
                child.seconds = time.monotonic() - child.started
        time.sleep(0.05)
    for child in everyone:
        if child.seconds is None:
            child.process.kill()
            child.process.wait()
    runs["out"] = out
    return runs


def _finished(group: list[Child]) -> list[Child]:
    for child in group:
        if child.seconds is None:
            pytest.fail(f"a child still ran after the fixture's deadline (hang):\n{child.stderr[-3000:]}")
    return group


def _mismatches(children) -> list[dict]:
    """The ``(b)``/``(d)`` lines of each process of the pair, by mismatch name."""
    return [{row["mismatch"]: row for row in map(json.loads, _json_lines(child.stdout))}
            for child in _finished(children["cluster"])]


def _json_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("{")]


def test_two_processes_get_the_full_result_byte_equal_to_one_process_with_two_devices(children):
    for child in _finished(children["cluster"] + children["single"]):
        assert child.returncode == 0, child.stderr[-3000:]
    out = children["out"]
    oracle = np.load(out / "single-0.npz")
    assert int(oracle["process_count"]) == 1 and oracle["losses"].shape[0] == 30
    assert {"diverged", "converged"} <= set(oracle["status"].tolist())
    for process_id in (0, 1):
        got = np.load(out / f"cluster-{process_id}.npz")
        assert int(got["process_count"]) == 2
        for name in oracle.files:
            if name != "process_count":
                assert got[name].dtype == oracle[name].dtype and got[name].shape == oracle[name].shape, name
                assert got[name].tobytes() == oracle[name].tobytes(), f"process {process_id}: {name}"


@pytest.mark.parametrize("differs", ["learning_rates", "data"])
def test_different_inputs_fail_on_both_processes_naming_what_differs(children, differs):
    for process_id, seen in enumerate(_mismatches(children)):
        row = seen[differs]
        assert row["error"] is not None, f"process {process_id} ran a sweep whose inputs differ"
        assert f"{differs} differs" in row["error"] and f"this is process {process_id}" in row["error"]
        assert row["built"] == 0  # failed before any sweep program was built


@pytest.mark.parametrize("dead", [1, 0], ids=["worker-dies", "coordinator-dies"])
def test_a_dead_process_makes_the_other_fail_not_hang(children, dead):
    group = _finished(children[f"die-{dead}"])
    survivor = group[1 - dead]
    assert group[dead].returncode == 1
    assert survivor.returncode != 0 and "DONE" not in survivor.stdout
    assert survivor.seconds < DEADLINE_S, f"the survivor took {survivor.seconds:.0f} s to fail"
    # JAX's coordination service stops the survivor (a fatal error, not a Python exception)
    assert "heartbeat" in survivor.stderr.lower() or "unavailable" in survivor.stderr.lower(), survivor.stderr[-3000:]


def test_processes_seeing_different_checkpoints_fail_instead_of_hanging(children):
    for process_id, seen in enumerate(_mismatches(children)):
        row = seen["checkpoint"]
        assert row["error"] is not None, f"process {process_id} ran with a checkpoint the other does not see"
        assert "checkpoint" in row["error"] and f"this is process {process_id}" in row["error"]
        assert row["built"] == 0
