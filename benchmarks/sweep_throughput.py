"""Throughput of a learning-rate sweep of a user's own loss: the seed's XOR net, 1,024 LRs x 10,000 steps.

The problem is the seed notebook's mini challenge: a 2 -> 4 -> 1 sigmoid network on
the XOR truth table, mean squared error, plain SGD, from the seed's own
``np.random.seed(42)`` weights. The loss is *written in this benchmark*
(``sigmoid(x @ W + b)`` twice, ``mean((out - y) ** 2)``, see ``_cases.xor_loss``), as a
researcher would write it, so the library cannot recognise it. One lane = one learning
rate; rows are compared per *lane-step* (one SGD update of one lane):

* ``NumPy loop (seed)`` -- the seed's own float64 loop, one learning rate, a block of
  steps timed and the whole sweep extrapolated ("judge speed against what a user would
  write instead");
* ``per-LR jit(lax.scan)`` -- the whole run compiled once (the learning rate is an
  argument) and called once per learning rate; a sample of rates is timed;
* ``bare jit(vmap(lax.scan))`` -- the same run batched by hand, the same updates and
  records, on one device and with the lanes sharded over every device;
* ``jl.sweep`` -- ``jl.sweep(xor_loss, start, optax.sgd, rates, steps=10_000, args=(X, y))``
  with the automatic layout, and forced onto ``jax.vmap`` (``lanes_last=False``);
* ``jl.sweep(get_problem("xor").loss_fn)`` -- the library's own XOR loss;
* ``old engine`` -- the same two sweep calls on the engine before the rebuild
  (``--old-engine``, default commit ec9df50, extracted with ``git archive``): the user's
  loss ran on the generic vmap path there, the built-in loss on a hand-written
  lanes-last twin. Old and new are measured in the same run: the before/after table.
  ``--new-engine REV`` measures a commit instead of the working tree.

Every row runs in its own fresh process (first call = cold compile, peak memory its
own), and the rows' warm repeats are interleaved round by round (``_harness``): each
row's time is its fastest round. Sweeps record the loss every 10 steps (their default
for 10,000 steps), the loops and the bare vmap too.

Run from the repository root (about a minute on 2 cores)::

    nice python benchmarks/sweep_throughput.py            # writes results/sweep_throughput.md
    python benchmarks/sweep_throughput.py --quick          # 64 lanes x 500 steps, prints only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _harness
import numpy as np
from _harness import Row, fmt, measure, spread

RESULTS = Path(__file__).resolve().parent / "results" / "sweep_throughput.md"
ROWS = ("numpy", "loop", "bare_1", "bare", "sweep", "sweep_vmap", "builtin", "old_sweep", "old_builtin")


def make_rows(config: dict, n_devices: int) -> list[Row]:
    """The table's rows, each a case of ``_cases`` on ``config`` (the XOR net)."""
    sweep = "_cases:Sweep"
    return [
        Row("numpy", "NumPy loop (seed)", "_cases:NumpyLoop", config),
        Row("loop", "per-LR jit(lax.scan)", "_cases:LaneLoop", config),
        Row("bare_1", "bare jit(vmap(lax.scan)), 1 device", "_cases:BareVmap", {**config, "shard": False}),
        Row("bare", f"bare jit(vmap(lax.scan)), sharded over {n_devices} devices", "_cases:BareVmap", config),
        Row("sweep", "**jl.sweep(xor_loss)**, automatic layout", sweep, config),
        Row("sweep_vmap", "jl.sweep(xor_loss, lanes_last=False)", sweep, {**config, "lanes_last": False}),
        Row("builtin", 'jl.sweep(get_problem("xor").loss_fn)', sweep, {**config, "problem": "xor-builtin"}),
        Row("old_sweep", "old engine: jl.sweep(xor_loss)", sweep, config, engine="old"),
        Row("old_builtin", 'old engine: jl.sweep(get_problem("xor").loss_fn) (hand twin)', sweep,
            {**config, "problem": "xor-builtin"}, engine="old"),
    ]


def _what(row: Row, config: dict) -> str:
    if row.name == "numpy":
        return f"1 LR, {config['timed_steps']:,} steps per round (float64)"
    if row.name == "loop":
        return f"{config['sample']} LRs × {config['steps']:,} steps per round"
    return f"{config['lanes']:,} lanes × {config['steps']:,} steps per round"


def _max_relative_difference(a: dict, b: dict, rates: np.ndarray, lr_max: float = 1.0) -> float | None:
    """Largest relative difference of final losses over lanes both rows ran, with lr <= ``lr_max``.

    Above lr ~ 1 the XOR runs are chaotic in float32: a 1-ulp difference grows to percent
    level by step 10,000, whichever implementation is right.
    """
    keys = [k for k in a if k in b and rates[int(k)] <= lr_max and np.isfinite(a[k]) and np.isfinite(b[k])]
    if not keys:
        return None
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-30) for k in keys)


def make_table(rows: list[Row], config: dict) -> str:
    """The markdown table of the measured rows, with the checks below it."""
    from _cases import learning_rates

    by_name = {row.name: row for row in rows}
    lanes, steps = config["lanes"], config["steps"]
    ref = {name: by_name[name].ns_per_lane_step if name in by_name else None for name in ("numpy", "loop", "bare")}
    lines = [
        f"| method | timed | s for {lanes:,} LRs × {steps:,} steps | ns / lane-step | × NumPy loop "
        "| × per-LR scan | × bare vmap (sharded) | first call (s) | compile (s) | peak RSS (MiB) | spread |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        ns, result = row.ns_per_lane_step, row.result
        extrapolated = row.name in ("numpy", "loop")
        seconds = fmt(ns * 1e-9 * lanes * steps) + (" (extrap.)" if extrapolated else "")
        ratios = [fmt(ref[name] / ns) if ref[name] else "–" for name in ("numpy", "loop", "bare")]
        first = None if row.name == "numpy" else result["first_call_s"]
        compile_s = None if row.name == "numpy" else result["compile_s"]
        lines.append(f"| {row.title} | {_what(row, config)} | {seconds} | {fmt(ns)} | {' | '.join(ratios)} "
                     f"| {fmt(first)} | {fmt(compile_s)} | {result['peak_rss_mib']:,.0f} | {spread(row)} |")
    rates = learning_rates(config)
    notes = ["", _legend(rows, config)]
    for row in rows:
        checks = []
        if row.result.get("layout"):
            checks.append(f"layout {row.result['layout']}, {row.result['batch']} lanes per batch"
                          if row.result["layout"] != "old" else "old engine")
        if row.name not in ("numpy", "loop") and row.result.get("recompile_s") is not None:
            checks.append(f"XLA compile on warm repeats with new LR values: {row.result['recompile_s']:.3f} s")
        if "loop" in by_name and row.name not in ("numpy", "loop"):
            diff = _max_relative_difference(row.result["final_losses"], by_name["loop"].result["final_losses"], rates)
            checks.append(f"final loss vs per-LR scan (lr ≤ 1): max rel. diff {fmt(diff, 2)}")
        if "sweep_vmap" in by_name and row.result.get("statuses") and row.name != "sweep_vmap":
            same = row.result["statuses"] == by_name["sweep_vmap"].result["statuses"]
            checks.append("statuses " + ("identical to" if same else "DIFFERENT from") + " lanes_last=False")
        if row.result.get("statuses"):
            checks.append(", ".join(f"{k} {v}" for k, v in row.result["statuses"].items()))
        if checks:
            notes.append(f"- {row.title}: " + "; ".join(checks))
    return "\n".join(lines + notes)


def _legend(rows: list[Row], config: dict) -> str:
    from _cases import record_every

    import_rss = min(row.result["import_rss_mib"] for row in rows)
    return (f"Each row ran in its own fresh process; the warm calls of all rows were interleaved over "
            f"{max(len(row.result['times']) for row in rows)} rounds (at least {config['rounds']}; more while some row "
            "had fewer than 2 quiet calls) and each row's time is its fastest round; "
            f"{_harness.SPREAD_NOTE} Loops are timed on a sample and extrapolated to the whole sweep. "
            "`first call` = trace + compile + one full run; `compile` = the trace/lower/compile time JAX "
            f"reports through `jax.monitoring` during it. Peak RSS is the process's `ru_maxrss` (≈{import_rss:,.0f} "
            f"MiB of it is Python + JAX after import). {config['lanes']:,} log-spaced float32 learning rates in "
            f"[0.01, 10]; losses recorded every {record_every(config)} steps (the sweep's default for "
            f"{config['steps']:,} steps).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 lanes x 500 steps, 2 rounds, print only")
    parser.add_argument("--lanes", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved warm repeats per row")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    _harness.add_engine_options(parser)
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write (not with --quick)")
    _harness.add_quiet_option(parser)
    args = parser.parse_args(argv)
    _harness.QUIET_WAIT = 0.0 if args.quick else args.wait_quiet
    from _machine import N_DEVICES, machine_description

    lanes, steps, rounds = (64, 500, 2) if args.quick else (args.lanes, args.steps, args.rounds)
    config = {"problem": "xor", "lanes": lanes, "steps": steps, "devices": N_DEVICES, "rounds": rounds,
              "timed_steps": 500 if args.quick else 2000, "sample": 4 if args.quick else 8}
    names = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; expected some of {','.join(ROWS)}")
    rows = [row for row in make_rows(config, N_DEVICES) if row.name in names]
    if args.candidate:
        rows.append(Row("candidate", "candidate engine: jl.sweep(xor_loss)", "_cases:Sweep", config,
                        engine="candidate"))
    rows = measure(rows, rounds, _harness.engines_of(args))
    if not rows:
        print("no row could be measured", file=sys.stderr)
        return 1
    text = (f"# Sweep throughput: a user's own XOR loss (2→4→1 sigmoid, MSE, SGD), before and after\n\n"
            f"Machine: {machine_description()}\n\nEngines: {_harness.engine_description(args.new_engine, args.old_engine, args.candidate)}\n\n{make_table(rows, config)}\n")
    print(text)
    if not args.quick:
        _harness.write_markdown(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
