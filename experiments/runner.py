"""The lesson runner behind ``python -m experiments [NAMES...] [--quick] [--out results]``.

For each lesson (a module of :mod:`experiments`, see its docstring for the interface) the
runner calls ``run(out_dir, quick)`` with ``out_dir = <out>/<lesson>/``, writes the returned
metrics to ``<out>/<lesson>/metrics.json`` and finally rebuilds ``<out>/REPORT.md`` from
every ``metrics.json`` in the results folder (so running a subset keeps the other sections).

Guarantees:

* A failing lesson is reported with its traceback (on screen and in
  ``<out>/<lesson>/error.txt``); it never stops the other lessons nor erases any file of
  theirs. The exit code is 1 when any lesson failed, 2 for unknown lesson names.
* Every file is written atomically (temporary file + rename, :mod:`jaxopt_lessons.io`).
* Numerical precision: **every lesson runs with ``jax_enable_x64`` on** (float64 by default).
  The seed notebook computes in NumPy float64, and reproducing its printed numbers to the
  last digit (linear regression's w = 2.941, XOR's 0.0298, ...) needs it; the problems are
  small, so the cost on CPU is negligible. A lesson that wants float32 says so explicitly
  with ``dtype=jnp.float32`` on its data and parameters.
* Before JAX computes anything, the entry point calls :func:`configure_environment`:
  one CPU device per core through :func:`jaxopt_lessons.use_cpu_cores` (the one place
  that sets the device count), so that sweeps can shard their lanes over every core, and
  ``MPLBACKEND=Agg`` so figures render headless.
* Progress: the runner prints each lesson as it starts and finishes (stdout); lessons
  print their long steps on stderr (:mod:`experiments._common`).

The runner imports the report (never the other way round). This module and the report
import JAX only inside functions, so :func:`configure_environment` can run first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import LESSONS
from ._layout import ERROR_FILE, FIGURE_SUFFIXES, METRICS_FILE, RUN_KEY, import_lesson
from .report import write_report

__all__ = [
    "ERROR_FILE",
    "METRICS_FILE",
    "RUN_KEY",
    "LessonOutcome",
    "configure_environment",
    "host_core_count",
    "import_lesson",
    "main",
    "parse_args",
    "run_lesson",
    "to_jsonable",
]

DEVICE_COUNT_FLAG = "xla_force_host_platform_device_count"
"""An ``XLA_FLAGS`` entry that already fixes the CPU device count (the user's choice is kept)."""


@dataclasses.dataclass(frozen=True)
class LessonOutcome:
    """What happened when one lesson ran.

    Attributes:
      name: the lesson module name.
      ok: whether ``run`` returned and its metrics were written.
      seconds: wall time of ``run`` (including compilation).
      figures: figure files (relative to the lesson folder) written during this run.
      error: the formatted traceback when the lesson failed, else ``None``.
    """

    name: str
    ok: bool
    seconds: float
    figures: tuple[str, ...]
    error: str | None = None


def host_core_count() -> int:
    """The number of CPU cores this process may use (at least 1): :func:`jaxopt_lessons.devices.usable_cores`."""
    from jaxopt_lessons.devices import usable_cores

    return usable_cores()


def configure_environment(environ: dict[str, str] | None = None) -> int | None:
    """One CPU device per core (:func:`jaxopt_lessons.use_cpu_cores`) and ``MPLBACKEND=Agg``.

    Must run before JAX computes anything (and before matplotlib is imported) to take
    effect. The device count is left alone when ``XLA_FLAGS`` in ``environ`` already
    sets ``--xla_force_host_platform_device_count`` (the user's choice), or when JAX's
    backend has already started (then the process keeps the devices it has). An
    existing ``MPLBACKEND`` is kept.

    Args:
      environ: the environment to read and modify (default ``os.environ``).

    Returns:
      The number of CPU devices asked for, or ``None`` when the count was left alone.
    """
    environ = os.environ if environ is None else environ
    environ.setdefault("MPLBACKEND", "Agg")
    if DEVICE_COUNT_FLAG in environ.get("XLA_FLAGS", ""):
        return None
    import jaxopt_lessons as jl
    from jaxopt_lessons.devices import BackendAlreadyStartedError

    try:
        return jl.use_cpu_cores()
    except BackendAlreadyStartedError:
        return None


def to_jsonable(value: Any) -> Any:
    """Converts lesson metrics to plain JSON types.

    NumPy/JAX arrays become (nested) lists, NumPy/JAX scalars Python numbers, tuples lists,
    mapping keys strings, paths strings, dataclasses and named tuples dicts. NaN and
    infinities stay floats (written as JSON's ``NaN``/``Infinity``, which Python reads back).

    Raises:
      TypeError: for a value with no JSON form (the message names its type).
    """
    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if hasattr(value, "_asdict"):  # a NamedTuple
        return to_jsonable(value._asdict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.generic) or hasattr(value, "__array__"):
        array = np.asarray(value)
        if array.dtype == np.bool_:
            return array.tolist()
        if np.issubdtype(array.dtype, np.integer):
            return array.tolist()
        if np.issubdtype(array.dtype, np.floating):
            return array.astype(float).tolist()
        if array.dtype.kind in "US":
            return array.tolist()
    raise TypeError(f"metrics value of type {type(value).__name__} has no JSON form: {value!r}")


def _figure_files(folder: Path, since: float) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(
            path.name
            for path in folder.iterdir()
            if path.suffix in FIGURE_SUFFIXES and path.stat().st_mtime >= since - 1.0
        )
    )


def run_lesson(name: str, out: Path, *, quick: bool, package: str = "experiments") -> LessonOutcome:
    """Runs one lesson into ``out/<name>/`` and writes its ``metrics.json``; never raises.

    The lesson runs with ``jax_enable_x64`` on (see the module docstring). On failure the
    traceback goes to ``out/<name>/error.txt`` and the lesson's earlier files are left as
    they were; on success a stale ``error.txt`` is removed.

    Returns:
      A :class:`LessonOutcome`.
    """
    import jax

    from jaxopt_lessons.io import atomic_write_json, atomic_write_text

    lesson_dir = Path(out) / name
    lesson_dir.mkdir(parents=True, exist_ok=True)
    start_wall = time.time()
    start = time.perf_counter()
    try:
        module = import_lesson(name, package)
        with jax.enable_x64(True):
            metrics = module.run(lesson_dir, quick)
        if not isinstance(metrics, Mapping):
            raise TypeError(f"{package}.{name}.run must return a dict of metrics, got {type(metrics).__name__}")
        seconds = time.perf_counter() - start
        figures = _figure_files(lesson_dir, start_wall)
        record = to_jsonable(metrics)
        record[RUN_KEY] = {
            "seconds": round(seconds, 3),
            "quick": bool(quick),
            "figures": list(figures),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        atomic_write_json(lesson_dir / METRICS_FILE, record)
    except Exception:  # a lesson's failure must not stop the others
        seconds = time.perf_counter() - start
        error = traceback.format_exc()
        try:
            atomic_write_text(lesson_dir / ERROR_FILE, error)
        except OSError:
            pass
        return LessonOutcome(name, False, seconds, _figure_files(lesson_dir, start_wall), error)
    (lesson_dir / ERROR_FILE).unlink(missing_ok=True)
    return LessonOutcome(name, True, seconds, figures, None)


def parse_args(argv: Sequence[str] | None, lessons: Sequence[str] = LESSONS) -> argparse.Namespace:
    """Parses the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments",
        description="Run the seed notebook's lessons as measured experiments and write REPORT.md.",
        epilog="lessons, in report order: " + ", ".join(lessons),
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="lessons to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sweeps and fewer steps (for tests/CI)")
    parser.add_argument("--out", default="results", type=Path, help="results folder (default: results)")
    return parser.parse_args(argv)


def _say(message: str) -> None:
    print(message, flush=True)


def _warn_unbacked(name: str, out: Path, package: str) -> None:
    """A warning on stderr when the lesson's report prints numbers its metrics do not hold."""
    from ._audit import audit_lesson

    try:
        missing = audit_lesson(out, name, package)
    except Exception as error:  # the audit must never stop a run
        missing = [f"(audit failed: {error!r})"]
    if missing:
        print(f"warning: {name}'s report prints numbers its metrics.json does not hold: {', '.join(missing)}",
              file=sys.stderr, flush=True)


def main(
    argv: Sequence[str] | None = None,
    *,
    lessons: Sequence[str] = LESSONS,
    package: str = "experiments",
) -> int:
    """Runs the lessons named on the command line (all by default) and writes the report.

    Args:
      argv: command-line arguments (default ``sys.argv[1:]``).
      lessons: the known lesson names in report order.
      package: the package holding the lesson modules.

    Returns:
      The exit code: 0 when every lesson ran, 1 when any failed, 2 for unknown names,
      130 after Ctrl-C (the report is still written).
    """
    args = parse_args(argv, lessons)
    unknown = [name for name in args.names if name not in lessons]
    if unknown:
        print(
            f"python -m experiments: unknown lesson name(s): {', '.join(unknown)}\n"
            f"valid lessons: {', '.join(lessons)}",
            file=sys.stderr,
        )
        return 2
    selected = [name for name in lessons if name in set(args.names)] if args.names else list(lessons)

    import jax

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    _say(
        f"Running {len(selected)} lesson(s) in {mode} mode into {out}/ "
        f"({jax.device_count()} {jax.default_backend()} device(s), float64)"
    )
    outcomes: list[LessonOutcome] = []
    total_start = time.perf_counter()
    width = len(str(len(selected)))
    try:
        for index, name in enumerate(selected, 1):
            _say(f"[{index:>{width}}/{len(selected)}] {name} ...")
            outcome = run_lesson(name, out, quick=args.quick, package=package)
            outcomes.append(outcome)
            verdict = "done" if outcome.ok else "FAILED"
            figures = f"{len(outcome.figures)} figure{'s' if len(outcome.figures) != 1 else ''}"
            _say(f"{'':>{2 * width + 3}} {verdict} in {outcome.seconds:.1f} s, {figures}")
            if not outcome.ok:
                print(outcome.error, file=sys.stderr, flush=True)
            else:
                _warn_unbacked(name, out, package)
    except KeyboardInterrupt:
        # Ctrl-C: the report still reflects every lesson that finished.
        report_path = write_report(out, lessons=lessons, package=package)
        _say(f"Interrupted after {len(outcomes)} lesson(s); report: {report_path}")
        return 130
    report_path = write_report(out, lessons=lessons, package=package)
    total = time.perf_counter() - total_start
    failed = [outcome.name for outcome in outcomes if not outcome.ok]
    _say(f"Total {total:.1f} s for {len(outcomes)} lesson(s); report: {report_path}")
    if failed:
        _say(f"{len(failed)} lesson(s) failed: {', '.join(failed)} (tracebacks above and in <lesson>/{ERROR_FILE})")
        return 1
    return 0
