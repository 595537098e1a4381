r"""The ``jaxopt-lessons`` command line.

``jaxopt-lessons sweep PROBLEM --optimizer NAME --lr LO:HI:N|a,b,c [--steps N] [--seeds N]``
sweeps learning rates (and seeds) of a built-in problem (:mod:`jaxopt_lessons.problems`)
in one compiled, sharded batch. It prints a per-rate summary that fits one screen
(median and worst final loss across seeds, status counts; neighbouring rates merged into
bins beyond 64 rows; ``--lanes`` prints every lane instead), the status counts of every
lane, the best learning rate with its spread and the rule that chose it
(:meth:`jaxopt_lessons.SweepResult.best`) and, for plain SGD only, the curvature bound
:math:`2/\lambda_{\max}` at the start (:func:`jaxopt_lessons.max_stable_lr`; heavy-ball and
Nesterov momentum get their own quadratic bounds, adaptive optimizers none).
``jaxopt-lessons problems`` lists the problems. ``python -m jaxopt_lessons`` is the same
command.

Bad arguments print one line on stderr and exit with status 2, never a traceback; they
are found before any work, unwritable ``--out``/``--plot``/``--checkpoint`` paths
included. A progress bar is shown when stderr is a terminal (``--progress``/``--no-progress``).

**Nothing lost.** ``--checkpoint FOLDER`` keeps the sweep's progress (every 10 s and on Ctrl-C);
re-running the same command resumes it and gives a result bit-identical to an
uninterrupted run (``--overwrite-checkpoint`` starts afresh when the folder holds another
sweep). Ctrl-C stops after the running chunk and exits with status 130; with ``--out``
the partial result (a :class:`~jaxopt_lessons.SweepResult` with ``complete=False``, lanes
cut short marked ``incomplete``) is written there first, and one line on stderr says what
was kept.

**Several processes** (``jax.distributed``): ``--coordinator HOST:PORT --num-processes N
--process-id I`` (or ``--distributed``, which lets ``jax.distributed.initialize()`` read a
cluster's environment, e.g. SLURM's ``srun``) joins the processes before any JAX work,
with gloo collectives on CPU. Every process runs the same command and computes its share
of the lanes (spread over every process's devices); only process 0 prints and writes
``--out``/``--plot``. Without these flags the CLI runs alone even inside a SLURM job with
several tasks (each task would sweep everything), and says so on stderr.

Devices: JAX fixes its number of CPU devices when its backend first starts, so
:func:`main` calls :func:`jaxopt_lessons.use_cpu_cores` (one device per usable core, or
``--devices`` if more; with several processes ``--devices`` per process) before any
computation, unless the user's ``XLA_FLAGS`` already sets
``--xla_force_host_platform_device_count``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _catalog
from ._cli.args import (
    OPTIMIZERS,
    PROG,
    UsageError,
    attach_negative_values,
    build_parser,
    check_before_work,
)
from ._cli.args import parse_learning_rates as parse_learning_rates
from .devices import BackendAlreadyStartedError, usable_cores, use_cpu_cores

__all__ = [
    "OPTIMIZERS",
    "build_parser",
    "main",
    "optimizer_factory",
    "parse_learning_rates",
]

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"

CLUSTER_TASKS = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
"""Environment variables holding the task count of the clusters ``jax.distributed.initialize()`` detects."""


class Interrupted(Exception):  # noqa: N818 (it reports an interrupt, it is not an error)
    """Ctrl-C during the sweep, after the partial result was kept: one line, exit status 130."""


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


# --------------------------------------------------------------------------- devices and processes


def _start_jax(options: argparse.Namespace) -> None:
    """CPU devices, then ``jax.distributed.initialize`` when asked: before JAX's backend starts."""
    joining = options.distributed or options.coordinator is not None
    if joining:
        _use_host_devices(options.devices or usable_cores())
        _join_processes(options)
    else:
        _use_host_devices(max(usable_cores(), options.devices or 0))
        tasks = {name: os.environ[name] for name in CLUSTER_TASKS if os.environ.get(name, "1").strip() not in ("", "1")}
        if tasks:
            name, value = next(iter(tasks.items()))
            print(f"{PROG}: note: {name}={value} but neither --distributed nor --coordinator was given: this task "
                  "sweeps every lane on its own", file=sys.stderr)


def _use_host_devices(count: int) -> None:
    """``count`` CPU devices for the sweep, unless the user's ``XLA_FLAGS`` sets a count."""
    if DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        use_cpu_cores(count)
    except BackendAlreadyStartedError:
        pass  # main() called inside a process that already computes: it keeps the devices it has


HEARTBEAT_TIMEOUT_S = 30
"""Seconds after which the processes of a run stop when one of them stopped answering."""


def _join_processes(options: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` with gloo collectives on CPU (explicit addresses, or the cluster's)."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # cross-process collectives on CPU
    # A process that dies stops the others after this many seconds without its heartbeat
    # (JAX's default 100 s; measured: 10 s -> the survivor stopped at ~10 s).
    heartbeat = {"heartbeat_timeout_seconds": HEARTBEAT_TIMEOUT_S}
    try:
        if options.distributed:
            jax.distributed.initialize(**heartbeat)
        else:
            jax.distributed.initialize(options.coordinator, options.num_processes, options.process_id, **heartbeat)
    except (RuntimeError, ValueError) as error:
        text = str(error).strip().splitlines()
        hint = ("; --distributed needs a cluster JAX detects (SLURM, Open MPI), else pass --coordinator HOST:PORT "
                "--num-processes N --process-id I") if options.distributed else ""
        raise UsageError(f"jax.distributed.initialize failed: {text[0] if text else type(error).__name__}{hint}") from None


# --------------------------------------------------------------------------- the sweep


_MOMENTUM = _catalog.MOMENTUM
_BOUNDS = {
    # Largest stable step on a quadratic, as a multiple of 2/lambda_max (linear stability
    # of the two-term recurrences of optax's trace with decay beta). Adaptive optimizers
    # (adam, adamw, lion) rescale the gradient: no such bound.
    "sgd": ("2/sharpness at {where}; plain SGD", 1.0),
    "momentum": ("heavy ball 2(1+b)/sharpness at {where}, on a quadratic", 1 + _MOMENTUM),
    "nesterov": ("Nesterov 2(1+b)/((1+2b) sharpness) at {where}, on a quadratic",
                 (1 + _MOMENTUM) / (1 + 2 * _MOMENTUM)),
}


def _run_sweep(options: argparse.Namespace) -> int:
    import jax

    from . import problems
    from ._cli import output
    from .sweeps import sweep as run_sweep

    problem = problems.get_problem(options.problem)
    if options.hand_grad and problem.grad_fn is None:
        raise UsageError(f"problem {problem.name!r} has no hand-derived gradient")
    devices = jax.devices()
    if options.devices is not None and jax.process_count() == 1:
        if options.devices > len(devices):
            raise UsageError(f"--devices {options.devices} asks for more than the {len(devices)} available")
        devices = devices[: options.devices]
    writer = jax.process_index() == 0
    steps = options.steps or problem.default_steps
    factories = {name: optimizer_factory(name) for name in options.optimizer}
    seeds = (options.seeds or 1) if problem.random_init else None
    if writer:  # every process computes, process 0 speaks
        per_rate = f" x {output.count(seeds, 'seed')}" if seeds else ""
        processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
        print(f"# {PROG} sweep {problem.name}: {', '.join(options.optimizer)}, "
              f"{output.count(len(options.lr), 'learning rate')}{per_rate}, {output.count(steps, 'step')}, "
              f"{output.count(len(devices), 'device')} ({devices[0].platform}){processes}")
    progress = (sys.stderr.isatty() if options.progress is None else options.progress) and writer
    try:
        result = run_sweep(
            problem.loss_fn, problem.init, factories if len(factories) > 1 else factories[options.optimizer[0]],
            options.lr, steps=steps, args=problem.args, grad_fn=problem.grad_fn if options.hand_grad else None,
            seeds=seeds, devices=devices, progress=progress, checkpoint=options.checkpoint,
            overwrite=options.overwrite_checkpoint, eval_fn=problem.loss_fn if problem.eval_args else None,
            eval_args=problem.eval_args,
        )
    except (ValueError, TypeError) as error:
        raise UsageError(str(error).splitlines()[0]) from None
    except KeyboardInterrupt as interrupt:
        total = len(factories) * len(options.lr) * (seeds or 1)
        raise Interrupted(_keep_partial(getattr(interrupt, "partial", None), total, options, writer)) from None
    if writer:
        _report(result, problem, options, steps)
    return 0


def _report(result: Any, problem: Any, options: argparse.Namespace, steps: int) -> None:
    """Process 0's part: write ``--out``/``--plot`` (first: a closed pipe must not lose them), then print."""
    from ._cli import output

    bounds, bound_lines = _curvature_bounds(problem, options.optimizer)
    wrote = []
    if options.out:
        _write(lambda: result.to_json(options.out), "--out", options.out)
        wrote.append(f"wrote {options.out}")
    if options.plot:
        from .io import save_figure

        title = f"{problem.name}: final loss vs learning rate ({output.count(steps, 'step')})"
        _write(lambda: save_figure(result.plot(max_stable_lr=bounds or None, title=title), options.plot),
               "--plot", options.plot)
        wrote.append(f"wrote {options.plot}")
    lines = output.lane_lines(result) if options.lanes else output.summary_lines(result)
    lines += [output.status_line(result), *output.best_lines(result, seeds_hint=problem.random_init)]
    print("\n".join(lines + bound_lines + wrote))


def _curvature_bounds(problem: Any, names: Sequence[str]) -> tuple[dict[str, float], list[str]]:
    """The stable-rate bounds of the SGD-family optimizers in ``names``: plain SGD's (for the plot) and lines.

    Nothing (and no curvature computed) when every optimizer is adaptive.
    """
    from . import curvature
    from ._cli import output

    family = [name for name in names if name.removeprefix("hand-") in _BOUNDS]
    if not family:
        return {}, []
    import jax

    start = problem.initial_params(jax.random.key(0)) if problem.random_init else problem.init
    bound = curvature.max_stable_lr(problem.loss_fn, start, *problem.args)
    where = "seed 0's start" if problem.random_init else "the start"
    lines, plotted = [], {}
    for name in family:
        formula, scale = _BOUNDS[name.removeprefix("hand-")]
        label = "max_stable_lr" if len(family) == 1 and scale == 1.0 else f"max_stable_lr {name}"
        lines.append(f"{label} ({formula.format(where=where)}): {output.fmt(bound * scale)}")
        if scale == 1.0:
            plotted[name] = bound
    return plotted, lines


def _keep_partial(partial: Any, total: int, options: argparse.Namespace, writer: bool) -> str:
    """Writes the interrupted sweep's partial result to ``--out`` (process 0) and says what was kept."""
    from ._cli import output

    kept = []
    if partial is None or partial.n_lanes == 0:
        kept.append("no lane had finished a chunk, nothing written")
    elif not options.out:
        kept.append(f"{output.count(partial.n_lanes, 'lane')} of {total} started, not kept (no --out)")
    else:
        if writer:
            _write(lambda: partial.to_json(options.out), "--out", options.out)
        cut = int(np.sum(partial.status == "incomplete"))
        kept.append(f"wrote the partial result to {options.out} ({partial.n_lanes - cut} of {total} lanes "
                    f"finished, {cut} cut short; complete=False)")
    if options.checkpoint:
        kept.append(f"progress kept in {options.checkpoint}: re-run the same command to resume")
    return "; ".join(kept)


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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line and returns its exit status.

    Args:
      argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
      0 on success, 2 for bad arguments (one line on stderr), 130 if interrupted.
    """
    parser = build_parser()
    try:
        options = parser.parse_args(attach_negative_values(list(sys.argv[1:] if argv is None else argv)))
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
        check_before_work(options)
        _start_jax(options)
        return _run_sweep(options)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except Interrupted as interrupted:
        print(f"{PROG}: interrupted; {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (| head): files are written, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
