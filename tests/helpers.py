"""Helpers shared by the test modules (``from helpers import ...``); fixtures live in ``conftest.py``.

* pytree comparison: :func:`tree_allclose` (a bool) and :func:`assert_tree_close` (with dtypes);
* bit-for-bit comparison of sweep results: :func:`assert_same_bits`, :func:`assert_same_sweep`;
* a progress bar that raises ``KeyboardInterrupt`` between chunks: :func:`interrupt_after`;
* a watch on XLA compilations: :func:`no_compilation` (with the ``compile_watch`` fixture);
* the lessons: :func:`experiments_package` and :func:`check_lesson_outputs`;
* :data:`REGRESSION_SWEEP`, the source of a small linear-regression sweep that fresh
  processes (several devices, several processes) run and this process repeats.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# --- pytrees -----------------------------------------------------------------------------


def tree_allclose(actual, expected, *, rtol: float = 1e-5, atol: float = 0.0) -> bool:
    """True when two pytrees have the same structure and allclose leaves of the same shapes."""
    if jax.tree_util.tree_structure(actual) != jax.tree_util.tree_structure(expected):
        return False
    return all(
        np.shape(a) == np.shape(b) and np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
        for a, b in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected))
    )


def assert_tree_close(actual, expected, rtol: float, atol: float = 0.0) -> None:
    """Same structure, and leaf by leaf the same dtype and shape and allclose values (with a message)."""
    assert jax.tree_util.tree_structure(actual) == jax.tree_util.tree_structure(expected)
    for a, e in zip(jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype and a.shape == e.shape, (a.dtype, e.dtype, a.shape, e.shape)
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


# --- bit for bit -------------------------------------------------------------------------

SWEEP_FIELDS = ("learning_rates", "seeds", "optimizers", "losses", "final_loss", "status", "diverged_at")
"""The per-lane arrays of a ``SweepResult`` that a saved or repeated sweep must reproduce."""


def assert_same_bits(a, b, what: str) -> None:
    """Equal dtype, shape and bytes for numbers; equal values for strings (their width may differ)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    if a.dtype.kind in "fiubc":
        assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
        assert a.tobytes() == b.tobytes(), f"{what}: {int(np.sum(a != b))} numbers differ bitwise"
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def assert_same_sweep(a, b, fields: tuple[str, ...] = SWEEP_FIELDS, *, params: bool = True) -> None:
    """Two ``SweepResult``: ``fields`` (and the final parameters' leaves) bit for bit."""
    for name in fields:
        assert_same_bits(getattr(a, name), getattr(b, name), name)
    if params:
        leaves_a, leaves_b = jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)
        assert len(leaves_a) == len(leaves_b) > 0
        for index, (x, y) in enumerate(zip(leaves_a, leaves_b)):
            assert_same_bits(x, y, f"params leaf {index}")


# --- child processes ---------------------------------------------------------------------


def fresh_process_environment() -> dict[str, str]:
    """This process's environment without the test run's shared compilation cache (see ``conftest``):
    a child that checks what a *fresh* process computes compiles every program itself."""
    environment = dict(os.environ)
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    return environment


# --- interrupts --------------------------------------------------------------------------


def interrupt_after(updates: int):
    """A stand-in for ``tqdm.auto.tqdm`` that raises ``KeyboardInterrupt`` at its ``updates``-th
    update: the public seam between chunks, where Ctrl-C stops a sweep (nothing is drawn)."""

    class Bar:
        def __init__(self, *args, disable=False, **kwargs):
            self.disable, self.n = disable, 0

        def update(self, n=1):
            self.n += 1
            if self.n == updates and not self.disable:
                raise KeyboardInterrupt

        def set_postfix(self, **kwargs):
            pass

        def set_description(self, text):
            pass

        def close(self):
            pass

    return Bar


# --- compilations ------------------------------------------------------------------------

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
compiles: list[str] = []
"""One entry per XLA compilation seen while the ``compile_watch`` fixture listens."""


def on_compile_event(name: str, duration: float, **kwargs) -> None:
    if name == COMPILE_EVENT:
        compiles.append(name)


@contextlib.contextmanager
def no_compilation():
    """Fails when XLA compiled anything inside the block (needs the ``compile_watch`` fixture)."""
    before = len(compiles)
    yield
    assert len(compiles) == before, "an XLA compilation ran before the bad input was rejected"


# --- lessons -----------------------------------------------------------------------------


def experiments_package():
    """The ``experiments`` package, which lives at the repository root, not in the package."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import experiments.report
    import experiments.runner

    return experiments


SLOW_LESSONS = frozenset({"xor", "deep_relu_adam", "modern_optimizers", "lr_finder", "edge_of_stability", "lora",
                          "scaling_laws", "momentum"})
"""Lessons whose quick run takes over ~3 s on 2 cores (compiled sweeps over 5 seeds): their tests are slow."""


def lesson_marks(name: str) -> list:
    """The marks of a test that reads lesson ``name``'s run: ``xdist_group(name)`` (under ``pytest -n``
    all of a lesson's tests go to one worker, which runs the lesson once), and ``slow`` for
    :data:`SLOW_LESSONS`."""
    return [pytest.mark.xdist_group(name), *([pytest.mark.slow] if name in SLOW_LESSONS else [])]


def lesson(name: str):
    """Decorator form of :func:`lesson_marks`."""

    def mark(test):
        for one in lesson_marks(name):
            test = one(test)
        return test

    return mark


def check_lesson_outputs(results, name: str, figures: list[str], *, require_corrections: bool = False) -> None:
    """A lesson's run wrote exactly ``figures`` (PNGs) and metrics, and its report links them all.

    Also: the report quotes no NaN, the lesson has a title and the seed's words, its
    corrections (required with ``require_corrections``) are non-empty strings, every number
    in report and corrections comes from the metrics (``experiments._audit``), and the
    combined REPORT.md includes the lesson's title.
    """
    experiments = experiments_package()
    from experiments._audit import unbacked_numbers

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
    assert unbacked_numbers(text + "\n" + "\n".join(items), lesson_metrics, inspect.getsource(module)) == []
    assert module.TITLE in experiments.report.build_report(results.out)


# --- a small sweep for fresh processes ---------------------------------------------------

REGRESSION_SWEEP = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, optax
    import jaxopt_lessons as jl

    def loss(params, x, y):
        return jl.mse(jl.linear(params, x), y)

    def init(key):
        k_w, k_b = jax.random.split(key)
        return {"w": 2.0 * jax.random.normal(k_w), "b": 2.0 * jax.random.normal(k_b)}

    data = jl.datasets.seed_linear_regression()
    x, y = jnp.asarray(data["x"], jnp.float32), jnp.asarray(data["y"], jnp.float32)
    LRS = [0.003, 0.03, 0.2, 0.31, 5.0]  # 3 seeds x 5 = 15 lanes: odd, so 2 devices need a padding lane
    OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam}

    def run(devices=None, lanes_last=None, learning_rates=LRS, args=(x, y), **kwargs):
        return jl.sweep(loss, init, OPTIMIZERS, learning_rates, steps=60, args=args, seeds=3, devices=devices,
                        lanes_last=lanes_last, **kwargs)
    """
)
"""Linear regression on the seed's data, SGD and Adam, 3 seeds x 5 rates, 60 steps: ``run(devices)``."""
