"""A research sweep in one call: a digits-like MLP, minibatches, 256 rates x 4 seeds x 3 momenta.

The model is what a researcher brings (issue 10): a 64 -> 32 -> 10 ReLU MLP with a
hand-written softmax cross-entropy, trained on :func:`jaxopt_lessons.datasets.digits_like`
(8 x 8 seven-segment digits, shifted and noisy; 1,024 training and 512 held-out
examples) by SGD with momentum on minibatches of 64. One call::

    jl.sweep(loss, init, optax.sgd, rates, seeds=4, hyperparams={"momentum": [0.0, 0.5, 0.9]},
             batch_size=64, eval_fn=loss, eval_args=(x_val, y_val), steps=STEPS, record_every=...)

trains 3,072 lanes. Measured:

* ``sweep, first call``: wall time including tracing and compiling, and the number of XLA
  compilations (``/jax/core/compile/backend_compile_duration`` events) and their time;
* ``sweep, new rates``: the same call with new learning-rate values; it must compile nothing;
* ``per-lane jit(scan) loop``: :func:`jaxopt_lessons.fit` per lane — one compiled
  ``lax.scan`` with the same minibatches, records and validation loss, the learning rate
  and key traced (one compile per momentum factory) — timed warm on a sample of lanes
  and **extrapolated** to all 3,072 lanes; the sampled lanes' final losses are compared
  with the sweep's (float32: lanes at the edge of stability amplify rounding, so the
  median and the count within 1e-4 are given).

The machine may be shared: the warm sweep and the loop sample are timed in alternating
rounds (``--repeats``), each after waiting up to ``--wait-quiet`` seconds for the CPUs
to be at least 75% idle; each row reports its fastest round, with its CPU time.

The heat map (learning rate x momentum, median validation loss over seeds) is written
next to the table. Run from the repository root::

    nice python benchmarks/research_sweep.py      # writes results/research_sweep.{md,png}
    python benchmarks/research_sweep.py --quick   # small sizes, prints only
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np

# one CPU device per core: before jax
from _machine import N_DEVICES, machine_description, max_rss_mib

RESULTS = Path(__file__).resolve().parent / "results"
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def cpu_idle_fraction(seconds: float = 1.0) -> float:
    """Fraction of CPU time idle over ``seconds`` (from /proc/stat; 1.0 where unreadable)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return values[3] + values[4], sum(values)

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_quiet(limit: float) -> None:
    """Waits up to ``limit`` seconds until the CPUs are at least 75% idle."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and cpu_idle_fraction() < 0.75:
        pass


def timed(fn) -> tuple[float, float]:
    """``(wall seconds, CPU seconds of this process)`` of ``fn()``."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


class CompileWatch:
    """Counts XLA compilations and their seconds while active (``jax.monitoring`` events)."""

    def __init__(self) -> None:
        import jax

        self.count, self.seconds, self.active = 0, 0.0, False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **_: object) -> None:
        if self.active and event == COMPILE_EVENT:
            self.count += 1
            self.seconds += duration

    def __enter__(self) -> CompileWatch:
        self.count, self.seconds, self.active = 0, 0.0, True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False


def problem(n_train: int, n_val: int):
    """Data, hand-written softmax cross-entropy and the MLP's init."""
    import jax
    import jax.numpy as jnp

    import jaxopt_lessons as jl

    x, y = jl.datasets.digits_like(jax.random.key(0), n_train + n_val)

    def loss(params, x, y):
        logits = jl.mlp(params, x, activation="relu")
        logits = logits - jnp.max(logits, axis=1, keepdims=True)
        log_probs = logits - jnp.log(jnp.sum(jnp.exp(logits), axis=1, keepdims=True))
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    def init(key):
        return jl.init_mlp(key, [64, 32, 10])

    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), loss, init


def main(argv: list[str] | None = None) -> None:
    """Runs the sweep and the per-lane loop, prints the table, writes it (and the heat map) unless --quick."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, print only")
    parser.add_argument("--repeats", type=int, default=2, help="alternating warm rounds (fastest counts)")
    parser.add_argument("--sample", type=int, default=12, help="lanes timed in the per-lane loop")
    parser.add_argument("--wait-quiet", type=float, default=20.0, help="seconds to wait for idle CPUs per round")
    args = parser.parse_args(argv)
    import jax
    import optax

    import jaxopt_lessons as jl

    n_rates, n_seeds, steps = (16, 2, 60) if args.quick else (256, 4, 400)
    momenta = [0.0, 0.5, 0.9]
    batch_size, record_every = 64, 20 if not args.quick else 10
    (x, y), (x_val, y_val), loss, init = problem(1024, 512)
    rates = np.geomspace(1e-3, 3.0, n_rates)
    kwargs = dict(steps=steps, args=(x, y), seeds=n_seeds, hyperparams={"momentum": momenta},
                  batch_size=batch_size, eval_fn=loss, eval_args=(x_val, y_val), record_every=record_every)
    watch = CompileWatch()
    wait_quiet(args.wait_quiet)
    with watch:
        start = time.perf_counter()
        result = jl.sweep(loss, init, optax.sgd, rates, **kwargs)
        first = {"seconds": time.perf_counter() - start, "compiles": watch.count, "compile_s": watch.seconds}
    n_lanes = result.n_lanes
    sample = np.linspace(0, n_lanes - 1, min(args.sample, n_lanes)).round().astype(int)
    factories = {m: functools.partial(optax.sgd, momentum=m) for m in momenta}
    fit_kwargs = dict(steps=steps, args=(x, y), batch_size=batch_size, eval_fn=loss, eval_args=(x_val, y_val),
                      record_every=record_every)

    def one_lane(lane: int, scale: float = 1.0):
        seed, momentum = int(result.seeds[lane]), float(result.hyperparams["momentum"][lane])
        return jl.fit(loss, init(jax.random.key(seed)), factories[momentum],
                      learning_rate=float(result.learning_rates[lane]) * scale, key=jax.random.key(seed),
                      **fit_kwargs)

    with watch:
        start = time.perf_counter()
        for momentum in momenta:  # compile each factory's loop once
            lane = int(np.flatnonzero(result.hyperparams["momentum"] == momentum)[0])
            jax.block_until_ready(one_lane(lane, 1 + 1e-4).final_loss)
        loop_compile = {"seconds": time.perf_counter() - start, "compiles": watch.count, "compile_s": watch.seconds}
    finals: list[float] = []

    def loop() -> None:
        finals.clear()
        finals.extend(float(jax.block_until_ready(one_lane(int(lane)).final_loss)) for lane in sample)

    sweep_rounds, loop_rounds, warm_compiles = [], [], 0
    for repeat in range(args.repeats):
        wait_quiet(args.wait_quiet)
        with watch:
            sweep_rounds.append(timed(lambda r=repeat: jl.sweep(loss, init, optax.sgd, rates * (1 + 1e-4 * (r + 1)),
                                                                **kwargs)))
        warm_compiles += watch.count
        wait_quiet(args.wait_quiet)
        loop_rounds.append(timed(loop))
    warm, per_sample = min(sweep_rounds), min(loop_rounds)
    relative = np.abs(np.asarray(finals) / result.final_loss[sample] - 1)
    rows = {
        "lanes": n_lanes, "steps": steps, "first": first, "warm_s": warm[0], "warm_cpu_s": warm[1],
        "warm_compiles": warm_compiles, "per_lane_s": per_sample[0] / sample.size,
        "loop_total_s": per_sample[0] / sample.size * n_lanes, "loop_cpu_total_s": per_sample[1] / sample.size * n_lanes,
        "loop_compile": loop_compile, "sample": int(sample.size),
        "agreement": {"median": float(np.median(relative)), "within_1e-4": int(np.sum(relative <= 1e-4))},
        "status": {str(k): int(v) for k, v in zip(*np.unique(result.status, return_counts=True))},
        "best": result.best(), "peak_rss_mib": max_rss_mib(),
        "spread": [max(r[0] for r in sweep_rounds) / warm[0], max(r[0] for r in loop_rounds) / per_sample[0]],
    }
    text = table(rows, n_rates, n_seeds, momenta, batch_size)
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        fig = jl.plots.plot_hyperparam_heatmap(
            result, "momentum", title=f"digits-like 64→32→10 MLP, SGD + momentum, batches of {batch_size}, "
                                      f"{steps} steps: median validation loss over {n_seeds} seeds")
        jl.plots.save_figure(fig, RESULTS / "research_sweep.png")
        jl.io.atomic_write_text(RESULTS / "research_sweep.md", text + "\n![heat map](research_sweep.png)\n")


def table(rows: dict, n_rates: int, n_seeds: int, momenta: list[float], batch_size: int) -> str:
    """The results as markdown."""
    first, loop = rows["first"], rows["loop_compile"]
    lane_steps = rows["lanes"] * rows["steps"]
    best = rows["best"] or {}
    lines = [
        "# Research sweep: digits-like MLP, minibatches, lr x seed x momentum in one call", "",
        f"Machine: {machine_description()}", "",
        f"{n_rates} learning rates (1e-3..3, log) x {n_seeds} seeds x momentum {momenta} = "
        f"**{rows['lanes']:,} lanes** x {rows['steps']} steps, minibatches of {batch_size} from 1,024 "
        f"examples, validation cross-entropy on 512 held-out examples at every record; "
        f"`jl.sweep` sharded over {N_DEVICES} CPU devices, the per-lane loop on one.", "",
        "| run | wall time | CPU time | XLA compiles (time) | µs per lane-step (wall) |", "|---|---|---|---|---|",
        f"| `jl.sweep`, first call | {first['seconds']:.1f} s | | {first['compiles']} ({first['compile_s']:.1f} s) "
        f"| {1e6 * first['seconds'] / lane_steps:.1f} |",
        f"| `jl.sweep`, new rates (fastest round, spread {rows['spread'][0]:.2f}) | {rows['warm_s']:.1f} s | "
        f"{rows['warm_cpu_s']:.1f} s | {rows['warm_compiles']} | {1e6 * rows['warm_s'] / lane_steps:.1f} |",
        f"| per-lane `jit(scan)` loop (`jl.fit`), {rows['sample']} lanes timed, extrapolated (spread "
        f"{rows['spread'][1]:.2f}) | {rows['loop_total_s']:.0f} s (+ {loop['seconds']:.1f} s first calls) | "
        f"{rows['loop_cpu_total_s']:.0f} s | {loop['compiles']} ({loop['compile_s']:.1f} s) | "
        f"{1e6 * rows['per_lane_s'] / rows['steps']:.1f} |", "",
        f"Loop time / warm sweep time: **{rows['loop_total_s'] / rows['warm_s']:.2f}** in wall time "
        f"({rows['loop_cpu_total_s'] / rows['warm_cpu_s']:.2f} in CPU time; above 1 the sweep is faster); first "
        f"calls, compiles included: {(rows['loop_total_s'] + loop['seconds']) / first['seconds']:.2f}. Sampled lanes' final losses vs the "
        f"sweep's: median relative difference {rows['agreement']['median']:.1e}, {rows['agreement']['within_1e-4']} "
        f"of {rows['sample']} within 1e-4 (the others sit at the edge of stability, where float32 rounding "
        f"grows). Peak RSS {rows['peak_rss_mib']:.0f} MiB.", "",
        "Statuses: " + ", ".join(f"{n} {name}" for name, n in rows["status"].items()) + ". Best lane "
        f"(by `{best.get('metric', '?')}`): lr {best.get('learning_rate', float('nan')):.3g}, momentum "
        f"{best.get('momentum', float('nan')):g}, seed {best.get('seed', '?')}, validation loss "
        f"{best.get('final_eval', float('nan')):.4g}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
