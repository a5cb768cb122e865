"""Monte Carlo over seeds: one config, many seeds, one compiled program.

:func:`run_seeds` stacks ``seeds`` copies of a configuration (seed ``s``
for the population, the keys and the beacon) and runs them with
:func:`nasjax.protocol.step.simulate_batch` (``vmap`` over ``lax.scan``);
:func:`seed_summary` pools the false-accept / false-reject counts (Wilson
95% intervals) and averages each agent type's ROI over the seeds (Student
95% interval over seeds).
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.config import LedgerConfig, ProtocolConfig
from nasjax.protocol.metrics import roi_array
from nasjax.protocol.state import init_state, make_params
from nasjax.protocol.step import simulate_batch
from nasjax.protocol.types import AGENT_TYPES
from nasjax.protocol.x64 import x64_mode

COUNTS: tuple[str, ...] = (
    "bad",
    "bad_accepted",
    "good",
    "good_rejected",
    "accepted",
    "rejected",
    "expired",
)


def run_seeds(cfg: ProtocolConfig, seeds: int, first: int = 0) -> dict[str, Any]:
    """Run ``cfg`` for seeds ``first .. first + seeds - 1`` in one program.

    Returns:
        ``{"counts": {name: int64[S]}, "roi": f64[S, len(AGENT_TYPES)],
        "conserved": bool, "best_true": f64[S], "best_score": f64[S]}``
        (ROI NaN for absent types; best scores averaged over tasks).
    """
    cfgs = [
        dataclasses.replace(
            cfg, seed=first + s, ledger=LedgerConfig(mode="none"), plots=False
        )
        for s in range(seeds)
    ]
    with x64_mode():
        params = jax.tree.map(lambda *x: jnp.stack(x), *[make_params(c) for c in cfgs])
        states = jax.tree.map(lambda *x: jnp.stack(x), *[init_state(c) for c in cfgs])
        keys = jnp.stack([jax.random.key(c.seed) for c in cfgs])
        final, out = simulate_batch(params, states, keys, cfg.n_blocks)
        roi = np.asarray(jax.vmap(roi_array)(final))
    m = out.metrics
    counts = {k: np.asarray(getattr(m, k)).sum(axis=1) for k in COUNTS}
    conserved = bool(
        np.array_equal(np.asarray(m.supply), np.asarray(m.supply_expected))
    )
    return {
        "counts": counts,
        "roi": roi,
        "conserved": conserved,
        "best_true": np.asarray(final.best_true).mean(axis=-1),
        "best_score": np.asarray(final.best_score).mean(axis=-1),
    }


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(nan, nan)`` if n = 0)."""
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def _t95(dof: int) -> float:
    """Two-sided 95% Student quantile (table for small dof, normal beyond)."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365}
    table |= {8: 2.306, 9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 15: 2.131}
    table |= {16: 2.120, 20: 2.086, 30: 2.042}
    if dof in table:
        return table[dof]
    below = [d for d in table if d < dof]
    return table[max(below)] if dof < 30 else 1.96


def seed_summary(result: dict[str, Any]) -> dict[str, Any]:
    """Pooled rates with Wilson intervals and per-type ROI with t-intervals.

    Returns:
        ``{"false_accept": (rate, lo, hi, k, n), "false_reject": (...),
        "roi": {type: (mean, lo, hi)}, "seeds_honest_above_all": int (seeds
        where honest ROI beats every attacker type's), ...}``.
    """
    c = {k: int(v.sum()) for k, v in result["counts"].items()}
    out: dict[str, Any] = {"counts": c, "conserved": result["conserved"]}
    for name, k, n in (
        ("false_accept", c["bad_accepted"], c["bad"]),
        ("false_reject", c["good_rejected"], c["good"]),
    ):
        rate = k / n if n else math.nan
        out[name] = (rate, *wilson(k, n), k, n)
    roi = result["roi"]
    seeds = roi.shape[0]
    out["seeds"] = seeds
    out["roi"] = {}
    for t, name in enumerate(AGENT_TYPES):
        x = roi[:, t]
        if not np.all(np.isfinite(x)):
            continue
        mean = float(x.mean())
        half = math.nan
        if seeds > 1:
            half = _t95(seeds - 1) * float(x.std(ddof=1)) / math.sqrt(seeds)
        out["roi"][name] = (mean, mean - half, mean + half)
    present = [t for t in range(1, len(AGENT_TYPES)) if np.all(np.isfinite(roi[:, t]))]
    above = np.all(roi[:, :1] > roi[:, present], axis=1)
    out["seeds_honest_above_all"] = int(above.sum())
    out["honest_above_all"] = bool(above.all())
    out["best_true"] = float(np.mean(result["best_true"]))
    out["best_score"] = float(np.mean(result["best_score"]))
    return out
