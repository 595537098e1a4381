"""Shared test helpers: keys, a float64 switch, one ``tree_allclose``."""

from __future__ import annotations

import os

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
