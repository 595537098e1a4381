"""Throughput of a learning-rate sweep: the seed's XOR net, 1,024 learning rates x 10,000 steps.

The problem is the seed notebook's mini challenge: a 2 -> 4 -> 1 sigmoid network on
the XOR truth table, mean squared error, plain SGD, started from the seed's own
``np.random.seed(42)`` weights. Every row trains the same lanes (one lane = one
learning rate) and the table compares them per *lane-step* (one SGD update of one
lane):

* ``NumPy loop`` -- the seed's own loop (float64 NumPy, hand backprop), one learning
  rate; a few thousand steps are timed and the full sweep is extrapolated;
* ``Python loop over jit(step)`` -- one compiled optax step, called from Python;
* ``per-LR jit(lax.scan)`` -- the whole 10,000-step run compiled once (the learning
  rate is an argument, so it compiles once), called once per learning rate; a few
  learning rates are timed, the rest extrapolated;
* ``jl.sweep, 1 device`` / ``jl.sweep, sharded`` -- what a researcher writes,
  ``jl.sweep(problem.loss_fn, start, optax.sgd, rates, steps=..., args=problem.args)``
  with ``problem = jl.problems.get_problem("xor")``, all lanes in one compiled call,
  unsharded and sharded over every host device. That loss carries its lanes-last twin
  (:func:`jaxopt_lessons.lanes.mlp_twin`: lane axis last, no ``vmap``, hand-derived
  unrolled backpropagation), which ``sweep`` picks by itself;
* ``generic vmap path (lanes_last=False)`` -- the same call forced onto the layout
  every user loss gets: ``jit(vmap(lax.scan))`` with JAX autodiff;
* ``jl.sweep(lanes_last=True), autodiff`` -- the lanes-last layout with a loss written
  by ``mlp_lanes_last`` and differentiated by JAX (no hand gradients);
* ``reference: bare lanes-last scan`` -- the hand gradients and SGD in a bare
  ``lax.scan``, without the sweep's per-lane status bookkeeping: the arithmetic floor.

Each row runs in its own fresh process (started by this script, in turn), so its
compile time is a cold compile and its peak memory is its own: ``peak RSS`` is
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that process, which includes the
Python + JAX runtime (its size right after ``import jax`` is given as ``import RSS``).
``first call`` is the wall time of the first call (tracing + compiling + running);
``compile`` is the tracing/lowering/compiling time JAX itself reports through
``jax.monitoring`` during that call. Every time is the *fastest* of several repeats
(blocks of steps for the loops, learning rates for the per-LR scan, whole calls with
*new* learning-rate values -- which must not recompile -- for the sweeps), so that a
busy shared machine distorts the rows as little as possible.

Run from the repository root (takes about 20 seconds on 2 cores)::

    nice python benchmarks/sweep_throughput.py            # full size, writes results/
    python benchmarks/sweep_throughput.py --quick          # small smoke run, prints only

The script sets ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` before
JAX is imported, so the CPU shows one XLA device per core.
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
from _machine import N_DEVICES, machine_description, max_rss_mib  # sets XLA_FLAGS: before jax

RESULTS = Path(__file__).resolve().parent / "results" / "sweep_throughput.md"
BLOCKS = 5  # the loops are timed in blocks and the fastest block counts (the machine may be shared)
LR_LOW, LR_HIGH = 1e-2, 10.0
ROWS = ("numpy", "jit_step", "scan", "sweep_1", "sweep_all", "sweep_vmap", "sweep_ll", "bare")


def learning_rates(n_lanes: int, shift: float = 1.0) -> np.ndarray:
    """``n_lanes`` log-spaced learning rates from 0.01 to 10 (times ``shift`` for repeats)."""
    return np.geomspace(LR_LOW, LR_HIGH, n_lanes) * shift


# --- the rows, each run inside its own process ---------------------------------------


def row_numpy(n_lanes: int, steps: int, timed_steps: int) -> dict:
    """The seed's loop, verbatim in spirit: float64 NumPy, hand backprop, one learning rate."""
    from jaxopt_lessons.datasets import seed_xor_init

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def sigmoid_derivative(z):
        s = sigmoid(z)
        return s * (1 - s)

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    init = seed_xor_init()
    W1, b1, W2, b2 = (init[0]["W"].copy(), init[0]["b"].copy(), init[1]["W"].copy(), init[1]["b"].copy())
    learning_rate = 0.5
    loss_history = []
    block = max(1, min(timed_steps, steps) // BLOCKS)
    best = math.inf
    for _ in range(BLOCKS):
        start = time.perf_counter()
        for _ in range(block):
            z1 = X @ W1 + b1
            a1 = sigmoid(z1)
            z2 = a1 @ W2 + b2
            a2 = sigmoid(z2)
            loss = np.mean((a2 - y) ** 2)
            loss_history.append(loss)
            dL_da2 = 2 * (a2 - y) / len(X)
            dL_dz2 = dL_da2 * sigmoid_derivative(z2)
            dL_dW2 = a1.T @ dL_dz2
            dL_db2 = np.sum(dL_dz2, axis=0, keepdims=True)
            dL_da1 = dL_dz2 @ W2.T
            dL_dz1 = dL_da1 * sigmoid_derivative(z1)
            dL_dW1 = X.T @ dL_dz1
            dL_db1 = np.sum(dL_dz1, axis=0, keepdims=True)
            W2 -= learning_rate * dL_dW2
            b2 -= learning_rate * dL_db2
            W1 -= learning_rate * dL_dW1
            b1 -= learning_rate * dL_db1
        best = min(best, time.perf_counter() - start)
    return {"measured_s": best, "measured_lane_steps": block, "first_call_s": None, "compile_s": None,
            "note": f"1 LR, best of {BLOCKS} blocks of {block:,} steps (float64, as the seed)"}


def _xor_problem():
    import jax.numpy as jnp

    from jaxopt_lessons.datasets import seed_xor_init, xor
    from jaxopt_lessons.losses import mse
    from jaxopt_lessons.models import mlp

    X, y = xor()
    params = [{"W": jnp.asarray(layer["W"], jnp.float32), "b": jnp.asarray(layer["b"][0], jnp.float32)}
              for layer in seed_xor_init()]

    def xor_loss(params, X, y):
        return mse(mlp(params, X, activation="sigmoid", output_activation="sigmoid"), y)

    return xor_loss, params, X, y


class _CompileClock:
    """Adds up the tracing/lowering/compile durations JAX reports via ``jax.monitoring``."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self) -> None:
        import jax

        self.seconds = 0.0  # trace + lower + compile
        self.backend_seconds = 0.0  # XLA compilation only: > 0 on a repeat means a recompilation
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **_: object) -> None:
        if self.active and event in self.EVENTS:
            self.seconds += duration
            if event == self.EVENTS[-1]:
                self.backend_seconds += duration

    def __enter__(self) -> _CompileClock:
        self.seconds, self.backend_seconds, self.active = 0.0, 0.0, True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False


def row_jit_step(n_lanes: int, steps: int, timed_steps: int) -> dict:
    """A jitted optax SGD step called from a Python loop (one learning rate)."""
    import jax
    import optax

    xor_loss, params, X, y = _xor_problem()
    clock = _CompileClock()

    @jax.jit
    def step(params, opt_state, learning_rate):
        loss, grads = jax.value_and_grad(xor_loss)(params, X, y)
        updates, opt_state = optax.sgd(learning_rate).update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    opt_state = optax.sgd(0.5).init(params)
    lr = np.float32(0.5)
    start = time.perf_counter()
    with clock:
        jax.block_until_ready(step(params, opt_state, lr))
    first = time.perf_counter() - start
    block = max(1, min(timed_steps, steps) // BLOCKS)
    best = math.inf
    for _ in range(BLOCKS):
        start = time.perf_counter()
        for _ in range(block):
            params, opt_state, loss = step(params, opt_state, lr)
        jax.block_until_ready(loss)
        best = min(best, time.perf_counter() - start)
    return {"measured_s": best, "measured_lane_steps": block, "first_call_s": first,
            "compile_s": clock.seconds, "note": f"1 LR, best of {BLOCKS} blocks of {block:,} steps"}


def _scan_runner(steps: int):
    """``jit`` of a ``lax.scan`` over ``steps`` SGD updates; the learning rate is an argument."""
    import jax
    import optax

    xor_loss, params, X, y = _xor_problem()

    @jax.jit
    def run(params, learning_rate):
        optimizer = optax.sgd(learning_rate)

        def step(carry, _):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(xor_loss)(params, X, y)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), length=steps)
        return params, losses, xor_loss(params, X, y)

    return run, params


def row_scan(n_lanes: int, steps: int, timed_lrs: int) -> dict:
    """One compiled ``lax.scan`` run per learning rate, called in a Python loop."""
    import jax

    run, params = _scan_runner(steps)
    clock = _CompileClock()
    lrs = learning_rates(n_lanes).astype(np.float32)
    picked = np.linspace(0, n_lanes - 1, min(timed_lrs, n_lanes)).round().astype(int)
    start = time.perf_counter()
    with clock:
        jax.block_until_ready(run(params, lrs[picked[0]]))
    first = time.perf_counter() - start
    finals, best = {}, math.inf
    for index in picked:
        start = time.perf_counter()
        finals[int(index)] = float(run(params, lrs[index])[2])
        best = min(best, time.perf_counter() - start)
    return {"measured_s": best, "measured_lane_steps": steps, "first_call_s": first,
            "compile_s": clock.seconds, "note": f"{len(picked)} LRs × {steps:,} steps, fastest LR",
            "final_losses": finals}


def _sweep_row(n_lanes: int, steps: int, devices, repeats: int, record_every: int, *, mode: str = "auto") -> dict:
    """``jl.sweep`` over every lane in one call; repeats use new learning-rate values.

    ``mode``: ``"auto"`` (``jl.sweep(problem.loss_fn, ...)`` on the built-in ``xor``
    problem, as a researcher writes it: ``sweep`` runs the loss's lanes-last twin),
    ``"vmap"`` (the same with ``lanes_last=False``: the generic ``vmap`` path any loss
    gets) or ``"lanes_last"`` (``lanes_last=True`` with autodiff of ``mlp_lanes_last``).
    """
    import jax
    import optax

    import jaxopt_lessons as jl
    from jaxopt_lessons.sweep import mlp_lanes_last

    _, params, X, y = _xor_problem()  # the seed's start
    problem = jl.problems.get_problem("xor")
    X, y = problem.args
    clock = _CompileClock()

    def xor_loss_lanes_last(params, X, y):
        out = mlp_lanes_last(params, X, activation="sigmoid", output_activation="sigmoid")
        return jax.numpy.mean((out - y[:, :, None]) ** 2, axis=(0, 1))

    def call(shift: float):
        rates = learning_rates(n_lanes, shift).astype(np.float32)
        common = {"steps": steps, "args": (X, y), "devices": devices, "record_every": record_every}
        if mode == "auto":
            result = jl.sweep(problem.loss_fn, params, optax.sgd, rates, **common)
        elif mode == "vmap":
            result = jl.sweep(problem.loss_fn, params, optax.sgd, rates, lanes_last=False, **common)
        else:
            result = jl.sweep(xor_loss_lanes_last, params, optax.sgd, rates, lanes_last=True, **common)
        jax.block_until_ready(result.final_loss)
        return result

    start = time.perf_counter()
    with clock:
        result = call(1.0)
    first, compile_s = time.perf_counter() - start, clock.seconds
    times, recompile_s = [], 0.0
    for repeat in range(repeats):
        start = time.perf_counter()
        with clock:  # anything JAX reports in here is a recompilation
            call(1.0 + 1e-3 * (repeat + 1))
        times.append(time.perf_counter() - start)
        recompile_s += clock.backend_seconds
    status = np.asarray(result.status).tolist()
    return {"measured_s": min(times), "measured_lane_steps": n_lanes * steps, "first_call_s": first,
            "compile_s": compile_s, "recompile_s": recompile_s,
            "note": f"{n_lanes:,} lanes x {steps:,} steps, best of {repeats}",
            "final_losses": {i: float(v) for i, v in enumerate(np.asarray(result.final_loss, np.float64))},
            "statuses": {name: status.count(name) for name in sorted(set(status))}}


def row_bare(n_lanes: int, steps: int, repeats: int, record_every: int) -> dict:
    """A reference floor: the same SGD, lanes-last hand gradients, in a bare ``lax.scan``.

    No status statistics, no freezing of diverged lanes, no chunks: what the arithmetic
    alone costs, to show how much the sweep's per-lane bookkeeping adds.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from jaxopt_lessons import lanes

    _, params, X, y = _xor_problem()
    grad_fn = lanes.mlp_grad_fn(activation="sigmoid", output_activation="sigmoid")
    mesh = Mesh(np.array(jax.devices()), ("lanes",))
    clock = _CompileClock()

    @jax.jit
    def run(start, rates):
        optimizer = optax.sgd(rates)  # a (lanes,) learning rate broadcasts over the last axis

        def step(carry, _):
            params, state = carry
            loss, grads = grad_fn(params, X, y)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        def block(carry, _):
            carry, losses = jax.lax.scan(step, carry, None, length=record_every)
            return carry, losses[0]

        (final, _), records = jax.lax.scan(block, (start, optimizer.init(start)), None,
                                           length=steps // record_every)
        return records, grad_fn(final, X, y)[0]

    def call(shift: float):
        sharded = lambda leaf: jax.device_put(  # noqa: E731
            leaf, NamedSharding(mesh, PartitionSpec(*([None] * (leaf.ndim - 1)), "lanes")))
        start = jax.tree_util.tree_map(sharded, lanes.to_lanes_last(params, n_lanes))
        rates = sharded(jnp.asarray(learning_rates(n_lanes, shift), jnp.float32))
        return jax.block_until_ready(run(start, rates))

    start = time.perf_counter()
    with clock:
        _, final = call(1.0)
    first, compile_s = time.perf_counter() - start, clock.seconds
    times, recompile_s = [], 0.0
    for repeat in range(repeats):
        start = time.perf_counter()
        with clock:
            call(1.0 + 1e-3 * (repeat + 1))
        times.append(time.perf_counter() - start)
        recompile_s += clock.backend_seconds
    return {"measured_s": min(times), "measured_lane_steps": n_lanes * steps, "first_call_s": first,
            "compile_s": compile_s, "recompile_s": recompile_s,
            "note": f"{n_lanes:,} lanes x {steps:,} steps, best of {repeats}",
            "final_losses": {i: float(v) for i, v in enumerate(np.asarray(final, np.float64))}}


ROW_TITLES = {
    "numpy": "NumPy loop (seed)",
    "jit_step": "Python loop over jit(step)",
    "scan": "per-LR jit(lax.scan)",
    "sweep_1": "jl.sweep, 1 device",
    "sweep_all": f"jl.sweep, sharded over {N_DEVICES} devices",
    "sweep_vmap": f"jl.sweep, generic vmap path (lanes_last=False), {N_DEVICES} devices",
    "sweep_ll": f"jl.sweep(lanes_last=True), autodiff of mlp_lanes_last, {N_DEVICES} devices",
    "bare": f"reference: bare lanes-last scan, no status, {N_DEVICES} devices",
}


def run_row(name: str, config: dict) -> dict:
    """Runs one row in this process and returns its measurements."""
    import jax

    import_rss = max_rss_mib()
    n_lanes, steps = config["lanes"], config["steps"]
    if name == "numpy":
        row = row_numpy(n_lanes, steps, config["timed_steps_numpy"])
    elif name == "jit_step":
        row = row_jit_step(n_lanes, steps, config["timed_steps_jit"])
    elif name == "scan":
        row = row_scan(n_lanes, steps, config["timed_lrs"])
    elif name in ("sweep_1", "sweep_all", "sweep_vmap", "sweep_ll"):
        devices = jax.devices()[:1] if name == "sweep_1" else jax.devices()
        mode = {"sweep_ll": "lanes_last", "sweep_vmap": "vmap"}.get(name, "auto")
        row = _sweep_row(n_lanes, steps, devices, config["repeats"], config["record_every"], mode=mode)
    elif name == "bare":
        row = row_bare(n_lanes, steps, config["repeats"], config["record_every"])
    else:
        raise ValueError(f"unknown row {name!r}; expected one of {ROWS}")
    row["ns_per_lane_step"] = 1e9 * row["measured_s"] / row["measured_lane_steps"]
    row["full_sweep_s"] = row["ns_per_lane_step"] * 1e-9 * n_lanes * steps
    row["extrapolated"] = row["measured_lane_steps"] < n_lanes * steps
    row["peak_rss_mib"] = max_rss_mib()
    row["import_rss_mib"] = import_rss
    row["devices"] = len(jax.devices())
    return row


# --- the driver: one fresh process per row, one table ------------------------------------


def _spawn(name: str, config: dict) -> dict | None:
    command = [sys.executable, __file__, "--row", name, "--config", json.dumps(config)]
    completed = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(f"  row {name!r} skipped: {last}", file=sys.stderr)
        return None
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _max_relative_difference(a: dict, b: dict, lanes: int, lr_max: float = 1.0) -> float | None:
    """Largest relative difference of final losses over shared lanes with learning rate <= ``lr_max``.

    Above lr ~ 1 the XOR runs are chaotic in float32: rounding differences of 1 ulp grow
    to percent level by step 10,000, whichever implementation is right.
    """
    rates = learning_rates(lanes)
    common = [key for key in a if key in b and rates[key] <= lr_max and np.isfinite(a[key]) and np.isfinite(b[key])]
    if not common:
        return None
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-30) for k in common)


def make_table(rows: dict[str, dict], config: dict) -> str:
    """The markdown table (plus the checks below it) for the measured rows."""
    numpy_ns = rows.get("numpy", {}).get("ns_per_lane_step")
    scan_ns = rows.get("scan", {}).get("ns_per_lane_step")
    lanes, steps = config["lanes"], config["steps"]
    lines = [
        f"| method | timed | seconds for {lanes:,} LRs × {steps:,} steps | ns / lane-step "
        "| × NumPy loop | × per-LR scan | first call (s) | compile (s) | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        ns = row["ns_per_lane_step"]
        seconds = _fmt(row["full_sweep_s"]) + (" (extrap.)" if row["extrapolated"] else "")
        lines.append(
            f"| {ROW_TITLES[name]} | {row['note']} | {seconds} | {_fmt(ns)} "
            f"| {_fmt(numpy_ns / ns if numpy_ns else None)} | {_fmt(scan_ns / ns if scan_ns else None)} "
            f"| {_fmt(row['first_call_s'])} | {_fmt(row['compile_s'])} | {row['peak_rss_mib']:,.0f} |"
        )
    import_rss = min(row["import_rss_mib"] for row in rows.values())
    notes = [
        "",
        f"Peak RSS is `resource.getrusage(RUSAGE_SELF).ru_maxrss` of the row's own fresh process "
        f"(≈{import_rss:,.0f} MiB of it is Python + NumPy + JAX right after `import jax`). "
        "Every time is the fastest of several repeats (blocks of steps, learning rates, or whole sweeps). "
        "`first call` = trace + compile + one full run; `compile` = trace/lower/compile time that JAX "
        "reports through `jax.monitoring` during the first call. "
        f"Sweeps record the loss every {config['record_every']} steps; learning rates are "
        f"{lanes:,} log-spaced values in [{LR_LOW:g}, {LR_HIGH:g}], float32 (the NumPy loop is the seed's float64).",
    ]
    for name in ("sweep_1", "sweep_all", "sweep_vmap", "sweep_ll", "bare"):
        row = rows.get(name)
        if not row:
            continue
        checks = []
        if row.get("recompile_s") is not None:
            checks.append(f"XLA compile time on repeats with new LR values: {row['recompile_s']:.3f} s")
        if "scan" in rows:
            diff = _max_relative_difference(row["final_losses"], rows["scan"]["final_losses"], lanes)
            checks.append(f"max rel. diff of final loss (lanes with lr ≤ 1) vs per-LR scan: {_fmt(diff, 2)}")
        if name != "sweep_1" and "sweep_1" in rows:
            diff = _max_relative_difference(row["final_losses"], rows["sweep_1"]["final_losses"], lanes)
            checks.append(f"vs 1-device sweep: {_fmt(diff, 2)}")
        if name in ("sweep_1", "sweep_all", "sweep_ll") and "sweep_vmap" in rows:
            same = row["statuses"] == rows["sweep_vmap"]["statuses"]
            checks.append("status counts " + ("identical to" if same else "DIFFERENT from") + " the generic vmap path")
            diff = _max_relative_difference(row["final_losses"], rows["sweep_vmap"]["final_losses"], lanes)
            checks.append(f"final loss vs the generic vmap path: {_fmt(diff, 2)}")
        if row.get("statuses"):
            checks.append("status counts " + ", ".join(f"{k}: {v}" for k, v in row["statuses"].items()))
        notes.append(f"- {ROW_TITLES[name]}: " + "; ".join(checks))
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, print only (a smoke test)")
    parser.add_argument("--lanes", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write (not with --quick)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.row:  # a child process: measure one row, print it as JSON
        row = run_row(args.row, json.loads(args.config))
        row["final_losses"] = {str(k): v for k, v in row.get("final_losses", {}).items()}
        print(json.dumps(row))
        return 0

    lanes, steps = (64, 500) if args.quick else (args.lanes, args.steps)
    config = {"lanes": lanes, "steps": steps, "timed_steps_numpy": 200 if args.quick else 5000,
              "timed_steps_jit": 200 if args.quick else 3000, "timed_lrs": 4 if args.quick else 16,
              "repeats": 2 if args.quick else 5, "record_every": 100 if steps >= 100 else 1}
    names = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; expected some of {','.join(ROWS)}")
    rows = {}
    for name in names:
        print(f"measuring {ROW_TITLES[name]} ...", file=sys.stderr, flush=True)
        row = _spawn(name, config)
        if row is not None:
            rows[name] = {**row, "final_losses": {int(k): v for k, v in row["final_losses"].items()}}
    if not rows:
        print("no row could be measured", file=sys.stderr)
        return 1
    machine = machine_description()
    text = (f"# Sweep throughput: the seed's XOR net (2→4→1 sigmoid, MSE, SGD)\n\n"
            f"Machine: {machine}\n\n{make_table(rows, config)}\n")
    print(text)
    if not args.quick:
        from jaxopt_lessons.io import atomic_write_text

        atomic_write_text(args.out, text)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
