"""What every benchmark shares: rows in fresh worker processes, interleaved repeats, tables.

A *row* is one way of training one set of lanes (a NumPy loop, a per-lane ``jit(scan)``
loop, a bare ``jit(vmap(scan))``, ``jl.sweep``, the old engine's sweep...). Each row runs
in its own fresh worker process (``_worker.py``), so that its first call compiles cold
and its peak memory is its own. The driver starts the workers of a *group* one after
the other (each makes its first call while the others wait), then asks them in turn,
round after round, to time one more call: the repeats of the rows of a group are
interleaved, so a burst of load on a shared machine hits every row alike, and each
row's time is the fastest of its rounds.

This module imports no JAX at the top: the driver stays light, and a worker chooses
its engine (``--old-engine``) before anything imports ``jaxopt_lessons``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OLD_ENGINE = "ec9df50"
"""The engine before the rebuild: a git revision of this repository (or a checkout's path)."""

_MARK = "@@bench "


def max_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class CompileClock:
    """Adds up the trace/lower/compile durations JAX reports through ``jax.monitoring``.

    ``seconds`` is trace + lower + XLA compile; ``backend_seconds`` the XLA compile alone
    (> 0 on a warm repeat means something recompiled); ``by_function`` splits the XLA
    compile time by the compiled function's name.
    """

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self) -> None:
        import jax

        self.seconds = 0.0
        self.backend_seconds = 0.0
        self.by_function: dict[str, float] = {}
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs: Any) -> None:
        if self.active and event in self.EVENTS:
            self.seconds += duration
            if event == self.EVENTS[-1]:
                self.backend_seconds += duration
                name = str(kwargs.get("fun_name", "?"))
                self.by_function[name] = self.by_function.get(name, 0.0) + duration

    def __enter__(self) -> CompileClock:
        self.seconds, self.backend_seconds, self.by_function, self.active = 0.0, 0.0, {}, True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False


class Case(Protocol):
    """A row's work inside its worker: ``run(repeat)`` trains and returns the lane-steps done."""

    def run(self, repeat: int) -> int: ...

    def report(self) -> dict: ...


# --- inside a worker -------------------------------------------------------------------------


def _emit(message: dict) -> None:
    sys.stdout.write(_MARK + json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(build: Callable[[dict], Case], config: dict) -> None:
    """The worker's loop: build the case, time its first call, then one call per ``time`` request."""
    import_rss = max_rss_mib()
    clock = CompileClock()
    case = build(config)
    start = time.perf_counter()
    with clock:
        lane_steps = case.run(0)
    first = time.perf_counter() - start
    _emit({"first_call_s": first, "first_lane_steps": lane_steps, "compile_s": clock.seconds,
           "backend_compile_s": clock.backend_seconds, "compile_by_function": clock.by_function})
    repeat = 0
    for line in sys.stdin:
        command = line.strip()
        if command == "time":
            repeat += 1
            start, cpu = time.perf_counter(), time.process_time()
            with clock:
                lane_steps = case.run(repeat)
            _emit({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                   "lane_steps": lane_steps, "recompile_s": clock.backend_seconds})
        elif command == "finish":
            _emit({**case.report(), "peak_rss_mib": max_rss_mib(), "import_rss_mib": import_rss})
            return


# --- the driver ------------------------------------------------------------------------------


@dataclass
class Row:
    """One row of a table: ``target`` (``module:function`` building the case) run on ``config``."""

    name: str
    title: str
    target: str
    config: dict
    engine: str = "new"  # "new" or "old": which jaxopt_lessons the worker imports
    result: dict = field(default_factory=dict)

    @property
    def ns_per_lane_step(self) -> float:
        """The fastest warm call, in nanoseconds per lane-step."""
        return 1e9 * self.result["seconds"] / self.result["lane_steps"]


class _Worker:
    def __init__(self, row: Row, engine: Path | None) -> None:
        command = [sys.executable, str(HERE / "_worker.py")]
        if engine is not None:
            command += ["--engine", str(engine)]
        command += [row.target, json.dumps({**row.config, "old_engine": row.engine == "old"})]
        self.row = row
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True, cwd=ROOT, env=os.environ.copy())

    def read(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(_MARK):
                return json.loads(line[len(_MARK):])
        self.log.seek(0)
        tail = "\n".join(self.log.read().strip().splitlines()[-15:])
        raise RuntimeError(f"row {self.row.name!r} ({self.row.target}) failed:\n{tail}")

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.log.close()


def add_quiet_option(parser: Any, default: float = 10.0) -> None:
    """``--wait-quiet SECONDS``: how long each timed call may wait for other processes to go quiet."""
    parser.add_argument("--wait-quiet", type=float, default=default, metavar="SECONDS",
                        help="before each timed call (and each row's first call) wait up to this long for the CPUs "
                             "to be mostly idle (default %(default)s; 0: never wait)")


def busy_fraction(seconds: float = 0.5) -> float:
    """The fraction of all CPUs' time spent busy (by anyone) over the next ``seconds`` (Linux)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return 0.0
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(max_wait: float, busy_limit: float = 0.25) -> float:
    """Waits (up to ``max_wait`` seconds) until other processes leave the CPUs mostly idle.

    Returns the busy fraction seen last. A round of timings then starts on a quiet
    machine more often: on a shared machine other people's tests come and go.
    """
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    while busy > busy_limit and time.monotonic() < deadline:
        time.sleep(1.0)
        busy = busy_fraction()
    return busy


QUIET_WAIT = 0.0
"""Seconds each timed call may wait for a quiet machine (``wait_for_quiet``); the scripts' ``--wait-quiet``."""

MIN_QUIET = 2
"""Rounds continue past ``rounds`` (up to ``MAX_ROUNDS_FACTOR`` times as many) until every row
has this many quiet calls (only while waiting for quiet is on)."""

MAX_ROUNDS_FACTOR = 3


def _enough_quiet(workers: Sequence[Any]) -> bool:
    if QUIET_WAIT <= 0:
        return True
    return all(sum(b is not None and b <= QUIET for b in w.row.result.get("busy_before", [])) >= MIN_QUIET
               for w in workers)


QUIET = 0.25
"""A call counts as *quiet* when at most this fraction of the CPUs was busy just before it."""


SPREAD_NOTE = ("`spread` = slowest / fastest warm call of the row (the machine's noise); `q k/n`: k of its n "
               "timed calls started with the CPUs at least 75% idle (each call waited up to `--wait-quiet` seconds "
               "for that).")


def quiet_rounds(row: Row) -> str:
    """``k/n``: how many of the row's timed calls started on a quiet machine (``–`` if not checked)."""
    busy = [b for b in row.result.get("busy_before", []) if b is not None]
    if not busy:
        return "–"
    return f"{sum(b <= QUIET for b in busy)}/{len(busy)}"


def measure(rows: Sequence[Row], rounds: int, engines: dict[str, Path | None], *, verbose: bool = True) -> list[Row]:
    """Measures a group of rows with interleaved repeats; returns the rows that ran.

    Each row gets ``result``: ``first_call_s``, ``compile_s``, ``seconds`` and
    ``lane_steps`` of its fastest warm call, ``times`` (every warm call, seconds per
    lane-step x 1e9), ``peak_rss_mib`` and whatever its case reports. ``engines`` maps
    a row's ``engine`` to the directory holding that ``jaxopt_lessons`` (``None``: the
    installed one, this checkout). A row that fails is reported on stderr and dropped.
    """
    workers: list[_Worker] = []
    try:
        for row in rows:
            if verbose:
                print(f"  starting {row.title} ...", file=sys.stderr, flush=True)
            if QUIET_WAIT > 0:
                wait_for_quiet(QUIET_WAIT)
            worker = _Worker(row, engines.get(row.engine))
            try:
                row.result = worker.read()
            except RuntimeError as error:
                print(f"  skipped: {error}", file=sys.stderr)
                worker.close()
                continue
            row.result["times"] = []
            workers.append(worker)
        round_index = 0
        while round_index < rounds or (round_index < MAX_ROUNDS_FACTOR * rounds and not _enough_quiet(workers)):
            shift = round_index % max(len(workers), 1)  # rotate the order: no row is always first
            for worker in workers[shift:] + workers[:shift]:
                busy = wait_for_quiet(QUIET_WAIT) if QUIET_WAIT > 0 else None
                timed = worker.ask("time")
                result = worker.row.result
                ns = 1e9 * timed["seconds"] / timed["lane_steps"]
                result["times"].append(ns)
                result.setdefault("cpu_times", []).append(1e9 * timed["cpu_seconds"] / timed["lane_steps"])
                result.setdefault("busy_before", []).append(busy)
                result["recompile_s"] = result.get("recompile_s", 0.0) + timed["recompile_s"]
                if "seconds" not in result or ns < 1e9 * result["seconds"] / result["lane_steps"]:
                    result["seconds"], result["lane_steps"] = timed["seconds"], timed["lane_steps"]
            round_index += 1
            if verbose:
                print(f"  round {round_index} done (quiet calls: "
                      f"{', '.join(quiet_rounds(worker.row) for worker in workers)})", file=sys.stderr, flush=True)
        for worker in workers:
            worker.row.result.update(worker.ask("finish"))
    finally:
        for worker in workers:
            worker.close()
    return [worker.row for worker in workers]


# --- tables ----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table: ``–`` for missing, thousands separators from 1,000 on."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def spread(row: Row) -> str:
    """Slowest / fastest warm call of a row (how noisy the machine was), and its quiet calls, e.g. ``1.31 q3/8``."""
    times = row.result.get("times") or []
    if len(times) < 2:
        return "–"
    quiet = quiet_rounds(row)
    return f"{max(times) / min(times):.2f}" + ("" if quiet == "–" else f" q{quiet}")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


_SNAPSHOTS: list[tempfile.TemporaryDirectory] = []


def engine_path(spec: str | None) -> Path | None:
    """The directory to import ``jaxopt_lessons`` from for ``spec``.

    ``None`` or ``""``: this checkout's working tree (the installed package). A directory
    holding ``jaxopt_lessons/``: that checkout. Anything else is a git revision of this
    repository, whose ``jaxopt_lessons/`` is extracted (``git archive``) into a temporary
    directory that lives as long as this process.
    """
    if not spec:
        return None
    if (Path(spec) / "jaxopt_lessons").is_dir():
        return Path(spec).resolve()
    done = subprocess.run(["git", "archive", "--format=tar", spec, "jaxopt_lessons"], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        raise ValueError(f"engine {spec!r} is neither a checkout nor a git revision: {done.stderr.decode().strip()}")
    folder = tempfile.TemporaryDirectory(prefix="bench-engine-")
    _SNAPSHOTS.append(folder)
    with tempfile.TemporaryFile() as archive:
        archive.write(done.stdout)
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(folder.name, filter="data")
    return Path(folder.name)


def add_engine_options(parser: Any) -> None:
    """``--old-engine``, ``--new-engine`` and ``--candidate``: which ``jaxopt_lessons`` each row imports."""
    parser.add_argument("--old-engine", default=OLD_ENGINE,
                        help="the engine before the rebuild: a git revision or a checkout (default %(default)s)")
    parser.add_argument("--new-engine", default=None,
                        help="the engine to measure: a git revision or a checkout (default: this working tree)")
    parser.add_argument("--candidate", default=None,
                        help="a changed engine to measure beside the new one (a git revision or a checkout): "
                             "adds its jl.sweep rows, in the same run")


def engines_of(args: Any) -> dict[str, Path | None]:
    """The ``engines`` mapping of :func:`measure` for parsed :func:`add_engine_options`."""
    engines = {"new": engine_path(args.new_engine), "old": engine_path(args.old_engine)}
    if args.candidate:
        engines["candidate"] = engine_path(args.candidate)
    return engines


def describe_engine(spec: str | None) -> str:
    """One engine (see :func:`engine_path`): its commit, and uncommitted changes of the working tree."""
    if not spec:
        dirty = _git("status", "--porcelain", "--", "jaxopt_lessons")
        return f"this working tree at {_git('rev-parse', '--short', 'HEAD')}" + (" + uncommitted changes" if dirty else "")
    if (Path(spec) / "jaxopt_lessons").is_dir():
        commit = subprocess.run(["git", "-C", spec, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        return f"{spec} ({commit or 'not a git checkout'})"
    return f"commit {_git('rev-parse', '--short', spec)} ({spec})"


def engine_description(new: str | None, old: str | None, candidate: str | None = None) -> str:
    """Which engines were measured (new, old and an optional candidate)."""
    text = f"new engine: {describe_engine(new)}; old engine: {describe_engine(old)}"
    return text + (f"; candidate engine: {describe_engine(candidate)}" if candidate else "")


def write_markdown(path: Path, text: str) -> None:
    """Writes ``text`` atomically (``jaxopt_lessons.io``)."""
    from jaxopt_lessons.io import atomic_write_text

    atomic_write_text(path, text)
    print(f"written to {path}", file=sys.stderr)
