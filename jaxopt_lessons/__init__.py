"""jaxopt_lessons: functional optimization in JAX, from derivatives to Adam.

Models are pure functions of parameter pytrees, gradients come from ``jax.grad``
(or are derived by hand in :mod:`jaxopt_lessons.manual`), optimizers are
``optax.GradientTransformation`` s (hand-rolled twins in :mod:`jaxopt_lessons.optim`),
``fit`` runs one compiled ``lax.scan`` and ``sweep`` runs every
(optimizer, seed, learning rate) lane in one ``jit(vmap(...))`` call.

Submodules: ``calculus``, ``gradcheck``, ``models``, ``losses``, ``manual``, ``optim``,
``datasets``, ``io``, ``devices`` (the core); ``train``, ``sweeps``, ``curvature``,
``lr_finder``, ``problems`` (the engine); ``plots``, ``cli`` (the faces).

Every name below is imported on first use (PEP 562), so ``import jaxopt_lessons`` is
instant and imports no JAX: the command line's ``--help`` stays fast, and a script can
call :func:`use_cpu_cores` before JAX starts. ``from jaxopt_lessons import fit`` and
``jl.fit`` work as with ordinary imports.
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    # submodule: the public names re-exported from it
    "calculus": ("derivative", "gradient_field", "numerical_grad", "tangent_line"),
    "curvature": ("max_stable_lr", "sharpness"),
    "devices": ("use_cpu_cores",),
    "gradcheck": ("GradCheck", "assert_grad_close", "check_grad"),
    "losses": ("accuracy", "bce_with_logits", "half_mse", "mse"),
    "lr_finder": ("LRRangeTest", "compare_with_sweep", "lr_range_test"),
    "models": ("init_mlp", "linear", "mlp"),
    "sweeps": ("SweepResult", "sweep"),
    "train": ("Trajectory", "fit"),
}

_SUBMODULES: tuple[str, ...] = (
    "curvature", "datasets", "devices", "io", "lr_finder", "manual", "optim", "plots", "problems", "sweeps",
)
"""Submodules that are public names themselves (``jl.optim.adam``, ``jl.plots``, ...)."""

__all__ = [
    "GradCheck",
    "LRRangeTest",
    "SweepResult",
    "Trajectory",
    "accuracy",
    "assert_grad_close",
    "bce_with_logits",
    "check_grad",
    "compare_with_sweep",
    "curvature",
    "datasets",
    "derivative",
    "devices",
    "fit",
    "gradient_field",
    "half_mse",
    "init_mlp",
    "io",
    "linear",
    "lr_finder",
    "lr_range_test",
    "manual",
    "max_stable_lr",
    "mlp",
    "mse",
    "numerical_grad",
    "optim",
    "plots",
    "problems",
    "sharpness",
    "sweep",
    "sweeps",
    "tangent_line",
    "use_cpu_cores",
]

_SOURCE: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    """Imports the submodule that holds ``name`` on first use (PEP 562)."""
    if name in _SOURCE:
        value = getattr(_import_module(f".{_SOURCE[name]}", __name__), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name in _SUBMODULES:
        return _import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
