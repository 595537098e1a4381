"""What a sweep was asked to do, as short hashes: to resume a checkpoint, and to compare processes.

:func:`fingerprint` hashes every input that shapes the results, one component per
input (the loss and optimizer names, shapes and dtypes, the learning rates, seeds,
hyperparameters, steps, the data's bytes, ...), so a mismatch can be *named*.
:func:`require_same_across_processes` compares the components of every process of a
``jax.distributed`` run before anything is compiled.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jax
import numpy as np

from .._validate import fn_name
from .checks import SweepPlan, factory_name

__all__ = ["fingerprint", "require_same_across_processes"]

_DIGEST_BYTES = 8


def _digest(value: Any) -> str:
    hasher = hashlib.sha256()
    if isinstance(value, bytes):
        hasher.update(value)
    else:
        hasher.update(json.dumps(value, sort_keys=True, default=str).encode())
    return hasher.hexdigest()[: 2 * _DIGEST_BYTES]


def _data_digest(tree: Any) -> str:
    """The bytes, shapes and dtypes of every array in ``tree`` (the loss's data)."""
    hasher = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        array = np.ascontiguousarray(np.asarray(leaf))
        hasher.update(f"{jax.tree_util.keystr(path)}:{array.dtype.str}:{array.shape}".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()[: 2 * _DIGEST_BYTES]


def fingerprint(plan: SweepPlan, *, keep_params: bool) -> dict[str, str]:
    """One short hash per input of the sweep ``plan`` (names are stable across processes)."""
    example = jax.tree_util.tree_map(lambda leaf: (tuple(leaf.shape), str(leaf.dtype)), plan.example)
    return {
        "loss_fn": _digest([fn_name(plan.loss_fn), None if plan.grad_fn is None else fn_name(plan.grad_fn)]),
        "optimizers": _digest([[name, factory_name(factory)] for name, factory in plan.factories.items()]),
        "learning_rates": _digest(np.asarray(plan.learning_rates, np.float64).tobytes()),
        "seeds": _digest(plan.seeds),
        "hyperparams": _digest({name: values.tolist() for name, values in plan.hyperparams.items()}),
        "schedule": _digest(None if plan.schedule is None else fn_name(plan.schedule)),
        "eval_fn": _digest(None if plan.eval_fn is None else fn_name(plan.eval_fn)),
        "steps": _digest([plan.steps, plan.record_every, plan.batch, plan.unroll]),
        "params": _digest([str(jax.tree_util.tree_structure(plan.example)), jax.tree_util.tree_leaves(example)]),
        "data": _data_digest(plan.args),
        "eval_data": _data_digest(plan.eval_args),
        "init": _digest(fn_name(plan.init)) if callable(plan.init) else _data_digest(plan.init),
        "settings": _digest([plan.layout, str(plan.dtype), list(plan.rules), len(plan.devices), keep_params]),
    }


_INPUTS_ADVICE = ("every process of a jax.distributed run must pass the same loss, optimizers, learning rates, "
                  "seeds, steps and data")


def require_same_across_processes(components: dict[str, str], *, advice: str = _INPUTS_ADVICE) -> None:
    """Raises on every process when the processes of a ``jax.distributed`` run differ in their inputs.

    Raises:
      ValueError: naming the components that differ and the processes' values.
    """
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    names = sorted(components)
    mine = np.frombuffer(b"".join(bytes.fromhex(components[n]) for n in names), np.uint8).reshape(len(names), -1)
    every = np.asarray(multihost_utils.process_allgather(mine))  # (processes, components, bytes)
    differ = [name for i, name in enumerate(names) if not np.all(every[:, i] == every[0, i])]
    if differ:
        raise ValueError(
            f"the {jax.process_count()} processes called sweep with different inputs: {', '.join(differ)} "
            f"differ{'s' if len(differ) == 1 else ''} (this is process {jax.process_index()}); {advice}"
        )
