"""The ``jaxopt-lessons`` command line: exit codes, output lines, files, bad arguments.

In-process through ``main([...])`` (capsys) and through the installed console script in a
fresh process, which is where the CPU device count can take effect. Printed numbers are
checked against closed forms (the parabola), an optax loop written out here, and NumPy
medians of the lanes saved with ``--out``. Ctrl-C, checkpoints and several processes are
in ``test_cli_nothing_lost.py``.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons import cli


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The printed table: its header's column names and its rows, cells split at 2+ spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^(optimizer|learning_rate)\s", line))
    end = next(i for i, line in enumerate(lines) if line.startswith("statuses ("))
    header = re.split(r"\s{2,}", lines[start].split("   (")[0].strip())
    return header, [re.split(r"\s{2,}", line.strip()) for line in lines[start + 1 : end]]


def _lanes(text: str) -> list[tuple[float, str, float, str]]:
    """``--lanes`` rows of one optimizer: (learning rate, seed, final loss, status)."""
    header, rows = _rows(text)
    assert header == ["learning_rate", "seed", "final_loss", "status", "diverged_at"], header
    return [(float(row[0]), row[1], float(row[2]), row[3]) for row in rows]


def _value_after(text: str, label: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(label))
    return float(re.search(r"(?:lr=|: )([0-9.e+-]+|inf)", line[len(label) :]).group(1))


def _sweep(capsys, *argv: str) -> str:
    status = cli.main(["sweep", *argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Traceback" not in captured.err
    return captured.out


def _optax_final_loss(problem_name: str, optimizer, learning_rate: float, seed: int, steps: int) -> float:
    """An independent run: the problem's start for ``seed``, ``steps`` optax updates in a Python loop."""
    import jax

    problem = jl.problems.get_problem(problem_name)
    params = problem.initial_params(jax.random.key(seed))
    transform = optimizer(learning_rate)
    state = transform.init(params)

    @jax.jit  # one compiled step (optax's update op by op would dispatch ~20 primitives per step)
    def step(params, state):
        grads = jax.grad(problem.loss_fn)(params, *problem.args)
        updates, state = transform.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    return float(problem.loss_fn(params, *problem.args))


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
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--devices", "0"], "--devices"),
    (["sweep", "quadratic", "--optimizer", "rmsprop", "--lr", "0.1"], "hand-adam"),
    (["sweep", "mnist", "--optimizer", "sgd", "--lr", "0.1"], "linear-regression"),
    (["sweep", "quadratic", "--lr", "0.1"], "--optimizer"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--bogus"], "--bogus"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--overwrite-checkpoint"], "--checkpoint"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--coordinator", "localhost:1234"], "--process-id"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--coordinator", "localhost"], "HOST:PORT"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--coordinator", "h:1", "--num-processes", "2",
      "--process-id", "2"], "--process-id must be in 0..1"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--coordinator", "h:1", "--num-processes", "2",
      "--process-id", "0", "--distributed"], "--distributed"),
    (["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", "--plot", "curve.xyz"], "--plot"),
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


# --------------------------------------------------------------------------- output


SLIPS = re.compile(r"\b1 (seeds|lanes|rates|learning rates|steps|devices)\b")


@pytest.mark.slow
def test_64_rates_fit_one_screen_one_row_per_rate_with_counts_and_best(tmp_path, capsys):
    """Issue 13's ``sweep xor --optimizer adam --lr 1e-4:3:64`` (few steps): one row per rate,
    at most 70 lines, every row the lane saved in ``--out``, the counts those of the lanes."""
    out = tmp_path / "xor.json"
    text = _sweep(capsys, "xor", "--optimizer", "adam", "--lr", "1e-4:3:64", "--steps", "200", "--out", str(out))
    lines = text.splitlines()
    assert len(lines) <= 70, len(lines)
    assert lines[0].startswith("# jaxopt-lessons sweep xor: adam, 64 learning rates x 1 seed, 200 steps, ")
    assert not SLIPS.search(text)
    header, rows = _rows(text)
    assert header == ["learning_rate", "final_loss", "status"]
    assert len(rows) == 64
    saved = jl.SweepResult.from_json(out)
    np.testing.assert_allclose([float(row[0]) for row in rows], np.geomspace(1e-4, 3, 64), rtol=1e-4)
    np.testing.assert_allclose([float(row[1]) for row in rows], saved.final_loss, rtol=1e-4)
    assert [row[2] for row in rows] == saved.status.tolist()
    names, counts = np.unique(saved.status, return_counts=True)
    status_line = next(line for line in lines if line.startswith("statuses (64 lanes): "))
    listed = re.findall(r"(\d+) (\w+)", status_line.split(": ", 1)[1])
    assert {name: int(n) for n, name in listed} == dict(zip(names.tolist(), counts.tolist()))
    best = saved.best()
    assert _value_after(text, "best:") == pytest.approx(best["learning_rate"], rel=1e-4)
    assert re.search(r"^  rule: one seed: .*--seeds N", text, re.MULTILINE)
    assert not any(line.startswith("max_stable_lr") for line in lines)  # adam: no 2/lambda bound
    # one printed lane against an optax loop run here
    lr = float(rows[40][0])
    assert float(rows[40][1]) == pytest.approx(_optax_final_loss("xor", optax.adam, lr, 0, 200), rel=2e-3)


def test_several_seeds_print_median_worst_counts_and_the_best_spread(tmp_path, capsys):
    """Per rate: the NumPy median and maximum of its seeds' final losses, its status counts;
    the best line's spread is its seeds' range; one lane checked against optax."""
    out = tmp_path / "xor.json"
    text = _sweep(capsys, "xor", "--optimizer", "adam", "--lr", "1e-2:1:4", "--seeds", "3", "--steps", "150",
                  "--out", str(out))
    assert "x 3 seeds, 150 steps" in text.splitlines()[0]
    header, rows = _rows(text)
    assert header == ["learning_rate", "median_final_loss", "worst_final_loss", "statuses"]
    saved = jl.SweepResult.from_json(out)
    for row, rate in zip(rows, np.geomspace(1e-2, 1, 4), strict=True):
        lanes = np.flatnonzero(np.isclose(saved.learning_rates, rate))
        assert sorted(saved.seeds[lanes].tolist()) == [0, 1, 2]
        assert float(row[1]) == pytest.approx(np.median(saved.final_loss[lanes]), rel=1e-4)
        assert float(row[2]) == pytest.approx(np.max(saved.final_loss[lanes]), rel=1e-4)
        names, counts = np.unique(saved.status[lanes], return_counts=True)
        assert sorted(row[3].split(", ")) == sorted(f"{n} {name}" for name, n in zip(names, counts))
    best_line = next(line for line in text.splitlines() if line.startswith("best:"))
    lanes = np.flatnonzero(np.isclose(saved.learning_rates, _value_after(text, "best:"), rtol=1e-4))
    low, high = (float(v) for v in re.search(r"spread (\S+)\.\.(\S+) over 3 seeds", best_line).groups())
    assert (low, high) == pytest.approx((saved.final_loss[lanes].min(), saved.final_loss[lanes].max()), rel=1e-4)
    assert "rule: median final_loss across 3 seeds" in text
    rate = float(rows[2][0])
    lane = int(np.flatnonzero((saved.seeds == 2) & np.isclose(saved.learning_rates, rate, rtol=1e-4))[0])
    assert saved.final_loss[lane] == pytest.approx(_optax_final_loss("xor", optax.adam, rate, 2, 150), rel=2e-3)


def test_moons_is_judged_on_its_held_out_split(tmp_path, capsys):
    """The moons sweep records the loss on 200 held-out points (a fresh two-moons draw, key 1)
    beside the training loss, and its table and best rate are by that held-out loss."""
    out = tmp_path / "moons.json"
    text = _sweep(capsys, "moons", "--optimizer", "sgd", "--lr", "0.1,1", "--seeds", "2", "--steps", "60",
                  "--out", str(out))
    header, rows = _rows(text)
    assert header == ["learning_rate", "median_final_eval", "worst_final_eval", "statuses"]
    assert "rule: median final_eval across 2 seeds" in text
    saved = jl.SweepResult.from_json(out)
    x_held, y_held = jl.datasets.two_moons(jax.random.key(1), 200, 0.1)
    problem = jl.problems.get_problem("moons")
    for lane in range(saved.n_lanes):
        params = jax.tree_util.tree_map(lambda leaf, i=lane: leaf[i], saved.params)
        independent = float(problem.loss_fn(params, x_held, y_held))
        assert saved.final_eval[lane] == pytest.approx(independent, rel=1e-5)
        assert saved.final_eval[lane] != pytest.approx(saved.final_loss[lane], rel=1e-3)  # not the training loss
    for row, rate in zip(rows, (0.1, 1.0), strict=True):
        lanes = np.flatnonzero(np.isclose(saved.learning_rates, rate))
        assert float(row[1]) == pytest.approx(np.median(saved.final_eval[lanes]), rel=1e-4)


def test_more_rows_than_a_screen_are_binned_by_neighbouring_rates(capsys):
    """Two optimizers x 64 rates: 64 rows of 2 neighbouring rates each, whose counts add up."""
    text = _sweep(capsys, "quadratic", "--optimizer", "sgd,momentum", "--lr", "1e-3:1.5:64")
    assert len(text.splitlines()) <= 75
    assert "--lanes" in text.splitlines()[1]
    header, rows = _rows(text)
    assert header == ["optimizer", "learning_rate", "final_loss", "statuses"] and len(rows) == 64
    rates = np.geomspace(1e-3, 1.5, 64)
    for index, row in enumerate(rows):
        assert row[0] == ("sgd" if index < 32 else "momentum")
        low, high = (float(v) for v in row[1].split(".."))
        pair = rates[2 * (index % 32) : 2 * (index % 32) + 2]
        assert (low, high) == pytest.approx(tuple(pair), rel=1e-2)
        assert sum(int(n) for n in re.findall(r"(\d+) \w+", row[3])) == 2


def test_lanes_prints_one_line_per_lane_against_the_closed_form(tmp_path, capsys):
    """The seed's parabola: each lane's final loss is 5^2 (1 - 2 lr)^100 + 10, and the statuses
    are the seed table's; the best rate is a lowest final loss; the bound is 2/f'' = 1."""
    rates = [0.001, 0.1, 0.5, 1.0, 1.05]
    environ_before = dict(os.environ)
    text = _sweep(capsys, "quadratic", "--optimizer", "sgd", "--lr", ",".join(map(str, rates)), "--steps", "50",
                  "--lanes")
    assert dict(os.environ) == environ_before  # the environment is left alone
    lanes = _lanes(text)
    assert [lane[0] for lane in lanes] == pytest.approx(rates)
    assert {lane[1] for lane in lanes} == {"-"}
    assert [lane[3] for lane in lanes] == ["slow", "converged", "converged", "oscillating", "diverged"]
    for lr, _, final, state in lanes:
        if state != "diverged":
            assert final == pytest.approx(25 * (1 - 2 * lr) ** 100 + 10, rel=1e-4)
    finals = {lr: final for lr, _, final, state in lanes if state != "diverged"}
    assert finals[_value_after(text, "best:")] == pytest.approx(min(finals.values()), rel=1e-6)
    assert _value_after(text, "max_stable_lr (2/sharpness at the start; plain SGD)") == pytest.approx(1.0, rel=1e-3)


def test_lanes_with_seeds_prints_every_seed_of_every_rate(capsys):
    text = _sweep(capsys, "xor", "--optimizer", "adam", "--lr", "0.01,0.1", "--seeds", "3", "--steps", "20", "--lanes")
    lanes = _lanes(text)
    assert sorted((lr, seed) for lr, seed, _, _ in lanes) == sorted(
        (lr, str(seed)) for lr in (0.01, 0.1) for seed in range(3))
    assert "statuses (6 lanes): " in text


@pytest.mark.parametrize("optimizer, bound", [("sgd", 1.0), ("hand-sgd", 1.0), ("adam", None), ("lion", None)])
def test_the_curvature_bound_is_printed_for_plain_sgd_only(optimizer, bound, capsys, monkeypatch):
    """2/lambda_max bounds plain gradient descent: printed for SGD (x^2 + 10: f'' = 2, bound 1),
    and for adaptive optimizers neither printed nor computed."""
    if bound is None:
        monkeypatch.setattr(jl.curvature, "max_stable_lr", lambda *a, **k: pytest.fail("computed for " + optimizer))
    text = _sweep(capsys, "quadratic", "--optimizer", optimizer, "--lr", "0.1,0.5")
    printed = [line for line in text.splitlines() if "max_stable_lr" in line or "2/" in line]
    if bound is None:
        assert printed == []
    else:
        assert len(printed) == 1 and "plain SGD" in printed[0]
        assert _value_after(text, "max_stable_lr") == pytest.approx(bound, rel=1e-3)


@pytest.mark.parametrize("tty, flag, shown", [(False, None, False), (True, None, True), (False, "--progress", True),
                                              (True, "--no-progress", False)])
def test_progress_is_on_by_default_when_stderr_is_a_terminal(tty, flag, shown, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    status = cli.main(["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", *([flag] if flag else [])])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert ("lane-step" in captured.err) is shown


def test_plot_png_is_written_with_momentum_bounds(tmp_path, capsys):
    plot = tmp_path / "sweep.png"
    text = _sweep(capsys, "quadratic", "--optimizer", "sgd,momentum", "--lr", "0.01:1.5:6", "--steps", "50",
                  "--plot", str(plot), "--lanes")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(plot)
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # not a blank canvas
    header, rows = _rows(text)
    assert header[0] == "optimizer" and len(rows) == 12
    # Heavy-ball momentum 0.9 is stable up to 2(1 + 0.9)/lambda_max = 1.9 on x^2 + 10 (f'' = 2):
    # the bound is printed, and the momentum lane at lr 1.5 (above plain GD's 1.0) did not diverge.
    assert _value_after(text, "max_stable_lr sgd") == pytest.approx(1.0, rel=1e-3)
    assert _value_after(text, "max_stable_lr momentum") == pytest.approx(1.9, rel=1e-3)
    lane = next(row for row in rows if row[0] == "momentum" and row[1] == "1.5000e+00")
    assert lane[4] != "diverged"


# --------------------------------------------------------------------------- failing before the work


def test_an_unwritable_out_fails_in_one_line_before_jax_is_imported():
    """``--out /sys/q.json`` (issue 12: it used to run 34 s first): exit 2, one line, and the
    process never imported JAX, so nothing was compiled or computed."""
    try:
        handle, probe = tempfile.mkstemp(dir="/sys")
    except OSError:
        pass
    else:  # a machine where /sys is writable: nothing to show
        os.close(handle)
        os.unlink(probe)
        pytest.skip("/sys is writable here")
    code = (
        "import sys\nfrom jaxopt_lessons.cli import main\n"
        "status = main(['sweep', 'xor', '--optimizer', 'adam', '--lr', '1e-4:3:64', '--out', '/sys/q.json'])\n"
        "print('jax imported:', 'jax' in sys.modules, 'status:', status)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert completed.stdout.splitlines() == ["jax imported: False status: 2"], completed.stdout + completed.stderr
    assert completed.stderr.splitlines() == [
        "jaxopt-lessons: error: cannot write --out '/sys/q.json': '/sys' is not writable (Permission denied)"
    ] or (len(completed.stderr.splitlines()) == 1 and "cannot write --out '/sys/q.json'" in completed.stderr)


@pytest.mark.parametrize("flag, make, mentions", [
    ("--out", lambda tmp: tmp, "must be a file path"),
    ("--out", lambda tmp: tmp / "a-file" / "q.json", "is not a folder"),
    ("--plot", lambda tmp: tmp / "a-file" / "deeper" / "q.png", "is not a folder"),
    ("--checkpoint", lambda tmp: tmp / "a-file", "must be a folder"),
    ("--checkpoint", lambda tmp: tmp / "a-file" / "ck", "is not a folder"),
])
def test_unwritable_paths_fail_before_the_sweep(flag, make, mentions, tmp_path, capsys, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder\n")
    import jaxopt_lessons.sweeps

    monkeypatch.setattr(jaxopt_lessons.sweeps, "sweep", lambda *a, **k: pytest.fail("the sweep ran"))
    status = cli.main(["sweep", "quadratic", "--optimizer", "sgd", "--lr", "0.1", flag, str(make(tmp_path))])
    captured = capsys.readouterr()
    assert status == 2
    assert len(captured.err.splitlines()) == 1 and mentions in captured.err and flag in captured.err
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # no probe left, nothing created


def test_missing_output_folders_are_created_when_the_result_is_written(tmp_path, capsys):
    out, plot = tmp_path / "runs" / "a" / "q.json", tmp_path / "figures" / "q.png"
    _sweep(capsys, "quadratic", "--optimizer", "sgd", "--lr", "0.1,0.5", "--out", str(out), "--plot", str(plot))
    assert [p.name for p in out.parent.iterdir()] == ["q.json"]  # written by rename, no temporary left
    assert json.loads(out.read_text())["format"] == "jaxopt_lessons.SweepResult"
    assert jl.SweepResult.from_json(out).complete and plot.exists()


@pytest.mark.slow
def test_installed_console_script_sees_one_device_per_core(tmp_path):
    """A fresh process: the CLI asks for one CPU device per core before JAX starts."""
    from jaxopt_lessons._cli.output import count

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
    assert f"{count(jl.devices.usable_cores(), 'device')} (cpu)" in completed.stdout.splitlines()[0]
    assert len(_rows(completed.stdout)[1]) == 4
    assert "lane-step" not in completed.stderr  # stderr is a pipe: no progress bar by default
    bound = _value_after(completed.stdout, "max_stable_lr")
    data = jl.datasets.seed_linear_regression()
    design = np.hstack([data["x"], np.ones_like(data["x"])])
    assert bound == pytest.approx(2 / np.linalg.eigvalsh(2 / 100 * design.T @ design)[-1], rel=1e-3)
    assert out.exists() and "Traceback" not in completed.stderr
