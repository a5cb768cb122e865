"""Throughput of the market on a real node: anvil + one OS process per node.

Runs :func:`nasjax.protocol.rpc_run.run_rpc` (anvil on 127.0.0.1, the
contract deployed over JSON-RPC, ``--nodes`` node processes each signing its
own transactions) and reports transactions/s and protocol blocks/s over the
block loop (node start-up and warm-up reported apart as ``join_seconds``).
``--evaluator hash`` replaces training with a hash (the chain's own
throughput; ``--eval-delay`` seconds per score stands for training time);
``--evaluator real`` trains every proposal and vote for real::

    python benchmarks/bench_rpc.py --nodes 4 --blocks 20 --evaluator hash
    python benchmarks/bench_rpc.py --nodes 4 --blocks 6 --evaluator real
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile

from nasjax.protocol.config import PRESETS
from nasjax.protocol.rpc_run import run_rpc


def main() -> None:
    """Parse the sizes, run, print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--slots", type=int, default=2, help="proposals per block")
    ap.add_argument("--committee", type=int, default=3)
    ap.add_argument("--evaluator", choices=("hash", "real"), default="hash")
    ap.add_argument("--eval-delay", type=float, default=0.0)
    ap.add_argument("--out", default=None, help="run folder (default: a temp dir)")
    args = ap.parse_args()
    real = PRESETS["real"]
    cfg = dataclasses.replace(
        real,
        n_nodes=args.nodes,
        n_blocks=args.blocks,
        chain="rpc",
        plots=False,
        consensus=dataclasses.replace(
            real.consensus,
            proposals_per_block=args.slots,
            committee_size=args.committee,
            rule="median",
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        s = run_rpc(
            cfg,
            args.out or tmp,
            evaluator=args.evaluator,
            eval_delay=args.eval_delay,
            log=lambda _: None,
        )
    t = s["timing"]
    out = {
        "nodes": args.nodes,
        "blocks": args.blocks,
        "evaluator": args.evaluator,
        "transactions": t["transactions"],
        "join_seconds": round(t["join_seconds"], 2),
        "blocks_seconds": round(t["blocks_seconds"], 2),
        "tx_per_second": round(t["tx_per_second"], 1),
        "blocks_per_second": round(t["blocks_per_second"], 3),
        "phase_timeouts": t["phase_timeouts"],
        "outcomes": s["outcomes"],
        "verified_events": s["chain_report"]["events"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
