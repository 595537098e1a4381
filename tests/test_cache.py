"""The one cache for builders of compiled functions: hits, misses, LRU eviction and the
uncached fallback for unhashable arguments."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons._cache import cache_when_hashable


def _counting_builder(maxsize=2):
    calls = []

    @cache_when_hashable(maxsize=maxsize)
    def build(*args):
        """Builds a marker object for ``args``."""
        calls.append(args)
        return object()

    return build, calls


def test_same_hashable_arguments_hit_the_cache():
    build, calls = _counting_builder()
    first = build("loss", 3)
    assert build("loss", 3) is first
    assert calls == [("loss", 3)]
    assert build.cache_info().hits == 1 and build.cache_info().misses == 1


def test_new_arguments_miss_and_the_least_recent_entry_is_evicted():
    build, calls = _counting_builder(maxsize=2)
    a, b = build(1), build(2)
    assert a is not b and len(calls) == 2
    build(3)  # evicts (1,)
    assert build(2) is b and len(calls) == 3
    assert build(1) is not a and len(calls) == 4


def test_unhashable_arguments_build_afresh_without_error():
    build, calls = _counting_builder()
    first = build([1, 2])
    second = build([1, 2])
    assert first is not second and calls == [([1, 2],), ([1, 2],)]
    assert build.cache_info().currsize == 0


def test_wrapper_keeps_name_doc_and_the_bare_builder():
    build, calls = _counting_builder()
    assert build.__name__ == "build" and "marker" in build.__doc__
    build.__wrapped__(1)
    assert calls == [(1,)] and build.cache_info().misses == 0
    build(1)
    build.cache_clear()
    assert build.cache_info().currsize == 0


def test_errors_inside_the_builder_are_not_mistaken_for_unhashable_arguments():
    @cache_when_hashable()
    def build(x):
        raise TypeError("a bug in the builder")

    with pytest.raises(TypeError, match="a bug in the builder"):
        build(1)


class _UnhashableLoss:
    """A loss object with ``__eq__`` and no ``__hash__``."""

    __hash__ = None

    def __eq__(self, other):
        return isinstance(other, _UnhashableLoss)

    def __call__(self, x):
        return jnp.sum(x**2) + 10.0


def test_fit_sharpness_and_numerical_grad_accept_an_unhashable_loss():
    """Closed forms: GD on x^2 + 10 gives x_20 = 5 (1 - 2 lr)^20; f'' = 2; f'(5) = 10."""
    loss = _UnhashableLoss()
    trajectory = jl.fit(loss, jnp.array(5.0), optax.sgd(0.1), steps=20)
    assert float(trajectory.params) == pytest.approx(5.0 * 0.8**20, rel=1e-5)
    assert jl.sharpness(loss, jnp.array(5.0)) == pytest.approx(2.0, rel=1e-5)
    assert float(jl.numerical_grad(loss, jnp.array(5.0))) == pytest.approx(10.0, rel=1e-3)
    result = jl.lr_range_test(loss, jnp.ones(2), functools.partial(optax.sgd), steps=10)
    assert result.losses.shape == (10,)
