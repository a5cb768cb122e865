"""Helpers shared by the benchmark scripts: the machine record and t intervals."""

from __future__ import annotations

import math
import os
import platform
from typing import Any

import jax
import numpy as np


def machine_info(**extra: Any) -> dict[str, Any]:
    """Where a benchmark ran: platform, Python, CPUs, load, JAX and devices."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        **extra,
    }


def mean_ci(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the 95% t interval (NaN with one sample)."""
    from scipy import stats

    x = np.asarray(x, np.float64)
    n = x.shape[axis]
    m = np.nanmean(x, axis=axis)
    if n < 2:
        return m, np.full_like(m, np.nan)
    se = np.nanstd(x, axis=axis, ddof=1) / math.sqrt(n)
    return m, se * stats.t.ppf(0.975, n - 1)


def finite_or_none(x: Any) -> float | None:
    """``float(x)``, or None when it is NaN or infinite (for JSON)."""
    x = float(x)
    return x if np.isfinite(x) else None
