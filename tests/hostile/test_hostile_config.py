"""Hostile configurations: a bad override fails at start-up naming its key
(Hydra's composition error for a wrong type or unknown key, or the schema's
`ValueError` for a bad value), before any data is read or compiled."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException

from nasjax.app.cli import conf_dir
from nasjax.app.config import register_configs, to_app_config


@pytest.fixture(scope="module")
def composer():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        yield lambda overrides: compose("config", list(overrides))
    GlobalHydra.instance().clear()


# override -> substrings of the ValueError of to_app_config
BAD_VALUES = {
    "data.window=0": ("data.window must be >= 1",),
    "data.horizon=-1": ("data.horizon must be >= 1",),
    "data.n_folds=0": ("data.n_folds must be >= 1",),
    "data.timeframe=7x": ("data.timeframe", "unknown timeframe '7x'"),
    "data.source=xml": ("data.source must be one of",),
    "data=freqtrade": ("needs data.path",),
    "data.repair=[fix]": ("data.repair takes sort and/or dedupe",),
    "data.min_history_bars=-1": ("data.min_history_bars",),
    "search.population=0": ("search.population",),
    "search.name=nope": ("search.name must be one of",),
    "search.seeds=[nope]": ("search.seeds: unknown ['nope']",),
    "search.time_budget_s=-1": ("search.time_budget_s",),
    "train.n_steps=75": ("multiple of eval_every",),
    "train.batch_size=0": ("batch sizes",),
    "train.learning_rate=-1": ("learning_rate must be > 0",),
    "train.optimizer=sgdx": ("optimizer must be one of",),
    "train.label_smoothing=1.5": ("label_smoothing",),
    "acquisition.name=foo": ("acquisition.name must be one of", "'foo'"),
    "acquisition.n_candidates=0": ("acquisition.n_candidates must be >= 1",),
    "acquisition.random_fraction=2": ("acquisition.random_fraction",),
    "surrogate.restarts=0": ("surrogate.restarts must be >= 1",),
    "surrogate.method=mcmc": ("surrogate.method must be map or nuts",),
    "surrogate.optimizer=sgd": ("surrogate.optimizer must be lbfgs or adam",),
    "checkpoint.max_to_keep=0": ("max_to_keep must be >= 1",),
    "evaluation.selection_fraction=2": ("evaluation.selection_fraction",),
    "evaluation.ensemble.top_k=0": ("evaluation.ensemble.top_k",),
    "+train.foo=1": ("unknown configuration keys", "train.foo"),
    "++search.colour=2": ("unknown configuration keys", "search.colour"),
}


@pytest.mark.parametrize("override", list(BAD_VALUES))
def test_bad_value_is_refused_naming_the_key(composer, override: str) -> None:
    with pytest.raises(ValueError) as err:
        to_app_config(composer([override]))
    for needle in BAD_VALUES[override]:
        assert needle in str(err.value), (needle, str(err.value))


# override -> the key or option Hydra's composition error names
BAD_COMPOSITION = {
    "seed=abc": "seed=abc",
    "search.population=abc": "search.population",
    "features.return_lags=[1,x]": "features.return_lags",
    "search.colour=1": "search.colour",
    "data.repair=sort": "data.repair",
    "search=nope": "search/nope",
    "experiment=nope": "experiment/nope",
    "mode=foo": "mode/foo",
}


@pytest.mark.parametrize("override", list(BAD_COMPOSITION))
def test_wrong_type_or_unknown_option_fails_at_composition(
    composer, override: str
) -> None:
    with pytest.raises(ConfigCompositionException) as err:
        composer([override])
    assert BAD_COMPOSITION[override] in str(err.value)
