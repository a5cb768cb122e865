"""Parameter sweeps: where the protocol holds and where it breaks.

A sweep crosses attacker stake share x committee size x slashing fraction x
evaluator noise (cadCAD-style Cartesian product, several Monte Carlo seeds
per point). Points that share a committee size share one compiled program:
they are stacked and run by :func:`nasjax.protocol.step.simulate_batch`
(``vmap`` over ``lax.scan``). A point *holds* when every attacker type's ROI
is below the honest ROI and the false-accept rate is below 1%.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from nasjax.protocol.config import (
    ATTACKER_FIELDS,
    AgentConfig,
    LedgerConfig,
    ProtocolConfig,
)
from nasjax.protocol.metrics import roi_array
from nasjax.protocol.state import init_state, make_params
from nasjax.protocol.step import simulate_batch
from nasjax.protocol.types import AGENT_TYPES, HONEST
from nasjax.protocol.x64 import x64_mode

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The grid of a sweep.

    Attributes:
        attacker: Attacker type whose stake share is swept (one of the
            ``AgentConfig`` share fields), or ``"mixed"`` for an equal split
            over all six attacker types.
        shares: Attacker stake shares.
        committee_sizes: Committee sizes (one compile each).
        slash_fractions: Over-claim slashing fractions of the deposit.
        noises: Multipliers of the surrogate's fold and training noise.
        seeds: Monte Carlo runs per point (results are averaged).
        n_nodes: Identities per simulation.
        n_blocks: Blocks per simulation.
    """

    attacker: str = "ring"
    shares: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    committee_sizes: tuple[int, ...] = (4, 8, 16)
    slash_fractions: tuple[float, ...] = (0.1, 0.5, 1.0)
    noises: tuple[float, ...] = (1.0, 3.0)
    seeds: int = 2
    n_nodes: int = 100
    n_blocks: int = 300

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        if self.attacker not in (*ATTACKER_FIELDS, "mixed"):
            raise ValueError(f"attacker must be one of {(*ATTACKER_FIELDS, 'mixed')}")
        if self.seeds < 1 or self.n_blocks < 1:
            raise ValueError("seeds and n_blocks must be >= 1")


def _agents(base: AgentConfig, attacker: str, share: float) -> AgentConfig:
    names = ATTACKER_FIELDS if attacker == "mixed" else (attacker,)
    shares = {n: 0.0 for n in ATTACKER_FIELDS}
    for n in names:
        shares[n] = share / len(names)
    return dataclasses.replace(base, **shares)


def point_config(
    cfg: ProtocolConfig,
    sweep: SweepConfig,
    share: float,
    size: int,
    slash: float,
    noise: float,
    seed: int,
) -> ProtocolConfig:
    """The full configuration of one sweep point (no ledger, no plots)."""
    return dataclasses.replace(
        cfg,
        seed=seed,
        n_nodes=sweep.n_nodes,
        n_blocks=sweep.n_blocks,
        agents=_agents(cfg.agents, sweep.attacker, share),
        consensus=dataclasses.replace(cfg.consensus, committee_size=size),
        economics=dataclasses.replace(cfg.economics, overclaim_slash=slash),
        surrogate=dataclasses.replace(
            cfg.surrogate,
            fold_noise=cfg.surrogate.fold_noise * noise,
            train_noise=cfg.surrogate.train_noise * noise,
        ),
        ledger=LedgerConfig(mode="none"),
        plots=False,
    )


def _stack(trees: list[T]) -> T:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def sweep(
    cfg: ProtocolConfig, grid: SweepConfig, out_dir: str | Path | None = None
) -> pl.DataFrame:
    """Run a sweep; optionally write ``sweep.parquet`` and ``phase.png``.

    Args:
        cfg: Base configuration (agents, economics, ... of every point).
        grid: The grid.
        out_dir: Output folder (None: write nothing).

    Returns:
        One row per point: the grid values, ``honest_roi``, ``attacker_roi``
        (the best attacker type's), ``false_accept_rate``,
        ``false_reject_rate``, ``liveness`` and ``holds``.
    """
    rows = []
    t0 = time.perf_counter()
    for size in grid.committee_sizes:
        points = list(itertools.product(grid.shares, grid.slash_fractions, grid.noises))
        cfgs = [
            point_config(cfg, grid, share, size, slash, noise, cfg.seed + s)
            for share, slash, noise in points
            for s in range(grid.seeds)
        ]
        with x64_mode():
            params = _stack([make_params(c) for c in cfgs])
            states = _stack([init_state(c) for c in cfgs])
            keys = jax.random.split(jax.random.key(cfg.seed), len(cfgs))
            final, out = simulate_batch(params, states, keys, grid.n_blocks)
            roi = np.asarray(jax.vmap(roi_array)(final))
        m = {k: np.asarray(v) for k, v in out.metrics._asdict().items()}
        bad = m["bad"].sum(axis=1)
        bad_acc = m["bad_accepted"].sum(axis=1)
        good = m["good"].sum(axis=1)
        good_rej = m["good_rejected"].sum(axis=1)
        decided = m["accepted"].sum(axis=1) + m["rejected"].sum(axis=1)
        finalized = decided + m["expired"].sum(axis=1)
        for p, (share, slash, noise) in enumerate(points):
            idx = slice(p * grid.seeds, (p + 1) * grid.seeds)
            r = np.mean(roi[idx], axis=0)  # absent types stay NaN
            attackers = [
                r[t]
                for t in range(len(AGENT_TYPES))
                if t != HONEST and np.isfinite(r[t])
            ]
            fa = float(bad_acc[idx].sum() / bad[idx].sum()) if bad[idx].sum() else 0.0
            fr = (
                float(good_rej[idx].sum() / good[idx].sum())
                if good[idx].sum()
                else None
            )
            live = float(decided[idx].sum() / max(finalized[idx].sum(), 1))
            worst = max(attackers) if attackers else float("nan")
            rows.append(
                {
                    "attacker": grid.attacker,
                    "attacker_share": float(share),
                    "committee_size": int(size),
                    "slash_fraction": float(slash),
                    "noise": float(noise),
                    "honest_roi": float(r[HONEST]),
                    "attacker_roi": float(worst),
                    "false_accept_rate": fa,
                    "false_reject_rate": fr,
                    "liveness": live,
                    "holds": bool(worst < r[HONEST] and fa < 0.01),
                    **{
                        f"roi_{AGENT_TYPES[t]}": float(r[t])
                        for t in range(len(AGENT_TYPES))
                    },
                }
            )
    frame = pl.DataFrame(rows)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out / "sweep.parquet")
        from nasjax.protocol.plots import plot_phase

        plot_phase(frame, out / "phase.png", grid.attacker)
        info = {
            "grid": dataclasses.asdict(grid),
            "points": frame.height,
            "holds": int(frame["holds"].sum()),
            "seconds": time.perf_counter() - t0,
        }
        (out / "sweep.json").write_text(json.dumps(info, indent=2))
    return frame
