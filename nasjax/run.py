"""The search driver: data -> rounds of ask / train / tell -> one test evaluation.

``run_search(cfg, out_dir)`` builds the dataset (bundled sample or synthetic),
runs ``cfg.rounds`` rounds of the searcher's ask -> ``train_population`` ->
tell loop on the walk-forward validation folds, and only then touches the
held-out test period once: the best member (highest validation fitness) is
retrained on the last fold and evaluated next to the baselines. It writes

* ``results.parquet``: one row per evaluation,
* ``summary.json``: best member, baselines, data description, progress,
* ``best_arch.png`` and ``plots/`` (equity and calibration curves).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nasjax.baselines.registry import BASELINES, fit_predict_arch
from nasjax.data import (
    Dataset,
    FeatureConfig,
    FoldConfig,
    Folds,
    NormStats,
    build_dataset,
    load_ohlcv,
    load_sample,
    synthetic,
)
from nasjax.evaluate.report import evaluation_report, split_arrays
from nasjax.graph import ArchSpec, draw_arch, unstack
from nasjax.graph.arch import Arch
from nasjax.nn import active_param_count
from nasjax.search import SEARCHERS
from nasjax.train.config import TrainConfig
from nasjax.train.data import split_ids
from nasjax.train.population import train_population

DATA_SOURCES: tuple[str, ...] = (
    "sample",
    "synthetic",
    "binance",
    "freqtrade",
    "csv",
    "parquet",
    "auto",
)
"""``RunConfig.data`` values: the bundled sample, the synthetic panel, or a
file format read from ``RunConfig.data_path`` by :func:`nasjax.data.load_ohlcv`."""

_LOAD_FORMATS = {
    "binance": "binance",
    "csv": "csv",
    "parquet": "parquet",
    "auto": "auto",
    "freqtrade": "auto",  # freqtrade json or feather, decided per file
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one search run needs (frozen, hashable).

    Attributes:
        searcher: Name in :data:`nasjax.search.SEARCHERS`.
        searcher_options: Keyword options of the searcher factory, as a tuple
            of ``(name, value)`` pairs (a mapping is accepted too).
        population: Archs asked and trained per round.
        rounds: Search rounds.
        seed: Seed of the root PRNG key.
        max_nodes: Node capacity of the bucket.
        max_width: Width capacity of the bucket.
        ops: Op vocabulary (None: every known op).
        window: Lookback window in bars.
        horizon: Label horizon in bars.
        data: ``"sample"`` (bundled real data), ``"synthetic"``, or a file
            format (``"binance"``, ``"freqtrade"``, ``"csv"``, ``"parquet"``,
            ``"auto"``) read from ``data_path``.
        data_path: File or folder of candles for the file formats.
        timeframe: Bar size of the files (e.g. ``"5m"``); None: inferred.
        symbols: Optional subset of symbols.
        synthetic_signal: Signal of the synthetic panel (Bayes acc 0.5 + s).
        synthetic_symbols: Coins of the synthetic panel.
        synthetic_steps: Bars of the synthetic panel.
        n_folds: Walk-forward folds.
        features: Feature configuration.
        train: Training configuration (search and final retraining).
        baselines: Names in :data:`nasjax.baselines.BASELINES`.
        n_boot: Bootstrap resamples of the test report.
    """

    searcher: str = "bayes_morph"
    searcher_options: tuple[tuple[str, Any], ...] | Mapping[str, Any] = ()
    population: int = 8
    rounds: int = 3
    seed: int = 0
    max_nodes: int = 8
    max_width: int = 32
    ops: tuple[str, ...] | None = None
    window: int = 32
    horizon: int = 1
    data: str = "sample"
    data_path: str | None = None
    timeframe: str | None = "5m"
    symbols: tuple[str, ...] | None = None
    synthetic_signal: float = 0.1
    synthetic_symbols: int = 4
    synthetic_steps: int = 4000
    n_folds: int = 3
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(n_steps=100, eval_every=50, batch_size=64)
    )
    baselines: tuple[str, ...] = ("majority", "persistence", "logistic", "lstm")
    n_boot: int = 200

    def __post_init__(self) -> None:
        problems = []
        if self.searcher not in SEARCHERS:
            problems.append(f"searcher must be one of {tuple(SEARCHERS)}")
        if self.data not in DATA_SOURCES:
            problems.append(f"data must be one of {DATA_SOURCES}")
        if self.data in _LOAD_FORMATS and not self.data_path:
            problems.append(f"data={self.data} needs data_path (a file or folder)")
        if self.population < 1 or self.rounds < 1:
            problems.append("population and rounds must be >= 1")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            problems.append(f"unknown baselines {unknown}; known: {tuple(BASELINES)}")
        if problems:
            raise ValueError("; ".join(problems))


def load_data(cfg: RunConfig) -> tuple[Dataset, Folds, NormStats]:
    """The ``(dataset, folds, norm)`` triple a config asks for."""
    if cfg.data == "sample":
        frame = load_sample(cfg.symbols)
        symbols = None
    elif cfg.data in _LOAD_FORMATS:
        assert cfg.data_path is not None
        loaded = load_ohlcv(
            cfg.data_path,
            format=_LOAD_FORMATS[cfg.data],
            timeframe=cfg.timeframe,
            symbols=cfg.symbols,
        )
        assert isinstance(loaded, pl.DataFrame)
        frame, symbols = loaded, None
    else:
        frame = synthetic(
            cfg.seed,
            n_symbols=cfg.synthetic_symbols,
            n_steps=cfg.synthetic_steps,
            signal=cfg.synthetic_signal,
        ).frame
        symbols = cfg.symbols
    return build_dataset(
        frame,
        cfg.features,
        horizon=cfg.horizon,
        window=cfg.window,
        folds=FoldConfig(n_folds=cfg.n_folds),
        symbols=symbols,
    )


def _iso(ts: np.ndarray, i: int) -> str | int:
    """ISO time of bar ``i`` (the bar index when no timestamp is known)."""
    if 0 <= i < len(ts):
        return str(np.datetime_as_string(ts[i], unit="s")) + "Z"
    return int(i)


def _data_summary(dataset: Dataset, folds: Folds) -> dict[str, Any]:
    meta = dataset.meta
    ts = np.asarray(meta.timestamps)
    start, stop = (int(v) for v in np.asarray(folds.test_range))
    return {
        "symbols": list(meta.symbols),
        "n_bars": int(dataset.features.shape[0]),
        "n_features": int(dataset.features.shape[-1]),
        "window": int(meta.window),
        "horizon": int(meta.horizon),
        "test_start": _iso(ts, start),
        "test_end": _iso(ts, stop - 1),
        "test_bars": [start, stop],
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def run_search(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    dataset: tuple[Dataset, Folds, NormStats] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run a search, evaluate its best arch once on the test period.

    Args:
        cfg: The run configuration.
        out_dir: Output folder (created).
        dataset: Optional prebuilt ``(dataset, folds, norm)`` (else built from
            ``cfg``).
        progress: Show a ``rich`` progress bar.

    Returns:
        The summary written to ``out_dir/summary.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds, folds, norm = load_data(cfg) if dataset is None else dataset
    n_features = int(ds.features.shape[-1])
    spec_kw: dict[str, Any] = {} if cfg.ops is None else {"ops": tuple(cfg.ops)}
    spec = ArchSpec(
        n_features=n_features,
        window=int(ds.meta.window),
        max_nodes=cfg.max_nodes,
        max_width=cfg.max_width,
        **spec_kw,
    )
    searcher = SEARCHERS[cfg.searcher](spec, **dict(cfg.searcher_options))
    k_init, k_search, k_final, k_base = jax.random.split(jax.random.key(cfg.seed), 4)
    state = searcher.init(k_init, None)

    rows: list[dict[str, Any]] = []
    archs_by_row: list[Arch] = []
    best_per_round: list[float | None] = []
    best = -np.inf
    n_folds = int(folds.train.shape[0])
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("round {task.fields[round]}/{task.total}"),
        TextColumn("evals {task.fields[evals]}"),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(
            f"search ({cfg.searcher})", total=cfg.rounds, round=0, evals=0, best="-"
        )
        for r in range(cfg.rounds):
            k_ask, k_train, k_tell = jax.random.split(
                jax.random.fold_in(k_search, r), 3
            )
            proposal, state = searcher.ask(k_ask, state, cfg.population)
            t0 = time.perf_counter()
            result = train_population(
                k_train, proposal.archs, proposal.params, ds, folds, norm, cfg.train
            )
            fitness = np.asarray(result.fitness, np.float64)
            seconds = time.perf_counter() - t0
            trained = jax.tree.map(lambda x: x[:, -1], result.params)
            state, _ = searcher.tell(
                k_tell, state, proposal.archs, fitness, params=trained
            )
            acc = np.asarray(result.metrics["best_val_accuracy"], np.float64)
            loss = np.asarray(result.metrics["best_val_loss"], np.float64)
            failed = np.asarray(result.failed, bool)
            members = unstack(proposal.archs)
            for i, arch in enumerate(members):
                row: dict[str, Any] = {
                    "round": r,
                    "arch_json": arch.to_json(),
                    "fingerprint": proposal.fingerprints[i],
                    "parent_fingerprint": proposal.parent_fingerprints[i],
                    "morphs": ",".join(proposal.morph_names[i]),
                    "params_count": int(active_param_count(arch)),
                    "fitness": float(fitness[i]),
                }
                for k in range(n_folds):
                    row[f"val_accuracy_fold{k}"] = float(acc[i, k])
                    row[f"val_loss_fold{k}"] = float(loss[i, k])
                row["train_seconds"] = seconds / len(members)
                row["failed"] = bool(failed[i])
                row["failure_reason"] = "non-finite loss" if failed[i] else ""
                rows.append(row)
                archs_by_row.append(arch)
            ok = fitness[np.isfinite(fitness)]
            if ok.size:
                best = max(best, float(ok.max()))
            best_per_round.append(_finite(best))
            pl.DataFrame(rows).write_parquet(out / "results.parquet")
            bar.update(
                task,
                advance=1,
                round=r + 1,
                evals=len(rows),
                best=f"{best:.4f}" if np.isfinite(best) else "-",
            )

    fit_all = np.array([row["fitness"] for row in rows], np.float64)
    if not np.isfinite(fit_all).any():
        raise RuntimeError("every evaluation failed; nothing to evaluate on test")
    b = int(np.nanargmax(fit_all))
    best_arch = archs_by_row[b]

    # The test period is touched once, here.
    _, _, test_ids = split_ids(folds, "test")
    predictions = {
        "best": fit_predict_arch(k_final, best_arch, ds, folds, norm, cfg=cfg.train)
    }
    for j, name in enumerate(cfg.baselines):
        predictions[name] = BASELINES[name].fit_predict(
            jax.random.fold_in(k_base, j), ds, folds, norm, split="test", cfg=cfg.train
        )
    arrays = split_arrays(ds, test_ids)
    plot_dir = out / "plots"
    plot_dir.mkdir(exist_ok=True)
    report = evaluation_report(
        predictions,
        arrays["labels"],
        arrays["forward_return"],
        arrays["coin"],
        arrays["time"],
        symbols=list(ds.meta.symbols),
        reference="best",
        n_boot=cfg.n_boot,
        seed=cfg.seed,
        real_data=cfg.data != "synthetic",
        plot_dir=plot_dir,
    )
    fig = draw_arch(best_arch, out / "best_arch.png", title=rows[b]["fingerprint"])
    import matplotlib.pyplot as plt

    plt.close(fig)

    best_entry = report["models"]["best"]
    summary: dict[str, Any] = {
        "best": {
            "fingerprint": rows[b]["fingerprint"],
            "arch": json.loads(rows[b]["arch_json"]),
            "params_count": rows[b]["params_count"],
            "fitness": rows[b]["fitness"],
            "round": rows[b]["round"],
            "test": best_entry["metrics"],
            "test_trading": best_entry.get("trading"),
        },
        "baselines": {name: report["models"][name] for name in cfg.baselines},
        "n_evaluations": len(rows),
        "n_failed": int(sum(row["failed"] for row in rows)),
        "searcher": cfg.searcher,
        "searcher_options": {k: v for k, v in dict(cfg.searcher_options).items()},
        "data": {"source": cfg.data, **_data_summary(ds, folds)},
        "progress": best_per_round,
        "n_test": report["n"],
        "plots": report.get("plots", []),
    }
    summary = json.loads(json.dumps(summary, default=_json_default))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return str(x)
