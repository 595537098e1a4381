"""Lessons 8–13 in quick mode: each writes its figures and metrics, and its claims hold.

Every lesson runs once (module-scoped) through :func:`experiments.runner.run_lesson`, exactly
as ``python -m experiments --quick`` runs it (float64). The expected values come from
independent computations here: a NumPy forward pass, a dense Hessian's eigenvalues, direct
bit comparisons of parameters, closed-form power laws, optax itself.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `experiments` lives at the repository root, not in the package
    sys.path.insert(0, str(REPO))

from conftest import check_lesson_outputs  # noqa: E402

import jaxopt_lessons as jl  # noqa: E402
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


@pytest.mark.parametrize("name", list(EXPECTED_FIGURES))
def test_lesson_writes_figures_metrics_and_report(results, name):
    check_lesson_outputs(results, name, EXPECTED_FIGURES[name], require_corrections=True)


# --- lesson 8: hand Adam == optax Adam, accuracy by an independent forward pass ----------


def test_deep_relu_adam_hand_equals_optax_and_accuracy_is_right(results):
    metrics = results("deep_relu_adam")
    runs = metrics["runs"]
    hand = np.array(runs[deep_relu_adam.HAND]["losses"])
    library = np.array(runs[deep_relu_adam.OPTAX]["losses"])
    assert hand.shape == (metrics["steps"],)
    np.testing.assert_allclose(hand, library, rtol=1e-10, atol=1e-12)  # float64 run
    assert hand[-1] < 0.2 * hand[0]
    # Adam at lr 0.01 beats SGD at the same lr (the report's claim).
    assert runs[deep_relu_adam.HAND]["final_loss"] < runs["optax.sgd (lr 0.01)"]["final_loss"]

    with jax.enable_x64(True):
        data = _problems.moons_problem()
    x, y = np.asarray(data["x"]), np.asarray(data["y"])[:, 0]
    for name in (deep_relu_adam.HAND, deep_relu_adam.OPTAX):
        h = x
        layers = metrics["final_params"][name]
        for index, layer in enumerate(layers):
            h = h @ np.asarray(layer["W"]) + np.asarray(layer["b"])
            if index < len(layers) - 1:
                h = np.maximum(h, 0.0)
        accuracy = np.mean((h[:, 0] > 0) == (y > 0.5))
        assert accuracy == pytest.approx(runs[name]["train_accuracy"], abs=1e-6)
        assert accuracy > 0.9


# --- lesson 9: sweep bookkeeping and the good range --------------------------------------


@pytest.mark.parametrize(
    "losses, diverged, expected",
    [
        # best single run at index 2; 3-point medians .575 .15 .15 .19 .345: typical .15, good <= .3
        ([1.0, 0.15, 0.1, 0.19, 0.5], [0, 0, 0, 0, 0], (2, 1, 3, 3)),
        # a diverged lane is never good, but good rates beyond it still count
        ([0.5, 0.15, 0.1, 0.12, 0.11], [0, 0, 0, 1, 0], (2, 1, 4, 3)),
        # a non-finite loss counts as bad
        ([0.1, 0.11, np.nan, 0.1], [0, 0, 0, 0], (0, 0, 3, 3)),
        # one lucky run (0.01) in a plateau does not make the plateau look bad
        ([0.5, 0.04, 0.05, 0.01, 0.05, 0.04, 0.6], [0] * 7, (3, 1, 5, 5)),
    ],
)
def test_good_range(losses, diverged, expected):
    rates = np.geomspace(1e-3, 10.0, len(losses))
    summary = modern_optimizers.good_range(rates, np.array(losses), np.array(diverged, bool))
    best, low, high, n_good = expected
    assert summary["best_lr"] == rates[best]
    assert summary["low"] == rates[low] and summary["high"] == rates[high]
    assert summary["decades"] == pytest.approx(math.log10(rates[high] / rates[low]))
    assert summary["n_good"] == n_good
    assert summary["good_fraction"] == pytest.approx(n_good / (high - low + 1))


def test_modern_optimizers_measurements(results):
    metrics = results("modern_optimizers")
    rates = np.array(metrics["learning_rates"])
    assert set(metrics["optimizers"]) == set(_problems.OPTIMIZERS)
    for o in metrics["optimizers"].values():
        final = np.array(o["final_losses"], dtype=float)
        ok = (np.array(o["statuses"]) != "diverged") & np.isfinite(final)
        assert o["best_loss"] == pytest.approx(final[ok].min())
        assert o["best_lr"] == pytest.approx(rates[ok][np.argmin(final[ok])])
        assert o["low"] <= o["high"] and o["best_loss"] <= o["typical_loss"]
        good = ok & (final <= metrics["good_factor"] * o["typical_loss"])
        assert o["low"] == pytest.approx(rates[good].min()) and o["high"] == pytest.approx(rates[good].max())
        assert o["best_loss"] < metrics["initial_loss"]
    # The hand-rolled Adam swept in quick mode is optax's Adam, lane by lane.
    agreement = metrics["optimizers"]["Adam"]["hand_vs_optax"]
    assert agreement["lanes_compared"] >= len(rates) - 3
    assert agreement["max_rel_curve_difference"] < 1e-9
    assert agreement["same_status"]


# --- lesson 10: range test against the sweep ---------------------------------------------


def test_lr_finder_ratios_and_costs_are_consistent(results):
    metrics = results("lr_finder")
    rates = _problems.learning_rates(quick=True)
    for o in metrics["optimizers"].values():
        assert np.min(np.abs(rates - o["sweep_best_lr"])) < 1e-12 * o["sweep_best_lr"]
        test = o["range_test"]
        assert len(test["learning_rates"]) == lr_finder.RANGE_STEPS
        assert test["learning_rates"][0] == pytest.approx(lr_finder.RANGE_MIN_LR)
        for suggestion in o["suggestions"].values():
            assert suggestion["ratio_to_best"] == pytest.approx(suggestion["lr"] / o["sweep_best_lr"])
            index = int(np.argmin(np.abs(np.log(rates) - np.log(suggestion["lr"]))))
            assert suggestion["nearest_grid_lr"] == pytest.approx(rates[index])
            assert suggestion["final_loss_there"] == pytest.approx(o["sweep_final_losses"][index])
            assert suggestion["loss_ratio_to_best"] >= 1 - 1e-12  # nothing beats the sweep's best


@pytest.mark.parametrize("value, expected", [(1e-4, 0), (10.0, 20), (0.012, 8), (0.015, 9), (5e-5, 0), (1e3, 20)])
def test_nearest_index(value, expected):
    assert lr_finder.nearest_index(np.geomspace(1e-4, 10.0, 21), value) == expected


# --- lesson 11: sharpness hovers at 2/lr --------------------------------------------------


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


# --- lesson 12: only the adapters move ---------------------------------------------------


def test_lora_metrics(results):
    metrics = results("lora")
    for r in metrics["ranks"].values():
        assert r["base_bit_identical"] and r["base_max_abs_change"] == 0.0
        assert r["adapter_max_abs_change"] > 0
        assert r["old_loss_adapters_removed"] == metrics["base"]["old_loss"]
        assert r["new_loss"] < metrics["base"]["new_loss"]
    assert not metrics["naive_masked"]["base_bit_identical"]
    assert metrics["naive_masked"]["base_max_abs_change"] > 1.0
    assert metrics["ranks"]["2"]["new_loss"] < metrics["ranks"]["1"]["new_loss"]


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


def test_scaling_laws_measurements(results):
    metrics = results("scaling_laws")
    widths = list(metrics["widths"].values())
    fit = metrics["fit"]
    fitted = [w for w in widths if w["fitted"]]
    assert len(fitted) >= 4
    for w in widths:
        assert w["fit"] == pytest.approx(fit["a"] * w["width"] ** -fit["alpha"] + fit["c"])
        assert w["fitted"] == (w["test_loss"] < metrics["fit_below"] * metrics["trivial_loss"])
        assert w["test_loss"] == pytest.approx(np.mean(w["test_loss_seeds"]))
    assert fit["alpha"] > 0 and fit["c"] > 0
    assert fitted[-1]["test_loss"] < 0.1 * fitted[0]["test_loss"] + fit["c"] * 2  # wider is better
    assert fit["rmse_log"] < 0.3


def test_masked_width_equals_a_narrow_network():
    """Width-N slices of the padded network compute exactly the width-N network."""
    with jax.enable_x64(True):
        data = scaling_laws.problem()
        width = 4
        padded = scaling_laws.padded_init(0, width, data["x"].dtype)
        narrow = [{"W": padded[0]["W"][:, :width], "b": padded[0]["b"][:width]},
                  {"W": padded[1]["W"][:width], "b": padded[1]["b"]}]
        mask = jnp.asarray((np.arange(scaling_laws.MAX_WIDTH) < width).astype(float))
        expected = jl.mlp(narrow, data["x"], activation="tanh")
        np.testing.assert_allclose(scaling_laws.masked_mlp(padded, data["x"], mask), expected, rtol=1e-12)
        # The switched-off units get exactly zero gradient, so Adam never moves them.
        grads = jax.grad(scaling_laws.loss_fn)(padded, data["x"], data["y"], mask)
        assert np.all(np.asarray(grads[0]["W"])[:, width:] == 0)
        assert np.all(np.asarray(grads[1]["W"])[width:] == 0)
        state = optax.adam(0.1).init(padded)
        updates, _ = optax.adam(0.1).update(grads, state, padded)
        assert np.all(np.asarray(updates[0]["W"])[:, width:] == 0)
