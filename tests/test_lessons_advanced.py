"""Lessons 8–13 in quick mode: each writes its figures and metrics, and its claims hold.

Every lesson runs once (the session-scoped ``results`` fixture) through
:func:`experiments.runner.run_lesson`, exactly as ``python -m experiments --quick`` runs it
(float64); ``helpers.SLOW_LESSONS`` says which are slow. The expected values come from
independent computations here: a NumPy forward pass, a dense Hessian's eigenvalues, direct
bit comparisons of parameters, closed-form power laws, optax itself.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import check_lesson_outputs, experiments_package, lesson, lesson_marks
from jax.flatten_util import ravel_pytree

import jaxopt_lessons as jl

experiments_package()  # `experiments` lives at the repository root, not in the package
from experiments import (  # noqa: E402
    _problems,
    deep_relu_adam,
    edge_of_stability,
    lora,
    lr_finder,
    modern_optimizers,
    scaling_laws,
)

EXPECTED_FIGURES = {
    "deep_relu_adam": ["boundary_adam.png", "boundary_sgd.png", "loss.png"],
    "modern_optimizers": ["best_curves.png", "sweep.png"],
    "lr_finder": ["adam.png", "sgd.png"],
    "edge_of_stability": ["sharpness.png"],
    "lora": ["lora.png"],
    "scaling_laws": ["power_law.png"],
}

slow = pytest.mark.slow


@pytest.mark.parametrize("name", [pytest.param(name, marks=lesson_marks(name)) for name in EXPECTED_FIGURES])
def test_lesson_writes_figures_metrics_and_report(results, name):
    check_lesson_outputs(results, name, EXPECTED_FIGURES[name], require_corrections=True)


# --- lesson 8: hand Adam == optax Adam, accuracy by an independent forward pass ----------


def numpy_forward(layers, x):
    """The ReLU MLP's logits in NumPy (an oracle independent of jl.mlp)."""
    h = x
    for index, layer in enumerate(layers):
        h = h @ np.asarray(layer["W"]) + np.asarray(layer["b"])
        if index < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h[:, 0]


@lesson("deep_relu_adam")
def test_deep_relu_adam_hand_equals_optax_and_accuracy_is_right(results):
    metrics = results("deep_relu_adam")
    runs = metrics["one_start"]
    hand = np.array(runs[deep_relu_adam.HAND]["losses"])
    library = np.array(runs[deep_relu_adam.OPTAX]["losses"])
    assert hand.shape == (metrics["steps"],)
    np.testing.assert_allclose(hand, library, rtol=1e-10, atol=1e-12)  # float64 run
    assert hand[-1] < 0.2 * hand[0]

    with jax.enable_x64(True):
        data = _problems.moons_problem()
        # The figures' fixed start is seed FIXED_START_SEED of the sweep's init.
        start = _problems.moons_init(jax.random.key(deep_relu_adam.FIXED_START_SEED))
    for a, b in zip(jax.tree_util.tree_leaves(start), jax.tree_util.tree_leaves(data["params"])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-15, atol=1e-16)
    x, y = np.asarray(data["x"]), np.asarray(data["y"])[:, 0]
    for name in (deep_relu_adam.HAND, deep_relu_adam.OPTAX):
        accuracy = np.mean((numpy_forward(metrics["final_params"][name], x) > 0) == (y > 0.5))
        assert accuracy == pytest.approx(runs[name]["train_accuracy"], abs=1e-6)
        assert accuracy > 0.9


@lesson("deep_relu_adam")
def test_deep_relu_adam_seed_table_and_claims(results):
    metrics = results("deep_relu_adam")
    seeds = metrics["seeds"]
    assert metrics["n_seeds"] >= 5
    assert set(seeds) == {"Adam at Adam's lr", "SGD at Adam's lr", "Adam at its best lr", "SGD at its best lr"}
    for row in seeds.values():
        assert row["n_seeds"] == metrics["n_seeds"]
        for key in ("final_loss", "train_accuracy", "test_accuracy"):
            assert row[key]["low"] <= row[key]["median"] <= row[key]["high"]
    adam, slow = seeds["Adam at Adam's lr"], seeds["SGD at Adam's lr"]
    # At the same learning rate Adam's worst start beats SGD's best (the report's claim).
    assert metrics["adam_vs_sgd_same_lr"] == "lower"
    assert adam["final_loss"]["high"] < slow["final_loss"]["low"]


# --- lesson 9: sweep bookkeeping and the good range --------------------------------------


@pytest.mark.parametrize(
    "medians, usable, expected",
    [
        # best median 0.1 at index 2: good <= 0.2, i.e. indices 1..3
        ([1.0, 0.15, 0.1, 0.19, 0.5], [1, 1, 1, 1, 1], (1, 3, 3)),
        # an unusable rate (a diverged seed) is never good, but good rates beyond it still count
        ([0.5, 0.15, 0.1, 0.12, 0.11], [1, 1, 1, 0, 1], (1, 4, 3)),
        # a non-finite median is never good
        ([0.1, 0.11, np.inf, 0.1], [1, 1, 1, 1], (0, 3, 3)),
    ],
)
def test_good_range(medians, usable, expected):
    rates = np.geomspace(1e-3, 10.0, len(medians))
    summary = modern_optimizers.good_range(rates, np.array(medians), np.array(usable, bool))
    low, high, n_good = expected
    assert summary["low"] == rates[low] and summary["high"] == rates[high]
    assert summary["decades"] == pytest.approx(math.log10(rates[high] / rates[low]))
    assert summary["n_good"] == n_good
    assert summary["good_fraction"] == pytest.approx(n_good / (high - low + 1))


@lesson("modern_optimizers")
def test_modern_optimizers_measurements(results):
    metrics = results("modern_optimizers")
    rates = np.array(metrics["learning_rates"])
    assert metrics["n_seeds"] >= 5
    assert set(metrics["optimizers"]) == set(_problems.OPTIMIZERS)
    assert metrics["weight_decay_adamw"] == _problems.WEIGHT_DECAY != 1e-4  # not optax's default (≈ Adam)
    for o in metrics["optimizers"].values():
        medians = np.array(o["median_final_losses"], dtype=float)
        highs = np.array(o["high_final_losses"], dtype=float)
        usable = np.isfinite(highs)  # no start diverged or ended non-finite
        best = o["best"]
        # Independent: the lowest median among usable rates (ties to the larger rate).
        lowest = medians[usable].min()
        expected = rates[usable][np.flatnonzero(medians[usable] <= lowest * (1 + 1e-9))[-1]]
        assert best["learning_rate"] == pytest.approx(expected)
        assert best["median"] == pytest.approx(lowest)
        assert best["low"] <= best["median"] <= best["high"]
        good = usable & (medians <= metrics["good_factor"] * lowest)
        assert o["low"] == pytest.approx(rates[good].min()) and o["high"] == pytest.approx(rates[good].max())
        assert best["median"] < metrics["initial_loss"]
    # The verdicts follow from the ranges.
    opts = metrics["optimizers"]
    winner = opts[metrics["winner"]]["best"]
    for name, verdict in metrics["winner_vs"].items():
        other = opts[name]["best"]
        assert verdict == ("lower" if winner["high"] < other["low"] else "overlap")
    # Quick mode sweeps no hand-rolled twin (tests/test_optim.py checks each against optax).
    assert metrics["n_hand_twins"] == 0 and not any("hand_vs_optax" in o for o in opts.values())


# --- lesson 10: range test against the sweep ---------------------------------------------


@lesson("lr_finder")
def test_lr_finder_ratios_and_costs_are_consistent(results):
    metrics = results("lr_finder")
    rates = _problems.learning_rates(quick=True)
    np.testing.assert_allclose(metrics["learning_rates"], rates)
    for o in metrics["optimizers"].values():
        best = o["sweep_best"]
        assert np.min(np.abs(rates - best["learning_rate"])) < 1e-12 * best["learning_rate"]
        test = o["range_test_first_start"]
        assert len(test["learning_rates"]) == lr_finder.RANGE_STEPS
        assert test["learning_rates"][0] == pytest.approx(rates[0])
        finals = np.array(o["sweep_final_losses"], dtype=float)  # seeds x rates
        np.testing.assert_allclose(np.median(finals, axis=0), o["sweep_median_final_losses"])
        for suggestion in o["suggestions"].values():
            lrs = np.array(suggestion["lrs"], dtype=float)
            readable = np.isfinite(lrs)
            assert suggestion["ratio_to_best"]["median"] == pytest.approx(
                np.median(np.where(readable, lrs, np.inf) / best["learning_rate"]))
            costs = [finals[row, int(np.argmin(np.abs(np.log(rates) - np.log(lr))))] / best["median"]
                     if np.isfinite(lr) else np.inf for row, lr in enumerate(lrs)]
            assert suggestion["loss_ratio_to_best"]["median"] == pytest.approx(np.median(costs))


@pytest.mark.parametrize("value, expected", [(1e-4, 0), (10.0, 20), (0.012, 8), (0.015, 9), (5e-5, 0), (1e3, 20)])
def test_nearest_index(value, expected):
    assert lr_finder.nearest_index(np.geomspace(1e-4, 10.0, 21), value) == expected


# --- lesson 11: sharpness hovers at 2/lr --------------------------------------------------


@lesson("edge_of_stability")
def test_edge_of_stability_sharpness_matches_dense_hessian_and_hovers(results):
    metrics = results("edge_of_stability")
    with jax.enable_x64(True):
        data = edge_of_stability.problem()
        flat, unravel = ravel_pytree(data["params"])
        hessian = jax.jit(jax.hessian(lambda v: edge_of_stability.loss_fn(unravel(v), data["x"], data["y"])))(flat)
        top = float(np.linalg.eigvalsh(np.asarray(hessian))[-1])
    assert metrics["initial_sharpness"] == pytest.approx(top, rel=1e-4)

    runs = metrics["runs"]
    below = runs["lr 0.02"]
    assert below["late_max_ratio"] < 0.5  # 2/lr = 100 is never approached
    assert below["sharpness"][-1] > below["sharpness"][0]  # but the sharpness rises (progressive sharpening)
    for label in ("lr 0.1", "lr 0.2"):
        run = runs[label]
        assert run["first_record_at_edge"] >= 0
        assert 0.85 < run["late_median_ratio"] < 1.15, (label, run["late_median_ratio"])
        assert run["late_max_ratio"] < 1.3
        assert math.isfinite(run["final_loss"]) and run["final_loss"] < 0.1 * run["losses"][0]

    # From several starts: the readings follow from the per-start end sharpness.
    seeds = metrics["seeds"]
    assert metrics["n_seeds"] >= 5
    drift = np.array(seeds["rates"]["lr 0.02"]["end_sharpness_seeds"])
    for row in seeds["rates"].values():
        sharp = np.array(row["end_sharpness_seeds"])
        assert row["end_ratio"]["median"] == pytest.approx(np.median(sharp) * row["learning_rate"] / 2)
        assert row["threshold_below_drift"] == (2 / row["learning_rate"] < drift.min())
    edge = seeds["rates"]["lr 0.2"]  # 2/lr = 10, below every start's drift: held there, from every start
    assert edge["threshold_below_drift"] and edge["held_at_threshold"] and edge["n_diverged"] == 0


# --- lesson 12: only the adapters move ---------------------------------------------------


@lesson("lora")
def test_lora_metrics(results):
    metrics = results("lora")
    assert metrics["n_seeds"] >= 5
    rates = np.array(metrics["learning_rates"])
    for m in metrics["methods"].values():
        medians = np.array(m["median_final_losses"], dtype=float)
        assert m["best"]["learning_rate"] == pytest.approx(rates[np.flatnonzero(medians <= medians.min())[-1]])
        assert m["best"]["median"] < metrics["base"]["new_loss"]["median"]
        if m["rank"] is not None:
            assert m["base_bit_identical"] and m["base_max_abs_change"] == 0.0
            assert m["adapters_moved"] and m["padding_stayed_zero"] and m["old_loss_restored"]
            assert m["trainable_params"] == m["rank"] * sum(a + b for a, b in zip(lora.SIZES[:-1], lora.SIZES[1:]))
    assert not metrics["naive_masked"]["base_bit_identical"]
    assert metrics["naive_masked"]["base_max_abs_change"] > 1.0
    full = metrics["methods"][lora.FULL]["best"]
    for name, verdict in metrics["versus_full"].items():
        other = metrics["methods"][name]["best"]
        expected = "lower" if other["high"] < full["low"] else "higher" if other["low"] > full["high"] else "overlap"
        assert verdict == expected


@slow
def test_lora_padded_rank_trains_like_the_true_rank():
    """A rank-1 adapter padded to rank 2 (zero column of A, zero row of B) trains exactly like rank 1."""
    with jax.enable_x64(True):
        data = lora.problem()
        base = data["params"]
        bases = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[None], base)
        padded = lora.lora_init(bases, (1, 2))(jax.random.key(0))  # seed 0: rank 1, start 0
        true = {"base": base, "adapters": lora.init_adapters(jax.random.key(lora.START_SEEDS[0]), base, 1)}
        for layer, reference in zip(padded["adapters"], true["adapters"]):
            np.testing.assert_array_equal(np.asarray(layer["A"])[:, :1], np.asarray(reference["A"]))
            assert np.all(np.asarray(layer["A"])[:, 1:] == 0) and np.all(np.asarray(layer["B"]) == 0)
        args = (data["x_new"], data["y_new"])
        runs = [jl.fit(lora.lora_loss, start, lora.lora_optimizer(0.03), steps=30, args=args)
                for start in (padded, true)]
        merged = [jax.jit(lora.merge)(run.params) for run in runs]
        for a, b in zip(jax.tree_util.tree_leaves(merged[0]), jax.tree_util.tree_leaves(merged[1])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
        for layer in runs[0].params["adapters"]:
            assert np.all(np.asarray(layer["A"])[:, 1:] == 0) and np.all(np.asarray(layer["B"])[1:] == 0)


@pytest.mark.slow
def test_lora_training_changes_only_adapters():
    """In float32 (the lesson itself ran in float64): base bit-identical, adapters moved."""
    dtype = jnp.float32
    data = lora.problem(dtype)
    base = data["params"]
    rank = 2
    start = {"base": base, "adapters": lora.init_adapters(jax.random.key(3), base, rank)}
    assert [a["A"].dtype for a in start["adapters"]] == [dtype] * 3
    # Independent count of the trainable leaves vs the closed form r (n_in + n_out).
    assert sum(leaf.size for leaf in jax.tree_util.tree_leaves(start["adapters"])) == \
        lora.trainable_count(lora.SIZES, rank)
    trajectory = jl.fit(lora.lora_loss, start, lora.lora_optimizer(0.05), steps=20,
                        args=(data["x_new"], data["y_new"]))
    for before, after in zip(jax.tree_util.tree_leaves(base), jax.tree_util.tree_leaves(trajectory.params["base"])):
        assert after.dtype == before.dtype
        assert np.array_equal(np.asarray(before), np.asarray(after))  # bit-identical
    for before, after in zip(jax.tree_util.tree_leaves(start["adapters"]),
                             jax.tree_util.tree_leaves(trajectory.params["adapters"])):
        assert not np.array_equal(np.asarray(before), np.asarray(after))
    assert float(trajectory.final_loss) < float(trajectory.losses[0])

    @jax.jit
    def checks(start, x, y, x_new, y_new):
        grads = jax.grad(lora.lora_loss)(start, x_new, y_new)
        naive = lora.naive_masked_optimizer(0.05)
        updates, _ = naive.update(grads, naive.init(start), start)
        return lora.lora_loss(start, x, y), lora.base_loss(start["base"], x, y), updates["base"], grads["base"]

    adapted, plain, naive_updates, base_grads = checks(start, data["x"], data["y"], data["x_new"], data["y_new"])
    # At the start B = 0, so the adapted network is the base network exactly.
    assert float(adapted) == float(plain)
    # The naive optax.masked optimizer passes the base's raw gradient through as its update.
    for update, grad in zip(jax.tree_util.tree_leaves(naive_updates), jax.tree_util.tree_leaves(base_grads)):
        assert np.array_equal(np.asarray(update), np.asarray(grad)) and np.any(np.asarray(grad) != 0)


def test_init_adapters_rejects_bad_rank():
    base = jl.init_mlp(jax.random.key(0), lora.SIZES)
    with pytest.raises(ValueError, match="rank"):
        lora.init_adapters(jax.random.key(0), base, 0)
    with pytest.raises(TypeError, match="rank"):
        lora.init_adapters(jax.random.key(0), base, 1.5)


# --- lesson 13: the power-law fit recovers known exponents --------------------------------


@pytest.mark.parametrize("a, alpha, c", [(2.0, 0.7, 0.05), (0.5, 1.3, 0.01), (10.0, 0.35, 1.0)])
@pytest.mark.parametrize("x64", [False, True])
def test_fit_power_law_recovers_known_exponent(a, alpha, c, x64):
    sizes = np.geomspace(1, 1024, 11)
    with jax.enable_x64(x64):
        fit = scaling_laws.fit_power_law(sizes, a * sizes ** (-alpha) + c)
    tol = 1e-6 if x64 else 1e-3
    assert fit["alpha"] == pytest.approx(alpha, rel=tol)
    assert fit["a"] == pytest.approx(a, rel=tol)
    assert fit["c"] == pytest.approx(c, rel=tol)


def test_fit_power_law_with_noise():
    rng = np.random.default_rng(0)
    sizes = np.geomspace(1, 1024, 11)
    losses = (2.0 * sizes**-0.7 + 0.05) * np.exp(0.02 * rng.standard_normal(sizes.size))
    fit = scaling_laws.fit_power_law(sizes, losses)
    assert fit["alpha"] == pytest.approx(0.7, abs=0.05)
    assert fit["rmse_log"] < 0.03


@pytest.mark.parametrize(
    "sizes, losses, error",
    [([1, 2], [1.0, 0.5], ValueError), ([1, 2, 4], [1.0, 0.5], ValueError),
     ([1, 2, 4], [1.0, -0.5, 0.2], ValueError), ([0, 2, 4], [1.0, 0.5, 0.2], ValueError)],
)
def test_fit_power_law_rejects_bad_input(sizes, losses, error):
    with pytest.raises(error):
        scaling_laws.fit_power_law(sizes, losses)


def test_fit_power_law_fits_many_samples_at_once_as_if_alone():
    """Stacked rows are fitted by one jl.fit; each row's fit equals fitting that row alone."""
    sizes = np.geomspace(1, 64, 7)
    rng = np.random.default_rng(1)
    rows = (np.array([[2.0], [0.7]]) * sizes ** -np.array([[0.8], [1.5]]) + np.array([[0.02], [0.05]])) \
        * np.exp(0.05 * rng.standard_normal((2, sizes.size)))
    with jax.enable_x64(True):
        together = scaling_laws.fit_power_law(sizes, rows)
        alone = [scaling_laws.fit_power_law(sizes, row) for row in rows]
    for key in ("a", "alpha", "c", "rmse_log"):
        np.testing.assert_allclose(together[key], [fit[key] for fit in alone], rtol=1e-9)


@lesson("scaling_laws")
def test_scaling_laws_measurements(results):
    metrics = results("scaling_laws")
    widths = list(metrics["widths"].values())
    fit = metrics["fit"]
    fitted = [w for w in widths if w["fitted"]]
    assert metrics["n_seeds"] >= 5 and len(fitted) >= 4 and metrics["n_fitted"] == len(fitted)
    for w in widths:
        seeds = np.array(w["test_loss_seeds"])
        assert seeds.size == metrics["n_seeds"]
        assert w["test_loss"]["median"] == pytest.approx(np.median(seeds))
        assert w["test_loss"]["low"] == pytest.approx(seeds.min()) and w["test_loss"]["high"] == pytest.approx(seeds.max())
        assert w["fit"] == pytest.approx(fit["a"] * w["width"] ** -fit["alpha"] + fit["c"])
        assert w["fitted"] == (w["test_loss"]["median"] < metrics["fit_below"] * metrics["trivial_loss"])
        assert w["below_floor"] == (w["test_loss"]["median"] <= fit["c"])
    assert fit["alpha"] > 0 and fit["c"] > 0
    assert fitted[-1]["test_loss"]["median"] < fitted[0]["test_loss"]["median"]  # wider is better
    assert fit["rmse_log"] < 0.3
    # The central fit refits the fitted medians (an independent call of the same fit).
    with jax.enable_x64(True):
        again = scaling_laws.fit_power_law([w["width"] for w in fitted], [w["test_loss"]["median"] for w in fitted])
    assert again["alpha"] == pytest.approx(fit["alpha"], rel=1e-9)
    interval = metrics["bootstrap"]["interval"]
    assert all(low <= high for low, high in interval.values())


@slow
def test_padded_width_equals_a_narrow_network_and_its_zero_units_stay_zero():
    """Width-N slices of the padded network compute exactly the width-N network; the zero units never move."""
    with jax.enable_x64(True):
        data = scaling_laws.problem()
        width = 4
        padded = scaling_laws.padded_init(0, width, data["x"].dtype)
        narrow = [{"W": padded[0]["W"][:, :width], "b": padded[0]["b"][:width]},
                  {"W": padded[1]["W"][:width], "b": padded[1]["b"]}]
        expected = jl.mlp(narrow, data["x"], activation="tanh")
        np.testing.assert_allclose(jl.mlp(padded, data["x"], activation="tanh"), expected, rtol=1e-12)
        # The zero units get exactly zero gradient (no mask needed), so Adam's update leaves them at zero.
        grads = jax.grad(scaling_laws.loss_fn)(padded, data["x"], data["y"])
        for leaf, units in ((grads[0]["W"], np.s_[:, width:]), (grads[0]["b"], np.s_[width:]),
                            (grads[1]["W"], np.s_[width:])):
            assert np.all(np.asarray(leaf)[units] == 0)
        updates, _ = optax.adam(0.1).update(grads, optax.adam(0.1).init(padded), padded)
        assert np.all(np.asarray(updates[0]["W"])[:, width:] == 0) and np.all(np.asarray(updates[1]["W"])[width:] == 0)
        # The sweep's init: seed i is width widths[i // starts] from start i % starts.
        init = scaling_laws.width_init((2, width), 3)
        for a, b in zip(jax.tree_util.tree_leaves(init(jax.random.key(3))), jax.tree_util.tree_leaves(padded)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-14)  # seed 3 = width 4, start 0
