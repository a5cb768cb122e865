"""``NASClassifier``: the search as a scikit-learn classifier.

A thin wrapper over the engine the command line runs, not a second
implementation: :meth:`NASClassifier.fit` builds validation folds from the
training data only, runs the same searcher
(:data:`nasjax.search.SEARCHERS`, seeded with the zoo) through the same
rounds (:func:`nasjax.app.loop.search_round`: ask -> ``train_population``
-> tell), and keeps the winner the loop keeps (highest rung, then the
``search.select`` score).

Two kinds of input:

* **Arrays** ``X: [n, T, F]`` (``[n, F]`` is read as ``T = 1``: tabular
  features, what scikit-learn's own tools pass; a univariate series is
  ``[n, T, 1]``) with labels ``y: [n]`` of any type. Folds:
  :mod:`nasjax.data.arrays` (``folds="stratified"``, the default, or
  ``"time"`` for instances in time order: expanding-window folds as
  ``TimeSeriesSplit``). The answer is the **K-fold ensemble** of the
  searched winner, exactly as a UCR run evaluates it
  (:mod:`nasjax.app.classify`): one model per validation fold, trained on
  that fold's training instances and early-stopped on its validation
  instances; probabilities averaged. No refit on all the data (a refit
  would lose the weights the search validated).
* **A candle frame** (long OHLCV, polars or pandas, as
  :meth:`nasjax.Model.predict` takes): ``fit(frame)`` with ``y=None`` runs
  the whole application (:func:`nasjax.app.run.run_search`: walk-forward
  folds with purge and embargo, search, final fit, ensemble, calibration,
  one test evaluation on the last block) in a temporary folder and keeps its
  answer (:class:`nasjax.Model`). Classes are ``0`` (down) and ``1`` (up)
  of ``close[t + horizon]`` vs ``close[t]``; ``predict_proba(frame)`` has one
  row per predictable bar, in the order of :meth:`NASClassifier.predict_frame`.

``export(path)`` writes a folder: for a frame fit, the app's model folder
(:func:`nasjax.load_model` reads it); for arrays, the layout of a
classification run's ``best/`` (``arch.json``, ``params/`` with leaves
``[K, ...]``, ``preprocess.json``, ``lineage.json``, ``metrics.json``) which
:func:`nasjax.load_model` does not serve; both also hold
``estimator.json``, and :meth:`NASClassifier.load` reads either back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
import polars as pl
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from nasjax.app.checkpoint import CheckpointConfig
from nasjax.app.config import (
    AppConfig,
    EnsembleConfig,
    EvaluationConfig,
    FidelityConfig,
    FinalFitConfig,
    ProgressConfig,
    SearchConfig,
    searcher_options,
)
from nasjax.app.estimator_predict import ensemble_proba
from nasjax.app.export import Model, export_model, load_model
from nasjax.app.frames import TIME_COLUMNS
from nasjax.app.loop import LoopState, next_population, search_round
from nasjax.data import DataConfig, FeatureConfig, FoldConfig, FoldedData
from nasjax.data.arrays import array_dataset
from nasjax.data.dataset import build_dataset
from nasjax.data.normalize import NormStats
from nasjax.graph import SearchSpaceConfig
from nasjax.graph.arch import Arch
from nasjax.graph.zoo import SEED_NAMES
from nasjax.morph.lineage import arch_lineage
from nasjax.nn.model import init
from nasjax.search import SEARCHERS, seeded
from nasjax.train.config import TrainConfig
from nasjax.typing import Key, Params

__all__ = ["NASClassifier", "is_candle_frame", "search_folds"]

ESTIMATOR_FILE = "estimator.json"
"""The classifier's record in an exported folder (arguments, classes, shape)."""
_FLOATS: Any = (np.float64, np.float32)


def is_candle_frame(x: Any) -> bool:
    """Whether ``x`` is candles (a polars or pandas frame with a time column
    and ``close``, or a mapping of such frames), not a feature matrix."""
    if isinstance(x, Mapping) and not hasattr(x, "shape"):  # not a sparse dok
        return bool(x) and all(is_candle_frame(v) for v in x.values())
    if isinstance(x, pl.LazyFrame):
        x = x.collect_schema()
    columns = getattr(x, "columns", None)
    if columns is None or not (
        isinstance(x, pl.DataFrame | pl.Schema)
        or type(x).__module__.split(".")[0] == "pandas"
    ):
        return False
    names = {str(c).lower() for c in columns}
    index = getattr(x, "index", None)
    timed = bool(names & set(TIME_COLUMNS)) or "Datetime" in type(index).__name__
    return timed and "close" in names


def search_folds(key: Key, cfg: AppConfig, data: FoldedData) -> tuple[LoopState, str]:
    """Rounds of ``cfg.search`` on ``data``'s validation folds until a budget
    is spent (what :func:`nasjax.app.run.run_search` runs, without files).

    Args:
        key: Root key; split as :func:`~nasjax.app.run.run_search` splits it.
        cfg: The configuration (``search``, ``surrogate``, ``acquisition``,
            ``search_space``, ``train``).
        data: ``(dataset, folds, norm)``.

    Returns:
        The final :class:`~nasjax.app.loop.LoopState` and the budget that
        stopped it.
    """
    ds = data.dataset
    n_classes = len(ds.meta.class_names) or 2
    spec = cfg.search_space.spec(
        int(ds.features.shape[-1]), int(ds.meta.window), n_classes
    )
    searcher = seeded(
        SEARCHERS[cfg.search.name](spec, **searcher_options(cfg)),
        spec,
        cfg.search.seeds,
    )
    k_init, k_search, _, _ = jax.random.split(key, 4)
    loop = LoopState(searcher.init(k_init, None), (), (), -1, None, 0.0)
    while True:
        n, stopped_by = next_population(cfg, loop)
        if stopped_by is not None:
            return loop, stopped_by
        round_key = jax.random.fold_in(k_search, len(loop.progress))
        loop = search_round(round_key, searcher, loop, n, data, cfg)


def _seed(random_state: Any) -> int:
    """An int seed: ``random_state`` itself, or drawn from its RandomState
    (None: fresh entropy, as in scikit-learn)."""
    if isinstance(random_state, int | np.integer):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class NASClassifier(ClassifierMixin, BaseEstimator):
    """Neural architecture search as a scikit-learn classifier.

    Every argument is stored as given; nothing is validated before
    :meth:`fit`. See the module docstring for what ``fit`` runs.

    Args:
        searcher: A key of :data:`nasjax.search.SEARCHERS`.
        population: Architectures trained per round.
        rounds: Search rounds.
        n_steps: Optimiser steps per architecture and fold (a multiple of
            ``eval_every``).
        eval_every: Steps between validation evaluations (None:
            ``n_steps // 4`` when that divides, else ``n_steps``).
        batch_size: Minibatch size.
        learning_rate: Peak learning rate (AdamW, cosine schedule).
        patience: Evaluations without a lower validation loss before a
            member stops (0: never).
        n_folds: K validation folds.
        folds: Arrays only: ``"stratified"`` or ``"time"``
            (:mod:`nasjax.data.arrays`).
        max_nodes: Node capacity of the search space.
        max_width: Width capacity of a node.
        ops: Op vocabulary (None: every op).
        seeds: Zoo architectures of the first round (None: every one the
            space can express; ``()``: none).
        rungs: Successive-halving rungs per round (1: none).
        time_budget_s: Stop searching after this many seconds (None: the
            ``rounds`` decide; a time budget is not reproducible).
        window: Candle frames only: lookback window in bars (arrays: their
            length ``T``).
        horizon: Candle frames only: label horizon in bars.
        random_state: Seed of every key (an int, a ``RandomState`` or None).

    Attributes:
        classes_: ``[C]`` the labels seen in ``fit`` (sorted); a frame fit
            has ``[0, 1]`` (down, up).
        n_features_in_: Features F of each step (arrays).
        feature_names_in_: Column names of a 2-D frame of features, if given.
        window_: Steps T of each instance (arrays; 1 for 2-D input), or the
            lookback window in bars (frames).
        best_arch_: The winning :class:`nasjax.Arch`.
        best_params_: Arrays: its K fold models' params (leaves ``[K,
            ...]``, numpy); frames: the answer's params.
        norm_: Arrays: the K folds' normalisation statistics
            (:class:`nasjax.data.NormStats`, ``float32[K, F]``).
        best_score_: The winner's validation fitness (mean fold accuracy).
        history_: One row per evaluation (polars frame, the columns of a
            run's ``results.parquet``; empty after :meth:`load`).
        best_index_: The winner's row in ``history_``.
        stopped_by_: The budget that ended the search.
        model_: Frames only: the app's answer (:class:`nasjax.Model`).
        summary_: Frames only: the run's ``summary.json`` (validation and
            one-touch test metrics of the last block).
    """

    classes_: np.ndarray
    n_features_in_: int
    feature_names_in_: np.ndarray
    window_: int
    best_arch_: Arch | None
    best_params_: Any
    norm_: NormStats
    best_score_: float
    history_: pl.DataFrame
    best_index_: int
    stopped_by_: str
    model_: Model
    summary_: dict[str, Any]

    def __init__(
        self,
        searcher: str = "bayes_morph",
        population: int = 4,
        rounds: int = 2,
        n_steps: int = 200,
        eval_every: int | None = None,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        patience: int = 0,
        n_folds: int = 3,
        folds: str = "stratified",
        max_nodes: int = 4,
        max_width: int = 32,
        ops: tuple[str, ...] | None = None,
        seeds: tuple[str, ...] | None = None,
        rungs: int = 1,
        time_budget_s: float | None = None,
        window: int = 32,
        horizon: int = 1,
        random_state: Any = None,
    ) -> None:
        self.searcher = searcher
        self.population = population
        self.rounds = rounds
        self.n_steps = n_steps
        self.eval_every = eval_every
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.n_folds = n_folds
        self.folds = folds
        self.max_nodes = max_nodes
        self.max_width = max_width
        self.ops = ops
        self.seeds = seeds
        self.rungs = rungs
        self.time_budget_s = time_budget_s
        self.window = window
        self.horizon = horizon
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.time_budget_s is not None
        return tags

    # ------------------------------------------------------------------ config

    def app_config(self, seed: int = 0) -> AppConfig:
        """The :class:`~nasjax.app.config.AppConfig` these arguments stand for.

        Args:
            seed: The root seed (``cfg.seed``).
        """
        every = self.eval_every
        if every is None:
            every = self.n_steps // 4 if self.n_steps % 4 == 0 else self.n_steps
        train = TrainConfig(
            learning_rate=self.learning_rate,
            n_steps=self.n_steps,
            eval_every=every,
            batch_size=self.batch_size,
            warmup_steps=min(20, self.n_steps // 4),
            stop_metric="loss",
            patience=self.patience,
            eval_batch_size=256,
        )
        rungs = max(1, int(self.rungs))
        search = SearchConfig(
            name=self.searcher,
            population=self.population,
            rounds=self.rounds,
            time_budget_s=self.time_budget_s,
            seeds=SEED_NAMES if self.seeds is None else tuple(self.seeds),
            fidelity=FidelityConfig(enabled=rungs > 1, rungs=rungs),
        )
        space = SearchSpaceConfig(
            max_nodes=self.max_nodes,
            max_width=self.max_width,
            ops=None if self.ops is None else tuple(self.ops),
        )
        final = FinalFitConfig(
            n_steps=self.n_steps, eval_every=every, batch_size=self.batch_size
        )
        evaluation = EvaluationConfig(
            baselines=("majority", "persistence", "logistic"),
            n_boot=100,
            final_fit=final,
            ensemble=EnsembleConfig(top_k=2, classical=("logistic",)),
        )
        return AppConfig(
            seed=seed,
            data=DataConfig(
                source="synthetic",
                window=self.window,
                horizon=self.horizon,
                n_folds=self.n_folds,
            ),
            search_space=space,
            search=search,
            train=train,
            evaluation=evaluation,
            checkpoint=CheckpointConfig(enabled=False),
            progress=ProgressConfig(bar=False),
        )

    # ------------------------------------------------------------------ input

    def _series(self, X: Any, *, reset: bool) -> np.ndarray:
        """Validated ``float32[n, T, F]`` (2-D input: ``T = 1``)."""
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            try:
                ndim = np.asarray(X).ndim
            except (ValueError, TypeError):  # ragged lists: check_array says so
                ndim = 2
        if ndim != 3:
            x2 = np.asarray(validate_data(self, X, reset=reset, dtype=_FLOATS))
            if not reset and self.window_ != 1:
                raise ValueError(
                    f"X is 2-D {x2.shape}, but {type(self).__name__} was fitted "
                    f"on series of {self.window_} steps: pass [n, "
                    f"{self.window_}, {self.n_features_in_}]"
                )
            return np.asarray(x2, np.float32)[:, None, :]
        x = check_array(X, allow_nd=True, dtype=_FLOATS, ensure_min_features=1)
        _, length, n_feat = x.shape
        if reset:
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self.n_features_in_ = n_feat
        elif (length, n_feat) != (self.window_, self.n_features_in_):
            raise ValueError(
                f"X has {n_feat} features and {length} steps, but "
                f"{type(self).__name__} is expecting {self.n_features_in_} "
                f"features and {self.window_} steps as input"
            )
        return np.asarray(x, np.float32)

    # ------------------------------------------------------------------ fit

    def fit(self, X: Any, y: Any = None) -> NASClassifier:
        """Search architectures on folds of ``(X, y)``; keep the winner.

        Args:
            X: ``[n, T, F]`` or ``[n, F]`` numbers (arrays, lists, frames of
                features), or a candle frame (then ``y`` is None).
            y: ``[n]`` labels (any type scikit-learn takes for a classifier).

        Returns:
            ``self``.

        Raises:
            ValueError: On bad input, fewer than 2 classes or too few samples
                for the folds.
            RuntimeError: If every evaluation failed.
        """
        if is_candle_frame(X):
            return self._fit_frame(X, y)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target "
                "y is None (only a candle frame carries its own labels)"
            )
        x = self._series(X, reset=True)
        y = column_or_1d(y, warn=True)
        if len(y) != len(x):
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {len(x)} != {len(y)}"
            )
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes; y has 1 class "
                f"({classes[0]!r})"
            )
        seed = _seed(self.random_state)
        cfg = self.app_config(seed)
        data = array_dataset(
            x,
            y_idx,
            len(classes),
            n_folds=self.n_folds,
            folds=self.folds,
            seed=seed,
            class_names=tuple(str(c) for c in classes),
        )
        loop, stopped_by = search_folds(jax.random.key(seed), cfg, data)
        if loop.best_row < 0 or loop.best_fold_params is None:
            raise RuntimeError("every evaluation of the search failed")
        row = loop.rows[loop.best_row]
        self.classes_ = classes
        self.window_ = int(x.shape[1])
        self.best_arch_ = jax.tree.map(np.asarray, Arch.from_json(row["arch_json"]))
        self.best_params_ = jax.tree.map(np.asarray, loop.best_fold_params)
        self.norm_ = NormStats(*(np.asarray(a, np.float32) for a in data.norm))
        self.best_score_ = float(row["fitness"])
        self.history_ = pl.DataFrame(list(loop.rows))
        self.best_index_ = int(loop.best_row)
        self.stopped_by_ = stopped_by
        for name in ("model_", "summary_"):
            if hasattr(self, name):
                delattr(self, name)
        return self

    def _fit_frame(self, frame: Any, y: Any) -> NASClassifier:
        """The whole app on a candle frame (module docstring)."""
        from nasjax.app.frames import candle_frame
        from nasjax.app.run import run_search

        if y is not None:
            raise ValueError(
                "a candle frame carries its own labels (direction over "
                "`horizon` bars): call fit(frame) with y=None"
            )
        seed = _seed(self.random_state)
        cfg = self.app_config(seed)
        candles = candle_frame(frame, ())
        data = build_dataset(
            candles,
            FeatureConfig(),
            horizon=self.horizon,
            window=self.window,
            folds=FoldConfig(n_folds=self.n_folds),
        )
        with tempfile.TemporaryDirectory(prefix="nasjax-estimator-") as tmp:
            summary = run_search(cfg, tmp, dataset=data, progress=False)
            model = load_model(Path(tmp) / "best")
            history = pl.read_parquet(Path(tmp) / "results.parquet")
        self.model_ = dataclasses.replace(model, exported=None)
        self.summary_ = summary
        self.classes_ = np.array([0, 1])
        self.window_ = int(model.preprocess.window)
        arch = model.arch
        self.best_arch_ = None if arch is None else jax.tree.map(np.asarray, arch)
        self.best_params_ = model.params
        self.best_score_ = float(summary["best"]["fitness"])
        self.history_ = history
        fp = summary["best"]["fingerprint"]
        hits = [i for i, f in enumerate(history["fingerprint"]) if f == fp]
        self.best_index_ = hits[-1] if hits else -1
        self.stopped_by_ = summary["budget"]["stopped_by"]
        for name in ("norm_", "n_features_in_", "feature_names_in_"):
            if hasattr(self, name):
                delattr(self, name)
        return self

    # ------------------------------------------------------------------ predict

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``float32[n, C]`` (columns follow
        ``classes_``).

        Arrays: the mean over the K fold models of their softmax. A candle
        frame: ``[1 - p_up, p_up]`` per row of :meth:`predict_frame`.
        """
        check_is_fitted(self)
        if hasattr(self, "model_"):
            p = self.predict_frame(X)["p_up"].to_numpy().astype(np.float32)
            return np.stack([1.0 - p, p], axis=1)
        x = self._series(X, reset=False)
        assert self.best_arch_ is not None
        return ensemble_proba(
            self.best_arch_, self.best_params_, x, self.norm_.mean, self.norm_.std
        )

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each instance, as a label of
        ``classes_`` (``[n]``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_frame(self, frame: Any, *, symbol: str | None = None) -> pl.DataFrame:
        """Frames only: ``timestamp, symbol, p_up`` per predictable bar
        (:meth:`nasjax.Model.predict`)."""
        check_is_fitted(self)
        if not hasattr(self, "model_"):
            raise ValueError("predict_frame needs a model fitted on a candle frame")
        if not is_candle_frame(frame):
            raise ValueError(
                "this model was fitted on candles: pass a candle frame "
                "(timestamp or date, symbol, open, high, low, close, volume)"
            )
        return self.model_.predict(frame, symbol=symbol, use_export=False)

    # ------------------------------------------------------------------ export

    def export(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` (replaced).

        Frames: the app's model folder (:func:`nasjax.load_model`). Arrays:
        ``arch.json``, ``params/`` (orbax, leaves ``[K, ...]``),
        ``preprocess.json`` (classes, window, per-fold mean/std),
        ``lineage.json``, ``metrics.json``, as a classification run's
        ``best/``. Both add ``estimator.json`` (the arguments, classes and
        input shape) for :meth:`load`.

        Returns:
            The folder.
        """
        check_is_fitted(self)
        final = Path(path).absolute()
        if hasattr(self, "model_"):
            m: Model = self.model_
            export_model(
                final,
                m.arch,
                m.params,
                m.preprocess,
                lineage=m.lineage,
                metrics=m.metrics,
                members=m.members,
                calibration=m.calibration,
            )
        else:
            self._export_arrays(final)
        (final / ESTIMATOR_FILE).write_text(json.dumps(self._record(), indent=1))
        return final

    def _record(self) -> dict[str, Any]:
        classes = self.classes_
        record = {
            "kind": "frame" if hasattr(self, "model_") else "arrays",
            "params": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.get_params().items()
                if k != "random_state" or isinstance(v, int | None)
            },
            "classes": classes.tolist(),
            "classes_dtype": classes.dtype.str if classes.dtype != object else "O",
            "window": self.window_,
            "n_features_in": getattr(self, "n_features_in_", None),
            "feature_names_in": (
                self.feature_names_in_.tolist()
                if hasattr(self, "feature_names_in_")
                else None
            ),
            "best_score": self.best_score_,
            "stopped_by": self.stopped_by_,
        }
        return record

    def _export_arrays(self, final: Path) -> None:
        tmp = final.with_name(final.name + ".partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        arch = self.best_arch_
        assert arch is not None
        (tmp / "arch.json").write_text(arch.to_json())
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save((tmp / "params").absolute(), self.best_params_)
            ckptr.wait_until_finished()
        preprocess = {
            "task": "classification",
            "dataset": None,
            "class_names": [str(c) for c in self.classes_],
            "feature_names": [f"x{f}" for f in range(self.n_features_in_)],
            "window": self.window_,
            "padding": "none",
            "mean": self.norm_.mean.tolist(),
            "std": self.norm_.std.tolist(),
            "params": "leaves [K, ...]: model k normalises with mean[k], std[k]",
            "predict": "mean over k of softmax(model_k((x - mean[k]) / std[k]))",
            "note": "NASClassifier.load reads this folder; nasjax.load_model "
            "serves candle models",
        }
        (tmp / "preprocess.json").write_text(json.dumps(preprocess, indent=1))
        rows = self.history_.to_dicts()
        lineage = arch_lineage(rows, rows[self.best_index_]["fingerprint"])
        (tmp / "lineage.json").write_text(json.dumps(lineage, indent=1))
        metrics = {"validation": {"fitness": self.best_score_}}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)

    @classmethod
    def load(cls, path: str | Path) -> NASClassifier:
        """A fitted classifier from a folder :meth:`export` wrote."""
        root = Path(path).absolute()
        record = json.loads((root / ESTIMATOR_FILE).read_text())
        params: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in record["params"].items()
        }
        est = cls(**params)
        dtype = np.dtype(record["classes_dtype"])
        est.classes_ = np.asarray(record["classes"], dtype=dtype)
        est.window_ = int(record["window"])
        est.best_score_ = float(record["best_score"])
        est.stopped_by_ = record["stopped_by"]
        est.history_ = pl.DataFrame()
        est.best_index_ = -1
        if record["kind"] == "frame":
            model = dataclasses.replace(load_model(root), exported=None)
            est.model_ = model
            est.summary_ = {"metrics": model.metrics}
            arch = model.arch
            est.best_arch_ = None if arch is None else jax.tree.map(np.asarray, arch)
            est.best_params_ = model.params
            return est
        arch = Arch.from_json((root / "arch.json").read_text())
        pre = json.loads((root / "preprocess.json").read_text())
        mean = np.asarray(pre["mean"], np.float32)
        est.norm_ = NormStats(mean=mean, std=np.asarray(pre["std"], np.float32))
        est.best_params_ = _restore_fold_params(root / "params", arch, len(mean))
        est.best_arch_ = jax.tree.map(np.asarray, arch)
        est.n_features_in_ = int(record["n_features_in"])
        if record["feature_names_in"] is not None:
            est.feature_names_in_ = np.asarray(record["feature_names_in"], object)
        return est


def _restore_fold_params(path: Path, arch: Arch, n_folds: int) -> Params:
    """The ``[K, ...]`` params of an array export."""
    one = jax.eval_shape(init, jax.random.key(0), arch)
    target = jax.tree.map(lambda s: np.empty((n_folds, *s.shape), s.dtype), one)
    with ocp.StandardCheckpointer() as ckptr:
        restored = ckptr.restore(path.absolute(), target)
    return jax.tree.map(np.asarray, restored)
