"""The experiments runner and REPORT.md: failures isolated, files atomic, partial runs merged."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `experiments` lives at the repository root, not in the package
    sys.path.insert(0, str(REPO))

from experiments import LESSONS, _markdown, report, runner  # noqa: E402

GOOD = '''
"""A lesson that works."""
import numpy as np
from matplotlib.figure import Figure
import jaxopt_lessons as jl

TITLE = "The {name} lesson"
SEED_SAYS = "The seed says {name} is easy."

def run(out_dir, quick):
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    jl.plots.save_figure(fig, out_dir / "curve.png")
    return {{"value": np.float64(1.5), "array": np.arange(3), "quick": quick, "nan": float("nan")}}

def report(metrics):
    return "measured value {{}} ![curve]({name}/curve.png)".format(metrics["value"])

def corrections(metrics):
    return ["{name} was wrong by {{}}".format(metrics["value"])]
'''

BAD = '''
"""A lesson that fails."""
TITLE = "The broken lesson"
SEED_SAYS = "Nothing can go wrong."

def run(out_dir, quick):
    raise RuntimeError("boom in {name}")

def report(metrics):
    return "earlier result " + str(metrics["value"])
'''


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A throwaway lesson package: ``first`` and ``third`` work, ``second`` raises."""
    name = f"fake_lessons_{uuid.uuid4().hex[:8]}"
    package = tmp_path / "pkg" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text(GOOD.format(name="first"))
    (package / "second.py").write_text(BAD.format(name="second"))
    (package / "third.py").write_text(GOOD.format(name="third"))
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    return name


LESSON_NAMES = ("first", "second", "third")


def run_main(args, package, capsys=None):
    return runner.main([str(a) for a in args], lessons=LESSON_NAMES, package=package)


def test_unknown_lesson_exits_2_and_lists_valid_names(capsys):
    assert runner.main(["derivatives", "no_such_lesson"]) == 2
    err = capsys.readouterr().err
    assert "no_such_lesson" in err
    assert all(name in err for name in LESSONS)


def test_unknown_lesson_exits_2_from_the_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "experiments", "not_a_lesson", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "valid lessons" in result.stderr and "derivatives" in result.stderr
    assert not (tmp_path / "REPORT.md").exists()


def test_failing_lesson_does_not_stop_or_erase_others(fake_package, tmp_path, capsys):
    out = tmp_path / "results"
    # An earlier successful run of the failing lesson left results: they must survive.
    (out / "second").mkdir(parents=True)
    (out / "second" / "metrics.json").write_text(json.dumps({"value": 7, "_run": {"seconds": 1.0}}))
    code = run_main(["--out", out], fake_package)
    captured = capsys.readouterr()
    assert code == 1
    assert "boom in second" in captured.err  # the traceback is shown
    assert "first" in captured.out and "third" in captured.out and "Total" in captured.out
    for name in ("first", "third"):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert metrics["value"] == 1.5 and metrics["array"] == [0, 1, 2]
        assert math.isnan(metrics["nan"])
        assert metrics["_run"]["figures"] == ["curve.png"] and metrics["_run"]["quick"] is False
        assert (out / name / "curve.png").stat().st_size > 0
    assert json.loads((out / "second" / "metrics.json").read_text())["value"] == 7
    assert "boom in second" in (out / "second" / "error.txt").read_text()

    text = (out / "REPORT.md").read_text()
    positions = [text.index(f"The {name} lesson") for name in ("first", "third")]
    assert positions == sorted(positions)
    assert "The broken lesson" in text and "failed in its last run" in text
    assert "results below are from an earlier run" in text and "earlier result 7" in text
    assert "RuntimeError: boom in second" in text
    assert "measured value 1.5" in text and "first/curve.png" in text
    assert "The seed says first is easy." in text
    wrong = text[text.index("## Where the lesson was wrong"):]
    assert "first was wrong by 1.5" in wrong and "third was wrong by 1.5" in wrong
    # Every table-of-contents link points at an anchor that exists.
    for anchor in ("first", "second", "third", "where-the-lesson-was-wrong"):
        assert f"](#{anchor})" in text and f'<a id="{anchor}"></a>' in text


def test_success_removes_stale_error_and_quick_flag_is_recorded(fake_package, tmp_path):
    out = tmp_path / "results"
    (out / "first").mkdir(parents=True)
    (out / "first" / "error.txt").write_text("old failure")
    assert run_main(["first", "--quick", "--out", out], fake_package) == 0
    assert not (out / "first" / "error.txt").exists()
    assert json.loads((out / "first" / "metrics.json").read_text())["quick"] is True
    assert "quick mode" in (out / "REPORT.md").read_text()


def test_subset_runs_keep_earlier_sections(fake_package, tmp_path):
    out = tmp_path / "results"
    assert run_main(["first", "--out", out], fake_package) == 0
    text = (out / "REPORT.md").read_text()
    assert "measured value" in text and "Not run yet" in text  # third not run yet
    assert run_main(["third", "--out", out], fake_package) == 0
    text = (out / "REPORT.md").read_text()
    assert text.count("measured value 1.5") == 2  # first's section is still there
    assert "Not run yet" in text  # second never ran


def test_metrics_are_json_safe_and_written_atomically(fake_package, tmp_path, monkeypatch):
    out = tmp_path / "results"
    assert runner.run_lesson("first", out, quick=False, package=fake_package).ok
    before = (out / "first" / "metrics.json").read_bytes()
    module = runner.import_lesson("first", fake_package)
    monkeypatch.setattr(module, "run", lambda out_dir, quick: {"bad": object()})
    outcome = runner.run_lesson("first", out, quick=False, package=fake_package)
    assert not outcome.ok and "no JSON form" in outcome.error
    assert (out / "first" / "metrics.json").read_bytes() == before  # old file untouched
    assert sorted(p.name for p in (out / "first").iterdir()) == ["curve.png", "error.txt", "metrics.json"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.float32(0.5), 0.5),
        (jnp.arange(3.0), [0.0, 1.0, 2.0]),
        (np.array([[1, 2]], dtype=np.int32), [[1, 2]]),
        (np.bool_(True), True),
        ({1: (2, 3)}, {"1": [2, 3]}),
        (Path("a/b.png"), "a/b.png"),
        (float("inf"), math.inf),
    ],
)
def test_to_jsonable(value, expected):
    converted = runner.to_jsonable(value)
    assert converted == expected
    json.dumps(converted)  # plain JSON types only


def test_to_jsonable_keeps_nan():
    converted = runner.to_jsonable(jnp.array([jnp.nan, 1.0]))
    assert math.isnan(converted[0]) and converted[1] == 1.0


def test_configure_environment_uses_cpu_cores_unless_the_user_set_a_count(monkeypatch):
    import jaxopt_lessons as jl

    calls = []
    monkeypatch.setattr(jl, "use_cpu_cores", lambda n=None: calls.append(n) or 3)
    env = {}
    assert runner.configure_environment(env) == 3
    assert calls == [None]  # one device per usable core, through the one place that sets it
    assert env == {"MPLBACKEND": "Agg"}  # XLA_FLAGS is not edited
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --other", "MPLBACKEND": "pdf"}
    assert runner.configure_environment(env) is None
    assert calls == [None]  # the user's count is kept
    assert env == {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --other", "MPLBACKEND": "pdf"}


def test_configure_environment_after_jax_started_keeps_the_devices():
    import jax

    before = jax.device_count()  # starts the backend
    if runner.host_core_count() == before:
        pytest.skip("the backend already has one device per core: nothing to refuse")
    assert runner.configure_environment({}) is None
    assert jax.device_count() == before


def test_report_on_an_empty_folder_lists_every_lesson(tmp_path):
    text = report.build_report(tmp_path)
    assert text.count("Not run yet") == len(LESSONS)
    assert "## Where the lesson was wrong" in text


def test_markdown_table_rejects_ragged_rows():
    assert _markdown.markdown_table(["a", "b"], [[1, "x|y"]]) == "| a | b |\n|---|---|\n| 1 | x\\|y |\n"
    with pytest.raises(ValueError, match="rows\\[0\\]"):
        _markdown.markdown_table(["a", "b"], [[1]])


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda: _markdown.plural(1, "seed"), "1 seed"),
        (lambda: _markdown.plural(5, "seed"), "5 seeds"),
        (lambda: _markdown.plural(0, "seed"), "0 seeds"),
        (lambda: _markdown.value_range(0.8, 0.8000000001, ".6f"), "0.800000"),
        (lambda: _markdown.value_range(0.1, 0.25), "0.1–0.25"),
        (lambda: _markdown.median_range(2.0, 1.0, 3.0), "2 (1–3)"),
    ],
)
def test_wording_helpers(call, expected):
    assert call() == expected


def test_runner_imports_report_never_the_reverse():
    import ast

    def imported(module):
        tree = ast.parse((REPO / "experiments" / f"{module}.py").read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names.add(node.module or "")
                names.update(alias.name for alias in node.names if node.module in (None, ""))
        return names

    assert "report" in imported("runner")
    assert not {"runner", "experiments.runner"} & imported("report")


def test_main_module_sets_environment_before_jax():
    source = (REPO / "experiments" / "__main__.py").read_text()
    assert source.index("configure_environment()") < source.index("import jax")
    code = textwrap.dedent(
        """
        import os, sys
        os.environ.pop("XLA_FLAGS", None)
        import experiments.runner as r
        r.configure_environment()
        import jax
        print(jax.device_count(), r.host_core_count())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env=env, timeout=120)
    devices, cores = result.stdout.split()
    assert devices == cores


def test_ctrl_c_stops_but_keeps_finished_lessons_and_report(fake_package, tmp_path, monkeypatch):
    out = tmp_path / "results"

    def interrupted(out_dir, quick):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.import_lesson("third", fake_package), "run", interrupted)
    assert run_main(["first", "third", "--out", out], fake_package) == 130
    assert (out / "first" / "metrics.json").exists()
    assert not (out / "third" / "metrics.json").exists()
    assert "measured value 1.5" in (out / "REPORT.md").read_text()


@pytest.mark.parametrize(
    "text, metrics, source, unbacked",
    [
        ("loss 0.0213 after 1,000 steps, 98.5% right", {"loss": 0.02131, "steps": 1000, "acc": 0.98512}, "", []),
        ("ratio 3.2", {"a": 1.0, "b": 3.0}, "", ["3.2"]),  # a number computed in report(): not in the metrics
        ("loss 0.0214", {"loss": 0.02131}, "", ["0.0214"]),  # rounds differently: a different number
        ("see lesson 9, x² + 10", {}, 'text = "see lesson 9, x² + 10"', []),  # fixed prose in the source
        ("slope −2.5 and 1.2e-03", {"slope": -2.5, "tiny": 0.0012}, "", []),
        ("the report says 0.5", {"report": "a table with 0.5 in it"}, "", []),  # a stored text holds it
    ],
)
def test_unbacked_numbers(text, metrics, source, unbacked):
    from experiments._audit import unbacked_numbers

    assert unbacked_numbers(text, metrics, source) == unbacked


def test_every_lesson_report_number_comes_from_its_metrics_can_fail(tmp_path):
    """A lesson whose report invents a number is caught by the audit the lesson tests run."""
    from experiments._audit import unbacked_numbers

    metrics = {"w": 2.9412, "ls": 2.9642}
    honest = "w = {w:.3f} against {ls:.3f}".format(**metrics)
    invented = honest + ", {:.3f} short".format(metrics["ls"] - metrics["w"])
    assert unbacked_numbers(honest, metrics) == []
    assert unbacked_numbers(invented, metrics) == ["0.023"]


def test_lesson_progress_lines_go_to_stderr(capsys):
    from experiments import _common

    _common.say("sweep: 5 optimizers x 5 starts")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == "sweep: 5 optimizers x 5 starts"
    assert _common.show_progress() is False  # no progress bar when stderr is not a terminal (tests, logs)


def test_runner_warns_when_a_report_prints_a_number_its_metrics_lack(fake_package, tmp_path, capsys):
    out = tmp_path / "results"
    assert run_main(["first", "--out", out], fake_package) == 0
    assert "warning" not in capsys.readouterr().err  # "measured value 1.5": 1.5 is in the metrics
    module = runner.import_lesson("first", fake_package)
    module.report = lambda metrics: "measured value 2.75"  # a number run() never returned
    assert run_main(["first", "--out", out], fake_package) == 0
    assert "warning: first's report prints numbers its metrics.json does not hold: 2.75" in capsys.readouterr().err
