"""``run_protocol``: one simulation from a config to its output folder.

Writes

* ``metrics.parquet``: one row per block (counts, supply, stake shares per
  agent type, Gini / Nakamoto, compute, best scores),
* ``summary.json``: ROI per agent type, false-accept / false-reject rates,
  supply (initial, emitted, burned, final), best score (start, end), ledger
  path and verification report, timings,
* the ledger (``cfg.ledger.filename``) unless ``ledger.mode == "none"``,
* ``plots/`` (``best_score.png``, ``stake.png``, ``roi.png``,
  ``proposals.png``) when ``cfg.plots``.

Surrogate runs execute the whole chain in one ``lax.scan``; the ledger is
written afterwards on the host from the recorded per-block events (full
mode) or as signed checkpoints (summary mode). Real-evaluator runs go block
by block, each block's beacon coming from the previous block's hash.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl

from nasjax.protocol.chain import ChainRecorder
from nasjax.protocol.config import ProtocolConfig, to_dict
from nasjax.protocol.crypto import sha256_hex
from nasjax.protocol.ledger import verify_ledger
from nasjax.protocol.metrics import PROPOSAL_COUNTS, summarize
from nasjax.protocol.state import init_state, make_params
from nasjax.protocol.step import compile_simulation
from nasjax.protocol.tokens import UNITS_PER_TOKEN
from nasjax.protocol.types import AGENT_TYPES, SLASH_CAUSES, BlockEvents, State
from nasjax.protocol.x64 import x64_mode
from nasjax.serialize import json_default

CHAIN_EVENTS = "chain_events.jsonl"
"""Events of the market contract (``chain=evm``), one JSON object a line."""
CHAIN_SNAPSHOT = "chain_snapshot.json"
"""The contract's stored holdings and counters at the end of the run."""


def state_digest(state: State) -> str:
    """Hex SHA-256 over every leaf of a state (host bytes, in tree order)."""
    leaves = jax.tree.leaves(state)
    return sha256_hex(*(np.ascontiguousarray(np.asarray(x)).tobytes() for x in leaves))


def metrics_frame(metrics: Mapping[str, np.ndarray]) -> pl.DataFrame:
    """Per-block metrics as a table (amounts in tokens, supply also in units)."""
    m = {k: np.asarray(v) for k, v in metrics.items()}
    cols: dict[str, Any] = {"block": m["block"].astype(np.int64)}
    for name in ("best_score", "best_true"):
        x = m[name].reshape(len(cols["block"]), -1)
        cols[name] = x.mean(axis=1)
        if x.shape[1] > 1:
            for t in range(x.shape[1]):
                cols[f"{name}_task{t}"] = x[:, t]
    for name in (
        "producer",
        *PROPOSAL_COUNTS,
        "validator_evals",
        "proposer_trainings",
    ):
        cols[name] = m[name].astype(np.int64)
    for name in ("emitted", "burned", "fees"):
        cols[name] = m[name] / UNITS_PER_TOKEN
    for c, cause in enumerate(SLASH_CAUSES):
        cols[f"slashed_{cause}"] = m["slashed"][:, c] / UNITS_PER_TOKEN
    cols["supply"] = m["supply"] / UNITS_PER_TOKEN
    cols["supply_units"] = m["supply"].astype(np.int64)
    cols["supply_expected_units"] = m["supply_expected"].astype(np.int64)
    stake = m["stake_by_type"].astype(np.float64)
    total = np.maximum(stake.sum(axis=1, keepdims=True), 1.0)
    for t, name in enumerate(AGENT_TYPES):
        cols[f"stake_share_{name}"] = stake[:, t] / total[:, 0]
    cols["gini"] = m["gini"]
    cols["nakamoto"] = m["nakamoto"].astype(np.int64)
    return pl.DataFrame(cols)


def _events_at(events: BlockEvents, t: int) -> BlockEvents:
    return jax.tree.map(lambda x: x[t], events)


def _row(metrics: Mapping[str, np.ndarray], t: int) -> dict[str, np.ndarray]:
    return {k: v[t] for k, v in metrics.items()}


def _recorder(
    cfg: ProtocolConfig, path: Path, state: State, candidate=None
) -> ChainRecorder:
    supply = {
        "initial": int(state.initial_supply),
        "emitted": int(state.emitted),
        "burned": int(state.burned),
        "total": int(state.initial_supply) - int(state.burned),
    }
    return ChainRecorder(
        path,
        cfg.seed,
        np.asarray(state.endowment),
        supply,
        info={"config": to_dict(cfg)},
        fsync=cfg.ledger.fsync,
        candidate=candidate,
    )


def _checkpoints(
    rec: ChainRecorder, metrics: Mapping[str, np.ndarray], every: int, final: State
) -> None:
    n = len(metrics["block"])
    for start in range(0, n, every):
        stop = min(start + every, n)
        rows = {k: v[start:stop] for k, v in metrics.items()}
        digest = state_digest(final) if stop == n else None
        rec.checkpoint(start, stop, rows, digest)


def _surrogate(
    cfg: ProtocolConfig, ledger: Path | None
) -> tuple[State, State, dict[str, np.ndarray], dict[str, float]]:
    with x64_mode():
        params = make_params(cfg)
        initial = init_state(cfg)
        key = jax.random.key(cfg.seed)
        record = ledger is not None and cfg.ledger.mode == "full"
        t0 = time.perf_counter()
        compiled = compile_simulation(
            params, initial, key, cfg.n_blocks, record_events=record
        )
        t1 = time.perf_counter()
        final, out = compiled(params, initial, key)
        jax.block_until_ready(final)
        t2 = time.perf_counter()
    metrics = {k: np.asarray(v) for k, v in out.metrics._asdict().items()}
    timing = {"compile_seconds": t1 - t0, "simulate_seconds": t2 - t1}
    if ledger is not None:
        t3 = time.perf_counter()
        rec = _recorder(cfg, ledger, initial)
        if record:
            assert out.events is not None
            events = jax.tree.map(np.asarray, out.events)
            for t in range(cfg.n_blocks):
                rec.block(t, _events_at(events, t), _row(metrics, t))
        else:
            _checkpoints(rec, metrics, cfg.ledger.every, final)
        rec.close()
        timing["ledger_write_seconds"] = time.perf_counter() - t3
    return initial, final, metrics, timing


def _real(
    cfg: ProtocolConfig, ledger: Path | None, progress: bool
) -> tuple[State, State, dict[str, np.ndarray], dict[str, Any]]:
    from nasjax.protocol.real_run import run_real

    full = ledger is not None and cfg.ledger.mode == "full"
    recorders: list[ChainRecorder] = []

    def factory(state: State, candidate) -> ChainRecorder:
        assert ledger is not None
        recorders.append(_recorder(cfg, ledger, state, candidate))
        return recorders[-1]

    def show(t: int, row: Mapping[str, np.ndarray]) -> None:
        if progress:
            best = float(np.mean(row["best_score"]))
            print(
                f"block {t + 1}/{cfg.n_blocks}: accepted {int(row['accepted'])} "
                f"rejected {int(row['rejected'])} best {best:.4f}",
                flush=True,
            )

    t0 = time.perf_counter()
    run = run_real(cfg, factory if full else None, show)
    timing: dict[str, Any] = {
        "run_seconds": time.perf_counter() - t0,
        "train_seconds": run.train_seconds,
        "architectures_trained": run.evaluations,
    }
    if ledger is not None and not full:
        rec = _recorder(cfg, ledger, run.initial)
        _checkpoints(rec, run.metrics, cfg.ledger.every, run.final)
        rec.close()
    elif recorders:
        recorders[-1].close()
    return run.initial, run.final, run.metrics, timing


def _evm(
    cfg: ProtocolConfig, out: Path
) -> tuple[State, State, dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """Settle on the embedded EVM; write and verify the chain's events."""
    from nasjax.protocol.evm import chain_snapshot, verify_events
    from nasjax.protocol.evm_run import run_on_chain

    res = run_on_chain(cfg)
    chain = res["chain"]
    snapshot = chain_snapshot(chain)
    with (out / CHAIN_EVENTS).open("w") as f:
        for ev in chain.events:
            f.write(json.dumps(ev, default=json_default) + "\n")
    (out / CHAIN_SNAPSHOT).write_text(json.dumps(snapshot))
    t0 = time.perf_counter()
    report = verify_events(chain.events, snapshot)
    timing = dict(res["timing"], chain_verify_seconds=time.perf_counter() - t0)
    report.update(
        events=str(out / CHAIN_EVENTS),
        contract=str(chain.contract.address),
        transactions=chain.n_tx,
        accepted_pids=res["accepted"],
    )
    return res["initial"], res["final"], res["metrics"], timing, report


def _progress(on: bool):
    """A progress printer (or a sink)."""
    return print if on else (lambda _msg: None)


def run_protocol(
    cfg: ProtocolConfig, out_dir: str | Path, *, progress: bool = False
) -> dict[str, Any]:
    """Run one simulation and write its outputs.

    Args:
        cfg: The configuration.
        out_dir: Output folder (created; must not already hold a ledger).
        progress: Print a line per block (real evaluator only).

    Returns:
        The summary written to ``out_dir/summary.json``.

    Raises:
        FileExistsError: If the folder already holds a ledger (ledgers are
            append-only; use a new folder).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ledger = None if cfg.ledger.mode == "none" else out / cfg.ledger.filename
    if ledger is not None and ledger.exists():
        raise FileExistsError(
            f"{ledger} exists; ledgers are append-only, use a new out_dir"
        )
    if cfg.chain == "rpc":
        from nasjax.protocol.rpc_run import run_rpc

        evaluator = "real" if cfg.evaluator == "real" else "hash"
        return run_rpc(cfg, out, evaluator=evaluator, log=_progress(progress))
    t0 = time.perf_counter()
    chain_report = None
    if cfg.chain == "evm":
        ledger = None  # the contract's events replace the signed ledger
        initial, final, metrics, timing, chain_report = _evm(cfg, out)
    elif cfg.evaluator == "surrogate":
        initial, final, metrics, timing = _surrogate(cfg, ledger)
    else:
        initial, final, metrics, timing = _real(cfg, ledger, progress)
    frame = metrics_frame(metrics)
    frame.write_parquet(out / "metrics.parquet")
    summary = summarize(metrics, final, initial)
    report = None
    if ledger is not None:
        t1 = time.perf_counter()
        report = verify_ledger(ledger).to_dict()
        timing["ledger_verify_seconds"] = time.perf_counter() - t1
    summary.update(
        evaluator=cfg.evaluator,
        n_nodes=cfg.n_nodes,
        n_blocks=cfg.n_blocks,
        agents={
            name: int(np.sum(np.asarray(initial.types) == code))
            for code, name in enumerate(AGENT_TYPES)
        },
        ledger=str(ledger) if ledger is not None else None,
        ledger_mode=cfg.ledger.mode,
        ledger_report=report,
        chain=cfg.chain,
        chain_report=chain_report,
        config=to_dict(cfg),
    )
    if cfg.plots:
        from nasjax.protocol.plots import plot_run

        summary["plots"] = [
            Path(p).absolute().relative_to(out.absolute()).as_posix()
            for p in plot_run(frame, summary["roi"], out / "plots")
        ]
    timing["total_seconds"] = time.perf_counter() - t0
    summary["timing"] = timing
    summary = json.loads(json.dumps(summary, default=json_default))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
