"""What a checkpoint costs, and that an interrupted 10^5-lane sweep resumes bit for bit.

The sweep: the seed's linear regression (100 points, ``get_problem("linear-regression")``),
plain SGD, 10^5 log-spaced learning rates x 2,000 steps, 2 CPU devices. Measured in one
process, in this order:

1. the sweep without a checkpoint (warm: a first call compiles, the second is timed);
2. the same sweep with ``checkpoint=folder`` (a fresh folder): wall time, the number of
   chunk saves, the time spent saving (``Checkpoint.save_running`` and ``finish``, timed
   around the library's own methods), and the folder's size on disk;
3. the same sweep into another fresh folder, interrupted by a real ``SIGINT`` (sent to
   this process by a timer, as Ctrl-C would be) part-way; then the same call again,
   which resumes; the resumed result is compared with run 1 field by field, bit for bit.

Run from the repository root::

    python benchmarks/checkpoint_cost.py            # writes results/checkpoint_cost.md
    python benchmarks/checkpoint_cost.py --quick    # 10^4 lanes, 500 steps, prints only
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import _machine  # first: one CPU device per core, before JAX starts
import jax
import numpy as np
import optax

import jaxopt_lessons as jl
from jaxopt_lessons.sweeps import checkpoint as checkpoint_module

RESULTS = Path(__file__).resolve().parent / "results" / "checkpoint_cost.md"
FIELDS = ("learning_rates", "losses", "final_loss", "status", "diverged_at", "steps_run")


class SaveClock:
    """Counts and times the checkpoint's writes by wrapping ``Checkpoint.save_running``/``finish``."""

    def __init__(self) -> None:
        self.saves, self.seconds = 0, 0.0
        self._originals = {name: getattr(checkpoint_module.Checkpoint, name) for name in ("save_running", "finish")}
        for name, original in self._originals.items():
            setattr(checkpoint_module.Checkpoint, name, self._timed(original))

    def _timed(self, original):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.saves += 1

        return timed

    def restore(self) -> None:
        for name, original in self._originals.items():
            setattr(checkpoint_module.Checkpoint, name, original)


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())


def run_sweep(config: dict, **kwargs) -> tuple[jl.SweepResult, float]:
    """The benchmark's sweep and its wall time."""
    problem = jl.problems.get_problem("linear-regression")
    start = time.perf_counter()
    result = jl.sweep(problem.loss_fn, problem.init, optax.sgd, config["rates"], steps=config["steps"],
                      args=problem.args, **kwargs)
    return result, time.perf_counter() - start


def interrupted_then_resumed(config: dict, folder: Path, after: float) -> tuple[jl.SweepResult, dict]:
    """Sends this process SIGINT ``after`` seconds into a checkpointed sweep, then resumes it."""
    timer = threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    facts = {}
    try:
        run_sweep(config, checkpoint=folder)
        facts["interrupted"] = False
    except KeyboardInterrupt as err:
        partial = err.partial
        facts.update(interrupted=True, steps_done=int(np.sum(partial.steps_run)),
                     lanes_done=int(np.sum(partial.steps_run == config["steps"])))
    finally:
        timer.cancel()
    resumed, facts["resume_seconds"] = run_sweep(config, checkpoint=folder)
    return resumed, facts


def compare(a: jl.SweepResult, b: jl.SweepResult) -> list[str]:
    """The fields (and parameter leaves) in which ``a`` and ``b`` differ in any bit."""

    def bits(value) -> bytes | None:
        return None if value is None else np.asarray(value).tobytes()

    differ = [name for name in FIELDS if bits(getattr(a, name)) != bits(getattr(b, name))]
    leaves_a, leaves_b = (jax.tree_util.tree_flatten_with_path(r.params)[0] for r in (a, b))
    differ += [f"params{jax.tree_util.keystr(path)}" for (path, x), (_, y) in zip(leaves_a, leaves_b)
               if bits(x) != bits(y)]
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10^4 lanes, 500 steps, print only")
    parser.add_argument("--lanes", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    options = parser.parse_args()
    lanes, steps = (10_000, 500) if options.quick else (options.lanes, options.steps)
    config = {"rates": np.geomspace(1e-4, 0.29, lanes), "steps": steps}
    work = Path(tempfile.mkdtemp(prefix="checkpoint_cost_"))
    try:
        run_sweep(config)  # compile
        plain, plain_s = run_sweep(config)
        clock = SaveClock()
        saved, saved_s = run_sweep(config, checkpoint=work / "full")
        clock.restore()
        disk = folder_bytes(work / "full")
        resumed, facts = interrupted_then_resumed(config, work / "cut", after=0.4 * plain_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        f"# Checkpoints: cost per chunk, and an interrupted {lanes:,}-lane sweep resumed",
        "",
        f"Machine: {_machine.machine_description()}",
        "",
        f"Seed linear regression (100 points), plain SGD, {lanes:,} learning rates in [1e-4, 0.29] x {steps:,} "
        f"steps, {_machine.N_DEVICES} CPU devices; one process, warm.",
        "",
        "| run | wall (s) | checkpoint saves | time in saves (s) | per save (ms) | folder on disk (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| no checkpoint | {plain_s:.2f} | – | – | – | – |",
        f"| `checkpoint=folder` | {saved_s:.2f} | {clock.saves} | {clock.seconds:.2f} | "
        f"{1e3 * clock.seconds / max(clock.saves, 1):.1f} | {disk / 2**20:.1f} |",
        f"| interrupted by SIGINT at {0.4 * plain_s:.1f} s, then the same call again (the resume) | "
        f"{facts['resume_seconds']:.2f} | | | | |",
        "",
        f"Checkpoint overhead: {saved_s / plain_s:.2f}x the sweep without one. Interrupted: "
        f"{facts.get('interrupted')}; the partial result held {facts.get('steps_done', 0):,} lane-steps "
        f"({facts.get('lanes_done', 0):,} lanes finished). Resumed vs uninterrupted, bit for bit: "
        + ("identical in every field and parameter leaf." if not (diff := compare(plain, resumed))
           else f"DIFFERENT in {', '.join(diff)}."),
        f" With a checkpoint vs without: {'identical' if not compare(plain, saved) else 'DIFFERENT'}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not options.quick:
        jl.io.atomic_write_text(options.out, text)
        print(f"written to {options.out}")


if __name__ == "__main__":
    main()
