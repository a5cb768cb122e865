"""The search driver: data -> rounds of ask / train / tell -> one test evaluation.

``run_search(cfg, out_dir)`` builds the dataset (bundled sample, synthetic or
files), runs rounds of the searcher's ask -> ``train_population`` -> tell loop
on the walk-forward validation folds until a budget is spent (``rounds``,
``max_evaluations`` or ``time_budget_s``, whichever comes first), and only
then touches the held-out test period once: the best member (highest
validation fitness) is retrained on the last fold and evaluated next to the
baselines. It writes

* ``results.parquet``: one row per evaluation (rewritten every round),
* ``checkpoints/``: the whole search state every round (orbax; see below),
* ``summary.json``: best member (validation and test metrics with confidence
  intervals), baselines, budget, data description, progress,
* ``best/``: the exported winner (:mod:`nasjax.export`, :func:`nasjax.load_model`),
* ``best_arch.png`` and ``plots/``: search progress, accuracy vs parameter
  count with the Pareto front, equity and calibration curves.

Resume. After every round the searcher state (archive, GP data, inherited
params), the result rows, the best-so-far progress, the round counter, the
root PRNG key and the resolved configuration are checkpointed into
``out_dir/checkpoints`` (:mod:`nasjax.checkpoint`). Running the same
``run_search(cfg, out_dir)`` again resumes from the newest committed
checkpoint: finished rounds are neither lost nor repeated (only the round in
flight at a crash is recomputed, and its rows are written once), and every
key is derived from the root key and the round index, so with the same seed
``results.parquet`` ends equal to that of an uninterrupted run (timing
columns aside). A checkpoint of another configuration or dataset is refused
with :class:`~nasjax.checkpoint.CheckpointMismatchError` naming the differing
keys, unless ``cfg.checkpoint.force_new``; the budget fields (``rounds``,
``max_evaluations``, ``time_budget_s``) and ``checkpoint`` may change, so a
finished search can be extended.

Reproducibility. ``rounds`` and ``max_evaluations`` budgets are
deterministic; a ``time_budget_s`` budget is not (how many rounds fit depends
on the machine and its load), so such runs are not bit-reproducible.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import polars as pl
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nasjax.baselines.registry import BASELINES, fit_arch, predict_arch
from nasjax.checkpoint import (
    RECORD_TYPES,
    CheckpointConfig,
    CheckpointMismatchError,
    SearchCheckpointer,
    config_diff,
    content_hash,
    mismatch_message,
    to_jsonable,
)
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
from nasjax.data.schema import timeframe_str
from nasjax.evaluate.bootstrap import block_indices, default_block
from nasjax.evaluate.metrics import accuracy
from nasjax.evaluate.report import evaluation_report, split_arrays
from nasjax.export import Preprocess, export_model, lineage
from nasjax.graph import ArchSpec, bucket_size, draw_arch, unstack
from nasjax.graph.arch import Arch
from nasjax.nn import active_param_count
from nasjax.search import SEARCHERS, Searcher, SearchState
from nasjax.surrogate import pareto_front
from nasjax.train.config import TrainConfig
from nasjax.train.data import split_ids
from nasjax.train.population import train_population
from nasjax.train.predict import predict_proba
from nasjax.typing import Key, Params

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_SOURCES",
    "RESUMABLE_KEYS",
    "CheckpointConfig",
    "CheckpointMismatchError",
    "RunConfig",
    "load_data",
    "run_search",
]

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

RESUMABLE_KEYS: tuple[str, ...] = (
    "rounds",
    "max_evaluations",
    "time_budget_s",
    "checkpoint",
)
"""``RunConfig`` keys that may differ from a checkpoint's when resuming."""

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
        n_boot: Bootstrap resamples of the test report (and of the
            validation confidence interval).
        max_evaluations: Optional budget of evaluations (the last round is
            cut to what is left). Deterministic.
        time_budget_s: Optional wall-clock budget of the search loop in
            seconds, summed over resumed sessions and checked between rounds
            (a round is never interrupted). Makes a run NOT bit-reproducible.
        checkpoint: Checkpoint / resume options (not compared on resume).
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
    max_evaluations: int | None = None
    time_budget_s: float | None = None
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)

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
        if self.max_evaluations is not None and self.max_evaluations < 1:
            problems.append("max_evaluations must be >= 1 or None")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            problems.append("time_budget_s must be > 0 or None")
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


class LoopState(NamedTuple):
    """What the driver carries from round to round (checkpointed whole).

    Attributes:
        searcher: The searcher's state (archive, inherited params, ...).
        rows: One result row per evaluation, in order.
        progress: Best validation fitness so far after each round (None
            while nothing succeeded); its length is the completed rounds.
        best_row: Index in ``rows`` of the best evaluation (-1: none yet);
            the first of equal fitnesses.
        best_fold_params: Trained params of the best evaluation on every
            fold, leaves ``[K, ...]`` (host), for its validation metrics.
        elapsed_s: Wall-clock seconds spent in rounds, over all sessions.
    """

    searcher: SearchState
    rows: tuple[dict[str, Any], ...]
    progress: tuple[float | None, ...]
    best_row: int
    best_fold_params: Params | None
    elapsed_s: float


_RECORDS = {**RECORD_TYPES, "LoopState": LoopState}


def _next_population(cfg: RunConfig, loop: LoopState) -> tuple[int, str | None]:
    """Members of the next round, or ``(0, budget that is spent)``."""
    if len(loop.progress) >= cfg.rounds:
        return 0, "rounds"
    n = cfg.population
    if cfg.max_evaluations is not None:
        left = cfg.max_evaluations - len(loop.rows)
        if left <= 0:
            return 0, "max_evaluations"
        n = min(n, left)
    if cfg.time_budget_s is not None and loop.elapsed_s >= cfg.time_budget_s:
        return 0, "time_budget_s"
    return n, None


def _planned_rounds(cfg: RunConfig, loop: LoopState) -> int:
    """Rounds the deterministic budgets allow in total."""
    total = cfg.rounds
    if cfg.max_evaluations is not None:
        left = max(0, cfg.max_evaluations - len(loop.rows))
        total = min(total, len(loop.progress) + math.ceil(left / cfg.population))
    return max(total, len(loop.progress))


def _search_round(
    key: Key,
    searcher: Searcher,
    loop: LoopState,
    n: int,
    data: tuple[Dataset, Folds, NormStats],
    train_cfg: TrainConfig,
) -> LoopState:
    """One ask -> train -> tell round of ``n`` members; the new loop state."""
    ds, folds, norm = data
    r = len(loop.progress)
    t0 = time.perf_counter()
    k_ask, k_train, k_tell = jax.random.split(key, 3)
    proposal, state = searcher.ask(k_ask, loop.searcher, n)
    t_train = time.perf_counter()
    result = train_population(
        k_train, proposal.archs, proposal.params, ds, folds, norm, train_cfg
    )
    fitness = np.asarray(result.fitness, np.float64)
    seconds = time.perf_counter() - t_train
    trained = jax.tree.map(lambda x: x[:, -1], result.params)
    state, _ = searcher.tell(k_tell, state, proposal.archs, fitness, params=trained)
    acc = np.asarray(result.metrics["best_val_accuracy"], np.float64)
    loss = np.asarray(result.metrics["best_val_loss"], np.float64)
    failed = np.asarray(result.failed, bool)
    members = unstack(proposal.archs)
    new_rows = []
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
        for k in range(acc.shape[1]):
            row[f"val_accuracy_fold{k}"] = float(acc[i, k])
            row[f"val_loss_fold{k}"] = float(loss[i, k])
        row["train_seconds"] = seconds / len(members)
        row["failed"] = bool(failed[i])
        row["failure_reason"] = "non-finite loss" if failed[i] else ""
        new_rows.append(row)
    best_row, best_params = loop.best_row, loop.best_fold_params
    score = np.where(np.isfinite(fitness), fitness, -np.inf)
    i = int(np.argmax(score))
    old = loop.rows[best_row]["fitness"] if best_row >= 0 else -np.inf
    if np.isfinite(score[i]) and score[i] > old:
        best_row = len(loop.rows) + i
        best_params = jax.tree.map(lambda x: np.asarray(x)[i], result.params)
    rows = loop.rows + tuple(new_rows)
    best = rows[best_row]["fitness"] if best_row >= 0 else None
    return LoopState(
        searcher=state,
        rows=rows,
        progress=(*loop.progress, best),
        best_row=best_row,
        best_fold_params=best_params,
        elapsed_s=loop.elapsed_s + time.perf_counter() - t0,
    )


def _write_results(rows: tuple[dict[str, Any], ...], path: Path) -> None:
    """Write the rows as parquet atomically (temporary file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    pl.DataFrame(list(rows)).write_parquet(tmp)
    os.replace(tmp, path)


def _data_hash(ds: Dataset, folds: Folds, norm: NormStats) -> str:
    meta = ds.meta
    return content_hash(
        [
            ds.features,
            ds.labels,
            ds.label_mask,
            ds.forward_return,
            meta.timestamps.astype("datetime64[us]").view(np.int64),
            list(meta.symbols),
            list(meta.feature_names),
            list(folds),
            list(norm),
        ]
    )


def _check_resume(
    info: Mapping[str, Any], cfg_json: Mapping[str, Any], directory: Path
) -> None:
    """Refuse a checkpoint of another configuration."""
    diff = config_diff(info["config"], cfg_json, ignore=RESUMABLE_KEYS)
    if diff:
        raise CheckpointMismatchError(
            mismatch_message(
                directory,
                diff,
                "Use another output folder, or set checkpoint.force_new=True "
                "to discard the checkpoint and start afresh.",
            )
        )


def _fmt_s(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "-"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _eta(cfg: RunConfig, loop: LoopState, round_seconds: list[float]) -> float | None:
    """Seconds left: mean round time x rounds left, capped by the time budget."""
    left = _planned_rounds(cfg, loop) - len(loop.progress)
    eta = float(np.mean(round_seconds)) * left if round_seconds else None
    if cfg.time_budget_s is not None:
        budget = max(0.0, cfg.time_budget_s - loop.elapsed_s)
        eta = budget if eta is None else min(eta, budget)
    return 0.0 if left <= 0 else eta


def run_search(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    dataset: tuple[Dataset, Folds, NormStats] | None = None,
    progress: bool = True,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a search, evaluate its best arch once on the test period.

    Args:
        cfg: The run configuration.
        out_dir: Output folder (created). If it holds a checkpoint of the
            same configuration, the search resumes from it.
        dataset: Optional prebuilt ``(dataset, folds, norm)`` (else built from
            ``cfg``).
        progress: Show a ``rich`` progress bar (round, evaluations, best
            score, elapsed time and ETA; rendered in place on a terminal,
            once at the end otherwise). One INFO line per round goes to the
            ``nasjax.run`` logger.
        on_round: Optional callback after every round (once its checkpoint
            save has been started) with ``{"round", "n_evaluations", "best",
            "elapsed_s", "checkpoint_dir"}``.

    Returns:
        The summary written to ``out_dir/summary.json``.

    Raises:
        CheckpointMismatchError: If ``out_dir/checkpoints`` holds a checkpoint
            of another configuration or dataset (and not ``force_new``).
        RuntimeError: If every evaluation failed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_json = to_jsonable(cfg)
    # A mapping and a tuple of pairs are the same options.
    cfg_json["searcher_options"] = to_jsonable(dict(cfg.searcher_options))
    ck_dir = out / "checkpoints"
    with contextlib.ExitStack() as stack:
        ckpt: SearchCheckpointer | None = None
        info = None
        if cfg.checkpoint.enabled:
            ckpt = stack.enter_context(
                SearchCheckpointer(ck_dir, cfg.checkpoint, records=_RECORDS)
            )
            info = ckpt.restore_info()
            if info is not None:
                _check_resume(info, cfg_json, ck_dir)
        elif ck_dir.exists():
            logger.warning("checkpointing disabled: ignoring %s", ck_dir)
        data = load_data(cfg) if dataset is None else dataset
        ds, folds, norm = data
        data_hash = _data_hash(ds, folds, norm) if ckpt is not None else ""
        spec_kw: dict[str, Any] = {} if cfg.ops is None else {"ops": tuple(cfg.ops)}
        spec = ArchSpec(
            n_features=int(ds.features.shape[-1]),
            window=int(ds.meta.window),
            max_nodes=cfg.max_nodes,
            max_width=cfg.max_width,
            **spec_kw,
        )
        searcher = SEARCHERS[cfg.searcher](spec, **dict(cfg.searcher_options))
        root = jax.random.key(cfg.seed)
        loop = None
        save = None
        if ckpt is not None:
            if info is not None:
                loop, root = _restore(ckpt, info, data_hash)
            save = _saver(ckpt, root, {"config": cfg_json, "data_hash": data_hash})
        k_init, k_search, k_final, k_base = jax.random.split(root, 4)
        if loop is None:
            loop = LoopState(searcher.init(k_init, None), (), (), -1, None, 0.0)
        loop, stopped_by = _search_loop(
            cfg, searcher, loop, k_search, data, out, save, progress, on_round
        )
    return _finish(cfg, loop, data, k_final, k_base, out, stopped_by)


def _restore(
    ckpt: SearchCheckpointer, info: Mapping[str, Any], data_hash: str
) -> tuple[LoopState, Key]:
    """The checkpointed loop state and root key (refusing other data)."""
    if info["data_hash"] != data_hash:
        raise CheckpointMismatchError(
            mismatch_message(
                ckpt.directory,
                [("data (content hash)", info["data_hash"], data_hash)],
                "The data changed since the checkpoint; use another output "
                "folder or checkpoint.force_new=True.",
            )
        )
    payload = ckpt.restore()
    loop = payload["loop"]
    logger.info(
        "resuming from %s: %d rounds, %d evaluations done",
        ckpt.directory,
        len(loop.progress),
        len(loop.rows),
    )
    return loop, payload["root_key"]


def _saver(
    ckpt: SearchCheckpointer, root: Key, info: Mapping[str, Any]
) -> Callable[[int, LoopState], Path]:
    """``save(step, loop) -> checkpoint folder`` (asynchronous when configured)."""

    def save(step: int, loop: LoopState) -> Path:
        ckpt.save(step, {"loop": loop, "root_key": root}, info)
        return ckpt.directory

    return save


def _search_loop(
    cfg: RunConfig,
    searcher: Searcher,
    loop: LoopState,
    k_search: Key,
    data: tuple[Dataset, Folds, NormStats],
    out: Path,
    save: Callable[[int, LoopState], Path] | None,
    progress: bool,
    on_round: Callable[[dict[str, Any]], None] | None,
) -> tuple[LoopState, str]:
    """Rounds until a budget is spent; returns the state and which budget."""
    if loop.rows:
        _write_results(loop.rows, out / "results.parquet")
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("round {task.completed}/{task.total}"),
        TextColumn("evals {task.fields[evals]}"),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        TextColumn("eta {task.fields[eta]}"),
    ]
    round_seconds: list[float] = []

    def fields(loop: LoopState) -> dict[str, Any]:
        best = loop.progress[-1] if loop.progress else None
        return {
            "total": _planned_rounds(cfg, loop),
            "completed": len(loop.progress),
            "evals": len(loop.rows),
            "best": "-" if best is None else f"{best:.4f}",
            "eta": _fmt_s(_eta(cfg, loop, round_seconds)),
        }

    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"search ({cfg.searcher})", **fields(loop))
        while True:
            n, stopped_by = _next_population(cfg, loop)
            if stopped_by is not None:
                break
            r = len(loop.progress)
            t0 = time.perf_counter()
            loop = _search_round(
                jax.random.fold_in(k_search, r),
                searcher,
                loop,
                n,
                data,
                cfg.train,
            )
            _write_results(loop.rows, out / "results.parquet")
            ck_dir = None if save is None else save(r + 1, loop)
            round_seconds.append(time.perf_counter() - t0)
            bar.update(task, **fields(loop))
            best = loop.progress[-1]
            logger.info(
                "round %d/%d: %d evaluations, best %s, eta %s",
                r + 1,
                _planned_rounds(cfg, loop),
                len(loop.rows),
                "-" if best is None else f"{best:.4f}",
                _fmt_s(_eta(cfg, loop, round_seconds)),
            )
            if on_round is not None:
                on_round(
                    {
                        "round": r + 1,
                        "n_evaluations": len(loop.rows),
                        "best": best,
                        "elapsed_s": loop.elapsed_s,
                        "checkpoint_dir": ck_dir,
                    }
                )
    return loop, stopped_by


def _timeframe(ds: Dataset, default: str | None) -> str:
    """Bar size of the dataset (smallest step between timestamps)."""
    ts = np.asarray(ds.meta.timestamps).astype("datetime64[us]").view(np.int64)
    steps = np.diff(ts)
    steps = steps[steps > 0]
    if steps.size:
        return timeframe_str(int(steps.min()))
    if default is None:
        raise ValueError("cannot infer the timeframe of a one-bar dataset")
    return default


def _validation_metrics(
    arch: Arch,
    fold_params: Params,
    row: Mapping[str, Any],
    data: tuple[Dataset, Folds, NormStats],
    cfg: RunConfig,
) -> dict[str, Any]:
    """Per-fold validation accuracy of the best member and a CI of their mean.

    The params are those the search selected on each fold (its best
    evaluation step); predictions cover every validation id of each fold
    (the search may score a strided subset, ``train.max_eval_samples``).
    """
    ds, folds, norm = data
    labels = np.asarray(ds.labels).reshape(-1)
    n_folds = int(folds.train.shape[0])
    ys, ps = [], []
    for k in range(n_folds):
        _, val_ids, _ = split_ids(folds, "val", k)
        params = jax.tree.map(lambda x, k=k: x[k], fold_params)
        p = predict_proba(
            arch,
            params,
            ds.features,
            val_ids,
            np.asarray(norm.mean)[k],
            np.asarray(norm.std)[k],
            cfg.train.eval_batch_size,
        )[:, 1]
        ys.append(labels[val_ids])
        ps.append(p)
    fold_acc = [accuracy(y, p) for y, p in zip(ys, ps, strict=True)]
    rng = np.random.default_rng(cfg.seed)
    boot = np.zeros(cfg.n_boot)
    for y, p in zip(ys, ps, strict=True):
        idx = block_indices(rng, len(y), default_block(len(y)), cfg.n_boot)
        boot += np.array([accuracy(y[i], p[i]) for i in idx]) / n_folds
    low, high = np.quantile(boot, [0.025, 0.975]) if cfg.n_boot else (np.nan,) * 2
    return {
        "accuracy": {
            "value": float(np.mean(fold_acc)),
            "low": float(low),
            "high": float(high),
        },
        "fold_accuracy": fold_acc,
        "fold_n": [len(y) for y in ys],
        "search_fold_accuracy": [row[f"val_accuracy_fold{k}"] for k in range(n_folds)],
        "fitness": row["fitness"],
        "ci": (
            "95% moving-block bootstrap of the mean over folds of the fold "
            f"accuracies ({cfg.n_boot} resamples; blocks of each fold's "
            "time-ordered validation predictions resampled within the fold)"
        ),
        "note": (
            "optimistic: the architecture and its early-stopping step were "
            "selected on these validation ids; the test metrics are unbiased"
        ),
    }


_pareto_front = jax.jit(pareto_front)


def _plot_search(
    rows: tuple[dict[str, Any], ...], best: int, plot_dir: Path
) -> list[str]:
    """``search_progress.png`` and ``accuracy_vs_params.png``."""
    import matplotlib.pyplot as plt

    fit = np.array([r["fitness"] for r in rows], np.float64)
    n_params = np.array([r["params_count"] for r in rows], np.float64)
    ok = np.isfinite(fit)
    evals = np.arange(1, len(rows) + 1)
    best_so_far = np.fmax.accumulate(np.where(ok, fit, -np.inf))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(evals[ok], fit[ok], s=12, c="0.6", label="evaluation")
    shown = np.isfinite(best_so_far)
    ax.step(evals[shown], best_so_far[shown], where="post", c="C0", label="best so far")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("validation fitness (mean over folds)")
    ax.set_title("search progress")
    ax.legend(fontsize=8)
    fig.tight_layout()
    progress_path = plot_dir / "search_progress.png"
    fig.savefig(progress_path, dpi=100)
    plt.close(fig)

    points = np.full((bucket_size(len(rows), 8), 2), np.nan, np.float32)
    points[: len(rows)] = np.stack([fit, -n_params], axis=1)
    front = np.asarray(_pareto_front(points))[: len(rows)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(n_params[ok], fit[ok], s=12, c="0.6", label="evaluation")
    order = np.argsort(n_params[front])
    ax.step(
        n_params[front][order], fit[front][order], where="post", c="C3", lw=1,
    )  # fmt: skip
    ax.scatter(n_params[front], fit[front], s=24, c="C3", label="Pareto front")
    ax.scatter([n_params[best]], [fit[best]], s=120, marker="*", c="C1", label="best")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (active)")
    ax.set_ylabel("validation fitness (mean over folds)")
    ax.set_title("accuracy vs parameter count")
    ax.legend(fontsize=8)
    fig.tight_layout()
    pareto_path = plot_dir / "accuracy_vs_params.png"
    fig.savefig(pareto_path, dpi=100)
    plt.close(fig)
    return [str(progress_path), str(pareto_path)]


def _finish(
    cfg: RunConfig,
    loop: LoopState,
    data: tuple[Dataset, Folds, NormStats],
    k_final: Key,
    k_base: Key,
    out: Path,
    stopped_by: str,
) -> dict[str, Any]:
    """Test evaluation (touched once), export, plots and ``summary.json``."""
    ds, folds, norm = data
    rows = loop.rows
    if loop.best_row < 0 or loop.best_fold_params is None:
        raise RuntimeError("every evaluation failed; nothing to evaluate on test")
    b = loop.best_row
    best = rows[b]
    best_arch = Arch.from_json(best["arch_json"])
    validation = _validation_metrics(best_arch, loop.best_fold_params, best, data, cfg)

    # The test period is touched once, here.
    _, _, test_ids = split_ids(folds, "test")
    params = fit_arch(k_final, best_arch, ds, folds, norm, cfg=cfg.train)
    predictions = {
        "best": predict_arch(
            best_arch, params, ds, folds, norm, batch_size=cfg.train.eval_batch_size
        )
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
    fig = draw_arch(best_arch, out / "best_arch.png", title=best["fingerprint"])
    import matplotlib.pyplot as plt

    plt.close(fig)
    plots = [str(out / "best_arch.png"), *report.get("plots", [])]
    plots += _plot_search(rows, b, plot_dir)

    best_entry = report["models"]["best"]
    data_summary = {"source": cfg.data, **_data_summary(ds, folds)}
    last = int(folds.train.shape[0]) - 1
    history = lineage(rows, best["fingerprint"])
    metrics = {
        "fingerprint": best["fingerprint"],
        "validation": validation,
        "test": best_entry["metrics"],
        "test_trading": best_entry.get("trading"),
        "n_test": report["n"],
        "test_period": [data_summary["test_start"], data_summary["test_end"]],
        "trained_on_fold": last,
    }
    preprocess = Preprocess(
        features=cfg.features,
        feature_names=tuple(ds.meta.feature_names),
        symbols=tuple(ds.meta.symbols),
        window=int(ds.meta.window),
        horizon=int(ds.meta.horizon),
        timeframe=_timeframe(ds, cfg.timeframe),
        mean=np.asarray(norm.mean)[last],
        std=np.asarray(norm.std)[last],
    )
    metrics = json.loads(json.dumps(metrics, default=_json_default))
    export_dir = export_model(
        out / "best", best_arch, params, preprocess, lineage=history, metrics=metrics
    )

    summary: dict[str, Any] = {
        "best": {
            "fingerprint": best["fingerprint"],
            "arch": json.loads(best["arch_json"]),
            "params_count": best["params_count"],
            "fitness": best["fitness"],
            "round": best["round"],
            "validation": validation,
            "test": best_entry["metrics"],
            "test_trading": best_entry.get("trading"),
            "lineage": [step["fingerprint"] for step in history],
        },
        "baselines": {name: report["models"][name] for name in cfg.baselines},
        "n_evaluations": len(rows),
        "n_failed": int(sum(row["failed"] for row in rows)),
        "searcher": cfg.searcher,
        "searcher_options": {k: v for k, v in dict(cfg.searcher_options).items()},
        "data": data_summary,
        "progress": list(loop.progress),
        "budget": {
            "rounds": cfg.rounds,
            "max_evaluations": cfg.max_evaluations,
            "time_budget_s": cfg.time_budget_s,
            "rounds_done": len(loop.progress),
            "stopped_by": stopped_by,
            "search_seconds": loop.elapsed_s,
        },
        "n_test": report["n"],
        "export": str(export_dir),
        "plots": plots,
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
