r"""Lesson 12 — LoRA: fine-tuning a frozen network through low-rank adapters.

LoRA (Hu et al., 2021) adapts a trained network to a new task without touching its
weights: every weight matrix :math:`W \in \mathbb{R}^{n_{in}\times n_{out}}` gets a trainable
low-rank correction,

.. math::  W_{\text{eff}} = W + A B, \qquad A \in \mathbb{R}^{n_{in}\times r},\; B \in \mathbb{R}^{r\times n_{out}},

with :math:`B = 0` at the start (the adapted network starts as the base network) and
:math:`r \ll \min(n_{in}, n_{out})`. Only :math:`A, B` are trained: :math:`r(n_{in} + n_{out})`
parameters per matrix instead of :math:`n_{in} n_{out}`.

Here the base is a 2 → 32 → 32 → 1 tanh classifier trained on two moons; the new task is the
same problem with the inputs rotated by 60°. A rotation of the inputs is exactly a change of
the first layer, :math:`W_1 \to R^\top W_1`, i.e. :math:`\Delta W_1 = (R^\top - I) W_1`, of rank 2 — so
rank 2 *can* express what full fine-tuning needs; whether training finds it is measured.
Every method (full fine-tuning and each rank) is tuned on its own: one ``jl.sweep`` over
learning rates and random starts per method (a start = a base network trained from its
own seed, plus that seed's adapter draw), compared at each method's best rate (lowest
median final loss over the starts). The freezing is done by
the optimizer: ``optax.multi_transform`` sends the adapters to ``optax.adam`` and the base to
``optax.set_to_zero()``, and the lesson checks that the base weights come out bit-identical.
(``optax.masked(optax.adam(lr), adapter_mask)`` alone is *not* a freeze: it passes the raw
gradient through as the update of the unmasked leaves — measured below.)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl

from ._common import SEEDS, default_dtype, key_index, positive_int, say, show_progress
from ._markdown import edge_note, figure_link, markdown_table, median_range, plural
from ._stats import at_best, compare, seed_table, spread

TITLE = "LoRA: fine-tuning through low-rank adapters"
SEED_SAYS = (
    "Trend alert: \"Fine-tuning Revolution: LoRA, QLoRA = Efficient optimization. Understanding gradients "
    "= Understanding fine-tuning!\""
)

SIZES = (2, 32, 32, 1)
OPTIONS = {"activation": "tanh", "output_activation": "identity", "loss": "bce"}
ROTATION_DEGREES = 60.0
BASE_LR = 0.01
"""Adam's learning rate for training the base networks."""
LEARNING_RATES, QUICK_LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3), (0.01, 0.03, 0.1)
"""Fine-tuning learning rates each method is tuned over (both include :data:`BASE_LR`)."""
STEPS, QUICK_STEPS = 1000, 300
"""Steps of base training and of each fine-tuning."""
RANKS, QUICK_RANKS = (1, 2, 4, 8), (1, 2)
NAIVE_RANK = 2
"""Rank of the run that shows the ``optax.masked`` pitfall."""
POOL_RANK = 16
"""Columns of the Gaussian draw the adapters' ``A`` are sliced from (see :func:`init_adapters`)."""
START_SEEDS = tuple(range(1, 1 + SEEDS))
"""Seeds of the base networks (and adapter draws); seed 1 is :func:`problem`'s start."""
FULL = "full fine-tuning"


# --- the model ------------------------------------------------------------------------


def base_loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    """Binary cross-entropy of the plain MLP (base training and full fine-tuning)."""
    return jl.manual.mlp_loss_fn(**OPTIONS)(params, x, y)


def merge(params: dict[str, Any]) -> list[dict[str, jax.Array]]:
    """The effective layers :math:`W + AB` (biases unchanged) of ``{"base": ..., "adapters": ...}``."""
    return [{"W": layer["W"] + adapter["A"] @ adapter["B"], "b": layer["b"]}
            for layer, adapter in zip(params["base"], params["adapters"])]


def lora_loss(params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
    """Binary cross-entropy of the adapted network (base + adapters)."""
    return base_loss(merge(params), x, y)


def init_adapters(key: jax.Array, base: list[dict[str, jax.Array]], rank: int) -> list[dict[str, jax.Array]]:
    """Rank-``rank`` adapters for every layer: ``A ~ N(0, 1/n_in)``, ``B = 0`` (so ``AB = 0`` at the start).

    ``A`` is the first ``rank`` columns of one Gaussian draw of :data:`POOL_RANK` columns per
    layer (per ``key``), so adapters of different ranks are nested. Traceable (``key`` may be
    traced, ``rank`` is a Python int), so ``jl.sweep`` can draw it per seed.

    Raises:
      ValueError, TypeError: ``rank`` not a positive int.
    """
    rank = positive_int(rank, "rank")
    pool = _gaussian_pool(key, base, max(rank, POOL_RANK))
    return [{"A": a[:, :rank], "B": jnp.zeros((rank, layer["W"].shape[1]), a.dtype)} for a, layer in zip(pool, base)]


@jax.jit(static_argnums=2)
def _gaussian_pool(key: jax.Array, base: list[dict[str, jax.Array]], columns: int) -> list[jax.Array]:
    keys = jax.random.split(key, len(base))
    return [jax.random.normal(k, (layer["W"].shape[0], columns), layer["W"].dtype) / math.sqrt(layer["W"].shape[0])
            for k, layer in zip(keys, base)]


def trainable_count(sizes: Any, rank: int) -> int:
    """Adapter parameters :math:`\\sum_l r(n_{in,l} + n_{out,l})` for layer sizes ``sizes``."""
    return int(sum(rank * (n_in + n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])))


def _labels(params: dict[str, Any]) -> dict[str, Any]:
    return {"base": jax.tree_util.tree_map(lambda _: "frozen", params["base"]),
            "adapters": jax.tree_util.tree_map(lambda _: "adapter", params["adapters"])}


def _adapter_mask(params: dict[str, Any]) -> dict[str, Any]:
    return {"base": jax.tree_util.tree_map(lambda _: False, params["base"]),
            "adapters": jax.tree_util.tree_map(lambda _: True, params["adapters"])}


def lora_optimizer(learning_rate: float) -> optax.GradientTransformation:
    """Adam on the adapters, exactly zero updates on the base (``optax.multi_transform``)."""
    return optax.multi_transform({"adapter": optax.adam(learning_rate), "frozen": optax.set_to_zero()}, _labels)


def naive_masked_optimizer(learning_rate: float) -> optax.GradientTransformation:
    """The pitfall: ``optax.masked(adam, adapter_mask)`` passes the base's raw gradients through."""
    return optax.masked(optax.adam(learning_rate), _adapter_mask)


# --- data and starts ---------------------------------------------------------------------


def problem(dtype: Any = None) -> dict[str, Any]:
    """Base task (two moons), new task (rotated moons, train and test) and the base start."""
    return _problem(default_dtype(dtype))


@jax.jit(static_argnums=0)
def _problem(dtype: Any) -> dict[str, Any]:
    angle = math.radians(ROTATION_DEGREES)
    rotation = jnp.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype)
    x, y = jl.datasets.two_moons(jax.random.key(0), 200, 0.1)
    x_new, y_new = jl.datasets.two_moons(jax.random.key(5), 200, 0.1)
    x_test, y_test = jl.datasets.two_moons(jax.random.key(6), 1000, 0.1)
    return {
        "x": x.astype(dtype), "y": y.astype(dtype),
        "x_new": x_new.astype(dtype) @ rotation.T, "y_new": y_new.astype(dtype),
        "x_new_test": x_test.astype(dtype) @ rotation.T, "y_new_test": y_test.astype(dtype),
        "params": jl.init_mlp(jax.random.key(START_SEEDS[0]), SIZES, dtype=dtype),
    }


def base_init(key: jax.Array) -> list[dict[str, jax.Array]]:
    """A random base network for ``jl.sweep(..., seeds=...)`` (Glorot, JAX's default float)."""
    return jl.init_mlp(key, SIZES, dtype=default_dtype())


def full_init(bases: Any, n_starts: int) -> Any:
    """``init(key)`` for full fine-tuning with ``seeds=range(n_starts)``: seed ``i`` starts from ``bases[i]``.

    The bases were stacked by an earlier sweep; ``init`` finds its own with
    :func:`experiments._common.key_index`.
    """
    seeds = tuple(range(n_starts))

    def init(key: jax.Array) -> Any:
        return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[key_index(key, seeds)], bases)

    return init


def lora_init(bases: Any, ranks: tuple[int, ...]) -> Any:
    """``init(key)`` for every rank at once, with ``seeds=range(len(ranks) * n_starts)``.

    Seed ``i`` is rank ``ranks[i // n_starts]`` on base ``i % n_starts``. Every rank is padded
    to ``max(ranks)``: the columns of ``A`` beyond the rank (and the rows of ``B``) are
    zero, their gradients are exactly zero (each multiplies the other), and Adam leaves
    them there, so the padded adapter *is* the rank-``r`` adapter — and all ranks share one
    compiled sweep. ``A`` is drawn from the start's key (nested across ranks, as in
    :func:`init_adapters`).
    """
    n_starts = jax.tree_util.tree_leaves(bases)[0].shape[0]
    seeds, widest = tuple(range(len(ranks) * n_starts)), max(ranks)

    def init(key: jax.Array) -> Any:
        index = key_index(key, seeds)
        start, rank = index % n_starts, jnp.asarray(ranks)[index // n_starts]
        base = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[start], bases)
        keep = jnp.arange(widest) < rank
        adapters = [{"A": jnp.where(keep, a["A"], 0.0), "B": a["B"]}
                    for a in init_adapters(jax.random.key(START_SEEDS[0] + start), base, widest)]
        return {"base": base, "adapters": adapters}

    return init


# --- evaluation ----------------------------------------------------------------------------


@jax.jit
def _evaluate(layers: Any, data: dict[str, Any]) -> dict[str, jax.Array]:
    """Losses on both tasks and new-task test accuracy of a plain MLP (compiled once per shapes)."""
    return {
        "new_loss": base_loss(layers, data["x_new"], data["y_new"]),
        "new_test_accuracy": jl.accuracy(jl.mlp(layers, data["x_new_test"], activation="tanh"), data["y_new_test"]),
        "old_loss": base_loss(layers, data["x"], data["y"]),
    }


@jax.jit
def _evaluate_lanes(lane_params: Any, data: dict[str, Any]) -> dict[str, jax.Array]:
    def one(params: Any) -> dict[str, jax.Array]:
        merged = merge(params) if isinstance(params, dict) else params
        out = _evaluate(merged, data)
        if isinstance(params, dict):
            out["old_loss_adapters_removed"] = base_loss(params["base"], data["x"], data["y"])
        return out

    return jax.vmap(one)(lane_params)


@jax.jit
def _max_change(before: Any, after: Any) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(a - b)) for a, b in
                              zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after))]))


def _bit_identical(before: Any, after: Any) -> bool:
    return all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
               zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))


def _method(result: Any, data: dict[str, Any], bases: Any, rank: int | None, where: Any = None) -> dict[str, Any]:
    """A method's lanes (``where``) summarised at its best learning rate (median and range over the starts)."""
    table = seed_table(result, where=where)
    best = at_best(table)
    entry: dict[str, Any] = {"rank": rank, "median_final_losses": table.median(),
                             "n_diverged": int(table.diverged.sum()), "best": best}
    if best is None:
        return entry
    lanes = table.lanes[:, best["index"]]
    chosen = jax.tree_util.tree_map(lambda leaf: jnp.asarray(np.asarray(leaf)[lanes]), result.params)
    evaluation = {key: np.asarray(value, np.float64) for key, value in _evaluate_lanes(chosen, data).items()}
    entry.update({key: spread(value) for key, value in evaluation.items()})
    if rank is not None:
        own_bases = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[table.seeds % len(START_SEEDS)], bases)
        entry["base_bit_identical"] = _bit_identical(own_bases, chosen["base"])
        entry["base_max_abs_change"] = float(_max_change(own_bases, chosen["base"]))
        entry["adapters_moved"] = bool(all(np.any(np.asarray(layer["B"]) != 0) for layer in chosen["adapters"]))
        entry["padding_stayed_zero"] = bool(all(
            np.all(np.asarray(layer["A"])[:, :, rank:] == 0) and np.all(np.asarray(layer["B"])[:, rank:, :] == 0)
            for layer in chosen["adapters"]))
        entry["old_loss_restored"] = bool(np.array_equal(evaluation["old_loss_adapters_removed"],
                                                         np.asarray(_evaluate_lanes(own_bases, data)["old_loss"])))
    return entry


# --- the lesson ---------------------------------------------------------------------------


def _train_bases(data: dict[str, Any], rates: tuple[float, ...], steps: int) -> tuple[Any, dict[str, Any]]:
    """One base network per seed, stacked; their old- and new-task losses.

    The sweep runs every fine-tuning rate (and keeps :data:`BASE_LR`'s lanes) so that it has
    full fine-tuning's lanes, loss, optimizer and steps, and the two share one compiled program.
    """
    say(f"sweep: {len(START_SEEDS)} base networks, {steps} Adam steps")
    result = jl.sweep(base_loss, base_init, optax.adam, list(rates), steps=steps, args=(data["x"], data["y"]),
                      seeds=list(START_SEEDS), progress=show_progress())
    table = seed_table(result)
    order = table.lanes[:, int(np.flatnonzero(np.isclose(table.rates, BASE_LR))[0])]
    bases = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[order], result.params)
    evaluation = _evaluate_lanes(jax.tree_util.tree_map(jnp.asarray, bases), data)
    return bases, {key: spread(np.asarray(value, np.float64)) for key, value in evaluation.items()}


def _fine_tune(data: dict[str, Any], bases: Any, ranks: tuple[int, ...] | None, rates: tuple[float, ...],
               steps: int) -> Any:
    """Full fine-tuning (``ranks`` None) or every rank at once, over every rate and start: one sweep."""
    n_starts = len(START_SEEDS)
    what = FULL if ranks is None else f"LoRA ranks {', '.join(map(str, ranks))}"
    say(f"sweep: {what} x {len(rates)} learning rates x {n_starts} starts, {steps} steps")
    if ranks is None:
        init, loss, factory, seeds = full_init(bases, n_starts), base_loss, optax.adam, n_starts
    else:
        init, loss, factory, seeds = lora_init(bases, ranks), lora_loss, lora_optimizer, len(ranks) * n_starts
    return jl.sweep(loss, init, factory, list(rates), steps=steps, args=(data["x_new"], data["y_new"]),
                    seeds=seeds, progress=show_progress())


def _pitfall(data: dict[str, Any], bases: Any, rate: float, steps: int) -> dict[str, Any]:
    """The ``optax.masked`` pitfall, from the first start's base (one run: it shows a bug, not a ranking)."""
    base = jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf[0]), bases)
    start = {"base": base, "adapters": init_adapters(jax.random.key(START_SEEDS[0]), base, NAIVE_RANK)}
    naive = jl.fit(lora_loss, start, naive_masked_optimizer(rate), steps=steps, args=(data["x_new"], data["y_new"]))
    return {
        "rank": NAIVE_RANK,
        "learning_rate": rate,
        "new_loss": float(naive.final_loss),
        "base_max_abs_change": float(_max_change(base, naive.params["base"])),
        "base_bit_identical": _bit_identical(base, naive.params["base"]),
    }


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Bases per seed; full fine-tuning and each rank tuned over learning rates and starts; one figure."""
    out_dir = Path(out_dir)
    steps = QUICK_STEPS if quick else STEPS
    ranks = QUICK_RANKS if quick else RANKS
    rates = QUICK_LEARNING_RATES if quick else LEARNING_RATES
    data = problem()
    bases, frozen = _train_bases(data, rates, steps)
    full_count = int(sum(np.asarray(leaf[0]).size for leaf in jax.tree_util.tree_leaves(bases)))
    methods = {FULL: _method(_fine_tune(data, bases, None, rates, steps), data, bases, None)}
    methods[FULL]["trainable_params"] = full_count
    adapters = _fine_tune(data, bases, ranks, rates, steps)
    for index, rank in enumerate(ranks):
        entry = _method(adapters, data, bases, rank, where=np.asarray(adapters.seeds) // len(START_SEEDS) == index)
        entry["trainable_params"] = trainable_count(SIZES, rank)
        entry["fraction_of_full"] = entry["trainable_params"] / full_count
        methods[f"rank {rank}"] = entry
    tuned = {name: m for name, m in methods.items() if m["best"] is not None}
    full = tuned.get(FULL)
    versus_full = {name: compare(m["best"], full["best"]) for name, m in tuned.items() if name != FULL} if full else {}
    naive = _pitfall(data, bases, methods[f"rank {NAIVE_RANK}"]["best"]["learning_rate"]
                     if methods.get(f"rank {NAIVE_RANK}", {}).get("best") else BASE_LR, steps)

    lora_names = [name for name in tuned if name != FULL]
    if full and lora_names:
        fig = jl.plots.plot_lora(
            [tuned[name]["rank"] for name in lora_names], [tuned[name]["best"]["median"] for name in lora_names],
            [tuned[name]["trainable_params"] for name in lora_names], full_loss=full["best"]["median"],
            full_params=full_count, frozen_loss=frozen["new_loss"]["median"],
            loss_ranges=([tuned[name]["best"]["low"] for name in lora_names],
                         [tuned[name]["best"]["high"] for name in lora_names]),
            full_range=(full["best"]["low"], full["best"]["high"]),
            title=f"LoRA on frozen 2→32→32→1 networks, new task = inputs rotated {ROTATION_DEGREES:g}°: each method "
                  f"at its own best learning rate, median over {plural(len(START_SEEDS), 'start')} (bars: lowest–highest)",
        )
        jl.plots.save_figure(fig, out_dir / "lora.png")
    rank_one, rank_two = tuned.get("rank 1"), tuned.get("rank 2")
    return {
        "dtype": str(data["x"].dtype),
        "sizes": list(SIZES),
        "steps": steps,
        "base_lr": BASE_LR,
        "learning_rates": list(rates),
        "n_seeds": len(START_SEEDS),
        "start_seeds": list(START_SEEDS),
        "rotation_degrees": ROTATION_DEGREES,
        "full_params": full_count,
        "base": frozen,
        "methods": methods,
        "versus_full": versus_full,
        "rank_1_vs_rank_2": compare(rank_one["best"], rank_two["best"]) if rank_one and rank_two else None,
        "naive_masked": naive,
    }


def _cell(entry: dict[str, float] | None, fmt: str = ".3g") -> str:
    return "—" if entry is None else median_range(entry["median"], entry["low"], entry["high"], fmt)


_VERSUS = {"lower": "below full fine-tuning's range", "higher": "above full fine-tuning's range",
           "overlap": "within full fine-tuning's range"}


def report(metrics: dict[str, Any]) -> str:
    """Method table (each at its best rate) against full fine-tuning, the freeze check, the pitfall, the figure."""
    base = metrics["base"]
    rows = [["frozen base (no adapters)", 0, "0%", "—", _cell(base["new_loss"]), _cell(base["new_test_accuracy"], ".1%"),
             _cell(base["old_loss"]), "—", "—"]]
    for name, m in metrics["methods"].items():
        best = m["best"]
        if best is None:
            rows.append([name, m["trainable_params"], "", "every rate diverged", "—", "—", "—", "—", "—"])
            continue
        share = "100%" if m["rank"] is None else f"{m['fraction_of_full']:.0%}"
        frozen = "— (all weights move)" if m["rank"] is None else (
            "yes" if m["base_bit_identical"] else f"NO (max change {m['base_max_abs_change']:.1e})")
        rows.append([name if m["rank"] is None else f"LoRA {name}", m["trainable_params"], share,
                     f"{best['learning_rate']:g}", _cell(best), _cell(m["new_test_accuracy"], ".1%"),
                     _cell(m["old_loss"]), frozen, _VERSUS.get(metrics["versus_full"].get(name), "the reference")])
    naive = metrics["naive_masked"]
    n = plural(metrics["n_seeds"], "start")
    restored = all(m.get("old_loss_restored", True) for m in metrics["methods"].values())
    return (
        f"Bases: {n} — a {'→'.join(map(str, metrics['sizes']))} tanh network ({metrics['full_params']} parameters) "
        f"per seed ({metrics['start_seeds'][0]}–{metrics['start_seeds'][-1]}), trained on two moons with Adam (lr "
        f"{metrics['base_lr']}, {metrics['steps']} steps; base-task loss {_cell(base['old_loss'])}). New task: fresh "
        f"moons rotated by {metrics['rotation_degrees']:g}°. Each method fine-tunes every base for "
        f"{metrics['steps']} Adam steps at each learning rate of {', '.join(f'{r:g}' for r in metrics['learning_rates'])} "
        "(one `jl.sweep` for full fine-tuning, one for every rank at once; adapters on all three weight matrices, "
        "`optax.multi_transform` with `optax.set_to_zero()` on the base) and is reported at its own best rate "
        "(lowest median final loss)."
        + edge_note([name for name, m in metrics["methods"].items() if m["best"] is not None and m["best"]["edge"]])
        + " "
        "Cells: median over the starts, lowest–highest in brackets.\n\n"
        + markdown_table(["Model", "trainable params", "of full", "best lr", "new-task loss", "new-task test acc.",
                          "old-task loss", "base bit-identical after training", "against full fine-tuning"], rows)
        + "\n" + _rank_sentence(metrics)
        + ("Because the base is untouched, removing the adapters gives back each base model exactly (its old-task "
           f"loss, {_cell(base['old_loss'])}, bit for bit); "
           if restored else "**Removing the adapters did not restore every base exactly.** ")
        + "every fine-tuning, LoRA included, forgets the old task while its changes are applied (old-task loss "
        "column).\n\n"
        f"**The `optax.masked` pitfall** (one start: it shows a bug, not a ranking). Training rank-{naive['rank']} "
        f"adapters with `optax.masked(optax.adam(lr), adapter_mask)` at lr {naive['learning_rate']:g} does not freeze "
        "the base: masked-out leaves receive the raw gradient as their update (gradient *ascent* with step 1). The "
        f"base weights moved by up to {naive['base_max_abs_change']:.3g} and the new-task loss ended at "
        f"{naive['new_loss']:.4g}. Freeze with `optax.multi_transform({{..., 'frozen': optax.set_to_zero()}}, labels)` "
        "(or chain a masked `set_to_zero`).\n"
        + figure_link("lora", "lora.png", "New-task loss against adapter rank and against trainable parameters, "
                      "each method at its own best learning rate (median, bars: lowest–highest over the starts); "
                      "dashed and shaded: full fine-tuning, dotted: the frozen base")
    )


def _rank_sentence(metrics: dict[str, Any]) -> str:
    """What rank 1 against rank 2 and each rank against full fine-tuning show (or do not)."""
    versus = metrics["versus_full"]
    matching = [name for name, verdict in versus.items() if verdict in ("lower", "overlap")]
    text = ""
    if matching:
        smallest = matching[0]
        text += (f"The smallest rank whose range reaches full fine-tuning's is {smallest} "
                 f"({metrics['methods'][smallest]['fraction_of_full']:.0%} of the trainable parameters; "
                 f"{_VERSUS[versus[smallest]]}). ")
    elif versus:
        text += "No rank reaches full fine-tuning's range. "
    one_two = metrics["rank_1_vs_rank_2"]
    if one_two == "higher":
        text += "Rank 1 ends above rank 2's whole range, as the rank-2 change of the rotation suggests. "
    elif one_two is not None:
        text += ("Rank 1 is not worse than rank 2 beyond the seed spread, so the rank-2 argument is not what "
                 "limits the adapters here. ")
    return text


def corrections(metrics: dict[str, Any]) -> list[str]:
    """'LoRA = efficient optimization' made precise, measured."""
    versus = metrics["versus_full"]
    matching = [name for name, verdict in versus.items() if verdict in ("lower", "overlap")]
    full = metrics["methods"][FULL]["best"]
    if not matching or full is None:
        return []
    smallest = metrics["methods"][matching[0]]
    return [
        f"The seed files LoRA under \"efficient optimization\". LoRA does not optimize better; it optimizes "
        f"fewer parameters, in a subspace: tuned on its own, {matching[0]} ({smallest['trainable_params']} trainable "
        f"parameters, {smallest['fraction_of_full']:.0%} of {metrics['full_params']}) reaches a new-task loss of "
        f"{_cell(smallest['best'])} against full fine-tuning's {_cell(full)} (median and range over "
        f"{plural(metrics['n_seeds'], 'start')}, each at its own best learning rate); the base stays bit-identical "
        "and is restored by dropping the adapters.",
    ]
