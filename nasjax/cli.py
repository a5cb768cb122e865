"""Command-line entry point (``python -m nasjax`` / ``nasjax``).

Until the Hydra application lands, options are ``key=value`` pairs mapped onto
:class:`nasjax.run.RunConfig` fields (and ``train.<field>`` onto its
:class:`nasjax.train.TrainConfig`)::

    python -m nasjax                                  # default search, bundled data
    python -m nasjax searcher=random rounds=2 population=4 train.n_steps=50
    python -m nasjax data=synthetic out=outputs/synthetic
    python -m nasjax demo                             # the foundation demo
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _value(text: str):
    """Parse a command-line value: Python literals, ``[a,b]`` lists of bare
    words, else the string itself."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        items = [t for t in text[1:-1].split(",") if t.strip()]
        return [_value(t) for t in items]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(args: Sequence[str]):
    """``key=value`` arguments -> ``(RunConfig, out_dir)``.

    Raises:
        SystemExit: With a clear message for a malformed or unknown key.
    """
    from nasjax.run import RunConfig

    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    base = RunConfig()
    train_fields = {f.name for f in dataclasses.fields(base.train)}
    top, train, out = {}, {}, None
    for arg in args:
        if "=" not in arg:
            raise SystemExit(f"nasjax: expected key=value, got {arg!r}")
        key, raw = arg.split("=", 1)
        value = _value(raw)
        if key == "out":
            out = Path(raw)
        elif key.startswith("train."):
            name = key.removeprefix("train.")
            if name not in train_fields:
                raise SystemExit(f"nasjax: unknown train option {name!r}")
            train[name] = value
        elif key in run_fields:
            top[key] = tuple(value) if isinstance(value, list) else value
        else:
            raise SystemExit(
                f"nasjax: unknown option {key!r}; options: {sorted(run_fields)}"
            )
    try:
        cfg = dataclasses.replace(
            base, **top, train=dataclasses.replace(base.train, **train)
        )
    except (TypeError, ValueError) as err:
        raise SystemExit(f"nasjax: bad configuration: {err}") from None
    out = out or Path("outputs") / time.strftime("%Y-%m-%d_%H-%M-%S")
    return cfg, out


def _fmt(metric: dict | None) -> str:
    if not metric or metric.get("value") is None:
        return "-"
    low, high = metric.get("low"), metric.get("high")
    if low is None or high is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{low:.3f}, {high:.3f}]"


def print_summary(summary: dict, out_dir: Path, console: Console) -> None:
    """Best architecture vs baselines on the untouched test period."""
    table = Table(title=f"test period ({summary.get('n_test', '?')} samples), 95% CI")
    for col in ("model", "accuracy", "balanced acc.", "MCC", "AUC"):
        table.add_column(col)
    rows = [("nasjax best", summary["best"]["test"])]
    rows += [(name, b.get("metrics", {})) for name, b in summary["baselines"].items()]
    for name, m in rows:
        table.add_row(
            name,
            _fmt(m.get("accuracy")),
            _fmt(m.get("balanced_accuracy")),
            _fmt(m.get("mcc")),
            _fmt(m.get("roc_auc")),
        )
    console.print(table)
    best = summary["best"]
    console.print(
        f"best architecture {best['fingerprint'][:12]} "
        f"({best['params_count']} params), "
        f"validation fitness {best['fitness']:.4f}; {summary['n_evaluations']} "
        f"evaluations by {summary['searcher']}. Outputs in {out_dir}/"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the default search on the bundled sample (or the demo)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:
        from nasjax.demo import run_demo

        run_demo()
        return
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    from nasjax.run import run_search

    cfg, out = parse_overrides(args)
    console = Console()
    console.print(f"[bold]nasjax[/] {cfg.searcher} search -> {out}")
    summary = run_search(cfg, out)
    print_summary(summary, out, console)
