r"""The ``jaxopt-lessons`` command line.

``jaxopt-lessons sweep PROBLEM --optimizer NAME --lr LO:HI:N|a,b,c [--steps N]
[--seeds N] [--out FILE.json] [--plot FILE.png] [--devices N]`` sweeps learning rates
(and seeds) of a built-in problem (:mod:`jaxopt_lessons.problems`) in one compiled,
sharded batch, prints one line per lane, the best learning rate and the curvature
bound :math:`2/\lambda_{\max}` at the start (:func:`jaxopt_lessons.max_stable_lr`).
``jaxopt-lessons problems`` lists the problems. ``python -m jaxopt_lessons`` is the same
command.

Bad arguments print one line on stderr and exit with status 2, never a traceback.

Devices: JAX fixes its number of CPU devices when its backend first starts, so
:func:`main` calls :func:`jaxopt_lessons.use_cpu_cores` (one device per usable core, or
``--devices`` if more) before any computation, unless the user's ``XLA_FLAGS`` already
sets ``--xla_force_host_platform_device_count``; on a CPU-only machine the lanes are then
sharded over one device per core.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _catalog
from .devices import BackendAlreadyStartedError, usable_cores, use_cpu_cores

__all__ = [
    "OPTIMIZERS",
    "build_parser",
    "main",
    "optimizer_factory",
    "parse_learning_rates",
]

PROG = "jaxopt-lessons"
DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"

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


def optimizer_factory(name: str) -> Callable[[Any], Any]:
    """The factory ``learning_rate -> GradientTransformation`` called ``name`` (see :data:`OPTIMIZERS`).

    :func:`jaxopt_lessons.optim.factory`: ``momentum`` is SGD with heavy-ball momentum 0.9,
    ``nesterov`` the same with Nesterov's correction; ``hand-<name>`` is the hand-rolled twin
    from :mod:`jaxopt_lessons.optim`.

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).
    """
    from . import optim

    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return optim.factory(name.removeprefix("hand-"), hand=name.startswith("hand-"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jaxopt-lessons``."""
    from . import __version__

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
            "Sweep learning rates of a built-in problem: one line per lane (learning rate, seed,\n"
            "final loss, status), the best learning rate and the curvature bound 2/sharpness at the start."
        ),
        epilog=_problems_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("problem", metavar="PROBLEM", help=f"one of: {', '.join(_catalog.PROBLEMS)} (see below)")
    sweep.add_argument(
        "--optimizer", required=True, type=_optimizer_names, metavar="NAME[,NAME...]",
        help=f"one or more of: {', '.join(OPTIMIZERS)}",
    )
    sweep.add_argument(
        "--lr", required=True, type=parse_learning_rates, metavar="LO:HI:N|a,b,c",
        help="N log-spaced learning rates from LO to HI inclusive, or a comma-separated list",
    )
    sweep.add_argument(
        "--steps", type=_positive_int, default=None, help="updates per lane (default: the problem's, listed below)"
    )
    sweep.add_argument(
        "--seeds", type=_positive_int, default=None,
        help="number of random starts (only for problems started at random: xor, moons; default 1)",
    )
    sweep.add_argument("--out", metavar="FILE.json", help="write the SweepResult as JSON (atomically)")
    sweep.add_argument("--plot", metavar="FILE.png", help="save the final-loss-vs-learning-rate plot")
    sweep.add_argument("--devices", type=_positive_int, default=None, help="shard lanes over this many devices")
    sweep.add_argument("--hand-grad", action="store_true", help="use the problem's hand-derived gradient")
    sweep.add_argument("--progress", action="store_true", help="show a progress bar")
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


# --------------------------------------------------------------------------- devices


def _use_host_devices(count: int) -> None:
    """One CPU device per core (or ``count``) for the sweep, unless the user's ``XLA_FLAGS`` sets a count."""
    if DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        use_cpu_cores(count)
    except BackendAlreadyStartedError:
        pass  # main() called inside a process that already computes: it keeps the devices it has


# --------------------------------------------------------------------------- commands


def _fmt(value: float) -> str:
    return f"{value:.4e}" if math.isfinite(value) else str(value)


_MOMENTUM = _catalog.MOMENTUM
_MOMENTUM_BOUNDS = {
    # Largest stable step on a quadratic, as a multiple of 2/lambda_max (linear stability
    # of the two-term recurrences of optax's trace with decay beta).
    "momentum": ("heavy ball 2(1+b)/lambda_max", 1 + _MOMENTUM),
    "nesterov": ("Nesterov 2(1+b)/((1+2b) lambda_max)", (1 + _MOMENTUM) / (1 + 2 * _MOMENTUM)),
}


def _seed(seed: Any) -> str:
    """A lane's seed, ``-`` for problems with a fixed start (the sweep stores -1)."""
    return str(int(seed)) if int(seed) >= 0 else "-"


def _run_sweep(options: argparse.Namespace) -> int:
    import jax

    from . import curvature, problems
    from .io import save_figure
    from .sweeps import sweep as run_sweep

    try:
        problem = problems.get_problem(options.problem)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if options.seeds is not None and not problem.random_init:
        raise UsageError(
            "--seeds applies only to problems started at random (e.g. xor, moons); "
            f"{problem.name!r} always starts at the same point"
        )
    if options.hand_grad and problem.grad_fn is None:
        raise UsageError(f"problem {problem.name!r} has no hand-derived gradient")
    _check_output_paths(options)
    devices = jax.devices()
    if options.devices is not None:
        if options.devices > len(devices):
            raise UsageError(f"--devices {options.devices} asks for more than the {len(devices)} available")
        devices = devices[: options.devices]
    steps = options.steps or problem.default_steps
    factories = {name: optimizer_factory(name) for name in options.optimizer}
    optimizer = factories[options.optimizer[0]] if len(factories) == 1 else factories
    seeds = (options.seeds or 1) if problem.random_init else None
    print(
        f"# {PROG} sweep {problem.name}: {', '.join(options.optimizer)}, {len(options.lr)} learning rates"
        f"{f' x {seeds} seeds' if seeds else ''}, {steps} steps, {len(devices)} devices ({devices[0].platform})"
    )
    try:
        result = run_sweep(
            problem.loss_fn, problem.init, optimizer, options.lr, steps=steps, args=problem.args,
            grad_fn=problem.grad_fn if options.hand_grad else None, seeds=seeds, devices=devices,
            progress=options.progress,
        )
    except (ValueError, TypeError) as error:
        raise UsageError(str(error).splitlines()[0]) from None

    names = np.asarray(result.optimizers)
    for lane in range(len(result.learning_rates)):
        prefix = f"optimizer={names[lane]:<14} " if len(factories) > 1 else ""
        print(
            f"{prefix}lr={float(result.learning_rates[lane]):.4e}  seed={_seed(result.seeds[lane])}  "
            f"final_loss={_fmt(float(result.final_loss[lane]))}  status={result.status[lane]}"
        )
    best = result.best()
    if best is None:
        print("best: none (every lane diverged)")
    else:
        print(
            f"best: lr={float(best['learning_rate']):.4e}  optimizer={best['optimizer']}  "
            f"seed={_seed(best['seed'])}  final_loss={_fmt(float(best['final_loss']))}"
        )
    start = problem.initial_params(jax.random.key(0)) if problem.random_init else problem.init
    bound = curvature.max_stable_lr(problem.loss_fn, start, *problem.args)
    where = "seed 0's start" if problem.random_init else "the start"
    print(f"max_stable_lr (2/sharpness at {where}, plain gradient descent): {_fmt(bound)}")
    for name in options.optimizer:
        if name.removeprefix("hand-") in _MOMENTUM_BOUNDS:
            formula, scale = _MOMENTUM_BOUNDS[name.removeprefix("hand-")]
            print(f"  {name} bound on a quadratic, {formula}: {_fmt(bound * scale)}")
    if options.out:
        _write(lambda: result.to_json(options.out), "--out", options.out)
        print(f"wrote {options.out}")
    if options.plot:
        _write(lambda: save_figure(result.plot(max_stable_lr=bound), options.plot), "--plot", options.plot)
        print(f"wrote {options.plot}")
    return 0


def _check_output_paths(options: argparse.Namespace) -> None:
    """Rejects ``--out``/``--plot`` paths that cannot be written, before anything runs."""
    for flag, path in (("--out", options.out), ("--plot", options.plot)):
        if path is not None and (not path or os.path.isdir(path)):
            raise UsageError(f"{flag} must be a file path, got {path!r}")
    if options.plot:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = sorted(FigureCanvasBase.get_supported_filetypes())
        suffix = os.path.splitext(options.plot)[1].lstrip(".").lower()
        if suffix and suffix not in formats:  # no suffix: PNG, as save_figure writes
            raise UsageError(f"--plot must end in an image format suffix ({', '.join(formats)}), got {options.plot!r}")


def _write(write: Callable[[], Any], flag: str, path: str) -> None:
    """Runs ``write``; an ``OSError`` (unwritable folder, full disk) becomes a one-line usage error."""
    try:
        write()
    except OSError as error:
        raise UsageError(f"cannot write {flag} {path!r}: {error.strerror or error}") from None


def _list_problems() -> int:
    for name, info in _catalog.PROBLEMS.items():
        start = "random start (seeds)" if info.random_init else "fixed start"
        low, high = info.default_learning_rates
        print(f"{name:<18} {info.description}  [{start}; {info.default_steps} steps; lr {low:g}..{high:g}]")
    return 0


_VALUE_OPTIONS = ("--lr", "--steps", "--seeds", "--devices")


def _attach_negative_values(argv: list[str]) -> list[str]:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns its exit status.

    Args:
      argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
      0 on success, 2 for bad arguments (one line on stderr), 130 if interrupted.
    """
    parser = build_parser()
    try:
        options = parser.parse_args(_attach_negative_values(list(sys.argv[1:] if argv is None else argv)))
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return int(exit_.code or 0)
    if options.command is None:
        print(f"{PROG}: error: a command is required: sweep or problems (see {PROG} --help)", file=sys.stderr)
        return 2
    try:
        if options.command == "problems":
            return _list_problems()
        _use_host_devices(max(usable_cores(), options.devices or 0))
        return _run_sweep(options)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
