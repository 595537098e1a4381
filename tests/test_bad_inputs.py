"""Issue 6, "Bad input": every mistake answered by a clear error, before anything compiles.

One table: each row is a call, the exception type it must raise and a regex that must
name the argument and what was expected (for unknown names: every valid name). The
library calls are wrapped in a listener of JAX's ``backend_compile`` events, so a check
that only fires after XLA compiled something fails here. Arguments are built at import,
outside the watched region (building them may itself run small eager computations).

Separate tables cover ``SweepResult.from_json`` (files that are not saved sweeps, never
unpickled) and the command line (one line on stderr, exit status 2, no traceback).
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import no_compilation

import jaxopt_lessons as jl
from jaxopt_lessons import cli, manual, models, problems
from jaxopt_lessons.sweeps import StatusRules

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("compile_watch")  # every call is watched (helpers.no_compilation)


# --- arguments, built once at import ----------------------------------------------------

KEY = jax.random.key(0)
X5 = jnp.asarray(5.0)
ONES3, ONES4 = jnp.ones(3), jnp.ones(4)
INT3 = jnp.arange(3)
REG = {"w": jnp.ones(2), "b": jnp.zeros(())}
MIXED = {"w": jnp.ones(2), "n": jnp.arange(2)}
MLP = jl.init_mlp(KEY, [2, 2, 1])
XB, YB = jnp.ones((3, 2)), jnp.ones((3, 1))
BUILT = optax.adam(1e-3)
HAND_BUILT = jl.optim.adam(1e-3)
DEVICE_LRS = jnp.asarray([0.1, -1.0])


def parabola(x):
    return x**2 + 10.0


def my_broken_loss(p, x):
    return jnp.sum(p @ x)  # (3,) @ (4,) cannot trace


def reg_loss(p):
    return jnp.sum(p["w"] ** 2) + p["b"]


def vector_loss(x):
    return jnp.stack([x, x])


def int_loss(x):
    return jnp.sum(x > 0)


def complex_loss(x):
    return jnp.sum(x).astype(jnp.complex64)


def tuple_loss(x):
    return jnp.sum(x), jnp.sum(x)


def wrong_leaf_grad(p):
    return reg_loss(p), {"w": jnp.ones(3), "b": p["b"]}


def wrong_tree_grad(p):
    return reg_loss(p), [p["w"], p["b"]]


def missing_leaf_grad(p):
    return reg_loss(p), {"w": p["w"]}


def grads_only(p):
    return jax.grad(reg_loss)(p)


def sum_loss(p):
    return jnp.sum(p["w"] ** 2) + jnp.sum(p["n"])


def key_init(key):
    return {"w": jax.random.normal(key, (2,)), "b": jnp.zeros(())}


def int_init(key):
    return {"w": jnp.arange(2)}


def failing_init(key):
    return {"w": jax.random.normal(key, (2,)) @ jnp.ones(3)}


def scalar_of(lr):
    return optax.sgd(float(lr))  # float() of a tracer: cannot be built inside vmap


SWEEP = dict(loss_fn=parabola, init=X5, optimizer=optax.sgd, learning_rates=[0.1], steps=5)
SWEEP_REG = dict(loss_fn=reg_loss, init=REG, optimizer=optax.sgd, learning_rates=[0.1], steps=5)
FIT = dict(loss_fn=parabola, params=X5, optimizer=optax.sgd(0.1), steps=5)
FIT_REG = dict(loss_fn=reg_loss, params=REG, optimizer=optax.sgd(0.1), steps=5)


def sweep(base=SWEEP, **change):
    return functools.partial(jl.sweep, **{**base, **change})


def fit(base=FIT, **change):
    return functools.partial(jl.fit, **{**base, **change})


def call(fn, *args, **kwargs):
    return functools.partial(fn, *args, **kwargs)


def lists_all(head: str, valid) -> str:
    """A regex requiring ``head`` and every valid name, quoted, anywhere in the message."""
    return "(?s)" + "".join(f"(?=.*{re.escape(text)})" for text in [head, *(repr(v) for v in valid)])


LR_EXPECTED = r"learning_rates must be finite and > 0"

ROWS = [
    # --- sweep: learning rates ---
    ("sweep lr empty", sweep(learning_rates=[]), ValueError, r"learning_rates must not be empty"),
    ("sweep lr empty array", sweep(learning_rates=np.zeros(0)), ValueError, r"learning_rates must not be empty"),
    ("sweep lr negative", sweep(learning_rates=[0.1, -0.1]), ValueError, LR_EXPECTED + r".*-0\.1.*index \[1\]"),
    ("sweep lr zero", sweep(learning_rates=[0.0]), ValueError, LR_EXPECTED + r".*0\.0"),
    ("sweep lr nan", sweep(learning_rates=[float("nan")]), ValueError, LR_EXPECTED + r".*nan"),
    ("sweep lr inf", sweep(learning_rates=[0.1, float("inf")]), ValueError, LR_EXPECTED + r".*inf"),
    ("sweep lr -inf", sweep(learning_rates=[-np.inf]), ValueError, LR_EXPECTED + r".*-inf"),
    ("sweep lr device array", sweep(learning_rates=DEVICE_LRS), ValueError, LR_EXPECTED + r".*-1\.0"),
    ("sweep lr 2-D", sweep(learning_rates=[[0.1, 0.2]]), ValueError, r"learning_rates must be 1-D, got shape \(1, 2\)"),
    ("sweep lr scalar", sweep(learning_rates=0.1), ValueError, r"learning_rates must be 1-D, got shape \(\)"),
    ("sweep lr strings", sweep(learning_rates=["fast"]), TypeError,
     r"learning_rates must be a 1-D sequence of positive floats"),
    # --- sweep: steps and records ---
    ("sweep steps zero", sweep(steps=0), ValueError, r"steps must be a positive int, got 0"),
    ("sweep steps negative", sweep(steps=-3), ValueError, r"steps must be a positive int, got -3"),
    ("sweep steps float", sweep(steps=2.5), TypeError, r"steps must be a positive int, got 2\.5"),
    ("sweep steps bool", sweep(steps=True), TypeError, r"steps must be a positive int, got True"),
    ("sweep steps None", sweep(steps=None), TypeError, r"steps must be a positive int, got None"),
    ("sweep steps huge", sweep(steps=2**31), ValueError, r"steps must be < 2\*\*31 - 1"),
    ("sweep record_every zero", sweep(record_every=0), ValueError, r"record_every must be a positive int, got 0"),
    ("sweep record_every negative", sweep(record_every=-2), ValueError, r"record_every must be a positive int"),
    ("sweep record_every > steps", sweep(record_every=6), ValueError, r"record_every must be <= steps \(5\), got 6"),
    ("sweep record_every float", sweep(record_every=1.5), TypeError, r"record_every must be a positive int"),
    # --- sweep: seeds ---
    ("sweep seeds with pytree init", sweep(seeds=3), ValueError,
     r"seeds must be None when init is a params pytree.*function key -> params"),
    ("sweep seeds list with pytree init", sweep(seeds=[0, 1]), ValueError, r"seeds must be None when init"),
    ("sweep seeds zero", sweep(SWEEP_REG, init=key_init, seeds=0), ValueError, r"seeds must be a positive int, got 0"),
    ("sweep seeds negative", sweep(SWEEP_REG, init=key_init, seeds=-2), ValueError,
     r"seeds must be a positive int, got -2"),
    ("sweep seeds empty", sweep(SWEEP_REG, init=key_init, seeds=[]), ValueError, r"seeds must not be empty"),
    ("sweep seeds negative entry", sweep(SWEEP_REG, init=key_init, seeds=[1, -1]), ValueError,
     r"seeds must be ints in \[0, 2\*\*31\), got -1"),
    ("sweep seeds float entry", sweep(SWEEP_REG, init=key_init, seeds=[1.5]), TypeError, r"seeds must hold ints"),
    ("sweep seeds string", sweep(SWEEP_REG, init=key_init, seeds="3"), TypeError,
     r"seeds must be a positive int count or a sequence of ints"),
    # --- sweep: optimizer ---
    ("sweep built optax optimizer", sweep(optimizer=BUILT), TypeError,
     r"optimizer must be an optimizer factory.*not an already-built.*pass optax\.adam itself"),
    ("sweep built hand optimizer", sweep(optimizer=HAND_BUILT), TypeError, r"optimizer must be an optimizer factory"),
    ("sweep built optimizer in mapping", sweep(optimizer={"adam": BUILT}), TypeError,
     r"optimizer\['adam'\] must be an optimizer factory.*pass optax\.adam itself"),
    ("sweep empty optimizer mapping", sweep(optimizer={}), ValueError, r"optimizer mapping must not be empty"),
    ("sweep optimizer mapping key", sweep(optimizer={1: optax.sgd}), TypeError,
     r"optimizer mapping keys must be str names, got 1"),
    ("sweep optimizer not callable", sweep(optimizer=3), TypeError,
     r"optimizer must be a callable learning_rate -> optax\.GradientTransformation, got int"),
    ("sweep optimizer name string", sweep(optimizer="adam"), TypeError, r"optimizer must be a callable"),
    ("sweep factory returns float", sweep(optimizer=lambda lr: 0.1), TypeError,
     r"optimizer '.*' must return an optax\.GradientTransformation when called with a learning rate, got float"),
    ("sweep factory not traceable", sweep(optimizer=scalar_of), TypeError,
     r"optimizer 'scalar_of' must accept a traced learning rate"),
    # --- sweep: loss, gradient, args, init ---
    ("sweep non-scalar loss", sweep(loss_fn=vector_loss), ValueError,
     r"loss_fn 'vector_loss' must return a scalar loss, got shape \(2,\)"),
    ("sweep integer loss", sweep(loss_fn=int_loss, init=ONES3), TypeError,
     r"loss_fn 'int_loss' must return a floating-point scalar, got dtype int"),
    ("sweep complex loss", sweep(loss_fn=complex_loss, init=ONES3), TypeError,
     r"loss_fn 'complex_loss' must return a floating-point scalar, got dtype complex64"),
    ("sweep tuple loss", sweep(loss_fn=tuple_loss, init=ONES3), ValueError,
     r"loss_fn 'tuple_loss' must return a scalar loss"),
    ("sweep loss not callable", sweep(loss_fn="mse"), TypeError, r"loss_fn must be callable.*got str"),
    ("sweep grad_fn leaf shape", sweep(SWEEP_REG, grad_fn=wrong_leaf_grad), ValueError,
     r"grads from grad_fn leaf \['w'\] has shape \(3,\), expected \(2,\) as in params"),
    ("sweep grad_fn tree", sweep(SWEEP_REG, grad_fn=wrong_tree_grad), ValueError,
     r"grads from grad_fn must have the tree structure of params; first difference: \"\['b'\]\" vs '\[0\]'"),
    ("sweep grad_fn missing leaf", sweep(SWEEP_REG, grad_fn=missing_leaf_grad), ValueError,
     r"grads from grad_fn must have the tree structure of params; first difference: \"\['b'\]\" vs \"\['w'\]\""),
    ("sweep grad_fn returns grads only", sweep(SWEEP_REG, grad_fn=grads_only), ValueError,
     r"grad_fn 'grads_only' must return \(loss, grads\) like jax\.value_and_grad, got dict"),
    ("sweep grad_fn not callable", sweep(grad_fn=1.0), TypeError, r"grad_fn must be callable"),
    ("sweep args fail to trace", sweep(loss_fn=my_broken_loss, init=ONES3, args=(ONES4,)), TypeError,
     r"loss_fn 'my_broken_loss' failed when called as loss_fn\(params, \*args\) with 1 extra args"),
    ("sweep args missing", sweep(loss_fn=my_broken_loss, init=ONES3), TypeError,
     r"loss_fn 'my_broken_loss' failed.*with 0 extra args"),
    ("sweep args not a tuple", sweep(args=ONES3), TypeError, r"args must be a tuple of extra arguments.*got"),
    ("sweep integer init", sweep(init=INT3, loss_fn=int_loss), TypeError,
     r"params leaf <root> must be floating point, got dtype int"),
    ("sweep integer leaf", sweep(SWEEP_REG, init=MIXED, loss_fn=sum_loss), TypeError,
     r"params leaf \['n'\] must be floating point"),
    ("sweep init fn returns ints", sweep(SWEEP_REG, init=int_init), TypeError,
     r"params leaf \['w'\] must be floating point"),
    ("sweep init fn fails", sweep(SWEEP_REG, init=failing_init), TypeError,
     r"init 'failing_init' must be a params pytree or a function key -> params"),
    ("sweep empty init", sweep(init={}), ValueError, r"params must be a pytree with at least one array leaf"),
    # --- sweep: execution options ---
    ("sweep devices empty", sweep(devices=[]), ValueError, r"devices must be a non-empty sequence of jax devices"),
    ("sweep devices strings", sweep(devices=["cpu"]), TypeError, r"devices must hold jax\.Device objects.*got str"),
    ("sweep unroll zero", sweep(unroll=0), ValueError, r"unroll must be a positive int"),
    ("sweep max_lanes_per_batch zero", sweep(max_lanes_per_batch=0), ValueError,
     r"max_lanes_per_batch must be a positive int"),
    ("sweep rules negative", sweep(rules=StatusRules(blowup=-1.0)), ValueError,
     r"rules\.blowup must be a finite float > 0, got -1\.0"),
    ("sweep rules wrong type", sweep(rules={"blowup": 10.0}), TypeError, r"rules must be a .*StatusRules, got dict"),
    # --- fit ---
    ("fit steps zero", fit(steps=0), ValueError, r"steps must be a positive int, got 0"),
    ("fit steps negative", fit(steps=-1), ValueError, r"steps must be a positive int, got -1"),
    ("fit steps float", fit(steps=2.5), TypeError, r"steps must be a positive int, got 2\.5"),
    ("fit record_every zero", fit(record_every=0), ValueError, r"record_every must be a positive int"),
    ("fit record_every > steps", fit(record_every=6), ValueError, r"record_every must be <= steps \(5\), got 6"),
    ("fit factory instead of optimizer", fit(optimizer=optax.adam), TypeError,
     r"optimizer must be an optax\.GradientTransformation.*looks like a factory: call it with a learning rate"),
    ("fit optimizer not an optimizer", fit(optimizer=0.1), TypeError,
     r"optimizer must be an optax\.GradientTransformation such as optax\.adam\(1e-3\), got float"),
    ("fit non-scalar loss", fit(loss_fn=vector_loss), ValueError,
     r"loss_fn 'vector_loss' must return a scalar loss, got shape \(2,\)"),
    ("fit integer loss", fit(loss_fn=int_loss, params=ONES3), TypeError,
     r"loss_fn 'int_loss' must return a floating-point scalar"),
    ("fit complex loss", fit(loss_fn=complex_loss, params=ONES3), TypeError,
     r"loss_fn 'complex_loss' must return a floating-point scalar, got dtype complex64"),
    ("fit integer params", fit(loss_fn=int_loss, params=INT3), TypeError,
     r"params leaf <root> must be floating point, got dtype int"),
    ("fit integer leaf", fit(FIT_REG, loss_fn=sum_loss, params=MIXED), TypeError,
     r"params leaf \['n'\] must be floating point"),
    ("fit empty params", fit(params=[]), ValueError, r"params must be a pytree with at least one array leaf"),
    ("fit grad_fn leaf shape", fit(FIT_REG, grad_fn=wrong_leaf_grad), ValueError,
     r"grads from grad_fn leaf \['w'\] has shape \(3,\), expected \(2,\) as in params"),
    ("fit grad_fn tree", fit(FIT_REG, grad_fn=wrong_tree_grad), ValueError,
     r"grads from grad_fn must have the tree structure of params; first difference: \"\['b'\]\" vs '\[0\]'"),
    ("fit grad_fn returns grads only", fit(FIT_REG, grad_fn=grads_only), ValueError,
     r"grad_fn 'grads_only' must return \(loss, grads\)"),
    ("fit args fail to trace", fit(loss_fn=my_broken_loss, params=ONES3, args=(ONES4,)), TypeError,
     r"loss_fn 'my_broken_loss' failed when called as loss_fn\(params, \*args\) with 1 extra args"),
    ("fit args not a tuple", fit(args=ONES3), TypeError, r"args must be a tuple of extra arguments"),
    ("fit loss not callable", fit(loss_fn=None), TypeError, r"loss_fn must be callable.*got NoneType"),
    ("fit unroll zero", fit(unroll=0), ValueError, r"unroll must be a positive int"),
    # --- init_mlp ---
    ("init_mlp one size", call(jl.init_mlp, KEY, [3]), ValueError,
     r"sizes must be a sequence of at least 2 layer widths.*got \[3\]"),
    ("init_mlp no sizes", call(jl.init_mlp, KEY, []), ValueError, r"sizes must be a sequence of at least 2"),
    ("init_mlp int sizes", call(jl.init_mlp, KEY, 3), ValueError, r"sizes must be a sequence of at least 2.*got 3"),
    ("init_mlp string sizes", call(jl.init_mlp, KEY, "32"), ValueError, r"sizes must be a sequence.*got '32'"),
    ("init_mlp zero size", call(jl.init_mlp, KEY, [3, 0]), ValueError, r"sizes\[1\] must be a positive int, got 0"),
    ("init_mlp negative size", call(jl.init_mlp, KEY, (3, -1, 2)), ValueError,
     r"sizes\[1\] must be a positive int, got -1"),
    ("init_mlp float size", call(jl.init_mlp, KEY, [2, 2.5]), TypeError, r"sizes\[1\] must be a positive int, got 2\.5"),
    ("init_mlp bool size", call(jl.init_mlp, KEY, [True, 2]), TypeError, r"sizes\[0\] must be a positive int"),
    ("init_mlp negative scale", call(jl.init_mlp, KEY, [2, 1], scale=-0.5), ValueError,
     r"scale must be None \(Glorot\) or a finite positive float, got -0\.5"),
    ("init_mlp infinite scale", call(jl.init_mlp, KEY, [2, 1], scale=float("inf")), ValueError,
     r"scale must be None \(Glorot\) or a finite positive float, got inf"),
    ("init_mlp string scale", call(jl.init_mlp, KEY, [2, 1], scale="big"), ValueError,
     r"scale must be None \(Glorot\) or a finite positive float, got 'big'"),
    ("init_mlp integer dtype", call(jl.init_mlp, KEY, [2, 1], dtype=jnp.int32), TypeError,
     r"dtype must be a floating-point dtype"),
    ("init_mlp unknown dtype", call(jl.init_mlp, KEY, [2, 1], dtype="nonsense"), TypeError,
     r"dtype must be a floating-point dtype.*'nonsense'"),
    # --- names: the message lists the valid ones ---
    ("mlp unknown activation", call(jl.mlp, MLP, XB, activation="gelu"), ValueError,
     lists_all("unknown activation 'gelu'", models.ACTIVATIONS)),
    ("mlp unknown output_activation", call(jl.mlp, MLP, XB, output_activation="softmax"), ValueError,
     lists_all("unknown output_activation 'softmax'", models.ACTIVATIONS)),
    ("mlp_grad unknown activation", call(manual.mlp_grad, MLP, XB, YB, activation="gelu"), ValueError,
     lists_all("unknown activation 'gelu'", models.ACTIVATIONS)),
    ("mlp_grad unknown output_activation", call(manual.mlp_grad, MLP, XB, YB, output_activation="softmax"),
     ValueError, lists_all("unknown output_activation 'softmax'", manual.OUTPUT_ACTIVATIONS)),
    ("mlp_grad unknown loss", call(manual.mlp_grad, MLP, XB, YB, loss="l1"), ValueError,
     lists_all("unknown loss 'l1'", manual.LOSSES)),
    ("unknown problem", call(problems.get_problem, "mnist"), ValueError,
     lists_all("unknown problem 'mnist'", problems.PROBLEMS)),
    ("unknown optimizer name", call(cli.optimizer_factory, "rmsprop"), ValueError,
     "(?s)" + "".join(f"(?=.*{re.escape(n)})" for n in ["unknown optimizer 'rmsprop'", *cli.OPTIMIZERS])),
    # --- check_grad ---
    ("check_grad integer params", call(jl.check_grad, int_loss, grads_only, INT3), TypeError,
     r"params leaf <root> must be floating point, got dtype int"),
    ("check_grad integer leaf", call(jl.check_grad, sum_loss, jax.value_and_grad(sum_loss), MIXED), TypeError,
     r"params leaf \['n'\] must be floating point"),
    ("check_grad tree mismatch", call(jl.check_grad, reg_loss, wrong_tree_grad, REG), ValueError,
     r"grads from grad_fn must have the tree structure of params; first difference"),
    ("check_grad missing leaf", call(jl.check_grad, reg_loss, missing_leaf_grad, REG), ValueError,
     r"grads from grad_fn must have the tree structure of params"),
    ("check_grad leaf shape", call(jl.check_grad, reg_loss, wrong_leaf_grad, REG), ValueError,
     r"grads from grad_fn leaf \['w'\] has shape \(3,\), expected \(2,\) as in params"),
    ("check_grad grads only", call(jl.check_grad, reg_loss, grads_only, REG), ValueError,
     r"grad_fn 'grads_only' must return \(loss, grads\)"),
    ("check_grad non-scalar loss", call(jl.check_grad, vector_loss, grads_only, X5), ValueError,
     r"loss_fn 'vector_loss' must return a scalar loss"),
]


@pytest.mark.parametrize("fn, error, match", [pytest.param(*row[1:], id=row[0]) for row in ROWS])
def test_bad_input_is_named_and_rejected_before_compiling(fn, error, match):
    with no_compilation(), pytest.raises(error, match=match) as caught:
        fn()
    assert type(caught.value) is error  # not a subclass from deep inside jax


def test_the_table_covers_every_bad_input_named_in_issue_6():
    names = " | ".join(row[0] for row in ROWS)
    for needle in ["sweep lr empty", "sweep lr negative", "sweep lr zero", "sweep lr nan", "sweep lr inf",
                   "sweep lr 2-D", "sweep steps zero", "sweep steps negative", "sweep record_every zero",
                   "sweep record_every > steps", "sweep seeds zero", "sweep seeds with pytree init",
                   "sweep built optax optimizer", "fit non-scalar loss", "sweep non-scalar loss", "fit integer loss",
                   "sweep integer loss", "fit grad_fn tree", "sweep grad_fn leaf shape", "fit args fail to trace",
                   "sweep args fail to trace", "init_mlp one size", "init_mlp zero size", "init_mlp negative size",
                   "unknown activation", "unknown loss", "unknown optimizer", "unknown problem",
                   "check_grad integer params", "check_grad tree mismatch"]:
        assert needle in names, needle
    assert len(ROWS) + len(NOT_A_SWEEP_FILE) + len(BAD_COMMAND_LINES) >= 100


def test_a_good_call_does_compile_so_the_watch_can_fail():
    with pytest.raises(AssertionError, match="compilation ran"), no_compilation():
        jl.fit(lambda x: x * x, X5, optax.sgd(0.1), steps=2)


# --- SweepResult.from_json on files that are not saved sweeps ----------------------------

_FIELDS = ("learning_rates", "seeds", "optimizers", "losses", "final_loss", "status", "diverged_at")


def _document(**change):
    lanes = {"learning_rates": ("<f8", [1], [0.1]), "seeds": ("<i8", [1], [0]), "optimizers": ("<U3", [1], ["sgd"]),
             "losses": ("<f4", [1, 2], [1.0, 0.5]), "final_loss": ("<f4", [1], [0.25]),
             "status": ("<U11", [1], ["slow"]), "diverged_at": ("<i8", [1], [-1])}
    document = {"format": "jaxopt_lessons.SweepResult", "version": 1, "steps": 2, "record_every": 1,
                "stopped_at": 2, "stats": {}, "params": None,
                **{k: {"dtype": d, "shape": s, "data": v} for k, (d, s, v) in lanes.items()}}
    document.update(change)
    return json.dumps(document).encode()


NOT_A_SWEEP_FILE = [
    ("other json object", json.dumps({"format": "something else"}).encode(), r"is not a SweepResult JSON file"),
    ("json list", b"[1, 2]", r"is not a SweepResult JSON file"),
    ("json number", b"3.5", r"is not a SweepResult JSON file"),
    ("garbage text", b"not json at all", r"is not a SweepResult JSON file: not valid JSON"),
    ("garbage bytes", bytes(range(256)), r"is not a SweepResult JSON file: not valid JSON"),
    ("empty file", b"", r"is not a SweepResult JSON file: not valid JSON"),
    ("truncated", _document()[:60], r"is not a SweepResult JSON file: not valid JSON"),
    ("pickle", pickle.dumps({"format": "jaxopt_lessons.SweepResult", "version": 1}), r"not valid JSON"),
    ("pickle protocol 0", pickle.dumps([1.0, 2.0], protocol=0), r"not valid JSON"),
    ("npy file", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", r"not valid JSON"),
    ("future version", _document(version=99), r"unsupported SweepResult file version 99"),
    ("missing field", _document(losses=None), r"is not a valid SweepResult JSON file"),
    ("field not an array", _document(status="slow"), r"is not a valid SweepResult JSON file"),
    ("object dtype", _document(seeds={"dtype": "|O", "shape": [1], "data": [0]}), r"seeds: unexpected dtype '\|O'"),
    ("unknown dtype", _document(seeds={"dtype": "pickle", "shape": [1], "data": [0]}), r"not a valid SweepResult"),
    ("data and shape disagree", _document(seeds={"dtype": "<i8", "shape": [3], "data": [0]}),
     r"1 values for shape \(3,\)"),
    ("lanes disagree", _document(seeds={"dtype": "<i8", "shape": [2], "data": [0, 1]}),
     r"seeds: has shape \(2,\), expected \(1,\)"),
    ("losses not 2-D", _document(losses={"dtype": "<f4", "shape": [2], "data": [1.0, 0.5]}),
     r"losses: must be 2-D \(n_lanes, n_records\)"),
    ("params a list", _document(params=[1, 2]), r"is not a valid SweepResult JSON file"),
    ("params unknown node", _document(params={"pickle": "gASV"}), r"unknown params node 'pickle'"),
    ("stats a list", _document(stats=[1]), r"is not a valid SweepResult JSON file"),
    ("steps not a number", _document(steps="many"), r"is not a valid SweepResult JSON file"),
]


@pytest.mark.parametrize("content, match", [pytest.param(*row[1:], id=row[0]) for row in NOT_A_SWEEP_FILE])
def test_from_json_rejects_files_that_are_not_saved_sweeps(content, match, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("SweepResult.from_json must never unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, never)
    path = tmp_path / "result.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as caught:
        jl.SweepResult.from_json(path)
    assert str(path) in str(caught.value)  # names the file


def test_the_well_formed_document_above_is_accepted(tmp_path):
    """The negative rows above differ from a file that loads in one entry only."""
    path = tmp_path / "good.json"
    path.write_bytes(_document())
    result = jl.SweepResult.from_json(path)
    assert result.status.tolist() == ["slow"] and result.losses.shape == (1, 2)


def test_no_library_module_imports_pickle():
    offenders = [path.name for path in (ROOT / "jaxopt_lessons").rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+(pickle|cloudpickle|dill|joblib)\b", path.read_text(), re.M)]
    assert not offenders


# --- the command line: one line on stderr, exit 2, no traceback --------------------------

BASE = ["sweep", "quadratic", "--optimizer", "sgd"]

BAD_COMMAND_LINES = [
    ("lr two parts", [*BASE, "--lr", "1:2"], r"--lr.*expected LO:HI:N or a,b,c"),
    ("lr not numbers", [*BASE, "--lr", "a:b:3"], r"--lr.*'a' is not a number"),
    ("lr word", [*BASE, "--lr", "fast"], r"--lr.*'fast' is not a number"),
    ("lr empty item", [*BASE, "--lr", "0.1,,0.2"], r"--lr.*'' is not a number"),
    ("lr empty", [*BASE, "--lr", ""], r"--lr"),
    ("lr zero low end", [*BASE, "--lr", "0:1:3"], r"--lr.*learning rates must be finite and > 0"),
    ("lr negative", [*BASE, "--lr", "-1,0.5"], r"--lr.*learning rates must be finite and > 0, got '-1'"),
    ("lr nan", [*BASE, "--lr", "nan"], r"--lr.*finite and > 0"),
    ("lr overflow", [*BASE, "--lr", "1e400"], r"--lr.*finite and > 0"),
    ("lr reversed range", [*BASE, "--lr", "1:0.1:3"], r"--lr.*LO must be < HI"),
    ("lr zero count", [*BASE, "--lr", "0.1:1:0"], r"--lr.*N in LO:HI:N must be a positive integer"),
    ("lr fractional count", [*BASE, "--lr", "0.1:1:2.5"], r"--lr.*N in LO:HI:N must be a positive integer"),
    ("lr missing value", [*BASE, "--lr"], r"--lr.*expected one argument"),
    ("steps negative", [*BASE, "--lr", "0.1", "--steps", "-5"], r"--steps.*expected a positive integer, got '-5'"),
    ("steps zero", [*BASE, "--lr", "0.1", "--steps", "0"], r"--steps.*expected a positive integer, got '0'"),
    ("steps float", [*BASE, "--lr", "0.1", "--steps", "1.5"], r"--steps.*expected a positive integer"),
    ("steps huge", [*BASE, "--lr", "0.1", "--steps", "99999999999"], r"steps must be < 2\*\*31 - 1"),
    ("seeds negative", ["sweep", "xor", "--optimizer", "sgd", "--lr", "0.1", "--seeds", "-2"],
     r"--seeds.*expected a positive integer"),
    ("seeds on a fixed start", [*BASE, "--lr", "0.1", "--seeds", "2"], r"--seeds applies only to problems"),
    ("devices too many", [*BASE, "--lr", "0.1", "--devices", "999"], r"--devices 999 asks for more than"),
    ("unknown optimizer", ["sweep", "quadratic", "--optimizer", "rmsprop", "--lr", "0.1"],
     "(?s)" + "".join(f"(?=.*{re.escape(n)})" for n in ["unknown optimizer 'rmsprop'", *cli.OPTIMIZERS])),
    ("unknown optimizer in list", ["sweep", "quadratic", "--optimizer", "sgd,adamax", "--lr", "0.1"],
     r"unknown optimizer 'adamax'"),
    ("repeated optimizer", ["sweep", "quadratic", "--optimizer", "sgd,sgd", "--lr", "0.1"], r"must be distinct"),
    ("unknown problem", ["sweep", "mnist", "--optimizer", "sgd", "--lr", "0.1"],
     lists_all("unknown problem 'mnist'", problems.PROBLEMS)),
    ("missing optimizer", ["sweep", "quadratic", "--lr", "0.1"], r"--optimizer"),
    ("unknown flag", [*BASE, "--lr", "0.1", "--bogus"], r"--bogus"),
    ("out is a directory", [*BASE, "--lr", "0.1", "--out", "."], r"--out must be a file path, got '\.'"),
    ("plot unknown format", [*BASE, "--lr", "0.1", "--plot", "curve.xyz"],
     r"--plot must end in an image format suffix.*png.*got 'curve\.xyz'"),
    ("unknown command", ["frobnicate"], r"frobnicate"),
    ("no command", [], r"a command is required"),
]


@pytest.mark.parametrize("argv, match", [pytest.param(*row[1:], id=row[0]) for row in BAD_COMMAND_LINES])
def test_bad_command_lines_give_one_line_and_exit_2(argv, match, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    status = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("jaxopt-lessons: error: ")
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert "final_loss=" not in captured.out  # rejected before any lane ran
    assert list(tmp_path.iterdir()) == []  # and nothing written


def test_unwritable_out_is_one_line_not_a_traceback(capsys):
    status = cli.main([*BASE, "--lr", "0.1", "--steps", "3", "--out", "/proc/no/such/dir/result.json"])
    captured = capsys.readouterr()
    assert status == 2 and captured.err.count("\n") == 1, captured.err
    assert re.match(r"jaxopt-lessons: error: cannot write --out '/proc/no/such/dir/result\.json'", captured.err)


def test_bad_command_line_in_a_fresh_process_has_no_traceback():
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    completed = subprocess.run(
        [sys.executable, "-m", "jaxopt_lessons", *BASE, "--lr", "0.1", "--steps", "-5"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "jaxopt-lessons: error: argument --steps: expected a positive integer, got '-5'"
    ]
    assert completed.stdout == ""
