"""Thin command line of the protocol simulation (``python -m nasjax.protocol``).

Options are ``key=value`` pairs mapped onto :class:`ProtocolConfig` fields
(dotted for nested ones; ``preset=NAME`` starts from a preset) or, after
``sweep``, also onto :class:`SweepConfig` fields prefixed ``sweep.``;
``out=DIR`` picks the output folder::

    python -m nasjax.protocol                                   # default preset
    python -m nasjax.protocol preset=attack out=outputs/attack
    python -m nasjax.protocol n_nodes=50 consensus.committee_size=8 agents.ring=0.3
    python -m nasjax.protocol preset=real                       # real evaluator
    python -m nasjax.protocol sweep sweep.shares=[0.1,0.3,0.5] sweep.seeds=1
    python -m nasjax.protocol verify outputs/protocol/ledger.jsonl
    python -m nasjax.protocol chain=evm n_blocks=50      # settle on the in-process EVM
    python -m nasjax.protocol verify outputs/protocol/chain_events.jsonl
    python -m nasjax.protocol preset=real chain=rpc n_nodes=4 n_blocks=6 \
        consensus.rule=median consensus.committee_size=3  # anvil + 4 node processes
    python -m nasjax.protocol verify --crashed LEDGER   # its writer crashed
    python -m nasjax.protocol recover LEDGER            # cut a torn last write

``verify`` refuses a ledger without its close block (cut off, or its writer
crashed: then say so with ``--crashed``) and, when the run's
``summary.json`` lies beside the ledger, one that does not end at the head
and height the summary records.

All the work happens in library functions (:func:`run_protocol`,
:func:`sweep`, :func:`verify_ledger`); this module only parses arguments.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal, ``[a,b]`` of bare words, or text."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [parse_value(t) for t in text[1:-1].split(",") if t.strip()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_args(args: Sequence[str]) -> tuple[Any, Any, Path]:
    """``key=value`` arguments -> ``(ProtocolConfig, SweepConfig, out_dir)``.

    Raises:
        SystemExit: On a malformed or unknown option.
    """
    from nasjax.protocol.config import PRESETS, with_overrides
    from nasjax.protocol.sweep import SweepConfig

    overrides: dict[str, Any] = {}
    sweep_kw: dict[str, Any] = {}
    preset, out = "default", None
    for arg in args:
        if "=" not in arg:
            raise SystemExit(f"nasjax.protocol: expected key=value, got {arg!r}")
        key, raw = arg.split("=", 1)
        if key == "out":
            out = Path(raw)
        elif key == "preset":
            preset = raw
        elif key.startswith("sweep."):
            sweep_kw[key.removeprefix("sweep.")] = parse_value(raw)
        else:
            overrides[key] = parse_value(raw)
    if preset not in PRESETS:
        raise SystemExit(
            f"nasjax.protocol: unknown preset {preset!r}; {sorted(PRESETS)}"
        )
    try:
        cfg = with_overrides(PRESETS[preset], overrides)
        grid = SweepConfig(**sweep_kw)
    except (KeyError, TypeError, ValueError) as err:
        raise SystemExit(f"nasjax.protocol: bad configuration: {err}") from None
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return cfg, grid, out or Path("outputs") / f"protocol_{stamp}"


def _summary_anchor(ledger: Path) -> dict[str, Any] | None:
    """The head recorded in the run's ``summary.json`` beside ``ledger``."""
    path = ledger.parent / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    recorded = summary.get("ledger") if isinstance(summary, dict) else None
    report = summary.get("ledger_report") if isinstance(summary, dict) else None
    if not recorded or Path(recorded).name != ledger.name:
        return None
    return report if isinstance(report, dict) else None


def verify_command(args: Sequence[str]) -> int:
    """``verify [--crashed] LEDGER``: exit 0 if sound, 1 if not."""
    from nasjax.protocol.ledger import LedgerError, verify_ledger

    flags = [a for a in args if a.startswith("--")]
    paths = [a for a in args if not a.startswith("--")]
    if len(paths) != 1 or set(flags) - {"--crashed"}:
        raise SystemExit("usage: python -m nasjax.protocol verify [--crashed] LEDGER")
    ledger = Path(paths[0])
    if ledger.name == "chain_events.jsonl":
        return verify_chain_command(ledger)
    anchor = _summary_anchor(ledger)
    try:
        report = verify_ledger(ledger, crashed="--crashed" in flags, anchor=anchor)
    except LedgerError as err:
        print(f"INVALID: {err}")
        return 1
    out = report.to_dict()
    out["anchor"] = "summary.json" if anchor is not None else None
    print(json.dumps(out, indent=2))
    return 0


def verify_chain_command(events_path: Path) -> int:
    """Replay a ``chain=evm`` run's contract events against its snapshot."""
    from nasjax.protocol.evm import ChainError, verify_events

    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    snapshot = json.loads((events_path.parent / "chain_snapshot.json").read_text())
    try:
        report = verify_events(events, snapshot)
    except ChainError as err:
        print(f"INVALID: {err}")
        return 1
    print(json.dumps(report, indent=2))
    return 0


def recover_command(args: Sequence[str]) -> int:
    """``recover LEDGER``: cut a torn last write; exit 0 if the rest is sound."""
    from nasjax.protocol.ledger import LedgerError, recover_ledger

    if len(args) != 1:
        raise SystemExit("usage: python -m nasjax.protocol recover LEDGER")
    try:
        report = recover_ledger(args[0])
    except LedgerError as err:
        print(f"INVALID: {err}")
        return 1
    print(json.dumps(report.to_dict(), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if args[:1] == ["verify"]:
        return verify_command(args[1:])
    if args[:1] == ["recover"]:
        return recover_command(args[1:])
    if args[:1] == ["sweep"]:
        from nasjax.protocol.sweep import sweep

        cfg, grid, out = parse_args(args[1:])
        frame = sweep(cfg, grid, out)
        print(frame)
        print(
            f"{int(frame['holds'].sum())}/{frame.height} points hold; outputs in {out}/"
        )
        return 0
    from nasjax.protocol.run import run_protocol

    cfg, _, out = parse_args(args)
    summary = run_protocol(cfg, out, progress=cfg.evaluator == "real")
    if summary["chain"] == "rpc":
        from nasjax.protocol.rpc_run import rpc_line

        print(rpc_line(summary) + f"; outputs in {out}/")
        return 0
    _print(summary, out)
    return 0


def _print(summary: dict[str, Any], out: Path) -> None:
    roi = ", ".join(
        f"{k} {100 * v:+.2f}%" for k, v in summary["roi"].items() if v is not None
    )
    fa, fr = summary["false_accept_rate"], summary["false_reject_rate"]
    s = summary["supply"]
    print(f"ROI: {roi}")
    print(
        "false-accept rate: "
        + ("-" if fa is None else f"{100 * fa:.2f}%")
        + ", false-reject rate: "
        + ("-" if fr is None else f"{100 * fr:.1f}%")
        + f", holds: {summary['holds']}"
    )
    print(
        f"supply (micro-tokens): initial {s['initial']} + emitted {s['emitted']} "
        f"- burned {s['burned']} = final {s['final']} (conserved: {s['conserved']})"
    )
    b = summary["best_score"]
    print(f"best score: {b['start']:.4f} -> {b['end']:.4f} (true {b['true_end']:.4f})")
    print(f"ledger: {summary['ledger']}; outputs in {out}/")


__all__ = ["main", "parse_args", "parse_value"]
