"""CPU devices: one XLA device per usable core, asked for in one place.

On a machine without an accelerator JAX starts with a single CPU device, so a sweep
sharded over ``jax.devices()`` runs on one core. :func:`use_cpu_cores` asks JAX for one
CPU device per core (``jax.config.update("jax_num_cpu_devices", n)``); JAX reads that
setting once, when its backend starts (the first computation or ``jax.devices()``), so a
script calls it first::

    import jaxopt_lessons as jl

    jl.use_cpu_cores()          # before any JAX computation
    import jax
    print(jax.devices())        # one CpuDevice per core

Entry points (the command line, the lessons, the benchmarks) call it; the library's
other modules never change the device count.
"""

from __future__ import annotations

import os

__all__ = ["BackendAlreadyStartedError", "usable_cores", "use_cpu_cores"]


class BackendAlreadyStartedError(RuntimeError):
    """JAX's backend has started, so the number of CPU devices can no longer change."""


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity mask where the OS has one, else ``os.cpu_count()``."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def use_cpu_cores(n: int | None = None) -> int:
    """Asks JAX for ``n`` CPU devices (default: one per usable core), before its backend starts.

    Sets ``jax.config.update("jax_num_cpu_devices", n)``, which takes precedence over
    ``XLA_FLAGS=--xla_force_host_platform_device_count``. It does not start the backend
    itself. Only the CPU platform is affected: on a machine with a GPU, ``jax.devices()``
    still lists the GPUs (the CPU devices are ``jax.devices("cpu")``).

    Args:
      n: the number of CPU devices, a positive int; ``None`` for :func:`usable_cores`.

    Returns:
      The number of CPU devices asked for.

    Raises:
      TypeError, ValueError: if ``n`` is not a positive int.
      BackendAlreadyStartedError: (a ``RuntimeError``) if JAX's backend has already
        started with another CPU device count: the call could not take effect. Call
        ``use_cpu_cores`` first, before any JAX computation (creating an array,
        ``jax.devices()``, a jitted call).

    Examples:
      >>> import jaxopt_lessons as jl
      >>> jl.use_cpu_cores(2)  # doctest: +SKIP
      2
    """
    if n is None:
        n = usable_cores()
    elif isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a positive int or None (one device per usable core), got {n!r}")
    elif n < 1:
        raise ValueError(f"n must be a positive int or None (one device per usable core), got {n}")
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as error:  # JAX refuses once its backend has started
        raise BackendAlreadyStartedError(
            f"use_cpu_cores({n}) cannot take effect: JAX's backend has already started, and its "
            "number of CPU devices is fixed from then on. Call jaxopt_lessons.use_cpu_cores() first, "
            "before any JAX computation (creating an array, jax.devices(), a jitted call)."
        ) from error
    return n
