"""Frozen dataclass schemas of the Hydra application (one per ``conf/`` group).

The YAML files under ``conf/`` are validated against these schemas when Hydra
composes them: a misspelt key or a value of the wrong type fails at start-up
with Hydra's own error message. Library code never imports Hydra; only
:func:`register_configs` (called by the command line) does, lazily.

After composition, :func:`to_app_config` turns the ``DictConfig`` into the
:class:`AppConfig` that :func:`nasjax.run_search` takes: the same dataclasses
are the configuration the library consumes (``DataConfig`` and ``load_data``
live in :mod:`nasjax.data`, ``SearchSpaceConfig`` in :mod:`nasjax.graph`,
``TrainConfig`` in :mod:`nasjax.train`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nasjax.app.checkpoint import CheckpointConfig
from nasjax.app.tracking import TrackerConfig
from nasjax.baselines.registry import BASELINES, CLASSIFICATION_ONLY
from nasjax.data.config import DataConfig
from nasjax.data.features import FeatureConfig
from nasjax.distributed.launch import DistributedConfig
from nasjax.evaluate.calibrate import METHODS as CALIBRATIONS
from nasjax.graph.space import SearchSpaceConfig
from nasjax.graph.zoo import SEED_NAMES, ZOO
from nasjax.protocol.config import ProtocolConfig
from nasjax.search import SEARCHERS
from nasjax.search.fidelity import SELECT_RULES
from nasjax.train.config import TrainConfig

__all__ = [
    "GROUP_SCHEMAS",
    "MODES",
    "RESUMABLE_KEYS",
    "AcquisitionConfig",
    "AppConfig",
    "DataConfig",
    "DistributedAppConfig",
    "EnsembleConfig",
    "EvaluationConfig",
    "FidelityConfig",
    "FinalFitConfig",
    "ProgressConfig",
    "SearchConfig",
    "SearchSpaceConfig",
    "SurrogateConfig",
    "TrackerConfig",
    "override",
    "register_configs",
    "searcher_options",
    "to_app_config",
    "writable_schema",
]


@dataclass(frozen=True)
class FidelityConfig:
    """Successive-halving rungs inside every round (``search.fidelity``).

    Every member of a round is trained to the rung-0 budget; the best
    ``ceil(n / eta)`` by ``search.select`` continue (weights, optimiser state
    and early stopping carried, per fold) to the next rung, up to the top
    rung, whose budget is the training length (``train.n_steps``, or
    ``train.epochs``). Rung ``r`` of ``R`` trains ``top / eta ** (R - 1 - r)``
    steps in total, rounded up to a multiple of ``train.eval_every``
    (:func:`nasjax.search.fidelity.rung_budgets`). The searcher is told the
    rung-0 fitness of every member (all measured at the same budget); the
    winner is chosen among the members trained at the top rung.

    Attributes:
        enabled: Use rungs (False: every member trains the full length, one
            rung).
        rungs: Number of rungs (1: no multi-fidelity).
        eta: Reduction factor (>= 2): each rung keeps ``1 / eta`` of the
            members and trains ``eta`` times longer.
    """

    enabled: bool = True
    rungs: int = 3
    eta: int = 3

    def __post_init__(self) -> None:
        if self.rungs < 1 or self.eta < 2:
            raise ValueError(
                "search.fidelity.rungs must be >= 1 and search.fidelity.eta >= 2"
            )


@dataclass(frozen=True)
class SearchConfig:
    """The searcher and its budget.

    Attributes:
        name: A key of :data:`nasjax.search.SEARCHERS`.
        population: Architectures asked and trained per round.
        rounds: Search rounds.
        max_evaluations: Stop after this many evaluations (None: no limit).
        time_budget_s: Stop after this many seconds (None: no limit).
        morphs: Morphs children are made with (None: all).
        aging_window: Evolution: most recent evaluations kept alive.
        tournament_size: Evolution: tournament size.
        objectives: Objectives of a multi-objective search (empty: accuracy
            only), e.g. ``[accuracy, params]``.
        startup_trials: TPE: random trials before TPE models the archive.
        ei_candidates: TPE: candidates scored per parameter.
        inherit: Morph children start from their parent's morphed trained
            weights, per fold (default; benchmarks/README.md "Weight
            inheritance" measures it); False trains every child from scratch.
        seeds: Architectures the first asks hand out before the searcher's
            own proposals (keys of :data:`nasjax.graph.ZOO`: ``linear``,
            ``linear_window``, ``lstm``, ``transformer``, ``tcn``; default
            all, empty disables). Seeds the search space cannot express are
            skipped with a logged reason.
        fidelity: Successive-halving rungs (:class:`FidelityConfig`).
        select: How members are ranked for promotion and the winner:
            ``lcb`` (the lower confidence bound ``fitness - select_z *
            fitness_se``: a high mean that comes with a large fold spread
            does not win by luck) or ``mean`` (the fitness itself).
        select_z: Width of the lower confidence bound, in standard errors.
    """

    name: str = "bayes_morph"
    population: int = 8
    rounds: int = 3
    max_evaluations: int | None = None
    time_budget_s: float | None = None
    morphs: tuple[str, ...] | None = None
    aging_window: int = 32
    tournament_size: int = 8
    objectives: tuple[str, ...] = ()
    startup_trials: int = 8
    ei_candidates: int = 24
    inherit: bool = True
    seeds: tuple[str, ...] = SEED_NAMES
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)
    select: str = "lcb"
    select_z: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if self.select not in SELECT_RULES:
            problems.append(f"search.select must be one of {SELECT_RULES}")
        if not self.select_z >= 0:
            problems.append("search.select_z must be >= 0")
        if self.name not in SEARCHERS:
            problems.append(f"search.name must be one of {tuple(SEARCHERS)}")
        unknown = [n for n in self.seeds if n not in ZOO]
        if unknown:
            problems.append(f"search.seeds: unknown {unknown}; known: {list(ZOO)}")
        if self.population < 1 or self.rounds < 1:
            problems.append("search.population and search.rounds must be >= 1")
        if self.max_evaluations is not None and self.max_evaluations < 1:
            problems.append("search.max_evaluations must be >= 1 or None")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            problems.append("search.time_budget_s must be > 0 or None")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class SurrogateConfig:
    """The Gaussian-process surrogate of ``bayes_morph``.

    Attributes:
        method: ``map`` (multi-restart MAP) or ``nuts`` (posterior samples).
        restarts: MAP restarts (vmapped).
        steps: Most L-BFGS iterations per MAP stage (Adam: steps per restart).
        n_init: Successful evaluations before the GP is used.
        optimizer: ``lbfgs`` (early-stopping quasi-Newton) or ``adam``
            (the original fixed-length optimiser).
        warm_start: Start each MAP refit from the previous round's
            hyper-parameters (one start), with all ``restarts`` fresh starts
            only every ``fresh_every`` fits.
        fresh_every: Fits between multi-start refits under ``warm_start``.
        sparse_above: More observations than this use the sparse
            (inducing-point, VFE) GP.
        inducing: Inducing points of the sparse GP.
        noise_aware: Each observation's standard error (fold spread and
            validation sample size) is added to the GP's learned noise.
    """

    method: str = "map"
    restarts: int = 8
    steps: int = 200
    n_init: int = 8
    optimizer: str = "lbfgs"
    warm_start: bool = True
    fresh_every: int = 5
    sparse_above: int = 2048
    inducing: int = 512
    noise_aware: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.method not in ("map", "nuts"):
            problems.append(
                f"surrogate.method must be map or nuts, got {self.method!r}"
            )
        if self.optimizer not in ("lbfgs", "adam"):
            problems.append(
                f"surrogate.optimizer must be lbfgs or adam, got {self.optimizer!r}"
            )
        for key in ("restarts", "steps", "fresh_every", "inducing"):
            if getattr(self, key) < 1:
                problems.append(f"surrogate.{key} must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class AcquisitionConfig:
    """How ``bayes_morph`` picks the next architectures.

    Attributes:
        name: ``ei``, ``log_ei``, ``pi`` or ``ucb``.
        n_candidates: Candidates scored per round.
        top_k: Parents come from the ``top_k`` fittest architectures.
        chain_length: Morphs per candidate chain.
        random_fraction: Share of random-restart candidates.
    """

    name: str = "ei"
    n_candidates: int = 1024
    top_k: int = 8
    chain_length: int = 2
    random_fraction: float = 0.125

    def __post_init__(self) -> None:
        problems = []
        if self.name not in ACQUISITION_NAMES:
            problems.append(
                f"acquisition.name must be one of {ACQUISITION_NAMES}, "
                f"got {self.name!r}"
            )
        for key in ("n_candidates", "top_k", "chain_length"):
            if getattr(self, key) < 1:
                problems.append(f"acquisition.{key} must be >= 1")
        if not 0.0 <= self.random_fraction <= 1.0:
            problems.append("acquisition.random_fraction must be in [0, 1]")
        if problems:
            raise ValueError("; ".join(problems))


ACQUISITION_NAMES: tuple[str, ...] = ("ei", "log_ei", "pi", "ucb")
"""Values of ``acquisition.name`` (:func:`nasjax.surrogate.propose`)."""


@dataclass(frozen=True)
class ProgressConfig:
    """What a run prints (the ``progress`` group; formerly ``logger``).

    Attributes:
        bar: Show the rich progress bar.
        level: Log level of the ``nasjax`` logger.
    """

    bar: bool = True
    level: str = "INFO"


@dataclass(frozen=True)
class FinalFitConfig:
    """The final fit: the delivered models trained to convergence.

    The winner (and every ensemble candidate) continues from its searched
    weights of the last fold; the deep baselines start from scratch with the
    same budget. Training uses the last fold's training ids (everything
    before the test period, purge and embargo kept) and early-stops on the
    validation LOSS of its validation block (the most recent one). The other
    training settings are those of ``train``.

    Attributes:
        enabled: Run the final fit (False: the winner keeps its searched
            weights and the deep baselines train with ``train``).
        n_steps: Most optimiser steps (a multiple of ``eval_every``).
        eval_every: Steps between validation evaluations.
        patience: Evaluations without improvement before stopping (0: never).
        batch_size: Minibatch size.
        learning_rate: Peak learning rate (None: ``train.learning_rate``).
        max_eval_samples: Validation samples evaluated per evaluation (an
            evenly strided subset; None: all).
    """

    enabled: bool = True
    n_steps: int = 400
    eval_every: int = 100
    patience: int = 2
    batch_size: int = 256
    learning_rate: float | None = None
    max_eval_samples: int | None = 8192

    def __post_init__(self) -> None:
        self.train_config(TrainConfig())  # validates the fields

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """``base`` with this budget, early stopping on validation loss."""
        lr = base.learning_rate if self.learning_rate is None else self.learning_rate
        try:
            return dataclasses.replace(
                base,
                n_steps=self.n_steps,
                eval_every=self.eval_every,
                patience=self.patience,
                batch_size=self.batch_size,
                learning_rate=lr,
                max_eval_samples=self.max_eval_samples,
                metric="loss",
                stop_metric="loss",
                epochs=None,  # this budget, not the search's epochs
                schedule_steps=None,  # the schedule spans this budget
            )
        except ValueError as e:
            raise ValueError(f"evaluation.final_fit: {e}") from None


@dataclass(frozen=True)
class EnsembleConfig:
    """Ensemble selection (Caruana et al. 2004) over the final-fitted models.

    Attributes:
        enabled: Build the ensemble (the answer is the better of the single
            best arch and the ensemble on validation log loss).
        top_k: Architectures of the search (fittest first, the winner
            included) final-fitted as candidates.
        rounds: Greedy selection rounds (with replacement).
        classical: Classical baselines offered as candidates, fitted on the
            last fold's training ids (direction: only portable ones are used,
            ``logistic`` and ``gbdt``; classification: ``logistic`` and
            ``minirocket``, one fit per fold; the others are skipped and the
            summary says so).
    """

    enabled: bool = True
    top_k: int = 3
    rounds: int = 20
    classical: tuple[str, ...] = ("logistic", "gbdt", "minirocket")

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.rounds < 1:
            raise ValueError("evaluation.ensemble.top_k and rounds must be >= 1")
        known = (*BASELINES, *CLASSIFICATION_ONLY)
        unknown = [c for c in self.classical if c not in known]
        if unknown:
            raise ValueError(f"unknown evaluation.ensemble.classical {unknown}")


@dataclass(frozen=True)
class EvaluationConfig:
    """The one-touch test evaluation at the end of a search.

    Attributes:
        baselines: Keys of :data:`nasjax.baselines.BASELINES` to compare with
            (the deep ones get the ``final_fit`` budget).
        n_boot: Block-bootstrap resamples of the confidence intervals.
        final_fit: See :class:`FinalFitConfig`.
        ensemble: See :class:`EnsembleConfig`.
        calibration: ``temperature``, ``platt`` or ``none``: the map of the
            answer's probabilities fitted on the selection block
            (:mod:`nasjax.evaluate.calibrate`).
        selection_fraction: The most recent share of the last validation
            block (in bars) held out from the final fit's early stopping:
            the ensemble is selected, the answer chosen and calibrated on it
            (:func:`nasjax.data.splits.split_last_validation`; a gap of the
            label horizon separates the two parts). 0: one block does all.
    """

    baselines: tuple[str, ...] = (
        "majority",
        "persistence",
        "logistic",
        "gbdt",
        "lstm",
        "transformer",
    )
    n_boot: int = 200
    final_fit: FinalFitConfig = field(default_factory=FinalFitConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    calibration: str = "temperature"
    selection_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.selection_fraction < 1.0:
            raise ValueError(
                "evaluation.selection_fraction must be in [0, 1), got "
                f"{self.selection_fraction}"
            )
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise ValueError(
                f"unknown evaluation.baselines {unknown}; known: {tuple(BASELINES)}"
            )
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"evaluation.calibration must be one of {CALIBRATIONS}, "
                f"got {self.calibration!r}"
            )


@dataclass(frozen=True)
class DistributedAppConfig(DistributedConfig):
    """How the application joins (or starts) a multi-process run.

    The fields of :class:`nasjax.distributed.DistributedConfig` go to
    :func:`nasjax.distributed.initialize` (``auto``: from SLURM, the
    ``NASJAX_*`` variables or JAX's cluster detection; nothing set: one
    process), plus a local launcher for people without a cluster.

    Attributes:
        local_processes: More than 1: ``python -m nasjax`` starts this many
            copies of itself on this machine (coordinator on 127.0.0.1), each
            joining one ``jax.distributed`` run that shares the population
            over every process's devices; the launching process waits and
            prints process 0's summary. 0 or 1: run in this process only.
        devices_per_process: Fake CPU devices per local process (sets
            ``--xla_force_host_platform_device_count``; None: XLA's default).
    """

    local_processes: int = 0
    devices_per_process: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.local_processes < 0:
            raise ValueError(
                f"local_processes must be >= 0, got {self.local_processes}"
            )
        if self.devices_per_process is not None and self.devices_per_process < 1:
            raise ValueError(
                f"devices_per_process must be >= 1, got {self.devices_per_process}"
            )


@dataclass(frozen=True)
class AppConfig:
    """The whole application configuration (``conf/config.yaml``).

    Attributes:
        task_name: Name of the run family (part of the output folder).
        seed: Root seed of every PRNG key of the run.
        optimized_metric: Summary entry a sweeper optimises (a validation
            score: sweeping on test scores would leak the test period).
        data: See :class:`DataConfig`.
        features: See :class:`nasjax.data.FeatureConfig`.
        search_space: See :class:`SearchSpaceConfig`.
        search: See :class:`SearchConfig`.
        surrogate: See :class:`SurrogateConfig`.
        acquisition: See :class:`AcquisitionConfig`.
        train: See :class:`nasjax.train.TrainConfig`.
        evaluation: See :class:`EvaluationConfig`.
        checkpoint: See :class:`nasjax.app.checkpoint.CheckpointConfig`.
        progress: See :class:`ProgressConfig`.
        tracker: See :class:`nasjax.app.tracking.TrackerConfig`.
        mode: ``search`` (NAS run) or ``protocol`` (the proof-of-stake
            protocol simulation of ``protocol``).
        protocol: See :class:`nasjax.protocol.ProtocolConfig`.
        distributed: See :class:`DistributedAppConfig`.
    """

    task_name: str = "search"
    seed: int = 0
    optimized_metric: str = "best.fitness"
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    search_space: SearchSpaceConfig = field(default_factory=SearchSpaceConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    surrogate: SurrogateConfig = field(default_factory=SurrogateConfig)
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            n_steps=600, eval_every=50, batch_size=64, stop_metric="loss", patience=4
        )
    )
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    progress: ProgressConfig = field(default_factory=ProgressConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    mode: str = "search"
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    distributed: DistributedAppConfig = field(default_factory=DistributedAppConfig)


MODES: tuple[str, ...] = ("search", "protocol")
"""``AppConfig.mode`` values."""

RESUMABLE_KEYS: tuple[str, ...] = (
    "search.rounds",
    "search.max_evaluations",
    "search.time_budget_s",
    "checkpoint",
)
"""Dotted :class:`AppConfig` keys that may differ from a checkpoint's when
resuming (the budgets, so a finished search can be extended)."""

GROUP_SCHEMAS: dict[str, type] = {
    "data": DataConfig,
    "features": FeatureConfig,
    "search_space": SearchSpaceConfig,
    "search": SearchConfig,
    "surrogate": SurrogateConfig,
    "acquisition": AcquisitionConfig,
    "train": TrainConfig,
    "evaluation": EvaluationConfig,
    "checkpoint": CheckpointConfig,
    "progress": ProgressConfig,
    "tracker": TrackerConfig,
    "protocol": ProtocolConfig,
    "distributed": DistributedAppConfig,
}
"""Config group -> schema; ``conf/<group>/*.yaml`` extend ``<group>_schema``."""


def writable_schema(schema: type) -> Any:
    """A structured config of a frozen dataclass that Hydra may merge into.

    OmegaConf marks the nodes of a frozen dataclass read-only, which would make
    every YAML value and command-line override fail. The schema (keys and
    types) is what we want Hydra to enforce, so the read-only flag is cleared
    on every node; the dataclass instance built after composition is frozen.
    """
    from omegaconf import OmegaConf

    node = OmegaConf.structured(schema)

    def clear(n: Any) -> None:
        OmegaConf.set_readonly(n, None)  # pyright: ignore[reportArgumentType]
        if OmegaConf.is_dict(n):
            for key in n:
                child = n._get_node(key)
                if OmegaConf.is_config(child):
                    clear(child)

    clear(node)
    return node


@dataclass(frozen=True)
class _ComposedAppConfig(AppConfig):
    """The schema Hydra composes into: :class:`AppConfig` whose ``protocol``
    is absent (None) until ``mode=protocol`` adds the ``protocol`` group, so
    a search run's configuration holds no protocol keys."""

    # Any: the protocol group's own schema (protocol_schema) types it
    protocol: Any = None  # pyright: ignore[reportIncompatibleVariableOverride]


def register_configs() -> None:
    """Registers ``app_schema`` and ``<group>_schema`` with Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="app_schema", node=writable_schema(_ComposedAppConfig))
    for group, schema in GROUP_SCHEMAS.items():
        store.store(group=group, name=f"{group}_schema", node=writable_schema(schema))


def override(cfg: Any, changes: Mapping[str, Any]) -> Any:
    """A copy of a frozen config with dotted keys replaced, validated again.

    ``override(AppConfig(), {"search.population": 4, "train.n_steps": 20})``
    is the programmatic twin of the command line's
    ``search.population=4 train.n_steps=20``.

    Args:
        cfg: A frozen dataclass configuration (e.g. :class:`AppConfig`).
        changes: Dotted key -> new value.

    Returns:
        The new configuration (every touched dataclass is rebuilt, so its
        ``__post_init__`` checks run).

    Raises:
        KeyError: On a key that is not a field.
    """
    nested: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cfg)}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise KeyError(f"{type(cfg).__name__} has no field {head!r} (in {key!r})")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        direct[head] = override(direct.get(head, getattr(cfg, head)), sub)
    return dataclasses.replace(cfg, **direct)


def _tuples(value: Any) -> Any:
    """Lists (as OmegaConf returns them) -> tuples, recursively, so the frozen
    configs stay hashable."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _tuples(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def to_app_config(cfg: Any) -> AppConfig:
    """A composed ``DictConfig`` (or an :class:`AppConfig`) -> :class:`AppConfig`.

    Keys outside the schema (``hydra``, ``debug``, ``experiment``) are ignored.
    """
    if isinstance(cfg, AppConfig):
        return _checked(_tuples(cfg))
    from omegaconf import OmegaConf

    names = {f.name for f in dataclasses.fields(AppConfig)}
    unknown = unknown_keys(
        OmegaConf.to_container(cfg, resolve=False), AppConfig, skip=True
    )
    if unknown:
        raise ValueError(
            "unknown configuration keys (added with '+'?): "
            + "; ".join(unknown)
            + ". `python -m nasjax --cfg job` prints every valid key."
        )
    merged = OmegaConf.merge(
        writable_schema(AppConfig),
        # a search run has no protocol node: the schema's default stands
        {k: v for k, v in cfg.items() if k in names and v is not None},
    )
    app = OmegaConf.to_object(merged)
    assert isinstance(app, AppConfig)
    return _checked(_tuples(app))


def unknown_keys(
    node: Any, schema: type, prefix: str = "", skip: bool = False
) -> list[str]:
    """Dotted keys of a config container that ``schema`` (a dataclass) lacks.

    Args:
        node: A plain container (``OmegaConf.to_container``).
        schema: The dataclass it should follow.
        prefix: Dotted path of ``node`` (for the messages).
        skip: Ignore unknown top-level keys (``hydra``, ``debug``, ...).

    Returns:
        One ``"key (Schema has no field 'x'; fields: ...)"`` entry per unknown
        key, depth-first.
    """
    if not isinstance(node, dict):
        return []
    fields = [f.name for f in dataclasses.fields(schema)]
    hints = typing.get_type_hints(schema)
    problems = []
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if str(key) not in fields:
            if not skip:
                problems.append(
                    f"{dotted} ({schema.__name__} has no field {key!r}; fields: "
                    f"{', '.join(fields)})"
                )
            continue
        target = hints.get(str(key))
        if isinstance(target, type) and dataclasses.is_dataclass(target):
            problems += unknown_keys(value, target, f"{dotted}.")
    return problems


def _checked(app: AppConfig) -> AppConfig:
    if app.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {app.mode!r}")
    return app


SEARCHER_KEYS: dict[str, tuple[str, ...]] = {
    "aging_window": ("evolution",),
    "tournament_size": ("evolution",),
    "startup_trials": ("tpe",),
    "ei_candidates": ("tpe",),
    "objectives": ("bayes_morph",),
    "morphs": ("bayes_morph", "evolution"),
}
"""``search.*`` keys read by some searchers only: key -> the searchers."""


def ignored_search_options(app: AppConfig) -> list[str]:
    """One message per ``search.*`` key set away from its default that the
    chosen searcher does not read (:data:`SEARCHER_KEYS`).

    Such keys are shared by the searchers' configs so that a sweep over
    ``search=`` can set them once; a single run that sets one for another
    searcher is most likely a mistake, so the run logs these messages.
    """
    default = SearchConfig()

    def plain(v: Any) -> Any:
        return tuple(v) if isinstance(v, list | tuple) else v

    out = []
    for key, users in SEARCHER_KEYS.items():
        value = getattr(app.search, key)
        if app.search.name not in users and plain(value) != plain(
            getattr(default, key)
        ):
            out.append(
                f"search.{key}={value!r} is read by {' and '.join(users)} only; "
                f"search={app.search.name} ignores it"
            )
    return out


def searcher_options(app: AppConfig) -> dict[str, Any]:
    """Keyword options of the chosen searcher's factory."""
    s = app.search
    if s.name == "bayes_morph":
        opts: dict[str, Any] = {
            "n_init": app.surrogate.n_init,
            "gp_method": app.surrogate.method,
            "gp_restarts": app.surrogate.restarts,
            "gp_steps": app.surrogate.steps,
            "gp_optimizer": app.surrogate.optimizer,
            "gp_warm_start": app.surrogate.warm_start,
            "gp_fresh_every": app.surrogate.fresh_every,
            "gp_sparse_above": app.surrogate.sparse_above,
            "gp_inducing": app.surrogate.inducing,
            "gp_noise_aware": app.surrogate.noise_aware,
            "acquisition": app.acquisition.name,
            "n_candidates": app.acquisition.n_candidates,
            "top_k": app.acquisition.top_k,
            "chain_length": app.acquisition.chain_length,
            "random_fraction": app.acquisition.random_fraction,
        }
        if s.objectives:
            opts["objectives"] = tuple(s.objectives)
    elif s.name == "tpe":
        opts = {
            "n_startup_trials": s.startup_trials,
            "n_ei_candidates": s.ei_candidates,
        }
    elif s.name == "evolution":
        opts = {"population_size": s.aging_window, "sample_size": s.tournament_size}
    else:
        opts = {}
    if s.morphs is not None and s.name in ("bayes_morph", "evolution"):
        opts["morphs"] = tuple(s.morphs)
    return opts


def _logger_config(progress: bool = True, level: str = "INFO") -> ProgressConfig:
    """The deprecated ``LoggerConfig(progress=..., level=...)``."""
    return ProgressConfig(bar=progress, level=level)


def __getattr__(name: str) -> Any:
    """``LoggerConfig``: deprecated name of :class:`ProgressConfig` (the
    ``logger`` group is renamed ``progress``, its ``progress`` key ``bar``);
    ``LoggerConfig(progress=False)`` still builds a :class:`ProgressConfig`
    for one release."""
    if name == "LoggerConfig":
        import warnings

        warnings.warn(
            "nasjax.app.config LoggerConfig is renamed ProgressConfig (its field "
            "progress is now bar; the Hydra group logger is now progress)",
            DeprecationWarning,
            stacklevel=2,
        )
        return _logger_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
