"""``initialize`` is a no-op for one process; launch plans from the environment.

The parsing is tested on fake environment dicts (no ``jax.distributed``
call); the real multi-process start is in ``test_multiprocess.py``.
"""

import dataclasses

import jax
import pytest

import nasjax  # noqa: F401
from nasjax.distributed import (
    DistributedConfig,
    LaunchPlan,
    distributed_info,
    first_slurm_host,
    initialize,
    resolve_launch,
    slurm_plan,
    slurm_port,
)


def _plan(plan: LaunchPlan | None) -> LaunchPlan:
    assert plan is not None
    return plan


SLURM = {
    "SLURM_JOB_ID": "123456",
    "SLURM_NTASKS": "8",
    "SLURM_PROCID": "5",
    "SLURM_LOCALID": "1",
    "SLURM_STEP_NODELIST": "gpu[003-004]",
    "SLURM_STEP_NUM_NODES": "2",
}


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [
        ("node001", "node001"),
        ("node001,host2", "node001"),
        ("node[001-015],host2", "node001"),
        ("node[001,007-015],host2", "node001"),
        ("gpu[07],cpu1", "gpu07"),
        ("a-b-c[10-12]", "a-b-c10"),
    ],
)
def test_first_slurm_host(nodelist, host):
    assert first_slurm_host(nodelist) == host


def test_slurm_first_host_and_port_match_jax(monkeypatch):
    """Same coordinator as JAX's own SLURM detection (its class is private)."""
    from jax._src.clusters.slurm_cluster import SlurmCluster

    for nodelist in ("node[001,007-015],host2", "gpu7", "n[10-11]"):
        env = dict(SLURM, SLURM_STEP_NODELIST=nodelist)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        plan = _plan(slurm_plan(env))
        assert plan is not None
        assert plan.coordinator_address == SlurmCluster.get_coordinator_address(
            None, None
        )
        assert plan.num_processes == SlurmCluster.get_process_count()
        assert plan.process_id == SlurmCluster.get_process_id()


def test_slurm_plan_fields():
    plan = _plan(slurm_plan(SLURM))
    assert plan == LaunchPlan(
        coordinator_address=f"gpu003:{slurm_port('123456')}",
        num_processes=8,
        process_id=5,
        local_device_ids=(1,),
        source="slurm",
    )
    assert slurm_port("123456") == 61440 + 123456 % 4096
    assert 61440 <= slurm_port("4095") <= 65535


def test_slurm_port_overrides():
    assert _plan(slurm_plan(SLURM, port=1234)).coordinator_address == "gpu003:1234"
    env = dict(SLURM, JAX_COORDINATOR_PORT="4321")
    assert _plan(slurm_plan(env)).coordinator_address == "gpu003:4321"


def test_slurm_gpu_binding():
    """One GPU bound per task: keep it; all GPUs visible: task i takes GPU i."""

    def ids(env):
        return _plan(slurm_plan(env)).local_device_ids

    assert ids(dict(SLURM, CUDA_VISIBLE_DEVICES="0,1,2,3")) == (1,)
    assert ids(dict(SLURM, CUDA_VISIBLE_DEVICES="3")) is None
    assert ids(dict(SLURM, SLURM_GPUS_PER_TASK="1")) is None
    assert ids(dict(SLURM, SLURM_GPUS_PER_TASK="a100:1")) is None
    assert ids({k: v for k, v in SLURM.items() if k != "SLURM_LOCALID"}) is None


def test_slurm_fallback_nodelist_and_absence():
    env = {k: v for k, v in SLURM.items() if k != "SLURM_STEP_NODELIST"}
    assert slurm_plan(env) is None
    env["SLURM_JOB_NODELIST"] = "c[5-6]"
    assert str(_plan(slurm_plan(env)).coordinator_address).startswith("c5:")
    for missing in ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID"):
        assert slurm_plan({k: v for k, v in SLURM.items() if k != missing}) is None


def test_slurm_bad_number_names_variable():
    with pytest.raises(ValueError, match="SLURM_NTASKS"):
        slurm_plan(dict(SLURM, SLURM_NTASKS="eight"))


def test_resolve_single_process_is_none():
    assert resolve_launch(DistributedConfig(), {}) is None
    assert resolve_launch(DistributedConfig(auto=True), {}) is None
    assert resolve_launch(None, {"HOME": "/root"}) is None
    one = DistributedConfig(coordinator_address="h:1", num_processes=1, process_id=0)
    assert resolve_launch(one, {}) is None
    assert (
        resolve_launch(DistributedConfig(auto=True), dict(SLURM, SLURM_NTASKS="1"))
        is None
    )
    # Without auto, the environment is not read.
    assert resolve_launch(DistributedConfig(auto=False), SLURM) is None


def test_resolve_precedence():
    explicit = DistributedConfig(
        coordinator_address="10.0.0.1:9999", num_processes=2, process_id=1, auto=True
    )
    env = {
        **SLURM,
        "NASJAX_COORDINATOR_ADDRESS": "127.0.0.1:5555",
        "NASJAX_NUM_PROCESSES": "3",
        "NASJAX_PROCESS_ID": "2",
    }
    plan = _plan(resolve_launch(explicit, env))
    assert (plan.coordinator_address, plan.num_processes, plan.process_id) == (
        "10.0.0.1:9999",
        2,
        1,
    )
    assert plan.source == "config"
    plan = _plan(resolve_launch(DistributedConfig(auto=True), env))
    assert (plan.source, plan.num_processes, plan.process_id) == ("env", 3, 2)
    plan = _plan(resolve_launch(DistributedConfig(auto=True), SLURM))
    assert (plan.source, plan.num_processes, plan.process_id) == ("slurm", 8, 5)
    pinned = DistributedConfig(auto=True, local_device_ids=(0, 1))
    assert _plan(resolve_launch(pinned, SLURM)).local_device_ids == (0, 1)


def test_resolve_defers_to_jax_detection():
    plan = _plan(
        resolve_launch(DistributedConfig(auto=True), {"OMPI_MCA_orte_hnp_uri": "x"})
    )
    assert (plan.source, plan.cluster_detection_method) == ("jax", "ompi")
    tpu = DistributedConfig(auto=True, cluster_detection_method="gcetpu")
    plan = _plan(resolve_launch(tpu, {}))
    assert plan.source == "jax" and plan.coordinator_address is None
    assert plan.cluster_detection_method == "gcetpu"


def test_resolve_explicit_fields_override_detection():
    cfg = DistributedConfig(auto=True, coordinator_address="10.1.1.1:7000")
    plan = _plan(resolve_launch(cfg, SLURM))
    assert plan.coordinator_address == "10.1.1.1:7000"
    assert (plan.num_processes, plan.process_id, plan.source) == (8, 5, "slurm")
    assert plan.local_device_ids == (1,)


def test_resolve_rejects_incomplete():
    with pytest.raises(ValueError, match="process_id missing"):
        resolve_launch(
            DistributedConfig(coordinator_address="h:1", num_processes=2), {}
        )
    env = {"NASJAX_COORDINATOR_ADDRESS": "h:1", "NASJAX_NUM_PROCESSES": "2"}
    with pytest.raises(ValueError, match="NASJAX_PROCESS_ID"):
        resolve_launch(DistributedConfig(auto=True), env)
    with pytest.raises(ValueError, match="must be <"):
        DistributedConfig(coordinator_address="h:1", num_processes=2, process_id=2)
    with pytest.raises(ValueError, match="num_processes"):
        DistributedConfig(num_processes=0)


def test_config_is_plain_frozen_dataclass():
    cfg = DistributedConfig(auto=True, local_device_ids=(0,))
    assert hash(cfg) == hash(DistributedConfig(auto=True, local_device_ids=(0,)))
    from_list = DistributedConfig(local_device_ids=[0, 1])  # type: ignore[arg-type]
    assert from_list.local_device_ids == (0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.auto = False  # type: ignore[misc]
    for f in dataclasses.fields(cfg):
        assert f.type in {
            "str | None",
            "int | None",
            "bool",
            "int",
            "tuple[int, ...] | None",
        }, f


def test_initialize_single_process_is_noop_and_idempotent():
    before = distributed_info()
    for cfg, environ in (
        (None, {}),
        (DistributedConfig(), dict(SLURM)),  # auto off: SLURM ignored
        (DistributedConfig(auto=True), dict(SLURM, SLURM_NTASKS="1")),
        (
            DistributedConfig(coordinator_address="h:1", num_processes=1, process_id=0),
            {},
        ),
    ):
        info = initialize(cfg, environ)
        assert not jax.distributed.is_initialized()
        assert info == before
        assert (info.process_index, info.process_count) == (0, 1)
        assert info.source == "single" and not info.multi_process
        assert info.device_count == info.local_device_count == jax.device_count()
