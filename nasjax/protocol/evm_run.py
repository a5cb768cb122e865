"""Drive the JAX state transition and the EVM market with the same blocks.

``run_on_chain(cfg)`` runs the surrogate simulation block by block
(:func:`nasjax.protocol.step.jit_step`) and settles every block on the
embedded EVM (:class:`nasjax.protocol.evm.MarketChain`): the committees the
JAX sortition drew are posted by the producer, every vote is committed and
revealed (or proven equivocated with two signed votes) by its validator,
every proposal is committed and revealed by its proposer, the producer
finalizes, and the nodes restake / unbond by the agents' rule applied to
their on-chain balances. After every block the contract must equal the JAX
state: every node's liquid, bonded, unbonding and escrowed units, the
supply, each task's best score and the set of accepted proposals
(:func:`compare`). This is the deterministic differential test of the two
engines.

The contract keeps scores as integers in units of ``2**-20``, so on this
path the surrogate's claims and evaluations are rounded to that grid before
the JAX step sees them (``BlockInputs.proposals`` / ``scores``); both
engines then decide on identical numbers. The run therefore differs slightly
from ``chain=sim`` with the same seed.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.agents import surrogate_proposals
from nasjax.protocol.config import ProtocolConfig
from nasjax.protocol.economics import finalize
from nasjax.protocol.evm import (
    ChainError,
    MarketChain,
    quantize,
    require_same_holdings,
    salt,
    to_score_units,
)
from nasjax.protocol.state import escrow, init_state, make_params, supply
from nasjax.protocol.step import (
    block_keys,
    committees,
    jit_step,
    proposers,
    surrogate_evaluations,
)
from nasjax.protocol.tokens import PPM
from nasjax.protocol.types import BlockEvents, BlockInputs, Params, State
from nasjax.protocol.x64 import x64, x64_mode


@x64
@jax.jit
def _surrogate_inputs(params: Params, state: State, key: jax.Array):
    """The surrogate agents' proposals and the committees' raw scores (of
    the candidates and, paired rule, of the incumbents)."""
    keys = block_keys(key)
    seats = committees(params, state)
    after, _, _ = finalize(params, state)
    scores, incumbent = surrogate_evaluations(params, keys.evaluate, after, seats)
    who, ok = proposers(params, state, key)
    batch = surrogate_proposals(params, keys.propose, state, who, ok)
    return scores, incumbent, batch


def block_inputs(params: Params, state: State, key: jax.Array) -> BlockInputs:
    """One block's inputs with claims and scores on the contract's grid."""
    scores, incumbent, batch = _surrogate_inputs(params, state, key)
    batch = batch._replace(claimed=jnp.asarray(quantize(batch.claimed)))
    return BlockInputs(
        key,
        proposals=batch,
        scores=jnp.asarray(quantize(scores)),
        incumbent_scores=jnp.asarray(quantize(incumbent)),
    )


def _np(tree: Any) -> Any:
    return jax.tree.map(np.asarray, tree)


def _unique(seats: Any) -> list[tuple[int, int]]:
    """``(seat index, validator)`` of each validator's first seat."""
    seen: dict[int, int] = {}
    for i, v in enumerate(np.asarray(seats).tolist()):
        seen.setdefault(int(v), i)
    return [(i, v) for v, i in seen.items()]


def settle_block(chain: MarketChain, t: int, ev: BlockEvents) -> list[int]:
    """Send JAX block ``t``'s transactions to the contract (events as numpy).

    Returns:
        The proposal ids the contract accepted in this block.
    """
    voting, fin, com = ev.voting, ev.finalized, ev.committed
    open_slots = np.flatnonzero(voting.valid)
    pending = [int(x) for x in chain.contract.stages()[1]]
    if pending != [int(voting.pid[j]) for j in open_slots]:
        raise ChainError(
            f"block {t}: pending {pending} != JAX {voting.pid[open_slots]}"
        )
    chain.tx("begin_block", [[int(s) for s in voting.seats[j]] for j in open_slots])

    for j in np.flatnonzero(fin.valid):
        pid = int(fin.pid[j])
        for i, v in _unique(fin.seats[j]):
            accept, score = bool(fin.accept[j, i]), to_score_units(fin.score[j, i])
            incumbent = to_score_units(fin.incumbent[j, i])
            if fin.equivocated[j, i]:
                chain.equivocate(pid, v, accept, score, incumbent)
            elif fin.revealed[j, i]:
                args = (pid, accept, score, incumbent, salt(pid, v, t - 1), t - 1)
                chain.tx("reveal_vote", *args, sender=v)
    n_events = len(chain.events)
    chain.tx("finalize_block")
    accepted = [
        int(e["pid"])
        for e in chain.events[n_events:]
        if e["event"] == "Settled" and int(e["outcome"]) == 1
    ]

    for j in open_slots:
        pid, who = int(voting.pid[j]), int(voting.proposer[j])
        task, claimed = int(voting.task[j]), to_score_units(voting.claimed[j])
        chain.tx("reveal_proposal", pid, task, claimed, salt(pid, who), sender=who)
        for i, v in _unique(voting.seats[j]):
            accept, score = (
                bool(voting.accept[j, i]),
                to_score_units(voting.score[j, i]),
            )
            incumbent = to_score_units(voting.incumbent[j, i])
            digest = chain.vote_hash(
                pid, accept, score, incumbent, salt(pid, v, t), t, v
            )
            chain.tx("commit_vote", pid, digest, sender=v)

    for j in np.flatnonzero(com.valid):
        pid, who = int(com.pid[j]), int(com.proposer[j])
        task, claimed = int(com.task[j]), to_score_units(com.claimed[j])
        digest = chain.proposal_hash(task, claimed, salt(pid, who), who)
        got = chain.tx("commit_proposal", digest, sender=who)
        if int(got) != pid:
            raise ChainError(f"block {t}: contract pid {got} != JAX pid {pid}")
    chain.tx("end_block")
    return accepted


def churn_on_chain(
    chain: MarketChain, cfg: ProtocolConfig, state: State, t: int
) -> None:
    """The nodes' end-of-block staking by the agents' rule on chain balances.

    Auto-restake bonds every liquid unit above the reserve; a node the JAX
    block unbonded (``state`` after the block) unbonds ``unbond_fraction``
    of its bond.
    """
    e = cfg.economics
    reserve = round(e.liquid_reserve * 1_000_000)
    fraction = round(e.unbond_fraction * PPM)
    unbonding = np.asarray(state.unbonding)[:, t % e.unbonding_delay]
    c = chain.contract
    for i in range(len(chain.nodes)):
        if e.auto_restake:
            excess = int(c.holdings(i)[0]) - reserve
            if excess > 0:
                chain.tx("bond", excess, sender=i)
        if unbonding[i] > 0:
            bond = int(c.bonded(i))
            out = bond // PPM * fraction + (bond % PPM) * fraction // PPM
            chain.tx("unbond", out, sender=i)


def compare(chain: MarketChain, state: State, t: int) -> None:
    """Require the contract to hold exactly the JAX state's units and bests.

    Raises:
        ChainError: Naming the first difference.
    """
    with x64_mode():
        jax_supply = int(supply(state))
        jax_held = np.stack(
            [
                np.asarray(state.balance),
                np.asarray(state.bonded),
                np.asarray(state.unbonding).sum(axis=1),
                np.asarray(escrow(state)),
            ],
            axis=1,
        )
    require_same_holdings(chain.holdings(), jax_held, ("evm", "jax"), f"block {t}: ")
    sums = chain.check_supply()
    if sums["supply"] != jax_supply:
        raise ChainError(f"block {t}: supply evm {sums['supply']} != jax {jax_supply}")
    weights = np.asarray(state.best_weight)
    for task, best in enumerate(np.asarray(state.best_score)):
        got = int(chain.contract.best_score(task))
        if got != to_score_units(best):
            raise ChainError(f"block {t}: best of task {task} evm {got} != jax {best}")
        got = int(chain.contract.best_weight(task))
        if got != round(float(weights[task])):
            raise ChainError(
                f"block {t}: evidence behind task {task}'s best evm {got} != "
                f"jax {weights[task]}"
            )


def run_on_chain(
    cfg: ProtocolConfig, n_blocks: int | None = None, *, check: bool = True
) -> dict[str, Any]:
    """Run the protocol with settlement on the embedded EVM.

    Args:
        cfg: The configuration (surrogate evaluator).
        n_blocks: Blocks (default ``cfg.n_blocks``).
        check: Compare the contract with the JAX state after every block.

    Returns:
        ``{"chain", "initial", "final", "metrics", "accepted", "timing"}``:
        the :class:`MarketChain`, the JAX states, the stacked per-block
        metrics (numpy), the accepted proposal ids and timings.

    Raises:
        ChainError: If the engines disagree (with ``check``) or the
            contract's supply identity fails.
    """
    n_blocks = cfg.n_blocks if n_blocks is None else n_blocks
    t0 = time.perf_counter()
    with x64_mode():
        params = make_params(cfg)
        q0 = float(quantize(cfg.surrogate.initial_score))
        state = init_state(cfg, initial_score=q0)
        initial = state
        keys = jax.random.split(jax.random.key(cfg.seed), n_blocks)
    chain = MarketChain(
        cfg,
        np.asarray(state.balance),
        np.asarray(state.bonded),
        int(state.burned),
        [q0] * cfg.consensus.n_tasks,
        seed=cfg.seed,
    )
    t1 = time.perf_counter()
    rows, accepted = [], []
    jax_s = evm_s = 0.0
    for t in range(n_blocks):
        a = time.perf_counter()
        with x64_mode():
            inputs = block_inputs(params, state, keys[t])
            state, out = jit_step(params, state, inputs)
        assert out.events is not None
        ev = _np(out.events)
        rows.append(_np(out.metrics))
        b = time.perf_counter()
        got = settle_block(chain, t, ev)
        churn_on_chain(chain, cfg, state, t)
        want = [int(p) for p in ev.finalized.pid[np.asarray(ev.outcome.accepted)]]
        if got != want:
            raise ChainError(f"block {t}: accepted evm {got} != jax {want}")
        accepted += got
        if check:
            compare(chain, state, t)
        jax_s += b - a
        evm_s += time.perf_counter() - b
    chain.check_supply()
    metrics = {
        k: np.stack([np.asarray(getattr(r, k)) for r in rows]) for k in rows[0]._fields
    }
    timing = {
        "deploy_seconds": t1 - t0,
        "jax_seconds": jax_s,
        "evm_seconds": evm_s,
        "transactions": chain.n_tx,
        "blocks": n_blocks,
    }
    return {
        "chain": chain,
        "initial": initial,
        "final": state,
        "metrics": metrics,
        "accepted": accepted,
        "timing": timing,
    }
