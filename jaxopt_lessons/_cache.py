"""One cache for builders of compiled functions.

``fit``, the power iteration, the range test and the finite differences each build a
``jax.jit`` program from the user's functions (``loss_fn``, ``grad_fn``, an optimizer)
and a few settings. Building it again for the same arguments would recompile, so the
builder is cached on its arguments; a user's function that cannot be hashed (a
``functools.partial`` of a list, an object with ``__eq__`` but no ``__hash__``) still
works, built afresh on each call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

Builder = TypeVar("Builder", bound=Callable[..., Any])


def cache_when_hashable(maxsize: int = 32) -> Callable[[Builder], Builder]:
    """Caches ``build(*args)`` by its arguments (LRU, ``maxsize`` entries) when they are hashable.

    Unhashable arguments are not an error: the builder runs uncached. The wrapper keeps
    ``cache_info()`` and ``cache_clear()`` of :func:`functools.lru_cache` and the bare
    builder as ``__wrapped__``.

    Args:
      maxsize: how many built functions to keep.

    Examples:
      >>> @cache_when_hashable(maxsize=4)
      ... def build(scale):
      ...     return lambda x: scale * x
      >>> build(2) is build(2), build([2]) is build([2])
      (True, False)
    """

    def decorate(build: Builder) -> Builder:
        cached = functools.lru_cache(maxsize=maxsize)(build)

        @functools.wraps(build)
        def get(*args: Any) -> Any:
            try:
                hash(args)
            except TypeError:  # e.g. a user's unhashable callable: build without caching
                return build(*args)
            return cached(*args)

        get.cache_info = cached.cache_info  # type: ignore[attr-defined]
        get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return get  # type: ignore[return-value]

    return decorate
