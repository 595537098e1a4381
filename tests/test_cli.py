"""The ``jaxopt-lessons`` command line: exit codes, output lines, files, bad arguments.

In-process through ``main([...])`` (capsys) and once through the installed console
script in a fresh process, which is where the CPU device count can take effect.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons import cli

LANE_LINE = re.compile(r"^lr=(\S+)  seed=(\S+)  final_loss=(\S+)  status=(\w+)$")


def _lane_lines(text: str) -> list[tuple[float, str, float, str]]:
    return [
        (float(m[1]), m[2], float(m[3]), m[4])
        for m in (LANE_LINE.match(line) for line in text.splitlines())
        if m
    ]


def _value_after(text: str, label: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(label))
    return float(re.search(r"(?:lr=|: )([0-9.e+-]+|inf)", line[len(label) :]).group(1))


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.01:1:3", np.geomspace(0.01, 1, 3)),
        ("1e-4:10:6", np.geomspace(1e-4, 10, 6)),
        ("0.1,0.5,1.05", [0.1, 0.5, 1.05]),
        ("0.5", [0.5]),
        ("0.2:0.2:1", [0.2]),
    ],
)
def test_lr_specs_parse_to_log_spaced_values_with_exact_ends(text, expected):
    values = cli.parse_learning_rates(text)
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    if ":" in text:
        low, high = (float(part) for part in text.split(":")[:2])
        assert values[0] == low and values[-1] == high


BAD_ARGUMENTS = [
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "1:2"], "--lr"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "a:b:3"], "--lr"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0:1:3"], "--lr"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "1:0.1:3"], "LO must be < HI"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1:1:0"], "positive integer"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "-1,0.5"], "> 0"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "nan"], "finite"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", ""], "--lr"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--steps", "-5"], "--steps"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--steps", "0"], "--steps"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--seeds", "2"], "--seeds"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--devices", "999"], "--devices"),
    (["sweep", "quadratic", "--optimizer", "rmsprop", "--lr", "0.1"], "hand-adam"),
    (["sweep", "mnist", "--optimizer", "sgd", "--lr", "0.1"], "linear-regression"),
    (["sweep", "quadratic", "--lr", "0.1"], "--optimizer"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--bogus"], "--bogus"),
    (["frobnicate"], "frobnicate"),
    ([], "command"),
]


@pytest.mark.parametrize("argv, mentions", BAD_ARGUMENTS)
def test_bad_arguments_give_one_line_and_exit_code_2(argv, mentions, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("jaxopt-lessons: error:") and mentions in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_help_and_version_exit_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "sweep" in capsys.readouterr().out
    assert cli.main(["sweep", "--help"]) == 0
    assert "LO:HI:N" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jaxopt-lessons {jl.__version__}"


@pytest.mark.parametrize("argv", [["--help"], ["sweep", "--help"], ["problems"], ["--version"]])
def test_help_and_listings_do_not_import_jax(argv):
    """A fresh process: ``--help``, ``sweep --help`` and ``problems`` never import JAX (they
    take a tenth of a second instead of seconds)."""
    code = (
        "import sys\nfrom jaxopt_lessons.cli import main\n"
        f"status = main({argv!r})\n"
        "print('jax imported:', 'jax' in sys.modules, 'status:', status)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "jax imported: False status: 0"


def test_sweep_help_lists_every_problem_with_its_default_steps(capsys):
    assert cli.main(["sweep", "--help"]) == 0
    text = capsys.readouterr().out
    for name in jl.problems.PROBLEMS:
        steps = jl.problems.get_problem(name).default_steps
        assert re.search(rf"^  {re.escape(name)} +{steps} steps", text, re.MULTILINE), name


def test_python_dash_m_runs_the_cli(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["jaxopt_lessons", "problems"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("jaxopt_lessons", run_name="__main__")
    assert exit_.value.code == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(jl.problems.PROBLEMS)


def test_optimizer_names_map_to_optax_and_hand_twins():
    import optax

    assert cli.optimizer_factory("adam") is optax.adam
    assert cli.optimizer_factory("hand-lion") is jl.optim.lion
    momentum = cli.optimizer_factory("nesterov")
    assert momentum.func is optax.sgd and momentum.keywords == {"momentum": 0.9, "nesterov": True}
    with pytest.raises(ValueError, match="hand-sgd"):
        cli.optimizer_factory("hand-rmsprop")


@pytest.mark.parametrize("name", list(jl.optim.OPTIMIZERS))
def test_cli_names_come_from_the_optimizer_registry_and_its_twins_agree(name):
    """``--optimizer`` accepts the registry's names and ``hand-<name>``; the optax and hand
    factories of each name give the same updates (optax is the oracle)."""
    import jax.numpy as jnp

    assert name in cli.OPTIMIZERS and f"hand-{name}" in cli.OPTIMIZERS
    assert cli.optimizer_factory(name) is jl.optim.factory(name)
    assert cli.optimizer_factory(f"hand-{name}") is jl.optim.factory(name, hand=True)
    params = jnp.array([1.5, -2.0, 0.5])
    reference, hand = jl.optim.factory(name)(0.05), jl.optim.factory(name, hand=True)(0.05)
    reference_state, hand_state = reference.init(params), hand.init(params)
    for _ in range(5):
        gradient = 2 * params * jnp.array([1.0, 3.0, 0.5])
        expected, reference_state = reference.update(gradient, reference_state, params)
        updates, hand_state = hand.update(gradient, hand_state, params)
        np.testing.assert_allclose(updates, expected, rtol=1e-5, atol=1e-7)
        params = params + expected
    assert set(cli.OPTIMIZERS) == {*jl.optim.OPTIMIZERS, *(f"hand-{n}" for n in jl.optim.OPTIMIZERS)}


def test_registry_rejects_unknown_names_listing_the_valid_ones():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'.*'sgd'.*'lion'"):
        jl.optim.factory("rmsprop")


# --------------------------------------------------------------------------- sweeps


def test_sweep_prints_lanes_best_and_curvature_bound_and_writes_json(tmp_path, capsys):
    """The seed's parabola: each printed final loss equals an independent NumPy GD run;
    the best LR is the lowest non-diverged final loss; the bound is 2/f'' = 1."""
    rates = [0.001, 0.1, 0.5, 1.0, 1.05]
    out = tmp_path / "runs" / "quadratic.json"
    environ_before = dict(os.environ)
    status = cli.main(["sweep", "quadratic", "--optimizer", "sgd", "--lr", ",".join(map(str, rates)),
                       "--steps", "50", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert dict(os.environ) == environ_before  # the environment is left alone
    lanes = _lane_lines(captured.out)
    assert [lane[0] for lane in lanes] == pytest.approx(rates)
    assert {lane[1] for lane in lanes} == {"-"}
    assert [lane[3] for lane in lanes] == ["slow", "converged", "converged", "oscillating", "diverged"]
    for lr, _, final, state in lanes:
        if state != "diverged":
            x = 5.0 * (1 - 2 * lr) ** 50
            assert final == pytest.approx(x * x + 10, rel=1e-4)
    finals = {lr: final for lr, _, final, state in lanes if state != "diverged"}
    assert finals[_value_after(captured.out, "best:")] == min(finals.values())
    assert _value_after(captured.out, "max_stable_lr") == pytest.approx(1.0, rel=1e-3)

    # --out: complete JSON written by rename (no temporary file left), and it reads back.
    assert [path.name for path in out.parent.iterdir()] == ["quadratic.json"]
    assert json.loads(out.read_text())["format"] == "jaxopt_lessons.SweepResult"
    loaded = jl.SweepResult.from_json(out)
    np.testing.assert_array_equal(loaded.status, [lane[3] for lane in lanes])


def test_plot_png_is_written(tmp_path, capsys):
    plot = tmp_path / "sweep.png"
    status = cli.main(["sweep", "quadratic", "--optimizer", "sgd,momentum", "--lr", "0.01:1.5:6",
                       "--steps", "50", "--plot", str(plot)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(plot)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas
    lines = captured.out.splitlines()
    assert sum(line.startswith("optimizer=") for line in lines) == 12
    # Heavy-ball momentum 0.9 is stable up to 2(1 + 0.9)/lambda_max = 1.9 on x^2 + 10 (f'' = 2):
    # the bound is printed, and the momentum lane at lr 1.5 (above plain GD's 1.0) did not diverge.
    assert _value_after(captured.out, "  momentum bound") == pytest.approx(1.9, rel=1e-3)
    lane = next(line for line in lines if line.startswith("optimizer=momentum") and "lr=1.5000e+00" in line)
    assert "diverged" not in lane


def test_installed_console_script_sees_one_device_per_core(tmp_path):
    """A fresh process: the CLI asks for one CPU device per core before JAX starts."""
    script = shutil.which("jaxopt-lessons", path=str(Path(sys.executable).parent)) or shutil.which("jaxopt-lessons")
    assert script, "the console script jaxopt-lessons is not installed"
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    out = tmp_path / "lr.json"
    completed = subprocess.run(
        [script, "sweep", "linear-regression", "--optimizer", "hand-sgd", "--hand-grad",
         "--lr", "0.01:0.5:4", "--steps", "30", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"{jl.devices.usable_cores()} devices (cpu)" in completed.stdout.splitlines()[0]
    assert len(_lane_lines(completed.stdout)) == 4
    bound = _value_after(completed.stdout, "max_stable_lr")
    data = jl.datasets.seed_linear_regression()
    design = np.hstack([data["x"], np.ones_like(data["x"])])
    assert bound == pytest.approx(2 / np.linalg.eigvalsh(2 / 100 * design.T @ design)[-1], rel=1e-3)
    assert out.exists() and "Traceback" not in completed.stderr
