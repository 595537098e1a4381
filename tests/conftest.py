"""Shared test helpers: keys, a float64 switch, one ``tree_allclose``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import numpy as np
import pytest


@pytest.fixture
def getkey():
    """A function returning a fresh ``jax.random`` key on each call (deterministic per test)."""
    state = {"key": jax.random.key(0)}

    def next_key():
        state["key"], sub = jax.random.split(state["key"])
        return sub

    return next_key


@pytest.fixture
def x64():
    """Runs the test with ``jax_enable_x64`` on, restoring the previous setting afterwards."""
    with jax.enable_x64(True):
        yield


def tree_allclose(actual, expected, *, rtol: float = 1e-5, atol: float = 0.0) -> bool:
    """True when two pytrees have the same structure and allclose leaves."""
    if jax.tree_util.tree_structure(actual) != jax.tree_util.tree_structure(expected):
        return False
    return all(
        np.shape(a) == np.shape(b) and np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
        for a, b in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected))
    )


# --- lessons (tests/test_lessons_*.py) --------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def _experiments():
    """The ``experiments`` package, which lives at the repository root, not in the package."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import experiments.report
    import experiments.runner

    return experiments


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """``results(name)`` -> the lesson's metrics.json, running the lesson (quick) on first use.

    Module-scoped: each test module runs each lesson it asks for once, into its own folder
    (``results.out``), exactly as ``python -m experiments --quick`` runs it.
    """
    runner = _experiments().runner
    out = tmp_path_factory.mktemp("results")
    cache = {}

    def get(name):
        if name not in cache:
            outcome = runner.run_lesson(name, out, quick=True)
            assert outcome.ok, outcome.error
            cache[name] = json.loads((out / name / "metrics.json").read_text())
        return cache[name]

    get.out = out
    return get


def check_lesson_outputs(results, name: str, figures: list[str], *, require_corrections: bool = False) -> None:
    """A lesson's run wrote exactly ``figures`` (PNGs) and metrics, and its report links them all.

    Also: the report quotes no NaN, the lesson has a title and the seed's words, its
    corrections (required with ``require_corrections``) are non-empty strings, every number
    in report and corrections comes from the metrics (``experiments._audit``), and the
    combined REPORT.md includes the lesson's title.
    """
    experiments = _experiments()
    metrics = results(name)
    folder = results.out / name
    assert metrics["_run"]["quick"] is True
    assert sorted(metrics["_run"]["figures"]) == figures
    for figure in figures:
        assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    module = experiments.runner.import_lesson(name)
    lesson_metrics = {k: v for k, v in metrics.items() if k != "_run"}
    text = module.report(lesson_metrics)
    for figure in figures:
        assert f"({name}/{figure})" in text  # every figure is linked, relative to the results folder
    assert "nan" not in text.lower().replace("nanmedian", "")
    assert module.TITLE and module.SEED_SAYS
    items = getattr(module, "corrections", lambda m: [])(lesson_metrics)
    assert all(isinstance(item, str) and item for item in items)
    assert items or not require_corrections
    # Every number the report and corrections print is held by the metrics (or is fixed prose).
    import inspect

    from experiments._audit import unbacked_numbers

    assert unbacked_numbers(text + "\n" + "\n".join(items), lesson_metrics, inspect.getsource(module)) == []
    assert module.TITLE in experiments.report.build_report(results.out)
