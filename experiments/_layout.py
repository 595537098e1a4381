"""The results folder: where a lesson's files go, shared by the runner (writes) and the report (reads).

``<out>/<lesson>/metrics.json`` holds the metrics a lesson's ``run`` returned, plus the
runner's own bookkeeping under :data:`RUN_KEY`; ``<out>/<lesson>/error.txt`` the
traceback of a failed run; figures sit next to them. Imports nothing heavy (no JAX), so
the runner can configure the environment first.
"""

from __future__ import annotations

import importlib
from typing import Any

METRICS_FILE = "metrics.json"
"""Name of the per-lesson metrics file the runner writes."""
ERROR_FILE = "error.txt"
"""Name of the per-lesson traceback file written when a lesson fails (removed on success)."""
RUN_KEY = "_run"
"""Key of the runner's own bookkeeping inside ``metrics.json`` (seconds, quick, figures)."""
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
"""File suffixes counted as a lesson's figures."""


def import_lesson(name: str, package: str = "experiments") -> Any:
    """Imports the lesson module ``<package>.<name>``."""
    return importlib.import_module(f"{package}.{name}")
