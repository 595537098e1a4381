"""jaxopt_lessons: functional optimization in JAX, from derivatives to Adam.

Models are pure functions of parameter pytrees, gradients come from ``jax.grad``
(or are derived by hand in :mod:`jaxopt_lessons.manual`), optimizers are
``optax.GradientTransformation`` s (hand-rolled twins in :mod:`jaxopt_lessons.optim`),
``fit`` runs one compiled ``lax.scan`` and ``sweep`` runs every
(optimizer, seed, learning rate) lane in one ``jit(vmap(...))`` call.

Submodules: ``calculus``, ``gradcheck``, ``models``, ``losses``, ``manual``, ``optim``,
``train``, ``sweep``, ``curvature``, ``lr_finder``, ``datasets``, ``plots`` (imported on first use),
``problems``, ``lanes`` (lanes-last MLP twins that ``sweep`` uses for speed), ``cli``.
"""

from importlib import import_module as _import_module

from . import datasets as datasets
from . import io as io
from . import lanes as lanes
from . import manual as manual
from . import optim as optim
from . import problems as problems
from .calculus import derivative as derivative
from .calculus import gradient_field as gradient_field
from .calculus import numerical_grad as numerical_grad
from .calculus import tangent_line as tangent_line
from .devices import use_cpu_cores as use_cpu_cores
from .gradcheck import GradCheck as GradCheck
from .gradcheck import assert_grad_close as assert_grad_close
from .gradcheck import check_grad as check_grad
from .losses import accuracy as accuracy
from .losses import bce_with_logits as bce_with_logits
from .losses import half_mse as half_mse
from .losses import mse as mse
from .models import init_mlp as init_mlp
from .models import linear as linear
from .models import mlp as mlp
from .curvature import max_stable_lr as max_stable_lr
from .curvature import sharpness as sharpness
from .lr_finder import LRRangeTest as LRRangeTest
from .lr_finder import compare_with_sweep as compare_with_sweep
from .lr_finder import lr_range_test as lr_range_test
from .sweep import SweepResult as SweepResult
from .sweep import sweep as sweep
from .train import Trajectory as Trajectory
from .train import fit as fit

__version__ = "0.1.0"

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
    "datasets",
    "derivative",
    "fit",
    "gradient_field",
    "half_mse",
    "init_mlp",
    "io",
    "lanes",
    "linear",
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
    "tangent_line",
    "use_cpu_cores",
]


def __getattr__(name: str):
    # matplotlib is imported only when a figure is wanted.
    if name == "plots":
        return _import_module(".plots", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
