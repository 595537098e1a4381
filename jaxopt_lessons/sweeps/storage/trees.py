"""Parameters of any pytree in a file: every leaf with its path, the structure when it is plain.

``params`` is stored as ``{"treedef", "structure", "leaves"}``: ``leaves`` lists every leaf as
an array entry with its ``"path"`` (:func:`jax.tree_util.keystr`, e.g. ``"[0].W"``);
``treedef`` is the structure as text, for people; ``structure`` is a tagged nest
(``{"dict": {...}}``, ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"none": null}``,
``{"leaf": path}``) when the tree is made of plain dicts (str keys), lists, tuples and
``None`` only, else ``null``.

Reading back: a plain tree is rebuilt as it was; any other tree (namedtuples,
dataclasses, Flax/Equinox containers, registered classes) comes back as a dict
``{path: array}`` in leaf order, unless a template ``like`` (one lane's parameters) is
given: its paths and leaf shapes (without the lane axis) must equal the file's, and the
leaves are put into its structure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .fields import describe

__all__ = ["decode_params", "encode_params", "restore_like"]

_tree_util = jax.tree_util


def encode_params(params: Any, put: Callable[..., dict[str, Any]], n_lanes: int) -> dict[str, Any] | None:
    """``params`` as leaves with paths (each array entry made by ``put(array, field, path=...)``).

    Raises:
      ValueError: for a leaf that is not an array or has no leading axis of ``n_lanes``.
    """
    if params is None:
        return None
    flat, treedef = _tree_util.tree_flatten_with_path(params)
    leaves, seen = [], set()
    for key_path, leaf in flat:
        name = _tree_util.keystr(key_path)
        field, array = f"params{name}", np.asarray(leaf)
        if array.dtype == object:
            raise ValueError(f"{field}: a {type(leaf).__name__} is not an array; pass only the array leaves "
                             "(e.g. equinox.partition(model, equinox.is_array)[0])")
        if name in seen:
            raise ValueError(f"{field}: two leaves have the same path")
        if array.ndim < 1 or array.shape[0] != n_lanes:
            raise ValueError(f"{field}: has shape {array.shape}, expected a leading axis of {n_lanes} lanes")
        seen.add(name)
        leaves.append(put(array, field, path=name))
    structure = _plain_structure(params, ())
    if structure is not None and not _places_leaves_at_their_paths(structure, seen):
        structure = None  # never happens for plain trees; a guard so that a file always reads back
    return {"treedef": str(treedef), "structure": structure, "leaves": leaves}


def _plain_structure(tree: Any, prefix: tuple) -> Any:
    """The tagged nest of a tree of plain dicts/lists/tuples/None (leaves name their paths), else ``None``."""
    if tree is None:
        return {"none": None}
    if type(tree) is dict and all(isinstance(key, str) for key in tree):
        children = {key: _plain_structure(value, (*prefix, _tree_util.DictKey(key))) for key, value in tree.items()}
        return None if None in children.values() else {"dict": children}
    if type(tree) in (list, tuple):
        items = [_plain_structure(value, (*prefix, _tree_util.SequenceKey(i))) for i, value in enumerate(tree)]
        return None if None in items else {type(tree).__name__: items}
    if _tree_util.treedef_is_leaf(_tree_util.tree_structure(tree)):
        return {"leaf": _tree_util.keystr(prefix)}
    return None


def decode_params(entry: Any, read: Callable[[Any, str], np.ndarray],
                  n_lanes: int) -> tuple[dict[str, np.ndarray] | None, Callable[[], Any] | None]:
    """The stored leaves by path, and a function rebuilding the plain structure (``None`` if not plain).

    ``read(entry, field)`` decodes one array entry. Version 1 files stored a tagged nest
    with ``{"array": entry}`` leaves; they are read too.

    Raises:
      ValueError: ``"params...: <what is wrong>"``.
    """
    if entry is None:
        return None, None
    if isinstance(entry, dict) and set(entry) == {"treedef", "structure", "leaves"}:  # version 2
        if not isinstance(entry["leaves"], list):
            raise ValueError(f"params: leaves must be a list, got {describe(entry['leaves'])}")
        leaves: dict[str, np.ndarray] = {}
        for item in entry["leaves"]:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str) or item["path"] in leaves:
                raise ValueError("params: every leaf needs its own str \"path\"")
            leaves[item["path"]] = read({k: v for k, v in item.items() if k != "path"}, f"params{item['path']}")
        structure = entry["structure"]
        if structure is not None and not _places_leaves_at_their_paths(structure, set(leaves)):
            raise ValueError("params: the structure does not place every stored leaf at its path")
        build = None if structure is None else (lambda: _build(structure, lambda kind, value: leaves[value]))
    else:  # version 1: a tagged nest of inline arrays
        tree = _build(entry, lambda kind, value: read(value, "params") if kind == "array" else _unknown(kind))
        leaves = {_tree_util.keystr(p): x for p, x in _tree_util.tree_flatten_with_path(tree)[0]}
        build = lambda: tree  # noqa: E731
    for name, leaf in leaves.items():
        if leaf.ndim < 1 or leaf.shape[0] != n_lanes:
            raise ValueError(f"params{name}: has shape {leaf.shape}, expected a leading axis of {n_lanes} lanes")
    return leaves, build


def _places_leaves_at_their_paths(structure: Any, paths: set[str]) -> bool:
    """Whether the nest's ``{"leaf": path}`` nodes name exactly ``paths``, each at its own place."""
    refs = _build(structure, _path_of_leaf)
    flat = _tree_util.tree_flatten_with_path(refs)[0]
    return (all(_tree_util.keystr(p) == ref for p, ref in flat)
            and len(flat) == len(paths) and {ref for _, ref in flat} == paths)


def _path_of_leaf(kind: str, value: Any) -> str:
    if kind != "leaf":
        _unknown(kind)
    if not isinstance(value, str):
        raise ValueError(f"params: a leaf node must name a str path, got {describe(value)}")
    return value


def _unknown(kind: str) -> Any:
    raise ValueError(f"params: unknown params node {kind!r}")


def _build(node: Any, leaf: Callable[[str, Any], Any]) -> Any:
    """A tree from a tagged nest; leaves come from ``leaf(kind, value)`` (depth is bounded by the JSON's)."""
    if not isinstance(node, dict) or len(node) != 1:
        raise ValueError(f"params: a structure node must be one {{kind: value}}, got {describe(node)}")
    (kind, value), = node.items()
    if kind == "dict" and isinstance(value, dict):
        return {key: _build(child, leaf) for key, child in value.items()}
    if kind in ("list", "tuple") and isinstance(value, list):
        items = [_build(child, leaf) for child in value]
        return items if kind == "list" else tuple(items)
    if kind == "none" and value is None:
        return None
    return leaf(kind, value)


def restore_like(like: Any, leaves: dict[str, np.ndarray], path: Path) -> Any:
    """``like``'s structure holding the stored leaves, after checking paths and per-lane shapes.

    Raises:
      ValueError: naming the file, ``params`` and what differs (paths only on one side,
        shapes, or a template that still has the lane axis).
    """
    flat, treedef = _tree_util.tree_flatten_with_path(like)
    paths = [_tree_util.keystr(p) for p, _ in flat]
    problems = [f"paths only in like=: {', '.join(p for p in paths if p not in leaves)[:200]}",
                f"paths only in the file: {', '.join(p for p in leaves if p not in set(paths))[:200]}"]
    problems = [text for text in problems if not text.endswith(": ")]
    if not problems:
        wrong = [(p, np.shape(x), leaves[p].shape) for p, (_, x) in zip(paths, flat)
                 if np.shape(x) != leaves[p].shape[1:]]
        problems = [f"{p or 'the root'} is {a} in like= but {b[1:]} per lane in the file" for p, a, b in wrong[:5]]
        if wrong and all(a == b for _, a, b in wrong):
            problems.append("like= must be one lane's parameters, without the leading lane axis")
    if problems:
        raise ValueError(f"{path}: params do not match like=: {'; '.join(problems)}")
    return _tree_util.tree_unflatten(treedef, [leaves[p] for p in paths])
