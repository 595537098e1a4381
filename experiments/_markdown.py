"""Markdown pieces the lessons' ``report(metrics)`` functions build their sections from.

Tables, figure links and the small wording helpers that keep a number and its noun
together ("1 seed", "5 seeds") or a range readable ("0.8" rather than "0.8–0.8").
Nothing here computes a measurement: every number comes from a lesson's metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells are converted with ``str`` (``|`` escaped).

    Args:
      headers: column titles.
      rows: one sequence of cells per row, each as long as ``headers``.

    Raises:
      ValueError: a row whose length differs from ``headers``.

    Examples:
      >>> print(markdown_table(["a", "b"], [[1, "x"]]), end="")
      | a | b |
      |---|---|
      | 1 | x |
    """

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    for index, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"rows[{index}] has {len(row)} cells, expected {len(headers)}")
        lines.append("| " + " | ".join(cell(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def figure_link(lesson: str, filename: str, caption: str) -> str:
    """Markdown embedding ``<lesson>/<filename>`` (relative to the results folder) with a caption."""
    return f"\n![{caption}]({lesson}/{filename})\n\n*{caption}*\n\n"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 seed"``, ``"5 seeds"``: the count with the noun in the right number.

    Args:
      count: how many.
      noun: the singular noun.
      plural_form: the plural when it is not ``noun + "s"``.

    Examples:
      >>> plural(1, "seed"), plural(5, "seed"), plural(2, "run", "runs")
      ('1 seed', '5 seeds', '2 runs')
    """
    return f"{count:,} {noun if count == 1 else (plural_form or noun + 's')}"


def value_range(low: float, high: float, fmt: str = ".3g") -> str:
    """``"low–high"`` in format ``fmt``, or the single value when both print the same.

    Examples:
      >>> value_range(0.8, 0.8, ".6f"), value_range(0.1, 0.25)
      ('0.800000', '0.1–0.25')
    """
    first, second = format(low, fmt), format(high, fmt)
    return first if first == second else f"{first}–{second}"


def median_range(median: float, low: float, high: float, fmt: str = ".3g") -> str:
    """A median with its spread across seeds, ``"0.021 (0.018–0.030)"``; just the value when all print alike.

    Examples:
      >>> median_range(0.0213, 0.018, 0.0301), median_range(7.5, 7.5, 7.5)
      ('0.0213 (0.018–0.0301)', '7.5')
    """
    middle, spread = format(median, fmt), value_range(low, high, fmt)
    return middle if spread == middle else f"{middle} ({spread})"


def join_words(words: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``.

    Examples:
      >>> join_words(["Lion"]), join_words(["Lion", "SGD"]), join_words(["Lion", "momentum", "SGD"])
      ('Lion', 'Lion and SGD', 'Lion, momentum and SGD')
    """
    words = [str(word) for word in words]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""


def edge_note(names: Sequence[str], what: str = "the best rate") -> str:
    """``" For a and b the best rate is at an edge of the grid: ..."`` (empty without names).

    A best learning rate at the grid's smallest or largest value may not be the optimum;
    lessons say so next to the number.

    Examples:
      >>> edge_note(["SGD"])
      ' For SGD the best rate is at an edge of the grid: a rate beyond it might do better.'
    """
    if not names:
        return ""
    return f" For {join_words(names)} {what} is at an edge of the grid: a rate beyond it might do better."
