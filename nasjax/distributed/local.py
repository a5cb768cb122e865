"""Multi-process runs on one machine (no cluster needed).

:func:`run_local` starts ``num_processes`` copies of a command on
127.0.0.1, each told its rank through the ``NASJAX_*`` variables that
:func:`nasjax.distributed.initialize` (``auto=True``) reads, optionally each
with ``devices_per_process`` fake CPU devices. It is how the tests and the
benchmark exercise ``jax.distributed`` without a cluster, and how a user
tries a multi-host configuration on a laptop.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from nasjax.distributed.launch import ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID

_DEVICE_FLAG = "--xla_force_host_platform_device_count"
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def cpu_device_env(
    n_devices: int, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for a process with ``n_devices`` fake CPU devices.

    Sets ``JAX_PLATFORMS=cpu`` and ``XLA_FLAGS`` with
    ``--xla_force_host_platform_device_count`` (replacing an earlier value)
    and nasjax's CPU scheduler setting (kept if already chosen).

    Args:
        n_devices: CPU devices the process will see.
        base: Starting environment (default ``os.environ``).
    """
    env = dict(os.environ if base is None else base)
    flags = re.sub(rf"{_DEVICE_FLAG}=\S+", "", env.get("XLA_FLAGS", "")).split()
    flags.append(f"{_DEVICE_FLAG}={n_devices}")
    if not any(f.startswith(_SCHEDULER_FLAG) for f in flags):
        flags.append(f"{_SCHEDULER_FLAG}=false")
    env["XLA_FLAGS"] = " ".join(flags)
    env["JAX_PLATFORMS"] = "cpu"
    return env


def local_env(
    process_id: int,
    num_processes: int,
    port: int,
    devices_per_process: int | None = None,
    base: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
) -> dict[str, str]:
    """Environment of process ``process_id`` of a local multi-process run.

    Args:
        process_id: Rank of the process.
        num_processes: Processes in the run.
        port: Coordinator port on ``host`` (e.g. :func:`free_port`).
        devices_per_process: Fake CPU devices per process (None: leave the
            platform and ``XLA_FLAGS`` alone, e.g. to use a GPU per process).
        base: Starting environment (default ``os.environ``).
        host: Coordinator host.
    """
    env = dict(os.environ if base is None else base)
    if devices_per_process is not None:
        env = cpu_device_env(devices_per_process, env)
    env[ENV_COORDINATOR] = f"{host}:{port}"
    env[ENV_NUM_PROCESSES] = str(num_processes)
    env[ENV_PROCESS_ID] = str(process_id)
    return env


def run_local(
    argv: Sequence[str],
    num_processes: int,
    devices_per_process: int | None = None,
    *,
    timeout: float | None = None,
    cwd: str | Path | None = None,
    base_env: Mapping[str, str] | None = None,
    port: int | None = None,
    capture: bool = True,
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``argv`` as ``num_processes`` cooperating processes; wait for all.

    If a process fails (non-zero exit) or the timeout passes, the others are
    killed (their peers would otherwise wait for it until JAX's own
    timeouts). Only the processes started here are killed.

    Args:
        argv: Command, e.g. ``[sys.executable, "-m", "nasjax", ...]``; it must
            call :func:`nasjax.distributed.initialize` (``auto=True``).
        num_processes: Processes to start.
        devices_per_process: Fake CPU devices per process (see
            :func:`local_env`).
        timeout: Seconds for the whole run (None: no limit).
        cwd: Working directory.
        base_env: Environment to start from (default ``os.environ``).
        port: Coordinator port (default :func:`free_port`).
        capture: Capture each process's output (returned); False: the
            processes write to this process's stdout / stderr.

    Returns:
        One ``CompletedProcess`` per rank, in rank order (``returncode`` of a
        killed process is negative; ``stdout`` / ``stderr`` empty when not
        captured).
    """
    port = free_port() if port is None else port
    with contextlib.ExitStack() as stack:
        # Files, not pipes: a chatty process never blocks on a full pipe.
        files = [
            (stack.enter_context(tempfile.TemporaryFile("w+")),
             stack.enter_context(tempfile.TemporaryFile("w+")))
            if capture else (None, None)
            for _ in range(num_processes)
        ]  # fmt: skip
        procs = [
            subprocess.Popen(
                list(argv),
                env=local_env(i, num_processes, port, devices_per_process, base_env),
                cwd=cwd,
                stdout=out,
                stderr=err,
                text=True,
            )
            for i, (out, err) in enumerate(files)
        ]
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                codes = [p.poll() for p in procs]  # poll every process
                if all(c is not None for c in codes):
                    break
                failed = any(c not in (None, 0) for c in codes)
                late = deadline is not None and time.monotonic() > deadline
                if failed or late:
                    break
                time.sleep(0.05)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
        results = []
        for p, (out, err) in zip(procs, files, strict=True):
            texts = []
            for f in (out, err):
                if f is not None:
                    f.seek(0)
                texts.append("" if f is None else f.read())
            results.append(
                subprocess.CompletedProcess(list(argv), p.returncode, *texts)
            )
    return results
