"""What every benchmark needs before and after importing JAX.

Importing this module asks JAX for one CPU device per usable core
(:func:`jaxopt_lessons.use_cpu_cores`), so it must be imported before any JAX
computation.
"""

from __future__ import annotations

import os
import platform
import resource

import jaxopt_lessons as jl

N_DEVICES = jl.use_cpu_cores()


def max_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine_description() -> str:
    """CPU model, cores, memory and library versions, as one markdown line."""
    import jax
    import jaxlib
    import numpy as np
    import optax

    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f"{memory_gib:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        memory = "RAM unknown"
    return (f"{model}, {N_DEVICES} cores available, {memory}; {platform.system()} {platform.machine()}; "
            f"Python {platform.python_version()}, jax {jax.__version__}, jaxlib {jaxlib.__version__}, "
            f"optax {optax.__version__}, NumPy {np.__version__}; "
            f"jax_num_cpu_devices={jax.config.jax_num_cpu_devices}")
