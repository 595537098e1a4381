"""Sweeping an Equinox model with ``jl.sweep``: learning rate x momentum x seeds, minibatches, validation.

Equinox is not a dependency of ``jaxopt_lessons``; install it next to the project first::

    pip install equinox          # any version that supports the installed JAX
    python examples/equinox_sweep.py

The pattern: ``jl.sweep`` trains a *pytree of arrays*. An Equinox module also holds
non-array leaves (its activation function, layer sizes), so split it once with
``eqx.partition(model, eqx.is_inexact_array)``: ``init(key)`` returns the array part of a
freshly built model, and ``loss`` rebuilds the model with ``eqx.combine(params, static)``.
Passing the whole module is answered, before anything compiles, with a message that says
exactly this.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_lessons as jl


def build(key: jax.Array) -> eqx.nn.MLP:
    """The researcher's model: 64 -> 32 -> 10, ReLU."""
    return eqx.nn.MLP(64, 10, 32, 1, activation=jax.nn.relu, key=key)


_, STATIC = eqx.partition(build(jax.random.key(0)), eqx.is_inexact_array)  # the non-array part, shared


def init(key: jax.Array):
    """``key -> params``: the array part of a freshly initialised model (one per seed)."""
    params, _ = eqx.partition(build(key), eqx.is_inexact_array)
    return params


def cross_entropy(params, x, y):
    """Softmax cross-entropy of the rebuilt model, written by hand."""
    model = eqx.combine(params, STATIC)
    logits = jax.vmap(model)(x)
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])


def error_rate(params, x, y):
    model = eqx.combine(params, STATIC)
    return jnp.mean(jnp.argmax(jax.vmap(model)(x), axis=1) != y).astype(jnp.float32)


def main() -> None:
    x, y = jl.datasets.digits_like(jax.random.key(1), 1536)
    (x_train, y_train), (x_val, y_val) = (x[:1024], y[:1024]), (x[1024:], y[1024:])
    rates = np.geomspace(1e-3, 1.0, 16)
    result = jl.sweep(cross_entropy, init, optax.sgd, rates, seeds=3, hyperparams={"momentum": [0.0, 0.9]},
                      steps=300, args=(x_train, y_train), batch_size=64, eval_fn=error_rate,
                      eval_args=(x_val, y_val), record_every=30)
    print(f"{result.n_lanes} lanes; best by validation error:", result.best())

    # the best lane back as a model
    best = result.best()["lane"]
    params = jax.tree_util.tree_map(lambda leaf: leaf[best], result.params)
    model = eqx.combine(params, STATIC)
    print("validation error of the rebuilt best model:",
          float(jnp.mean(jnp.argmax(jax.vmap(model)(x_val), axis=1) != y_val)))

    # saved and restored: the parameters come back in the module's structure (like=)
    with tempfile.TemporaryDirectory() as folder:
        path = result.to_json(Path(folder) / "sweep.json")
        loaded = jl.SweepResult.from_json(path, like=init(jax.random.key(0)))
        same = jax.tree_util.tree_all(jax.tree_util.tree_map(
            lambda a, b: bool(np.array_equal(a, b)), loaded.params, result.params))
        print("JSON round trip exact:", same)

    # the mistake: passing the module itself
    try:
        jl.sweep(cross_entropy, build(jax.random.key(0)), optax.sgd, rates, steps=10, args=(x_train, y_train))
    except TypeError as error:
        print("passing the whole module ->", error)


if __name__ == "__main__":
    main()
