"""One protocol node as its own OS process on a JSON-RPC chain.

``python -m nasjax.protocol.node RUN_DIR INDEX`` joins the market whose
address, ABI and rules the driver (:mod:`nasjax.protocol.rpc_run`) wrote to
``RUN_DIR/run.json``, with the private key in ``RUN_DIR/nodes/nodeINDEX``,
and acts in every open block by the rulebook, each action a transaction it
signs:

1. reveal the votes it committed last block (before the producer settles);
2. once settled, reveal the proposal it committed last block, publishing the
   architecture to the run's store (``store/PID.json``; content bound to the
   on-chain commitment through the salt, see :func:`arch_salt`);
3. on each proposal revealed this block whose committee seats it: fetch the
   architecture, check it against the commitment, score it
   (:mod:`nasjax.protocol.node_eval`) and, under the paired rule, score the
   task's incumbent on the same chain-drawn blocks (the vote reveals both;
   the gain is their difference), save the vote and a fresh random salt,
   then commit the vote;
4. when the schedule (:func:`scheduled`) gives it a proposal slot: train a
   morph child of the best model on its own data shard, save the claim,
   salt and architecture, then commit the proposal.

Everything the chain cannot tell it again (salts, claims, votes) is saved
atomically (:mod:`nasjax.protocol.node_state`) **before** the transaction
that depends on it is sent, and every action first asks the chain whether
it already happened. So a node killed with ``kill -9`` at any instant and
started again with the same command re-reads the chain, finds its saved
salts and carries on: a reveal still inside its window is sent, a
commitment whose window passed is dropped (the contract abandons the
proposal at ``end_block``: deposit and fee burned, the bond untouched; a
vote never revealed simply does not count).
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from nasjax.protocol.evm import (
    _abi,
    _keccak,
    quantize,
    to_score_units,
    vote_commitment,
)
from nasjax.protocol.node_state import (
    atomic_write,
    load_key,
    load_state,
    new_state,
    save_state,
)
from nasjax.protocol.paired import paired_margin_units

RUN = "run.json"
"""The run's description, written by the driver."""
STOP = "STOP"
"""A file the driver creates in the run folder to stop every node."""


def arch_salt(fingerprint: str, secret: bytes) -> bytes:
    """The proposal salt that binds a published architecture to its commitment."""
    return _keccak(b"nasjax-arch", fingerprint.encode(), secret)


def proposal_commitment(task: int, claimed: int, salt: bytes, address: str) -> bytes:
    """``keccak256(abi_encode(task, claimed, salt, proposer))`` (as the contract)."""
    types = ["uint256", "uint256", "bytes32", "address"]
    return _keccak(_abi(types, [task, claimed, salt, address]))


def scheduled(index: int, block: int, n_nodes: int, slots: int, n_blocks: int) -> bool:
    """Whether node ``index`` proposes in ``block``: ``slots`` nodes a block in
    turn; nobody in the last two blocks, so every proposal settles."""
    return block < n_blocks - 2 and (index - block) % n_nodes < slots


def node_dir(run_dir: Path, index: int) -> Path:
    """The node's own folder."""
    return Path(run_dir) / "nodes" / f"node{index}"


class ProtocolNode:
    """A node's view of the chain, its saved state and its evaluator.

    Args:
        run_dir: The run folder (``run.json``, ``store/``, ``nodes/``).
        index: The node's index at genesis.
    """

    def __init__(self, run_dir: Path, index: int) -> None:
        from nasjax.protocol.config import ProtocolConfig, from_dict
        from nasjax.protocol.node_eval import make_evaluator
        from nasjax.protocol.rpc import Market, Rpc, Signer

        self.run_dir = Path(run_dir)
        self.run = json.loads((self.run_dir / RUN).read_text())
        self.index = index
        self.folder = node_dir(self.run_dir, index)
        self.store = self.run_dir / "store"
        self.rpc = Rpc(self.run["url"])
        self.signer = Signer(self.rpc, load_key(self.folder))
        self.address = self.signer.address
        abi = json.loads((self.run_dir / self.run["abi"]).read_text())
        self.market = Market(self.rpc, self.run["contract"], abi)
        contract = self.market.address
        self.state = load_state(self.folder, self.address, contract) or new_state(
            index, self.address, contract
        )
        self.state["starts"] += 1
        self.save()
        me = int(self.market.call("node_id", self.address)) - 1
        if me != index:
            raise RuntimeError(f"node {index}: the contract knows it as {me}")
        p = self.market.call("p")
        self.min_bond, self.deposit, self.fee = int(p[0]), int(p[1]), int(p[2])
        self.min_improvement, self.tolerance = int(p[14]), int(p[15])
        self.slots = int(p[18])
        self.paired, self.keep_overclaimed = bool(p[21]), bool(p[23])
        cfg = from_dict(self.run["config"], ProtocolConfig())
        q = cfg.acceptance
        self.margin = paired_margin_units(
            q.margin_fraction * cfg.consensus.min_improvement
        )
        self.incumbents: dict[tuple[bytes, int], int] = {}
        self.evaluator = make_evaluator(
            self.run["evaluator"], cfg, index, float(self.run.get("eval_delay", 0.0))
        )
        self.done_votes: set[int] = set()
        self.view = self.market.call
        self.tries: dict[tuple[Any, ...], int] = {}
        self.stopping = False

    # -- plumbing ---------------------------------------------------------------

    def log(self, msg: str) -> None:
        """One line on stdout (the driver keeps it in ``node.log``)."""
        print(f"{time.strftime('%H:%M:%S')} node {self.index}: {msg}", flush=True)

    def save(self) -> None:
        """Persist the state atomically."""
        save_state(self.folder, self.state)

    def tx(self, fn: str, *args: Any) -> dict[str, Any] | None:
        """Send ``fn(*args)``; the receipt, or ``None`` (logged) if it reverted
        or already reverted three times (a lasting refusal is not retried)."""
        key = (fn, *args)
        if self.tries.get(key, 0) >= 3:
            return None
        receipt = self.market.transact(self.signer, fn, *args)
        if int(receipt["status"], 16) == 1:
            return receipt
        self.tries[key] = self.tries.get(key, 0) + 1
        why = self.market.revert_reason(self.signer, fn, *args)
        self.log(f"{fn} reverted ({why})")
        return None

    def incumbent_score(self, beacon: bytes, pid: int) -> int:
        """Our score (units) of model ``pid`` on the blocks ``beacon`` draws,
        computed once per (beacon, model): every proposal of a block is paired
        against the same incumbent."""
        key = (beacon, pid)
        if key not in self.incumbents:
            score = self.evaluator.score(beacon, self.model(pid))
            self.incumbents = {key: to_score_units(score)}
        return self.incumbents[key]

    def beacon(self) -> bytes:
        """The contract's current beacon (32 bytes)."""
        return bytes(self.view("beacon"))

    def model(self, pid: int) -> str:
        """The architecture JSON of model ``pid`` (genesis or the store)."""
        if pid < int(self.run["n_tasks"]):
            return self.evaluator.genesis()[0]
        return json.loads((self.store / f"{pid}.json").read_text())["arch"]

    # -- joining ------------------------------------------------------------------

    def join(self) -> None:
        """Warm the evaluator up, then bond (the driver waits for every bond)."""
        arch, _ = self.evaluator.genesis()
        self.evaluator.score(self.beacon(), arch)
        liquid, bonded = (int(x) for x in self.market.call("holdings", self.index)[:2])
        if bonded == 0 and not self.state.get("bonded"):
            self.evaluator.propose(self.beacon(), arch, set())  # own shard warm-up
            amount = liquid - int(self.run["reserve"])
            if amount > 0 and self.tx("bond", amount):
                self.log(f"bonded {amount}")
        self.state["bonded"] = True
        self.save()

    # -- one poll -----------------------------------------------------------------

    def step(self) -> None:
        """Act on the current block (every action idempotent)."""
        self.view = self.market.pinned()  # one consistent snapshot per poll
        t = int(self.view("block_number"))
        if not self.view("in_block"):
            return
        committed, pending, voting, settling = (
            [int(x) for x in s] for s in self.view("stages")
        )
        self.expire(t)
        self.reveal_votes(t, settling)
        if not settling:
            self.reveal_proposals(pending)
        self.commit_votes(t, voting)
        self.propose(t, committed)
        self.leave(t, pending, voting)
        if self.state["last_block"] != t:
            self.state["last_block"] = t
            self.save()

    def expire(self, t: int) -> None:
        """Drop saved commitments whose reveal window has passed."""
        gone = [c for c, e in self.state["proposals"].items() if e["block"] < t - 1]
        for c in gone:
            entry = self.state["proposals"].pop(c)
            self.state["dropped"].append({"commitment": c, "pid": entry.get("pid")})
            self.log(f"proposal {entry.get('pid')} of block {entry['block']} expired")
        old = [k for k, v in self.state["votes"].items() if v["round"] < t - 1]
        for k in old:
            del self.state["votes"][k]
        if gone or old:
            self.save()

    def reveal_votes(self, t: int, settling: list[int]) -> None:
        """Step 1: reveal last block's committed votes."""
        for pid in settling:
            v = self.state["votes"].get(str(pid))
            if v is None or v["round"] != t - 1:
                continue
            onchain = self.view("vote_of", pid, self.index)
            if onchain[2] and not onchain[3] and not onchain[4]:
                salt = bytes.fromhex(v["salt"])
                args = (pid, v["accept"], v["score"], v["incumbent"], salt, v["round"])
                if not self.tx("reveal_vote", *args):
                    continue  # retried next poll while the window is open
                self.log(f"revealed vote on {pid}")
            del self.state["votes"][str(pid)]
            self.save()

    def reveal_proposals(self, pending: list[int]) -> None:
        """Step 2: reveal last block's proposal, publishing its architecture."""
        for pid in pending:
            prop = self.view("proposal", pid)
            if int(prop[0]) != self.index or prop[9]:
                continue
            key = bytes(prop[1]).hex()
            entry = self.state["proposals"].get(key)
            if entry is None:
                continue  # not ours to reveal (no salt saved): abandoned
            doc = {"pid": pid, "arch": entry["arch"], "secret": entry["secret"]}
            atomic_write(self.store / f"{pid}.json", json.dumps(doc))
            salt = bytes.fromhex(entry["salt"])
            if not self.tx(
                "reveal_proposal", pid, entry["task"], entry["claimed"], salt
            ):
                continue  # retried next poll while the window is open
            self.log(f"revealed proposal {pid} (claim {entry['claimed']})")
            del self.state["proposals"][key]
            self.save()

    def verified_model(self, pid: int, prop: Any) -> str | None:
        """The published architecture of ``pid`` if it matches the commitment."""
        path = self.store / f"{pid}.json"
        try:
            doc = json.loads(path.read_text())
            fingerprint = self.evaluator.fingerprint(doc["arch"])
            salt = arch_salt(fingerprint, bytes.fromhex(doc["secret"]))
        except (OSError, ValueError, KeyError) as err:
            self.log(f"proposal {pid}: no usable architecture ({err})")
            return None
        who = self.view("node_addr", int(prop[0]))
        if proposal_commitment(int(prop[4]), int(prop[5]), salt, who) != bytes(prop[1]):
            self.log(f"proposal {pid}: published architecture does not match")
            return None
        return doc["arch"]

    def commit_votes(self, t: int, voting: list[int]) -> None:
        """Step 3: score each revealed proposal we are seated on and commit."""
        for pid in voting:
            if pid in self.done_votes:
                continue
            seated = int(self.view("seat_count", pid, self.index)) > 0
            if not seated or self.view("vote_of", pid, self.index)[2]:
                self.done_votes.add(pid)
                continue
            v = self.state["votes"].get(str(pid))
            if v is None or v["round"] != t:
                prop = self.view("proposal", pid)
                arch = self.verified_model(pid, prop)
                beacon = self.beacon()
                score = (
                    0
                    if arch is None
                    else to_score_units(self.evaluator.score(beacon, arch))
                )
                best, claimed = int(prop[8]), int(prop[5])
                claim_ok = claimed <= score + self.tolerance
                if self.paired:
                    # The incumbent on the same chain-drawn blocks (the gain's
                    # other half); without a candidate the certified best.
                    incumbent = best
                    if arch is not None:
                        incumbent = self.incumbent_score(beacon, int(prop[10]))
                    accept = (
                        arch is not None
                        and score - incumbent > self.margin
                        and (claim_ok or self.keep_overclaimed)
                    )
                else:
                    # The certified best stands for the incumbent (ignored).
                    incumbent = best
                    accept = (
                        arch is not None
                        and score >= best + self.min_improvement
                        and claim_ok
                    )
                v = {
                    "accept": bool(accept),
                    "score": score,
                    "incumbent": incumbent,
                    "salt": secrets.token_bytes(32).hex(),
                    "round": t,
                }
                self.state["votes"][str(pid)] = v
                self.save()
            digest = vote_commitment(
                pid,
                v["accept"],
                v["score"],
                v["incumbent"],
                bytes.fromhex(v["salt"]),
                t,
                self.address,
            )
            if self.tx("commit_vote", pid, digest):
                self.log(f"committed vote on {pid} ({v['accept']}, {v['score']})")
                self.done_votes.add(pid)

    def propose(self, t: int, committed: list[int]) -> None:
        """Step 4: in a scheduled block, train a child and commit to it."""
        n, n_blocks = int(self.run["n_nodes"]), int(self.run["n_blocks"])
        if not scheduled(self.index, t, n, self.slots, n_blocks):
            return
        if self.state.get("proposed_block") == t:
            return
        entry = next(
            (e for e in self.state["proposals"].values() if e["block"] == t), None
        )
        if entry is None:
            liquid, bonded = (int(x) for x in self.view("holdings", self.index)[:2])
            if liquid < self.deposit + self.fee or bonded < max(self.min_bond, 1):
                self.state["proposed_block"] = t
                self.save()
                return
            entry = self.new_proposal(t)
            if entry is None:
                self.state["proposed_block"] = t
                self.save()
                return
        commitment = bytes.fromhex(entry["commitment"])
        mine = [
            pid
            for pid in committed
            if bytes(self.view("proposal", pid)[1]) == commitment
        ]
        if not mine:
            receipt = self.tx("commit_proposal", commitment)
            if receipt is not None:
                rows = [self.market.decode_log(x) for x in receipt["logs"]]
                mine = [r["pid"] for r in rows if r["event"] == "ProposalCommitted"]
        if not mine:
            return  # retried next poll while the block is open
        entry["pid"] = int(mine[0])
        self.log(f"committed proposal {entry['pid']} in block {t}")
        self.state["proposed_block"] = t
        self.save()

    def leave(self, t: int, pending: list[int], voting: list[int]) -> None:
        """Step 5, for the node the run's ``leave`` plan names: from its block
        on, unbond the whole bond (once every proposal of this block is
        revealed and its own votes on them are committed: a vote committed
        after an unbond request reverts), then, once the
        unbonding delay has released it, withdraw the liquid balance to the
        node's address. Idempotent: the saved state and the chain say what is
        done."""
        plan = self.run.get("leave")
        if not plan or int(plan["node"]) != self.index or t < int(plan["block"]):
            return
        if set(pending) - set(voting) or any(p not in self.done_votes for p in voting):
            return  # retried next poll
        liquid, bonded, unbonding, escrow = (
            int(x) for x in self.view("holdings", self.index)
        )
        if bonded > 0:
            if self.tx("unbond", bonded):
                self.state["unbonded"] = self.state.get("unbonded", 0) + bonded
                self.save()
                self.log(f"block {t}: unbonding {bonded} (leaving)")
            return
        done = unbonding == 0 and escrow == 0 and liquid > 0
        if done and self.tx("withdraw", liquid):
            self.state["withdrawn"] = self.state.get("withdrawn", 0) + liquid
            self.save()
            self.log(f"block {t}: withdrew {liquid} (left)")

    def new_proposal(self, t: int) -> dict[str, Any] | None:
        """Train a morph child of the best model; save its claim and salt."""
        best = int(self.view("best_id", 0))
        seen = {self.evaluator.genesis()[1]}
        for path in self.store.glob("*.json"):
            try:
                seen.add(
                    self.evaluator.fingerprint(json.loads(path.read_text())["arch"])
                )
            except (OSError, ValueError, KeyError):
                continue
        found = self.evaluator.propose(self.beacon(), self.model(best), seen)
        if found is None:
            self.log(f"block {t}: no new candidate")
            return None
        arch, fingerprint, own = found
        claimed = to_score_units(quantize(own))
        secret = secrets.token_bytes(32)
        salt = arch_salt(fingerprint, secret)
        commitment = proposal_commitment(0, claimed, salt, self.address)
        entry = {
            "block": t,
            "task": 0,
            "claimed": claimed,
            "salt": salt.hex(),
            "secret": secret.hex(),
            "arch": arch,
            "fingerprint": fingerprint,
            "commitment": commitment.hex(),
            "pid": None,
        }
        self.state["proposals"][commitment.hex()] = entry
        self.save()  # before the transaction: a crash now loses nothing
        return entry

    # -- the loop -----------------------------------------------------------------

    def serve(self, poll: float = 0.02) -> int:
        """Join, then act until the driver's ``STOP`` file or SIGTERM."""

        def _stop(*_: Any) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, _stop)
        self.log(f"start {self.state['starts']} as {self.address}")
        self.join()
        while not self.stopping and not (self.run_dir / STOP).exists():
            self.step()
            time.sleep(poll)
        self.save()
        self.log(f"stopped after block {self.state['last_block']}")
        return 0


def _jax_cache(run: dict[str, Any]) -> None:
    """Use the run's persistent compilation cache (shared by its nodes)."""
    path = run.get("jax_cache")
    if path:
        import jax

        jax.config.update("jax_compilation_cache_dir", str(path))


def main(argv: list[str] | None = None) -> int:
    """``python -m nasjax.protocol.node RUN_DIR INDEX``."""
    ap = argparse.ArgumentParser(prog="python -m nasjax.protocol.node")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("index", type=int)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    _jax_cache(json.loads((args.run_dir / RUN).read_text()))
    node = ProtocolNode(args.run_dir, args.index)
    return node.serve(float(node.run.get("poll", 0.02)))


if __name__ == "__main__":
    raise SystemExit(main())
