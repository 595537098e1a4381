"""Sharded sweeps equal unsharded ones, and results are bit-identical in a fresh process.

The forced host devices must be configured before jax is imported, so the sharded run
happens in a subprocess with ``XLA_FLAGS`` set there (the library never sets it). The
same subprocess also runs the single-device sweep that this process repeats, to check
bit-identical results across processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import REGRESSION_SWEEP, assert_same_sweep, fresh_process_environment, tree_allclose

import jaxopt_lessons as jl

ROOT = Path(__file__).resolve().parents[1]

CHILD = REGRESSION_SWEEP + textwrap.dedent(
    """
    import sys
    from jaxopt_lessons.sweeps import api, checks, driver, kernel
    assert jax.device_count() == 2, jax.devices()
    out = sys.argv[1]
    run(jax.devices()[:1], lanes_last=False).to_json(out + "/single.json")
    run(None, lanes_last=False).to_json(out + "/sharded.json")
    run(None, lanes_last=True).to_json(out + "/lanes_last.json")
    # the lane axis really is split over both devices, in both layouts
    for lanes_last, axis in ((False, 0), (True, -1)):
        plan = checks.make_plan(loss, init, optax.sgd, [0.1] * 4, steps=60, args=(x, y), lanes_last=lanes_last)
        spec = api.kernel_spec(plan, optax.sgd)
        sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.asarray(jax.devices()), ("lanes",)),
                                              jax.sharding.PartitionSpec("lanes"))
        lanes = kernel.LaneInputs(driver.put_lanes(np.full(4, 0.1, np.float32), sharding),
                                  driver.put_lanes(np.zeros(4, np.int32), sharding), {})
        carry = kernel.build_program(spec).init(lanes, api.shared_inputs(plan))
        flat = jax.tree_util.tree_leaves(carry.params)[0]  # a pytree leaf (vmap) or the raveled (P, lanes)
        assert len(flat.sharding.device_set) == 2
        assert [s.data.shape[axis] for s in flat.addressable_shards] == [2, 2]
    print("ok")
    """
)


@pytest.mark.slow
def test_sharded_equals_unsharded_and_fresh_process_is_bit_identical(tmp_path):
    env = fresh_process_environment()
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    env["JAX_PLATFORMS"] = "cpu"
    completed = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    single = jl.SweepResult.from_json(tmp_path / "single.json")
    sharded = jl.SweepResult.from_json(tmp_path / "sharded.json")
    assert sharded.n_lanes == 30 and set(sharded.status.tolist()) >= {"diverged"}
    assert_same_sweep(sharded, single)
    lanes_last = jl.SweepResult.from_json(tmp_path / "lanes_last.json")  # sharded along the trailing axis
    np.testing.assert_array_equal(lanes_last.status, single.status)
    np.testing.assert_array_equal(lanes_last.diverged_at, single.diverged_at)
    np.testing.assert_allclose(lanes_last.losses, single.losses, rtol=1e-5)
    assert tree_allclose(lanes_last.params, single.params, rtol=1e-5, atol=1e-6)

    namespace: dict = {}
    exec(REGRESSION_SWEEP, namespace)  # the same sweep in this process, on one device
    here = namespace["run"](jax.devices()[:1], lanes_last=False)
    assert_same_sweep(here, single)
