"""Agents: the population, how each type proposes and how each type votes.

Types (``AGENT_TYPES``) and what they do:

* ``honest``: trains one morph child of the task's best, proposes it only if
  its own public-fold score clears the bar, claims that score; validates by
  evaluating.
* ``lazy``: proposes like honest; as a validator never evaluates. With
  commit-reveal it can only trust the claim (accept with the claimed score);
  without it, it copies the other revealed votes of its committee.
* ``liar``: claims ``min(max(own score, bar) + lie_margin, 1)`` for a morph
  child; validates honestly.
* ``sybil``: one entity split over ``sybil_split`` identities; proposes like
  a liar, and its identities accept the entity's own proposals (with the
  claimed score); may equivocate.
* ``ring``: a colluding ring; proposes like a liar, members accept members'
  proposals; may equivocate.
* ``overfitter``: evaluates ``overfit_tries`` variants of a child that barely
  differ in truth on the public folds and claims the best-looking one
  (selection on the public folds' noise).
* ``random``: proposes a random architecture every time, claims its score.

Under the paired rule an evaluating validator scores the candidate and the
task's incumbent on the same chain-drawn blocks
(:func:`surrogate_paired_scores`) and reveals the gain; validators that do
not evaluate (lazy, accomplices) echo the claim's gain over the certified
best.

Every vote's private randomness (offline, equivocation) and every surrogate
evaluation is keyed by (slot, validator), so the seats a validator holds in
one committee cast one identical vote.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from nasjax.protocol.config import ATTACKER_FIELDS, ProtocolConfig
from nasjax.protocol.tokens import to_units
from nasjax.protocol.types import (
    AGENT_TYPES,
    HONEST,
    LAZY,
    LIAR,
    OVERFITTER,
    RANDOM,
    RING,
    SYBIL,
    Params,
    Pending,
    ProposalBatch,
    State,
)


def make_population(cfg: ProtocolConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agent types, entities and endowments of ``cfg.n_nodes`` identities.

    Each attacker type gets ``max(1, round(share * N))`` identities (Sybils:
    whole entities of ``sybil_split`` identities) and exactly
    ``floor(share * total)`` units of the total endowment; honest nodes get
    the rest. Individual endowments are log-normal (``stake_sigma``); a
    Sybil entity's endowment is split evenly over its identities.

    Returns:
        ``(types int32[N], entity int32[N], endowment int64[N])``, types in
        contiguous blocks (honest first).

    Raises:
        ValueError: If the attackers leave no identity for honest nodes.
    """
    a, n = cfg.agents, cfg.n_nodes
    rng = np.random.default_rng([cfg.seed, 0x5EED])
    counts: dict[int, int] = {}
    for name in ATTACKER_FIELDS:
        share = getattr(a, name)
        if share <= 0:
            continue
        code = AGENT_TYPES.index(name)
        if code == SYBIL:
            counts[code] = max(1, round(share * n / a.sybil_split)) * a.sybil_split
        else:
            counts[code] = max(1, round(share * n))
    n_honest = n - sum(counts.values())
    if n_honest < 1:
        raise ValueError(
            f"n_nodes={n} leaves no honest identity after the attackers "
            f"({sum(counts.values())} identities); raise n_nodes"
        )
    types = np.concatenate(
        [np.full(n_honest, HONEST)] + [np.full(c, t) for t, c in counts.items()]
    ).astype(np.int32)
    entity = np.arange(n, dtype=np.int32)
    weights = rng.lognormal(0.0, a.stake_sigma, n)
    sybil = np.flatnonzero(types == SYBIL)
    for start in range(0, len(sybil), a.sybil_split):
        group = sybil[start : start + a.sybil_split]
        entity[group] = group[0]
        weights[group] = weights[group[0]] / len(group)
    total = to_units(cfg.economics.endowment) * n
    endowment = np.zeros(n, np.int64)
    budgets = {t: int(getattr(a, AGENT_TYPES[t]) * total) for t in counts}
    budgets[HONEST] = total - sum(budgets.values())
    for t, budget in budgets.items():
        idx = np.flatnonzero(types == t)
        endowment[idx] = _allocate(budget, weights[idx])
    return types, entity, endowment


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` exactly."""
    raw = weights / weights.sum() * total
    out = np.floor(raw).astype(np.int64)
    rest = total - int(out.sum())
    order = np.argsort(-(raw - out), kind="stable")
    out[order[:rest]] += 1
    return out


def surrogate_proposals(
    params: Params, key: jax.Array, state: State, proposer: jax.Array, ok: jax.Array
) -> ProposalBatch:
    """Proposals of the drawn proposers under the surrogate evaluator.

    Args:
        params: Core parameters.
        key: The proposers' private randomness.
        state: State at the start of the block.
        proposer: ``int32[P]`` drawn proposer per slot.
        ok: ``bool[P]`` the slot's draw is usable.

    Returns:
        The block's :class:`ProposalBatch`.
    """
    n_slots, tries = proposer.shape[0], params.overfit_tries
    k_task, k_gain, k_tune, k_fold, k_train, k_rand = jax.random.split(key, 6)
    task = jax.random.randint(k_task, (n_slots,), 0, state.best_score.shape[0])
    best_true = state.best_true[task]
    bar = state.best_score[task] + params.min_improvement
    headroom = jnp.maximum(params.ceiling - best_true, 0.0)
    z = jax.random.normal(k_gain, (n_slots,), jnp.float64)
    child = best_true + headroom * (params.gain_mean + params.gain_std * z)
    tune = params.tune_std * jax.random.normal(k_tune, (n_slots, tries), jnp.float64)
    variants = child[:, None] + tune.at[:, 0].set(0.0)
    fold = params.fold_noise * jax.random.normal(k_fold, (n_slots, tries), jnp.float64)
    train = params.train_noise * jax.random.normal(
        k_train, (n_slots, tries), jnp.float64
    )
    public = variants + fold + train  # [P, tries] scores on the public folds
    pick = jnp.argmax(public, axis=1)
    rows = jnp.arange(n_slots)
    rand_q = params.random_mean + params.random_std * jax.random.normal(
        k_rand, (n_slots,), jnp.float64
    )
    t = state.types[proposer]
    liar_like = (t == LIAR) | (t == RING) | (t == SYBIL)
    quality = jnp.where(
        t == RANDOM, rand_q, jnp.where(t == OVERFITTER, variants[rows, pick], child)
    )
    public_error = jnp.where(t == OVERFITTER, fold[rows, pick], fold[:, 0])
    own = (
        quality
        + public_error
        + jnp.where(t == OVERFITTER, train[rows, pick], train[:, 0])
    )
    lie = jnp.minimum(jnp.maximum(own, bar) + params.lie_margin, 1.0)
    claimed = jnp.where(liar_like, lie, own)
    careful = (t == HONEST) | (t == LAZY) | (t == OVERFITTER)
    valid = ok & jnp.where(careful, own >= bar, True)
    n_trained = jnp.where(ok, jnp.where(t == OVERFITTER, tries, 1), 0)
    return ProposalBatch(
        valid=valid,
        proposer=proposer,
        task=task.astype(jnp.int32),
        claimed=claimed,
        quality=quality,
        public_error=public_error,
        n_trained=n_trained.astype(jnp.int32),
    )


def seat_keys(key: jax.Array, seats: jax.Array) -> jax.Array:
    """``[P, C]`` keys per (slot, validator): repeated seats share a key."""
    slot_keys = jax.random.split(key, seats.shape[0])
    return jax.vmap(lambda k, s: jax.vmap(lambda v: jax.random.fold_in(k, v))(s))(
        slot_keys, seats
    )


def first_seat(seats: jax.Array) -> jax.Array:
    """``bool[P, C]`` the seat is its validator's first in the committee."""
    same = seats[:, :, None] == seats[:, None, :]
    earlier = jnp.tril(jnp.ones(same.shape[1:], bool), k=-1)
    return ~jnp.any(same & earlier, axis=2)


def accomplices(state: State, proposer: jax.Array, seats: jax.Array) -> jax.Array:
    """``bool[P, C]`` seats that accept the slot's proposal unconditionally."""
    tv, tp = state.types[seats], state.types[proposer][:, None]
    same_entity = state.entity[seats] == state.entity[proposer][:, None]
    return ((tv == RING) & (tp == RING)) | ((tv == SYBIL) & same_entity)


def evaluators(state: State, pending: Pending, seats: jax.Array) -> jax.Array:
    """``bool[P, C]`` seats whose validator runs an evaluation.

    Lazy validators never evaluate; ring and Sybil validators skip their own
    group's proposals. The real-evaluator driver trains exactly these.
    """
    lazy = state.types[seats] == LAZY
    skip = accomplices(state, pending.proposer, seats)
    return pending.valid[:, None] & ~lazy & ~skip


def masked_median(x: jax.Array, mask: jax.Array) -> jax.Array:
    """``f64[P]`` lower median of ``x[P, C]`` over the mask (NaN when empty)."""
    s = jnp.sort(jnp.where(mask, x, jnp.inf), axis=1)
    n = jnp.sum(mask, axis=1)
    idx = jnp.maximum((n - 1) // 2, 0)
    med = jnp.take_along_axis(s, idx[:, None], axis=1)[:, 0]
    return jnp.where(n > 0, med, jnp.nan)


def cast_votes(
    params: Params,
    key: jax.Array,
    state: State,
    pending: Pending,
    seats: jax.Array,
    scores: jax.Array,
    incumbent: jax.Array | None = None,
) -> Pending:
    """Committees evaluate (or not) and commit their votes.

    Under the paired rule a seat that evaluates reveals its paired gain
    ``scores - incumbent`` and votes accept when that gain clears the test
    margin and ``best + gain`` confirms the claim; seats that do not
    evaluate (lazy, accomplices) can only echo the claim (gain ``claimed -
    best``) or, without commit-reveal, copy the evaluators' medians.

    Args:
        params: Core parameters.
        key: The validators' private randomness (offline, equivocation).
        state: State at the start of the block (types, registry).
        pending: The proposals revealed this block.
        seats: ``int32[P, C]`` their committees.
        scores: ``f64[P, C]`` evaluation results where a seat evaluates.
        incumbent: ``f64[P, C]`` the same seats' scores of the task's
            incumbent on the same blocks (None: the certified best).

    Returns:
        ``pending`` with committees, votes and the registry at vote time.
    """
    evaluates = evaluators(state, pending, seats)
    friendly = accomplices(state, pending.proposer, seats)
    best = state.best_score[pending.task]
    bar = (best + params.min_improvement)[:, None]
    claimed = pending.claimed[:, None]
    if incumbent is None:
        incumbent = jnp.broadcast_to(best[:, None], scores.shape)
    own_gain = scores - incumbent
    claim_ok = best[:, None] + own_gain >= claimed - params.claim_tolerance
    paired_accept = (own_gain > params.test_gain) & (claim_ok | params.keep_overclaimed)
    plain_accept = (scores >= bar) & (scores >= claimed - params.claim_tolerance)
    honest_accept = jnp.where(params.paired_rule, paired_accept, plain_accept)
    # A lazy validator without commit-reveal copies the revealed evaluators.
    n_eval = jnp.sum(evaluates, axis=1)
    n_yes = jnp.sum(evaluates & honest_accept, axis=1)
    seats_c = seats.shape[1]
    copy_accept = (n_eval > 0) & (n_yes * seats_c >= params.quorum_seats * n_eval)
    copy_score = masked_median(scores, evaluates)
    lazy_accept = jnp.where(params.commit_reveal, claimed >= bar, copy_accept[:, None])
    lazy_score = jnp.where(params.commit_reveal, claimed, copy_score[:, None])
    score = jnp.where(
        evaluates, scores, jnp.where(friendly, claimed, lazy_score)
    ).astype(jnp.float64)
    echo = claimed - best[:, None]
    copy_gain = masked_median(own_gain, evaluates)[:, None]
    copy_inc = masked_median(incumbent, evaluates)[:, None]
    lazy_gain = jnp.where(params.commit_reveal, echo, copy_gain)
    lazy_inc = jnp.where(params.commit_reveal, best[:, None], copy_inc)
    gain = jnp.where(evaluates, own_gain, jnp.where(friendly, echo, lazy_gain))
    inc = jnp.where(evaluates, incumbent, jnp.where(friendly, best[:, None], lazy_inc))
    accept = jnp.where(evaluates, honest_accept, friendly | lazy_accept)
    keys = seat_keys(key, seats)
    u = jax.vmap(jax.vmap(lambda k: jax.random.uniform(k, (2,), jnp.float64)))(keys)
    tv = state.types[seats]
    may_equivocate = (tv == RING) | (tv == SYBIL)
    valid = pending.valid[:, None]
    return pending.replace(
        best_at_vote=best,
        best_true_at_vote=state.best_true[pending.task],
        seats=seats,
        score=jnp.where(valid, score, jnp.nan),
        accept=valid & accept,
        revealed=valid & (u[..., 0] >= params.offline_prob),
        equivocated=valid & may_equivocate & (u[..., 1] < params.equivocate_prob),
        evaluated=evaluates,
        gain=jnp.where(valid, gain, jnp.nan).astype(jnp.float64),
        incumbent=jnp.where(valid, inc, jnp.nan).astype(jnp.float64),
        incumbent_id=state.best_id[pending.task],
    )


def surrogate_scores(
    params: Params, key: jax.Array, pending: Pending, seats: jax.Array
) -> jax.Array:
    """The surrogate evaluator: ``f64[P, C]`` scores of fresh evaluations.

    ``score = quality + fold error + training noise``. With ``fresh_folds``
    each (slot, validator) draws its own fold error (chain-drawn folds);
    without, validators see the proposer's public-fold error.
    """
    keys = seat_keys(key, seats)
    z = jax.vmap(jax.vmap(lambda k: jax.random.normal(k, (2,), jnp.float64)))(keys)
    fold = jnp.where(
        params.fresh_folds, params.fold_noise * z[..., 0], pending.public_error[:, None]
    )
    return pending.quality[:, None] + fold + params.train_noise * z[..., 1]


def paired_block_scores(
    params: Params, key: jax.Array, candidate: ArrayLike, incumbent: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    """One seat's scores of the candidate and the incumbent per block.

    Each of the ``eval_blocks`` chain-drawn blocks has an error of std
    ``fold_noise * sqrt(eval_blocks)`` per model (so their mean has the
    std of one whole fold set, as in :func:`surrogate_scores`), of which the
    share ``block_share`` of the variance is the block's own and hits both
    models identically; the training noise of the two runs (one each,
    shared by all blocks) has correlation ``train_share``.

    Args:
        params: Core parameters.
        key: The seat's key (one per (slot, validator)).
        candidate: ``f64[]`` true quality of the candidate.
        incumbent: ``f64[]`` true quality of the incumbent.

    Returns:
        ``(candidate f64[K], incumbent f64[K])`` scores per block.
    """
    k = params.eval_blocks
    k_fold, k_train = jax.random.split(key)
    z = jax.random.normal(k_fold, (3, k), jnp.float64)
    w = jax.random.normal(k_train, (3,), jnp.float64)
    rho, kappa = params.block_share, params.train_share
    scale = params.fold_noise * jnp.sqrt(jnp.asarray(k, jnp.float64))
    shared = jnp.sqrt(rho) * z[0]
    own = jnp.sqrt(1.0 - rho)
    common = jnp.sqrt(kappa) * w[0]
    solo = jnp.sqrt(1.0 - kappa)
    cand = jnp.asarray(candidate) + scale * (shared + own * z[1])
    inc = jnp.asarray(incumbent) + scale * (shared + own * z[2])
    cand = cand + params.train_noise * (common + solo * w[1])
    inc = inc + params.train_noise * (common + solo * w[2])
    return cand, inc


def surrogate_paired_scores(
    params: Params,
    key: jax.Array,
    pending: Pending,
    seats: jax.Array,
    incumbent_true: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """The paired surrogate evaluator: each seat scores both models.

    Keyed by (slot, validator) like :func:`surrogate_scores`, so a
    validator's repeated seats reveal identical scores. Without
    ``fresh_folds`` the candidate's fold error is the proposer's public one
    (the incumbent gets an independent one: nothing is shared).

    Args:
        params: Core parameters.
        key: The validators' evaluation randomness.
        pending: The proposals revealed this block.
        seats: ``int32[P, C]`` their committees.
        incumbent_true: ``f64[P]`` true quality of each slot's incumbent.

    Returns:
        ``(candidate f64[P, C], incumbent f64[P, C])`` means over the seat's
        evaluation blocks.
    """
    keys = seat_keys(key, seats)
    q_c = jnp.broadcast_to(pending.quality[:, None], seats.shape)
    q_i = jnp.broadcast_to(incumbent_true[:, None], seats.shape)
    blocks = jax.vmap(jax.vmap(lambda k, c, i: paired_block_scores(params, k, c, i)))
    cand, inc = blocks(keys, q_c, q_i)
    cand, inc = cand.mean(axis=-1), inc.mean(axis=-1)
    z = jax.vmap(jax.vmap(lambda k: jax.random.normal(k, (2,), jnp.float64)))(
        jax.vmap(jax.vmap(lambda k: jax.random.fold_in(k, 0x0F01D)))(keys)
    )
    stale_c = pending.quality[:, None] + pending.public_error[:, None]
    stale_c = stale_c + params.train_noise * z[..., 0]
    stale_i = incumbent_true[:, None] + params.fold_noise * z[..., 1]
    cand = jnp.where(params.fresh_folds, cand, stale_c)
    inc = jnp.where(params.fresh_folds, inc, stale_i)
    return cand, inc
