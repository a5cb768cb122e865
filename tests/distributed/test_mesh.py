"""Single-process behaviour of the mesh, consistency and checkpoint helpers."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nasjax  # noqa: F401
from nasjax import distributed as dist
from nasjax.graph import random_arch, stack
from nasjax.search.base import Archive, SearchState
from tests.helpers import random_archs, small_spec


@pytest.mark.parametrize(
    ("n", "multiple", "size"),
    [(5, 4, 8), (3, 4, 4), (4, 4, 4), (1, 1, 1), (0, 2, 2), (9, 1, 9), (7, 8, 8)],
)
def test_padded_size(n, multiple, size):
    assert dist.padded_size(n, multiple) == size


def test_padding_order_repeats_member_zero():
    np.testing.assert_array_equal(dist.padding_order(5, 8), [0, 1, 2, 3, 4, 0, 0, 0])
    np.testing.assert_array_equal(dist.padding_order(4, 4), [0, 1, 2, 3])


def test_population_mesh_and_devices():
    mesh = dist.population_mesh()
    assert mesh.axis_names == (dist.POP_AXIS,)
    assert list(mesh.devices.flat) == jax.devices()
    assert dist.population_devices(True) == jax.devices()
    assert dist.population_devices(False) == jax.local_devices()[:1]
    assert dist.is_main_process()


def test_to_global_and_gather_round_trip(spec):
    mesh = dist.population_mesh()
    n = dist.padded_size(3, jax.device_count())
    keys = jax.random.split(jax.random.key(0), n)
    archs = random_archs(spec, n, 0)
    tree = {"archs": archs, "keys": keys, "x": np.arange(n, dtype=np.float32)}
    glob = dist.shard_population(tree, mesh)
    assert glob["x"].sharding == dist.population_sharding(mesh)
    assert jnp.issubdtype(glob["keys"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(
        jax.random.key_data(glob["keys"]), jax.random.key_data(keys)
    )
    host = dist.gather({"archs": glob["archs"], "x": glob["x"]})
    assert isinstance(host["x"], np.ndarray)
    for a, b in zip(
        jax.tree.leaves(host["archs"]), jax.tree.leaves(archs), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    same = dist.gather_population({"x": glob["x"], "archs": glob["archs"]})
    np.testing.assert_array_equal(same["x"], tree["x"])
    rep = dist.replicate(np.ones((2, 3)), mesh)
    assert rep.sharding == dist.replicated_sharding(mesh)


def test_single_process_collectives_are_identity():
    assert dist.agree(3.5) == 3.5
    assert dist.process_budget(123) == 123
    state = {"a": np.arange(3)}
    assert dist.broadcast_from_main(state) is state


def test_fingerprint_sees_every_part():
    arch = random_arch(jax.random.key(1), small_spec(max_nodes=4, max_width=8))
    archive = Archive(
        stack([arch]), np.array([0.5]), ("fp",), {"fp": {"w": np.ones(2)}}
    )
    state = SearchState(archive, None, 1)
    fp = dist.fingerprint(state)
    assert fp == dist.check_same_everywhere(state)
    assert len(fp) == 32
    changed = [
        SearchState(archive, None, 2),
        SearchState(
            Archive(archive.archs, np.array([0.5000001]), ("fp",), archive.params),
            None,
            1,
        ),
        SearchState(
            Archive(archive.archs, archive.fitness, ("fq",), archive.params), None, 1
        ),
        SearchState(
            Archive(
                archive.archs, archive.fitness, ("fp",), {"fp": {"w": np.zeros(2)}}
            ),
            None,
            1,
        ),
    ]
    fps = {dist.fingerprint(s) for s in changed}
    assert fp not in fps and len(fps) == len(changed)
    # Equal content, fresh objects: equal fingerprints.
    again = SearchState(
        Archive(stack([arch]), np.array([0.5]), ("fp",), {"fp": {"w": np.ones(2)}}),
        None,
        1,
    )
    assert dist.fingerprint(again) == fp


def test_sharded_checkpoint_round_trip_single_process(tmp_path):
    mesh = dist.population_mesh()
    n = dist.padded_size(5, jax.device_count())
    tree = dist.shard_population(
        {"w": np.arange(n * 2, dtype=np.float32).reshape(n, 2), "i": np.arange(n)},
        mesh,
    )
    dist.save_sharded(tmp_path / "ck", tree)
    back = dist.restore_sharded(tmp_path / "ck", dist.abstract_like(tree))
    for k in tree:
        assert back[k].sharding == tree[k].sharding
        np.testing.assert_array_equal(back[k], tree[k])
    # Arrays as targets work too.
    back2 = dist.restore_sharded(tmp_path / "ck", tree)
    np.testing.assert_array_equal(back2["w"], tree["w"])


def test_local_env(monkeypatch):
    base = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --foo=1", "A": "b"}
    env = dist.local_env(1, 2, 4321, devices_per_process=2, base=base)
    assert env["NASJAX_COORDINATOR_ADDRESS"] == "127.0.0.1:4321"
    assert env["NASJAX_NUM_PROCESSES"] == "2" and env["NASJAX_PROCESS_ID"] == "1"
    flags = env["XLA_FLAGS"].split()
    assert "--xla_force_host_platform_device_count=2" in flags
    assert "--xla_force_host_platform_device_count=8" not in flags
    assert "--foo=1" in flags
    assert "--xla_cpu_enable_concurrency_optimized_scheduler=false" in flags
    assert env["JAX_PLATFORMS"] == "cpu" and env["A"] == "b"
    plan = dist.resolve_launch(dist.DistributedConfig(auto=True), env)
    assert plan is not None
    assert (plan.coordinator_address, plan.num_processes, plan.process_id) == (
        "127.0.0.1:4321",
        2,
        1,
    )
    gpu = dist.local_env(0, 2, 1, base={"XLA_FLAGS": "--x=1"})
    assert gpu["XLA_FLAGS"] == "--x=1" and "JAX_PLATFORMS" not in gpu
    assert 0 < dist.free_port() < 65536


def test_run_local_ranks_and_failure_kills_peers():
    """Each rank sees its NASJAX_* variables; when rank 1 fails, rank 0 (which
    would wait for it) is killed instead of running to the end."""
    script = (
        "import os, sys, time\n"
        "rank = int(os.environ['NASJAX_PROCESS_ID'])\n"
        "print(rank, os.environ['NASJAX_NUM_PROCESSES'], os.environ['XLA_FLAGS'])\n"
        "sys.stdout.flush()\n"
        "sys.exit(3) if rank == 1 else time.sleep(120)\n"
    )
    procs = dist.run_local([sys.executable, "-c", script], 2, 2, timeout=300)
    assert procs[1].returncode == 3
    assert procs[0].returncode < 0  # killed, did not sleep to the end
    assert procs[1].stdout.startswith("1 2 ")
    assert "--xla_force_host_platform_device_count=2" in procs[1].stdout
    ok = dist.run_local([sys.executable, "-c", "print('hi')"], 2, timeout=300)
    assert [p.returncode for p in ok] == [0, 0]
    assert [p.stdout for p in ok] == ["hi\n", "hi\n"]
