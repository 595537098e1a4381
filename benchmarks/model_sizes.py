"""Where a sweep helps on a CPU: a realistic model, and model size x lanes.

Two sections, each its own table (``--section``):

* ``realistic`` -- a 64 -> 32 -> 10 ReLU MLP with a hand-written softmax cross-entropy
  (``logits - logsumexp(logits)``) on 256 examples of a digits-like synthetic data set
  (``_cases.digits_like``: 8x8 images), trained with SGD and with Adam, 256 / 1,024 /
  2,048 learning-rate lanes x 200 full-batch steps on every CPU device. Per lane count:
  ``jl.sweep`` (automatic layout), a bare hand-written ``jit(vmap(lax.scan))`` with the
  same updates and the same records (lanes sharded over the devices), the per-lane
  ``jit(lax.scan)`` loop (a sample of lanes timed, the rest extrapolated), and at 1,024
  lanes the engine before the rebuild (``--old-engine``) on the same loss.
* ``sizes`` -- the seed's XOR net (the user's loss of ``sweep_throughput.py``, 2,000
  steps), the same 64-32-10 MLP (SGD) and a wide 784 -> 256 -> 10 MLP on 28x28
  digits-like images (SGD, 50 steps), each at a few lane counts: sweep vs bare vmap vs
  per-lane loop, warm and first call, compile time and peak memory.

As in ``sweep_throughput.py`` every row runs in its own fresh worker process (cold
compile, its own peak RSS) and the warm calls of the rows of one lane count are
interleaved round by round; each row's time is its fastest round. Losses are recorded
at the sweep's default interval (every step up to 1,000 steps).

Run from the repository root (about 8 minutes for both sections on 2 quiet cores)::

    nice python benchmarks/model_sizes.py                       # writes results/realistic_model.md, model_sizes.md
    nice python benchmarks/model_sizes.py --section sizes       # one section
    python benchmarks/model_sizes.py --quick                    # small sizes, prints only
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import _harness
from _harness import Row, fmt, measure, spread

RESULTS = Path(__file__).resolve().parent / "results"
MLP = {"problem": "mlp", "sizes": [64, 32, 10], "samples": 256}
WIDE = {"problem": "mlp", "sizes": [784, 256, 10], "samples": 256}
XOR = {"problem": "xor"}


def group_rows(config: dict, old: bool = False, candidate: bool = False) -> list[Row]:
    """The rows measured together (interleaved) for one problem, optimizer and lane count."""
    rows = [
        Row("sweep", "jl.sweep", "_cases:Sweep", config),
        Row("bare", "bare jit(vmap(lax.scan))", "_cases:BareVmap", config),
        Row("loop", "per-lane jit(lax.scan) loop", "_cases:LaneLoop", config),
    ]
    if old:
        rows.append(Row("old", "old engine: jl.sweep", "_cases:Sweep", config, engine="old"))
    if candidate:
        rows.append(Row("candidate", "candidate engine: jl.sweep", "_cases:Sweep", config, engine="candidate"))
    return rows


class Runner:
    """Measures groups on demand and remembers them (the two sections share some groups)."""

    def __init__(self, rounds: int, engines: dict) -> None:
        self.rounds, self.engines, self.done = rounds, engines, {}

    def group(self, config: dict, old: bool = False, candidate: bool = False) -> dict[str, Row]:
        """The rows of ``config`` (with the old / candidate engine's when asked), measured once."""
        key = repr(sorted(config.items()))
        candidate = candidate and "candidate" in self.engines
        wanted = {name for name, asked in (("old", old), ("candidate", candidate)) if asked}
        if key not in self.done or not wanted <= set(self.done[key]):
            label = f"{model_label(config)}, {config.get('optimizer', 'sgd')}, {config['lanes']:,} lanes"
            print(f"measuring {label} ...", file=sys.stderr, flush=True)
            rows = group_rows(config, old, candidate)
            self.done[key] = {row.name: row for row in measure(rows, self.rounds, self.engines)}
        extras = {"old", "candidate"} - wanted
        return {name: row for name, row in self.done[key].items() if name not in extras}


# --- what a row costs ---------------------------------------------------------------------


def full_seconds(row: Row, config: dict) -> float:
    """Warm seconds for every lane (the loop's sample extrapolated)."""
    return row.ns_per_lane_step * 1e-9 * config["lanes"] * config["steps"]


def time_to_result(row: Row, config: dict) -> float:
    """Seconds from a cold start to every lane's result: the first call (the loop: plus the other lanes)."""
    if row.name != "loop":
        return row.result["first_call_s"]
    per_lane = row.ns_per_lane_step * 1e-9 * config["steps"]
    return row.result["first_call_s"] + per_lane * (config["lanes"] - row.result["first_lane_steps"] / config["steps"])


def model_label(config: dict) -> str:
    if config["problem"] == "xor":
        return "XOR 2→4→1 (user's loss)"
    return "→".join(map(str, config["sizes"])) + f" MLP, {config['samples']} examples"


def n_params(config: dict) -> int:
    sizes = [2, 4, 1] if config["problem"] == "xor" else config["sizes"]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def macs_per_step(config: dict) -> int:
    """Multiply-adds of one lane-step's matrix products: forward, and backward without the input gradient."""
    sizes, samples = ([2, 4, 1], 4) if config["problem"] == "xor" else (config["sizes"], config["samples"])
    layers = [samples * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * sum(layers) + sum(layers[1:])


# --- the realistic model ----------------------------------------------------------------------


def realistic_table(runner: Runner, base: dict, lanes_list: list[int], old_lanes: int | None) -> str:
    """One line per optimizer x lanes x method, with ratios to the bare vmap and the loop."""
    lines = [
        "| optimizer | lanes | method | warm (s) | ns / lane-step | × per-lane loop | ÷ bare vmap "
        "| first call (s) | compile (s) | time to result × loop | peak RSS (MiB) | spread | notes |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for optimizer in ("sgd", "adam"):
        for lanes in lanes_list:
            config = {**base, "optimizer": optimizer, "lanes": lanes}
            rows = runner.group(config, old=lanes == old_lanes, candidate=True)
            loop, bare = rows.get("loop"), rows.get("bare")
            for row in rows.values():
                ns = row.ns_per_lane_step
                notes = _notes(row, rows)
                lines.append(
                    f"| {optimizer} | {lanes:,} | {row.title} | {fmt(full_seconds(row, config))} | {fmt(ns)} "
                    f"| {fmt(loop.ns_per_lane_step / ns) if loop else '–'} "
                    f"| {fmt(ns / bare.ns_per_lane_step) if bare else '–'} "
                    f"| {fmt(time_to_result(row, config))} | {fmt(row.result['compile_s'])} "
                    f"| {fmt(time_to_result(loop, config) / time_to_result(row, config)) if loop else '–'} "
                    f"| {row.result['peak_rss_mib']:,.0f} | {spread(row)} | {notes} |")
    return "\n".join(lines)


def _notes(row: Row, rows: dict[str, Row]) -> str:
    notes = []
    if row.result.get("layout") and row.result["layout"] != "old":
        notes.append(f"{row.result['layout']}, {row.result['batch']} lanes/batch")
    if row.name in ("sweep", "old", "candidate") and "bare" in rows:
        diff = _max_relative_difference(row.result["final_losses"], rows["bare"].result["final_losses"])
        notes.append(f"final loss vs bare ≤ {fmt(diff, 2)}")
    if row.result.get("recompile_s"):
        notes.append(f"RECOMPILED {row.result['recompile_s']:.2f} s")
    if row.name == "loop":
        notes.append(f"{len(row.result['final_losses'])} lanes timed")
    return "; ".join(notes)


def _max_relative_difference(a: dict, b: dict) -> float | None:
    """Largest relative difference of the final losses over lanes finite in both."""
    keys = [k for k in a if k in b and math.isfinite(a[k]) and math.isfinite(b[k])]
    return max((abs(a[k] - b[k]) / max(abs(b[k]), 1e-30) for k in keys), default=None)


# --- model size x lanes ------------------------------------------------------------------------


def sizes_table(runner: Runner, plans: list[tuple[dict, list[int]]]) -> str:
    """One line per model x lanes: the three methods side by side."""
    lines = [
        "| model | params / lane | MACs / lane-step | lanes × steps | ns / lane-step: sweep · bare vmap · loop "
        "| sweep × loop | sweep ÷ bare | first call (s): sweep · bare · loop to result | sweep compile (s) "
        "| peak RSS (MiB): sweep · bare · loop | layout | quiet calls |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---|---|---|",
    ]
    for base, lanes_list in plans:
        for lanes in lanes_list:
            config = {**base, "lanes": lanes}
            rows = runner.group(config)
            sweep, bare, loop = (rows.get(name) for name in ("sweep", "bare", "loop"))
            if not (sweep and bare and loop):
                continue
            ns = " · ".join(fmt(row.ns_per_lane_step) for row in (sweep, bare, loop))
            first = " · ".join(fmt(time_to_result(row, config)) for row in (sweep, bare, loop))
            rss = " · ".join(f"{row.result['peak_rss_mib']:,.0f}" for row in (sweep, bare, loop))
            lines.append(
                f"| {model_label(config)} | {n_params(config):,} | {macs_per_step(config):,} "
                f"| {lanes:,} × {config['steps']:,} | {ns} | {fmt(loop.ns_per_lane_step / sweep.ns_per_lane_step)} "
                f"| {fmt(sweep.ns_per_lane_step / bare.ns_per_lane_step)} | {first} | {fmt(sweep.result['compile_s'])} "
                f"| {rss} | {sweep.result['layout']}, {sweep.result['batch']}/batch "
                f"| {' · '.join(_harness.quiet_rounds(row) for row in (sweep, bare, loop))} |")
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 rounds, print only")
    parser.add_argument("--section", default="realistic,sizes", help="realistic, sizes or both (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved warm repeats per row")
    parser.add_argument("--steps", type=int, default=200, help="steps of the realistic model")
    parser.add_argument("--lanes", default="256,1024,2048", help="lane counts of the realistic model")
    _harness.add_engine_options(parser)
    _harness.add_quiet_option(parser)
    args = parser.parse_args(argv)
    _harness.QUIET_WAIT = 0.0 if args.quick else args.wait_quiet
    from _machine import N_DEVICES, machine_description

    sections = {name.strip() for name in args.section.split(",") if name.strip()}
    if not sections <= {"realistic", "sizes"}:
        parser.error(f"--section takes realistic and/or sizes, got {args.section!r}")
    quick = args.quick
    rounds = 2 if quick else args.rounds
    runner = Runner(rounds, _harness.engines_of(args))
    common = {"devices": N_DEVICES, "sample": 2 if quick else 8}
    steps = 20 if quick else args.steps
    lanes_list = [16, 64] if quick else [int(v) for v in args.lanes.split(",")]
    mlp = {**MLP, **common, "steps": steps}
    header = (f"Machine: {machine_description()}\n\nEngines: "
              f"{_harness.engine_description(args.new_engine, args.old_engine, args.candidate)}\n\n")
    texts = {}
    if "realistic" in sections:
        old_lanes = lanes_list[len(lanes_list) // 2]
        table = realistic_table(runner, mlp, lanes_list, old_lanes)
        texts["realistic_model.md"] = (
            "# A realistic model: 64→32→10 ReLU MLP, softmax cross-entropy, 256 examples\n\n" + header + table
            + "\n\n" + _realistic_legend(rounds, steps, old_lanes))
    if "sizes" in sections:
        plans = [
            ({**XOR, **common, "steps": 200 if quick else 2000}, [16, 64] if quick else [16, 256, 2048]),
            ({**mlp, "optimizer": "sgd"}, [16, 64] if quick else [16, 256, 2048]),
            ({**WIDE, **common, "optimizer": "sgd", "steps": 4 if quick else 50}, [4] if quick else [4, 16, 64]),
        ]
        texts["model_sizes.md"] = ("# Model size × lanes: where the sweep helps on a CPU\n\n" + header
                                   + sizes_table(runner, plans) + "\n\n" + _sizes_legend(rounds))
    for name, text in texts.items():
        print(text + "\n")
        if not quick:
            _harness.write_markdown(RESULTS / name, text + "\n")
    return 0


def _realistic_legend(rounds: int, steps: int, old_lanes: int) -> str:
    return (
        f"{steps} full-batch steps per lane; SGD learning rates log-spaced in [1e-3, 10], Adam in [1e-5, 1] "
        "(float32). `warm` = the fastest of the row's interleaved warm calls for every lane (the loop's "
        f"sample extrapolated), at least {rounds} rounds (more while a row had fewer than 2 quiet calls); `÷ bare vmap` = the row's time / the bare vmap's (1.10 = 10% "
        "slower); `first call` = trace + compile + the run from a fresh process (the loop: its compile and "
        "first lane plus the other lanes at the warm rate = time to every lane's result); `compile` = "
        "trace/lower/compile time reported by `jax.monitoring`; `time to result × loop` = the loop's time to "
        "result / the row's. The bare vmap shards the lanes over every device as the sweep does, and records "
        "the same losses. The old engine (commit before the rebuild) is measured at "
        f"{old_lanes:,} lanes only, to keep the run short; `candidate engine` rows (with `--candidate`) run "
        f"another engine in the same run (see Engines above). {_harness.SPREAD_NOTE}")


def _sizes_legend(rounds: int) -> str:
    return (
        "Lanes are learning rates (SGD); every row of a model uses the same steps. `MACs / lane-step` "
        "counts the matrix products of one forward and backward pass (no input gradient). Times are the "
        f"fastest of at least {rounds} interleaved warm calls; `first call ... loop to result` = the loop's compile + "
        "first lane + every other lane at its warm rate. `sweep × loop` > 1: the sweep is faster than "
        "looping over lanes; `sweep ÷ bare` > 1: the sweep is slower than a bare `jit(vmap(lax.scan))`. "
        "`layout` is what the sweep chose automatically and its lanes per batch. `quiet calls`: of each "
        "method's timed calls, how many started with the CPUs at least 75% idle.")


if __name__ == "__main__":
    sys.exit(main())
