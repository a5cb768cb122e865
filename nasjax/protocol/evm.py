"""The proposal market as a Vyper contract on an in-process EVM (titanoboa).

``contracts/Market.vy`` holds the staking, proposal deposit, commit-reveal
voting, sortition seed, reward and slashing rules of
:mod:`nasjax.protocol.economics` in the same integer units (1 micro-token =
1 wei held by the contract; rates in ppm with the same flooring). Scores are
integers in units of ``2**-20`` (:data:`SCORE_ONE`); the simulator's float
thresholds are turned into integer ones that decide identically for scores
on that grid (``min_improvement`` rounded up, ``claim_tolerance`` down).
``contracts/Tally.vy`` decides each proposal from its committee's votes
(quorum, the supermajority, median or paired rule, the over-claim test, who
voted with the outcome); the market calls it and moves the money. Its paired
test is :func:`nasjax.protocol.paired.paired_test_units`, integer for
integer. A vote reveals its score of the candidate and of the incumbent
(the paired gain is their difference).

:class:`MarketChain` compiles (once per process, cached on disk by
titanoboa) and deploys both contracts, registers the nodes' genesis holdings
and sends every transaction as the node that signs it; every event is kept
in :attr:`MarketChain.events` so that :func:`replay_events` can rebuild every
node's holdings and the supply from the events alone.

Requires the ``chain`` extra (``pip install nasjax[chain]``: ``titanoboa``,
``vyper``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from nasjax.protocol.config import ProtocolConfig
from nasjax.protocol.paired import (
    SCORE_ONE,
    paired_band_ppm,
    paired_margin_units,
    t2_table,
)
from nasjax.protocol.tokens import to_ppm, to_units

CONTRACTS = Path(__file__).parent / "contracts"
"""Folder of the Vyper sources."""

T2_LEN: int = 65
"""Entries of the contract's squared-quantile table (dof 0 .. 64)."""

BUCKETS: tuple[str, ...] = (
    "liquid",
    "bonded",
    "unbonding",
    "escrow",
    "mint",
    "burn",
    "outside",
    "pool",
)
"""Buckets of a ``Move`` event, in the contract's numbering."""

OUTCOMES: dict[int, str] = {1: "accepted", 2: "rejected", 3: "expired", 4: "abandoned"}


class ChainError(RuntimeError):
    """The contract state disagrees with what it must be (the message says how)."""


def quantize(score: Any) -> np.ndarray:
    """Scores rounded to the contract's grid (floats, exact multiples of 2**-20)."""
    x = np.asarray(score, np.float64)
    return np.round(np.clip(x, 0.0, None) * SCORE_ONE) / SCORE_ONE


def to_score_units(score: Any) -> int:
    """A score on the grid -> integer contract units."""
    return round(max(float(score), 0.0) * SCORE_ONE)


def market_params(cfg: ProtocolConfig) -> tuple[Any, ...]:
    """The contract's ``Params`` struct (as a tuple) of a config."""
    c, e, q = cfg.consensus, cfg.economics, cfg.acceptance
    quorum = max(math.ceil(c.quorum * c.committee_size - 1e-9), 1)
    return (
        to_units(e.min_bond),
        to_units(e.proposal_deposit),
        to_units(e.proposal_fee),
        to_units(e.validator_emission),
        to_units(e.max_reward_per_block),
        to_units(e.emission_cap),
        to_units(e.reward_per_point),
        to_ppm(e.proposer_share),
        to_ppm(e.overclaim_slash),
        to_ppm(e.whistleblower_share),
        to_ppm(e.equivocation_slash),
        to_ppm(e.correlation_multiplier),
        to_ppm(e.deviation_penalty),
        quorum,
        math.ceil(c.min_improvement * SCORE_ONE - 1e-9),
        math.floor(c.claim_tolerance * SCORE_ONE + 1e-9),
        c.rule == "median",
        e.unbonding_delay,
        c.proposals_per_block,
        c.committee_size,
        c.n_tasks,
        c.rule == "paired",
        q.recertify,
        q.keep_overclaimed,
    )


def tally_params(cfg: ProtocolConfig) -> tuple[Any, ...]:
    """``Tally.vy``'s constructor arguments: the paired test's constants
    (trim and band in ppm, the null gain in score units, the squared Student
    quantiles), as :func:`nasjax.protocol.state.make_params` computes them."""
    c, q = cfg.consensus, cfg.acceptance
    return (
        to_ppm(q.trim),
        paired_band_ppm(q.outlier_band),
        paired_margin_units(q.margin_fraction * c.min_improvement),
        [int(x) for x in t2_table(NormalDist().inv_cdf(q.confidence), T2_LEN - 1)],
    )


@functools.cache
def market_deployer(name: str = "Market") -> Any:
    """The compiled ``Market.vy`` (or ``Tally.vy``): a titanoboa deployer,
    compiled once."""
    import boa

    return boa.load_partial(str(CONTRACTS / f"{name}.vy"))


def _plain(value: Any) -> Any:
    """An event argument as JSON-ready data (bytes as hex, addresses as text)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int)):
        return value
    return str(value)


def _keccak(*parts: bytes) -> bytes:
    from eth_utils.crypto import keccak

    return keccak(b"".join(parts))


def _abi(types: Sequence[str], values: Sequence[Any]) -> bytes:
    from eth_abi.abi import encode

    return encode(list(types), list(values))


@dataclasses.dataclass
class Node:
    """One participant: its id, private key and address."""

    index: int
    key: Any
    address: str

    def sign(self, digest: bytes) -> bytes:
        """65-byte ``r || s || v`` signature (v in {27, 28}) of a hash."""
        sig = self.key.sign_msg_hash(digest)
        return (
            sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])
        )


def make_nodes(seed: int, n: int) -> list[Node]:
    """``n`` nodes with deterministic secp256k1 keys derived from ``seed``."""
    from eth_keys.datatypes import PrivateKey

    nodes = []
    for i in range(n):
        key = PrivateKey(_keccak(b"nasjax-evm-node", _abi(["uint256"] * 2, [seed, i])))
        nodes.append(Node(i, key, key.public_key.to_checksum_address()))
    return nodes


def vote_commitment(
    pid: int,
    accept: bool,
    score: int,
    incumbent: int,
    salt_: bytes,
    rnd: int,
    voter: str,
) -> bytes:
    """``keccak256(abi_encode(pid, accept, score, incumbent, salt, round,
    voter))``: the commitment ``Market.commit_vote`` stores."""
    return _keccak(
        _abi(
            ["uint256", "bool", "uint256", "uint256", "bytes32", "uint256", "address"],
            [pid, accept, score, incumbent, salt_, rnd, voter],
        )
    )


def salt(*ids: int) -> bytes:
    """A deterministic 32-byte salt for a commitment."""
    return _keccak(b"nasjax-salt", _abi(["uint256"] * len(ids), list(ids)))


class MarketChain:
    """A deployed market on titanoboa's in-process EVM, with its event log.

    Args:
        cfg: The protocol configuration (rules and sizes).
        liquid: ``int64[N]`` genesis liquid balances (units).
        bonded: ``int64[N]`` genesis bonds.
        burned: Units burned before genesis (registration fees).
        best: Genesis certified score per task (on the score grid).
        seed: Seed of the node keys and the beacon.
    """

    def __init__(
        self,
        cfg: ProtocolConfig,
        liquid: Sequence[int] | np.ndarray,
        bonded: Sequence[int] | np.ndarray,
        burned: int,
        best: Sequence[float],
        seed: int = 0,
    ) -> None:
        import boa

        self.env = boa.env
        self.operator = boa.env.eoa
        self.params = market_params(cfg)
        cap = self.params[5]
        self.env.set_balance(
            self.operator, cap + int(np.sum(liquid)) + int(np.sum(bonded))
        )
        self.nodes = make_nodes(seed, len(liquid))
        self.events: list[dict[str, Any]] = []
        self.n_tx = 0
        self.tally = market_deployer("Tally").deploy(*tally_params(cfg))
        self.contract = market_deployer().deploy(
            self.params,
            [to_score_units(b) for b in best],
            _keccak(b"nasjax-beacon", _abi(["uint256"], [seed])),
            self.tally.address,
            value=cap,
        )
        self._log()
        for lo in range(0, len(self.nodes), 200):
            hi = min(lo + 200, len(self.nodes))
            li = [int(x) for x in liquid[lo:hi]]
            bo = [int(x) for x in bonded[lo:hi]]
            self.tx(
                "genesis",
                [nd.address for nd in self.nodes[lo:hi]],
                li,
                bo,
                int(burned) if lo == 0 else 0,
                value=sum(li) + sum(bo),
            )

    # -- transactions -----------------------------------------------------

    def _log(self) -> None:
        for ev in self.contract.get_logs():
            row: dict[str, Any] = {"event": type(ev).__name__}
            for k, v in ev._asdict().items():
                if k != "address":
                    row[k] = _plain(v)
            self.events.append(row)

    def tx(self, method: str, *args: Any, sender: int | None = None, **kw: Any) -> Any:
        """Send one transaction (from node ``sender``, default the operator)."""
        frm = self.operator if sender is None else self.nodes[sender].address
        out = getattr(self.contract, method)(*args, sender=frm, **kw)
        self.n_tx += 1
        self._log()
        return out

    def try_tx(
        self, method: str, *args: Any, sender: str | int | None = None, **kw: Any
    ) -> tuple[str, Any]:
        """Send one transaction that may revert: ``("", result)`` or
        ``(revert reason, None)``; a reverted transaction changes nothing.

        Args:
            method: The contract function.
            *args: Its arguments.
            sender: A node id, an address (e.g. of a non-node) or None (the
                operator).
            **kw: ``value`` (wei sent along).

        Returns:
            The reason is the contract's assertion message, or
            ``"Revert()"`` for a revert without one (a failed arithmetic
            check, an out-of-bounds index).
        """
        if sender is None:
            frm = self.operator
        elif isinstance(sender, int):
            frm = self.nodes[sender].address
        else:
            frm = sender
        fn = getattr(self.contract, method)
        computation = self.env.execute_code(
            to_address=self.contract.address,
            sender=frm,
            data=fn.prepare_calldata(*args),
            value=kw.get("value", 0),
            contract=self.contract,
        )
        if computation.is_error:
            return revert_reason(computation.output), None
        out = self.contract.marshal_to_python(computation, fn.func_t.return_type)
        self.n_tx += 1
        self._log()
        return "", out

    def vote_hash(
        self,
        pid: int,
        accept: bool,
        score: int,
        incumbent: int,
        salt_: bytes,
        rnd: int,
        voter: int,
    ) -> bytes:
        """The commitment of a vote (as ``Market.vote_commitment``)."""
        return vote_commitment(
            pid, accept, score, incumbent, salt_, rnd, self.nodes[voter].address
        )

    def vote_message(self, pid: int, accept: bool, score: int, incumbent: int) -> bytes:
        """The hash a validator signs for a vote (as ``Market.vote_message``)."""
        domain = _keccak(b"nasjax-vote-v1")
        return _keccak(
            _abi(
                ["bytes32", "address", "uint256", "bool", "uint256", "uint256"],
                [domain, self.contract.address, pid, accept, score, incumbent],
            )
        )

    def proposal_hash(self, task: int, claimed: int, salt_: bytes, node: int) -> bytes:
        """The commitment of a proposal (as ``Market.commit_proposal`` expects)."""
        return _keccak(
            _abi(
                ["uint256", "uint256", "bytes32", "address"],
                [task, claimed, salt_, self.nodes[node].address],
            )
        )

    def equivocate(
        self, pid: int, node: int, accept: bool, score: int, incumbent: int = 0
    ) -> None:
        """Submit evidence of two conflicting signed votes of ``node`` on ``pid``."""
        nd = self.nodes[node]
        sig_a = nd.sign(self.vote_message(pid, accept, score, incumbent))
        sig_b = nd.sign(self.vote_message(pid, not accept, score, incumbent))
        self.tx(
            "report_equivocation",
            pid,
            node,
            accept,
            score,
            incumbent,
            sig_a,
            not accept,
            score,
            incumbent,
            sig_b,
        )

    # -- views --------------------------------------------------------------

    def holdings(self) -> np.ndarray:
        """``int64[N, 4]`` (liquid, bonded, unbonding, escrow) of every node."""
        return np.array(
            [self.contract.holdings(i) for i in range(len(self.nodes))], np.int64
        )

    def check_supply(self) -> dict[str, int]:
        """Supply on the contract equals ``initial + emitted - burned`` and the
        contract's wei equal the holdings plus the unminted reserve and the
        burned units.

        Raises:
            ChainError: If either identity fails.
        """
        c = self.contract
        held, expected = int(c.supply()), int(c.expected_supply())
        reserve = self.params[5] - int(c.emitted())
        locked = int(c.burned()) - int(c.genesis_burned())
        wei = int(self.env.get_balance(c.address))
        if held != expected:
            raise ChainError(f"supply {held} != expected {expected}")
        if wei != held + reserve + locked:
            raise ChainError(
                f"contract holds {wei} wei, accounts {held + reserve + locked}"
            )
        return {"supply": held, "expected": expected, "wei": wei}


def revert_reason(output: bytes) -> str:
    """The message of an ``Error(string)`` revert (``"Revert()"`` without one)."""
    from eth_abi.abi import decode

    if output[:4] == bytes.fromhex("08c379a0"):
        return str(decode(["string"], output[4:])[0])
    return "Revert()"


def replay_events(events: Sequence[dict[str, Any]], n_nodes: int) -> dict[str, Any]:
    """Rebuild every node's holdings and the supply from ``Move`` events.

    Args:
        events: The chain's events in order (``MarketChain.events`` or a
            ``chain_events.jsonl`` file's rows).
        n_nodes: Nodes registered at genesis.

    Returns:
        ``{"holdings": int64[N, 4], "minted", "burned", "withdrawn", "supply",
        "accepted"}``: holdings as stored (liquid, bonded, unbonding before
        lazy release, escrow); units minted (genesis included) and burned
        after genesis; the accepted proposal ids in order.

    Raises:
        ChainError: If a bucket goes negative, a settlement's pool is not
            emptied, or the supply identity fails.
    """
    held = np.zeros((n_nodes, 4), np.int64)
    ext: dict[str, int] = dict.fromkeys(("mint", "burn", "outside", "pool"), 0)
    accepted: list[int] = []
    for i, ev in enumerate(events):
        name = ev["event"]
        if name == "Settled" and int(ev["outcome"]) == 1:
            accepted.append(int(ev["pid"]))
        if name == "BlockEnded" and ext["pool"] != 0:
            raise ChainError(f"event {i}: settlement pool left {ext['pool']}")
        if name != "Move":
            continue
        node, amount = int(ev["node"]), int(ev["amount"])
        for bucket, sign in ((int(ev["src"]), -1), (int(ev["dst"]), 1)):
            if bucket < 4:
                held[node, bucket] += sign * amount
                if held[node, bucket] < 0:
                    raise ChainError(f"event {i}: node {node} {BUCKETS[bucket]} < 0")
            else:
                ext[BUCKETS[bucket]] += sign * amount
    supply = int(held.sum())
    minted, burned, withdrawn = -ext["mint"], ext["burn"], ext["outside"]
    if ext["pool"] != 0 or supply != minted - burned - withdrawn:
        raise ChainError(
            f"replayed holdings {supply} != minted {minted} - burned {burned} "
            f"- withdrawn {withdrawn} (pool {ext['pool']})"
        )
    return {
        "holdings": held,
        "minted": minted,
        "burned": burned,
        "withdrawn": withdrawn,
        "supply": supply,
        "accepted": accepted,
    }


def chain_snapshot(chain: MarketChain) -> dict[str, Any]:
    """The contract's stored holdings and counters (what a replay must equal)."""
    c = chain.contract
    n = len(chain.nodes)
    held = [
        [
            int(c.liquid(i)),
            int(c.bonded(i)),
            int(c.unbonding_total(i)),
            int(c.escrow(i)),
        ]
        for i in range(n)
    ]
    return {
        "n_nodes": n,
        "holdings": held,
        "initial_supply": int(c.initial_supply()),
        "genesis_burned": int(c.genesis_burned()),
        "emitted": int(c.emitted()),
        "burned": int(c.burned()),
        "withdrawn": int(c.withdrawn()),
        "deposited": int(c.deposited()),
        "supply": int(c.supply()),
    }


def require_same_holdings(
    got: np.ndarray, want: np.ndarray, names: tuple[str, str], where: str = ""
) -> None:
    """Require two ``int[N, 4]`` holdings tables (:data:`BUCKETS`) to be equal.

    Args:
        got: One side's holdings.
        want: The other side's.
        names: What the two sides are called in the message.
        where: A prefix of the message (e.g. the block).

    Raises:
        ChainError: Naming the first node and bucket that differ.
    """
    diff = np.argwhere(got != want)
    if len(diff):
        i, b = (int(x) for x in diff[0])
        raise ChainError(
            f"{where}node {i} {BUCKETS[b]}: {names[0]} {got[i, b]} != "
            f"{names[1]} {want[i, b]} ({len(diff)} entries differ)"
        )


def verify_events(
    events: Sequence[dict[str, Any]], snapshot: dict[str, Any]
) -> dict[str, Any]:
    """Replay the events and require every balance and counter of ``snapshot``.

    Raises:
        ChainError: Naming the first node or counter that differs.
    """
    r = replay_events(events, int(snapshot["n_nodes"]))
    want = np.asarray(snapshot["holdings"], np.int64)
    require_same_holdings(r["holdings"], want, ("replayed", "stored"))
    genesis = int(snapshot["initial_supply"]) - int(snapshot["genesis_burned"])
    checks = {
        "emitted": (r["minted"] - genesis, int(snapshot["emitted"])),
        "burned": (
            r["burned"] + int(snapshot["genesis_burned"]),
            int(snapshot["burned"]),
        ),
        "withdrawn": (r["withdrawn"], snapshot["withdrawn"] - snapshot["deposited"]),
        "supply": (r["supply"], int(snapshot["supply"])),
    }
    for name, (got, stored) in checks.items():
        if got != stored:
            raise ChainError(f"{name}: replayed {got} != stored {stored}")
    expected = (
        int(snapshot["initial_supply"])
        + int(snapshot["emitted"])
        - int(snapshot["burned"])
        - int(snapshot["withdrawn"])
        + int(snapshot["deposited"])
    )
    if r["supply"] != expected:
        raise ChainError(
            f"supply {r['supply']} != initial + emitted - burned {expected}"
        )
    return {
        "ok": True,
        "events": len(events),
        "nodes": int(snapshot["n_nodes"]),
        "supply": r["supply"],
        "accepted": len(r["accepted"]),
    }
