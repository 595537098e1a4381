"""Issue 10, research sweeps: minibatches, hyperparameter grids, schedules, validation, pytrees.

Every lane is compared with an independent run: :func:`jaxopt_lessons.fit` (its own
compiled loop, its own minibatch drawing), optax optimizers built with concrete
values, the batch order written out from :func:`jaxopt_lessons.batching.epoch_batches`
step by step, and losses re-evaluated eagerly on the lanes' parameters. A recording
optimizer writes the examples each step saw into the parameters, so batch orders are
read off the results rather than assumed. Bad inputs are watched by a listener of
JAX's compile events: each must be rejected before anything compiles.
"""

from __future__ import annotations

import collections
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_close, no_compilation

import jaxopt_lessons as jl
from jaxopt_lessons import batching

N, B, STEPS = 24, 5, 13  # 4 batches per epoch (4 examples dropped), 3+ epochs, a remainder record
PER_EPOCH = N // B


# --- problems ---------------------------------------------------------------------------


def regression_data(dtype=jnp.float32):
    x = jax.random.normal(jax.random.key(11), (N, 3), dtype)
    y = x @ jnp.asarray([1.0, -2.0, 0.5], dtype) + 0.1 * jax.random.normal(jax.random.key(12), (N,), dtype)
    return x, y


def regression_loss(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def regression_init(key):
    return {"w": jax.random.normal(key, (3,)), "b": jnp.zeros(())}


def held_out(dtype=jnp.float32):
    x = jax.random.normal(jax.random.key(21), (9, 3), dtype)
    return x, x @ jnp.asarray([1.0, -2.0, 0.5], dtype)


def max_abs_error(params, x, y):
    """A validation metric unlike the training loss: the worst absolute error on the held-out set."""
    return jnp.max(jnp.abs(x @ params["w"] + params["b"] - y))


def lane_params(result, lane):
    return jax.tree_util.tree_map(lambda leaf: leaf[lane], result.params)


# --- minibatches ----------------------------------------------------------------------------


@pytest.mark.parametrize("record_every", [4, pytest.param(1, marks=pytest.mark.slow)])
def test_minibatch_lane_equals_fit_with_the_same_key(x64, record_every):
    x, y = regression_data(jnp.float64)
    init = lambda key: jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), regression_init(key))  # noqa: E731
    result = jl.sweep(regression_loss, init, optax.sgd, [0.02, 0.1], steps=STEPS, args=(x, y), seeds=[0, 7],
                      batch_size=B, hyperparams={"momentum": [0.0, 0.8]}, record_every=record_every)
    assert result.n_lanes == 8
    factories = {m: functools.partial(optax.sgd, momentum=m) for m in (0.0, 0.8)}  # one fit compile each
    for lane in range(result.n_lanes):
        seed, lr = int(result.seeds[lane]), float(result.learning_rates[lane])
        factory = factories[float(result.hyperparams["momentum"][lane])]
        alone = jl.fit(regression_loss, init(jax.random.key(seed)), factory, learning_rate=lr, steps=STEPS,
                       args=(x, y), batch_size=B, key=jax.random.key(seed), record_every=record_every)
        np.testing.assert_allclose(result.losses[lane], alone.losses, rtol=1e-12)
        np.testing.assert_allclose(result.final_loss[lane], alone.final_loss, rtol=1e-12)
        assert_tree_close(lane_params(result, lane), alone.params, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_pytree_init_uses_seed_zero_and_float32_lanes_match_fit():
    x, y = regression_data()
    start = regression_init(jax.random.key(3))
    result = jl.sweep(regression_loss, start, optax.adam, [0.01, 0.05], steps=STEPS, args=(x, y), batch_size=B)
    assert result.seeds.tolist() == [-1, -1]
    for lane, lr in enumerate([0.01, 0.05]):
        alone = jl.fit(regression_loss, start, optax.adam(lr), steps=STEPS, args=(x, y), batch_size=B,
                       key=jax.random.key(0))
        np.testing.assert_allclose(result.losses[lane], alone.losses[::result.record_every], rtol=2e-6)  # once per epoch
        assert_tree_close(lane_params(result, lane), alone.params, rtol=2e-6, atol=2e-6)


def recording_optimizer(learning_rate, scale=1.0):
    """Writes each step's gradient of ``w`` (the examples' counts in the batch) into row ``t`` of ``seen``."""

    def init(params):
        return jnp.zeros((), jnp.int32)

    def update(grads, count, params=None):
        row = jax.nn.one_hot(count, STEPS, dtype=grads["w"].dtype)[:, None] * grads["w"][None, :]
        return {"w": jnp.zeros_like(grads["w"]), "seen": learning_rate * scale * row}, count + 1

    return optax.GradientTransformation(init, update)


def counting_loss(params, one_hot_rows):
    """Linear in ``w``: its gradient counts how often each example is in the batch."""
    return jnp.sum(one_hot_rows @ params["w"])


def counting_init(key):
    return {"w": jnp.zeros(N), "seen": jnp.zeros((STEPS, N))}


def expected_counts(key):
    """Row t: how often each example is in step t's batch, written out from epoch_batches."""
    counts = np.zeros((STEPS, N))
    for t in range(STEPS):
        rows = np.asarray(batching.epoch_batches(key, t // PER_EPOCH, N, B))[t % PER_EPOCH]
        np.add.at(counts[t], rows, 1.0)
    return counts


@pytest.mark.slow
def test_batch_orders_come_from_the_seed_only():
    rates = [1.0, 2.0]
    result = jl.sweep(counting_loss, counting_init, {"a": recording_optimizer, "b": recording_optimizer}, rates,
                      steps=STEPS, args=(jnp.eye(N),), seeds=[0, 1], batch_size=B, hyperparams={"scale": [1.0, 3.0]},
                      lanes_last=False)
    seen = np.asarray(result.params["seen"])
    factor = np.asarray(result.learning_rates) * result.hyperparams["scale"]
    counts = seen / factor[:, None, None]
    for lane in range(result.n_lanes):
        seed = int(result.seeds[lane])
        np.testing.assert_allclose(counts[lane], expected_counts(jax.random.key(seed)), atol=1e-6)
        same_seed = np.flatnonzero(result.seeds == seed)  # every rate, hyperparameter value and optimizer
        np.testing.assert_array_equal(counts[same_seed], np.broadcast_to(counts[lane], counts[same_seed].shape))
    # each step a batch of B distinct examples; an epoch's batches are disjoint
    assert set(np.unique(counts).tolist()) == {0.0, 1.0} and np.all(counts.sum(axis=2) == B)
    first = counts[0]
    for epoch in range(STEPS // PER_EPOCH):
        assert np.all(first[epoch * PER_EPOCH:(epoch + 1) * PER_EPOCH].sum(axis=0) <= 1)
    assert not np.array_equal(first[:PER_EPOCH], first[PER_EPOCH:2 * PER_EPOCH])  # a fresh permutation per epoch
    other_seed = counts[np.flatnonzero(result.seeds == 1)[0]]
    assert not np.array_equal(first, other_seed)


def test_fit_draws_the_same_batches_with_a_typed_or_a_legacy_key():
    for key in (jax.random.key(5), jax.random.PRNGKey(5)):
        trajectory = jl.fit(counting_loss, counting_init(None), recording_optimizer(1.0), steps=STEPS,
                            args=(jnp.eye(N),), batch_size=B, key=key)
        np.testing.assert_allclose(trajectory.params["seen"], expected_counts(jax.random.key(5)), atol=1e-6)


@pytest.mark.slow
def test_records_and_final_loss_are_on_the_full_data(x64):
    x, y = regression_data(jnp.float64)
    start = jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), regression_init(jax.random.key(1)))
    result = jl.sweep(regression_loss, start, optax.sgd, [0.05], steps=STEPS, args=(x, y), batch_size=B,
                      record_every=3)
    final = lane_params(result, 0)
    full = float(regression_loss(final, x, y))
    np.testing.assert_allclose(result.final_loss[0], full, rtol=1e-12)
    first_batch = np.asarray(batching.epoch_batches(jax.random.key(0), 0, N, B))[0]
    assert abs(float(regression_loss(start, x[first_batch], y[first_batch])) - result.losses[0, 0]) > 1e-3
    np.testing.assert_allclose(result.losses[0, 0], regression_loss(start, x, y), rtol=1e-12)
    history = jl.fit(regression_loss, start, optax.sgd(0.05), steps=STEPS, args=(x, y), batch_size=B,
                     key=jax.random.key(0), record_every=3, track_params=True).params_history
    recomputed = [float(regression_loss(jax.tree_util.tree_map(lambda h, k=k: h[k], history), x, y))
                  for k in range(result.losses.shape[1])]
    np.testing.assert_allclose(result.losses[0], recomputed, rtol=1e-12)


# --- hyperparameters ------------------------------------------------------------------------


@pytest.mark.slow
def test_hyperparameter_lanes_equal_fit_with_the_factory_called_on_them(x64):
    x, y = regression_data(jnp.float64)
    start = jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), regression_init(jax.random.key(2)))
    grid = {"b1": [0.5, 0.9], "b2": [0.9, 0.999]}
    result = jl.sweep(regression_loss, start, optax.adam, [0.01, 0.1], steps=20, args=(x, y), hyperparams=grid)
    lanes = set(zip(result.learning_rates.tolist(), result.hyperparams["b1"].tolist(),
                    result.hyperparams["b2"].tolist()))
    assert len(lanes) == result.n_lanes == 8  # the full product
    for lane in range(result.n_lanes):
        values = {name: float(result.hyperparams[name][lane]) for name in grid}
        alone = jl.fit(regression_loss, start, optax.adam(float(result.learning_rates[lane]), **values), steps=20,
                       args=(x, y))
        np.testing.assert_allclose(result.losses[lane], alone.losses, rtol=1e-12)
        assert_tree_close(lane_params(result, lane), alone.params, rtol=1e-12, atol=1e-12)
    best = result.best()
    assert {"b1", "b2"} <= set(best)


def test_new_hyperparameter_values_do_not_recompile(caplog):
    x, y = regression_data()
    kwargs = dict(steps=12, args=(x, y), batch_size=B)
    start = regression_init(jax.random.key(0))
    jl.sweep(regression_loss, start, optax.sgd, [0.01, 0.1], hyperparams={"momentum": [0.0, 0.5]}, **kwargs)
    jl.fit(regression_loss, start, optax.sgd, learning_rate=0.1, key=jax.random.key(0), **kwargs)
    with caplog.at_level(logging.DEBUG), jax.log_compiles():
        result = jl.sweep(regression_loss, start, optax.sgd, [0.02, 0.3], hyperparams={"momentum": [0.3, 0.9]},
                          **kwargs)
        jl.fit(regression_loss, start, optax.sgd, learning_rate=0.02, key=jax.random.key(4), **kwargs)
    compiles = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage()]
    assert compiles == []
    assert sorted(set(result.hyperparams["momentum"].tolist())) == [0.3, 0.9]


# --- schedules and validation ---------------------------------------------------------------


@pytest.mark.slow
def test_schedule_lane_equals_fit_with_a_scheduled_optax_optimizer(x64):
    x, y = regression_data(jnp.float64)
    start = jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), regression_init(jax.random.key(4)))
    unit = optax.warmup_cosine_decay_schedule(0.0, 1.0, 5, 20)
    rates = [0.01, 0.2]
    result = jl.sweep(regression_loss, start, optax.adam, rates, steps=20, args=(x, y), schedule=unit)
    for lane, lr in enumerate(rates):
        # optax's schedule returns float32 even with x64 and a Python float times it stays float32 (weak
        # typing), while a lane's rate has the parameters' dtype: the oracle's rate is a float64 array
        peak = jnp.asarray(lr, jnp.float64)
        scheduled = jl.fit(regression_loss, start, optax.adam(lambda t, peak=peak: peak * unit(t)), steps=20,
                           args=(x, y))
        factory_form = jl.fit(regression_loss, start, optax.adam, learning_rate=lr, schedule=unit, steps=20,
                              args=(x, y))
        np.testing.assert_allclose(result.losses[lane], scheduled.losses, rtol=1e-12)
        assert_tree_close(lane_params(result, lane), scheduled.params, rtol=1e-12, atol=1e-12)
        assert_tree_close(factory_form.params, scheduled.params, rtol=1e-12, atol=1e-12)
    constant = jl.fit(regression_loss, start, optax.adam(0.2), steps=20, args=(x, y))
    assert not np.allclose(constant.losses, result.losses[1])  # the schedule did change the run


@pytest.mark.slow
def test_eval_records_equal_an_independent_evaluation(x64):
    x, y = regression_data(jnp.float64)
    x_val, y_val = held_out(jnp.float64)
    metric = max_abs_error
    init = lambda key: jax.tree_util.tree_map(lambda p: p.astype(jnp.float64), regression_init(key))  # noqa: E731
    result = jl.sweep(regression_loss, init, optax.sgd, [0.01, 0.1], steps=STEPS, args=(x, y), seeds=2,
                      batch_size=B, eval_fn=metric, eval_args=(x_val, y_val), record_every=2)
    assert result.metric_name == "final_eval" and result.eval_losses.shape == result.losses.shape
    for lane in range(result.n_lanes):
        p = jax.tree_util.tree_map(np.asarray, lane_params(result, lane))
        by_hand = np.max(np.abs(np.asarray(x_val) @ p["w"] + p["b"] - np.asarray(y_val)))  # NumPy, not eval_fn
        np.testing.assert_allclose(result.final_eval[lane], by_hand, rtol=1e-12)
        seed, lr = int(result.seeds[lane]), float(result.learning_rates[lane])
        alone = jl.fit(regression_loss, init(jax.random.key(seed)), optax.sgd, learning_rate=lr, steps=STEPS, args=(x, y),
                       batch_size=B, key=jax.random.key(seed), record_every=2, track_params=True,
                       eval_fn=metric, eval_args=(x_val, y_val))
        recomputed = [float(metric(jax.tree_util.tree_map(lambda h, k=k: h[k], alone.params_history), x_val, y_val))
                      for k in range(result.eval_losses.shape[1])]
        np.testing.assert_allclose(result.eval_losses[lane], recomputed, rtol=1e-12)
        np.testing.assert_allclose(alone.eval_losses, recomputed, rtol=1e-12)
        np.testing.assert_allclose(alone.final_eval, by_hand, rtol=1e-12)
    assert result.best()["metric"] == "final_eval"


# --- model objects: the partition / combine pattern with plain pytrees -------------------------

Model = collections.namedtuple("Model", ["weights", "activation"])


def partition(model):
    """What ``eqx.partition(model, eqx.is_inexact_array)`` does, for a plain pytree."""
    is_array = lambda leaf: isinstance(leaf, jax.Array)  # noqa: E731
    params = jax.tree_util.tree_map(lambda leaf: leaf if is_array(leaf) else None, model)
    static = jax.tree_util.tree_map(lambda leaf: None if is_array(leaf) else leaf, model)
    return params, static


def combine(params, static):
    return jax.tree_util.tree_map(lambda a, b: b if a is None else a, params, static, is_leaf=lambda v: v is None)


@pytest.mark.slow
def test_partitioned_model_sweeps_like_fit(x64):
    x, y = regression_data(jnp.float64)
    model = Model({"w": jnp.zeros(3, jnp.float64), "b": jnp.zeros((), jnp.float64)}, jnp.tanh)
    params, static = partition(model)

    def loss(p, x, y):
        whole = combine(p, static)
        return jnp.mean((whole.activation(x @ whole.weights["w"] + whole.weights["b"]) - jnp.tanh(y)) ** 2)

    result = jl.sweep(loss, params, optax.sgd, [0.1, 0.5], steps=15, args=(x, y), batch_size=B)
    assert isinstance(result.params, Model) and result.params.activation is None
    for lane, lr in enumerate([0.1, 0.5]):
        alone = jl.fit(loss, params, optax.sgd(lr), steps=15, args=(x, y), batch_size=B, key=jax.random.key(0))
        assert_tree_close(lane_params(result, lane), alone.params, rtol=1e-12, atol=1e-12)


# --- bad input: answered clearly, before anything compiles -----------------------------------

def parabola(x):
    return x**2 + 10.0


def my_act(v):
    return v


X5 = jnp.asarray(5.0)
XS, YS = regression_data()
START = regression_init(jax.random.key(0))
MODEL_LIKE = {"w": jnp.ones(2), "activation": my_act}  # an Equinox module's leaves include its functions
SWEEP = dict(loss_fn=parabola, init=X5, optimizer=optax.sgd, learning_rates=[0.1], steps=5)
REG_SWEEP = dict(loss_fn=regression_loss, init=START, optimizer=optax.sgd, learning_rates=[0.1], steps=5,
                 args=(XS, YS))
FIT = dict(loss_fn=regression_loss, params=START, optimizer=optax.sgd(0.1), steps=5, args=(XS, YS))
SCHEDULE_IN_FACTORY = lambda lr: optax.adam(optax.warmup_cosine_decay_schedule(0.0, lr, 2, 5))  # noqa: E731


def sweep(base=SWEEP, **change):
    return functools.partial(jl.sweep, **{**base, **change})


def fit(**change):
    return functools.partial(jl.fit, **{**FIT, **change})


BAD = [
    ("positional partial", sweep(optimizer=functools.partial(optax.sgd, 0.1)), TypeError,
     r"functools\.partial\(sgd, 0\.1, \.\.\.\).*positional.*as keywords.*momentum=0\.9"),
    ("factory lacks the hyperparameter", sweep(optimizer=optax.adam, hyperparams={"momentum": [0.9]}), ValueError,
     r"optimizer 'adam' does not accept the hyperparameter\(s\) \['momentum'\]"),
    ("hyperparameter named learning_rate", sweep(hyperparams={"learning_rate": [0.1]}), ValueError,
     r"hyperparams keys must be keyword names.*other than learning_rate"),
    ("hyperparameter values empty", sweep(hyperparams={"momentum": []}), ValueError,
     r"hyperparams\['momentum'\] must be a non-empty 1-D sequence"),
    ("schedule built from the traced rate", sweep(optimizer=SCHEDULE_IN_FACTORY), TypeError,
     r"traced learning rate.*schedule=unit_schedule"),
    ("schedule not callable", sweep(schedule=0.5), TypeError, r"schedule must be a callable step -> multiplier"),
    ("model object in init", sweep(loss_fn=lambda p: jnp.sum(p["w"] ** 2), init=MODEL_LIKE), TypeError,
     r"init must be a pytree of arrays; it holds a function leaf.*eqx\.partition"),
    ("batch larger than the data", sweep(REG_SWEEP, batch_size=N + 1), ValueError,
     rf"batch_size \({N + 1}\) must be <= the number of examples in args \({N}\)"),
    ("batch without data", sweep(batch_size=2), ValueError, r"batch_size needs data"),
    ("batch with unequal example axes", sweep(REG_SWEEP, args=(XS, YS[:-1]), batch_size=2), ValueError,
     r"same number of examples"),
    ("eval_args without eval_fn", sweep(REG_SWEEP, eval_args=(XS, YS)), ValueError, r"eval_args given without eval_fn"),
    ("eval_fn not scalar", sweep(REG_SWEEP, eval_fn=lambda p, x: x @ p["w"], eval_args=(XS,)), ValueError,
     r"must return a scalar"),
    # fit
    ("fit batch without key", fit(batch_size=B), ValueError, r"batch_size needs key=jax\.random\.key"),
    ("fit key without batch", fit(key=jax.random.key(0)), ValueError, r"key is the batch order.*batch_size"),
    ("fit key not a key", fit(batch_size=B, key=3), TypeError, r"key must be one jax\.random key"),
    ("fit batch larger than data", fit(batch_size=N + 1, key=jax.random.key(0)), ValueError,
     r"batch_size \(25\) must be <="),
    ("fit learning_rate with a built optimizer", fit(learning_rate=0.1), TypeError,
     r"learning_rate is for a factory optimizer"),
    ("fit factory without learning_rate", fit(optimizer=optax.sgd), TypeError,
     r"looks like a factory.*learning_rate="),
    ("fit schedule without learning_rate", fit(schedule=optax.cosine_decay_schedule(1.0, 5)), ValueError,
     r"schedule needs a factory optimizer and learning_rate="),
    ("fit schedule built from the traced rate", fit(optimizer=SCHEDULE_IN_FACTORY, learning_rate=0.1), TypeError,
     r"traced learning rate.*fit\(\.\.\., schedule=unit_schedule\)"),
    ("fit learning_rate negative", fit(optimizer=optax.sgd, learning_rate=-1.0), ValueError,
     r"learning_rate must be finite and > 0"),
    ("fit learning_rate underflows", fit(optimizer=optax.sgd, learning_rate=1e-60), ValueError,
     r"learning_rate 1e-60 cannot be represented in the parameters' dtype float32"),
    ("fit model object", fit(loss_fn=lambda p: jnp.sum(p["w"] ** 2), params=MODEL_LIKE, args=()), TypeError,
     r"params must be a pytree of arrays; leaf \['activation'\] is a function.*eqx\.partition"),
    ("fit eval_args without eval_fn", fit(eval_args=(XS, YS)), ValueError, r"eval_args given without eval_fn"),
]


@pytest.mark.parametrize("call,error,match", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_input_is_answered_before_compiling(compile_watch, call, error, match):
    with no_compilation(), pytest.raises(error, match=match):
        call()


def test_model_object_from_an_init_function_names_eqx_partition(compile_watch):
    with no_compilation(), pytest.raises(TypeError, match=r"eqx\.partition"):
        jl.sweep(lambda p: jnp.sum(p["w"] ** 2), lambda key: MODEL_LIKE, optax.sgd, [0.1], steps=5, seeds=2)


class CallableModel(collections.namedtuple("CallableModel", ["weight", "activation"])):
    """Like an Equinox module: a pytree with array and function leaves that is itself callable."""

    def __call__(self, x):
        return self.activation(x @ self.weight)


CALLABLE_MODEL = CallableModel(jnp.ones((3, 1)), my_act)


def test_callable_model_object_as_init_names_eqx_partition(compile_watch):
    with no_compilation(), pytest.raises(TypeError, match=r"eqx\.partition"):
        jl.sweep(lambda p, x: jnp.sum(p.weight ** 2), CALLABLE_MODEL, optax.sgd, [0.1], steps=5, args=(XS,))


def test_callable_model_object_in_fit_names_eqx_partition(compile_watch):
    with no_compilation(), pytest.raises(TypeError, match=r"leaf .*activation.* is a function.*eqx\.partition"):
        jl.fit(lambda p, x: jnp.sum(p.weight ** 2), CALLABLE_MODEL, optax.sgd(0.1), steps=5, args=(XS,))


def test_the_compile_watch_can_fail(compile_watch):
    with pytest.raises(AssertionError, match="compilation ran"), no_compilation():
        jl.sweep(parabola, jnp.asarray(3.0), optax.sgd, [0.1], steps=3)
