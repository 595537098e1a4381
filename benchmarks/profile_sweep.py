"""Where a sweep's time goes: ``jl.sweep`` against a bare ``jit(vmap(lax.scan))``, piece by piece.

A profiling tool for engine developers, not a benchmark of record: it reaches into the
engine's modules (``jaxopt_lessons.sweeps.*``, private helpers included) and rebuilds
variants of its kernel to measure what each part costs. Sections (``--section``):

* ``compile`` -- fresh processes: the first call of ``jl.sweep`` and of the bare vmap,
  split into tracing, lowering and XLA compilation per compiled function
  (``jax.monitoring`` events carry the function's name);
* ``host`` -- a warm call's host work that does not depend on lanes or steps: the
  input checks and layout choice (``checks.make_plan``: several traces of the loss),
  the memory estimate (``memory.lane_bytes``: two more), the shared inputs, the
  result assembly;
* ``device`` -- one batch run by the engine's ``driver.run_batch``, by a bare chunk
  loop (no host transfers) and by kernel variants: the engine's kernel re-built here
  (a check that the copy costs the same), with the full-data loss after every chunk
  (the engine computes it after the last one only), with the parameters carried the
  other way (raveled vs pytree), with the statistics stacked, without the status
  statistics; and the bare vmap;
* ``knobs`` -- whole ``jl.sweep`` calls with the engine's knobs turned: chunks per batch
  (``driver.TARGET_CHUNKS``), lanes per batch (``max_lanes_per_batch``), the layout
  (``lanes_last``), ``unroll``;
* ``hlo`` -- the compiled chunk program against the bare program: fusions and
  instructions in the loop bodies;
* ``thunks`` -- one batch under ``jax.profiler``: the time inside every compiled thunk
  (XLA's unit of work on CPU), grouped by what it does (the loss and gradient, the
  statistics' reductions, the freezing selects, the loop carry's copies, ...), read from
  the ``op_name`` of its HLO instruction;
* ``patches`` -- candidate engine changes monkeypatched into whole ``jl.sweep`` calls
  (``patched``: cached traces, fewer chunks, more lanes per CPU device), alone and
  together, with their results checked against the engine's.

Tables give each variant's fastest call, its ratio to the reference row, the spread of
its calls and, as a second opinion on a busy machine, the ratio of their CPU times
(all threads).

Every section's timings interleave their variants round by round and keep each
variant's fastest round (the machine is shared). Run from the repository root::

    nice python benchmarks/profile_sweep.py --problem mlp      # writes results/profile_mlp.md
    nice python benchmarks/profile_sweep.py --problem xor      # writes results/profile_xor.md
    python benchmarks/profile_sweep.py --problem mlp --quick   # small, prints only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _harness
from _harness import Row, fmt, measure

RESULTS = Path(__file__).resolve().parent / "results"
PROBLEMS = {
    "mlp": {"problem": "mlp", "sizes": [64, 32, 10], "samples": 256, "optimizer": "sgd", "lanes": 1024, "steps": 200},
    "xor": {"problem": "xor", "optimizer": "sgd", "lanes": 1024, "steps": 10_000},
    "wide": {"problem": "mlp", "sizes": [784, 256, 10], "samples": 256, "optimizer": "sgd", "lanes": 16, "steps": 50},
}


def interleave(variants: dict[str, Callable[[int], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of every round of every variant (after one untimed warm-up call each), interleaved.

    With ``--wait-quiet``, each call first waits for an idle machine, and rounds go on
    (up to ``MAX_ROUNDS_FACTOR`` times ``rounds``) until every variant had ``MIN_QUIET`` quiet calls.
    """
    for run in variants.values():
        run(0)
    times: dict[str, list[float]] = {name: [] for name in variants}
    quiet = dict.fromkeys(variants, 0)
    names = list(variants)
    index = 0
    waiting = _harness.QUIET_WAIT > 0
    while index < rounds or (waiting and index < _harness.MAX_ROUNDS_FACTOR * rounds
                             and min(quiet.values()) < _harness.MIN_QUIET):
        order = names[index % len(names):] + names[:index % len(names)]
        for name in order:
            if waiting:
                quiet[name] += _harness.wait_for_quiet(_harness.QUIET_WAIT) <= _harness.QUIET
            start, cpu = time.perf_counter(), time.process_time()
            variants[name](index + 1)
            times[name].append(time.perf_counter() - start)
            CPU_TIMES.setdefault(name, []).append(time.process_time() - cpu)
        index += 1
    return times


CPU_TIMES: dict[str, list[float]] = {}
"""CPU seconds (all threads) of every timed call, by variant name: a second opinion on a busy machine."""


def table(times: dict[str, list[float]], reference: str, unit: float = 1.0, label: str = "s") -> str:
    """A markdown table of the fastest round per variant, relative to ``reference``."""
    best = {name: min(values) for name, values in times.items()}
    cpu = {name: min(CPU_TIMES.get(name) or [float("nan")]) for name in times}
    lines = [f"| variant | fastest ({label}) | ÷ {reference} | spread | CPU time ÷ {reference}'s |",
             "|---|---:|---:|---:|---:|"]
    for name, value in best.items():
        spread = max(times[name]) / value if len(times[name]) > 1 else float("nan")
        lines.append(f"| {name} | {fmt(value * unit)} | {best[name] / best[reference]:.3f} | {fmt(spread)} "
                     f"| {cpu[name] / cpu[reference]:.3f} |")
    return "\n".join(lines)


# --- the engine's pieces, called as the sweep calls them -------------------------------------


class Engine:
    """One sweep of ``config`` taken apart: its plan, spec, program, batch and inputs."""

    def __init__(self, config: dict, **sweep_kwargs) -> None:
        import _cases

        from jaxopt_lessons.sweeps import api, checks

        self.config = config
        self.loss_fn, self.params, self.args = _cases.problem(config)
        self.factory = _cases.optimizer(config)
        self.rates = _cases.learning_rates(config)
        self.kwargs = {"steps": config["steps"], "args": self.args, **sweep_kwargs}
        self.plan = checks.make_plan(self.loss_fn, self.params, self.factory, self.rates, **self.kwargs)
        self.spec = api.kernel_spec(self.plan, self.factory)

    def sweep(self, repeat: int, **extra) -> object:
        import jax

        import jaxopt_lessons as jl

        rates = self.rates * (1 + 1e-3 * repeat)
        result = jl.sweep(self.loss_fn, self.params, self.factory, rates, **self.kwargs, **extra)
        return jax.block_until_ready(result.final_loss)

    def batch(self, size: int | None = None):
        """The sweep's first batch (``size`` lanes, default the sweep's own batch size)."""
        from jaxopt_lessons.sweeps import api

        return next(iter(api._batches(self.plan, size, None, False)))[1]

    def inputs(self, batch):
        from jax.sharding import Mesh

        from jaxopt_lessons.sweeps import driver, kernel

        mesh = Mesh(__import__("numpy").asarray(self.spec.devices, dtype=object), (kernel.LANE_AXIS,))
        return driver._lane_inputs(batch, mesh, self.plan.dtype)

    def n_chunks(self) -> int:
        return math.ceil(self.plan.n_records / self.spec.chunk_records)


# --- section: host work per call -----------------------------------------------------------


def section_host(engine: Engine, rounds: int) -> str:
    from jaxopt_lessons.sweeps import api, checks, memory

    plan, spec = engine.plan, engine.spec

    def make_plan(_):
        return checks.make_plan(engine.loss_fn, engine.params, engine.factory, engine.rates, **engine.kwargs)

    def lane_bytes(_):
        return memory.lane_bytes(spec, plan.example, plan.args, list(plan.hyperparams), plan.dtype)

    def layout_choice(_):
        return checks._choose_layout(None, engine.loss_fn, None, plan.example, plan.args, None)

    variants = {
        "whole jl.sweep call": engine.sweep,
        "checks.make_plan (all input checks)": make_plan,
        "  of which the layout choice (dot_sizes)": layout_choice,
        "memory.lane_bytes (per optimizer)": lane_bytes,
        "api.shared_inputs": lambda _: api.shared_inputs(plan),
        "api._outputs (+ host-memory check)": lambda _: api._outputs(plan),
    }
    times = interleave(variants, rounds)
    return table(times, "whole jl.sweep call", 1e3, "ms")


# --- section: the device program and its variants ------------------------------------------------


def init_stacked(spec, lane, shared):
    """:func:`kernel.init_lane` with the statistics stacked: ``(floats[5], ints[2])`` per lane."""
    import jax.numpy as jnp

    from jaxopt_lessons.sweeps import kernel

    carry = kernel.init_lane(spec, lane, shared)
    s = carry.stats
    floats = jnp.stack([s.loss0, s.loss_mid, s.peak_loss, s.max_sq_update, s.last_sq_update])
    return carry._replace(stats=(floats, jnp.stack([s.flips_window, s.applied])))


def step_stacked(spec, carry, lane, step, args, rows):
    """:func:`kernel.step_lane` (raveled carry) with the statistics in two stacked arrays (fewer kernels)."""
    import jax
    import jax.numpy as jnp

    from jaxopt_lessons.sweeps.kernel import LaneCarry, optimizer_of
    from jaxopt_lessons.train import train_step

    value_and_grad = spec.grad_fn or jax.value_and_grad(spec.loss_fn)
    new_params, new_state, loss = train_step(value_and_grad, optimizer_of(spec, lane),
                                             spec.params.unravel(carry.params), carry.opt_state, args)
    new_flat = spec.params.ravel(new_params)
    delta = new_flat - carry.params
    zero = jnp.zeros((), delta.dtype)
    sq, dot = jax.lax.reduce((delta * delta, delta * carry.prev), (zero, zero),
                             lambda a, b: (a[0] + b[0], a[1] + b[1]), (0,))
    (loss0, loss_mid, peak, max_sq, last_sq), (flips, applied) = carry.stats
    limit = spec.blowup * jnp.maximum(jnp.abs(loss0), jnp.finfo(loss0.dtype).eps)
    bad = ~(jnp.isfinite(loss) & jnp.isfinite(sq)) | (loss - loss0 > limit)
    apply = (step < spec.steps) & (applied == step) & ~bad
    mid = spec.steps // 2
    floats = jnp.stack([loss0, jnp.where(step == mid, loss, loss_mid), jnp.where(apply, jnp.maximum(peak, loss), peak),
                        jnp.where(apply, jnp.maximum(max_sq, sq), max_sq), jnp.where(apply, sq, last_sq)])
    ints = jnp.stack([flips + (apply & (dot < 0) & (step >= mid)).astype(jnp.int32), applied + apply.astype(jnp.int32)])
    keep = functools.partial(jax.tree_util.tree_map, lambda new, old: jnp.where(apply, new, old))
    return LaneCarry(keep(new_flat, carry.params), keep(new_state, carry.opt_state), delta, (floats, ints)), loss


def chunk_variant(spec, carry, lanes, start, shared, *, end_loss: str, step_fn):
    """A copy of ``kernel.chunk_batch`` (full batch, no eval) with the end-of-chunk loss as asked."""
    import jax
    import jax.numpy as jnp

    from jaxopt_lessons.sweeps import kernel

    every, n_blocks = spec.record_every, spec.chunk_records
    step = kernel.batch(spec.layout, functools.partial(step_fn, spec), (True, True, False, False, False))
    full_loss = kernel.batch(spec.layout, lambda p, a: spec.loss_fn(spec.params.unravel(p), *a), (True, False))

    def block(carry, k):
        base = start + k * every

        def one_step(state, j):
            carry, first = state
            carry, loss = step(carry, lanes, base + j, shared.args, None)
            return (carry, jnp.where(j == 0, loss, first)), None

        (carry, first), _ = jax.lax.scan(one_step, (carry, jnp.zeros_like(lanes.learning_rate)), jnp.arange(every))
        return carry, first

    carry, records = jax.lax.scan(block, kernel.constrain(spec, carry), jnp.arange(n_blocks))
    zeros = jnp.zeros_like(lanes.learning_rate)
    if end_loss == "every":
        end = full_loss(carry.params, shared.args)
    elif end_loss == "last":
        last = start + n_blocks * every >= spec.steps
        end = jax.lax.cond(last, lambda: full_loss(carry.params, shared.args), lambda: zeros)
    else:
        end = zeros
    out = kernel.ChunkOutput(losses=records.T, eval_losses=None, end_loss=end, end_eval=None,
                             stats=carry.stats)
    return kernel.constrain(spec, carry), out


def program_variant(spec, *, end_loss="last", carry="engine", stats=True):
    """``kernel.Program`` of a variant kernel.

    ``carry``: ``engine`` (the spec's own: raveled lanes-last, a pytree under ``vmap``),
    ``raveled`` or ``tree`` (forced), or ``stacked`` (raveled, the statistics in two stacked
    arrays instead of seven). ``stats=False`` drops the status statistics and the freezing.
    """
    import dataclasses

    import jax

    from jaxopt_lessons.sweeps import kernel

    if carry in ("raveled", "stacked", "tree"):
        spec = dataclasses.replace(spec, params=spec.params._replace(flat=carry != "tree"))
    init_fn = init_stacked if carry == "stacked" else kernel.init_lane
    step_fn = step_stacked if carry == "stacked" else kernel.step_lane if stats else _step_no_stats

    def init(lanes, shared):
        return kernel.constrain(spec, kernel.batch(spec.layout, functools.partial(init_fn, spec), (True, False))(
            lanes, shared))

    chunk = functools.partial(chunk_variant, spec, end_loss=end_loss, step_fn=step_fn)
    return kernel.Program(jax.jit(init), jax.jit(chunk, donate_argnums=0))


def _step_no_stats(spec, carry, lane, step, args, rows):
    """The carried parameters' step without any statistics or masking (what a bare loop does)."""
    import jax

    from jaxopt_lessons.sweeps.kernel import LaneCarry, optimizer_of
    from jaxopt_lessons.train import train_step

    value_and_grad = spec.grad_fn or jax.value_and_grad(spec.loss_fn)
    new_params, new_state, loss = train_step(value_and_grad, optimizer_of(spec, lane),
                                             spec.params.unravel(carry.params), carry.opt_state, args)
    return LaneCarry(spec.params.ravel(new_params), new_state, carry.prev, carry.stats), loss


def device_loop(program, engine: Engine, inputs, shared, transfers: bool) -> None:
    """``init`` and every chunk of one batch, fetching each chunk's outputs only if ``transfers``."""
    import jax
    import numpy as np

    from jaxopt_lessons.sweeps import driver

    carry = program.init(inputs, shared)
    chunk_steps = engine.spec.chunk_records * engine.spec.record_every
    out = None
    for chunk in range(engine.n_chunks()):
        carry, out = program.chunk(carry, inputs, np.int32(chunk * chunk_steps), shared)
        if transfers:
            driver.tree_to_host(out)
    jax.block_until_ready((carry, out))


def section_device(engine: Engine, rounds: int) -> str:
    import _cases

    from jaxopt_lessons.sweeps import api, driver, kernel

    batch = engine.batch()
    inputs, shared = engine.inputs(batch), api.shared_inputs(engine.plan)
    program = kernel.build_program(engine.spec)
    outputs = api._outputs(engine.plan)
    bar = type("Bar", (), {"disable": True, "update": lambda *a, **k: None})()
    bare = _cases.BareVmap({**engine.config, "lanes": batch.size})
    variants = {
        "driver.run_batch (engine: chunks + host transfers)": lambda _: driver.run_batch(
            program, engine.spec, batch, shared, outputs, dtype=engine.plan.dtype, bar=bar, early_stop=False,
            rules=engine.plan.rules, keep_params=True),
        "engine program, chunk loop without transfers": lambda _: device_loop(program, engine, inputs, shared, False),
        "engine program, chunk loop with transfers": lambda _: device_loop(program, engine, inputs, shared, True),
    }
    carried = "raveled" if engine.spec.params.flat else "pytree"
    other = "tree" if engine.spec.params.flat else "raveled"
    kernels = {
        "kernel copy (as the engine)": {},
        "end-of-chunk loss in every chunk": {"end_loss": "every"},
        f"parameters carried {'as a pytree' if other == 'tree' else 'raveled'} (the engine: {carried})": {
            "carry": other},
        "statistics stacked in two arrays (raveled)": {"carry": "stacked"},
        f"no status statistics ({carried})": {"stats": False},
        f"no status statistics ({'pytree' if other == 'tree' else 'raveled'})": {"stats": False, "carry": other},
    }
    for name, options in kernels.items():
        variant = program_variant(engine.spec, **options)
        variants[name] = functools.partial(lambda _, v: device_loop(v, engine, inputs, shared, False), v=variant)
    variants["bare jit(vmap(lax.scan)) (same lanes)"] = bare.run
    times = interleave(variants, rounds)
    lane_steps = batch.size * engine.config["steps"]
    note = (f"One batch of {batch.size:,} lanes × {engine.config['steps']:,} steps in {engine.n_chunks()} chunks "
            f"of {engine.spec.chunk_records * engine.spec.record_every} steps, layout {engine.spec.layout}; "
            "ns per lane-step.\n\n")
    return note + table(times, "bare jit(vmap(lax.scan)) (same lanes)", 1e9 / lane_steps, "ns / lane-step")


# --- section: the engine's knobs -------------------------------------------------------------------


def section_knobs(engine: Engine, rounds: int) -> str:
    from jaxopt_lessons.sweeps import driver

    def with_chunks(target):
        def run(repeat):
            saved = driver.TARGET_CHUNKS
            driver.TARGET_CHUNKS = target
            try:
                return engine.sweep(repeat)
            finally:
                driver.TARGET_CHUNKS = saved

        return run

    lanes = engine.config["lanes"]
    variants = {"jl.sweep (defaults)": engine.sweep}
    for target in (8, 2):
        variants[f"TARGET_CHUNKS = {target} (default {driver.TARGET_CHUNKS})"] = with_chunks(target)
    for size in sorted({256, 512, 1024, 2048, lanes} - {0}):
        if size <= lanes:
            variants[f"max_lanes_per_batch = {size}"] = functools.partial(engine.sweep, max_lanes_per_batch=size)
    other = "vmap" if engine.plan.layout == "lanes_last" else "lanes_last"
    variants[f"layout forced to {other}"] = functools.partial(engine.sweep, lanes_last=other == "lanes_last")
    variants["unroll = 2"] = functools.partial(engine.sweep, unroll=2)
    variants["keep_params = False"] = functools.partial(engine.sweep, keep_params=False)
    times = interleave(variants, rounds)
    lane_steps = lanes * engine.config["steps"]
    note = f"Whole calls, {lanes:,} lanes × {engine.config['steps']:,} steps (default layout {engine.plan.layout}).\n\n"
    return note + table(times, "jl.sweep (defaults)", 1e9 / lane_steps, "ns / lane-step")


# --- section: candidate engine changes, monkeypatched --------------------------------------------


def _abstract(tree) -> tuple:
    """A hashable stand-in for a pytree of arrays: its structure, shapes and dtypes."""
    import jax
    import numpy as np

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(leaf)), str(getattr(leaf, "dtype", type(leaf)))) for leaf in leaves)


@contextlib.contextmanager
def patched(changes: tuple[str, ...]):
    """The engine with ``changes`` applied for the duration of the block.

    * ``cache-traces``: the layout choice (``checks._choose_layout``) and the memory
      estimate (``memory.lane_bytes`` as ``api`` calls it) remembered per loss, grad_fn
      and abstract inputs, so that a repeated sweep does not trace the loss again;
    * ``cpu-1024``: ``memory.CPU_LANES_PER_DEVICE = 1024`` (default 512);
    * ``chunks-8``: ``driver.TARGET_CHUNKS = 8`` (default 32).
    """
    from jaxopt_lessons.sweeps import api, checks, driver, memory

    saved = []

    def swap(owner, name, value):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    if "cache-traces" in changes:
        layouts, sizes = _CACHES.setdefault("layout", {}), _CACHES.setdefault("lane_bytes", {})
        choose, lane_bytes = checks._choose_layout, api.lane_bytes

        def cached_layout(lanes_last, loss_fn, grad_fn, example, args, batch):
            key = (lanes_last, loss_fn, grad_fn, _abstract(example), _abstract(args), batch)
            if key not in layouts:
                layouts[key] = choose(lanes_last, loss_fn, grad_fn, example, args, batch)
            return layouts[key]

        def cached_lane_bytes(spec, params, args, names, dtype):
            key = (spec, _abstract(params), _abstract(args), tuple(names), str(dtype))
            if key not in sizes:
                sizes[key] = lane_bytes(spec, params, args, names, dtype)
            return sizes[key]

        swap(checks, "_choose_layout", cached_layout)
        swap(api, "lane_bytes", cached_lane_bytes)
    if "cpu-1024" in changes:
        swap(memory, "CPU_LANES_PER_DEVICE", 1024)
    if "chunks-8" in changes:
        swap(driver, "TARGET_CHUNKS", 8)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


_CACHES: dict[str, dict] = {}


def section_patches(engine: Engine, rounds: int) -> str:
    import numpy as np

    candidates = [(), ("cache-traces",), ("chunks-8",)]
    if engine.config["lanes"] > 1024:
        candidates.append(("cpu-1024",))
    candidates.append(tuple(sorted({change for changes in candidates for change in changes})))

    def call(changes):
        def run(repeat):
            with patched(changes):
                return engine.sweep(repeat)

        return run

    variants = {(" + ".join(changes) or "engine as is"): call(changes) for changes in candidates}
    finals = {}
    for name, changes in zip(variants, candidates):  # the changes must not change results
        with patched(changes):
            import jaxopt_lessons as jl

            result = jl.sweep(engine.loss_fn, engine.params, engine.factory, engine.rates, **engine.kwargs)
        finals[name] = (np.asarray(result.final_loss), np.asarray(result.status))
    times = interleave(variants, rounds)
    lane_steps = engine.config["lanes"] * engine.config["steps"]
    reference = finals["engine as is"]
    checks = [f"- {name}: final losses {'identical' if np.array_equal(f, reference[0], equal_nan=True) else 'DIFFERENT'}"
              f", statuses {'identical' if np.array_equal(s, reference[1]) else 'DIFFERENT'}"
              for name, (f, s) in finals.items() if name != "engine as is"]
    note = (f"Whole `jl.sweep` calls, {engine.config['lanes']:,} lanes × {engine.config['steps']:,} steps, "
            "each change monkeypatched into the engine (see `patched`).\n\n")
    return note + table(times, "engine as is", 1e9 / lane_steps, "ns / lane-step") + "\n\n" + "\n".join(checks)


# --- section: the compiled programs ----------------------------------------------------------------


def hlo_counts(text: str) -> dict[str, int]:
    """Fusions, custom calls and all instructions in a compiled HLO module's text."""
    instructions = [line for line in text.splitlines() if re.match(r"\s+(ROOT )?%?[\w.\-]+ = ", line)]
    return {"instructions": len(instructions), "fusions": sum(" fusion(" in line for line in instructions),
            "while loops": sum(" while(" in line for line in instructions),
            "dots / convolutions": sum(" dot(" in line or " convolution(" in line for line in instructions),
            "custom calls": sum(" custom-call(" in line for line in instructions),
            "copies / transposes": sum(" copy(" in line or " transpose(" in line for line in instructions)}


def compiled_programs(engine: Engine) -> dict:
    """The engine's first batch with its compiled chunk program, and the bare vmap of as many lanes.

    Keys: ``batch``, ``inputs``, ``shared``, ``program``, ``engine_text`` (the chunk
    program's optimised HLO), ``bare`` (a ``_cases.BareVmap``), ``bare_text``.
    """
    import _cases
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from jaxopt_lessons.sweeps import api, kernel

    batch = engine.batch()
    inputs, shared = engine.inputs(batch), api.shared_inputs(engine.plan)
    program = kernel.build_program(engine.spec)
    carry = jax.eval_shape(program.init, inputs, shared)
    config = {**engine.config, "lanes": batch.size}
    bare = _cases.BareVmap(config)
    rates = jax.device_put(jnp.asarray(_cases.learning_rates(config)),
                           NamedSharding(Mesh(np.asarray(jax.devices()), ("lanes",)), PartitionSpec("lanes")))
    return {"batch": batch, "inputs": inputs, "shared": shared, "program": program,
            "engine_text": program.chunk.lower(carry, inputs, np.int32(0), shared).compile().as_text(),
            "bare": bare, "bare_text": bare.batched.lower(rates).compile().as_text()}


def section_hlo(engine: Engine) -> str:
    programs = compiled_programs(engine)
    counts = {"engine chunk program": hlo_counts(programs["engine_text"]),
              "bare jit(vmap(lax.scan))": hlo_counts(programs["bare_text"])}
    keys = list(next(iter(counts.values())))
    lines = ["| program | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name, values in counts.items():
        lines.append(f"| {name} | " + " | ".join(str(values[key]) for key in keys) + " |")
    return "\n".join(lines)


# --- section: time per XLA thunk -------------------------------------------------------------------


def thunk_category(name: str, line: str) -> str:
    """What a compiled thunk of the chunk program does, from its HLO line's ``op_name``."""
    op = re.search(r'op_name="([^"]+)"', line)
    op = op.group(1) if op else ""
    if not op and name.startswith("copy"):
        return "loop-carry copies"
    if "jvp(" in op:
        return "loss and gradient"
    if "_where" in op:
        return "freezing and statistics selects"
    if "/reduce" in op and "/while/body/" in op:
        return "status statistics reductions"
    if "/while/body/" in op:
        return "optimizer update and other per-step work"
    return "outside the step loop"


HLO_INSTRUCTION = re.compile(r"\s*(?:ROOT )?%([\w.\-]+) = (\S+)")
"""An instruction line of optimised HLO text: its name and its shape."""


def thunk_times(run: Callable[[], object], hlo_text: str) -> dict[str, tuple[float, str]]:
    """``name -> (ns, HLO line)`` of every compiled thunk that ``run()`` executed, under ``jax.profiler``."""
    import collections
    import tempfile

    import jax

    lines = {}
    for line in hlo_text.splitlines():
        match = HLO_INSTRUCTION.match(line)
        if match:
            lines.setdefault(match.group(1), line)
    run()  # warm
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            run()
        data = jax.profiler.ProfileData.from_file(str(next(Path(folder).rglob("*.xplane.pb"))))
    per_thunk: collections.Counter = collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if line.name.startswith("tf_XLAEigen"):  # the threads that run compiled thunks
                for event in line.events:
                    if event.name in lines:
                        per_thunk[event.name] += event.duration_ns
    return {name: (ns, lines[name]) for name, ns in per_thunk.items()}


def section_thunks(engine: Engine) -> str:
    """One batch of the engine and of the bare vmap under ``jax.profiler``, thunk by thunk."""
    import collections

    programs = compiled_programs(engine)
    batch, program, bare = programs["batch"], programs["program"], programs["bare"]
    inputs, shared = programs["inputs"], programs["shared"]
    runs = {"jl.sweep kernel": thunk_times(lambda: device_loop(program, engine, inputs, shared, False),
                                           programs["engine_text"]),
            "bare jit(vmap(lax.scan))": thunk_times(lambda: bare.run(1), programs["bare_text"])}
    steps = engine.config["steps"]
    scale = 1e-3 / steps / len(engine.spec.devices)  # µs per step per device
    by_category = {run: collections.Counter() for run in runs}
    for run, thunks in runs.items():
        for name, (ns, line) in thunks.items():
            by_category[run][thunk_category(name, line)] += ns
    names = sorted(set().union(*by_category.values()), key=lambda c: -by_category["jl.sweep kernel"][c])
    out = [f"One batch of {batch.size:,} lanes ({batch.size // len(engine.spec.devices)} per device) × {steps} steps "
           f"({engine.n_chunks()} chunks for the sweep), traced with `jax.profiler`: time inside compiled thunks "
           "(XLA's units of work on CPU), µs per step and device, grouped by the `op_name` of their HLO.\n",
           "| what the thunks do | " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
    for name in names:
        out.append(f"| {name} | " + " | ".join(fmt(by_category[run][name] * scale) for run in runs) + " |")
    out.append("| **all thunks** | " + " | ".join(fmt(sum(by_category[run].values()) * scale) for run in runs) + " |")
    out += ["", "The sweep kernel's largest thunks:", "", "| thunk | shape | what it does | µs / step |",
            "|---|---|---|---:|"]
    largest = sorted(runs["jl.sweep kernel"].items(), key=lambda item: -item[1][0])[:14]
    for name, (ns, line) in largest:
        shape = HLO_INSTRUCTION.match(line).group(2)
        out.append(f"| `{name}` | `{shape[:44]}` | {thunk_category(name, line)} | {fmt(ns * scale)} |")
    return "\n".join(out)


# --- section: first call, in fresh processes ---------------------------------------------------------


def section_compile(config: dict, engines: dict) -> str:
    rows = measure([Row("sweep", "jl.sweep", "_cases:Sweep", config),
                    Row("bare", "bare jit(vmap(lax.scan))", "_cases:BareVmap", config)], 0, engines, verbose=False)
    lines = ["| row | first call (s) | trace + lower + compile (s) | XLA compile by function (s) |", "|---|---:|---:|---|"]
    for row in rows:
        parts = sorted(row.result["compile_by_function"].items(), key=lambda item: -item[1])
        by_function = ", ".join(f"{name} {seconds:.2f}" for name, seconds in parts)
        lines.append(f"| {row.title} | {fmt(row.result['first_call_s'])} | {fmt(row.result['compile_s'])} "
                     f"| {by_function} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="mlp")
    parser.add_argument("--section", default="compile,host,device,knobs,hlo,patches,thunks",
                        help="comma-separated: compile, host, device, knobs, hlo, patches, thunks")
    parser.add_argument("--lanes", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="64 lanes, few steps, 2 rounds, print only")
    parser.add_argument("--new-engine", default=None, help="engine to profile: a git revision or a checkout "
                        "(default: this working tree)")
    _harness.add_quiet_option(parser)
    args = parser.parse_args(argv)
    _harness.QUIET_WAIT = 0.0 if args.quick else args.wait_quiet
    engine_path = _harness.engine_path(args.new_engine)
    if engine_path is not None:  # before anything imports jaxopt_lessons
        sys.path.insert(0, str(engine_path))
    from _machine import N_DEVICES, machine_description

    config = {**PROBLEMS[args.problem], "devices": N_DEVICES, "sample": 4}
    if args.quick:
        config.update(lanes=64 if args.problem != "wide" else 4, steps={"mlp": 40, "wide": 10}.get(args.problem, 500))
    config.update({key: value for key, value in (("lanes", args.lanes), ("steps", args.steps)) if value})
    rounds = 2 if args.quick else args.rounds
    sections = [name.strip() for name in args.section.split(",") if name.strip()]
    engine = Engine(config)
    parts = [f"# Where a sweep's time goes: {args.problem}, {config['lanes']:,} lanes × {config['steps']:,} steps\n",
             f"Machine: {machine_description()}\n", f"Engine: {_harness.describe_engine(args.new_engine)}\n"]
    builders = {
        "compile": lambda: section_compile(config, {"new": engine_path}),
        "host": lambda: section_host(engine, rounds),
        "device": lambda: section_device(engine, rounds),
        "knobs": lambda: section_knobs(engine, rounds),
        "hlo": lambda: section_hlo(engine),
        "patches": lambda: section_patches(engine, rounds),
        "thunks": lambda: section_thunks(engine),
    }
    for name in sections:
        print(f"section {name} ...", file=sys.stderr, flush=True)
        parts.append(f"## {name}\n\n{builders[name]()}\n")
        print(parts[-1], flush=True)
    if not args.quick:
        _harness.write_markdown(RESULTS / f"profile_{args.problem}.md", "\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
