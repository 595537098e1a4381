"""Shared fixtures: keys, a float64 switch, a compile watch, the lessons' results (helpers: ``helpers.py``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# One compilation cache for this test run, shared by the xdist workers and the child processes
# they start (the environment is inherited): the many programs that several processes compile
# alike (the CLI's, the two-process runs', fresh-process checks') compile once. The folder is new
# for every run (made by the first process, pytest itself, and removed at its end), so nothing
# carries over from one run to the next; a JAX_COMPILATION_CACHE_DIR of your own is left alone.
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ  # this process makes (and removes) it
if _OWN_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxopt-lessons-tests-")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402  (after the environment above)
import pytest  # noqa: E402
from helpers import experiments_package, on_compile_event  # noqa: E402


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


@pytest.fixture(scope="module")
def compile_watch():
    """Counts XLA compilations in ``helpers.compiles`` while the module's tests run (see ``no_compilation``)."""
    jax.monitoring.register_event_duration_secs_listener(on_compile_event)
    yield
    jax.monitoring.unregister_event_duration_listener(on_compile_event)


@pytest.fixture(scope="session")
def results(tmp_path_factory):
    """``results(name)`` -> the lesson's metrics.json, running the lesson (quick) on first use.

    Session-scoped: each lesson runs once per test process, into one folder (``results.out``),
    exactly as ``python -m experiments --quick`` runs it. A lesson's tests carry the mark
    ``xdist_group(name)`` so that ``pytest -n`` sends them all to the same worker.
    """
    runner = experiments_package().runner
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


def pytest_sessionfinish(session, exitstatus):
    """The run's compilation cache goes with the run (removed by the process that made it)."""
    if _OWN_CACHE:
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
