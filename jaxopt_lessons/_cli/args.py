"""The ``jaxopt-lessons`` parser and the checks made before any work, all without JAX.

Argument types turn bad values into one-line errors; :func:`check_before_work` rejects
an unknown problem, seeds for a fixed start, incomplete process flags and output paths
the sweep could not write (``--out /sys/q.json``) before JAX is even imported.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .. import _catalog

__all__ = ["OPTIMIZERS", "PROG", "UsageError", "attach_negative_values", "build_parser", "check_before_work",
           "parse_learning_rates"]

PROG = "jaxopt-lessons"

OPTIMIZERS: tuple[str, ...] = (*_catalog.OPTIMIZERS, *(f"hand-{name}" for name in _catalog.OPTIMIZERS))
"""Optimizer names: those of :data:`jaxopt_lessons.optim.OPTIMIZERS` (optax's), and
``hand-<name>`` for the hand-rolled twin in :mod:`jaxopt_lessons.optim`."""


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block) and no ``SystemExit``."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


# --------------------------------------------------------------------------- argument types


def parse_learning_rates(text: str) -> list[float]:
    """Parses ``--lr``: ``LO:HI:N`` (N log-spaced values, both ends included) or ``a,b,c``.

    Args:
      text: the option's value.

    Returns:
      The learning rates, each finite and > 0.

    Raises:
      argparse.ArgumentTypeError: with a one-line explanation.

    Examples:
      >>> parse_learning_rates("0.01:1:3")
      [0.01, 0.1, 1.0]
      >>> parse_learning_rates("0.1,0.5")
      [0.1, 0.5]
    """
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(f"expected LO:HI:N or a,b,c, got {text!r}")
        lo, hi = (_positive_float(part, text) for part in parts[:2])
        count = _positive_int(parts[2], error=f"N in LO:HI:N must be a positive integer, got {text!r}")
        if count == 1:
            if lo != hi:
                raise argparse.ArgumentTypeError(f"N must be >= 2 for a range LO:HI:N, got {text!r}")
            return [lo]
        if not lo < hi:
            raise argparse.ArgumentTypeError(f"LO must be < HI in LO:HI:N, got {text!r}")
        values = np.geomspace(lo, hi, count).tolist()
        values[0], values[-1] = lo, hi  # the ends exactly as given
        return values
    values = [_positive_float(part, text) for part in text.split(",")]
    return values


def _positive_float(part: str, text: str) -> float:
    try:
        value = float(part)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LO:HI:N or a,b,c with positive numbers, got {text!r} ({part.strip()!r} is not a number)"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"learning rates must be finite and > 0, got {part.strip()!r} in {text!r}")
    return value


def _positive_int(text: str, *, error: str = "") -> int:
    """``text`` as an int > 0, else an argparse error (``error``, or a generic message)."""
    message = error or f"expected a positive integer, got {text!r}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(message)
    return value


def _optimizer_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(OPTIMIZERS)}, got {text!r}")
    for name in names:
        if name not in OPTIMIZERS:
            raise argparse.ArgumentTypeError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"optimizer names must be distinct, got {text!r}")
    return names


def _host_port(text: str) -> str:
    """``--coordinator``: ``HOST:PORT`` with a port in 1..65535."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (a port in 1..65535), got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jaxopt-lessons``."""
    from .. import __version__

    parser = _Parser(
        prog=PROG,
        description="Functional optimization lessons in JAX: sweep learning rates of built-in problems.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sweep = commands.add_parser(
        "sweep",
        help="train every (optimizer, seed, learning rate) lane of a problem in one compiled batch",
        description=(
            "Sweep learning rates of a built-in problem. Prints one row per learning rate (median and\n"
            "worst final loss across seeds, status counts; neighbouring rates are binned beyond 64 rows),\n"
            "the status counts, the best rate with its spread and rule, and for plain SGD the curvature\n"
            "bound 2/sharpness at the start. Ctrl-C keeps the lanes done so far in --out (exit 130)."
        ),
        epilog=_problems_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("problem", metavar="PROBLEM", help=f"one of: {', '.join(_catalog.PROBLEMS)} (see below)")
    sweep.add_argument("--optimizer", required=True, type=_optimizer_names, metavar="NAME[,NAME...]",
                       help=f"one or more of: {', '.join(OPTIMIZERS)}")
    sweep.add_argument("--lr", required=True, type=parse_learning_rates, metavar="LO:HI:N|a,b,c",
                       help="N log-spaced learning rates from LO to HI inclusive, or a comma-separated list")
    sweep.add_argument("--steps", type=_positive_int, default=None,
                       help="updates per lane (default: the problem's, listed below)")
    sweep.add_argument("--seeds", type=_positive_int, default=None,
                       help="number of random starts (only for problems started at random: xor, moons; default 1)")
    sweep.add_argument("--lanes", action="store_true", help="print every lane instead of the per-rate summary")
    sweep.add_argument("--out", metavar="FILE.json",
                       help="write the SweepResult as JSON (atomically; on Ctrl-C the partial result)")
    sweep.add_argument("--plot", metavar="FILE.png", help="save the final-loss-vs-learning-rate plot")
    sweep.add_argument("--checkpoint", metavar="FOLDER",
                       help="keep progress in FOLDER (every 10 s and on Ctrl-C); re-run the same command to resume")
    sweep.add_argument("--overwrite-checkpoint", action="store_true",
                       help="start afresh when --checkpoint holds a sweep with other inputs")
    sweep.add_argument("--devices", type=_positive_int, default=None,
                       help="shard lanes over this many devices (with several processes: CPU devices per process)")
    sweep.add_argument("--hand-grad", action="store_true", help="use the problem's hand-derived gradient")
    sweep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar (default: when stderr is a terminal)")
    several = sweep.add_argument_group("several processes (jax.distributed; every process runs the same command)")
    several.add_argument("--coordinator", type=_host_port, metavar="HOST:PORT",
                         help="process 0's address; needs --num-processes and --process-id")
    several.add_argument("--num-processes", type=_positive_int, metavar="N", help="how many processes run the sweep")
    several.add_argument("--process-id", type=int, metavar="I", help="0..N-1; process 0 prints and writes files")
    several.add_argument("--distributed", action="store_true",
                         help="call jax.distributed.initialize() with no arguments: JAX reads the cluster's "
                              "environment (SLURM, Open MPI)")
    commands.add_parser("problems", help="list the built-in problems")
    return parser


def _problems_epilog() -> str:
    """The problems with their default steps, for ``sweep --help``."""
    width = max(map(len, _catalog.PROBLEMS))
    lines = [f"problems (default steps, a learning-rate range worth sweeping for SGD; see {PROG} problems):"]
    for name, info in _catalog.PROBLEMS.items():
        low, high = info.default_learning_rates
        lines.append(f"  {name:<{width}}  {info.default_steps:>6} steps  lr {low:g}..{high:g}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- checks before any work


def check_before_work(options: argparse.Namespace) -> None:
    """Everything that can be checked without JAX: the problem, seeds, processes, output paths."""
    info = _catalog.PROBLEMS.get(options.problem)
    if info is None:
        raise UsageError(f"unknown problem {options.problem!r}; expected one of {', '.join(map(repr, _catalog.PROBLEMS))}")
    if options.seeds is not None and not info.random_init:
        raise UsageError("--seeds applies only to problems started at random (e.g. xor, moons); "
                         f"{options.problem!r} always starts at the same point")
    if options.overwrite_checkpoint and not options.checkpoint:
        raise UsageError("--overwrite-checkpoint needs --checkpoint FOLDER")
    explicit = [options.coordinator, options.num_processes, options.process_id]
    if any(value is not None for value in explicit):
        if None in explicit:
            raise UsageError("--coordinator, --num-processes and --process-id go together")
        if options.distributed:
            raise UsageError("--distributed reads the cluster's environment; do not combine it with --coordinator")
        if not 0 <= options.process_id < options.num_processes:
            raise UsageError(f"--process-id must be in 0..{options.num_processes - 1}, got {options.process_id}")
    for flag, path in (("--out", options.out), ("--plot", options.plot)):
        if path is not None:
            _check_writable(flag, path, folder=False)
    if options.checkpoint is not None:
        _check_writable("--checkpoint", options.checkpoint, folder=True)
    if options.plot:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = sorted(FigureCanvasBase.get_supported_filetypes())
        suffix = os.path.splitext(options.plot)[1].lstrip(".").lower()
        if suffix and suffix not in formats:  # no suffix: PNG, as save_figure writes
            raise UsageError(f"--plot must end in an image format suffix ({', '.join(formats)}), got {options.plot!r}")


def _check_writable(flag: str, path: str, *, folder: bool) -> None:
    """Rejects a path the sweep could not write, by creating (and removing) a file where it would go.

    A file path must not be a folder; a folder path must not be a file. Missing folders are
    not created here: the nearest existing one must be a folder this process can write in.
    """
    target = Path(path)
    if not path or (not folder and target.is_dir()):
        raise UsageError(f"{flag} must be a file path, got {path!r}")
    if folder and target.exists() and not target.is_dir():
        raise UsageError(f"{flag} must be a folder, got the file {path!r}")
    existing = target if folder and target.is_dir() else target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot write {flag} {path!r}: {str(existing)!r} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{PROG}-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"cannot write {flag} {path!r}: {str(existing)!r} is not writable "
                         f"({error.strerror or error})") from None


_VALUE_OPTIONS = ("--lr", "--steps", "--seeds", "--devices", "--num-processes", "--process-id")


def attach_negative_values(argv: list[str]) -> list[str]:
    """``--lr -1,0.5`` -> ``--lr=-1,0.5``, so argparse reports the bad value, not a missing one."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        if token in _VALUE_OPTIONS and following is not None and re.match(r"-[\d.]", following):
            out.append(f"{token}={following}")
            index += 2
            continue
        out.append(token)
        index += 1
    return out
