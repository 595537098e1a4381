r"""Hand-rolled optimizers, written out rule by rule and proven equal to optax.

The contract, stated once:

* every optimizer is a builder returning an ``optax.GradientTransformation``
  ``(init, update)``: ``state = opt.init(params)``, then
  ``updates, state = opt.update(grads, state, params)`` and
  ``params = optax.apply_updates(params, updates)``;
* it has the argument names and defaults of the optax function of the same name
  (optax 0.2.8) and matches it to rtol 1e-5 over 1000 steps (in practice bit for
  bit, eager and under ``jit``: the same operations in the same order);
* it is ``optax.chain(scale_by_<rule>(...), [add_decayed_weights(...)],
  scale_by_learning_rate(learning_rate))``, so the learning rate lives in exactly one
  place. ``learning_rate`` is a float, a traced JAX scalar (build the optimizer inside
  ``jax.vmap`` to sweep it) or an optax schedule ``count -> lr``;
* states are ``NamedTuple`` s (``<Rule>State``), with an int32 ``count`` where the rule
  needs one; moments have the tree structure and dtypes of ``params`` (float64 stays
  float64), and so do the updates;
* bad hyperparameters given as concrete numbers raise ``ValueError`` / ``TypeError``
  naming the argument; traced values pass through unchecked;
* complex parameters (complex64/complex128) work as in optax for sgd (with or without
  momentum), adam and adamw: the gradient to pass is the conjugate of ``jax.grad``'s, and
  Adam's second moment uses :math:`|g|^2`. Lion rejects them with a ``TypeError``, as
  optax does not support it on complex numbers.

Notation in the docstrings: :math:`g_t` the gradient at step :math:`t = 1, 2, \dots`,
:math:`\theta` the parameters, :math:`\alpha_t` the learning rate, :math:`u_t` the
update (``params + updates``).
"""

from __future__ import annotations

from .aliases import adam as adam
from .aliases import adamw as adamw
from .aliases import lion as lion
from .aliases import sgd as sgd
from .registry import OPTIMIZERS as OPTIMIZERS
from .registry import OptimizerPair as OptimizerPair
from .registry import factory as factory
from .transforms import AddDecayedWeightsState as AddDecayedWeightsState
from .transforms import ScaleByAdamState as ScaleByAdamState
from .transforms import ScaleByLearningRateState as ScaleByLearningRateState
from .transforms import ScaleByLionState as ScaleByLionState
from .transforms import ScaleByMomentumState as ScaleByMomentumState
from .transforms import add_decayed_weights as add_decayed_weights
from .transforms import scale_by_adam as scale_by_adam
from .transforms import scale_by_learning_rate as scale_by_learning_rate
from .transforms import scale_by_lion as scale_by_lion
from .transforms import scale_by_momentum as scale_by_momentum

__all__ = [
    "OPTIMIZERS",
    "AddDecayedWeightsState",
    "OptimizerPair",
    "ScaleByAdamState",
    "ScaleByLearningRateState",
    "ScaleByLionState",
    "ScaleByMomentumState",
    "adam",
    "adamw",
    "add_decayed_weights",
    "factory",
    "lion",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_momentum",
    "sgd",
]
