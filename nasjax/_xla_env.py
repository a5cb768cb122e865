"""XLA CPU settings that must be in place before JAX starts its backend.

XLA's concurrency-optimised CPU scheduler (jaxlib 0.10) can deadlock when a
program runs several independent LAPACK-backed ops at once (e.g. the
orthogonal initialisers of an LSTM and a GRU in one jitted init): every thread
ends up waiting and the call never returns. nasjax turns that scheduler off
unless the user already chose a value in ``XLA_FLAGS``.
"""

from __future__ import annotations

import os

_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def configure_xla_env(environ: dict[str, str] | None = None) -> None:
    """Append the scheduler flag to ``XLA_FLAGS`` if the user has not set it."""
    env = os.environ if environ is None else environ
    flags = env.get("XLA_FLAGS", "")
    if _FLAG not in flags:
        env["XLA_FLAGS"] = f"{flags} {_FLAG}=false".strip()
