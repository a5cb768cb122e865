"""Many devices, many hosts: ``jax.distributed``, the population mesh, SLURM.

A population is trained on a 1-D mesh over every device of every process
(:func:`population_mesh`); each process feeds only its own devices' shards
(:func:`shard_population`) and gets the whole result back
(:func:`gather`). The host-side search state is identical on every process:
every process runs the same searcher with the same keys and inputs, checked
each round by :func:`check_same_everywhere`; only process 0
(:func:`is_main_process`) writes results and plots.

Start a multi-process run with :func:`initialize` before any JAX
computation::

    import nasjax
    from nasjax.distributed import DistributedConfig, initialize

    info = initialize(DistributedConfig(auto=True))  # SLURM, NASJAX_*, or one process
"""

from nasjax.distributed.consistency import (
    StateDivergedError,
    broadcast_from_main,
    check_same_everywhere,
    fingerprint,
)
from nasjax.distributed.launch import (
    DistributedConfig,
    DistributedInfo,
    LaunchPlan,
    distributed_info,
    first_slurm_host,
    initialize,
    resolve_launch,
    shutdown,
    slurm_plan,
    slurm_port,
)
from nasjax.distributed.local import cpu_device_env, free_port, local_env, run_local
from nasjax.distributed.mesh import (
    POP_AXIS,
    agree,
    allgather_host,
    blockwise,
    gather,
    gather_population,
    is_main_process,
    padded_size,
    padding_order,
    population_devices,
    population_mesh,
    population_sharding,
    process_budget,
    replicate,
    replicated_sharding,
    shard_population,
    to_global,
)
from nasjax.distributed.sharded_checkpoint import (
    abstract_like,
    restore_sharded,
    save_sharded,
)

__all__ = [
    "POP_AXIS",
    "DistributedConfig",
    "DistributedInfo",
    "LaunchPlan",
    "StateDivergedError",
    "abstract_like",
    "agree",
    "allgather_host",
    "blockwise",
    "broadcast_from_main",
    "check_same_everywhere",
    "cpu_device_env",
    "distributed_info",
    "fingerprint",
    "first_slurm_host",
    "free_port",
    "gather",
    "gather_population",
    "initialize",
    "is_main_process",
    "local_env",
    "padded_size",
    "padding_order",
    "population_devices",
    "population_mesh",
    "population_sharding",
    "process_budget",
    "replicate",
    "replicated_sharding",
    "resolve_launch",
    "restore_sharded",
    "run_local",
    "save_sharded",
    "shard_population",
    "shutdown",
    "slurm_plan",
    "slurm_port",
    "to_global",
]
