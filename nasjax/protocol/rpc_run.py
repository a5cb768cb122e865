"""The market on a real node: anvil + one OS process per protocol node.

:func:`run_rpc` starts a local ``anvil`` chain (:mod:`nasjax.protocol.anvil`),
deploys ``Market.vy`` to it over JSON-RPC (:mod:`nasjax.protocol.rpc`) from
dev account 0 (the block producer), registers ``cfg.n_nodes`` node accounts
(dev accounts ``1..N``, each key in its node's folder) with their genesis
liquid balance, and starts ``python -m nasjax.protocol.node RUN_DIR i`` for
every node. Each node warms its evaluator up and bonds; then the producer
runs ``cfg.n_blocks`` blocks:

* ``begin_block`` with the committees of last block's proposals, drawn by
  the contract's own stake-weighted ``draw_seat`` (redrawn past the
  proposer);
* waits until every committed vote being settled is revealed, then
  ``finalize_block``;
* waits until every pending proposal is revealed, every seat of those has
  committed its vote and every scheduled proposer able to pay has
  committed, then ``end_block``.

Each wait ends at ``phase_timeout`` seconds whatever happened (a dead node
must not stop the chain; the rules deal with what it missed). With
``kill=(node, block)`` the driver ``kill -9``'s that node in that block
right after its proposal commitment is mined and starts it again; with
``leave=(node, block)`` that node unbonds its whole bond in that block and
withdraws its balance once released.

After the last block the nodes are stopped, every event is fetched with
``eth_getLogs`` and replayed (:func:`nasjax.protocol.evm.verify_events`)
against the contract's stored holdings and counters, and the supply
identities are checked. Outputs: ``chain_events.jsonl``,
``chain_snapshot.json``, ``summary.json``, ``anvil.log``, ``nodes/nodeI/``
(``key.hex``, ``state.json``, ``node.log``) and ``store/`` (the published
architectures).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasjax.protocol.anvil import Anvil, dev_key
from nasjax.protocol.config import ProtocolConfig, to_dict
from nasjax.protocol.evm import (
    ChainError,
    _abi,
    _keccak,
    market_params,
    quantize,
    tally_params,
    to_score_units,
    verify_events,
)
from nasjax.protocol.node import RUN, STOP, node_dir, scheduled
from nasjax.protocol.node_eval import make_evaluator
from nasjax.protocol.node_state import load_state, save_key
from nasjax.protocol.rpc import Market, Rpc, Signer, compile_market, deploy
from nasjax.protocol.tokens import to_units


class Nodes:
    """The node processes of a run (start, kill -9, restart, stop)."""

    def __init__(self, run_dir: Path, n: int) -> None:
        self.run_dir = run_dir
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n

    def start(self, i: int) -> None:
        """Start node ``i`` (its output appended to ``node.log``)."""
        log = (node_dir(self.run_dir, i) / "node.log").open("ab")
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "nasjax.protocol.node", str(self.run_dir), str(i)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        log.close()

    def kill(self, i: int) -> None:
        """``kill -9`` node ``i``'s process group and reap it."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def dead(self) -> list[int]:
        """Nodes whose process has exited."""
        return [
            i
            for i, p in enumerate(self.procs)
            if p is not None and p.poll() is not None
        ]

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every node to stop (``STOP`` file), then kill stragglers."""
        (self.run_dir / STOP).touch()
        t0 = time.monotonic()
        for i, proc in enumerate(self.procs):
            if proc is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(timeout - (time.monotonic() - t0), 0.1))
            self.kill(i)


def _wait(done: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    t0 = time.monotonic()
    while not done():
        if time.monotonic() - t0 > timeout:
            return False
        time.sleep(poll)
    return True


class Producer:
    """The block producer (dev account 0, the contract's operator)."""

    def __init__(
        self, market: Market, signer: Signer, n_nodes: int, cfg: ProtocolConfig
    ):
        self.m = market
        self.signer = signer
        self.n = n_nodes
        self.cfg = cfg
        self.size = cfg.consensus.committee_size
        self.seats: dict[int, list[int]] = {}
        p = market.call("p")
        self.min_bond, self.need = int(p[0]), int(p[1]) + int(p[2])
        self.timeouts = 0

    def tx(self, fn: str, *args: Any) -> None:
        receipt = self.m.transact(self.signer, fn, *args, gas=50_000_000)
        if int(receipt["status"], 16) != 1:
            why = self.m.revert_reason(self.signer, fn, *args)
            raise ChainError(f"producer: {fn} reverted ({why})")

    def committee(self, pid: int) -> list[int]:
        """``size`` seats by ``draw_seat``, skipping the proposer."""
        proposer = int(self.m.call("proposal", pid)[0])
        seats: list[int] = []
        k = 0
        while len(seats) < self.size and k < 64 * self.size:
            s = int(self.m.call("draw_seat", pid, k))
            k += 1
            if s < self.n and s != proposer:
                seats.append(s)
        if len(seats) < self.size:
            raise ChainError(f"proposal {pid}: no eligible committee")
        return seats

    def stages(self) -> list[list[int]]:
        return [[int(x) for x in s] for s in self.m.call("stages")]

    def votes_revealed(self) -> bool:
        """Every committed vote being settled is revealed (one snapshot)."""
        call = self.m.pinned()
        for pid in call("stages")[3]:
            for s in set(self.seats[int(pid)]):
                v = call("vote_of", pid, s)
                if v[2] and not v[3] and not v[4]:
                    return False
        return True

    def block_done(self, t: int, n_blocks: int) -> bool:
        """Pending proposals revealed, their seats committed, scheduled
        proposers committed (one snapshot)."""
        call = self.m.pinned()
        committed, pending, voting, _ = ([int(x) for x in s] for s in call("stages"))
        if set(pending) - set(voting):
            return False
        for pid in voting:
            for s in set(self.seats[pid]):
                if not call("vote_of", pid, s)[2]:
                    return False
        slots = self.cfg.consensus.proposals_per_block
        who = {int(call("proposal", pid)[0]) for pid in committed}
        for i in range(self.n):
            if i in who or not scheduled(i, t, self.n, slots, n_blocks):
                continue
            liquid, bonded = (int(x) for x in call("holdings", i)[:2])
            if liquid >= self.need and bonded >= max(self.min_bond, 1):
                return False
        return True

    def block(
        self,
        t: int,
        n_blocks: int,
        timeout: float,
        during: Callable[[], None] | None = None,
    ) -> None:
        """Produce block ``t`` (``during`` is polled while nodes act)."""
        pending = self.stages()[1]
        for pid in pending:
            self.seats[pid] = self.committee(pid)
        self.tx("begin_block", [self.seats[pid] for pid in pending])
        if not _wait(self.votes_revealed, timeout):
            self.timeouts += 1
        self.tx("finalize_block")

        def done() -> bool:
            if during is not None:
                during()
            return self.block_done(t, n_blocks)

        if not _wait(done, timeout):
            self.timeouts += 1
        self.tx("end_block")


def snapshot(market: Market, n: int) -> dict[str, Any]:
    """The contract's stored holdings and counters (as ``evm.chain_snapshot``)."""
    c = market.call
    return {
        "n_nodes": n,
        "holdings": [
            [
                int(c("liquid", i)),
                int(c("bonded", i)),
                int(c("unbonding_total", i)),
                int(c("escrow", i)),
            ]
            for i in range(n)
        ],
        "initial_supply": int(c("initial_supply")),
        "genesis_burned": int(c("genesis_burned")),
        "emitted": int(c("emitted")),
        "burned": int(c("burned")),
        "withdrawn": int(c("withdrawn")),
        "deposited": int(c("deposited")),
        "supply": int(c("supply")),
    }


def check_supply(rpc: Rpc, market: Market, cap: int) -> dict[str, int]:
    """``supply == expected_supply`` and the contract's wei account for it all.

    Raises:
        ChainError: If either identity fails.
    """
    c = market.call
    held, expected = int(c("supply")), int(c("expected_supply"))
    reserve = cap - int(c("emitted"))
    locked = int(c("burned")) - int(c("genesis_burned"))
    wei = rpc.balance(market.address)
    if held != expected:
        raise ChainError(f"supply {held} != expected {expected}")
    if wei != held + reserve + locked:
        raise ChainError(
            f"contract holds {wei} wei, accounts {held + reserve + locked}"
        )
    return {"supply": held, "expected": expected, "wei": wei}


def run_rpc(
    cfg: ProtocolConfig,
    out_dir: str | Path,
    *,
    evaluator: str = "real",
    kill: tuple[int, int] | None = None,
    leave: tuple[int, int] | None = None,
    phase_timeout: float = 120.0,
    join_timeout: float = 600.0,
    jax_cache: bool = True,
    eval_delay: float = 0.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the market on anvil with one process per node; verify the chain.

    Args:
        cfg: Configuration: ``n_nodes``, ``n_blocks``, ``seed``,
            ``consensus`` (slots, committee size, rule), ``economics`` and
            ``real`` (the nodes' data and training) are read.
        out_dir: Output folder (created; must not hold a previous run).
        evaluator: ``"real"`` (nasjax training) or ``"hash"`` (a stand-in,
            for chain throughput).
        kill: ``(node, block)``: ``kill -9`` that node in that block after
            its proposal commitment is mined, then restart it.
        leave: ``(node, block)``: that node unbonds its whole bond in that
            block and withdraws its balance once the unbonding delay has
            released it (:meth:`nasjax.protocol.node.ProtocolNode.leave`).
        phase_timeout: Seconds the producer waits for the nodes per phase.
        join_timeout: Seconds for every node to start and bond.
        jax_cache: Share a persistent JAX compilation cache in the run folder.
        eval_delay: Seconds each ``hash`` evaluation sleeps (stands for training).
        log: Progress lines.

    Returns:
        The summary (also written to ``summary.json``).

    Raises:
        ChainError: If a node process fails, the producer's transaction
            reverts, or the replay or a supply identity fails.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / RUN).exists():
        raise FileExistsError(f"{out / RUN} exists; use a new out_dir")
    n = cfg.n_nodes
    if leave is not None and not (0 <= leave[0] < n and 0 <= leave[1] < cfg.n_blocks):
        msg = f"leave={leave}: needs a node < {n} and a block < {cfg.n_blocks}"
        raise ValueError(msg)
    plan = None if leave is None else {"node": leave[0], "block": leave[1]}
    t_start = time.perf_counter()
    cache = out / "jax_cache" if jax_cache and evaluator == "real" else None
    if cache is not None:
        import jax

        jax.config.update("jax_compilation_cache_dir", str(cache))
    # The genesis model's certified score (standard data), before the chain.
    seed = _keccak(b"nasjax-beacon", _abi(["uint256"], [cfg.seed]))
    ev = make_evaluator(evaluator, cfg, 0)
    arch, _ = ev.genesis()
    best = float(quantize(ev.score(seed, arch)))
    compiled = compile_market()
    tally_code = compile_market(name="Tally")
    anvil = Anvil(accounts=n + 1, log=out / "anvil.log").start()
    nodes = Nodes(out, n)
    try:
        rpc = Rpc(anvil.url)
        operator = Signer(rpc, dev_key(0, anvil.mnemonic))
        params = market_params(cfg)
        tally = deploy(rpc, operator, tally_code, tally_params(cfg))
        market = deploy(
            rpc,
            operator,
            compiled,
            [params, [to_score_units(best)], seed, tally.address],
            value=params[5],
        )
        keys = [dev_key(i + 1, anvil.mnemonic) for i in range(n)]
        addrs = []
        for i, key in enumerate(keys):
            folder = node_dir(out, i)
            folder.mkdir(parents=True, exist_ok=True)
            save_key(folder, key)
            addrs.append(Signer(rpc, key).address)
        endowment = to_units(cfg.economics.endowment)
        receipt = market.transact(
            operator,
            "genesis",
            addrs,
            [endowment] * n,
            [0] * n,
            0,
            value=endowment * n,
            gas=50_000_000,
        )
        if int(receipt["status"], 16) != 1:
            raise ChainError("genesis reverted")
        (out / "store").mkdir(exist_ok=True)
        (out / "market_abi.json").write_text(json.dumps(compiled["abi"]))
        run = {
            "url": anvil.url,
            "contract": market.address,
            "abi": "market_abi.json",
            "n_nodes": n,
            "n_blocks": cfg.n_blocks,
            "n_tasks": cfg.consensus.n_tasks,
            "evaluator": evaluator,
            "reserve": 20 * (params[1] + params[2]),
            "config": to_dict(cfg),
            "jax_cache": str(cache) if cache is not None else None,
            "poll": 0.02,
            "eval_delay": eval_delay,
            "leave": plan,
        }
        (out / RUN).write_text(json.dumps(run, indent=1))
        log(f"anvil {anvil.url}, market {market.address}, genesis best {best:.4f}")
        t_nodes = time.perf_counter()
        for i in range(n):
            nodes.start(i)

        def joined() -> bool:
            if nodes.dead():
                raise ChainError(f"nodes {nodes.dead()} exited; see their node.log")
            return all(int(market.call("bonded", i)) > 0 for i in range(n))

        if not _wait(joined, join_timeout, poll=0.2):
            raise ChainError(f"nodes did not all bond within {join_timeout} s")
        join_s = time.perf_counter() - t_nodes
        log(f"{n} nodes joined in {join_s:.1f} s")
        producer = Producer(market, operator, n, cfg)
        bonded0 = [int(market.call("bonded", i)) for i in range(n)]
        h0 = rpc.height()
        nonces0 = _nonces(rpc, [operator.address, *addrs])
        killed: dict[str, Any] = {}
        t0 = time.perf_counter()
        for t in range(cfg.n_blocks):
            during = None
            if kill is not None and kill[1] == t:
                during = _killer(market, nodes, kill[0], killed, log)
            producer.block(t, cfg.n_blocks, phase_timeout, during)
            if kill is not None and kill[1] == t and not killed:
                _killer(market, nodes, kill[0], killed, log, force=True)()
            dead = [i for i in nodes.dead() if i != killed.get("node")]
            if dead:
                raise ChainError(f"nodes {dead} exited; see their node.log")
            log(f"block {t} done ({time.perf_counter() - t0:.1f} s)")
        loop_s = time.perf_counter() - t0
        n_tx = sum(_nonces(rpc, [operator.address, *addrs])) - sum(nonces0)
        evm_blocks = rpc.height() - h0
        nodes.stop()
        events = market.logs()
        for e in events:
            del e["_block"]
        snap = snapshot(market, n)
        report = verify_events(events, snap)
        sums = check_supply(rpc, market, params[5])
    finally:
        nodes.stop(timeout=5.0)
        anvil.stop()
    with (out / "chain_events.jsonl").open("w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    (out / "chain_snapshot.json").write_text(json.dumps(snap))
    states = [load_state(node_dir(out, i)) or {} for i in range(n)]
    summary = {
        "chain": "rpc",
        "evaluator": evaluator,
        "n_nodes": n,
        "n_blocks": cfg.n_blocks,
        "contract": market.address,
        "chain_report": report,
        "supply": sums,
        "best_score": {"start": best, "end": int(market_best(events, best)) / 2**20},
        "outcomes": _outcomes(events),
        "nodes": [
            {
                "index": i,
                "address": addrs[i],
                "holdings": snap["holdings"][i],
                "bonded_at_join": bonded0[i],
                "starts": states[i].get("starts"),
                "last_block": states[i].get("last_block"),
                "dropped": states[i].get("dropped"),
                "unbonded": states[i].get("unbonded", 0),
                "withdrawn": states[i].get("withdrawn", 0),
            }
            for i in range(n)
        ],
        "killed": killed or None,
        "left": plan,
        "timing": {
            "join_seconds": join_s,
            "blocks_seconds": loop_s,
            "total_seconds": time.perf_counter() - t_start,
            "transactions": n_tx,
            "evm_blocks": evm_blocks,
            "tx_per_second": n_tx / loop_s,
            "blocks_per_second": cfg.n_blocks / loop_s,
            "phase_timeouts": producer.timeouts,
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def market_best(events: list[dict[str, Any]], start: float) -> int:
    """Best certified score (units) after the run, from the events."""
    best = to_score_units(start)
    for e in events:
        if e["event"] == "Settled" and e["new_best"]:
            best = max(best, int(e["certified"]))
    return best


def _outcomes(events: list[dict[str, Any]]) -> dict[str, int]:
    from nasjax.protocol.evm import OUTCOMES

    counts = dict.fromkeys(OUTCOMES.values(), 0)
    for e in events:
        if e["event"] == "Settled":
            counts[OUTCOMES[int(e["outcome"])]] += 1
    return counts


def _nonces(rpc: Rpc, addrs: list[str]) -> list[int]:
    return [int(rpc("eth_getTransactionCount", a, "latest"), 16) for a in addrs]


def _killer(
    market: Market,
    nodes: Nodes,
    victim: int,
    killed: dict[str, Any],
    log: Callable[[str], None],
    force: bool = False,
) -> Callable[[], None]:
    """A poll that ``kill -9``'s ``victim`` once its commitment is mined."""

    def poll() -> None:
        if killed:
            return
        committed = [int(x) for x in market.call("stages")[0]]
        mine = [p for p in committed if int(market.call("proposal", p)[0]) == victim]
        if not mine and not force:
            return
        state = load_state(node_dir(nodes.run_dir, victim)) or {}
        nodes.kill(victim)
        killed.update(
            node=victim,
            block=int(market.call("block_number")),
            after_commit=mine,
            saved_proposals=sorted(state.get("proposals", {})),
        )
        log(f"kill -9 node {victim} in block {killed['block']} (committed {mine})")
        nodes.start(victim)

    return poll


__all__ = ["Nodes", "Producer", "check_supply", "run_rpc", "snapshot"]


def rpc_line(summary: dict[str, Any]) -> str:
    """One line on a ``protocol.chain=rpc`` run (anvil + node processes)."""
    t, r = summary["timing"], summary["chain_report"]
    return (
        f"anvil: {summary['n_nodes']} node processes x {summary['n_blocks']} blocks, "
        f"{t['transactions']} transactions ({t['tx_per_second']:.1f} tx/s, "
        f"{t['blocks_per_second']:.2f} blocks/s); outcomes {summary['outcomes']}; "
        f"events replayed ({r['events']}), supply conserved; best score "
        f"{summary['best_score']['start']:.4f} -> {summary['best_score']['end']:.4f}"
    )
