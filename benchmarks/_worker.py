"""One benchmark row in a fresh process (started by ``_harness.measure``, not by hand).

Usage: ``python benchmarks/_worker.py [--engine PATH] module:function CONFIG_JSON``.
``module:function`` builds the row's case from the config (a dict). With ``--engine``
the ``jaxopt_lessons`` under ``PATH`` is imported instead of this checkout's. One CPU
device per core: ``_machine`` asks for them (``jl.use_cpu_cores``); a package that
predates ``use_cpu_cores`` (the old engine) gets ``config["devices"]`` from JAX directly.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str]) -> None:
    if argv[0] == "--engine":
        sys.path.insert(0, argv[1])
        argv = argv[2:]
    config = json.loads(argv[1])
    import jaxopt_lessons

    if hasattr(jaxopt_lessons, "use_cpu_cores"):
        import _machine  # noqa: F401  (one CPU device per core, before any JAX computation)
    else:
        import jax

        jax.config.update("jax_num_cpu_devices", int(config["devices"]))
    module, function = argv[0].split(":")
    from _harness import serve

    serve(getattr(importlib.import_module(module), function), config)


if __name__ == "__main__":
    main(sys.argv[1:])
