"""Start (or skip) JAX's multi-controller runtime: ``jax.distributed``.

nasjax runs one Python process per host (or per GPU); every process runs the
same program, and :func:`initialize` connects them through
``jax.distributed.initialize`` so that ``jax.devices()`` lists the devices of
every process. Where the coordinator, the process count and the process id
come from is decided by the pure function :func:`resolve_launch`, in this
order:

1. explicit :class:`DistributedConfig` fields (all three, or, with
   ``auto=True``, overriding what was detected);
2. with ``auto=True``, the ``NASJAX_*`` variables written by
   :func:`nasjax.distributed.local_env` (local multi-process runs);
3. with ``auto=True``, SLURM (``srun`` / Hydra's submitit launcher): the same
   rules as JAX's own SLURM detection (coordinator = first host of the step
   on a port derived from the job id, ``SLURM_NTASKS`` processes, id
   ``SLURM_PROCID``), plus: when every task sees all GPUs of its node, task
   ``SLURM_LOCALID`` keeps GPU ``SLURM_LOCALID``; when SLURM already bound
   one GPU per task (``--gpus-per-task=1``), the visible devices are left
   alone;
4. with ``auto=True`` and ``cluster_detection_method`` set (``"ompi"``,
   ``"gcetpu"``, ``"gketpu"``, ``"k8s"``, ``"mpi4py"``...), or under Open MPI,
   JAX's own cluster detection.

One process (no cluster found, or a count of 1) is a no-op: nothing is
initialised, single-process code runs unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

import jax

logger = logging.getLogger(__name__)

ENV_COORDINATOR = "NASJAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "NASJAX_NUM_PROCESSES"
ENV_PROCESS_ID = "NASJAX_PROCESS_ID"

_SLURM_REQUIRED = ("SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID")
_SLURM_NODELISTS = ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST")
_OMPI_MARKER = "OMPI_MCA_orte_hnp_uri"


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """How to join (or not) a multi-process JAX run. Plain types only.

    Attributes:
        coordinator_address: ``"host:port"`` of process 0's coordinator.
        num_processes: Processes in the run.
        process_id: This process, in ``[0, num_processes)``.
        auto: Fill unset fields from the environment (``NASJAX_*`` variables,
            SLURM, or JAX's cluster detection); with nothing found, run as one
            process.
        local_device_ids: Local accelerator ids this process may use (None:
            all visible ones, or the SLURM rule of the module docstring).
        cluster_detection_method: A JAX cluster name (``"ompi"``,
            ``"gcetpu"``, ``"gketpu"``, ``"k8s"``, ``"mpi4py"``, ``"slurm"``)
            to hand detection to JAX (``auto=True``).
        coordinator_port: Port used with an auto-detected coordinator host
            (None: SLURM's job-id-derived port, or ``JAX_COORDINATOR_PORT``).
        initialization_timeout: Seconds to wait for every process to connect.
        cpu_collectives: ``jax_cpu_collectives_implementation`` set before a
            multi-process start (``"gloo"``; None leaves JAX's default). Only
            the CPU backend reads it.
    """

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    auto: bool = False
    local_device_ids: tuple[int, ...] | None = None
    cluster_detection_method: str | None = None
    coordinator_port: int | None = None
    initialization_timeout: int = 300
    cpu_collectives: str | None = "gloo"

    def __post_init__(self) -> None:
        if self.local_device_ids is not None:  # e.g. a list from a Hydra config
            ids = tuple(int(i) for i in self.local_device_ids)
            object.__setattr__(self, "local_device_ids", ids)
        if self.num_processes is not None and self.num_processes < 1:
            raise ValueError(f"num_processes must be >= 1, got {self.num_processes}")
        if self.process_id is not None and self.process_id < 0:
            raise ValueError(f"process_id must be >= 0, got {self.process_id}")
        if (
            self.process_id is not None
            and self.num_processes is not None
            and self.process_id >= self.num_processes
        ):
            raise ValueError(
                f"process_id {self.process_id} must be < num_processes "
                f"{self.num_processes}"
            )
        if self.initialization_timeout < 1:
            raise ValueError("initialization_timeout must be >= 1 second")


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """The arguments :func:`initialize` hands ``jax.distributed.initialize``.

    Attributes:
        coordinator_address: ``"host:port"`` (None: JAX's detection fills it).
        num_processes: Process count (None: JAX's detection).
        process_id: This process (None: JAX's detection).
        local_device_ids: Visible local accelerators (None: all).
        source: Where the values came from: ``"config"``, ``"env"``,
            ``"slurm"`` or ``"jax"``.
        cluster_detection_method: Passed to JAX when ``source == "jax"``.
    """

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    local_device_ids: tuple[int, ...] | None
    source: str
    cluster_detection_method: str | None = None


@dataclasses.dataclass(frozen=True)
class DistributedInfo:
    """Where this process stands in the (possibly one-process) run.

    Attributes:
        process_index: ``jax.process_index()``.
        process_count: ``jax.process_count()``.
        local_device_count: Devices this process feeds.
        device_count: Devices of every process.
        platform: ``"cpu"``, ``"gpu"`` or ``"tpu"``.
        multi_process: ``jax.distributed`` is initialised by more than one
            process.
        source: How the run was set up (``"single"`` when nothing was
            initialised; :attr:`LaunchPlan.source` when :func:`initialize`
            started it; ``"existing"`` when it was already running).
    """

    process_index: int
    process_count: int
    local_device_count: int
    device_count: int
    platform: str
    multi_process: bool
    source: str


def first_slurm_host(nodelist: str) -> str:
    """First host name of a SLURM node list (``"gpu[003-010,012],cpu1"``).

    Args:
        nodelist: ``SLURM_STEP_NODELIST`` syntax: comma-separated names, each
            with an optional bracketed range list.

    Returns:
        The first name, e.g. ``"gpu003"`` (zero padding kept).
    """
    nodelist = nodelist.strip()
    cut = next((i for i, ch in enumerate(nodelist) if ch in ",["), len(nodelist))
    if cut == len(nodelist) or nodelist[cut] == ",":
        return nodelist[:cut]
    prefix, rest = nodelist[:cut], nodelist[cut + 1 :]
    end = next((i for i, ch in enumerate(rest) if ch in ",-]"), len(rest))
    return prefix + rest[:end]


def slurm_port(job_id: str) -> int:
    """JAX's coordinator port of a SLURM job: ``61440 + job_id % 4096``."""
    return int(job_id) % 2**12 + (65535 - 2**12 + 1)


def _visible_gpus(environ: Mapping[str, str]) -> int | None:
    for var in ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"):
        value = environ.get(var)
        if value is not None and value.strip():
            return len([v for v in value.split(",") if v.strip()])
    return None


def _gpus_per_task(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SLURM_GPUS_PER_TASK")
    if value is None:
        return None
    try:
        return int(value.split(":")[-1])
    except ValueError:
        return None


def slurm_plan(
    environ: Mapping[str, str], port: int | None = None
) -> LaunchPlan | None:
    """A :class:`LaunchPlan` from SLURM variables, or None outside SLURM.

    Args:
        environ: Environment variables (e.g. ``os.environ``).
        port: Coordinator port (default ``JAX_COORDINATOR_PORT`` or
            :func:`slurm_port` of the job id).

    Returns:
        None if any of ``SLURM_JOB_ID``, ``SLURM_NTASKS``, ``SLURM_PROCID``
        or a node list is missing; else the plan (``local_device_ids =
        (SLURM_LOCALID,)`` unless one GPU per task is already bound).

    Raises:
        ValueError: On malformed numbers, naming the variable.
    """
    if not all(v in environ for v in _SLURM_REQUIRED):
        return None
    nodelist = next((environ[v] for v in _SLURM_NODELISTS if v in environ), None)
    if not nodelist:
        return None

    def number(var: str) -> int:
        try:
            return int(environ[var])
        except ValueError:
            raise ValueError(f"{var}={environ[var]!r} is not an integer") from None

    n_tasks, proc_id = number("SLURM_NTASKS"), number("SLURM_PROCID")
    if port is None and environ.get("JAX_COORDINATOR_PORT"):
        port = int(environ["JAX_COORDINATOR_PORT"])
    if port is None:
        port = slurm_port(str(number("SLURM_JOB_ID")))
    local: tuple[int, ...] | None = None
    if "SLURM_LOCALID" in environ:
        bound = _gpus_per_task(environ) == 1 or _visible_gpus(environ) == 1
        local = None if bound else (number("SLURM_LOCALID"),)
    return LaunchPlan(
        coordinator_address=f"{first_slurm_host(nodelist)}:{port}",
        num_processes=n_tasks,
        process_id=proc_id,
        local_device_ids=local,
        source="slurm",
    )


def _env_plan(environ: Mapping[str, str]) -> LaunchPlan | None:
    names = (ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID)
    present = [n for n in names if environ.get(n)]
    if not present:
        return None
    if len(present) != len(names):
        missing = sorted(set(names) - set(present))
        raise ValueError(f"{', '.join(present)} set but {', '.join(missing)} missing")
    return LaunchPlan(
        coordinator_address=environ[ENV_COORDINATOR],
        num_processes=int(environ[ENV_NUM_PROCESSES]),
        process_id=int(environ[ENV_PROCESS_ID]),
        local_device_ids=None,
        source="env",
    )


def resolve_launch(
    cfg: DistributedConfig | None, environ: Mapping[str, str]
) -> LaunchPlan | None:
    """Decide how to start ``jax.distributed`` (pure: reads only ``environ``).

    Args:
        cfg: The configuration (None: ``DistributedConfig(auto=True)``).
        environ: Environment variables.

    Returns:
        The plan, or None when this is a single-process run (nothing to
        initialise).

    Raises:
        ValueError: When explicit fields are incomplete or inconsistent.
    """
    cfg = DistributedConfig(auto=True) if cfg is None else cfg
    explicit = (cfg.coordinator_address, cfg.num_processes, cfg.process_id)
    if cfg.num_processes == 1:
        return None
    found: LaunchPlan | None = None
    if cfg.auto:
        if cfg.cluster_detection_method not in (None, "slurm"):
            found = LaunchPlan(
                None, None, None, None, "jax", cfg.cluster_detection_method
            )
        else:
            found = _env_plan(environ) or slurm_plan(environ, cfg.coordinator_port)
            if found is None and _OMPI_MARKER in environ:
                found = LaunchPlan(None, None, None, None, "jax", "ompi")
    if all(v is None for v in explicit):
        plan = found
    elif all(v is not None for v in explicit):
        plan = LaunchPlan(*explicit, None, "config")
    elif found is not None:  # explicit fields override what was detected
        plan = dataclasses.replace(
            found,
            **{
                name: value
                for name, value in zip(
                    ("coordinator_address", "num_processes", "process_id"),
                    explicit,
                    strict=True,
                )
                if value is not None
            },
        )
    else:
        fields = ("coordinator_address", "num_processes", "process_id")
        missing = [f for f, v in zip(fields, explicit, strict=True) if v is None]
        raise ValueError(
            f"DistributedConfig: {', '.join(missing)} missing and nothing "
            "detected; give coordinator_address, num_processes and process_id "
            "together, or set auto=True inside a known cluster environment"
        )
    if plan is None or plan.num_processes == 1:
        return None
    if cfg.local_device_ids is not None:
        plan = dataclasses.replace(plan, local_device_ids=cfg.local_device_ids)
    return plan


def distributed_info(source: str | None = None) -> DistributedInfo:
    """This process's :class:`DistributedInfo` (starts the JAX backend).

    Args:
        source: Reported as :attr:`DistributedInfo.source` (default
            ``"existing"`` when ``jax.distributed`` is initialised, else
            ``"single"``).
    """
    n_proc = jax.process_count()
    if source is None:
        source = "existing" if jax.distributed.is_initialized() else "single"
    return DistributedInfo(
        process_index=jax.process_index(),
        process_count=n_proc,
        local_device_count=jax.local_device_count(),
        device_count=jax.device_count(),
        platform=jax.devices()[0].platform,
        multi_process=n_proc > 1,
        source=source,
    )


def initialize(
    cfg: DistributedConfig | None = None, environ: Mapping[str, str] | None = None
) -> DistributedInfo:
    """Join the multi-process run ``cfg`` describes; a no-op for one process.

    Must run before any JAX computation (JAX refuses to connect a process
    whose backend has already started). Idempotent: once ``jax.distributed``
    is initialised (by this function or by the caller), later calls only
    report. Before a multi-process start it sets
    ``jax_cpu_collectives_implementation`` to ``cfg.cpu_collectives`` (gloo)
    so CPU devices of different processes can run collectives.

    Args:
        cfg: The configuration (None: ``DistributedConfig(auto=True)``).
        environ: Environment variables (default ``os.environ``).

    Returns:
        The resulting :class:`DistributedInfo`.

    Raises:
        ValueError: On an incomplete or inconsistent configuration.
        RuntimeError: From JAX, e.g. when the backend already started.
    """
    cfg = DistributedConfig(auto=True) if cfg is None else cfg
    source = None
    if not jax.distributed.is_initialized():
        plan = resolve_launch(cfg, os.environ if environ is None else environ)
        if plan is not None:
            if cfg.cpu_collectives is not None:
                jax.config.update(
                    "jax_cpu_collectives_implementation", cfg.cpu_collectives
                )
            kwargs: dict[str, Any] = {
                "coordinator_address": plan.coordinator_address,
                "num_processes": plan.num_processes,
                "process_id": plan.process_id,
                "initialization_timeout": cfg.initialization_timeout,
            }
            if plan.local_device_ids is not None:
                kwargs["local_device_ids"] = list(plan.local_device_ids)
            if plan.source == "jax":
                kwargs["cluster_detection_method"] = plan.cluster_detection_method
            else:
                # Everything is known: stop JAX from overriding it.
                kwargs["cluster_detection_method"] = "deactivate"
            logger.info(
                "jax.distributed.initialize from %s: %s",
                plan.source,
                {k: v for k, v in kwargs.items() if v is not None},
            )
            jax.distributed.initialize(**kwargs)
            source = plan.source
    info = distributed_info(source)
    # One process: nothing worth a line in every run's log.
    logger.log(
        logging.INFO if info.multi_process else logging.DEBUG,
        "process %d/%d: %d local / %d global %s devices",
        info.process_index,
        info.process_count,
        info.local_device_count,
        info.device_count,
        info.platform,
    )
    return info


def shutdown() -> None:
    """``jax.distributed.shutdown()`` if initialised (idempotent)."""
    if jax.distributed.is_initialized():
        jax.distributed.shutdown()
