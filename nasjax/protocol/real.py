"""The real evaluator: proposals are nasjax architectures, trained for real.

Every block, one ``train_population`` call trains, from scratch and with a
key drawn from the block's beacon:

* each (revealed proposal, validator) pair whose validator evaluates, and
* each candidate the block's proposers consider (an overfitter several),

on one stacked set of folds: the ``K`` public walk-forward folds (what
proposers tune and claim on), the same ``K`` folds with each validation block
subsampled by the chain's randomness (``chain_val_fraction``; what
validators score on, unknown to a proposer when it commits), and an oracle
fold that trains on the last fold's training block and scores on the held-out
test period (the ground truth behind the false-accept / false-reject rates;
no agent sees it). Every member trains on every fold (one compile for the
whole run); each reads only the folds of its role.

One evaluation = ``train_steps`` optimiser steps with a single validation
pass at the end (no early stopping, so no fold is used for selection).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.data import FeatureConfig, FoldedData, load_data
from nasjax.graph import Arch, ArchSpec, chain, random_arch, stack
from nasjax.morph import MORPHS, morph_chain
from nasjax.nn import init as init_params
from nasjax.protocol.config import ProtocolConfig
from nasjax.protocol.sortition import beacon_key
from nasjax.protocol.types import (
    HONEST,
    LAZY,
    LIAR,
    OVERFITTER,
    RANDOM,
    RING,
    SYBIL,
    ProposalBatch,
)
from nasjax.train import TrainConfig
from nasjax.train.data import TrainData, make_train_data
from nasjax.train.plan import TrainPlan, VmappedSwitch
from nasjax.train.population import train_population

FEATURES = FeatureConfig(
    return_lags=(1, 3),
    vol_windows=(6,),
    volume_window=0,
    market_return=False,
    calendar=False,
    reference_symbol=None,
    cross_asset_returns=False,
)
"""A small causal feature set that keeps evaluations cheap."""


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One architecture a proposer may submit.

    Attributes:
        arch: The architecture.
        fingerprint: Its canonical hash.
        morphs: Morph names applied to the parent (``("random",)`` for a
            random architecture).
    """

    arch: Arch
    fingerprint: str
    morphs: tuple[str, ...]

    def descriptor(self) -> dict[str, Any]:
        """The ledger's description of the candidate."""
        return {
            "kind": "arch",
            "fingerprint": self.fingerprint,
            "morphs": list(self.morphs),
            "arch": self.arch.to_json(),
        }


@dataclasses.dataclass
class RealEvaluator:
    """Data, folds and training setup of the real evaluator (host-side).

    Build it with :func:`make_real_evaluator`.
    """

    cfg: ProtocolConfig
    spec: ArchSpec
    dataset: Any
    folds: Any
    norm: Any
    public: TrainData
    oracle: TrainData
    train_cfg: TrainConfig
    n_folds: int
    population: int
    seconds: float = 0.0
    evaluations: int = 0

    def genesis(self) -> Candidate:
        """The genesis model: one hidden node of the first op."""
        arch = chain(self.spec, [self.spec.ops[0]], [self.spec.max_width // 2])
        return Candidate(arch, arch.fingerprint(), ())

    def stacked_folds(self, beacon: np.ndarray) -> TrainData:
        """Public, chain-drawn and oracle folds stacked (``2K + 1`` folds)."""
        p = self.public
        rng = np.random.default_rng(np.asarray(beacon, np.uint32).tolist())
        keep = rng.random(np.shape(p.val_mask)) < self.cfg.real.chain_val_fraction
        chain_mask = np.asarray(p.val_mask) & keep
        o = self.oracle
        width = max(p.val.shape[1], o.val.shape[1])
        t_width = max(p.train.shape[1], o.train.shape[1])

        def pad(x: Any, w: int, fill: Any = 0) -> np.ndarray:
            x = np.asarray(x)
            out = np.full((x.shape[0], w), fill, x.dtype)
            out[:, : x.shape[1]] = x
            return out

        val = np.concatenate([pad(p.val, width), pad(p.val, width), pad(o.val, width)])
        mask = np.concatenate(
            [
                pad(p.val_mask, width, False),
                pad(chain_mask, width, False),
                pad(o.val_mask, width, False),
            ]
        )
        train = np.concatenate(
            [pad(p.train, t_width), pad(p.train, t_width), pad(o.train, t_width)]
        )
        return p._replace(
            train=jnp.asarray(train),
            n_train=jnp.concatenate([p.n_train, p.n_train, o.n_train]),
            val=jnp.asarray(val),
            val_mask=jnp.asarray(mask),
            mean=jnp.concatenate([p.mean, p.mean, o.mean]),
            std=jnp.concatenate([p.std, p.std, o.std]),
        )

    def evaluate(
        self, beacon: np.ndarray, archs: list[Arch]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Train ``archs`` once on every fold.

        Returns:
            ``(public, chain, oracle)`` accuracies, ``f64[len(archs)]`` each
            (NaN for a member whose training failed).
        """
        n = len(archs)
        if n == 0:
            empty = np.zeros(0)
            return empty, empty, empty
        padded = archs + [archs[0]] * (self.population - n)
        key = jax.random.fold_in(beacon_key(jnp.asarray(beacon, jnp.uint32)), 0x7EA1)
        t0 = time.perf_counter()
        res = train_population(
            key,
            stack(padded),
            None,
            self.stacked_folds(beacon),
            self.train_cfg,
            plan=TrainPlan(strategy=VmappedSwitch(), shard=False),
        )
        acc = np.asarray(res.metrics["best_val_accuracy"], np.float64)[:n]
        failed = np.asarray(res.failed)[:n]
        acc[failed] = np.nan
        self.seconds += time.perf_counter() - t0
        self.evaluations += n
        k = self.n_folds
        public = acc[:, :k].mean(axis=1)
        chain_ = acc[:, k : 2 * k].mean(axis=1)
        return public, chain_, acc[:, 2 * k]


def make_real_evaluator(cfg: ProtocolConfig) -> RealEvaluator:
    """Load the data and fix the folds and training setup of ``cfg.real``."""
    r, c = cfg.real, cfg.consensus
    data = load_data(r.data, FEATURES, cfg.seed)
    dataset, folds, norm = data
    train_cfg = r.train
    public = make_train_data(
        data,
        eval_batch_size=train_cfg.eval_batch_size,
        max_eval_samples=train_cfg.max_eval_samples,
    )
    spec = r.search_space.spec(
        int(dataset.features.shape[-1]), int(dataset.meta.window), n_classes=2
    )
    per_block = c.proposals_per_block * (c.committee_size + cfg.agents.overfit_tries)
    return RealEvaluator(
        cfg=cfg,
        spec=spec,
        dataset=dataset,
        folds=folds,
        norm=norm,
        public=public,
        oracle=_oracle_data(data, train_cfg),
        train_cfg=train_cfg,
        n_folds=int(public.train.shape[0]),
        population=per_block,
    )


def _oracle_data(data: FoldedData, cfg: TrainConfig) -> TrainData:
    """Train on the last fold's training block, score on the test period."""
    dataset, folds, norm = data
    last = int(np.asarray(folds.train).shape[0]) - 1
    test_folds = folds._replace(
        val=np.asarray(folds.test)[None],
        val_mask=np.asarray(folds.test_mask)[None],
        train=np.asarray(folds.train)[last : last + 1],
        train_mask=np.asarray(folds.train_mask)[last : last + 1],
    )
    stats = norm._replace(
        mean=np.asarray(norm.mean)[last : last + 1],
        std=np.asarray(norm.std)[last : last + 1],
    )
    return make_train_data(
        FoldedData(dataset, test_folds, stats),
        eval_batch_size=cfg.eval_batch_size,
        max_eval_samples=cfg.max_eval_samples,
    )


_init_params = jax.jit(init_params)
_random_arch = jax.jit(random_arch, static_argnums=1)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _morph(
    key: jax.Array, arch: Arch, params: Any, length: int, names: tuple[str, ...]
):
    return morph_chain(key, arch, params, length, names)


def candidates(
    ev: RealEvaluator,
    key: jax.Array,
    parent: Arch,
    agent: int,
    seen: set[str],
    attempts: int = 8,
) -> list[Candidate]:
    """The candidates one proposer of type ``agent`` trains this block.

    Morph children of ``parent`` (``overfit_tries`` of them for an
    overfitter), or one random architecture for a random proposer. A draw
    identical to an architecture already on the chain (or to the parent, when
    no morph applied) is redrawn, up to ``attempts`` times per candidate.
    """
    names = tuple(ev.cfg.real.morphs)
    unknown = [n for n in names if n not in MORPHS]
    if unknown:
        raise ValueError(f"unknown morphs {unknown}; known: {sorted(MORPHS)}")
    wanted = ev.cfg.agents.overfit_tries if agent == OVERFITTER else 1
    params = _init_params(jax.random.fold_in(key, 1), parent)
    length = ev.cfg.real.morph_length
    taken = set(seen)
    out: list[Candidate] = []
    for i in range(wanted * attempts):
        if len(out) == wanted:
            break
        k = jax.random.fold_in(key, 2 + i)
        if agent == RANDOM:
            arch, used = _random_arch(k, ev.spec), ("random",)
        else:
            arch, _, ids, applied = _morph(k, parent, params, length, names)
            used = tuple(
                names[m]
                for m, a in zip(np.asarray(ids), np.asarray(applied), strict=True)
                if a
            )
        fingerprint = arch.fingerprint()
        if fingerprint not in taken:
            taken.add(fingerprint)
            out.append(Candidate(arch, fingerprint, used))
    return out


def proposal_batch(
    agents: np.ndarray,
    proposer: np.ndarray,
    ok: np.ndarray,
    options: list[list[Candidate]],
    public: list[np.ndarray],
    oracle: list[np.ndarray],
    bar: float,
    lie_margin: float,
) -> tuple[ProposalBatch, list[Candidate | None]]:
    """The block's proposals from the proposers' trained candidates.

    Mirrors :func:`nasjax.protocol.agents.surrogate_proposals`: honest, lazy
    and overfitter proposers submit only if their (best) public score clears
    the bar; liars, rings and Sybils claim ``min(max(score, bar) +
    lie_margin, 1)``; random proposers always submit their score.

    Returns:
        ``(batch, chosen candidate per slot)``.
    """
    n = len(proposer)
    valid = np.zeros(n, bool)
    claimed = np.zeros(n)
    quality = np.zeros(n)
    own_scores = np.zeros(n)
    n_trained = np.zeros(n, np.int32)
    chosen: list[Candidate | None] = [None] * n
    for j in range(n):
        if not ok[j] or not options[j]:
            continue
        t = int(agents[proposer[j]])
        scores = np.nan_to_num(public[j], nan=-np.inf)
        pick = int(np.argmax(scores))
        own = float(scores[pick])
        n_trained[j] = len(options[j])
        if not np.isfinite(own):
            continue
        chosen[j] = options[j][pick]
        quality[j] = float(oracle[j][pick])
        own_scores[j] = own
        if t in (LIAR, RING, SYBIL):
            claimed[j], valid[j] = min(max(own, bar) + lie_margin, 1.0), True
        elif t in (HONEST, LAZY, OVERFITTER):
            claimed[j], valid[j] = own, own >= bar
        else:
            claimed[j], valid[j] = own, True
    batch = ProposalBatch(
        valid=valid,
        proposer=np.asarray(proposer, np.int32),
        task=np.zeros(n, np.int32),
        claimed=claimed,
        quality=quality,
        public_error=own_scores - quality,
        n_trained=n_trained,
    )
    return batch, [c if valid[j] else None for j, c in enumerate(chosen)]
