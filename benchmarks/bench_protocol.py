"""Protocol simulation: the surrogate scale run and the real-evaluator demo.

Measures, in one run:

1. ``scale``: N nodes x B blocks (default 1,000 x 10,000, 4 proposal slots,
   16-seat committees) with the surrogate evaluator in one ``lax.scan``;
   compile time apart from steady state (median of ``--repeats`` runs,
   ``block_until_ready``), blocks per second, and a check that supply was
   conserved exactly in every block;
2. ``ledger``: the host-side cost of a full signed ledger (every transaction,
   Ed25519) on the default preset (100 x 500): write and verify times and
   transactions per second, which is why scale runs record a summary ledger;
3. ``real``: the real-evaluator demo (default 10 nodes x 20 blocks on the
   bundled sample, 20 training steps per evaluation, full ledger), whole run
   and the share spent training;
4. ``acceptance``: the default preset (100 nodes x 500 blocks, 30% attacker
   stake over the six attacker types) at ``--acceptance SEEDS`` seeds in one
   vmapped program, under each rule of ``--rules`` (default: the paired rule
   and the old supermajority rule; each also on the old 16-seat committee),
   plus the paired rule under weaker
   pairing (``--weak-pairing``: block_share = train_share = 0.5): pooled
   false-accept / false-reject rates with Wilson 95% intervals and each
   agent type's ROI, mean over seeds with a Student 95% interval.

Usage: ``python benchmarks/bench_protocol.py [--nodes 1000] [--blocks 10000]
[--real-data synthetic] [--skip-real] [--skip-scale] [--acceptance 8]
[--json out.json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import nasjax  # noqa: F401  (sets XLA flags before jax starts)
from nasjax.protocol import (
    PRESETS,
    init_state,
    make_params,
    run_protocol,
    with_overrides,
)
from nasjax.protocol.montecarlo import run_seeds, seed_summary
from nasjax.protocol.step import compile_simulation
from nasjax.protocol.x64 import x64_mode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info


def bench_scale(nodes: int, blocks: int, repeats: int) -> dict:
    cfg = with_overrides(PRESETS["scale"], {"n_nodes": nodes, "n_blocks": blocks})
    with x64_mode():
        params, state = make_params(cfg), init_state(cfg)
        key = jax.random.key(cfg.seed)
        t0 = time.perf_counter()
        run = compile_simulation(params, state, key, blocks)
        compile_s = time.perf_counter() - t0
        times, out = [], None
        for r in range(repeats):
            t0 = time.perf_counter()
            final, out = run(params, state, jax.random.fold_in(key, r))
            jax.block_until_ready(final)
            times.append(time.perf_counter() - t0)
    assert out is not None
    m = out.metrics
    steady = statistics.median(times)
    return {
        "nodes": nodes,
        "blocks": blocks,
        "slots": cfg.consensus.proposals_per_block,
        "committee": cfg.consensus.committee_size,
        "compile_s": compile_s,
        "steady_s": steady,
        "blocks_per_s": blocks / steady,
        "node_blocks_per_s": nodes * blocks / steady,
        "conserved": bool(
            np.array_equal(np.asarray(m.supply), np.asarray(m.supply_expected))
        ),
        "proposals": int(np.asarray(m.proposed).sum()),
    }


def bench_ledger(tmp: Path) -> dict:
    cfg = dataclasses.replace(PRESETS["default"], plots=False)
    summary = run_protocol(cfg, tmp / "ledger_run")
    t = summary["timing"]
    n_txs = summary["ledger_report"]["n_txs"]
    return {
        "nodes": cfg.n_nodes,
        "blocks": cfg.n_blocks,
        "transactions": n_txs,
        "simulate_s": t["simulate_seconds"],
        "write_s": t["ledger_write_seconds"],
        "verify_s": t["ledger_verify_seconds"],
        "write_tx_per_s": n_txs / t["ledger_write_seconds"],
        "verify_tx_per_s": n_txs / t["ledger_verify_seconds"],
        "bytes": os.path.getsize(summary["ledger"]),
    }


def bench_real(tmp: Path, nodes: int, blocks: int, data: str) -> dict:
    cfg = with_overrides(
        PRESETS["real"],
        {"n_nodes": nodes, "n_blocks": blocks, "real.data.source": data},
    )
    t0 = time.perf_counter()
    summary = run_protocol(dataclasses.replace(cfg, plots=False), tmp / "real_run")
    total = time.perf_counter() - t0
    t = summary["timing"]
    return {
        "nodes": nodes,
        "blocks": blocks,
        "data": data,
        "total_s": total,
        "train_s": t["train_seconds"],
        "architectures_trained": t["architectures_trained"],
        "accepted": summary["counts"]["accepted"],
        "rejected": summary["counts"]["rejected"],
        "best_start": summary["best_score"]["start"],
        "best_end": summary["best_score"]["end"],
        "ledger_blocks": summary["ledger_report"]["n_blocks"],
        "conserved": summary["supply"]["conserved"],
    }


def bench_acceptance(seeds: int, rules: list[str], weak: bool) -> dict:
    """Rates and ROI of the default preset per acceptance rule."""
    variants: dict[str, dict] = {r: {"consensus.rule": r} for r in rules}
    for r in rules:  # the same rule on the old default committee
        variants[f"{r}, 16 seats"] = {
            "consensus.rule": r,
            "consensus.committee_size": 16,
        }
    if weak:
        variants["paired, weak pairing"] = {
            "consensus.rule": "paired",
            "surrogate.block_share": 0.5,
            "surrogate.train_share": 0.5,
        }
    out = {}
    for name, overrides in variants.items():
        cfg = with_overrides(PRESETS["default"], overrides)
        t0 = time.perf_counter()
        s = seed_summary(run_seeds(cfg, seeds))
        s["seconds"] = time.perf_counter() - t0
        out[name] = s
    return out


def acceptance_rows(results: dict) -> list[str]:
    """A markdown table of :func:`bench_acceptance`'s results."""

    def pct(x: tuple) -> str:
        return f"{100 * x[0]:.2f}% [{100 * x[1]:.2f}, {100 * x[2]:.2f}] ({x[3]}/{x[4]})"

    types = list(next(iter(results.values()))["roi"])
    head = "| rule | false accepts | false rejects | " + " | ".join(types) + " |"
    rows = [head, "|" + "---|" * (3 + len(types))]
    for name, s in results.items():
        roi = " | ".join(
            f"{100 * s['roi'][t][0]:+.2f} [{100 * s['roi'][t][1]:+.2f}, "
            f"{100 * s['roi'][t][2]:+.2f}]"
            for t in types
        )
        rows.append(
            f"| {name} | {pct(s['false_accept'])} | {pct(s['false_reject'])} | {roi} |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--blocks", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-ledger", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--real-nodes", type=int, default=10)
    ap.add_argument("--real-blocks", type=int, default=20)
    ap.add_argument("--real-data", default="sample", choices=("synthetic", "sample"))
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument(
        "--acceptance", type=int, default=8, help="seeds of the rule check (0: skip)"
    )
    ap.add_argument("--rules", default="paired,supermajority")
    ap.add_argument("--no-weak-pairing", action="store_true")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)

    results: dict = {"machine": machine_info()}
    rows: list[tuple[str, str]] = []
    if not args.skip_scale:
        results["scale"] = s = bench_scale(args.nodes, args.blocks, args.repeats)
        rows += [
            ("surrogate scale run", ""),
            ("nodes x blocks", f"{s['nodes']} x {s['blocks']}"),
            ("slots x committee", f"{s['slots']} x {s['committee']}"),
            ("compile (s)", f"{s['compile_s']:.2f}"),
            ("steady state (s)", f"{s['steady_s']:.2f}"),
            ("blocks / s", f"{s['blocks_per_s']:.0f}"),
            ("supply conserved", str(s["conserved"])),
        ]
    table: list[str] = []
    if args.acceptance > 0:
        acc = bench_acceptance(
            args.acceptance, args.rules.split(","), not args.no_weak_pairing
        )
        results["acceptance"] = acc
        table = acceptance_rows(acc)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_ledger:
            results["ledger"] = g = bench_ledger(Path(tmp))
            rows += [
                ("", ""),
                ("full signed ledger", ""),
                ("nodes x blocks", f"{g['nodes']} x {g['blocks']}"),
                ("transactions", str(g["transactions"])),
                ("write (s)", f"{g['write_s']:.2f}"),
                ("verify (s)", f"{g['verify_s']:.2f}"),
                ("verify tx / s", f"{g['verify_tx_per_s']:.0f}"),
            ]
        if not args.skip_real:
            results["real"] = r = bench_real(
                Path(tmp), args.real_nodes, args.real_blocks, args.real_data
            )
            rows += [
                ("", ""),
                ("real-evaluator demo", r["data"]),
                ("nodes x blocks", f"{r['nodes']} x {r['blocks']}"),
                ("total (s)", f"{r['total_s']:.1f}"),
                ("training (s)", f"{r['train_s']:.1f}"),
                ("architectures trained", str(r["architectures_trained"])),
                ("accepted / rejected", f"{r['accepted']} / {r['rejected']}"),
            ]
    for label, value in rows:
        print(f"{label:<28}{value:>16}")
    if table:
        print(f"\nacceptance, default preset, {args.acceptance} seeds:")
        print("\n".join(table))
        for name, s in results["acceptance"].items():
            print(
                f"{name}: honest ROI above every attacker type in "
                f"{s['seeds_honest_above_all']}/{s['seeds']} seeds; "
                f"supply conserved: {s['conserved']}; "
                f"{s['seconds']:.1f} s"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
