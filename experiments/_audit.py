"""Does every number in a lesson's report come from its metrics?

A lesson's ``report(metrics)`` and ``corrections(metrics)`` may only *format* what
``run`` measured. :func:`unbacked_numbers` lists the numbers of a report text that are
neither held by the metrics (to the precision they are printed with) nor written in the
lesson's own source (fixed prose such as "lesson 9", "x² + 10" or "0.25"). The lesson
tests call it on every lesson's report, so a number computed inside ``report`` (a ratio,
a difference, a count) or a number with no measurement behind it fails the suite.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator
from typing import Any

# A number as printed: optional sign (ASCII or the typographic minus), digits with optional
# thousands separators, decimals, exponent, percent. Not part of a word or identifier (x64, A1).
NUMBER = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?%?(?![\w,]\d|\w|\.\d)")


def _values(tree: Any) -> Iterator[float]:
    """Every number in a JSON-like tree (bools excluded), including numbers printed inside its strings."""
    if isinstance(tree, str):
        for token in NUMBER.findall(tree):
            yield _parse(token)[0]
        return
    if isinstance(tree, bool) or tree is None:
        return
    if isinstance(tree, (int, float)):
        yield float(tree)
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _values(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from _values(value)


def _parse(token: str) -> tuple[float, float]:
    """``(|value|, half a unit in the last printed place)`` of a printed number."""
    text = token.replace("−", "-").replace(",", "").lstrip("-")
    percent = text.endswith("%")
    text = text.rstrip("%")
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10.0 ** int(exponent) if exponent else 1.0
    value, half_unit = float(mantissa) * scale, 0.5 * 10.0**-decimals * scale
    if percent:
        value, half_unit = value / 100, half_unit / 100
    return value, half_unit


def unbacked_numbers(text: str, metrics: Any, source: str = "") -> list[str]:
    """The printed numbers of ``text`` that neither ``metrics`` nor ``source`` holds.

    A printed number is backed when some number ``v`` of ``metrics`` (nested dicts and
    lists, and numbers printed inside its strings, e.g. a stored report) rounds to it: ``abs(|v| - |printed|) <= half a unit in its last printed place``
    (percentages are read as fractions, thousands separators ignored). Numbers that
    appear verbatim in ``source`` (the lesson module's text) are fixed prose and backed too.

    Args:
      text: markdown produced by a lesson's ``report``/``corrections``.
      metrics: the lesson's metrics (as read back from ``metrics.json``).
      source: the lesson module's source code.

    Returns:
      The unbacked tokens, in order of appearance (empty when every number is backed).

    Examples:
      >>> unbacked_numbers("loss 0.0213 after 1,000 steps, 98.5% right", {"loss": 0.02131, "steps": 1000,
      ...                  "accuracy": 0.98512})
      []
      >>> unbacked_numbers("ratio 3.2", {"a": 1.0, "b": 3.0})
      ['3.2']
    """
    values = sorted({abs(v) for v in _values(metrics) if math.isfinite(v)})
    prose = set(NUMBER.findall(source))
    missing = []
    for token in NUMBER.findall(text):
        if token in prose or token.replace("−", "-") in prose:
            continue
        printed, half_unit = _parse(token)
        tolerance = half_unit * (1 + 1e-9) + 1e-300
        nearest = bisect.bisect_left(values, printed - tolerance)
        if nearest == len(values) or values[nearest] > printed + tolerance:
            missing.append(token)
    return missing


def audit_lesson(out: Any, name: str, package: str = "experiments") -> list[str]:
    """:func:`unbacked_numbers` of lesson ``name``'s report and corrections, from ``<out>/<name>/metrics.json``.

    The runner calls it after every successful lesson (a full run is checked too, not only
    the quick runs of the tests) and warns about what it returns.

    Returns:
      The unbacked tokens (empty when every number is backed or the lesson has no metrics).
    """
    import inspect
    import json
    from pathlib import Path

    from ._layout import METRICS_FILE, RUN_KEY, import_lesson

    path = Path(out) / name / METRICS_FILE
    if not path.exists():
        return []
    metrics = {key: value for key, value in json.loads(path.read_text(encoding="utf-8")).items() if key != RUN_KEY}
    module = import_lesson(name, package)
    text = module.report(metrics) if hasattr(module, "report") else ""
    text += "\n" + "\n".join(getattr(module, "corrections", lambda _: [])(metrics))
    return unbacked_numbers(text, metrics, inspect.getsource(module))
