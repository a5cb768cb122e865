"""``evaluation_report``: metrics + CIs + per coin + trading + paired tests."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasjax.data.dataset import Dataset
from nasjax.evaluate.bootstrap import bootstrap_ci, paired_test
from nasjax.evaluate.leakage import check_leakage
from nasjax.evaluate.metrics import METRICS
from nasjax.evaluate.plots import calibration_table, plot_calibration, plot_equity
from nasjax.evaluate.trading import strategy_returns, trading_summary


def split_arrays(dataset: Dataset, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Host labels, forward returns, coin and time index of sample ids.

    Returns:
        ``{"labels", "forward_return", "coin", "time"}``, ordered like ``ids``.
    """
    ids = np.asarray(ids, np.int64)
    n_sym = dataset.labels.shape[1]
    return {
        "labels": np.asarray(dataset.labels).reshape(-1)[ids],
        "forward_return": np.asarray(dataset.forward_return).reshape(-1)[ids],
        "coin": ids % n_sym,
        "time": ids // n_sym,
    }


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def evaluation_report(
    predictions: Mapping[str, np.ndarray],
    labels: np.ndarray,
    forward_return: np.ndarray,
    coin: np.ndarray,
    time: np.ndarray,
    *,
    symbols: Sequence[str] | None = None,
    reference: str | None = None,
    cost_bps: float = 5.0,
    rule: str = "long_short",
    n_boot: int = 500,
    block: int | None = None,
    seed: int = 0,
    real_data: bool = True,
    plot_dir: str | Path | None = None,
    timestamps: np.ndarray | None = None,
) -> dict[str, Any]:
    """Evaluate named up-probability predictions on the same samples.

    Args:
        predictions: ``name -> float[n]`` P(up), aligned with ``labels``;
            samples in time order (sorted sample ids).
        labels: ``int[n]`` in {0, 1}.
        forward_return: ``float[n]`` log return over the label horizon.
        coin: ``int[n]`` coin index; ``time``: ``int[n]`` bar index.
        symbols: Coin names for the per-coin table.
        reference: Model every other is paired-tested against (default the
            first of ``predictions``).
        cost_bps: Trading cost per unit turnover.
        rule: ``"long_short"`` or ``"long_flat"``.
        n_boot: Bootstrap resamples.
        block: Bootstrap block length (default ``ceil(n ** (1/3))``).
        seed: Bootstrap seed.
        real_data: Run the leakage guard (warns above 60% accuracy).
        plot_dir: If given, write ``equity.png`` and ``calibration.png`` there.
        timestamps: Optional ``datetime64`` bar times indexed by ``time``:
            the equity plot's x axis shows dates, and the report the test
            period's first and last bar (``period``).

    Returns:
        A JSON-serialisable dict: ``{"n", "models": {name: {"metrics":
        {metric: {"value", "low", "high"}}, "per_coin": {...}, "trading":
        {...}, "reliability": {"mean_p", "frequency", "count"} (10 equal-width
        bins of P(up)), "vs_reference": {...}}}, "buy_and_hold": {...}
        (always long, equal weight over coins, same costs), "period": [first,
        last] (with ``timestamps``), "plots": [...]}`` (non-finite numbers
        become None).
    """
    labels = np.asarray(labels)
    coin = np.asarray(coin)
    names = list(predictions)
    reference = names[0] if reference is None else reference
    coins = np.unique(coin)
    sym = list(symbols) if symbols is not None else [str(c) for c in coins]
    out: dict[str, Any] = {"n": len(labels), "reference": reference, "models": {}}
    nets = {}
    for name, p in predictions.items():
        p = np.asarray(p, np.float64)
        metrics = {}
        for m, fn in METRICS.items():
            v, lo, hi = bootstrap_ci(
                fn, labels, p, block=block, n_boot=n_boot, seed=seed
            )
            metrics[m] = {"value": v, "low": lo, "high": hi}
        per_coin = {}
        for c in coins:
            sel = coin == c
            per_coin[sym[int(c)] if symbols is not None else str(c)] = {
                m: fn(labels[sel], p[sel]) for m, fn in METRICS.items()
            } | {"n": int(sel.sum())}
        _, net, turn = strategy_returns(
            p, forward_return, coin, time, cost_bps=cost_bps, rule=rule
        )
        nets[name] = net
        mean_p, freq, count = calibration_table(labels, p)
        entry = {
            "metrics": metrics,
            "per_coin": per_coin,
            "trading": trading_summary(net, turn) | {"cost_bps": cost_bps},
            "reliability": {
                "mean_p": np.where(count > 0, mean_p, np.nan).tolist(),
                "frequency": np.where(count > 0, freq, np.nan).tolist(),
                "count": count.astype(int).tolist(),
            },
        }
        if name != reference:
            entry["vs_reference"] = paired_test(
                labels,
                p,
                np.asarray(predictions[reference]),
                block=block,
                n_boot=n_boot,
                seed=seed,
            )
        entry["leakage_alarm"] = check_leakage(
            metrics["accuracy"]["value"], real_data=real_data, name=name
        )
        out["models"][name] = entry
    bars, hold, hold_turn = strategy_returns(
        np.ones(len(labels)),
        forward_return,
        coin,
        time,
        cost_bps=cost_bps,
        rule="long_flat",
    )
    out["buy_and_hold"] = trading_summary(hold, hold_turn) | {"cost_bps": cost_bps}
    bar_times = None
    if timestamps is not None and len(bars):
        bar_times = np.asarray(timestamps)[bars]
        out["period"] = [_iso(bar_times[0]), _iso(bar_times[-1])]
    if plot_dir is not None:
        d = Path(plot_dir)
        d.mkdir(parents=True, exist_ok=True)
        equity = plot_equity(
            nets,
            d / "equity.png",
            title=f"Equity on test, {rule} rule",
            times=bar_times,
            cost_bps=cost_bps,
            benchmark={"buy and hold (equal weight)": hold},
        )
        out["plots"] = [
            str(equity),
            str(
                plot_calibration(
                    labels, predictions, d / "calibration.png", annotate=reference
                )
            ),
        ]
    return _clean(out)


def _iso(t: Any) -> str:
    """A bar time (``datetime64``) as ISO 8601 UTC (``2022-03-27T11:05:00Z``)."""
    return str(np.asarray(t).astype("datetime64[s]")) + "Z"


def to_json(report: Mapping[str, Any], path: str | Path | None = None) -> str:
    """Serialise a report (and optionally write it)."""
    text = json.dumps(report, indent=1, sort_keys=True)
    if path is not None:
        Path(path).write_text(text)
    return text
