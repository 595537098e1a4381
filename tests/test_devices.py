"""``jl.use_cpu_cores``: one CPU device per core, asked for before JAX's backend starts.

The device count is fixed once per process, so every check runs in a fresh subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import jaxopt_lessons as jl


def _run(code: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_use_cpu_cores_gives_that_many_devices_after_importing_every_module():
    """Importing the package and all its modules starts nothing, so the call still takes effect."""
    completed = _run("""
        import pkgutil, importlib
        import jaxopt_lessons as jl
        for module in pkgutil.walk_packages(jl.__path__, "jaxopt_lessons."):
            if module.name != "jaxopt_lessons.__main__":
                importlib.import_module(module.name)
        assert jl.use_cpu_cores(3) == 3
        import jax
        print(len(jax.devices()), [d.platform for d in jax.devices()])
    """)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split()[0] == "3"


def test_default_is_one_device_per_usable_core():
    completed = _run("""
        import jaxopt_lessons as jl
        n = jl.use_cpu_cores()
        import jax
        print(n, len(jax.devices()))
    """)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [str(len(os.sched_getaffinity(0)))] * 2


def test_after_a_computation_the_error_says_to_call_it_first():
    completed = _run("""
        import jax.numpy as jnp
        import jaxopt_lessons as jl
        float(jnp.ones(2).sum())
        try:
            jl.use_cpu_cores(2)
        except RuntimeError as error:
            print(type(error).__name__, "|", error)
        import jax
        print(len(jax.devices()))
    """)
    assert completed.returncode == 0, completed.stderr
    first, count = completed.stdout.strip().splitlines()
    assert first.startswith("BackendAlreadyStartedError |")
    assert "already started" in first and "first, before any JAX computation" in first
    assert count == "1"


@pytest.mark.parametrize("n, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError), ("2", TypeError)])
def test_bad_counts_are_rejected_before_touching_jax(n, error):
    with pytest.raises(error, match="n must be a positive int"):
        jl.use_cpu_cores(n)
