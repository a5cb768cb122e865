"""Throughput of the embedded chain: the market contract on titanoboa's EVM.

Runs the protocol with settlement on the in-process EVM
(:func:`nasjax.protocol.evm_run.run_on_chain`) without the per-block
comparison, and reports transactions/s and blocks/s of the EVM part (JAX
time and the one-off compile/deploy are reported apart)::

    python benchmarks/bench_evm.py --nodes 100 --blocks 50 [--rule paired] [--seats 32]
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from nasjax.protocol import ProtocolConfig
from nasjax.protocol.config import ConsensusConfig
from nasjax.protocol.evm_run import run_on_chain


def main() -> None:
    """Parse the sizes, run, print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--blocks", type=int, default=50)
    ap.add_argument(
        "--rule", default="paired", choices=("paired", "supermajority", "median")
    )
    ap.add_argument("--seats", type=int, default=32, help="committee size")
    args = ap.parse_args()
    cfg = dataclasses.replace(
        ProtocolConfig(),
        n_nodes=args.nodes,
        n_blocks=args.blocks,
        chain="evm",
        consensus=ConsensusConfig(committee_size=args.seats, rule=args.rule),
    )
    res = run_on_chain(cfg, check=False)
    t = res["timing"]
    out = {
        "nodes": args.nodes,
        "blocks": args.blocks,
        "rule": args.rule,
        "seats": args.seats,
        "transactions": t["transactions"],
        "deploy_seconds": round(t["deploy_seconds"], 2),
        "jax_seconds": round(t["jax_seconds"], 2),
        "evm_seconds": round(t["evm_seconds"], 2),
        "tx_per_second": round(t["transactions"] / t["evm_seconds"], 1),
        "blocks_per_second": round(args.blocks / t["evm_seconds"], 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
