"""Data-pipeline benchmark: 15 coins x 3 years of 5-minute Binance CSVs.

Usage::

    .venv/bin/python benchmarks/bench_data.py [--cache DIR] [--coins 15] [--years 3]

Writes synthetic random-walk Binance kline CSVs (one file per coin and month,
like data.binance.vision) once into the cache dir, then times, each in a fresh
subprocess (so peak RSS is per pipeline): nasjax (load_ohlcv -> align_panel ->
build_dataset: features, labels, walk-forward folds, norm stats, device arrays)
and the same pipeline written naively in pandas, ``--repeat`` times each
(default 3). Prints a table of per-stage medians, plus the child's whole
CPU time (user + sys, imports included: a load-independent cross-check when
other jobs share the machine).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

STEP_MS = 300_000
T0_MS = 1_577_836_800_000  # 2020-01-01 UTC


def month_starts(years: int) -> list[tuple[str, int, int]]:
    """(YYYY-MM, first ms, end ms) of each month."""
    import datetime as dt

    out = []
    for i in range(12 * years):
        y, m = 2020 + i // 12, i % 12 + 1
        a = dt.datetime(y, m, 1, tzinfo=dt.UTC)
        b = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=dt.UTC)
        out.append(
            (f"{y:04d}-{m:02d}", int(a.timestamp() * 1e3), int(b.timestamp() * 1e3))
        )
    return out


def generate(cache: Path, coins: int, years: int) -> Path:
    """Writes the CSVs once; returns the folder."""
    import polars as pl

    folder = cache / f"binance_{coins}x{years}y"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for c in range(coins):
        sym = f"C{c:02d}USDT"
        price = float(np.exp(rng.uniform(0, 8)))
        for month, a, b in month_starts(years):
            t = np.arange(a, b, STEP_MS, dtype=np.int64)
            r = rng.normal(0, 0.002, len(t))
            close = price * np.exp(np.cumsum(r))
            open_ = np.r_[price, close[:-1]]
            price = float(close[-1])
            wick = np.abs(rng.normal(0, 0.001, (2, len(t))))
            vol = np.exp(rng.normal(5, 1, len(t)))
            pl.DataFrame(
                {
                    "open_time": t,
                    "open": open_,
                    "high": np.maximum(open_, close) * np.exp(wick[0]),
                    "low": np.minimum(open_, close) * np.exp(-wick[1]),
                    "close": close,
                    "volume": vol,
                    "close_time": t + STEP_MS - 1,
                    "quote_volume": vol * close,
                    "count": rng.integers(1, 1000, len(t)),
                    "taker_buy_volume": vol / 2,
                    "taker_buy_quote_volume": vol * close / 2,
                    "ignore": np.zeros(len(t), np.int64),
                }
            ).write_csv(folder / f"{sym}-5m-{month}.csv", include_header=False)
    done.touch()
    return folder


def run_nasjax(folder: Path) -> dict[str, float]:
    from nasjax.data import (
        FeatureConfig,
        FoldConfig,
        align_panel,
        build_dataset,
        compute_features,
        load_ohlcv,
        make_labels,
    )

    # nasjax first: importing it sets an XLA flag before jax initialises.
    jax = importlib.import_module("jax")

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    df = load_ohlcv(folder, timeframe="5m")
    times["load"] = time.perf_counter() - t0
    t = time.perf_counter()
    panel = align_panel(df, "5m")
    times["align"] = time.perf_counter() - t
    t = time.perf_counter()
    feats, _ = compute_features(panel, FeatureConfig())  # type: ignore[arg-type]
    make_labels(feats, horizon=1)
    times["features+labels"] = time.perf_counter() - t
    del feats
    t = time.perf_counter()
    ds, _folds, _stats = build_dataset(
        panel,
        FeatureConfig(),
        horizon=1,
        window=32,
        folds=FoldConfig(n_folds=4),  # type: ignore[arg-type]
    )
    jax.block_until_ready(ds)
    times["build_dataset"] = time.perf_counter() - t
    # The end-to-end pipeline is load + align + build_dataset (which computes
    # features and labels itself); the separate features+labels line is a
    # breakdown, not added to the total.
    times["total"] = times["load"] + times["align"] + times["build_dataset"]
    times["rows"] = float(df.height)
    times["shape"] = float(np.prod(ds.features.shape))
    return times


def run_pandas(folder: Path) -> dict[str, float]:
    import pandas as pd

    cols = [
        "open_time", "open", "high", "low", "close", "volume", "close_time",
        "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume",
        "ignore",
    ]  # fmt: skip
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    frames = []
    for f in sorted(folder.glob("*.csv")):
        d = pd.read_csv(f, header=None, names=cols)
        d["symbol"] = f.name.split("-")[0]
        frames.append(d)
    df = pd.concat(frames, ignore_index=True)
    df["timestamp"] = pd.to_datetime(df["open_time"], unit="ms", utc=True)
    df = df.sort_values(["symbol", "timestamp"])
    assert not df.duplicated(["symbol", "timestamp"]).any()
    times["load"] = time.perf_counter() - t0
    t = time.perf_counter()
    start = df.groupby("symbol")["timestamp"].min().max()
    end = df.groupby("symbol")["timestamp"].max().min()
    grid = pd.date_range(start, end, freq="5min")
    parts = []
    for sym, g in df.groupby("symbol"):
        g = g.set_index("timestamp").reindex(grid)
        g["filled"] = g["close"].isna()
        g["close"] = g["close"].ffill()
        for c in ("open", "high", "low"):
            g[c] = g[c].fillna(g["close"])
        g["volume"] = g["volume"].fillna(0.0)
        g["symbol"] = sym
        parts.append(g)
    panel = pd.concat(parts).rename_axis("timestamp").reset_index()
    times["align"] = time.perf_counter() - t
    t = time.perf_counter()
    gb = panel.groupby("symbol", group_keys=False)
    logc = np.log(panel["close"])
    panel["ret_1"] = logc - gb["close"].shift(1).pipe(np.log)
    for lag in (1, 3, 12):
        panel[f"ret_{lag}"] = logc - np.log(gb["close"].shift(lag))
    for w in (12, 48):
        panel[f"vol_{w}"] = gb["ret_1"].transform(lambda s, w=w: s.rolling(w).std())
    panel["hl_range"] = np.log(panel["high"] / panel["low"])
    lv = np.log1p(panel["volume"])
    panel["lv"] = lv
    m = gb["lv"].transform(lambda s: s.rolling(48).mean())
    sd = gb["lv"].transform(lambda s: s.rolling(48).std())
    panel["volume_z_48"] = (lv - m) / (sd + 1e-6)
    panel["mkt_ret_1"] = panel.groupby("timestamp")["ret_1"].transform("mean")
    minutes = panel["timestamp"].dt.hour * 60 + panel["timestamp"].dt.minute
    day = minutes / 1440.0
    week = (panel["timestamp"].dt.weekday + day) / 7.0
    panel["tod_sin"], panel["tod_cos"] = (
        np.sin(2 * np.pi * day),
        np.cos(2 * np.pi * day),
    )
    panel["dow_sin"], panel["dow_cos"] = (
        np.sin(2 * np.pi * week),
        np.cos(2 * np.pi * week),
    )
    wide = panel.pivot(index="timestamp", columns="symbol", values="ret_1")
    wide.columns = [f"ret_1@{c}" for c in wide.columns]
    panel = panel.merge(wide, left_on="timestamp", right_index=True, how="left")
    fwd = np.log(gb["close"].shift(-1)) - logc
    panel["forward_return"] = fwd
    panel["label"] = np.where(fwd > 0, 1, 0)
    names = [
        c
        for c in panel.columns
        if c.startswith(("ret_", "vol_", "hl_", "volume_z", "mkt", "tod", "dow"))
    ]
    times["features+labels"] = time.perf_counter() - t
    t = time.perf_counter()
    panel = panel.sort_values(["timestamp", "symbol"])
    n_sym = panel["symbol"].nunique()
    x = panel[names].to_numpy(np.float32).reshape(-1, n_sym, len(names))
    valid = np.isfinite(x).all(-1)
    x = np.nan_to_num(x)
    n = x.shape[0]
    for k in range(4):  # naive per-fold stats over a copied train slice
        end = n // 2 + k * n // 10
        tr = x[:end][valid[:end]]
        tr.mean(0), tr.std(0)
    times["build_dataset"] = time.perf_counter() - t
    times["total"] = (
        times["load"]
        + times["align"]
        + times["features+labels"]
        + times["build_dataset"]
    )
    times["rows"] = float(len(df))
    return times


def child(which: str, folder: Path) -> None:
    out = run_nasjax(folder) if which == "nasjax" else run_pandas(folder)
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/nasjax_bench_data"))
    ap.add_argument("--coins", type=int, default=15)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--child", choices=["nasjax", "pandas"])
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each pipeline; the table shows per-stage medians",
    )
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder)
        return
    t = time.perf_counter()
    folder = generate(args.cache, args.coins, args.years)
    n_files = len(list(folder.glob("*.csv")))
    took = time.perf_counter() - t
    print(f"data: {folder} ({n_files} CSV files, prepared in {took:.1f} s)")
    results = {}
    for which in ["nasjax"] + ([] if args.skip_pandas else ["pandas"]):
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        runs = []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run(
                [sys.executable, __file__, "--child", which, "--folder", str(folder)],
                check=True, capture_output=True, text=True, env=env,
            )  # fmt: skip
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            run["cpu_s"] = (after.ru_utime - before.ru_utime) + (
                after.ru_stime - before.ru_stime
            )
            runs.append(run)
            print(f"{which} run: " + ", ".join(f"{k}={v:.2f}" for k, v in run.items()))
        results[which] = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    stages = [
        "load",
        "align",
        "features+labels",
        "build_dataset",
        "total",
        "peak_rss_gb",
        "cpu_s",
    ]
    print(f"rows: {int(results['nasjax']['rows']):,}; medians of {args.repeat} runs")
    header = "| stage | nasjax (polars) |" + (
        " pandas (naive) | ratio |" if "pandas" in results else ""
    )
    print(header)
    print("|---|---|" + ("---|---|" if "pandas" in results else ""))
    for s in stages:
        unit = "GB" if s == "peak_rss_gb" else "s"  # cpu_s: user+sys, whole child
        a = results["nasjax"][s]
        line = f"| {s} | {a:.2f} {unit} |"
        if "pandas" in results:
            b = results["pandas"][s]
            line += f" {b:.2f} {unit} | {b / a:.1f}x |"
        print(line)


if __name__ == "__main__":
    main()
