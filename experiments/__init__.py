"""The lessons of the seed notebook as runnable, measured experiments.

Run ``python -m experiments [NAMES...] [--quick] [--out results]`` from the repository root.
Each lesson is a module here with a module docstring (what it teaches) and:

* ``TITLE: str`` — the section title in the report;
* ``SEED_SAYS: str`` — what the seed lesson claims (markdown, one paragraph);
* ``run(out_dir: pathlib.Path, quick: bool) -> dict`` — computes with ``jaxopt_lessons``
  (``fit``, ``sweep``, ...), saves its figures into ``out_dir`` with
  ``jaxopt_lessons.plots.save_figure`` and returns JSON-able metrics (the runner writes
  ``metrics.json``);
* ``report(metrics: dict) -> str`` — the measured part of the report section in markdown
  (tables, figure links relative to the results folder, e.g. ``derivatives/tangent.png``);
* ``corrections(metrics: dict) -> list[str]`` (optional) — each claim of the seed that the
  measurement corrects, one markdown sentence with the number.

``report`` and ``corrections`` only format what ``run`` measured: every number they print is
in the metrics (the lesson tests check it with :mod:`experiments._audit`). A claim that
compares methods rests on several random starts (``_common.SEEDS``) and quotes the median with
the lowest–highest (:mod:`experiments._stats`), or says "one start" next to the number. Long
lessons print their steps on stderr (``_common.say``).

Helpers (not lessons): ``_markdown`` (tables, figure links, wording), ``_stats`` (seed
statistics from a ``SweepResult``), ``_problems`` (set-ups shared by several lessons),
``_common`` (dtype, input checks, progress), ``_audit``, ``_layout`` (the results folder),
``runner`` and ``report`` (the runner imports the report, never the reverse).
"""

LESSONS: tuple[str, ...] = (
    "derivatives",
    "gradients",
    "gradient_descent",
    "learning_rates",
    "linear_regression",
    "backprop",
    "xor",
    "deep_relu_adam",
    "modern_optimizers",
    "lr_finder",
    "edge_of_stability",
    "lora",
    "scaling_laws",
    "momentum",
)
"""Lesson module names in report order."""
