"""Stake-weighted sortition of committees, proposers and block producers.

Every draw is a pure function of a key and integer stakes: a seat lands on
node ``i`` with probability ``stake_i / total`` exactly (an integer uniform in
``[0, total)`` is located in the cumulative stake), with replacement, so a
node's expected seats are proportional to its stake and splitting stake over
many identities (a Sybil) changes nothing in expectation. Committees are
drawn from the chain's randomness beacon, so they are deterministic given the
seed and the chain, and unknown to a proposer when it commits.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.x64 import x64

_COMMITTEE, _PRODUCER = 0x636F6D6D, 0x70726F64


def beacon_key(beacon: jax.Array) -> jax.Array:
    """A typed PRNG key from ``uint32[2]`` beacon data."""
    return jax.random.wrap_key_data(jnp.asarray(beacon, jnp.uint32))


def beacon_data(key: jax.Array) -> jax.Array:
    """``uint32[2]`` beacon data of a typed PRNG key."""
    return jnp.asarray(jax.random.key_data(key), jnp.uint32)


def beacon_from_hash(block_hash: str | bytes) -> np.ndarray:
    """``uint32[2]`` beacon from a block hash (hex string or raw bytes).

    The hash is hashed once more with a domain tag, so the beacon of block
    ``t + 1`` is fixed only once block ``t`` is sealed.
    """
    raw = bytes.fromhex(block_hash) if isinstance(block_hash, str) else block_hash
    digest = hashlib.sha256(b"nasjax-beacon" + raw).digest()
    return np.frombuffer(digest[:8], dtype=">u4").astype(np.uint32)


def weighted_draw(key: jax.Array, weights: jax.Array, n: int) -> jax.Array:
    """``n`` node ids drawn with replacement, ``P(i) = w_i / sum(w)`` exactly.

    Args:
        key: PRNG key.
        weights: ``int64[N]`` non-negative integer weights (e.g. stake units).
        n: Draws.

    Returns:
        ``int32[n]`` node ids; all ``N - 1`` (a zero-weight node is never
        drawn otherwise) when the total weight is zero, which callers detect
        with ``weights.sum() > 0``.
    """
    weights = jnp.asarray(weights, jnp.int64)
    cum = jnp.cumsum(weights)
    total = cum[-1]
    u = jax.random.randint(key, (n,), 0, jnp.maximum(total, 1), dtype=jnp.int64)
    idx = jnp.searchsorted(cum, u, side="right")
    return jnp.minimum(idx, weights.shape[0] - 1).astype(jnp.int32)


def draw_committees(
    beacon: jax.Array,
    stake: jax.Array,
    eligible: jax.Array,
    proposer: jax.Array,
    size: int,
) -> jax.Array:
    """Committee seats of each proposal slot.

    Args:
        beacon: ``uint32[2]`` chain randomness of the block.
        stake: ``int64[N]`` bonded stake at the start of the block.
        eligible: ``bool[N]`` nodes allowed to validate.
        proposer: ``int32[P]`` proposer of each slot (excluded from its own
            committee).
        size: Seats per committee (C).

    Returns:
        ``int32[P, C]`` node id per seat.
    """
    base = jax.random.fold_in(beacon_key(beacon), _COMMITTEE)
    w = jnp.where(eligible, jnp.asarray(stake, jnp.int64), 0)
    ids = jnp.arange(w.shape[0])

    def one(slot: jax.Array, who: jax.Array) -> jax.Array:
        w_slot = jnp.where(ids == who, 0, w)
        return weighted_draw(jax.random.fold_in(base, slot), w_slot, size)

    slots = jnp.arange(proposer.shape[0])
    return jax.vmap(one)(slots, proposer)


def select_proposers(
    key: jax.Array, stake: jax.Array, eligible: jax.Array, n_slots: int
) -> tuple[jax.Array, jax.Array]:
    """Stake-weighted proposer lottery for the block's proposal slots.

    Args:
        key: PRNG key.
        stake: ``int64[N]`` bonded stake.
        eligible: ``bool[N]`` nodes able to pay a deposit and fee.
        n_slots: Proposal slots (P).

    Returns:
        ``(proposer int32[P], ok bool[P])``: ``ok`` is False for a slot with
        no eligible node or whose node already holds an earlier slot.
    """
    w = jnp.where(eligible, jnp.asarray(stake, jnp.int64), 0)
    who = weighted_draw(key, w, n_slots)
    earlier = jnp.tril(who[:, None] == who[None, :], k=-1).any(axis=1)
    return who, (jnp.sum(w) > 0) & ~earlier


def draw_producer(beacon: jax.Array, stake: jax.Array) -> jax.Array:
    """``int32[]`` the block producer, drawn by stake from the beacon."""
    key = jax.random.fold_in(beacon_key(beacon), _PRODUCER)
    return weighted_draw(key, stake, 1)[0]


@x64
def committee_frequencies(
    beacon: jax.Array, stake: jax.Array, size: int, n_draws: int
) -> np.ndarray:
    """Empirical seat frequency per node over ``n_draws`` committees.

    A diagnostic (used by tests and notebooks): draws ``n_draws`` committees
    of ``size`` seats for a proposer that is not a node (id ``-1``).

    Returns:
        ``float64[N]`` share of all seats held by each node.
    """
    stake = jnp.asarray(stake, jnp.int64)
    eligible = jnp.ones(stake.shape, bool)
    proposer = jnp.full((n_draws,), -1, jnp.int32)
    seats = draw_committees(beacon, stake, eligible, proposer, size)
    counts = jnp.zeros(stake.shape, jnp.int64).at[seats.reshape(-1)].add(1)
    return np.asarray(counts, np.float64) / (n_draws * size)
