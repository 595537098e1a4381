"""Multi-process sweeps on JAX's own runtime: two local CPU processes joined by ``jax.distributed``.

Every test starts fresh Python processes (``jax.distributed.initialize`` must run before
JAX's backend starts, and only once per process): two processes with one CPU device
each, their collectives over gloo, the coordinator on a free localhost port. The oracle
for the results is independent of the multi-process path: one ordinary process with
two host devices (:func:`jaxopt_lessons.use_cpu_cores`) running the same sweep.

Checked: (a) both processes get the full result, byte-equal to the one-process run;
(b) processes passing different inputs both fail with the ``ValueError`` naming what
differs, before any sweep program is built; (c) a process that dies makes the other
fail within a timeout instead of hanging; (d) processes that see different contents
in their checkpoint folders (a machine-local disk) fail instead of hanging. For (c) the processes pass
``heartbeat_timeout_seconds=HEARTBEAT_S`` to ``jax.distributed.initialize``: with JAX's
default of 100 s the survivor of a dead worker is stopped only after ~100 s (measured).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT_S = 10
"""``heartbeat_timeout_seconds`` of the children: how long a silent process counts as alive."""
DEADLINE_S = 60
"""Seconds a survivor may take to fail after its peer died (JAX's default heartbeat would exceed it)."""

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import os, sys, time
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
    import jax.numpy as jnp, numpy as np, optax
    from jaxopt_lessons.sweeps import api

    built = []  # every sweep program the engine builds (none may be built before the inputs agree)
    api.build_program = lambda spec, _build=api.build_program: built.append(spec) or _build(spec)

    def loss(params, x, y):
        return jl.mse(jl.linear(params, x), y)

    def init(key):
        k_w, k_b = jax.random.split(key)
        return {"w": 2.0 * jax.random.normal(k_w), "b": 2.0 * jax.random.normal(k_b)}

    data = jl.datasets.seed_linear_regression()
    x, y = np.asarray(data["x"], np.float32), np.asarray(data["y"], np.float32)
    rates = [0.003, 0.03, 0.2, 0.31, 5.0]  # 3 seeds x 5 rates = 15 lanes per optimizer: one padding lane
    if mode == "other-rates" and process_id == 1:
        rates = rates[:4]
    if mode == "other-data" and process_id == 1:
        y = y + 1.0
    checkpoint = f"{out}/checkpoint-{process_id}" if mode == "own-checkpoints" else None
    if mode == f"die-{process_id}":
        os._exit(1)  # gone without a word, after joining the run
    try:
        result = jl.sweep(loss, init, {"sgd": optax.sgd, "adam": optax.adam}, rates, steps=60,
                          args=(jnp.asarray(x), jnp.asarray(y)), seeds=3, checkpoint=checkpoint)
    except ValueError as error:
        print("BUILT", len(built), flush=True)
        print("VALUEERROR", error, flush=True)
        sys.exit(3)
    np.savez(f"{out}/{mode}-{process_id}.npz", learning_rates=result.learning_rates, seeds=result.seeds,
             optimizers=result.optimizers, losses=result.losses, final_loss=result.final_loss,
             status=result.status, diverged_at=result.diverged_at, w=result.params["w"], b=result.params["b"],
             process_count=jax.process_count())
    print("DONE", time.time(), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start(mode: str, process_ids: list[int], out: Path) -> list[subprocess.Popen]:
    """Starts the children of one run (all on the same fresh coordinator port)."""
    port = str(_free_port())
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "HEARTBEAT_S": str(HEARTBEAT_S), "PYTHONUNBUFFERED": "1"}
    env.pop("XLA_FLAGS", None)
    return [subprocess.Popen([sys.executable, "-c", CHILD, mode, str(i), port, str(out)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in process_ids]


def _finish(processes: list[subprocess.Popen], timeout: float) -> list[tuple[int, str, str, float]]:
    """``(returncode, stdout, stderr, seconds)`` of each child; kills every child still running at ``timeout``."""
    start, outcomes = time.monotonic(), []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=max(1.0, timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"a child still ran after {timeout} s (hang):\n{stderr[-3000:]}")
        outcomes.append((process.returncode, stdout, stderr, time.monotonic() - start))
    return outcomes


def test_two_processes_get_the_full_result_byte_equal_to_one_process_with_two_devices(tmp_path):
    processes = _start("same", [0, 1], tmp_path) + _start("single", [0], tmp_path)
    for code, _stdout, stderr, _ in _finish(processes, timeout=180):
        assert code == 0, stderr[-3000:]
    oracle = np.load(tmp_path / "single-0.npz")
    assert int(oracle["process_count"]) == 1 and oracle["losses"].shape[0] == 30
    assert {"diverged", "converged"} <= set(oracle["status"].tolist())
    for process_id in (0, 1):
        got = np.load(tmp_path / f"same-{process_id}.npz")
        assert int(got["process_count"]) == 2
        for name in oracle.files:
            if name != "process_count":
                assert got[name].dtype == oracle[name].dtype and got[name].shape == oracle[name].shape, name
                assert got[name].tobytes() == oracle[name].tobytes(), f"process {process_id}: {name}"


@pytest.mark.parametrize(("mode", "differs"), [("other-rates", "learning_rates"), ("other-data", "data")])
def test_different_inputs_fail_on_both_processes_naming_what_differs(tmp_path, mode, differs):
    outcomes = _finish(_start(mode, [0, 1], tmp_path), timeout=120)
    for process_id, (code, stdout, stderr, _) in enumerate(outcomes):
        assert code == 3, (stdout, stderr[-3000:])
        message = stdout.split("VALUEERROR", 1)[1]
        assert f"{differs} differs" in message and f"this is process {process_id}" in message
        assert "BUILT 0" in stdout  # failed before any sweep program was built
    assert not list(tmp_path.glob("*.npz"))


@pytest.mark.parametrize("dead", [1, 0], ids=["worker-dies", "coordinator-dies"])
def test_a_dead_process_makes_the_other_fail_not_hang(tmp_path, dead):
    outcomes = _finish(_start(f"die-{dead}", [0, 1], tmp_path), timeout=DEADLINE_S + 30)
    code, stdout, stderr, seconds = outcomes[1 - dead]
    assert outcomes[dead][0] == 1
    assert code != 0 and "DONE" not in stdout
    assert seconds < DEADLINE_S, f"the survivor took {seconds:.0f} s to fail"
    # JAX's coordination service stops the survivor (a fatal error, not a Python exception)
    assert "heartbeat" in stderr.lower() or "unavailable" in stderr.lower(), stderr[-3000:]


def test_processes_seeing_different_checkpoints_fail_instead_of_hanging(tmp_path):
    # a machine-local checkpoint folder: process 0 finds a finished batch there, process 1 nothing
    (tmp_path / "checkpoint-0").mkdir()
    (tmp_path / "checkpoint-0" / "batch-000000.npz").write_bytes(b"")
    outcomes = _finish(_start("own-checkpoints", [0, 1], tmp_path), timeout=120)
    for process_id, (code, stdout, stderr, _) in enumerate(outcomes):
        assert code == 3, (stdout, stderr[-3000:])
        message = stdout.split("VALUEERROR", 1)[1]
        assert "checkpoint" in message and f"this is process {process_id}" in message
        assert "BUILT 0" in stdout
