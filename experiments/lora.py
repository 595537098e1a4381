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
the theory predicts that rank 2 can do what full fine-tuning does. The freezing is done by
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

from ._common import default_dtype, positive_int
from ._markdown import figure_link, markdown_table

TITLE = "LoRA: fine-tuning through low-rank adapters"
SEED_SAYS = (
    "Trend alert: \"Fine-tuning Revolution: LoRA, QLoRA = Efficient optimization. Understanding gradients "
    "= Understanding fine-tuning!\""
)

SIZES = (2, 32, 32, 1)
OPTIONS = {"activation": "tanh", "output_activation": "identity", "loss": "bce"}
ROTATION_DEGREES = 60.0
LEARNING_RATE = 0.01
STEPS, QUICK_STEPS = 1000, 500
"""Steps of base training and of each fine-tuning (equal, so full fine-tuning reuses the base's compiled loop)."""
RANKS, QUICK_RANKS = (1, 2, 4, 8), (1, 2, 8)
NAIVE_RANK = 2
"""Rank of the run that shows the ``optax.masked`` pitfall."""
POOL_RANK = 16
"""Columns of the Gaussian draw the adapters' ``A`` are sliced from (see :func:`init_adapters`)."""


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
    layer (per ``key``), so adapters of different ranks are nested and one compiled draw
    serves every rank up to :data:`POOL_RANK`.

    Raises:
      ValueError, TypeError: ``rank`` not a positive int.
    """
    rank = positive_int(rank, "rank")
    pool = _gaussian_pool(key, base, max(rank, POOL_RANK))
    # Slicing and zeros on the host: no eagerly compiled op per rank.
    pool = [np.asarray(a) for a in pool]
    return [{"A": jnp.asarray(a[:, :rank]), "B": jnp.asarray(np.zeros((rank, layer["W"].shape[1]), a.dtype))}
            for a, layer in zip(pool, base)]


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


# --- data -----------------------------------------------------------------------------


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
        "params": jl.init_mlp(jax.random.key(1), SIZES, dtype=dtype),
    }


@jax.jit
def _evaluate(layers: Any, data: dict[str, Any]) -> dict[str, jax.Array]:
    """Losses on both tasks and new-task test accuracy of a plain MLP (compiled once per shapes)."""
    return {
        "new_loss": base_loss(layers, data["x_new"], data["y_new"]),
        "new_test_accuracy": jl.accuracy(jl.mlp(layers, data["x_new_test"], activation="tanh"), data["y_new_test"]),
        "old_loss": base_loss(layers, data["x"], data["y"]),
    }


@jax.jit
def _max_change(before: Any, after: Any) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(a - b)) for a, b in
                              zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after))]))


def _bit_identical(before: Any, after: Any) -> bool:
    return all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
               zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))


def _as_floats(evaluation: dict[str, jax.Array]) -> dict[str, float]:
    return {key: float(value) for key, value in evaluation.items()}


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Base training, full fine-tuning, adapters at each rank, the masked pitfall; one figure."""
    out_dir = Path(out_dir)
    steps = QUICK_STEPS if quick else STEPS
    ranks = QUICK_RANKS if quick else RANKS
    data = problem()
    adam = optax.adam(LEARNING_RATE)  # one object: base training and full fine-tuning share a compiled loop
    base = jl.fit(base_loss, data["params"], adam, steps=steps, args=(data["x"], data["y"])).params
    frozen = _as_floats(_evaluate(base, data))
    full = jl.fit(base_loss, base, adam, steps=steps, args=(data["x_new"], data["y_new"]))
    full_eval = _as_floats(_evaluate(full.params, data))
    full_count = int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(base)))
    weight_count = int(sum(layer["W"].size for layer in base))

    per_rank: dict[str, Any] = {}
    optimizer = lora_optimizer(LEARNING_RATE)
    for rank in ranks:
        start = {"base": base, "adapters": init_adapters(jax.random.key(7), base, rank)}
        trained = jl.fit(lora_loss, start, optimizer, steps=steps, args=(data["x_new"], data["y_new"]))
        evaluation = _as_floats(_evaluate(jax.jit(merge)(trained.params), data))
        per_rank[str(rank)] = {
            "rank": rank,
            "trainable_params": trainable_count(SIZES, rank),
            "fraction_of_full": trainable_count(SIZES, rank) / full_count,
            **evaluation,
            "base_bit_identical": _bit_identical(base, trained.params["base"]),
            "base_max_abs_change": float(_max_change(base, trained.params["base"])),
            "adapter_max_abs_change": float(_max_change(start["adapters"], trained.params["adapters"])),
            "old_loss_adapters_removed": float(_evaluate(trained.params["base"], data)["old_loss"]),
        }

    start = {"base": base, "adapters": init_adapters(jax.random.key(7), base, NAIVE_RANK)}
    naive = jl.fit(lora_loss, start, naive_masked_optimizer(LEARNING_RATE), steps=steps,
                   args=(data["x_new"], data["y_new"]))

    fig = jl.plots.plot_lora(
        [r["rank"] for r in per_rank.values()], [r["new_loss"] for r in per_rank.values()],
        [r["trainable_params"] for r in per_rank.values()], full_loss=full_eval["new_loss"],
        full_params=full_count, frozen_loss=frozen["new_loss"],
        title=f"LoRA on a frozen 2→32→32→1 network, new task = inputs rotated {ROTATION_DEGREES:g}° "
              f"({steps} Adam steps each)",
    )
    jl.plots.save_figure(fig, out_dir / "lora.png")
    return {
        "dtype": str(data["x"].dtype),
        "sizes": list(SIZES),
        "steps": steps,
        "learning_rate": LEARNING_RATE,
        "rotation_degrees": ROTATION_DEGREES,
        "full_params": full_count,
        "weight_params": weight_count,
        "base": frozen,
        "full_fine_tuning": {**full_eval, "trainable_params": full_count},
        "ranks": per_rank,
        "naive_masked": {
            "rank": NAIVE_RANK,
            "new_loss": float(naive.final_loss),
            "base_max_abs_change": float(_max_change(base, naive.params["base"])),
            "base_bit_identical": _bit_identical(base, naive.params["base"]),
        },
    }


def report(metrics: dict[str, Any]) -> str:
    """Rank table against full fine-tuning, the freeze check, the pitfall and the figure."""
    base, full = metrics["base"], metrics["full_fine_tuning"]
    rows = [["frozen base (no adapters)", 0, "0%", f"{base['new_loss']:.3g}", f"{base['new_test_accuracy']:.1%}",
             f"{base['old_loss']:.3g}", "—"]]
    for r in metrics["ranks"].values():
        rows.append([f"LoRA rank {r['rank']}", r["trainable_params"], f"{r['fraction_of_full']:.0%}",
                     f"{r['new_loss']:.3g}", f"{r['new_test_accuracy']:.1%}", f"{r['old_loss']:.3g}",
                     "yes" if r["base_bit_identical"] else f"NO (max change {r['base_max_abs_change']:.1e})"])
    rows.append(["full fine-tuning", full["trainable_params"], "100%", f"{full['new_loss']:.3g}",
                 f"{full['new_test_accuracy']:.1%}", f"{full['old_loss']:.3g}", "— (all weights move)"])
    ranks = metrics["ranks"]
    rank1, rank2 = ranks.get("1"), ranks.get("2")
    rank_note = ""
    if rank1 and rank2:
        rank_note = (
            f"The rotation is a rank-2 change of the first layer, and the measurements follow it: rank 1 ends at "
            f"{rank1['new_loss']:.3g} ({rank1['new_loss'] / full['new_loss']:.2g}× full fine-tuning's loss), rank 2 "
            f"at {rank2['new_loss']:.3g} ({rank2['new_loss'] / full['new_loss']:.2g}×) with "
            f"{rank2['fraction_of_full']:.0%} of the trainable parameters; higher ranks go lower still (Adam on the "
            "adapters' product parameterisation moves faster than on the weights themselves). "
        )
    naive = metrics["naive_masked"]
    return (
        f"Base: a {'→'.join(map(str, metrics['sizes']))} tanh network ({metrics['full_params']} parameters) "
        f"trained on two moons with Adam (lr {metrics['learning_rate']}, {metrics['steps']} steps; base-task loss "
        f"{base['old_loss']:.4f}). New task: fresh moons rotated by {metrics['rotation_degrees']:g}°. Each "
        f"fine-tuning runs {metrics['steps']} Adam steps from the base; adapters on all three weight matrices, "
        "`optax.multi_transform` with `optax.set_to_zero()` on the base.\n\n"
        + markdown_table(["Model", "trainable params", "of full", "new-task loss", "new-task test acc.",
                          "old-task loss", "base bit-identical after training"], rows)
        + "\n" + rank_note + "Because the base is untouched, removing the adapters gives back the base model "
        f"exactly (old-task loss {next(iter(ranks.values()))['old_loss_adapters_removed']:.3g} = the base's "
        f"{base['old_loss']:.3g}); every fine-tuning, LoRA included, forgets the old task while its changes "
        "are applied (old-task loss column).\n\n"
        f"**The `optax.masked` pitfall.** Training the same rank-{naive['rank']} adapters with "
        "`optax.masked(optax.adam(lr), adapter_mask)` does not freeze the base: masked-out leaves receive the "
        f"raw gradient as their update (gradient *ascent* with step 1). The base weights moved by up to "
        f"{naive['base_max_abs_change']:.3g} and the new-task loss ended at {naive['new_loss']:.4g}. Freeze with "
        "`optax.multi_transform({..., 'frozen': optax.set_to_zero()}, labels)` (or chain a masked "
        "`set_to_zero`).\n"
        + figure_link("lora", "lora.png", "New-task loss against adapter rank and against trainable parameters; "
                      "dashed: full fine-tuning, dotted: the frozen base")
    )


def corrections(metrics: dict[str, Any]) -> list[str]:
    """'LoRA = efficient optimization' made precise, measured."""
    ranks = metrics["ranks"]
    full = metrics["full_fine_tuning"]
    matching = [r for r in ranks.values() if r["new_loss"] <= 1.5 * full["new_loss"]]
    if not matching:
        return []
    smallest = min(matching, key=lambda r: r["rank"])
    return [
        f"The seed files LoRA under \"efficient optimization\". LoRA does not optimize better; it optimizes "
        f"fewer parameters, in a subspace: here rank {smallest['rank']} ({smallest['trainable_params']} trainable "
        f"parameters, {smallest['fraction_of_full']:.0%} of {metrics['full_params']}) reaches new-task loss "
        f"{smallest['new_loss']:.3g} against full fine-tuning's {full['new_loss']:.3g}, because the task shift "
        "(a rotation of the inputs) is itself a rank-2 change of the weights; the base stays bit-identical and "
        "can be restored by dropping the adapters.",
    ]
