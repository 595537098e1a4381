"""The problems the benchmarks train, and the ways of training them that they compare.

Every way trains the same lanes (one lane = one learning rate, every lane starting
from the same parameters) with the same update (``jax.value_and_grad`` of the loss,
an optax optimizer, ``optax.apply_updates``) and records the loss before every
``record_every``-th update:

* :class:`NumpyLoop` -- the seed notebook's own XOR loop (float64 NumPy, hand backprop);
* :class:`LaneLoop` -- a per-lane ``jit(lax.scan)`` run, called in a Python loop (the
  learning rate is an argument: one compile); a sample of lanes is timed;
* :class:`BareVmap` -- the same run batched by hand, ``jit(vmap(lax.scan))``, the lanes
  sharded over every device (or on one device);
* :class:`Sweep` -- ``jl.sweep`` as a user calls it, with whichever ``jaxopt_lessons``
  the worker imported (the new engine, or the old one with ``--old-engine``).

Problems (``config["problem"]``):

* ``xor`` -- the seed's 2-4-1 net, ``sigmoid(x @ W + b)`` twice and the mean squared
  error, *written here* as a user would (not a library loss), from the seed's
  ``np.random.seed(42)`` start;
* ``xor-builtin`` -- the same net through ``jl.problems.get_problem("xor").loss_fn``
  (the old engine ran its hand-written lanes-last twin for it);
* ``mlp`` -- a ReLU MLP (``config["sizes"]``, e.g. 64-32-10) with a hand-written softmax
  cross-entropy (``logsumexp``) on ``config["samples"]`` examples of a digits-like
  synthetic data set (:func:`digits_like`), He-initialised from a fixed seed.

Nothing here imports ``jaxopt_lessons`` at the top: a worker picks the engine first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

LEARNING_RATES = {"xor": (1e-2, 10.0), "sgd": (1e-3, 10.0), "adam": (1e-5, 1.0)}
"""Log-spaced learning-rate ranges: the XOR net's (SGD), and the MLP's per optimizer."""


def learning_rates(config: dict, shift: float = 1.0) -> np.ndarray:
    """The config's ``lanes`` log-spaced float32 learning rates (times ``shift``: new values, same shapes)."""
    key = "xor" if config["problem"].startswith("xor") else config["optimizer"]
    low, high = LEARNING_RATES[key]
    return (np.geomspace(low, high, config["lanes"]) * shift).astype(np.float32)


def record_every(config: dict) -> int:
    """The config's recording interval; by default the sweep's own, ``ceil(steps / 1000)``."""
    return config.get("record_every") or max(1, math.ceil(config["steps"] / 1000))


# --- problems ----------------------------------------------------------------------------------


def digits_like(n_samples: int, n_features: int, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A digits-like data set: noisy, shifted copies of one random blob image per class.

    Each class's template is three Gaussian blobs on a ``side x side`` grid
    (``side = sqrt(n_features)``: 8 for 64 features, 28 for 784); a sample is its class's
    template at a random brightness in [0.7, 1], shifted by up to one pixel, plus
    N(0, 0.15^2) noise, clipped to [0, 1]. Classes are balanced.

    Returns:
      ``(X, Y)``: float32 ``(n_samples, n_features)`` and one-hot ``(n_samples, n_classes)``.
    """
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"n_features must be a square (8x8, 28x28 images), got {n_features}")
    rng = np.random.RandomState(seed)
    grid = np.stack(np.mgrid[0:side, 0:side], -1) / max(side - 1, 1)
    centres = rng.uniform(0.2, 0.8, size=(n_classes, 3, 2))
    distance = np.sum((grid[None, None] - centres[:, :, None, None]) ** 2, axis=-1)
    templates = np.exp(-distance / (2 * 0.15**2)).sum(axis=1)
    templates /= templates.max(axis=(1, 2), keepdims=True)
    labels = np.arange(n_samples) % n_classes
    rng.shuffle(labels)
    images = templates[labels] * rng.uniform(0.7, 1.0, size=(n_samples, 1, 1))
    shifts = rng.randint(-1, 2, size=(n_samples, 2))
    images = np.stack([np.roll(image, tuple(shift), axis=(0, 1)) for image, shift in zip(images, shifts)])
    images = np.clip(images + rng.normal(0, 0.15, size=images.shape), 0, 1)
    return images.reshape(n_samples, n_features).astype(np.float32), np.eye(n_classes, dtype=np.float32)[labels]


def xor_loss(params, X, y):
    """The seed's XOR net as a user writes it: two ``sigmoid(x @ W + b)`` layers, mean squared error."""
    import jax
    import jax.numpy as jnp

    hidden = jax.nn.sigmoid(X @ params[0]["W"] + params[0]["b"])
    output = jax.nn.sigmoid(hidden @ params[1]["W"] + params[1]["b"])
    return jnp.mean((output - y) ** 2)


def mlp_cross_entropy(params, X, Y):
    """A ReLU MLP's softmax cross-entropy, by hand: ``logits - logsumexp(logits)`` against one-hot ``Y``."""
    import jax
    import jax.numpy as jnp

    hidden = X
    for layer in params[:-1]:
        hidden = jax.nn.relu(hidden @ layer["W"] + layer["b"])
    logits = hidden @ params[-1]["W"] + params[-1]["b"]
    log_probabilities = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
    return -jnp.mean(jnp.sum(Y * log_probabilities, axis=-1))


def problem(config: dict) -> tuple[Any, Any, tuple]:
    """``(loss_fn, start parameters, args)`` of ``config["problem"]``, float32 JAX arrays."""
    import jax.numpy as jnp

    from jaxopt_lessons.datasets import seed_xor_init, xor

    name = config["problem"]
    if name in ("xor", "xor-builtin"):
        X, y = (jnp.asarray(a, jnp.float32) for a in xor())
        params = [{"W": jnp.asarray(layer["W"], jnp.float32), "b": jnp.asarray(layer["b"][0], jnp.float32)}
                  for layer in seed_xor_init()]
        if name == "xor":
            return xor_loss, params, (X, y)
        import jaxopt_lessons as jl

        return jl.problems.get_problem("xor").loss_fn, params, (X, y)
    if name == "mlp":
        sizes = config["sizes"]
        X, Y = digits_like(config["samples"], sizes[0], sizes[-1])
        rng = np.random.RandomState(1)
        params = [{"W": jnp.asarray(rng.normal(0, math.sqrt(2 / fan_in), (fan_in, fan_out)), jnp.float32),
                   "b": jnp.zeros(fan_out, jnp.float32)} for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
        return mlp_cross_entropy, params, (jnp.asarray(X), jnp.asarray(Y))
    raise ValueError(f"unknown problem {name!r}")


def optimizer(config: dict) -> Any:
    """The optax factory of ``config["optimizer"]`` (SGD for XOR)."""
    import optax

    return {"sgd": optax.sgd, "adam": optax.adam}[config.get("optimizer", "sgd")]


# --- one lane, written once ------------------------------------------------------------------


def lane_run(loss_fn, params, args, factory, steps: int, every: int):
    """``learning_rate -> (records, final loss)``: ``steps`` updates of one lane in ``lax.scan``.

    The loss is recorded before every ``every``-th update (an outer scan of blocks, an
    inner scan of ``every`` steps), as the sweep records it.
    """
    import jax
    import optax

    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({every})")

    def run(learning_rate):
        opt = factory(learning_rate)

        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, *args)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        def block(carry, _):
            carry, losses = jax.lax.scan(step, carry, None, length=every)
            return carry, losses[0]

        (final, _), records = jax.lax.scan(block, (params, opt.init(params)), None, length=steps // every)
        return records, loss_fn(final, *args)

    return run


# --- the cases -----------------------------------------------------------------------------------


class NumpyLoop:
    """The seed's XOR loop verbatim in spirit (float64 NumPy, hand backprop), one learning rate."""

    def __init__(self, config: dict) -> None:
        from jaxopt_lessons.datasets import seed_xor_init

        init = seed_xor_init()
        self.weights = [init[0]["W"].copy(), init[0]["b"].copy(), init[1]["W"].copy(), init[1]["b"].copy()]
        self.block = config["timed_steps"]

    def run(self, repeat: int) -> int:
        def sigmoid(z):
            return 1 / (1 + np.exp(-z))

        def sigmoid_derivative(z):
            s = sigmoid(z)
            return s * (1 - s)

        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
        y = np.array([[0], [1], [1], [0]])
        W1, b1, W2, b2 = self.weights
        learning_rate = 0.5
        loss_history = []
        for _ in range(self.block):
            z1 = X @ W1 + b1
            a1 = sigmoid(z1)
            z2 = a1 @ W2 + b2
            a2 = sigmoid(z2)
            loss = np.mean((a2 - y) ** 2)
            loss_history.append(loss)
            dL_da2 = 2 * (a2 - y) / len(X)
            dL_dz2 = dL_da2 * sigmoid_derivative(z2)
            dL_dW2 = a1.T @ dL_dz2
            dL_db2 = np.sum(dL_dz2, axis=0, keepdims=True)
            dL_da1 = dL_dz2 @ W2.T
            dL_dz1 = dL_da1 * sigmoid_derivative(z1)
            dL_dW1 = X.T @ dL_dz1
            dL_db1 = np.sum(dL_dz1, axis=0, keepdims=True)
            W2 -= learning_rate * dL_dW2
            b2 -= learning_rate * dL_db2
            W1 -= learning_rate * dL_dW1
            b1 -= learning_rate * dL_db1
        return self.block

    def report(self) -> dict:
        return {}


class LaneLoop:
    """A per-lane ``jit(lax.scan)`` run in a Python loop over ``config["sample"]`` of the lanes."""

    def __init__(self, config: dict) -> None:
        import jax

        loss_fn, params, args = problem(config)
        self.steps = config["steps"]
        self.run_lane = jax.jit(lane_run(loss_fn, params, args, optimizer(config), self.steps, record_every(config)))
        rates = learning_rates(config)
        self.picked = np.linspace(0, len(rates) - 1, min(config["sample"], len(rates))).round().astype(int)
        self.rates = rates
        self.finals: dict[int, float] = {}

    def run(self, repeat: int) -> int:
        import jax

        for index in self.picked:
            records, final = jax.block_until_ready(self.run_lane(self.rates[index]))
            self.finals[int(index)] = float(final)
        return len(self.picked) * self.steps

    def report(self) -> dict:
        return {"final_losses": self.finals}


class BareVmap:
    """``jit(vmap(lane_run))`` over every lane; the rates sharded over every device unless ``shard`` is false."""

    def __init__(self, config: dict) -> None:
        import jax

        loss_fn, params, args = problem(config)
        self.config = config
        self.batched = jax.jit(jax.vmap(lane_run(loss_fn, params, args, optimizer(config), config["steps"],
                                                 record_every(config))))
        self.final = None

    def run(self, repeat: int) -> int:
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        rates = learning_rates(self.config, 1.0 + 1e-3 * repeat)
        if self.config.get("shard", True):
            mesh = Mesh(np.asarray(jax.devices()), ("lanes",))
            rates = jax.device_put(rates, NamedSharding(mesh, PartitionSpec("lanes")))
        records, final = jax.block_until_ready(self.batched(rates))
        if repeat == 0:
            self.final = np.asarray(final, np.float64)
        return self.config["lanes"] * self.config["steps"]

    def report(self) -> dict:
        return {"final_losses": dict(enumerate(self.final.tolist()))}


class Sweep:
    """``jl.sweep(loss_fn, params, factory, rates, steps=..., args=...)`` as a user calls it.

    ``config["lanes_last"]`` (None, True, False) is passed on; ``record_every`` only when
    the config sets it. Repeats sweep new learning-rate values (which must not recompile).
    """

    def __init__(self, config: dict) -> None:
        import jaxopt_lessons as jl

        self.jl = jl
        self.loss_fn, self.params, self.args = problem(config)
        self.factory = optimizer(config)
        self.config = config
        self.result = None

    def _kwargs(self) -> dict:
        kwargs = {"steps": self.config["steps"], "args": self.args}
        for key in ("record_every", "lanes_last", "max_lanes_per_batch"):
            if self.config.get(key) is not None:
                kwargs[key] = self.config[key]
        return kwargs

    def run(self, repeat: int) -> int:
        import jax

        rates = learning_rates(self.config, 1.0 + 1e-3 * repeat)
        result = self.jl.sweep(self.loss_fn, self.params, self.factory, rates, **self._kwargs())
        jax.block_until_ready(result.final_loss)
        if repeat == 0:
            self.result = result
        return self.config["lanes"] * self.config["steps"]

    def report(self) -> dict:
        status = np.asarray(self.result.status).tolist()
        return {"final_losses": dict(enumerate(np.asarray(self.result.final_loss, np.float64).tolist())),
                "statuses": {name: status.count(name) for name in sorted(set(status))}, **self._plan()}

    def _plan(self) -> dict:
        """The layout and lanes per batch the new engine chose (its public planning functions)."""
        if self.config.get("old_engine"):
            return {"layout": "old", "batch": None}
        from jaxopt_lessons.sweeps import api, checks, memory

        rates = learning_rates(self.config)
        kwargs = {key: value for key, value in self._kwargs().items() if key != "max_lanes_per_batch"}
        plan = checks.make_plan(self.loss_fn, self.params, self.factory, rates, **kwargs)
        spec = api.kernel_spec(plan, next(iter(plan.factories.values())))
        per_lane = memory.lane_bytes(spec, plan.example, plan.args, list(plan.hyperparams), plan.dtype)
        batch = memory.lanes_per_batch(self.config.get("max_lanes_per_batch"), plan.lanes_per_optimizer,
                                       plan.devices, per_lane)
        return {"layout": plan.layout, "batch": batch}

