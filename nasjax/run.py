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
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl

from nasjax.baselines.classification import is_classification, n_classes
from nasjax.baselines.registry import BASELINES
from nasjax.checkpoint import (
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
    FoldedData,
    Folds,
    NormStats,
    build_dataset,
    load_ohlcv,
    load_sample,
    synthetic,
)
from nasjax.data.ucr import build_ucr_dataset
from nasjax.graph import ArchSpec
from nasjax.run_classify import finish_classification
from nasjax.run_finish import finish
from nasjax.run_loop import LOOP_RECORDS, LoopState, search_loop
from nasjax.search import SEARCHERS
from nasjax.train.config import TrainConfig
from nasjax.typing import Key

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
    "ucr",
)
"""``RunConfig.data`` values: the bundled sample, the synthetic panel, a
file format read from ``RunConfig.data_path`` by :func:`nasjax.data.load_ohlcv`,
or ``"ucr"``: the bundled UCR/UEA classification dataset ``RunConfig.data_name``
(:mod:`nasjax.data.ucr`)."""

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
        data: ``"sample"`` (bundled real data), ``"synthetic"``, a file
            format (``"binance"``, ``"freqtrade"``, ``"csv"``, ``"parquet"``,
            ``"auto"``) read from ``data_path``, or ``"ucr"`` (a UCR/UEA
            classification dataset named ``data_name``; ``window`` and
            ``horizon`` are then ignored: the window is the series length).
        data_path: File or folder of candles for the file formats.
        data_name: Dataset name for ``data="ucr"`` (e.g. ``"BasicMotions"``).
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
        inherit: Morph children start from their parent's morphed trained
            weights, fold by fold (default); False trains every arch from
            scratch (``train_population(init_from="scratch")``).
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
    data_name: str | None = None
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
    inherit: bool = True
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)

    def __post_init__(self) -> None:
        problems = []
        if self.searcher not in SEARCHERS:
            problems.append(f"searcher must be one of {tuple(SEARCHERS)}")
        if self.data not in DATA_SOURCES:
            problems.append(f"data must be one of {DATA_SOURCES}")
        if self.data in _LOAD_FORMATS and not self.data_path:
            problems.append(f"data={self.data} needs data_path (a file or folder)")
        if self.data == "ucr" and not self.data_name:
            problems.append("data=ucr needs data_name (e.g. BasicMotions)")
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


def load_data(cfg: RunConfig) -> FoldedData:
    """The ``(dataset, folds, norm)`` triple a config asks for."""
    if cfg.data == "ucr":
        assert cfg.data_name is not None
        return build_ucr_dataset(cfg.data_name, n_folds=cfg.n_folds, seed=cfg.seed)
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


def run_search(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    dataset: FoldedData | None = None,
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
    if cfg.data_name is None:  # checkpoints from before the field still resume
        cfg_json.pop("data_name", None)
    ck_dir = out / "checkpoints"
    with contextlib.ExitStack() as stack:
        ckpt: SearchCheckpointer | None = None
        info = None
        if cfg.checkpoint.enabled:
            ckpt = stack.enter_context(
                SearchCheckpointer(ck_dir, cfg.checkpoint, records=LOOP_RECORDS)
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
            n_classes=n_classes(ds),
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
        loop, stopped_by = search_loop(
            cfg, searcher, loop, k_search, data, out, save, progress, on_round
        )
    end = finish_classification if is_classification(ds) else finish
    return end(cfg, loop, data, k_final, k_base, out, stopped_by)


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
