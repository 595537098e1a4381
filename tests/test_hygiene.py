"""Public surface hygiene: docstrings, type hints, no private JAX imports."""

import importlib
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

import jaxopt_lessons as jl

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", jl.__all__)
def test_public_names_have_docstrings(name):
    obj = getattr(jl, name)
    assert inspect.getdoc(obj), f"jaxopt_lessons.{name} has no docstring"


@pytest.mark.parametrize("name", [n for n in jl.__all__ if inspect.isfunction(getattr(jl, n))])
def test_public_functions_have_type_hints(name):
    signature = inspect.signature(getattr(jl, name))
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} lacks a return type"


def test_submodule_public_functions_have_docstrings():
    import jaxopt_lessons.manual as manual
    import jaxopt_lessons.optim as optim
    import jaxopt_lessons.plots as plots

    for module in (jl.datasets, manual, optim, plots):
        for name in getattr(module, "__all__", [n for n in dir(module) if not n.startswith("_")]):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("jaxopt_lessons"):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"


def test_package_imports_lazily_and_every_public_name_resolves():
    """``import jaxopt_lessons`` imports no JAX; each name of ``__all__`` is a re-export or a
    submodule, resolves on first use, and is listed by ``dir``."""
    completed = subprocess.run(
        [sys.executable, "-c", "import sys, jaxopt_lessons; print(sorted(m for m in sys.modules if m == 'jax'))"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "[]", completed.stdout + completed.stderr
    exported = {name for names in jl._EXPORTS.values() for name in names}
    assert sorted(jl.__all__) == sorted(exported | set(jl._SUBMODULES))
    for name in jl.__all__:
        assert getattr(jl, name) is not None and name in dir(jl)
    for module, names in jl._EXPORTS.items():
        source = importlib.import_module(f"jaxopt_lessons.{module}")
        assert all(getattr(jl, name) is getattr(source, name) for name in names)
    from jaxopt_lessons import fit, sweep

    assert fit is jl.train.fit and callable(sweep)
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        jl.nonexistent  # noqa: B018


def test_no_private_jax_imports():
    pattern = re.compile(r"^\s*(from|import)\s+jax\._src", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("jaxopt_lessons", "experiments", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert not offenders, offenders


def test_library_never_sets_xla_flags():
    """The device count is set in one place, ``jl.use_cpu_cores``; only the CLI reads the flag
    (to leave a user's own count alone), and neither the package nor the benchmarks edit ``XLA_FLAGS``."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "jaxopt_lessons").rglob("*.py")
        if "xla_force_host_platform_device_count" in path.read_text() and path.name not in {"cli.py", "devices.py"}
    ]
    assert not offenders, offenders
    writes = re.compile(r"""environ\[["']XLA_FLAGS["']\]\s*=|setdefault\(\s*["']XLA_FLAGS""")
    editors = [
        str(path.relative_to(ROOT))
        for folder in ("jaxopt_lessons", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if writes.search(path.read_text())
    ]
    assert not editors, editors


def test_ruff_is_configured_and_run_by_ci():
    pyproject = (ROOT / "pyproject.toml").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "[tool.ruff" in pyproject
    assert "ruff check" in ci and "pytest" in ci and "venv" in ci


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:8]
    assert any("pip install -e . && python -m experiments" in line for line in head)
    assert any('pip install -e ".[test]" && pytest' in line for line in head)
