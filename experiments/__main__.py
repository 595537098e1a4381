"""``python -m experiments [NAMES...] [--quick] [--out results]``: run the lessons, write REPORT.md.

The environment (one CPU device per core through ``jaxopt_lessons.use_cpu_cores``, the
Agg matplotlib backend) is set before JAX computes anything or matplotlib is imported, and float64 is switched on for the whole
process (each lesson also runs inside ``jax.enable_x64(True)``, so calling
:func:`experiments.runner.run_lesson` from Python gives the same numbers); see
:mod:`experiments.runner`.
"""

from experiments.runner import configure_environment

configure_environment()

import jax  # noqa: E402  (after the environment is set)

from experiments.runner import main  # noqa: E402

if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    raise SystemExit(main())
