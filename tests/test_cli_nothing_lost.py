"""The command line loses nothing: Ctrl-C keeps the partial result, ``--checkpoint`` resumes
bit for bit, and several ``jax.distributed`` processes give one process's answer.

Oracles: the same command run without interruption (bytes of the saved losses), and one
process with two CPU devices for the two-process run. Interrupts come through the
progress bar's ``update`` (the seam between chunks, as in ``test_checkpoint.py``) in
process, and as a real ``SIGINT`` to a fresh process (slow).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tqdm.auto
from helpers import assert_same_sweep

import jaxopt_lessons as jl
from jaxopt_lessons import cli

ARGV = ["sweep", "xor", "--optimizer", "adam,sgd", "--lr", "1e-2:10:4", "--seeds", "2", "--steps", "256"]


def interrupt_after(updates: int):
    """A progress bar that raises ``KeyboardInterrupt`` at its ``updates``-th update (between chunks)."""

    class Bar(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.n_updates = 0

        def update(self, n=1):
            self.n_updates += 1
            if self.n_updates == updates and not self.disable:
                raise KeyboardInterrupt
            return super().update(n)

    return Bar


def _environment() -> dict[str, str]:
    """A fresh process's environment: CPU only, no device count or cluster of the caller's."""
    drop = ("XLA_FLAGS", *cli.CLUSTER_TASKS, "SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "JAX_COORDINATOR_ADDRESS")
    env = {key: value for key, value in os.environ.items() if key not in drop}
    env["JAX_PLATFORMS"] = "cpu"
    return env


CHILD = ("import signal, sys\n"
         "signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored\n"
         "from jaxopt_lessons.cli import main\n"
         "sys.exit(main(sys.argv[1:]))")


@pytest.mark.slow
def test_ctrl_c_writes_the_partial_result_and_the_checkpoint_resumes_bit_for_bit(tmp_path, capsys, monkeypatch):
    out, whole, folder = tmp_path / "partial.json", tmp_path / "whole.json", tmp_path / "checkpoint"
    monkeypatch.setattr(tqdm.auto, "tqdm", interrupt_after(40))  # past the first batch of 32 chunks
    status = cli.main([*ARGV, "--progress", "--out", str(out), "--checkpoint", str(folder)])
    captured = capsys.readouterr()
    monkeypatch.undo()
    assert status == 130, captured.err
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith(f"jaxopt-lessons: interrupted; wrote the partial result to {out} (")
    assert last.endswith(f"progress kept in {folder}: re-run the same command to resume")
    assert "Traceback" not in captured.err + captured.out
    partial = jl.SweepResult.from_json(out)
    assert partial.complete is False and 0 < partial.n_lanes <= 16
    assert "incomplete" in partial.status.tolist()
    assert f"{int(np.sum(partial.status == 'incomplete'))} cut short" in last

    finished = sorted(folder.glob("batch-*.npz"))
    assert finished, "the first batch was not checkpointed"
    stamps = [path.stat().st_mtime_ns for path in finished]
    assert cli.main([*ARGV, "--out", str(out), "--checkpoint", str(folder)]) == 0  # the same command again
    assert [path.stat().st_mtime_ns for path in finished] == stamps  # resumed, not started over
    assert cli.main([*ARGV, "--out", str(whole)]) == 0  # and once without interruption
    capsys.readouterr()
    resumed, uninterrupted = jl.SweepResult.from_json(out), jl.SweepResult.from_json(whole)
    assert resumed.complete and resumed.n_lanes == 16
    assert_same_sweep(resumed, uninterrupted, params=False)
    # the partial result's records are the uninterrupted run's, as far as each lane got
    for lane in range(partial.n_lanes):
        done = int(partial.steps_run[lane]) // partial.record_every
        assert partial.losses[lane, :done].tobytes() == uninterrupted.losses[lane, :done].tobytes()


def test_ctrl_c_without_out_says_nothing_was_kept(capsys, monkeypatch):
    monkeypatch.setattr(tqdm.auto, "tqdm", interrupt_after(3))
    status = cli.main([*ARGV, "--progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 130
    assert err[-1].startswith("jaxopt-lessons: interrupted; ") and err[-1].endswith("not kept (no --out)")


def test_a_checkpoint_of_other_inputs_is_one_line_unless_overwritten(tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    base = ["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1,0.5", "--checkpoint", str(folder)]
    assert cli.main(base) == 0
    capsys.readouterr()
    assert cli.main([*base, "--steps", "60"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other inputs" in err[0] and "steps" in err[0]
    assert cli.main([*base, "--steps", "60", "--overwrite-checkpoint"]) == 0
    assert "statuses (2 lanes)" in capsys.readouterr().out


def test_a_cluster_task_count_without_distributed_flags_is_noted(capsys, monkeypatch):
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert cli.main(["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "SLURM_NTASKS=4" in err and "--distributed" in err


@pytest.mark.slow
def test_distributed_without_a_cluster_is_one_line_exit_2():
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, "sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--distributed"],
        capture_output=True, text=True, env=_environment(), timeout=120, check=False)
    assert completed.returncode == 2, completed.stderr
    (line,) = completed.stderr.strip().splitlines()
    assert line.startswith("jaxopt-lessons: error: jax.distributed.initialize failed: ") and "--coordinator" in line


@pytest.mark.slow
def test_sigint_to_a_running_cli_writes_an_incomplete_out(tmp_path):
    """A real Ctrl-C (SIGINT) to a fresh process once its first chunk is checkpointed."""
    out, folder = tmp_path / "partial.json", tmp_path / "checkpoint"
    argv = ["sweep", "xor", "--optimizer", "adam", "--lr", "1e-3:1:8", "--steps", "300000", "--out", str(out),
            "--checkpoint", str(folder)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=_environment())
    try:
        deadline = time.monotonic() + 120
        while not (folder / "running.npz").exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, "the sweep ended before it could be interrupted"
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"jaxopt-lessons: interrupted; wrote the partial result to {out}")
    assert "Traceback" not in stderr and "statuses" not in stdout
    partial = jl.SweepResult.from_json(out)
    assert partial.complete is False and partial.n_lanes == 8
    assert set(partial.status) <= {"incomplete", "diverged"} and partial.steps_run.max() < 300000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one_process_with_two_devices(tmp_path):
    """``--coordinator`` with 2 local processes of 1 CPU device each: the result process 0 writes
    is bit-equal to one process with 2 devices; process 1 computes but prints and writes nothing."""
    argv = [sys.executable, "-c", CHILD, "sweep", "xor", "--optimizer", "adam", "--lr", "1e-2:1:4", "--seeds", "2",
            "--steps", "100"]
    address = f"127.0.0.1:{_free_port()}"
    runs = [[*argv, "--devices", "1", "--out", str(tmp_path / f"process{i}.json"), "--coordinator", address,
             "--num-processes", "2", "--process-id", str(i)] for i in range(2)]
    runs.append([*argv, "--devices", "2", "--out", str(tmp_path / "single.json")])  # the oracle, at the same time
    children = [subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment())
                for run in runs]
    try:
        outputs = [child.communicate(timeout=240) for child in children]
    finally:
        for child in children:
            child.kill()
    assert [child.returncode for child in children] == [0, 0, 0], [err for _, err in outputs]
    assert "in 2 processes" in outputs[0][0].splitlines()[0] and "statuses (8 lanes)" in outputs[0][0]
    assert not any(line.startswith(("#", "statuses", "best")) for line in outputs[1][0].splitlines())
    assert not (tmp_path / "process1.json").exists()
    assert_same_sweep(jl.SweepResult.from_json(tmp_path / "process0.json"),
                      jl.SweepResult.from_json(tmp_path / "single.json"), params=False)
