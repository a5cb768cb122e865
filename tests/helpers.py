"""Builders shared by the tests: small buckets, tiny datasets, fast configs.

Every factory reproduces a construction the tests used to write by hand, so
the same arguments give the same values (same shapes, seeds and numbers).
Keyword overrides change one field and keep the rest.

Import them as ``from tests.helpers import small_spec, tiny_dataset`` (the
repository root is on ``sys.path`` under ``python -m pytest``, and ``tests``
is a package). A script run as a subprocess (``tests/distributed/
dist_worker.py``) puts the root on ``sys.path`` itself first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import polars as pl

import nasjax  # noqa: F401  (first: XLA settings)
from nasjax import nn
from nasjax.data import (
    Dataset,
    FeatureConfig,
    FoldConfig,
    FoldedData,
    SyntheticData,
    build_dataset,
    synthetic,
)
from nasjax.graph import Arch, ArchSpec, random_arch
from nasjax.train import TrainConfig

if TYPE_CHECKING:
    from nasjax.app.config import AppConfig

SEARCH_OPS: tuple[str, ...] = ("dense_gelu", "conv", "identity")
"""The three-op vocabulary of the search, surrogate and training tests."""

_SMALL_SPEC: dict[str, Any] = {
    "n_features": 3,
    "window": 8,
    "max_nodes": 8,
    "max_width": 16,
}
_FAST_TRAIN: dict[str, Any] = {
    "n_steps": 4,
    "eval_every": 2,
    "batch_size": 16,
    "eval_batch_size": 64,
    "max_eval_samples": 64,
    "warmup_steps": 0,
}


# --------------------------------------------------------------------------
# Buckets


EXPORT_FEATURES = FeatureConfig(
    return_lags=(1, 3),
    vol_windows=(6,),
    volume_window=12,
    market_return=True,
    calendar=True,
    reference_symbol=None,
)
"""Small features with every family an export must rebuild from candles."""


def small_spec(**overrides: Any) -> ArchSpec:
    """A small bucket that keeps compiles fast (the ``spec`` fixture).

    Args:
        **overrides: :class:`~nasjax.graph.ArchSpec` fields replacing the
            defaults ``n_features=3, window=8, max_nodes=8, max_width=16``
            (other fields keep ``ArchSpec``'s own defaults, all ops included).

    Returns:
        The bucket.
    """
    return ArchSpec(**{**_SMALL_SPEC, **overrides})


def search_spec(**overrides: Any) -> ArchSpec:
    """The small bucket with the three search ops (:data:`SEARCH_OPS`).

    The search, surrogate and multi-objective tests share it so that their
    compiles are shared too.

    Args:
        **overrides: Fields replacing those of :func:`small_spec`.

    Returns:
        ``small_spec(ops=SEARCH_OPS, **overrides)``.
    """
    return small_spec(**{"ops": SEARCH_OPS, **overrides})


def data_spec(data: FoldedData | Dataset, **overrides: Any) -> ArchSpec:
    """A small bucket fitted to a dataset: its feature count and window.

    Args:
        data: A :class:`~nasjax.data.FoldedData` (or its ``Dataset``); gives
            ``n_features`` (the last axis of the features) and ``window``
            (the window the dataset was built for).
        **overrides: Fields replacing the defaults ``max_nodes=4,
            max_width=16, ops=SEARCH_OPS`` (or the dataset-given ones).

    Returns:
        The bucket.
    """
    ds = data.dataset if isinstance(data, FoldedData) else data
    return ArchSpec(
        **{
            "n_features": int(ds.features.shape[-1]),
            "window": int(ds.meta.window),
            "max_nodes": 4,
            "max_width": 16,
            "ops": SEARCH_OPS,
            **overrides,
        }
    )


# --------------------------------------------------------------------------
# Architectures, parameters and inputs

_random_archs = jax.jit(jax.vmap(random_arch, in_axes=(0, None)), static_argnums=1)


def _keys(n: int, key: int | jax.Array) -> jax.Array:
    root = jax.random.key(key) if isinstance(key, int) else key
    return jax.random.split(root, n)


def toy_gp_target(enc: Any, lay: Any) -> Any:
    """A smooth known function of arch encodings ``float[n, D]`` (surrogate
    tests): the sum of the second feature group minus a kink in the fifth.

    Args:
        enc: Encoded archs.
        lay: Their :func:`nasjax.surrogate.layout`.

    Returns:
        ``float[n]`` targets.
    """
    lo, hi = lay.groups[1]
    return enc[:, lo:hi].sum(1) - 2.0 * np.abs(enc[:, lay.groups[4][0]] - 0.6)


def random_archs(spec: ArchSpec, n: int, key: int | jax.Array = 0) -> Arch:
    """A population of ``n`` random archs of one bucket.

    Member ``i`` is ``random_arch(jax.random.split(key, n)[i], spec)``
    exactly (one jitted ``vmap``: compiled once per bucket and size).

    Args:
        spec: The bucket.
        n: Population size.
        key: A PRNG key, or an int seed for ``jax.random.key``.

    Returns:
        The stacked archs, ``batch_shape == (n,)``.
    """
    return _random_archs(_keys(n, key), spec)


def random_members(
    spec: ArchSpec, n: int, key: int | jax.Array = 0
) -> tuple[Arch, Any]:
    """A random population and its initial parameters.

    Member ``i``'s arch and parameters both use key ``i`` of
    ``jax.random.split(key, n)``: the archs of :func:`random_archs` and
    ``jax.vmap(nasjax.nn.init)(keys, archs)``.

    Args:
        spec: The bucket.
        n: Population size.
        key: A PRNG key, or an int seed for ``jax.random.key``.

    Returns:
        ``(archs, params)``, both with a leading member axis of size ``n``.
    """
    keys = _keys(n, key)
    archs = _random_archs(keys, spec)
    return archs, jax.vmap(nn.init)(keys, archs)


def random_params(arch: Arch, seed: int = 0, scale: float = 0.3) -> Any:
    """Random host params of a single ``arch`` at its bucket's shapes.

    Every leaf (padding included) is ``scale`` times standard normal draws
    (edge gates: 1 plus such draws, so signals cross deep chains):
    cheap (shapes from ``jax.eval_shape(nn.init, ...)``, no op is run; an
    eager ``nn.init`` of a bucket with every op takes seconds) and far from a
    fresh init, so every weight, edge gate and readout weight matters.

    Args:
        arch: The architecture.
        seed: Seed of the numpy generator.
        scale: Standard deviation of the leaves.

    Returns:
        The params pytree of :func:`nasjax.nn.init` with ``float32`` numpy
        leaves.
    """
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(nn.init, jax.random.key(0), arch)
    params = jax.tree.map(
        lambda s: (scale * rng.standard_normal(s.shape)).astype(np.float32), shapes
    )
    return {**params, "edge_gate": 1.0 + params["edge_gate"]}


def random_inputs(
    spec: ArchSpec, batch: int | tuple[int, ...] = 4, seed: int = 0
) -> jax.Array:
    """Standard-normal model inputs for a bucket.

    Args:
        spec: The bucket (gives ``window`` and ``n_features``).
        batch: Leading shape (an int or a tuple, e.g. ``(members, batch)``).
        seed: Seed of ``jax.random.key``.

    Returns:
        ``float32[*batch, window, n_features]``.
    """
    lead = (batch,) if isinstance(batch, int) else tuple(batch)
    return jax.random.normal(
        jax.random.key(seed), (*lead, spec.window, spec.n_features)
    )


# --------------------------------------------------------------------------
# Data


def tiny_synthetic(
    seed: int = 0, *, n_symbols: int = 3, n_steps: int = 1500, signal: float = 0.2
) -> SyntheticData:
    """A small planted-signal panel (:func:`nasjax.data.synthetic`).

    Args:
        seed: Generator seed.
        n_symbols: Number of symbols.
        n_steps: Bars per symbol.
        signal: Planted signal strength (0: none).

    Returns:
        The synthetic panel (``.frame``, ``.bayes_accuracy``, ...).
    """
    return synthetic(seed, n_symbols=n_symbols, n_steps=n_steps, signal=signal)


def fold_frame(
    frame: Any,
    *,
    features: FeatureConfig | None = None,
    window: int = 4,
    n_folds: int | None = 2,
    horizon: int = 1,
) -> FoldedData:
    """:func:`nasjax.data.build_dataset` with the tests' small defaults.

    Args:
        frame: Candles (a polars frame, e.g. ``tiny_synthetic().frame``).
        features: Features (default ``FeatureConfig.minimal()``).
        window: Lookback window.
        n_folds: Walk-forward folds (``FoldConfig(n_folds=n_folds)``); None
            for ``build_dataset``'s default ``FoldConfig()``.
        horizon: Label horizon in bars.

    Returns:
        ``(dataset, folds, norm)``.
    """
    return build_dataset(
        frame,
        FeatureConfig.minimal() if features is None else features,
        horizon=horizon,
        window=window,
        folds=None if n_folds is None else FoldConfig(n_folds=n_folds),
    )


def tiny_dataset(
    seed: int = 0,
    *,
    n_symbols: int = 3,
    n_steps: int = 1500,
    signal: float = 0.2,
    features: FeatureConfig | None = None,
    window: int = 4,
    n_folds: int | None = 2,
    horizon: int = 1,
) -> FoldedData:
    """A tiny folded dataset: :func:`fold_frame` of :func:`tiny_synthetic`.

    Args:
        seed: Seed of the synthetic panel.
        n_symbols: Number of symbols.
        n_steps: Bars per symbol.
        signal: Planted signal strength.
        features: Features (default ``FeatureConfig.minimal()``).
        window: Lookback window.
        n_folds: Walk-forward folds (None: ``build_dataset``'s default).
        horizon: Label horizon in bars.

    Returns:
        ``(dataset, folds, norm)``.
    """
    syn = tiny_synthetic(seed, n_symbols=n_symbols, n_steps=n_steps, signal=signal)
    return fold_frame(
        syn.frame, features=features, window=window, n_folds=n_folds, horizon=horizon
    )


def ragged_sample(
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT"),
    *,
    n_bars: int = 3000,
    listed: Mapping[str, float] | None = None,
    delisted: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Real candles of the bundled sample with coins listed late or delisted.

    Args:
        symbols: Coins of :func:`nasjax.data.load_sample`.
        n_bars: The first ``n_bars`` bars of each coin are used.
        listed: ``{symbol: fraction}``: that fraction of the coin's bars is
            removed at the start (a late listing).
        delisted: ``{symbol: fraction}``: that fraction is removed at the
            end (a delisting).

    Returns:
        The long frame, sorted by (symbol, timestamp), as ``load_sample``.
    """
    from nasjax.data import load_sample

    frame = load_sample(list(symbols))
    parts = []
    for sym in sorted(symbols):
        rows = frame.filter(pl.col("symbol") == sym).head(n_bars)
        start = round((listed or {}).get(sym, 0.0) * n_bars)
        stop = n_bars - round((delisted or {}).get(sym, 0.0) * n_bars)
        parts.append(rows.slice(start, stop - start))
    return pl.concat(parts)


def write_freqtrade(frame: pl.DataFrame, folder: Path, timeframe: str = "5m") -> Path:
    """Writes candles as a freqtrade data folder (``BASE_QUOTE-5m.feather``).

    Args:
        frame: Long OHLCV frame (``timestamp``, ``symbol``, OHLCV).
        folder: Destination (created).
        timeframe: Timeframe in the file names.

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for (sym,), rows in frame.group_by("symbol"):
        name = str(sym).replace("/", "_")
        rows.select(
            pl.col("timestamp").alias("date"), "open", "high", "low", "close", "volume"
        ).write_ipc(folder / f"{name}-{timeframe}.feather")
    return folder


# --------------------------------------------------------------------------
# Training


def fast_train_config(**overrides: Any) -> TrainConfig:
    """A few-step training configuration for smoke and equality tests.

    Args:
        **overrides: :class:`~nasjax.train.TrainConfig` fields replacing the
            defaults ``n_steps=4, eval_every=2, batch_size=16,
            eval_batch_size=64, max_eval_samples=64, warmup_steps=0`` (other
            fields keep ``TrainConfig``'s own defaults).

    Returns:
        The configuration.
    """
    return TrainConfig(**{**_FAST_TRAIN, **overrides})


# --------------------------------------------------------------------------
# Application


def tiny_app_config(
    changes: Mapping[str, Any] | None = None, **overrides: Any
) -> AppConfig:
    """A small whole-run :class:`~nasjax.app.config.AppConfig`.

    The defaults are a two-round random search of four members on a tiny
    synthetic panel: ``search=SearchConfig(name="random", population=4,
    rounds=2)``, ``search_space=SearchSpaceConfig(max_nodes=4, max_width=16,
    ops=("dense_gelu", "conv"))``, ``data=DataConfig(source="synthetic",
    window=8, synthetic_signal=0.2, synthetic_symbols=3,
    synthetic_steps=1200, n_folds=2)``, ``features=FeatureConfig.minimal()``,
    ``train=TrainConfig(n_steps=20, eval_every=10, batch_size=32,
    warmup_steps=5)``, ``evaluation=EvaluationConfig(baselines=("majority",),
    n_boot=50, final_fit=FinalFitConfig(n_steps=20, eval_every=10,
    patience=0, batch_size=32, max_eval_samples=512),
    ensemble=EnsembleConfig(top_k=3, rounds=6))``; every other field keeps
    ``AppConfig``'s default.

    Args:
        changes: Dotted keys -> values, applied with
            :func:`nasjax.app.config.override` (``{"search.rounds": 4}``, or a
            whole section: ``{"train": TrainConfig(...)}``).
        **overrides: More changes (top-level fields, e.g. ``seed=3``).

    Returns:
        The configuration.
    """
    from nasjax.app.config import (
        AppConfig,
        DataConfig,
        EnsembleConfig,
        EvaluationConfig,
        FinalFitConfig,
        SearchConfig,
        SearchSpaceConfig,
        override,
    )

    base = AppConfig(
        search=SearchConfig(name="random", population=4, rounds=2),
        search_space=SearchSpaceConfig(
            max_nodes=4, max_width=16, ops=("dense_gelu", "conv")
        ),
        data=DataConfig(
            source="synthetic",
            window=8,
            synthetic_signal=0.2,
            synthetic_symbols=3,
            synthetic_steps=1200,
            n_folds=2,
        ),
        features=FeatureConfig.minimal(),
        train=TrainConfig(n_steps=20, eval_every=10, batch_size=32, warmup_steps=5),
        evaluation=EvaluationConfig(
            baselines=("majority",),
            n_boot=50,
            final_fit=FinalFitConfig(
                n_steps=20,
                eval_every=10,
                patience=0,
                batch_size=32,
                max_eval_samples=512,
            ),
            ensemble=EnsembleConfig(top_k=3, rounds=6),
        ),
    )
    return override(base, {**(changes or {}), **overrides})


def instance_dataset(
    x: Any, y: Any, *, n_val: int, n_test: int, n_classes: int = 2
) -> FoldedData:
    """Independent windows as a one-fold dataset (the UCR layout).

    Instance ``i`` is symbol ``i`` of a panel of ``T`` steps whose labels sit
    on the last step only, so the window of instance ``i`` is exactly
    ``x[i]``. The first ``n - n_val - n_test`` instances are fold 0's
    training part, the next ``n_val`` its validation part, the last
    ``n_test`` the test part. Normalisation is the identity (mean 0, std 1),
    so a model sees ``x`` as it is.

    Args:
        x: ``float[n, T, F]`` windows.
        y: ``int[n]`` labels in ``[0, n_classes)``.
        n_val: Validation instances.
        n_test: Test instances.
        n_classes: Number of classes (names ``"0" ..``; 2 gives price
            direction labels, more a classification dataset).

    Returns:
        ``(dataset, folds, norm)`` with one fold.
    """
    import numpy as np

    from nasjax.data import DatasetMeta, Folds, NormStats

    x = np.asarray(x, np.float32)
    n, t, f = x.shape
    n_train = n - n_val - n_test
    last = (t - 1) * n
    labels = np.zeros((t, n), np.int32)
    labels[-1] = np.asarray(y, np.int32)
    mask = np.zeros((t, n), bool)
    mask[-1] = True
    whole = np.array([[0, t]], np.int64)

    def ids(lo: int, hi: int) -> np.ndarray:
        return (last + np.arange(lo, hi)).astype(np.int32)

    folds = Folds(
        train=ids(0, n_train)[None],
        train_mask=np.ones((1, n_train), bool),
        val=ids(n_train, n_train + n_val)[None],
        val_mask=np.ones((1, n_val), bool),
        test=ids(n_train + n_val, n),
        test_mask=np.ones(n_test, bool),
        train_range=whole,
        val_range=whole.copy(),
        test_range=whole[0].copy(),
    )
    meta = DatasetMeta(
        symbols=tuple(f"i{i:05d}" for i in range(n)),
        feature_names=tuple(f"x{c}" for c in range(f)),
        timestamps=np.arange(t).astype("datetime64[s]").astype("datetime64[us]"),
        window=t,
        horizon=1,
        class_names=() if n_classes == 2 else tuple(map(str, range(n_classes))),
    )
    dataset = Dataset(
        features=jax.numpy.asarray(np.ascontiguousarray(x.transpose(1, 0, 2))),
        labels=jax.numpy.asarray(labels),
        label_mask=jax.numpy.asarray(mask),
        forward_return=jax.numpy.zeros((t, n), jax.numpy.float32),
        meta=meta,
    )
    norm = NormStats(np.zeros((1, f), np.float32), np.ones((1, f), np.float32))
    return FoldedData(dataset, folds, norm)


def ohlcv(n: int, seed: int = 0) -> np.ndarray:
    """``float64[n, 5]`` consistent open, high, low, close, volume (a random
    walk of closes; each bar opens at the previous close)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    return np.c_[open_, high, low, close, rng.uniform(1, 10, n)]


def write_run_folder(
    run_dir: Path,
    *,
    answer: str = "ensemble",
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
    n_bars: int = 120,
    seed: int = 0,
) -> dict[str, Any]:
    """A small finished direction run folder with the schema of a real one.

    Model entries, plots, calibration records and paired tests come from the
    library's own functions (``evaluation_report`` with dates, ``plot_search``,
    ``draw_arch``, ...) on random predictions; ``results.parquet`` holds a
    three-step lineage (seed -> widen -> deepen,add_skip) and a stray row.
    No search or training runs.

    Args:
        run_dir: The folder (created).
        answer: ``"ensemble"`` or ``"best"`` (the summary's ``answer``).
        symbols: Coin names.
        n_bars: Test bars (5-minute, from 2022-03-01).
        seed: Seed of the random predictions.

    Returns:
        The summary written to ``run_dir/summary.json``.
    """
    import json

    from nasjax.app.answer import calibration_record
    from nasjax.evaluate import evaluation_report, fit_calibration, paired_test
    from nasjax.evaluate.fidelity_plots import plot_best_vs_time, plot_learning_curves
    from nasjax.evaluate.search_plots import plot_search
    from nasjax.graph import draw_arch
    from nasjax.graph.arch import unstack

    plots = run_dir / "plots"
    plots.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    n_sym = len(symbols)
    ids = np.arange(n_bars * n_sym)
    y = rng.integers(0, 2, ids.size)
    fwd = 0.002 * rng.standard_normal(ids.size) + 0.001 * (2 * y - 1)
    noise = rng.standard_normal((4, ids.size))
    raw = {
        name: np.clip(0.5 + s * (2 * y - 1) + 0.2 * noise[i], 0.01, 0.99)
        for i, (name, s) in enumerate(
            (("best", 0.05), ("ensemble", 0.06), ("logistic", 0.03))
        )
    }
    preds = {**raw, "majority": np.full(ids.size, 0.51)}
    start = np.datetime64("2022-03-01T00:00", "us")
    times = start + np.arange(n_bars) * np.timedelta64(5, "m")
    report = evaluation_report(
        preds, y, fwd, ids % n_sym, ids // n_sym, symbols=list(symbols),
        reference=answer, n_boot=20, real_data=False, plot_dir=plots,
        timestamps=times,
    )  # fmt: skip
    baselines = ("majority", "logistic")

    def scored(name: str) -> dict[str, Any]:
        m = report["models"][name]
        cal = fit_calibration(y, raw[name])
        return {
            "validation_block": {"accuracy": m["metrics"]["accuracy"], "n": 50},
            "test": m["metrics"],
            "test_trading": m["trading"],
            "calibration": calibration_record(cal, y, raw[name], preds[name], 20, seed),
            "reliability": m["reliability"],
            "per_coin": m["per_coin"],
            "vs_baselines": {
                b: paired_test(y, preds[name], preds[b], n_boot=20) for b in baselines
            },
        }

    archs = unstack(random_archs(small_spec(), 4, seed))
    fps = [c * 32 for c in "abcd"]
    rows = [
        {
            "round": r, "arch_json": a.to_json(), "fingerprint": fp,
            "parent_fingerprint": parent, "morphs": morphs,
            "params_count": 100 * (i + 1), "fitness": fit, "select_score": fit,
            "rung": rung, "elapsed_s": 10.0 * (r + 1), "failed": False,
            "val_curve": json.dumps([[10, fit - 0.01], [20, fit]]),
        }
        for i, (a, fp, parent, morphs, r, fit, rung) in enumerate(
            zip(
                archs, fps, ["", fps[0], fps[1], ""],
                ["seed:linear", "widen", "deepen,add_skip", ""],
                [0, 1, 2, 2], [0.51, 0.52, 0.55, 0.50], [0, 1, 1, 0], strict=True,
            )
        )
    ]  # fmt: skip
    pl.DataFrame(rows).write_parquet(run_dir / "results.parquet")
    best_row = rows[2]
    plot_search(tuple(rows), 2, plots)
    plot_learning_curves(tuple(rows), plots)
    plot_best_vs_time(tuple(rows), plots)
    import matplotlib.pyplot as plt

    plt.close(draw_arch(archs[2], run_dir / "best_arch.png", title=fps[2]))
    ensemble = None
    if answer == "ensemble":
        ensemble = {
            "members": [
                {"name": fps[2], "kind": "arch", "weight": 0.6, "fit": None},
                {"name": "logistic", "kind": "linear", "weight": 0.4, "fit": None},
            ],
            **scored("ensemble"),
        }
    summary = {
        "answer": answer,
        "best": {
            "fingerprint": best_row["fingerprint"],
            "arch": json.loads(best_row["arch_json"]),
            "params_count": best_row["params_count"],
            "fitness": best_row["fitness"],
            "round": best_row["round"],
            **scored("best"),
            "lineage": fps[:3],
        },
        "ensemble": ensemble,
        "baselines": {b: report["models"][b] for b in baselines},
        "warnings": [],
        "n_evaluations": len(rows),
        "n_failed": 0,
        "searcher": "bayes_morph",
        "data": {
            "source": "sample",
            "symbols": list(symbols),
            "test_start": report["period"][0],
            "test_end": report["period"][1],
        },
        "progress": [0.51, 0.52, 0.55],
        "budget": {"rounds_done": 3, "stopped_by": "rounds", "search_seconds": 30.0},
        "n_test": report["n"],
        "buy_and_hold": report["buy_and_hold"],
        "period": report["period"],
        "export": "best",
        "plots": sorted(str(p.relative_to(run_dir)) for p in plots.glob("*.png")),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


class ParsedReport:
    """What a report page shows, read with :mod:`html.parser`.

    Attributes:
        headings: The ``<h2>`` texts, in order.
        images: The ``src`` of every ``<img>``.
        text: Every text node, joined by newlines.
        tags: Every start tag's name.
        tables: Per ``<table>``, its rows (header row first) of cell texts.
    """

    def __init__(self, page: str) -> None:
        from html.parser import HTMLParser

        self.headings: list[str] = []
        self.images: list[str] = []
        self.tags: list[str] = []
        self.tables: list[list[list[str]]] = []
        texts: list[str] = []
        state = {"h2": False, "cell": False}
        outer = self

        class _Parser(HTMLParser):
            def handle_starttag(self, tag, attrs):
                outer.tags.append(tag)
                if tag == "h2":
                    state["h2"] = True
                    outer.headings.append("")
                elif tag == "img":
                    outer.images.append(dict(attrs).get("src") or "")
                elif tag == "table":
                    outer.tables.append([])
                elif tag == "tr":
                    outer.tables[-1].append([])
                elif tag in ("td", "th"):
                    state["cell"] = True
                    outer.tables[-1][-1].append("")

            def handle_endtag(self, tag):
                if tag == "h2":
                    state["h2"] = False
                elif tag in ("td", "th"):
                    state["cell"] = False

            def handle_data(self, data):
                texts.append(data)
                if state["h2"]:
                    outer.headings[-1] += data
                if state["cell"]:
                    outer.tables[-1][-1][-1] += data

        _Parser(convert_charrefs=True).feed(page)
        self.text = "\n".join(texts)
