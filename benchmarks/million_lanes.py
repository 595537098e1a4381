"""A million learning-rate lanes: linear regression, 100 points, 1,000 SGD steps, one machine.

The problem is the seed's linear regression (``X = randn(100, 1) * 2``,
``y = 3 X + 2 + noise``, start ``w, b = randn(), randn()`` from ``np.random.seed(42)``),
mean squared error, plain SGD. :func:`jaxopt_lessons.sweep` trains ``10**6`` copies,
one per learning rate (log-spaced over ``[1e-4, 1]``), relying on its automatic
splitting of the lanes into batches that fit in memory.

Plain gradient descent on this quadratic is stable exactly when
``lr < 2 / lambda_max`` of the Hessian ``H = 2 [[mean x^2, mean x], [mean x, 1]]``, so
the run checks itself at scale: lanes below the bound (by 1%) must not diverge and
lanes above it (by 1%) must.

Memory per lane is measured by running the same sweep in fresh processes at two
smaller lane counts: ``(peak RSS(N2) - peak RSS(N1)) / (N2 - N1)``; the 10**6-lane
peak is then compared with the linear prediction. ``peak RSS`` is
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of each fresh process.

Run from the repository root (a few minutes on 2 cores)::

    nice python benchmarks/million_lanes.py            # writes benchmarks/results/million_lanes.md
    python benchmarks/million_lanes.py --quick          # 10**4 lanes, 100 steps, print only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import machine_description, max_rss_mib  # one CPU device per core: before jax

RESULTS = Path(__file__).resolve().parent / "results" / "million_lanes.md"
LR_LOW, LR_HIGH = 1e-4, 1.0


def stability_bound(x: np.ndarray) -> float:
    """``2 / lambda_max`` of the MSE Hessian of ``x * w + b``: GD's largest stable learning rate."""
    x = np.asarray(x, np.float64).ravel()
    hessian = 2.0 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
    return 2.0 / float(np.linalg.eigvalsh(hessian)[-1])


def run_size(n_lanes: int, steps: int, record_every: int) -> dict:
    """One sweep of ``n_lanes`` lanes in this process; returns time, memory and checks."""
    import jax
    import jax.numpy as jnp
    import optax

    import jaxopt_lessons as jl
    from jaxopt_lessons.datasets import seed_linear_regression

    import_rss = max_rss_mib()
    data = seed_linear_regression()
    x, y = jnp.asarray(data["x"], jnp.float32), jnp.asarray(data["y"], jnp.float32)
    params = {"w": jnp.float32(data["w0"]), "b": jnp.float32(data["b0"])}

    def regression_loss(params, x, y):
        return jl.mse(jl.linear(params, x), y)

    rates = np.geomspace(LR_LOW, LR_HIGH, n_lanes)
    compile_seconds = [0.0]

    def listen(event: str, duration: float, **_: object) -> None:
        if event.startswith("/jax/core/compile/"):
            compile_seconds[0] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)
    start = time.perf_counter()
    result = jl.sweep(regression_loss, params, optax.sgd, rates, steps=steps, args=(x, y),
                      record_every=record_every)
    jax.block_until_ready(result.final_loss)
    seconds = time.perf_counter() - start
    peak_rss = max_rss_mib()  # before the memory-analysis compilations below
    # The batch size the sweep chose: its plan, its memory estimate, its CPU cap.
    from jaxopt_lessons.sweeps import api, checks, memory

    plan = checks.make_plan(regression_loss, params, optax.sgd, rates, steps=steps, args=(x, y),
                            record_every=record_every)
    spec = api.kernel_spec(plan, optax.sgd)
    estimate = memory.lane_bytes(spec, plan.example, plan.args, [], plan.dtype)
    per_batch = memory.lanes_per_batch(None, n_lanes, plan.devices, estimate)
    batches = math.ceil(n_lanes / per_batch)

    bound = stability_bound(data["x"])
    status = np.asarray(result.status)
    from jaxopt_lessons.sweeps.status import FAILED

    diverged = np.isin(status, sorted(FAILED))  # diverged or unstable: the rate was too large
    below, above = rates < 0.99 * bound, rates > 1.01 * bound
    counts = {name: int(np.sum(status == name)) for name in sorted(set(status.tolist()))}
    best = result.best()
    result_bytes = sum(np.asarray(getattr(result, name)).nbytes for name in
                       ("learning_rates", "losses", "final_loss", "diverged_at"))
    return {
        "lanes": n_lanes, "steps": steps, "record_every": record_every, "seconds": seconds,
        "compile_s": compile_seconds[0], "estimate_bytes_per_lane": estimate, "batches": batches,
        "compiled_bytes_per_lane": compiled_bytes_per_lane(plan, spec),
        "ns_per_lane_step": 1e9 * seconds / (n_lanes * steps),
        "peak_rss_mib": peak_rss, "import_rss_mib": import_rss, "result_mib": result_bytes / 2**20,
        "devices": len(jax.devices()), "status_counts": counts, "bound": bound,
        "wrongly_diverged_below_bound": int(np.sum(diverged & below)),
        "not_diverged_above_bound": int(np.sum(~diverged & above)),
        "best_learning_rate": float(best["learning_rate"]), "best_final_loss": float(best["final_loss"]),
    }


def compiled_bytes_per_lane(plan, spec) -> float:
    """Slope of XLA's exact memory analysis of the sweep's chunk program between 2,048 and 8,192 lanes."""
    import jax
    import jax.numpy as jnp

    from jaxopt_lessons.sweeps import api, kernel

    program = kernel.build_program(spec)
    shared = api.shared_inputs(plan)
    used = []
    for n_lanes in (2048, 8192):
        lanes = kernel.LaneInputs(jax.ShapeDtypeStruct((n_lanes,), plan.dtype),
                                  jax.ShapeDtypeStruct((n_lanes,), jnp.int32), {})
        carry = jax.eval_shape(program.init, lanes, shared)
        analysis = program.chunk.lower(carry, lanes, jnp.int32(0), shared).compile().memory_analysis()
        used.append(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                    + analysis.temp_size_in_bytes)
    return (used[1] - used[0]) / (8192 - 2048)


def _spawn(n_lanes: int, steps: int, record_every: int) -> dict:
    command = [sys.executable, __file__, "--child", json.dumps([n_lanes, steps, record_every])]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"{n_lanes:,}-lane run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(runs: list[dict], big: dict) -> str:
    """The markdown report: one row per run, the memory slope, the checks."""
    small, medium = runs
    slope_kib = 1024 * (medium["peak_rss_mib"] - small["peak_rss_mib"]) / (medium["lanes"] - small["lanes"])
    predicted = small["peak_rss_mib"] + slope_kib / 1024 * (big["lanes"] - small["lanes"])
    lines = [
        "| lanes | steps | batches | seconds (compile) | ns / lane-step | peak RSS (MiB) | results (MiB) | statuses |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in (*runs, big):
        statuses = ", ".join(f"{k} {v:,}" for k, v in run["status_counts"].items())
        lines.append(
            f"| {run['lanes']:,} | {run['steps']:,} | {run['batches']} | {run['seconds']:.1f} ({run['compile_s']:.1f}) "
            f"| {run['ns_per_lane_step']:.0f} | {run['peak_rss_mib']:,.0f} | {run['result_mib']:.1f} | {statuses} |"
        )
    slope_big_kib = 1024 * (big["peak_rss_mib"] - medium["peak_rss_mib"]) / (big["lanes"] - medium["lanes"])
    batching = (
        f"the sweep split them automatically into {big['batches']} batches (on CPU at most 512 lanes per "
        "device, measured fastest; on an accelerator the memory estimate alone sets the batch)"
        if big["batches"] > 1
        else "one batch sufficed (the sweep splits only when its estimate exceeds half the free memory)"
    )
    lines += [
        "",
        f"- Peak RSS per lane: {slope_kib * 1024:,.0f} bytes between {small['lanes']:,} and "
        f"{medium['lanes']:,} lanes, {slope_big_kib * 1024:,.0f} bytes between {medium['lanes']:,} and "
        f"{big['lanes']:,}; a straight line through the two smaller runs predicts {predicted:,.0f} MiB for "
        f"{big['lanes']:,} lanes, measured {big['peak_rss_mib']:,.0f} MiB: memory grows at most linearly; "
        f"{batching}.",
        f"- Host results: {1024 * 1024 * big['result_mib'] / big['lanes']:,.0f} bytes per lane "
        f"(learning rate, losses every {big['record_every']} steps, final loss, diverged step; statuses and final parameters come on top).",
        f"- Device memory per lane from XLA's memory analysis of the compiled chunk program (slope between "
        f"2,048 and 8,192 lanes): {big['compiled_bytes_per_lane']:,.0f} bytes; the sweep's own upper estimate, "
        f"which sets its batch size (half the free memory / estimate): {big['estimate_bytes_per_lane']:,} bytes.",
        f"- Stability check at scale: 2/λmax = {big['bound']:.5f}; lanes ≥1% below it that diverged or were "
        f"unstable: {big['wrongly_diverged_below_bound']}, lanes ≥1% above it that neither diverged nor were unstable: "
        f"{big['not_diverged_above_bound']}.",
        f"- Best lane: learning rate {big['best_learning_rate']:.5g}, final loss {big['best_final_loss']:.6g}.",
        f"- Peak RSS = `resource.getrusage(RUSAGE_SELF).ru_maxrss` of each run's fresh process "
        f"(≈{big['import_rss_mib']:,.0f} MiB of it is Python + JAX after import); losses recorded every "
        f"{big['record_every']} steps; float32; {big['devices']} host devices.",
    ]
    return "\n".join(lines)


def _render(runs: list[dict], big: dict, machine: str) -> str:
    return (f"# A million learning-rate lanes: linear regression (100 points, {big['steps']:,} SGD steps)\n\n"
            f"Machine: {machine}\n\n{report(runs, big)}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10**4 lanes, 100 steps, print only")
    parser.add_argument("--lanes", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--memory-sizes", default="20000,200000",
                        help="the two lane counts whose peak memory gives the per-lane slope")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--from-json", type=Path, help="re-render the report from a saved raw .json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_size(*json.loads(args.child))))
        return 0
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        text = _render(saved["runs"], saved["big"], saved["machine"])
        print(text)
        if args.out != args.from_json:
            from jaxopt_lessons.io import atomic_write_text

            atomic_write_text(args.out, text)
        return 0
    lanes, steps = (10_000, 100) if args.quick else (args.lanes, args.steps)
    sizes = [1_000, 4_000] if args.quick else [int(v) for v in args.memory_sizes.split(",")]
    record_every = max(1, steps // 10)
    runs = []
    for size in sizes:
        print(f"measuring {size:,} lanes x {steps:,} steps ...", file=sys.stderr, flush=True)
        runs.append(_spawn(size, steps, record_every))
    print(f"running {lanes:,} lanes x {steps:,} steps ...", file=sys.stderr, flush=True)
    big = _spawn(lanes, steps, record_every)
    machine = machine_description()
    text = _render(runs, big, machine)
    print(text)
    if not args.quick:
        from jaxopt_lessons.io import atomic_write_json, atomic_write_text

        atomic_write_text(args.out, text)
        atomic_write_json(args.out.with_suffix(".json"), {"runs": runs, "big": big, "machine": machine})
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
