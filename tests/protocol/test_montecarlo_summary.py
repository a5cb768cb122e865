"""Interval helpers of the seed Monte Carlo (host-side, no simulation)."""

import math

import numpy as np
import pytest

from nasjax.protocol.montecarlo import COUNTS, seed_summary, wilson
from nasjax.protocol.types import AGENT_TYPES


def test_wilson_interval():
    lo, hi = wilson(0, 100)
    assert lo == 0.0 and hi == pytest.approx(0.037, abs=0.001)
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.404, abs=0.001) and hi == pytest.approx(
        0.596, abs=0.001
    )
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_seed_summary_pools_counts_and_averages_roi():
    counts = {k: np.array([1, 3]) for k in COUNTS}
    counts["bad"] = np.array([100, 300])
    counts["good"] = np.array([10, 10])
    counts["good_rejected"] = np.array([1, 1])
    roi = np.full((2, len(AGENT_TYPES)), np.nan)
    roi[:, 0] = [0.02, 0.03]  # honest
    roi[:, 1] = [0.01, 0.04]  # lazy: above honest in seed 1
    result = {
        "counts": counts,
        "roi": roi,
        "conserved": True,
        "best_true": np.array([0.5, 0.6]),
        "best_score": np.array([0.5, 0.6]),
    }
    s = seed_summary(result)
    assert s["false_accept"][0] == pytest.approx(4 / 400)
    assert s["false_reject"][3:] == (2, 20)
    assert set(s["roi"]) == {"honest", "lazy"}
    mean, lo, hi = s["roi"]["honest"]
    assert mean == pytest.approx(0.025) and lo < mean < hi
    assert s["seeds_honest_above_all"] == 1 and not s["honest_above_all"]
