"""``results/REPORT.md``: the lessons as one readable, measured document.

The report is rebuilt from whatever ``<out>/<lesson>/metrics.json`` files exist, in the
order of :data:`experiments.LESSONS`, so running a subset of lessons keeps the sections of
the others. Each section has the lesson's title, what the seed notebook says, the lesson's
own ``report(metrics)`` markdown (tables, figures linked relative to the results folder)
and its run time; a closing section, *Where the lesson was wrong*, collects every lesson's
``corrections(metrics)``.
"""

from __future__ import annotations

import json
import math
import re
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import LESSONS
from ._layout import ERROR_FILE, FIGURE_SUFFIXES, METRICS_FILE, RUN_KEY, import_lesson

REPORT_FILE = "REPORT.md"

_INTRO = """\
# Calculus & optimization, measured

This report is written by `python -m experiments`. It walks through the seed lesson
*"Week 4, Day 2: Calculus & Optimization"* — derivatives, gradients, gradient descent,
learning rates, linear regression, backpropagation, XOR — and its practice exercise and
trend notes (Adam, modern optimizers, learning-rate finders, the edge of stability, LoRA,
scaling laws). Each section quotes what the lesson says, then shows what
`jaxopt_lessons` *measures*: derivatives by `jax.grad`, training by `fit`
(one compiled `lax.scan`), learning rates by `sweep` (hundreds of runs in one compiled
call), hand-derived gradients and hand-written update rules side by side with
`optax.sgd` and `optax.adam` from the same data and the same start.

Where the lesson asserts something the measurement contradicts, the section says so, and
the last section, [Where the lesson was wrong](#where-the-lesson-was-wrong), lists every
such correction with its number.

All lessons run in float64 (`jax_enable_x64`), like the seed's NumPy code, so the seed's
printed numbers are reproduced digit for digit. Figures are in each lesson's folder next
to its `metrics.json` (every number quoted here, machine-readable). Regenerate everything
with `python -m experiments`, or one lesson with `python -m experiments xor` (`--quick`
shrinks the sweeps; the report keeps the sections of lessons not re-run).
"""


def format_seconds(seconds: float) -> str:
    """``12.3 s`` or ``2 min 05 s``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower())


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _lesson_state(out: Path, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """(metrics or None, traceback of the last run if it failed after those metrics, or None)."""
    folder = out / name
    metrics_path, error_path = folder / METRICS_FILE, folder / ERROR_FILE
    metrics = _read_json(metrics_path) if metrics_path.exists() else None
    error = None
    if error_path.exists() and (
        metrics is None or error_path.stat().st_mtime >= metrics_path.stat().st_mtime
    ):
        error = error_path.read_text(encoding="utf-8", errors="replace")
    return metrics, error


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.strip().splitlines())


def _call(function: Any, *args: Any) -> tuple[Any, str | None]:
    try:
        return function(*args), None
    except Exception:  # a broken report function must not break the whole report
        return None, traceback.format_exc()


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n```\n{body.rstrip()}\n```\n\n</details>\n"


def _unlinked_figures(name: str, figures: Sequence[str], text: str) -> list[str]:
    return [figure for figure in figures if f"{name}/{figure}" not in text]


class _Lesson:
    """Everything the report needs about one lesson (module, metrics, last error)."""

    def __init__(self, out: Path, name: str, package: str) -> None:
        self.name = name
        self.metrics, self.error = _lesson_state(out, name)
        self.module, self.import_error = _call(import_lesson, name, package)
        self.title = getattr(self.module, "TITLE", None) or name.replace("_", " ").capitalize()
        self.seed_says = getattr(self.module, "SEED_SAYS", "")
        self.run = (self.metrics or {}).get(RUN_KEY, {})
        self.figures = [
            path.name
            for path in sorted((out / name).glob("*"))
            if path.suffix in FIGURE_SUFFIXES
        ] if (out / name).is_dir() else []

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        if self.metrics is None:
            return "not run"
        return "quick" if self.run.get("quick") else "ok"

    def lesson_metrics(self) -> dict[str, Any]:
        return {key: value for key, value in (self.metrics or {}).items() if key != RUN_KEY}

    def section(self, number: int) -> str:
        parts = [f'<a id="{_anchor(self.name)}"></a>\n\n## {number}. {self.title}\n']
        if self.seed_says:
            parts.append(f"{_quote('**The seed says:** ' + self.seed_says.strip())}\n")
        if self.import_error is not None and self.metrics is not None:
            parts.append(_details(f"the lesson module <code>{self.name}</code> could not be imported", self.import_error))
        if self.error is not None:
            when = "below are from an earlier run" if self.metrics is not None else "are not available"
            parts.append(f"**This lesson failed in its last run**; its results {when}.\n")
            parts.append(_details("traceback", self.error))
        if self.metrics is None:
            if self.error is None:
                parts.append(f"*Not run yet: `python -m experiments {self.name}`.*\n")
            return "\n".join(parts)
        body = ""
        if self.module is not None and hasattr(self.module, "report"):
            body, report_error = _call(self.module.report, self.lesson_metrics())
            if report_error is not None:
                parts.append(_details(f"<code>{self.name}.report</code> failed", report_error))
                body = ""
        if body:
            parts.append(str(body).strip() + "\n")
        extra = _unlinked_figures(self.name, self.figures, str(body or ""))
        if extra:
            parts.append("\n".join(f"![{figure}]({self.name}/{figure})" for figure in extra) + "\n")
        seconds = self.run.get("seconds")
        mode = "quick mode — reduced sweeps and steps" if self.run.get("quick") else "full run"
        timing = format_seconds(float(seconds)) if isinstance(seconds, (int, float)) else "?"
        parts.append(
            f"*Run time {timing} ({mode}, finished {self.run.get('finished', '?')}); "
            f"numbers in [`{self.name}/{METRICS_FILE}`]({self.name}/{METRICS_FILE}).*\n"
        )
        return "\n".join(parts)

    def corrections(self) -> tuple[list[str], str | None]:
        if self.metrics is None or self.module is None or not hasattr(self.module, "corrections"):
            return [], None
        items, error = _call(self.module.corrections, self.lesson_metrics())
        return [str(item) for item in (items or [])], error


def _table_of_contents(lessons: Sequence[_Lesson]) -> str:
    rows = ["| # | Lesson | Status | Run time | Figures |", "|---|---|---|---|---|"]
    for number, lesson in enumerate(lessons, 1):
        seconds = lesson.run.get("seconds")
        timing = format_seconds(float(seconds)) if isinstance(seconds, (int, float)) else "—"
        rows.append(
            f"| {number} | [{lesson.title}](#{_anchor(lesson.name)}) | {lesson.status} | {timing} | "
            f"{len(lesson.figures)} |"
        )
    rows.append("| | [Where the lesson was wrong](#where-the-lesson-was-wrong) | | | |")
    total = sum(
        float(lesson.run["seconds"])
        for lesson in lessons
        if isinstance(lesson.run.get("seconds"), (int, float))
    )
    return "## Contents\n\n" + "\n".join(rows) + f"\n\nTotal lesson time: {format_seconds(total)}.\n"


def _wrong_section(lessons: Sequence[_Lesson]) -> str:
    parts = ['<a id="where-the-lesson-was-wrong"></a>\n\n## Where the lesson was wrong\n']
    parts.append(
        "Each item is a claim of the seed lesson that the measurement above corrects, "
        "with the number that corrects it.\n"
    )
    found = False
    for lesson in lessons:
        items, error = lesson.corrections()
        if not items and error is None:
            continue
        found = True
        parts.append(f"### [{lesson.title}](#{_anchor(lesson.name)})\n")
        if items:
            parts.append("\n".join(f"- {item.strip()}" for item in items) + "\n")
        if error is not None:
            parts.append(_details(f"<code>{lesson.name}.corrections</code> failed", error))
    if not found:
        parts.append("*No corrections measured yet (no lesson with corrections has run).*\n")
    return "\n".join(parts)


def build_report(out: str | Path, *, lessons: Sequence[str] = LESSONS, package: str = "experiments") -> str:
    """The markdown of ``REPORT.md`` from the lesson folders present under ``out``.

    Args:
      out: the results folder.
      lessons: lesson names in report order.
      package: the package holding the lesson modules.

    Returns:
      The report text. Never raises because of a lesson: a lesson whose module, ``report`` or
      ``corrections`` fails gets its traceback in a collapsed block instead.
    """
    out = Path(out)
    entries = [_Lesson(out, name, package) for name in lessons]
    sections = [_INTRO, _table_of_contents(entries)]
    sections += [entry.section(number) for number, entry in enumerate(entries, 1)]
    sections.append(_wrong_section(entries))
    return "\n".join(section.rstrip() + "\n" for section in sections)


def write_report(out: str | Path, *, lessons: Sequence[str] = LESSONS, package: str = "experiments") -> Path:
    """Writes :func:`build_report` to ``<out>/REPORT.md`` atomically and returns its path."""
    from jaxopt_lessons.io import atomic_write_text

    return atomic_write_text(Path(out) / REPORT_FILE, build_report(out, lessons=lessons, package=package))
