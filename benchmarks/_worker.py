"""One benchmark row in a fresh process (started by ``_harness.measure``, not by hand).

Usage: ``python benchmarks/_worker.py [--old-engine PATH] module:function CONFIG_JSON``.
``module:function`` builds the row's case from the config (a dict). With
``--old-engine`` the old checkout's ``jaxopt_lessons`` is imported instead of this
one, and the CPU device count is asked of JAX directly (the old package predates
``jl.use_cpu_cores``); otherwise ``_machine`` asks for one device per core.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str]) -> None:
    config_index = 1
    if argv[0] == "--old-engine":
        sys.path.insert(0, argv[1])
        argv = argv[2:]
        config = json.loads(argv[config_index])
        import jax

        jax.config.update("jax_num_cpu_devices", int(config["devices"]))
    else:
        import _machine  # noqa: F401  (one CPU device per core, before any JAX computation)

        config = json.loads(argv[config_index])
    module, function = argv[0].split(":")
    from _harness import serve

    serve(getattr(importlib.import_module(module), function), config)


if __name__ == "__main__":
    main(sys.argv[1:])
