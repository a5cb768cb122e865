"""The search driver: data -> rounds of ask / train / tell -> one test evaluation.

``run_search(cfg, out_dir)`` takes an :class:`~nasjax.app.config.AppConfig`,
builds the dataset (bundled sample, synthetic or files), runs rounds of the
searcher's ask -> ``train_population`` -> tell loop on the walk-forward
validation folds until a budget is spent (``search.rounds``,
``search.max_evaluations`` or ``search.time_budget_s``, whichever comes
first), and only
then touches the held-out test period once: the best member (highest
validation fitness) is retrained on the last fold and evaluated next to the
baselines. It writes

* ``results.parquet``: one row per evaluation (rewritten every round),
* ``checkpoints/``: the whole search state every round (orbax; see below),
* ``summary.json``: best member (validation and test metrics with confidence
  intervals), baselines, budget, data description, progress,
* ``best/``: the exported winner (:mod:`nasjax.app.export`, :func:`nasjax.load_model`),
* ``best_arch.png`` and ``plots/``: search progress, accuracy vs parameter
  count with the Pareto front, equity and calibration curves.

Resume. After every round the searcher state (archive, GP data, inherited
params), the result rows, the best-so-far progress, the round counter, the
root PRNG key and the resolved configuration are checkpointed into
``out_dir/checkpoints`` (:mod:`nasjax.app.checkpoint`). Running the same
``run_search(cfg, out_dir)`` again resumes from the newest committed
checkpoint: finished rounds are neither lost nor repeated (only the round in
flight at a crash is recomputed, and its rows are written once), and every
key is derived from the root key and the round index, so with the same seed
``results.parquet`` ends equal to that of an uninterrupted run (timing
columns aside). A checkpoint of another configuration or dataset is refused
with :class:`~nasjax.app.checkpoint.CheckpointMismatchError` naming the
differing keys, unless ``cfg.checkpoint.force_new``; the budget fields
(``search.rounds``, ``search.max_evaluations``, ``search.time_budget_s``) and
``checkpoint`` may change, so a finished search can be extended.

Reproducibility. ``search.rounds`` and ``search.max_evaluations`` budgets are
deterministic; a ``search.time_budget_s`` budget is not (how many rounds fit depends
on the machine and its load), so such runs are not bit-reproducible.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nasjax.app.answer import stop_and_select
from nasjax.app.checkpoint import (
    CheckpointMismatchError,
    SearchCheckpointer,
    config_diff,
    mismatch_message,
)
from nasjax.app.classify import ClassificationTask
from nasjax.app.config import (
    RESUMABLE_KEYS,
    AppConfig,
    ignored_search_options,
    searcher_options,
)
from nasjax.app.direction import DirectionTask
from nasjax.app.finish import finish
from nasjax.app.loop import LOOP_RECORDS, LoopState, search_loop
from nasjax.baselines.classification import is_classification, n_classes
from nasjax.data import FoldedData, load_data
from nasjax.search import SEARCHERS, seeded
from nasjax.serialize import content_hash, to_jsonable
from nasjax.typing import Key

logger = logging.getLogger("nasjax.run")

__all__ = ["CheckpointMismatchError", "identity", "run_search"]

_SEARCH_KEYS = ("name", "population", "rounds", "max_evaluations", "time_budget_s")


def identity(cfg: AppConfig) -> dict[str, Any]:
    """The JSON of everything that decides a search's results.

    A checkpoint stores it and a resumed run must match it (except the
    :data:`~nasjax.app.config.RESUMABLE_KEYS`). Keys that do not change the
    search (``progress``, ``tracker``, ``distributed``, ``protocol``, ``task_name``, the
    options of searchers other than the chosen one) are left out.
    """
    search = {k: getattr(cfg.search, k) for k in _SEARCH_KEYS}
    search["inherit"] = cfg.search.inherit
    search["seeds"] = list(cfg.search.seeds)
    search["fidelity"] = cfg.search.fidelity
    search["select"] = cfg.search.select
    search["select_z"] = cfg.search.select_z
    data = to_jsonable(cfg.data)
    if not cfg.data.side:  # as before data.side existed: older checkpoints resume
        del data["side"]
    return to_jsonable(
        {
            "seed": cfg.seed,
            "data": data,
            "features": cfg.features,
            "search_space": cfg.search_space,
            "search": search,
            "searcher_options": searcher_options(cfg),
            "train": cfg.train,
            "evaluation": cfg.evaluation,
            "checkpoint": cfg.checkpoint,
        }
    )


def _data_hash(data: FoldedData) -> str:
    ds, folds, norm = data
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
    cfg: AppConfig,
    out_dir: str | Path,
    *,
    dataset: FoldedData | None = None,
    progress: bool = True,
    on_round: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a search, evaluate its best arch once on the test period.

    Args:
        cfg: The application configuration (``AppConfig()`` is the default
            search on the bundled sample; ``mode`` and ``protocol`` are not
            read here).
        out_dir: Output folder (created). If it holds a checkpoint of the
            same configuration, the search resumes from it.
        dataset: Optional prebuilt ``(dataset, folds, norm)`` (else
            :func:`nasjax.data.load_data` of ``cfg.data``).
        progress: Show a ``rich`` progress bar (round, evaluations, best
            score, elapsed time and ETA; rendered in place on a terminal,
            once at the end otherwise). One INFO line per round goes to the
            ``nasjax.run`` logger.
        on_round: Optional callback after every round (once its checkpoint
            save has been started) with ``{"round", "n_evaluations", "best",
            "elapsed_s", "checkpoint_dir"}``.
        on_start: Optional callback once the run is accepted (the data is
            loaded and any checkpoint in ``out_dir`` matches), before the
            first round; the command line moves Hydra's files into
            ``.hydra/`` there, so a refused rerun changes nothing.

    Returns:
        The summary written to ``out_dir/summary.json``.

    Raises:
        CheckpointMismatchError: If ``out_dir/checkpoints`` holds a checkpoint
            of another configuration or dataset (and not ``force_new``).
        RuntimeError: If every evaluation failed.
    """
    cfg = _app_config(cfg)
    for message in ignored_search_options(cfg):
        logger.warning(message)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_json = identity(cfg)
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
        data = FoldedData(
            *(
                load_data(cfg.data, cfg.features, cfg.seed)
                if dataset is None
                else dataset
            )
        )
        ds = data.dataset
        data_hash = _data_hash(data) if ckpt is not None else ""
        spec = cfg.search_space.spec(
            int(ds.features.shape[-1]), int(ds.meta.window), n_classes(ds)
        )
        searcher = seeded(
            SEARCHERS[cfg.search.name](spec, **searcher_options(cfg)),
            spec,
            cfg.search.seeds,
        )
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
        if on_start is not None:
            on_start()
        loop, stopped_by = search_loop(
            cfg,
            searcher,
            loop,
            k_search,
            search_data(data, cfg),
            out,
            save,
            progress,
            on_round,
        )
    task = ClassificationTask() if is_classification(ds) else DirectionTask()
    return finish(cfg, loop, data, k_final, k_base, out, stopped_by, task)


def search_data(data: FoldedData, cfg: AppConfig) -> FoldedData:
    """The data the search ranks architectures on.

    For price direction, the recent part of the last validation block (the
    selection block of :func:`~nasjax.app.answer.stop_and_select`) is held
    out of the search: the searched architectures were not ranked, nor
    early-stopped, on the block where the answer's ensemble weights are
    chosen and calibrated, so the selection compares them with the classical
    candidates on equal terms (the winner's curse of the search does not
    favour them there). Classification folds are returned unchanged.
    """
    if is_classification(data.dataset):
        return data
    return stop_and_select(data, cfg)[0]


def _app_config(cfg: Any) -> AppConfig:
    """``cfg`` itself, or the :class:`AppConfig` of a deprecated
    :class:`nasjax.run.RunConfig`."""
    if isinstance(cfg, AppConfig):
        return cfg
    to_app = getattr(cfg, "to_app_config", None)
    if to_app is None:
        raise TypeError(f"run_search takes an AppConfig, got {type(cfg).__name__}")
    return to_app()


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
