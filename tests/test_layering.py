"""The package's layers, read from the source with ``ast`` (imports at module level and
inside functions alike):

* **core** (models, losses, gradients, optimizers, data, files, devices, private helpers)
  imports nothing of the engine, the faces or the lessons;
* the **engine** (training, sweeps, curvature, the LR finder, the problems) imports no face;
* the **faces** (plots, the command line) sit on top; no package module imports the lessons;
* no import cycles among the package's modules;
* the lessons (``experiments/``) use public names only: no ``jaxopt_lessons._x`` module,
  no ``jl._x`` attribute, no ``from jaxopt_lessons.x import _y``.

The package ``__init__`` is the facade (lazy re-exports) and belongs to no layer. The last
tests plant bad imports in a temporary copy to show that each rule can fail.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "jaxopt_lessons"

CORE = {
    "calculus", "gradcheck", "models", "losses", "manual", "optim", "datasets", "io", "devices", "batching",
    "_validate", "_cache", "_catalog",
}
ENGINE = {"train", "sweeps", "sweep", "_lanes", "lanes", "sweep_result", "curvature", "lr_finder", "problems"}
FACES = {"plots", "cli", "_cli", "__main__"}
LAYERS = {**{name: "core" for name in CORE}, **{name: "engine" for name in ENGINE}, **{name: "face" for name in FACES}}
FORBIDDEN = {"core": {"engine", "face"}, "engine": {"face"}, "face": set()}

ALLOWED_DELEGATIONS: set[str] = {
    # SweepResult.plot() is a one-line delegation to plots.plot_sweep, kept because the public
    # contract lists result.plot() and issue 9 item 1 allows exactly this delegation; the
    # import sits inside the method, so the engine loads no plotting code until asked.
    "engine jaxopt_lessons.sweeps.result imports face jaxopt_lessons.plots.sweeps",
}
"""The one documented exception to "the engine imports no face"."""


# --------------------------------------------------------------------------- reading imports


def package_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package under ``root``."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(module: str, path: Path, node: ast.AST, known: dict[str, Path]) -> list[str]:
    """The package modules an import statement of ``module`` (file ``path``) names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != PACKAGE:
        return []
    # `from pkg import submodule` names the submodule; `from pkg.mod import name` names pkg.mod.
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file), the facade excluded."""
    known = package_modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(_resolve(module, path, node, known))
        graph[module] = {target for target in targets if target != PACKAGE and target != module}
    return graph


def imports_of_lessons(root: Path, folder: str) -> list[tuple[Path, ast.AST]]:
    """Every import node of every file under ``root / folder``."""
    return [
        (path, node)
        for path in sorted((root / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]


def layer(module: str) -> str | None:
    """``core``, ``engine`` or ``face`` for a package module, ``None`` for the facade."""
    parts = module.split(".")
    return LAYERS.get(parts[1], "unclassified") if len(parts) > 1 else None


# --------------------------------------------------------------------------- the rules


def layer_violations(root: Path) -> set[str]:
    """Imports that point up the layers, and package modules that import the lessons."""
    found = set()
    for module, targets in import_graph(root).items():
        for target in targets:
            if layer(target) in FORBIDDEN.get(layer(module), set()):
                found.add(f"{layer(module)} {module} imports {layer(target)} {target}")
        path = package_modules(root)[module]
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found.update(f"{module} imports the lessons" for name in names if name.split(".")[0] == "experiments")
    return found


def cycles(root: Path) -> set[str]:
    """Each strongly connected group of package modules (Tarjan), as ``cycle a -> b -> ...``."""
    graph = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add("cycle " + " -> ".join(sorted(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _private(dotted: str) -> str | None:
    """The first private component (``_x``, not ``__x__``) of a dotted name, if any."""
    return next((part for part in dotted.split(".") if part.startswith("_") and not part.endswith("__")), None)


def private_uses(root: Path, folder: str = "experiments") -> set[str]:
    """Private names of the package that files under ``folder`` import or reach as attributes."""
    found = set()
    for path in sorted((root / folder).rglob("*.py")):
        where = path.relative_to(root).as_posix()
        aliases = set()
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        aliases.add(alias.asname or PACKAGE)
                        if _private(alias.name):
                            found.add(f"{where} imports private {alias.name}")
            elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == PACKAGE:
                for alias in node.names:
                    dotted = f"{node.module}.{alias.name}"
                    if _private(dotted):
                        found.add(f"{where} imports private {dotted}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                if _private(node.attr):
                    found.add(f"{where} uses private {node.value.id}.{node.attr}")
    return found


# --------------------------------------------------------------------------- the repository


def test_every_package_module_has_a_layer():
    unclassified = sorted(m for m in package_modules(ROOT) if layer(m) == "unclassified")
    assert not unclassified, f"add these modules to CORE, ENGINE or FACES: {unclassified}"


def test_core_imports_no_engine_or_face_and_the_engine_no_face():
    assert layer_violations(ROOT) - ALLOWED_DELEGATIONS == set()


def test_no_import_cycles_in_the_package():
    assert cycles(ROOT) - ALLOWED_DELEGATIONS == set()


def test_lessons_use_public_names_only():
    assert private_uses(ROOT) == set()


# --------------------------------------------------------------------------- the rules can fail


@pytest.fixture
def copy_of_repository(tmp_path):
    """The package and the lessons, copied, so that a test can plant a bad import."""
    for folder in (PACKAGE, "experiments"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _plant(root: Path, relative: str, code: str) -> None:
    path = root / relative
    path.write_text(path.read_text() + "\n\n" + code + "\n")


def test_a_function_level_import_of_the_engine_in_core_is_caught(copy_of_repository):
    before = layer_violations(copy_of_repository)
    _plant(copy_of_repository, f"{PACKAGE}/models.py", "def _planted():\n    from .train import fit\n    return fit")
    assert layer_violations(copy_of_repository) - before == {
        "core jaxopt_lessons.models imports engine jaxopt_lessons.train"
    }


def test_an_engine_import_of_a_face_is_caught(copy_of_repository):
    before = layer_violations(copy_of_repository)
    _plant(copy_of_repository, f"{PACKAGE}/curvature.py", "import jaxopt_lessons.plots.sweeps")
    assert layer_violations(copy_of_repository) - before == {
        "engine jaxopt_lessons.curvature imports face jaxopt_lessons.plots.sweeps"
    }


def test_a_cycle_is_caught(copy_of_repository):
    before = cycles(copy_of_repository)
    _plant(copy_of_repository, f"{PACKAGE}/calculus.py", "def _planted():\n    from . import gradcheck\n    return gradcheck")
    assert cycles(copy_of_repository) - before == {"cycle jaxopt_lessons.calculus -> jaxopt_lessons.gradcheck"}


def test_a_lesson_using_a_private_name_is_caught(copy_of_repository):
    before = private_uses(copy_of_repository)
    _plant(copy_of_repository, "experiments/xor.py",
           "import jaxopt_lessons as jl2\nfrom jaxopt_lessons._cache import cache_when_hashable\n"
           "from jaxopt_lessons import _validate\nCHECK = jl2._validate.check_positive_int")
    assert private_uses(copy_of_repository) - before == {
        "experiments/xor.py imports private jaxopt_lessons._cache.cache_when_hashable",
        "experiments/xor.py imports private jaxopt_lessons._validate",
        "experiments/xor.py uses private jl2._validate",
    }


def test_an_unclassified_module_is_reported(copy_of_repository):
    (copy_of_repository / PACKAGE / "brand_new.py").write_text("x = 1\n")
    assert layer("jaxopt_lessons.brand_new") == "unclassified"
    assert "jaxopt_lessons.brand_new" in package_modules(copy_of_repository)
