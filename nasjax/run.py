"""Deprecated: the driver moved to :mod:`nasjax.app.run` (kept for one release).

``RunConfig``, the flat second copy of the configuration, is deprecated too:
:func:`nasjax.run_search` takes the application's own
:class:`~nasjax.app.config.AppConfig` (the Hydra schema). A ``RunConfig``
still works for one release: it warns when built and
:meth:`RunConfig.to_app_config` gives the equivalent ``AppConfig``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

from nasjax._deprecated import moved
from nasjax.app.checkpoint import CheckpointConfig
from nasjax.app.config import (
    AcquisitionConfig,
    AppConfig,
    EvaluationConfig,
    SearchConfig,
    SurrogateConfig,
)
from nasjax.data import DataConfig, FeatureConfig, FoldedData
from nasjax.data import load_data as _load_data
from nasjax.graph import SearchSpaceConfig
from nasjax.train.config import TrainConfig

__getattr__ = moved("nasjax.run", "nasjax.app.run")

# searcher factory option -> (AppConfig group, field)
_OPTIONS: dict[str, tuple[str, str]] = {
    "n_init": ("surrogate", "n_init"),
    "gp_method": ("surrogate", "method"),
    "gp_restarts": ("surrogate", "restarts"),
    "gp_steps": ("surrogate", "steps"),
    "gp_optimizer": ("surrogate", "optimizer"),
    "gp_warm_start": ("surrogate", "warm_start"),
    "gp_fresh_every": ("surrogate", "fresh_every"),
    "gp_sparse_above": ("surrogate", "sparse_above"),
    "gp_inducing": ("surrogate", "inducing"),
    "gp_noise_aware": ("surrogate", "noise_aware"),
    "acquisition": ("acquisition", "name"),
    "n_candidates": ("acquisition", "n_candidates"),
    "top_k": ("acquisition", "top_k"),
    "chain_length": ("acquisition", "chain_length"),
    "random_fraction": ("acquisition", "random_fraction"),
    "objectives": ("search", "objectives"),
    "morphs": ("search", "morphs"),
    "n_startup_trials": ("search", "startup_trials"),
    "n_ei_candidates": ("search", "ei_candidates"),
    "population_size": ("search", "aging_window"),
    "sample_size": ("search", "tournament_size"),
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Deprecated flat run configuration; use :class:`~nasjax.app.config.AppConfig`.

    Attributes:
        searcher: ``search.name``.
        searcher_options: Searcher factory options as ``(name, value)`` pairs
            (or a mapping), mapped onto ``surrogate``, ``acquisition`` and
            ``search`` fields.
        population: ``search.population``.
        rounds: ``search.rounds``.
        seed: ``seed``.
        max_nodes: ``search_space.max_nodes``.
        max_width: ``search_space.max_width``.
        ops: ``search_space.ops``.
        window: ``data.window``.
        horizon: ``data.horizon``.
        data: ``data.source``.
        data_path: ``data.path``.
        data_name: ``data.name``.
        timeframe: ``data.timeframe``.
        symbols: ``data.symbols``.
        synthetic_signal: ``data.synthetic_signal``.
        synthetic_symbols: ``data.synthetic_symbols``.
        synthetic_steps: ``data.synthetic_steps``.
        n_folds: ``data.n_folds``.
        features: ``features``.
        train: ``train``.
        baselines: ``evaluation.baselines``.
        n_boot: ``evaluation.n_boot``.
        max_evaluations: ``search.max_evaluations``.
        time_budget_s: ``search.time_budget_s``.
        inherit: ``search.inherit``.
        checkpoint: ``checkpoint``.
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
        warnings.warn(
            "nasjax.RunConfig is deprecated and will be removed in the next "
            "release; pass a nasjax.AppConfig to nasjax.run_search",
            DeprecationWarning,
            stacklevel=3,
        )
        self.to_app_config()  # validates

    def to_app_config(self) -> AppConfig:
        """The equivalent :class:`~nasjax.app.config.AppConfig`.

        Raises:
            ValueError: On an invalid value or a searcher option that has no
                ``AppConfig`` field.
        """
        groups: dict[str, dict[str, Any]] = {
            "search": {},
            "surrogate": {},
            "acquisition": {},
        }
        for name, value in dict(self.searcher_options).items():
            if name not in _OPTIONS:
                raise ValueError(
                    f"searcher option {name!r} has no AppConfig field; "
                    f"known: {sorted(_OPTIONS)}"
                )
            group, field = _OPTIONS[name]
            groups[group][field] = (
                tuple(value) if name in ("objectives", "morphs") else value
            )
        return AppConfig(
            seed=self.seed,
            data=DataConfig(
                source=self.data,
                path=self.data_path,
                name=self.data_name,
                timeframe=self.timeframe,
                symbols=self.symbols,
                window=self.window,
                horizon=self.horizon,
                n_folds=self.n_folds,
                synthetic_signal=self.synthetic_signal,
                synthetic_symbols=self.synthetic_symbols,
                synthetic_steps=self.synthetic_steps,
            ),
            features=self.features,
            search_space=SearchSpaceConfig(
                max_nodes=self.max_nodes, max_width=self.max_width, ops=self.ops
            ),
            search=SearchConfig(
                name=self.searcher,
                population=self.population,
                rounds=self.rounds,
                max_evaluations=self.max_evaluations,
                time_budget_s=self.time_budget_s,
                inherit=self.inherit,
                **groups["search"],
            ),
            surrogate=SurrogateConfig(**groups["surrogate"]),
            acquisition=AcquisitionConfig(**groups["acquisition"]),
            train=self.train,
            evaluation=EvaluationConfig(baselines=self.baselines, n_boot=self.n_boot),
            checkpoint=self.checkpoint,
        )


def load_data(cfg: RunConfig | AppConfig) -> FoldedData:
    """Deprecated: use ``nasjax.data.load_data(cfg.data, cfg.features, cfg.seed)``."""
    app = cfg if isinstance(cfg, AppConfig) else cfg.to_app_config()
    return _load_data(app.data, app.features, app.seed)
