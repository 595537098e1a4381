"""Saving and loading ``SweepResult``: any pytree, bit-exact dtypes, the npz beside large results, hostile files.

Oracles are the original arrays themselves (compared byte for byte) and
``jax.tree_util`` (structures and leaf paths); every bad file must be answered by a
``ValueError`` naming the file and the field, and never unpickle anything.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import pickle
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_lessons as jl
from jaxopt_lessons.sweeps.storage import files as storage

N = 3  # lanes
Point = collections.namedtuple("Point", "W b")


@jax.tree_util.register_pytree_node_class
class Pair:
    """A registered pytree class without keys (paths ``[<flat index i>]``)."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def tree_flatten(self):
        return (self.first, self.second), "pair"

    @classmethod
    def tree_unflatten(cls, aux, children):
        assert aux == "pair"
        return cls(*children)


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Layer:
    w: np.ndarray
    b: np.ndarray


def _lanes(*shape, dtype=np.float32):
    """Values that use every bit pattern class of the dtype: negatives, NaN, inf, subnormals where they exist."""
    rng = np.random.default_rng(sum(shape) + len(str(dtype)))
    if np.dtype(dtype).kind == "U":
        return rng.choice(np.asarray(["a", "bé", "", "long name"]), (N, *shape)).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, (N, *shape)).astype(bool)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, (N, *shape), dtype=dtype, endpoint=True)
    values = rng.standard_normal((N, *shape)) * 10.0 ** rng.integers(-8, 8, (N, *shape))
    if np.dtype(dtype).kind == "c":
        values = values + 1j * values[::-1]
    values = values.astype(dtype)
    flat = values.reshape(-1)
    special = np.asarray([np.nan, np.inf, -0.0, -np.nan])[: min(4, flat.size)].astype(dtype)
    flat[: special.size] = special
    if flat.dtype.kind == "c" and flat.size > 5:
        flat[5] = complex(-1.5, np.inf)
    floats = flat.view(f"f{flat.itemsize // 2}") if flat.dtype.kind == "c" else flat
    if floats.size > 4:  # a NaN with a payload, as arithmetic can leave it
        bits = floats.view(f"u{floats.itemsize}")
        bits[4] = np.asarray(np.nan, floats.dtype).view(bits.dtype) | 1
    return values


def _result(params=None, **change):
    fields = dict(
        learning_rates=np.asarray([0.1, 0.5, 1.05]), seeds=np.asarray([0, 1, -1]), optimizers=np.asarray(["sgd"] * N),
        losses=_lanes(4), final_loss=np.asarray([0.1, 0.2, np.inf], np.float32),
        status=np.asarray(["converged", "slow", "diverged"], "<U11"), diverged_at=np.asarray([-1, -1, 2]),
        record_every=2, steps=7, stopped_at=7, params=params,
        stats={"loss0": _lanes(), "flips_window": _lanes(dtype=np.int32)},
        hyperparams={"momentum": np.asarray([0.0, 0.5, 0.9])},
        eval_losses=_lanes(4, dtype=np.float64), final_eval=_lanes(dtype=np.float64),
        steps_run=np.asarray([7, 7, 3]),
    )
    return jl.SweepResult(**{**fields, **change})


def _same_bytes(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _assert_same_result(back, result):
    for field in dataclasses.fields(result):
        a, b = getattr(result, field.name), getattr(back, field.name)
        if field.name == "params":
            continue
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(_same_bytes(a[k], b[k]) for k in a), field.name
        elif isinstance(a, np.ndarray):
            assert _same_bytes(a, b), field.name
        else:
            assert a == b and type(a) is type(b), field.name


@pytest.fixture(params=["inline", "npz"])
def layout(request, monkeypatch):
    """Every round trip runs twice: one readable JSON file, and JSON + npz (forced by a zero inline limit)."""
    if request.param == "npz":
        monkeypatch.setattr(storage, "INLINE_BYTES", 0)
    return request.param


# --- any pytree, exact -----------------------------------------------------------------

PLAIN = {
    "bare array": _lanes(2),
    "dict": {"w": _lanes(2, 3), "b": _lanes()},
    "tuple": (_lanes(), _lanes(1, dtype=np.float64)),
    "nested": {"layers": [{"w": _lanes(2), "b": (_lanes(dtype=np.int8), None)}, []], "scale": {"s": _lanes()}},
    "every dtype": {str(np.dtype(d)): _lanes(2, dtype=d) for d in
                    (np.float16, np.float32, np.float64, jnp.bfloat16, np.int8, np.int32, np.int64, np.uint8,
                     np.uint64, np.bool_, np.complex64, np.complex128, "<U9")},
}
NOT_PLAIN = {
    "namedtuple": Point(_lanes(2), _lanes()),
    "tuple of namedtuples": (Point(_lanes(2), _lanes()), Point(_lanes(1), _lanes(dtype=np.float16))),
    "registered class": {"p": Pair(_lanes(2), [_lanes(dtype=np.int64)])},
    "registered dataclass": [Layer(_lanes(2, 2), _lanes(2))],
}


@pytest.mark.parametrize("params", [pytest.param(v, id=k) for k, v in PLAIN.items()])
def test_plain_nests_read_back_identical_without_a_template(params, layout, tmp_path):
    result = _result(params)
    back = jl.SweepResult.from_json(result.to_json(tmp_path / "r.json"))
    _assert_same_result(back, result)
    assert jax.tree_util.tree_structure(back.params) == jax.tree_util.tree_structure(params)
    assert jax.tree.map(type, back.params) == jax.tree.map(type, params)
    assert all(_same_bytes(a, b) for a, b in zip(jax.tree.leaves(back.params), jax.tree.leaves(params)))


@pytest.mark.parametrize("params", [pytest.param(v, id=k) for k, v in NOT_PLAIN.items()])
def test_other_pytrees_read_back_by_path_or_into_a_template(params, layout, tmp_path):
    path = _result(params).to_json(tmp_path / "r.json")
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    by_path = jl.SweepResult.from_json(path).params  # the documented rule: {keystr(path): leaf}, in leaf order
    assert list(by_path) == [jax.tree_util.keystr(p) for p, _ in flat]
    assert all(_same_bytes(by_path[jax.tree_util.keystr(p)], leaf) for p, leaf in flat)
    template = jax.tree.map(lambda leaf: np.zeros(leaf.shape[1:], leaf.dtype), params)  # one lane's parameters
    back = jl.SweepResult.from_json(path, like=template).params
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(params)
    assert all(_same_bytes(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)))


def test_a_partial_result_round_trips(tmp_path):
    result = _result({"w": _lanes(2)}, complete=False, steps_run=np.asarray([7, 4, 3]),
                     status=np.asarray(["converged", "incomplete", "diverged"], "<U11"))
    _assert_same_result(jl.SweepResult.from_json(result.to_json(tmp_path / "r.json")), result)


def test_the_paths_read_back_name_what_a_user_wrote(tmp_path):
    back = jl.SweepResult.from_json(_result(NOT_PLAIN["tuple of namedtuples"]).to_json(tmp_path / "r.json"))
    assert list(back.params) == ["[0].W", "[0].b", "[1].W", "[1].b"]


@pytest.mark.parametrize("template, message", [
    (Point(np.zeros(2), np.zeros(())), None),
    (Point(np.zeros(3), np.zeros(())), r"params do not match like=: \.W is \(3,\) in like= but \(2,\) per lane"),
    ({"W": np.zeros(2), "b": np.zeros(())}, r"paths only in like=: \['W'\], \['b'\]; paths only in the file: \.W, \.b"),
    (Point(np.zeros((N, 2)), np.zeros(N)), r"without the leading lane axis"),
    (Point(np.zeros(2), None), r"paths only in the file: \.b"),
])
def test_a_template_must_match_paths_and_per_lane_shapes(template, message, tmp_path):
    params = Point(_lanes(2), _lanes())
    path = _result(params).to_json(tmp_path / "r.json")
    if message is None:
        back = jl.SweepResult.from_json(path, like=template).params
        assert type(back) is Point and _same_bytes(back.W, params.W) and _same_bytes(back.b, params.b)
        return
    with pytest.raises(ValueError, match=message) as caught:
        jl.SweepResult.from_json(path, like=template)
    assert str(path) in str(caught.value)


def test_a_non_array_leaf_is_refused_when_saving_not_dropped(tmp_path):
    with pytest.raises(ValueError, match=r"r\.json: params\['f'\]: a function is not an array; pass only the array"):
        _result({"f": lambda x: x, "w": _lanes()}).to_json(tmp_path / "r.json")
    with pytest.raises(ValueError, match=r"params\['w'\]: has shape \(2,\), expected a leading axis of 3 lanes"):
        _result({"w": np.zeros(2)}).to_json(tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


# --- files: one readable JSON, or JSON + npz written as a pair ----------------------------


def test_a_small_result_is_one_readable_json_file(tmp_path):
    path = _result({"w": _lanes(2)}).to_json(tmp_path / "r.json")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    document = json.loads(path.read_text())
    assert document["learning_rates"]["data"] == [0.1, 0.5, 1.05]
    assert document["params"]["leaves"][0]["path"] == "['w']"


def test_a_large_result_keeps_json_metadata_and_one_npz_named_by_its_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "INLINE_BYTES", 0)
    first, second = _result({"w": _lanes(2)}), _result({"w": 2 * _lanes(2)})
    path = first.to_json(tmp_path / "r.json")
    document = json.loads(path.read_text())
    npz = tmp_path / document["arrays"]["file"]
    assert hashlib.sha256(npz.read_bytes()).hexdigest() == document["arrays"]["sha256"]
    assert re.fullmatch(r"r\.json\.[0-9a-f]{16}\.npz", npz.name) and document["arrays"]["sha256"].startswith(npz.name[7:23])
    with np.load(npz, allow_pickle=False) as arrays:
        assert _same_bytes(arrays[document["losses"]["npz"]], first.losses)
    second.to_json(path)  # a rewrite replaces the pair and removes the old npz
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.json", json.loads(path.read_text())["arrays"]["file"]])
    assert _same_bytes(jl.SweepResult.from_json(path).params["w"], second.params["w"])


def test_an_interrupted_pair_write_keeps_the_old_pair_and_removes_the_new_npz(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "INLINE_BYTES", 0)
    path = _result({"w": _lanes(2)}).to_json(tmp_path / "r.json")
    before = sorted(tmp_path.iterdir())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _result({"w": 3 * _lanes(2)}).to_json(path)
    assert sorted(tmp_path.iterdir()) == before
    assert _same_bytes(jl.SweepResult.from_json(path).params["w"], _lanes(2))


# --- hostile and inconsistent files ------------------------------------------------------


def _saved(tmp_path, change, *, npz=False, monkeypatch=None):
    """A good saved result whose JSON document ``change`` edits in place."""
    if npz:
        monkeypatch.setattr(storage, "INLINE_BYTES", 0)
    path = _result({"w": _lanes(2)}).to_json(tmp_path / "r.json")
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    return path


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(document):
        node = document
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value(node[keys[-1]]) if callable(value) else value

    return change


def _lane_values(field, values):
    return _set(field, "data", lambda data: values + data[len(values):])


INCONSISTENT = [
    ("learning_rates", _lane_values("learning_rates", [-0.1]), r"learning_rates: must be finite and > 0; lane 0"),
    ("learning_rates", _lane_values("learning_rates", [0.1, float("nan")]), r"learning_rates: .*lane 1 has nan \(1 lanes wrong\)"),
    ("learning_rates", _lane_values("learning_rates", [0]), r"learning_rates: must be finite and > 0"),
    ("learning_rates", _set("learning_rates", {"dtype": "<i8", "shape": [3], "data": [1, 2, 3]}),
     r"learning_rates: dtype int64 is not a float"),
    ("seeds", _lane_values("seeds", [-2]), r"seeds: must be >= -1"),
    ("seeds", _set("seeds", "dtype", "<f8"), r"seeds: dtype float64 is not an integer"),
    ("steps", _set("steps", -5), r"steps: must be in 1\.\."),
    ("steps", _set("steps", 0), r"steps: must be in 1\.\."),
    ("record_every", _set("record_every", 0), r"record_every: must be in 1\.\.7"),
    ("record_every", _set("record_every", 8), r"record_every: must be in 1\.\.7, got 8"),
    ("losses", _set("record_every", 1), r"losses: has 4 records, but steps=7 and record_every=1 give .* = 7"),
    ("losses", _set("losses", "shape", [12]), r"losses: must be 2-D"),
    ("status", _lane_values("status", ["exploded"]), r"status: must be one of converged, .*; lane 0 has 'exploded'"),
    ("diverged_at", _lane_values("diverged_at", [-1, -1, -1]), r"diverged_at: of a 'diverged' lane must be in 0\.\.6"),
    ("diverged_at", _lane_values("diverged_at", [-1, -1, 7]), r"diverged_at: .*lane 2 has 7"),
    ("diverged_at", _lane_values("diverged_at", [-1, 3]), r"diverged_at: must be -1 unless the status is 'diverged'"),
    ("stopped_at", _set("stopped_at", 8), r"stopped_at: must be in 0\.\.7"),
    ("steps_run", _lane_values("steps_run", [8]), r"steps_run: must be in 0\.\.7"),
    ("steps_run", _lane_values("steps_run", [-1]), r"steps_run: must be in 0\.\.7"),
    ("hyperparams", _set("hyperparams", "momentum", "data", [0.0, float("inf"), 0.9]),
     r"hyperparams\['momentum'\]: must be finite; lane 1"),
    ("hyperparams", _set("hyperparams", "momentum", "shape", [1, 3]), r"hyperparams\['momentum'\]: has shape \(1, 3\)"),
    ("eval_losses", _set("eval_losses", "shape", [4, 3]), r"eval_losses: has shape \(4, 3\), expected \(3, 4\)"),
    ("final_eval", _set("final_eval", None), r"final_eval: missing, but eval_losses is present"),
    ("eval_losses", _set("eval_losses", None), r"eval_losses: missing, but final_eval is present"),
    ("final_eval", _set("final_eval", {"dtype": "<U1", "shape": [3], "data": ["a", "b", "c"]}),
     r"final_eval: dtype <U1 is not a float"),
    ("complete", _set("complete", "yes"), r"complete: must be true or false, got str 'yes'"),
    ("status", _lane_values("status", ["incomplete"]), r"status: 'incomplete' only in an incomplete result"),
    ("optimizers", _set("optimizers", "shape", [2]), r"optimizers: 2 values for shape \(2,\)|optimizers: 3 values"),
    ("stats", _set("stats", "loss0", "shape", [2]), r"stats\['loss0'\]: 3 values for shape \(2,\)"),
    ("params", _set("params", "leaves", 0, "shape", [2, 3]), r"params\['w'\]: has shape \(2, 3\), expected a leading"),
    ("params", _set("params", "structure", {"dict": {"v": {"leaf": "['w']"}}}),
     r"params: the structure does not place every stored leaf at its path"),
    ("params", _set("params", "leaves", 0, "path", "['v']"), r"params: the structure does not place"),
    ("params", _set("params", "structure", {"dict": {"w": {"leaf": ["['w'][0]"]}}}),
     r"params: a leaf node must name a str path, got a list"),
]


@pytest.mark.parametrize("field, change, message", [pytest.param(*row, id=f"{row[0]}-{i}")
                                                    for i, row in enumerate(INCONSISTENT)])
def test_inconsistent_files_name_the_field(field, change, message, tmp_path):
    path = _saved(tmp_path, change)
    with pytest.raises(ValueError, match=message) as caught:
        jl.SweepResult.from_json(path)
    assert f"{path} is not a valid SweepResult JSON file: {field}" in str(caught.value)


def test_the_status_names_are_read_from_the_registry(tmp_path, monkeypatch):
    from jaxopt_lessons.sweeps import status

    path = _saved(tmp_path, _lane_values("status", ["warming"]))
    with pytest.raises(ValueError, match="status: must be one of"):
        jl.SweepResult.from_json(path)
    monkeypatch.setattr(status, "STATUSES", (*status.STATUSES, "warming"))
    assert jl.SweepResult.from_json(path).status[0] == "warming"


HOSTILE = [
    ("learning_rates", lambda t: t.replace('"data": [0.1,', '"data": [' + "1" + "0" * 400 + ","),
     r"learning_rates: a value is out of range for float64"),
    ("seeds", lambda t: t.replace('"data": [0, 1, -1]', f'"data": [{2**70}, 1, -1]'), r"seeds: a value is out of range"),
    ("losses", lambda t: t.replace('"shape": [3, 4]', '"shape": [3, 4.0]'), r"losses: shape must be a list"),
    ("learning_rates", lambda t: t.replace('"data": [0.1,', '"data": ["0.1",'), r"learning_rates: .* type str"),
    ("status", lambda t: t.replace('"data": ["converged",', '"data": [true,'), r"status: .* type bool"),
    ("seeds", lambda t: t.replace('"data": [0, 1, -1]', '"data": [false, 1, -1]'), r"seeds: .* type bool"),
    ("steps", lambda t: t.replace('"steps": 7', '"steps": "7"'), r"steps: must be an integer, got str"),
    ("steps", lambda t: t.replace('"steps": 7', '"steps": 7.0'), r"steps: must be an integer, got float"),
    ("record_every", lambda t: t.replace('"record_every": 2', '"record_every": true'), r"record_every: must be an int"),
    ("stats", lambda t: t.replace('"stats": {', '"stats": [{').replace('}, "hyperparams"', '}], "hyperparams"'),
     r"stats: expected an object"),
    ("losses", lambda t: t.replace('"losses": {', '"losses": {"extra": 1, '), r"losses: expected an array"),
    ("surprise", lambda t: t.replace('"steps": 7', '"surprise": 1, "steps": 7'), r"surprise: unknown field"),
    ("seeds", lambda t: t.replace('"dtype": "<i8"', '"dtype": "|O"', 1), r"seeds: unexpected dtype '\|O'"),
    ("optimizers", lambda t: t.replace('"data": ["sgd",', '"data": ["sgd-but-longer",'), r"optimizers: a string is longer"),
    ("losses", lambda t: t.replace('"nan_bits": [[', '"nan_bits": [[0, 1], [', 1),
     r"losses: nan_bits \[0, 1\] are not the bits of a NaN"),
    ("params", lambda t: t.replace('{"leaf": "[\'w\']"}', '{"pickle": "gASV"}'), r"params: unknown params node"),
]


@pytest.mark.parametrize("field, edit, message", [pytest.param(*row, id=f"{row[0]}-{i}")
                                                  for i, row in enumerate(HOSTILE)])
def test_hostile_values_are_clear_value_errors(field, edit, message, tmp_path):
    path = _result({"w": _lanes(2)}).to_json(tmp_path / "r.json")
    compact = json.dumps(json.loads(path.read_text()))
    path.write_text(edit(compact))
    assert path.read_text() != compact  # the edit applied
    with pytest.raises(ValueError, match=message) as caught:
        jl.SweepResult.from_json(path)
    assert f"{path} is not a valid SweepResult JSON file: {field}" in str(caught.value)


@pytest.mark.parametrize("text, message", [
    ('{"format": "jaxopt_lessons.SweepResult", "version": 2, "params": ' + "[" * 100_000 + "]" * 100_000 + "}",
     r"brackets nest 100001 deep, more than the 100 allowed \(MAX_DEPTH\)"),
    ('{"format": "jaxopt_lessons.SweepResult", "format": "x"}', r"duplicate key 'format'"),
    ('{"format": "jaxopt_lessons.SweepResult", "version": 2, "steps": ' + "9" * 5000 + "}", r"not valid JSON"),
])
def test_hostile_documents_are_refused_before_use(text, message, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        jl.SweepResult.from_json(path)
    assert str(path) in str(caught.value)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    with open(path, "wb") as handle:  # sparse: no disk used
        handle.truncate(storage.MAX_JSON_BYTES + 1)
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(ValueError, match=rf"{path}.*{storage.MAX_JSON_BYTES + 1} bytes, more than the "
                                         rf"{storage.MAX_JSON_BYTES} bytes allowed \(MAX_JSON_BYTES\)"):
        jl.SweepResult.from_json(path)


def _replace_npz(path, **members):
    """Rewrites the npz of ``path`` with some members replaced, and points the JSON at it (hash included)."""
    document = json.loads(path.read_text())
    old = path.with_name(document["arrays"]["file"])
    with np.load(old, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, **members})
    old.write_bytes(buffer.getvalue())
    document["arrays"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    path.write_text(json.dumps(document))


def test_a_pickle_in_the_npz_is_refused_and_never_unpickled(tmp_path, monkeypatch):
    path = _saved(tmp_path, lambda document: None, npz=True, monkeypatch=monkeypatch)
    member = json.loads(path.read_text())["learning_rates"]["npz"]
    _replace_npz(path, **{member: np.asarray([0.1, 0.5, 1.05], dtype=object)})

    def never(*args, **kwargs):
        raise AssertionError("from_json must never unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, never)
    with pytest.raises(ValueError, match=rf"{path} is not a valid SweepResult JSON file: learning_rates: npz member "
                                         rf"'{member}' is not a plain \.npy array"):
        jl.SweepResult.from_json(path)


@pytest.mark.parametrize("case, message", [
    ("hash", r"arrays: .* does not match the sha256"),
    ("missing", r"arrays: .* is missing"),
    ("escape", r"arrays: '\.\./r\.json\.npz' is not a file name beside the JSON"),
    ("member dtype", r"losses: npz member 'a0' is float64 \(3, 4\), expected float32 \(3, 4\)"),
    ("member too small", r"losses: declares more data than its npz member 'a0' holds"),
    ("raw member", r"seeds: the npz has no uncompressed member 'a2'"),
    ("not a zip", r"arrays: .* is not an npz"),
])
def test_a_bad_npz_names_the_field(case, message, tmp_path, monkeypatch):
    path = _saved(tmp_path, lambda document: None, npz=True, monkeypatch=monkeypatch)
    document = json.loads(path.read_text())
    npz = path.with_name(document["arrays"]["file"])
    if case == "hash":
        npz.write_bytes(npz.read_bytes()[:-1] + b"!")
    elif case == "missing":
        npz.unlink()
    elif case == "escape":
        path.write_text(json.dumps({**document, "arrays": {**document["arrays"], "file": "../r.json.npz"}}))
    elif case == "member dtype":
        _replace_npz(path, a0=np.zeros((3, 4)))
    elif case == "member too small":
        path.write_text(json.dumps({**document, "losses": {**document["losses"], "shape": [3, 400]}}))
    elif case == "raw member":  # a pickle stored as a member that is not a .npy file
        _replace_npz(path)
        with np.load(npz) as arrays:
            members = {name: arrays[name] for name in arrays.files}
        members.pop("a2")
        buffer = io.BytesIO()
        np.savez(buffer, **members)
        import zipfile

        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr("a2", pickle.dumps(np.asarray([0, 1, -1])))
        npz.write_bytes(buffer.getvalue())
        path.write_text(json.dumps({**document, "arrays": {**document["arrays"],
                                                           "sha256": hashlib.sha256(buffer.getvalue()).hexdigest()}}))
    elif case == "not a zip":
        data = pickle.dumps({"a0": 1})
        npz.write_bytes(data)
        path.write_text(json.dumps({**document, "arrays": {**document["arrays"],
                                                           "sha256": hashlib.sha256(data).hexdigest()}}))
    with pytest.raises(ValueError, match=message) as caught:
        jl.SweepResult.from_json(path)
    assert str(path) in str(caught.value)


# --- a real sweep ------------------------------------------------------------------------


def test_a_real_sweep_round_trips_exactly(layout, tmp_path):
    result = jl.sweep(lambda x: x**2 + 10.0, jnp.asarray(5.0), {"sgd": optax.sgd, "adam": optax.adam},
                      [0.01, 0.3, 1.5], steps=20, record_every=3, seeds=None)
    path = result.to_json(tmp_path / "sweep.json")
    back = jl.SweepResult.from_json(path)
    _assert_same_result(back, result)
    assert _same_bytes(back.params, result.params)
    assert _same_bytes(jl.SweepResult.from_json(path, like=jnp.zeros(())).params, result.params)
    assert back.best() == result.best() and back.table() == result.table()
