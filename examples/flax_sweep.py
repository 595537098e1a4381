"""Sweeping Flax models with ``jl.sweep``: Linen parameters and NNX state, minibatches, validation.

Flax is not a dependency of ``jaxopt_lessons``; install it next to the project first::

    pip install flax             # any version that supports the installed JAX
    python examples/flax_sweep.py

The pattern: ``jl.sweep`` trains a *pytree of arrays* and calls ``init(key)`` once per seed.

* **Linen** keeps parameters apart from the module already: ``init(key)`` returns
  ``model.init(key, x)["params"]`` and the loss calls ``model.apply({"params": p}, x)``.
* **NNX** modules are objects: ``nnx.split(model)`` gives ``(graphdef, state)``; sweep the
  ``state`` (``nnx.State``, a pytree of arrays) and rebuild with ``nnx.merge(graphdef, p)``
  inside the loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import nnx

import jaxopt_lessons as jl


def cross_entropy_of(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Softmax cross-entropy, written by hand."""
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])


# --- Linen -------------------------------------------------------------------------------


class LinenMLP(nn.Module):
    """64 -> 32 -> 10, ReLU."""

    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(nn.relu(nn.Dense(32)(x)))


LINEN = LinenMLP()


def linen_init(key: jax.Array):
    return LINEN.init(key, jnp.zeros((1, 64)))["params"]


def linen_loss(params, x, y):
    return cross_entropy_of(LINEN.apply({"params": params}, x), y)


# --- NNX ---------------------------------------------------------------------------------


class NNXMLP(nnx.Module):
    """The same network as an NNX object."""

    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, 32, rngs=rngs)
        self.out = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.relu(self.hidden(x)))


GRAPHDEF, _ = nnx.split(NNXMLP(nnx.Rngs(0)))


def nnx_init(key: jax.Array):
    _, state = nnx.split(NNXMLP(nnx.Rngs(params=key)))
    return state


def nnx_loss(state, x, y):
    return cross_entropy_of(nnx.merge(GRAPHDEF, state)(x), y)


def main() -> None:
    x, y = jl.datasets.digits_like(jax.random.key(1), 1536)
    (x_train, y_train), (x_val, y_val) = (x[:1024], y[:1024]), (x[1024:], y[1024:])
    rates = np.geomspace(1e-3, 1.0, 12)
    common = dict(seeds=2, hyperparams={"momentum": [0.0, 0.9]}, steps=200, args=(x_train, y_train),
                  batch_size=64, eval_args=(x_val, y_val), record_every=20)
    for name, loss, init in (("linen", linen_loss, linen_init), ("nnx", nnx_loss, nnx_init)):
        result = jl.sweep(loss, init, optax.sgd, rates, eval_fn=loss, **common)
        best = result.best()
        print(f"{name}: {result.n_lanes} lanes, best lr {best['learning_rate']:.3g}, momentum {best['momentum']:g}, "
              f"validation loss {best['final_eval']:.4f}")
        # the best lane, retrained alone by fit with the same batches, gives the same validation loss
        params = jax.tree_util.tree_map(lambda leaf, lane=best["lane"]: leaf[lane], result.params)
        alone = jl.fit(loss, init(jax.random.key(best["seed"])), optax.sgd(best["learning_rate"],
                                                                           momentum=best["momentum"]),
                       steps=200, args=(x_train, y_train), batch_size=64, key=jax.random.key(best["seed"]))
        print(f"{name}: sweep lane vs fit alone, validation loss {float(loss(params, x_val, y_val)):.6f} vs "
              f"{float(loss(alone.params, x_val, y_val)):.6f}")


if __name__ == "__main__":
    main()
