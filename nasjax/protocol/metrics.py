"""Measurements: stake concentration (in-graph) and run summaries (host).

* Gini coefficient and Nakamoto coefficient (fewest identities holding at
  least a third of the stake, the share that can halt a BFT committee) of
  the bonded stake, per block.
* ROI per agent type: ``(final wealth - endowment - compute) / endowment``
  summed over the type's identities, where wealth counts liquid, bonded,
  unbonding and escrowed units and compute is the off-chain cost of the
  evaluations and trainings the type ran.
* False-accept rate: accepted / decided proposals whose true quality does not
  beat the current best's; false-reject rate: rejected / decided proposals
  that truly improve by at least the margin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.state import wealth
from nasjax.protocol.tokens import to_tokens
from nasjax.protocol.types import AGENT_TYPES, HONEST, SLASH_CAUSES, State
from nasjax.protocol.x64 import x64

NAKAMOTO_THRESHOLD: float = 1 / 3


PROPOSAL_COUNTS: tuple[str, ...] = (
    "proposed",
    "accepted",
    "rejected",
    "expired",
    "overclaims",
    "bad",
    "bad_accepted",
    "good",
    "good_rejected",
    "deviations",
    "equivocations",
)
"""Per-block counters of proposals and validator faults (summed in summaries)."""


def gini(x: jax.Array) -> jax.Array:
    """``f64[]`` Gini coefficient of non-negative amounts ``x[N]``."""
    s = jnp.sort(jnp.asarray(x, jnp.float64))
    n = s.shape[0]
    total = jnp.sum(s)
    ranks = jnp.arange(1, n + 1, dtype=jnp.float64)
    g = 2.0 * jnp.sum(ranks * s) / (n * jnp.maximum(total, 1e-300)) - (n + 1) / n
    return jnp.where(total > 0, g, 0.0)


def nakamoto(x: jax.Array, threshold: float = NAKAMOTO_THRESHOLD) -> jax.Array:
    """``int32[]`` fewest holders whose amounts reach ``threshold`` of the total."""
    s = jnp.sort(jnp.asarray(x, jnp.float64))[::-1]
    cum = jnp.cumsum(s)
    return (jnp.argmax(cum >= threshold * cum[-1]) + 1).astype(jnp.int32)


def stake_by_type(state: State) -> jax.Array:
    """``int64[len(AGENT_TYPES)]`` bonded stake per agent type."""
    return jnp.zeros(len(AGENT_TYPES), jnp.int64).at[state.types].add(state.bonded)


def roi_array(state: State) -> jax.Array:
    """``f64[len(AGENT_TYPES)]`` ROI per agent type (NaN for absent types).

    Pure and vmappable; :func:`roi_by_type` is the host dict version.
    """
    n_types = len(AGENT_TYPES)
    gain = wealth(state) - state.endowment - state.compute
    g = jnp.zeros(n_types, jnp.int64).at[state.types].add(gain)
    e = jnp.zeros(n_types, jnp.int64).at[state.types].add(state.endowment)
    return jnp.where(e > 0, g / jnp.maximum(e, 1), jnp.nan)


@x64
def roi_by_type(state: State) -> dict[str, float | None]:
    """ROI per agent type present in the population (host floats)."""
    types = np.asarray(state.types)
    gain = np.asarray(wealth(state)) - np.asarray(state.endowment)
    gain = gain - np.asarray(state.compute)
    endow = np.asarray(state.endowment)
    out: dict[str, float | None] = {}
    for code, name in enumerate(AGENT_TYPES):
        m = types == code
        if m.any():
            out[name] = float(gain[m].sum()) / float(max(endow[m].sum(), 1))
    return out


def rates(metrics: Mapping[str, np.ndarray]) -> dict[str, float | None]:
    """False-accept / false-reject rates and liveness of a run's metrics."""
    bad, good = int(np.sum(metrics["bad"])), int(np.sum(metrics["good"]))
    finalized = int(
        np.sum(metrics["accepted"])
        + np.sum(metrics["rejected"])
        + np.sum(metrics["expired"])
    )
    decided = finalized - int(np.sum(metrics["expired"]))
    return {
        "false_accept_rate": float(np.sum(metrics["bad_accepted"])) / bad
        if bad
        else None,
        "false_reject_rate": float(np.sum(metrics["good_rejected"])) / good
        if good
        else None,
        "liveness": decided / finalized if finalized else None,
    }


def holds(
    roi: Mapping[str, float | None], false_accept: float | None, limit: float = 0.01
) -> bool:
    """The protocol holds: every attacker's ROI < honest ROI, false-accept < limit."""
    honest = roi.get(AGENT_TYPES[HONEST])
    if honest is None:
        return False
    attackers = [v for k, v in roi.items() if k != "honest" and v is not None]
    return all(v < honest for v in attackers) and (false_accept or 0.0) < limit


@x64
def summarize(
    metrics: Mapping[str, np.ndarray], state: State, initial: State
) -> dict[str, Any]:
    """The run summary (JSON-ready) from per-block metrics and end state.

    Args:
        metrics: Per-block metric columns (host arrays, see ``BlockMetrics``).
        state: Final state.
        initial: Genesis state.
    """
    roi = roi_by_type(state)
    r = rates(metrics)
    initial_supply = int(state.initial_supply)
    emitted, burned = int(state.emitted), int(state.burned)
    final = int(np.asarray(wealth(state)).sum())
    best = np.asarray(metrics["best_score"])
    best_true = np.asarray(metrics["best_true"])
    t0_score = float(np.mean(np.asarray(initial.best_score)))
    t0_true = float(np.mean(np.asarray(initial.best_true)))
    end_score = float(np.mean(best[-1])) if len(best) else t0_score
    end_true = float(np.mean(best_true[-1])) if len(best_true) else t0_true
    evals = int(np.sum(metrics["validator_evals"]))
    trainings = int(np.sum(metrics["proposer_trainings"]))
    slashed = np.asarray(state.slashed)
    counts = {k: int(np.sum(metrics[k])) for k in PROPOSAL_COUNTS}
    return {
        "roi": roi,
        "false_accept_rate": r["false_accept_rate"],
        "false_reject_rate": r["false_reject_rate"],
        "liveness": r["liveness"],
        "holds": holds(roi, r["false_accept_rate"]),
        "supply": {
            "unit": "micro-token",
            "initial": initial_supply,
            "emitted": emitted,
            "burned": burned,
            "final": final,
            "conserved": final == initial_supply + emitted - burned,
        },
        "supply_tokens": {
            "initial": to_tokens(initial_supply),
            "emitted": to_tokens(emitted),
            "burned": to_tokens(burned),
            "final": to_tokens(final),
        },
        "best_score": {
            "start": t0_score,
            "end": end_score,
            "true_start": t0_true,
            "true_end": end_true,
        },
        "improvement_per_1k_tokens_emitted": (end_true - t0_true)
        / (to_tokens(emitted) / 1000)
        if emitted
        else None,
        "slashed_tokens": {
            c: to_tokens(int(v)) for c, v in zip(SLASH_CAUSES, slashed, strict=True)
        },
        "counts": counts,
        "stake": {
            "gini_start": float(gini(initial.bonded)),
            "gini_end": float(gini(state.bonded)),
            "nakamoto_start": int(nakamoto(initial.bonded)),
            "nakamoto_end": int(nakamoto(state.bonded)),
        },
        "compute": {
            "validator_evaluations": evals,
            "proposer_trainings": trainings,
            "validator_per_proposer": evals / trainings if trainings else None,
        },
    }
