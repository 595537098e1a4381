"""Hand-rolled optimizers (``jl.optim``) against their optax twins.

The oracle is optax itself: every hand optimizer and its optax twin see the same
gradients and parameters, and their updates (or whole trajectories) must agree to
rtol 1e-5 in float32 and 1e-12 in float64. To keep compilation cheap, each expensive
comparison is one jitted ``lax.scan`` per optimizer (cached and shared by the tests
that read it), and the hypothesis property compiles once for all optimizers, taking
the hyperparameters as traced arguments.
"""

from __future__ import annotations

import doctest
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_tree_close
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxopt_lessons as jl
from jaxopt_lessons import optim
from jaxopt_lessons.train import train_step


def _decay_matrices(params):
    """An adamw/lion mask: weight decay on 2-D leaves only (not on biases)."""
    return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)


# (name, hand factory, optax factory, kwargs besides the learning rate)
OPTIMIZERS = [
    ("sgd", optim.sgd, optax.sgd, {}),
    ("sgd_momentum", optim.sgd, optax.sgd, {"momentum": 0.9}),
    ("sgd_nesterov", optim.sgd, optax.sgd, {"momentum": 0.9, "nesterov": True}),
    ("adam", optim.adam, optax.adam, {}),
    ("adamw", optim.adamw, optax.adamw, {"b1": 0.8, "eps_root": 1e-10, "weight_decay": 0.05}),
    ("adamw_masked", optim.adamw, optax.adamw, {"weight_decay": 0.1, "mask": _decay_matrices}),
    ("lion", optim.lion, optax.lion, {"weight_decay": 0.05}),
]
NAMES = [row[0] for row in OPTIMIZERS]
BY_NAME = {row[0]: row[1:] for row in OPTIMIZERS}
RTOL = {jnp.float32: 1e-5, jnp.float64: 1e-12}
STREAM_STEPS = 1000
LEARNING_RATE = 0.01


def _pair(name, learning_rate):
    hand, reference, kwargs = BY_NAME[name]
    return hand(learning_rate, **kwargs), reference(learning_rate, **kwargs)


# --------------------------------------------------------------------------- gradient streams


def _stream_params(dtype):
    return {"W": jnp.zeros((3, 4), dtype), "b": jnp.zeros((4,), dtype)}


def _random_like(key, tree, log_scale=0.0):
    """Normal draws shaped like ``tree`` times exp(log_scale * normal): magnitudes over decades."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, 2 * len(leaves))
    drawn = [
        jax.random.normal(k1, x.shape, x.dtype)
        * jnp.exp(log_scale * jax.random.normal(k2, x.shape, x.dtype))
        for x, k1, k2 in zip(leaves, keys[::2], keys[1::2])
    ]
    return jax.tree.unflatten(treedef, drawn)


@functools.partial(jax.jit, static_argnames=("steps", "dtype"))
def _gradient_stream(key, steps, dtype):
    """``steps`` random (gradients, params) pairs shaped like ``_stream_params``, stacked.

    Gradients span several decades (lognormal scale); both are drawn independently of
    any optimizer, so every step compares two rules on identical inputs.
    """
    grad_key, params_key = jax.random.split(key)
    params_like = jax.tree.map(lambda p: jnp.zeros((steps, *p.shape), dtype), _stream_params(dtype))
    return _random_like(grad_key, params_like, log_scale=1.0), _random_like(params_key, params_like)


@functools.cache
def _fixed_stream_float32(steps):
    return jax.device_get(_gradient_stream(jax.random.key(0), steps, jnp.float32))


def _fixed_stream(steps, dtype):
    """The test stream; float64 is the float32 draw widened, saving a second RNG compile."""
    return jax.tree.map(lambda x: np.asarray(x, dtype), _fixed_stream_float32(steps))


def _updates_on_stream(optimizers, stream):
    """Runs every optimizer over the same (gradient, params) stream; returns their stacked updates."""
    params_like = jax.tree.map(lambda p: p[0], stream[1])
    states = [opt.init(params_like) for opt in optimizers]

    def step(states, grads_and_params):
        grads, params = grads_and_params
        outs = [opt.update(grads, state, params) for opt, state in zip(optimizers, states)]
        return [state for _, state in outs], [updates for updates, _ in outs]

    return jax.lax.scan(step, states, stream)[1]


def _schedule(learning_rate):
    return optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, warmup_steps=100, decay_steps=STREAM_STEPS
    )


def _variants(name):
    """(variant name, hand optimizer, optax optimizer): plain, scheduled, after gradient clipping."""
    (hand, reference), (hand_s, reference_s) = (
        _pair(name, LEARNING_RATE),
        _pair(name, _schedule(LEARNING_RATE)),
    )
    clip = optax.clip_by_global_norm(1.0)
    return [
        ("constant", hand, reference),
        ("schedule", hand_s, reference_s),
        ("clipped", optax.chain(clip, hand), optax.chain(clip, reference)),
    ]


@functools.cache
def _stream_updates(name, dtype, variants=("constant", "schedule", "clipped")):
    """{variant: (hand updates, optax updates)} over STREAM_STEPS steps, in one jitted scan."""
    chosen = [row for row in _variants(name) if row[0] in variants]
    optimizers = [opt for _, hand, reference in chosen for opt in (hand, reference)]
    updates = jax.device_get(
        jax.jit(functools.partial(_updates_on_stream, optimizers))(
            _fixed_stream(STREAM_STEPS, dtype)
        )
    )
    return {
        variant: (updates[2 * i], updates[2 * i + 1]) for i, (variant, _, _) in enumerate(chosen)
    }


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["constant", "schedule", "clipped"])
@pytest.mark.parametrize("name", NAMES)
def test_same_updates_as_optax_on_a_gradient_stream(name, variant):
    """(a) 1000 steps under jit, (c) with an optax schedule, (d) after clip_by_global_norm."""
    hand, reference = _stream_updates(name, jnp.float32)[variant]
    assert_tree_close(hand, reference, RTOL[jnp.float32])
    assert all(np.any(leaf != 0) for leaf in jax.tree.leaves(reference))


@pytest.mark.parametrize("name", NAMES)
def test_same_updates_as_optax_in_float64(x64, name):
    hand, reference = _stream_updates(name, jnp.float64, ("constant",))["constant"]
    assert jax.tree.leaves(hand)[0].dtype == np.float64
    assert_tree_close(hand, reference, RTOL[jnp.float64])


@pytest.mark.parametrize("name", NAMES)
def test_eager_updates_equal_optax_and_jitted(name):
    """(e) without jit: a few eager steps against eager optax, and against the jitted run.

    Eager and jitted runs may differ by an ulp of the update's scale (XLA fuses
    ``g + mu * v`` into an FMA under jit, and the sum can cancel), hence the atol.
    """
    hand, reference = _pair(name, LEARNING_RATE)
    grads_stream, params_stream = _fixed_stream(STREAM_STEPS, jnp.float32)
    jitted = _stream_updates(name, jnp.float32)["constant"][0]
    params = jax.tree.map(lambda p: p[0], params_stream)
    hand_state, reference_state = hand.init(params), reference.init(params)
    for i in range(3):
        grads, params = (
            jax.tree.map(lambda x, i=i: x[i], tree) for tree in (grads_stream, params_stream)
        )
        hand_updates, hand_state = hand.update(grads, hand_state, params)
        reference_updates, reference_state = reference.update(grads, reference_state, params)
        assert_tree_close(hand_updates, reference_updates, RTOL[jnp.float32])
        assert_tree_close(
            hand_updates,
            jax.tree.map(lambda u, i=i: u[i], jitted),
            RTOL[jnp.float32],
            atol=1e-5 * LEARNING_RATE,
        )


# --------------------------------------------------------------------------- trajectories


def _parabola(x):
    return jnp.sum(jnp.array([1.0, 2.0, 5.0]) * (x - jnp.array([1.0, -2.0, 0.5])) ** 2) + 10.0


def _rosenbrock(p):
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def _mlp_problem():
    keys = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(keys[0], (16, 2))
    y = jnp.sin(x[:, :1]) * jnp.cos(x[:, 1:])

    def loss(params):
        return jl.mse(jl.mlp(params, x, activation="tanh"), y)

    return loss, jl.init_mlp(keys[2], [2, 8, 1])


# (problem, loss, initial params, learning rate, steps)
PROBLEMS = [
    ("parabola", _parabola, jnp.zeros(3), 0.05, 300),
    ("rosenbrock", _rosenbrock, jnp.array([-1.2, 1.0]), 2e-4, 1000),
    ("mlp", *_mlp_problem(), 0.05, 300),
]


def _trajectory(loss_fn, params, optimizer, steps):
    """``steps`` of ``train_step`` in a ``lax.scan``; returns (losses before each step, final params)."""
    grad_fn = jax.value_and_grad(loss_fn)

    def step(carry, _):
        params, opt_state = carry
        params, opt_state, loss = train_step(grad_fn, optimizer, params, opt_state, ())
        return (params, opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return losses, params


@functools.cache
def _trajectories(name):
    """{problem: ((hand losses, hand params), (optax losses, optax params))}, one compile per optimizer."""

    @jax.jit
    def run():
        out = {}
        for problem, loss_fn, init, learning_rate, steps in PROBLEMS:
            hand, reference = _pair(name, learning_rate)
            out[problem] = (
                _trajectory(loss_fn, init, hand, steps),
                _trajectory(loss_fn, init, reference, steps),
            )
        return out

    return jax.device_get(run())


@pytest.mark.slow
@pytest.mark.parametrize("problem", [row[0] for row in PROBLEMS])
@pytest.mark.parametrize("name", NAMES)
def test_same_trajectory_as_optax(name, problem):
    """(b) whole optimisation runs: losses and final params agree with optax's."""
    (hand_losses, hand_params), (reference_losses, reference_params) = _trajectories(name)[problem]
    assert np.all(np.isfinite(reference_losses))
    assert reference_losses[-1] < reference_losses[0]  # the run really went somewhere
    assert_tree_close(hand_losses, reference_losses, RTOL[jnp.float32])
    assert_tree_close(hand_params, reference_params, RTOL[jnp.float32], atol=1e-6)


def test_hand_adam_in_fit_matches_optax_adam():
    """The public loop: ``jl.fit`` with the hand Adam retraces optax Adam's run."""
    _, loss_fn, init, learning_rate, steps = PROBLEMS[1]
    hand = jl.fit(loss_fn, init, optim.adam(10 * learning_rate), steps=steps, record_every=10)
    reference = jl.fit(loss_fn, init, optax.adam(10 * learning_rate), steps=steps, record_every=10)
    assert float(reference.final_loss) < float(reference.losses[0])
    assert_tree_close(hand.losses, reference.losses, RTOL[jnp.float32])
    assert_tree_close(hand.params, reference.params, RTOL[jnp.float32], atol=1e-6)


# --------------------------------------------------------------------------- vmap over learning rates

LANE_LEARNING_RATES = (0.003, 0.01, 0.05)
LANE_STEPS = 100


@functools.cache
def _lanes():
    """Each hand optimizer built *inside* ``vmap`` from a traced learning rate (as a sweep
    does), vs optax built from each Python float learning rate separately, on the
    parabola. One compile for all optimizers."""
    _, loss_fn, init, _, _ = PROBLEMS[0]

    @jax.jit
    def run(learning_rates):
        out = {}
        for name in NAMES:
            hand = jax.vmap(
                lambda lr, name=name: _trajectory(loss_fn, init, _pair(name, lr)[0], LANE_STEPS)
            )
            reference = [
                _trajectory(loss_fn, init, _pair(name, lr)[1], LANE_STEPS)
                for lr in LANE_LEARNING_RATES
            ]
            out[name] = (hand(learning_rates), reference)
        return out

    return jax.device_get(run(jnp.array(LANE_LEARNING_RATES)))


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_learning_rates(name):
    """(f) a sweep's lanes: traced learning rates give optax's float-learning-rate runs."""
    (hand_losses, hand_params), reference = _lanes()[name]
    assert hand_losses.shape == (len(LANE_LEARNING_RATES), LANE_STEPS)
    for lane, (reference_losses, reference_params) in enumerate(reference):
        assert_tree_close(hand_losses[lane], reference_losses, RTOL[jnp.float32])
        assert_tree_close(hand_params[lane], reference_params, RTOL[jnp.float32], 1e-6)
    assert not np.allclose(hand_losses[0], hand_losses[-1])  # lanes really differ


# --------------------------------------------------------------------------- structure and dtypes


def _state_fields(state, field):
    """Every value of the NamedTuple field ``field`` (e.g. ``"mu"``, ``"count"``) inside a chained state."""
    found = []

    def visit(node):
        if field in getattr(node, "_fields", ()):
            found.append(getattr(node, field))
        if isinstance(node, (tuple, list)):
            for child in node:
                visit(child)

    visit(state)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_state_and_updates_keep_structure_and_dtypes(x64, name):
    """(g) mixed float32/float64 params: updates and moments mirror params leaf by leaf."""
    params = {
        "layers": [jnp.ones((2, 3), jnp.float32), jnp.ones((3,), jnp.float64)],
        "scale": jnp.float64(2.0),
    }
    grads = jax.tree.map(lambda p: 0.5 * p, params)
    hand = _pair(name, 0.1)[0]
    state = hand.init(params)
    updates, state = hand.update(grads, state, params)
    expected = jax.tree.map(lambda p: (p.shape, p.dtype), params)
    assert jax.tree.map(lambda u: (u.shape, u.dtype), updates) == expected
    moments = [tree for field in ("mu", "nu", "trace") for tree in _state_fields(state, field)]
    assert len(moments) == {"sgd": 0, "adam": 2, "adamw": 2, "adamw_masked": 2}.get(name, 1)
    for moment in moments:
        assert jax.tree.map(lambda m: (m.shape, m.dtype), moment) == expected
    counts = _state_fields(state, "count")
    assert len(counts) == (1 if name.startswith("adam") else 0)
    for count in counts:
        assert count.dtype == jnp.int32 and count.shape == () and int(count) == 1


# --------------------------------------------------------------------------- property


def _hyperparameter_pairs(lr, b1, b2, eps, eps_root, momentum, weight_decay):
    """Every hand/optax pair built from the same (traced) hyperparameters."""
    return {
        "sgd": (optim.sgd(lr), optax.sgd(lr)),
        "sgd_momentum": (optim.sgd(lr, momentum), optax.sgd(lr, momentum)),
        "sgd_nesterov": (
            optim.sgd(lr, momentum, nesterov=True),
            optax.sgd(lr, momentum, nesterov=True),
        ),
        "adam": (optim.adam(lr, b1, b2, eps, eps_root), optax.adam(lr, b1, b2, eps, eps_root)),
        "adamw": (
            optim.adamw(lr, b1, b2, eps, eps_root, weight_decay=weight_decay),
            optax.adamw(lr, b1, b2, eps, eps_root, weight_decay=weight_decay),
        ),
        "lion": (
            optim.lion(lr, b1, b2, weight_decay),
            optax.lion(lr, b1, b2, weight_decay=weight_decay),
        ),
    }


@jax.jit
def _property_updates(key, hyperparameters):
    """Hand and optax updates over a 64-step stream for traced hyperparameters (compiled once)."""
    pairs = _hyperparameter_pairs(*hyperparameters)
    optimizers = [opt for pair in pairs.values() for opt in pair]
    updates = _updates_on_stream(optimizers, _gradient_stream(key, 64, jnp.float32))
    return {name: (updates[2 * i], updates[2 * i + 1]) for i, name in enumerate(pairs)}


decay_rates = st.floats(0.0, 0.999)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    lr=st.floats(1e-5, 1.0),
    b1=decay_rates,
    b2=st.floats(0.0, 0.9999),
    eps=st.floats(1e-10, 1e-2),
    eps_root=st.sampled_from([0.0, 1e-12, 1e-6]),
    momentum=decay_rates,
    weight_decay=st.floats(0.0, 0.1),
)
def test_property_hand_equals_optax_for_random_hyperparameters(
    seed, lr, b1, b2, eps, eps_root, momentum, weight_decay
):
    """(h) issue 6: each hand optimizer == its optax twin for random hyperparameters."""
    hyperparameters = jnp.array([lr, b1, b2, eps, eps_root, momentum, weight_decay], jnp.float32)
    for name, (hand, reference) in _property_updates(
        jax.random.key(seed), tuple(hyperparameters)
    ).items():
        try:
            assert_tree_close(hand, reference, RTOL[jnp.float32], atol=1e-30)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None


# --------------------------------------------------------------------------- complex parameters
# optax's own alias_test runs sgd(momentum)/adam/adamw on complex64 parabola and Rosenbrock
# problems (a minimum at (1 + 1j) * real minimum) and skips lion on complex; the same here,
# in real and complex dtypes, against optax and against the known minimum.

DTYPES = [jnp.float32, jnp.float64, jnp.complex64, jnp.complex128]
DTYPE_RTOL = {jnp.float32: 1e-5, jnp.complex64: 1e-5, jnp.float64: 1e-12, jnp.complex128: 1e-12}
COMPLEX_STEPS = 300
REAL_ONLY = {"lion"}
WIDE = (jnp.float64, jnp.complex128)


def _is_complex(dtype):
    return jnp.issubdtype(dtype, jnp.complexfloating)


def _abs_sq(z):
    return jnp.real(z * jnp.conj(z))


def _complex_parabola(dtype):
    """optax alias_test's parabola: sum |x - x*|^2 from (-1, 10, 1)."""
    final = jnp.array([1.0, -1.0, 1.0], dtype) * (1 + 1j if _is_complex(dtype) else 1)
    return jnp.array([-1.0, 10.0, 1.0], dtype), final, lambda x: jnp.sum(_abs_sq(x - final))


def _complex_rosenbrock(dtype):
    """optax alias_test's Rosenbrock: |a - x0|^2 + 100 |x1 - x0^2|^2 with a = 1 (+1j if complex)."""
    a = 1 + 1j if _is_complex(dtype) else 1.0
    return (
        jnp.zeros(2, dtype),
        jnp.array([a, a**2], dtype),
        lambda x: _abs_sq(a - x[0]) + 100.0 * _abs_sq(x[1] - x[0] ** 2),
    )


# (target, learning rate): small enough for every optimizer to stay finite over COMPLEX_STEPS
COMPLEX_TARGETS = [(_complex_parabola, 0.01), (_complex_rosenbrock, 1e-3)]


def _descend(loss_fn, params, optimizer, steps):
    """``steps`` updates with the conjugated gradient (the descent direction for complex
    parameters, as optax's alias_test does); returns (losses, final params)."""

    def step(carry, _):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, state = optimizer.update(jnp.conj(grads), state, params)
        return (optax.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return losses, params


@functools.cache
def _complex_runs(name, dtype):
    """{target: (hand (losses, params), optax (losses, params))}, one compile per (optimizer, dtype)."""

    @jax.jit
    def run():
        out = {}
        for target, learning_rate in COMPLEX_TARGETS:
            init, _, loss_fn = target(dtype)
            hand, reference = _pair(name, learning_rate)
            out[target.__name__] = (
                _descend(loss_fn, init, hand, COMPLEX_STEPS),
                _descend(loss_fn, init, reference, COMPLEX_STEPS),
            )
        return out

    return jax.device_get(run())


@pytest.mark.slow
@pytest.mark.parametrize("target", [row[0].__name__ for row in COMPLEX_TARGETS])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_same_trajectory_as_optax_in_real_and_complex_dtypes(name, dtype, target):
    if name in REAL_ONLY and _is_complex(dtype):  # optax does not support it either
        with jax.enable_x64(dtype in WIDE), pytest.raises(TypeError, match="lion does not support complex"):
            _complex_runs(name, dtype)
        return
    with jax.enable_x64(dtype in WIDE):
        (hand_losses, hand_params), (reference_losses, reference_params) = _complex_runs(name, dtype)[target]
    assert hand_params.dtype == reference_params.dtype == jnp.dtype(dtype)
    assert np.all(np.isfinite(reference_losses)) and reference_losses[-1] < 0.9 * reference_losses[0]
    if jnp.iscomplexobj(hand_params):  # the imaginary parts really moved (towards +1j-ish minima)
        assert np.abs(np.imag(reference_params)).max() > 0.05
    assert_tree_close(hand_losses, reference_losses, DTYPE_RTOL[dtype])
    assert_tree_close(hand_params, reference_params, DTYPE_RTOL[dtype], atol=10 * DTYPE_RTOL[dtype])


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_complex_adam_first_step_is_the_unit_phase_of_the_gradient(name):
    # Independent of optax: m_hat = g and v_hat = |g|^2 after one step, so u = -lr g / (|g| + eps).
    # With g**2 instead of |g|^2, sqrt(v_hat) would be g itself and u = -lr (wrong phase).
    params = jnp.zeros(2, jnp.complex64)
    grads = jnp.array([3 + 4j, -1j], jnp.complex64)
    opt = _pair(name, 0.1)[0]
    updates, state = opt.update(grads, opt.init(params), params)
    # rtol 2e-5: 1 - 0.999 rounds to 0.000999987 in float32, so sqrt(v_hat) is off by ~6e-6.
    np.testing.assert_allclose(updates, -0.1 * np.array([0.6 + 0.8j, -1j]), rtol=2e-5)
    nu = _state_fields(state, "nu")[0]
    assert nu.dtype == jnp.complex64
    np.testing.assert_allclose(nu, 0.001 * np.array([25.0, 1.0]), rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd_momentum"])
def test_complex_runs_reach_the_known_minimum(name):
    """optax alias_test's check on the parabola: the minimum (1+1j, -1-1j, 1+1j) to 3e-2."""
    init, final, loss_fn = _complex_parabola(jnp.complex64)
    learning_rate = 1e-3 if name == "sgd_momentum" else 0.1
    _, params = jax.jit(lambda p: _descend(loss_fn, p, _pair(name, learning_rate)[0], 2000))(init)
    np.testing.assert_allclose(params, final, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("dtype", [jnp.complex64, jnp.complex128], ids=lambda d: jnp.dtype(d).name)
def test_lion_rejects_complex_parameters(dtype):
    with jax.enable_x64(dtype in WIDE):
        params = {"w": jnp.ones(2), "z": jnp.ones(2, dtype)}
        with pytest.raises(TypeError, match=r"lion does not support complex parameters \(leaf \['z'\]"):
            optim.lion(0.01).init(params)
        real = {"w": jnp.ones(2), "z": jnp.ones(2)}
        opt = optim.lion(0.01)
        with pytest.raises(TypeError, match=r"complex gradients \(leaf \['z'\]"):
            opt.update({"w": jnp.ones(2), "z": jnp.ones(2, dtype)}, opt.init(real), real)


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize(
    "hand,reference",
    [
        (optim.sgd, optax.sgd),
        (optim.adam, optax.adam),
        (optim.adamw, optax.adamw),
        (optim.lion, optax.lion),
    ],
)
def test_same_argument_names_and_defaults_as_optax(hand, reference):
    hand_parameters = inspect.signature(hand).parameters
    reference_parameters = inspect.signature(reference).parameters
    assert list(hand_parameters)[0] == "learning_rate"
    for name, parameter in hand_parameters.items():
        assert name in reference_parameters, name
        assert parameter.default == reference_parameters[name].default, name


def test_docstring_examples_run():
    results = [doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
               for module in (optim.aliases, optim.registry, optim.transforms)]
    assert sum(r.attempted for r in results) >= 4 and sum(r.failed for r in results) == 0


def test_schedule_weight_decay_and_mask_match_optax():
    grads_stream, params_stream = _fixed_stream(STREAM_STEPS, jnp.float32)
    grads, params = (jax.tree.map(lambda x: x[0], tree) for tree in (grads_stream, params_stream))
    weight_decay = optax.linear_schedule(0.1, 0.0, 10)
    for hand, reference in [
        (optim.adamw(0.1, weight_decay=weight_decay), optax.adamw(0.1, weight_decay=weight_decay)),
        (
            optim.lion(0.1, mask={"W": True, "b": False}),
            optax.lion(0.1, mask={"W": True, "b": False}),
        ),
    ]:
        hand_state, reference_state = hand.init(params), reference.init(params)
        for _ in range(2):
            hand_updates, hand_state = hand.update(grads, hand_state, params)
            reference_updates, reference_state = reference.update(grads, reference_state, params)
            assert_tree_close(hand_updates, reference_updates, RTOL[jnp.float32])


# (factory, kwargs, error, words the message must contain)
BAD_INPUTS = [
    (optim.sgd, {"learning_rate": -0.1}, ValueError, "learning_rate"),
    (optim.sgd, {"learning_rate": float("nan")}, ValueError, "learning_rate"),
    (optim.sgd, {"learning_rate": jnp.array([0.1, -0.2])}, ValueError, "every element"),
    (optim.sgd, {"learning_rate": np.array([[0.1, np.inf]])}, ValueError, "learning_rate"),
    (optim.adam, {"learning_rate": 0.1, "b1": jnp.array([0.9, 0.9])}, ValueError, "b1 must be a scalar"),
    (optim.sgd, {"learning_rate": "0.1"}, TypeError, "learning_rate"),
    (optim.sgd, {"learning_rate": True}, TypeError, "learning_rate"),
    (optim.sgd, {"learning_rate": lambda count: jnp.ones(3)}, ValueError, "learning_rate"),
    (optim.sgd, {"learning_rate": 0.1, "momentum": 1.0}, ValueError, "momentum"),
    (optim.sgd, {"learning_rate": 0.1, "momentum": -0.5}, ValueError, "momentum"),
    (optim.sgd, {"learning_rate": 0.1, "nesterov": True}, ValueError, "nesterov"),
    (optim.sgd, {"learning_rate": 0.1, "momentum": 0.9, "nesterov": "yes"}, TypeError, "nesterov"),
    (optim.adam, {"learning_rate": 0.1, "b1": 1.0}, ValueError, "b1"),
    (optim.adam, {"learning_rate": 0.1, "b1": -0.1}, ValueError, "b1"),
    (optim.adam, {"learning_rate": 0.1, "b2": 1.5}, ValueError, "b2"),
    (optim.adam, {"learning_rate": 0.1, "eps": -1e-8}, ValueError, "eps"),
    (optim.adam, {"learning_rate": 0.1, "eps_root": float("inf")}, ValueError, "eps_root"),
    (optim.adamw, {"learning_rate": 0.1, "weight_decay": -1e-4}, ValueError, "weight_decay"),
    (optim.lion, {"learning_rate": -1.0}, ValueError, "learning_rate"),
    (optim.lion, {"learning_rate": 0.1, "b2": 1.0}, ValueError, "b2"),
    (optim.lion, {"learning_rate": 0.1, "weight_decay": None}, TypeError, "weight_decay"),
]


@pytest.mark.parametrize("factory,kwargs,error,words", BAD_INPUTS)
def test_bad_hyperparameters_raise_naming_the_argument(factory, kwargs, error, words):
    with pytest.raises(error, match=words):
        factory(**kwargs)


def test_traced_hyperparameters_pass_through_unchecked():
    """Checks apply to concrete numbers only: a traced (here negative) value is the caller's business."""
    params = jnp.ones(2)

    def first_update(learning_rate, b1):
        opt = optim.adam(learning_rate, b1=b1)
        return opt.update(params, opt.init(params), params)[0]

    updates = jax.jit(first_update)(-0.1, 0.5)
    np.testing.assert_allclose(updates, 0.1 * np.ones(2), rtol=1e-5)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw", "lion"])
def test_a_vector_of_learning_rates_scales_the_trailing_lane_axis_like_optax(name):
    """One learning rate per lane of lanes-last parameters, concrete or traced: equal to optax."""
    rates = np.array([0.01, 0.1, 0.5], np.float32)
    params = {"W": jnp.linspace(-1.0, 1.0, 12).reshape(2, 2, 3), "b": jnp.array([0.5, -0.5, 1.0])}
    grads = jax.tree.map(lambda p: jnp.cos(3 * p) + 0.1, params)
    factories = {"momentum": lambda module, lr: module.sgd(lr, momentum=0.9)}
    build = factories.get(name, lambda module, lr: getattr(module, name)(lr))

    def two_updates(module, lr):
        opt = build(module, lr)
        state = opt.init(params)
        first, state = opt.update(grads, state, params)
        return opt.update(grads, state, params)[0], first

    want = two_updates(optax, rates)
    assert_tree_close(two_updates(optim, rates), want, RTOL[jnp.float32])
    assert_tree_close(jax.jit(lambda lr: two_updates(optim, lr))(rates), want, RTOL[jnp.float32])
    for lane in range(rates.size):  # each lane equals a scalar-lr run
        one = jax.tree.map(lambda u, lane=lane: u[..., lane], two_updates(optim, float(rates[lane])))
        assert_tree_close(jax.tree.map(lambda u, lane=lane: u[..., lane], want), one, RTOL[jnp.float32])
