"""Figures from results: every function takes arrays and returns a matplotlib ``Figure``.

Plotting never computes (no training, no gradients): lessons compute, then call these.
Nothing here calls ``plt.show()``; figures work headless (Agg). Save them with
:func:`jaxopt_lessons.plots.save_figure` (atomic write, closes the figure).

Submodules: ``calculus`` (tangent lines, surfaces, descent paths), ``training``
(loss curves, parameter paths, fits, decision boundaries), ``sweeps`` (sweep curves,
seed x learning-rate heatmaps, success fractions), ``research`` (LoRA, scaling laws,
optimizer comparisons), ``step_size`` (LR finder, sharpness traces).
"""

from ..io import save_figure as save_figure
from . import calculus, research, step_size, sweeps, training
from .calculus import *  # noqa: F403  (each submodule defines __all__)
from .research import *  # noqa: F403
from .step_size import *  # noqa: F403
from .sweeps import *  # noqa: F403
from .training import *  # noqa: F403

__all__ = ["save_figure", *calculus.__all__, *training.__all__, *sweeps.__all__, *research.__all__,
           *step_size.__all__]
