"""An Optuna sweeper for Hydra that runs with Optuna 4 and later.

``python -m nasjax --multirun hydra/sweeper=nasjax_optuna
hydra.sweeper.n_trials=20 'train.learning_rate=tag(log, interval(1e-4, 1e-2))'
'search=choice(bayes_morph, random)'`` asks Optuna's TPE sampler for each
trial's values, launches the trials with the configured launcher (joblib runs
``n_jobs`` at once), and tells Optuna the value each run returns (its
``optimized_metric``, a validation score; never a test score). The best
parameters and value are written to ``optimization_results.yaml`` in the
sweep folder.

Hydra's released Optuna sweeper (``hydra-optuna-sweeper`` 1.3) pins
``optuna<3``, which conflicts with ``nasjax[tpe]`` (``optuna>=4``); this one
uses Optuna's current distributions and ask-and-tell interface.

The swept keys use Hydra's sweep syntax (also accepted under
``hydra.sweeper.params``):

* ``choice(a, b, c)``: categorical;
* ``range(start, stop[, step])``: integers (or floats) from ``start`` up to,
  not including, ``stop``;
* ``interval(low, high)``: uniform over ``[low, high]``;
  ``tag(log, interval(low, high))``: log-uniform; ``tag(int, interval(...))``
  (or ``tag(int, log, interval(...))``): integers;
* any other value is fixed for every trial.

(No ``from __future__ import annotations`` here: Hydra's plugin scan executes
this module without registering it, and the config dataclass needs its
annotations evaluated.)
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

DIRECTIONS: tuple[str, ...] = ("maximize", "minimize")
"""Optimisation directions."""


@dataclass
class NasjaxOptunaSweeperConf:
    """``hydra.sweeper.*`` of ``hydra/sweeper=nasjax_optuna``.

    Attributes:
        direction: ``maximize`` (nasjax's ``optimized_metric`` is a
            validation fitness) or ``minimize``.
        n_trials: Runs in all (including those of an earlier sweep of the
            same stored study).
        n_jobs: Trials asked and launched together (the launcher may run
            them in parallel).
        seed: Seed of the TPE sampler (None: random).
        n_startup_trials: Random trials before TPE models the results.
        study_name: Name of the study (with ``storage``: resumable).
        storage: Optuna storage URL, e.g. ``sqlite:///sweep.db`` (None: in
            memory).
        max_failure_rate: Share of failed runs tolerated per batch before
            the sweep stops with the first failure's error.
        params: Swept key -> sweep expression (added to the command line's).
    """

    _target_: str = "hydra_plugins.nasjax_optuna_sweeper.sweeper.NasjaxOptunaSweeper"
    direction: str = "maximize"
    n_trials: int = 20
    n_jobs: int = 1
    seed: int | None = None
    n_startup_trials: int = 10
    study_name: str | None = None
    storage: str | None = None
    max_failure_rate: float = 0.0
    params: dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="nasjax_optuna",
    node=NasjaxOptunaSweeperConf,
    provider="nasjax",
)


def _choices(override: Override) -> list[Any]:
    return list(override.sweep_iterator(transformer=Transformer.encode))


def distribution(override: Override) -> Any:
    """The Optuna distribution of a sweep override, or the fixed value (a
    string, as written) of any other override.

    Raises:
        ValueError: On an empty or reversed range or interval.
    """
    import optuna.distributions as od

    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    key = override.get_key_element()
    if isinstance(value, ChoiceSweep) or (
        isinstance(value, RangeSweep) and value.shuffle
    ):
        return od.CategoricalDistribution(_choices(override))
    if isinstance(value, RangeSweep):
        values = _choices(override)
        if not values:
            raise ValueError(f"{key}: empty range")
        step = value.step if value.step is not None else 1
        if all(isinstance(v, int) for v in values) and isinstance(step, int):
            return od.IntDistribution(values[0], values[-1], step=step)
        return od.FloatDistribution(float(values[0]), float(values[-1]), step=step)
    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is None or high is None or not low < high:
            raise ValueError(f"{key}: interval needs low < high, got {low}, {high}")
        use_log = "log" in value.tags
        if "int" in value.tags:  # Hydra parses interval bounds as floats
            return od.IntDistribution(int(low), int(high), log=use_log)
        return od.FloatDistribution(float(low), float(high), log=use_log)
    raise ValueError(f"{key}: sweep {override.input_line!r} is not supported")


def search_space(arguments: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(distributions, fixed)``: swept key -> Optuna distribution, and the
    overrides every trial gets as they are."""
    import optuna.distributions as od

    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        key = override.get_key_element()
        dist = distribution(override)
        if isinstance(dist, od.BaseDistribution):
            space[key] = dist
            fixed.pop(key, None)
        else:
            fixed[key] = dist
            space.pop(key, None)
    return space, fixed


class NasjaxOptunaSweeper(Sweeper):
    """Optuna TPE over a multirun's swept keys (see the module docstring)."""

    def __init__(
        self,
        direction: str,
        n_trials: int,
        n_jobs: int,
        seed: int | None,
        n_startup_trials: int,
        study_name: str | None,
        storage: str | None,
        max_failure_rate: float,
        params: DictConfig | dict[str, str] | None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"hydra.sweeper.direction must be one of {DIRECTIONS}")
        if n_trials < 1 or n_jobs < 1:
            raise ValueError("hydra.sweeper.n_trials and n_jobs must be >= 1")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise ValueError("hydra.sweeper.max_failure_rate must be in [0, 1]")
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self.study_name = study_name
        self.storage = storage
        self.max_failure_rate = max_failure_rate
        self.params = dict(params or {})
        self.job_idx = 0

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        """Keep the context and build the configured launcher."""
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> dict[str, Any]:
        """Run the trials; returns (and saves) the best parameters and value."""
        import optuna

        assert self.config is not None and self.launcher is not None, "setup() first"
        space, fixed = search_space(
            [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        )
        if not space:
            raise ValueError(
                "hydra/sweeper=nasjax_optuna: nothing to sweep; give a key a "
                "choice(...), range(...) or interval(...)"
            )
        sampler = optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=self.n_startup_trials
        )
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=sampler,
            direction="maximize" if self.direction == "maximize" else "minimize",
            load_if_exists=True,
        )
        log.info("Optuna study %s: %s over %s", study.study_name, self.direction,
                 ", ".join(space))  # fmt: skip
        left = self.n_trials - len(study.trials)
        while left > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, left))]
            overrides = [
                tuple(f"{k}={v}" for k, v in {**t.params, **fixed}.items())
                for t in trials
            ]
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            failed = []
            for trial, ret in zip(trials, returns, strict=True):
                value = None
                if ret.status == JobStatus.COMPLETED:
                    try:
                        value = float(ret.return_value)
                    except (TypeError, ValueError):
                        value = None
                if value is None or value != value:  # failed, or NaN
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    failed.append(ret)
                else:
                    study.tell(trial, value)
            if failed and len(failed) / len(returns) > self.max_failure_rate:
                failed[0].return_value  # noqa: B018  (raises the run's error)
                raise RuntimeError("a trial returned no number (optimized_metric)")
            left -= len(trials)
        best = study.best_trial
        result = {
            "name": "nasjax_optuna",
            "direction": self.direction,
            "best_params": dict(best.params),
            "best_value": best.value,
            "n_trials": len(study.trials),
        }
        log.info("Best value %s with %s", best.value, best.params)
        folder = Path(self.config.hydra.sweep.dir)
        folder.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(result), folder / "optimization_results.yaml")
        return result
