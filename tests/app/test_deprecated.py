"""The driver's old import paths and ``RunConfig`` still work for one release,
with a ``DeprecationWarning``."""

from __future__ import annotations

import importlib
import sys

import pytest

import nasjax
from nasjax.app import config as app_config
from nasjax.app.config import (
    AppConfig,
    DataConfig,
    EvaluationConfig,
    SearchConfig,
    SearchSpaceConfig,
    SurrogateConfig,
)
from nasjax.app.run import _app_config
from nasjax.train import TrainConfig

MOVED = {
    "nasjax.run": ("nasjax.app.run", "run_search"),
    "nasjax.run_loop": ("nasjax.app.loop", "LoopState"),
    "nasjax.run_finish": ("nasjax.app.finish", "best_evaluation"),
    "nasjax.run_classify": ("nasjax.app.classify", "ClassificationTask"),
    "nasjax.config": ("nasjax.app.config", "AppConfig"),
    "nasjax.checkpoint": ("nasjax.app.checkpoint", "SearchCheckpointer"),
    "nasjax.export": ("nasjax.app.export", "load_model"),
    "nasjax.cli": ("nasjax.app.cli", "main"),
    "nasjax.report": ("nasjax.app.report", "aggregate"),
    "nasjax.demo": ("nasjax.app.demo", "run_demo"),
}


def _fresh_import(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_path_warns_and_forwards(old):
    new, attr = MOVED[old]
    with pytest.deprecated_call(match=new.replace(".", r"\.")):
        module = _fresh_import(old)
    assert getattr(module, attr) is getattr(importlib.import_module(new), attr)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


def test_run_config_warns_and_maps_onto_the_app_config():
    with pytest.deprecated_call():
        RunConfig = _fresh_import("nasjax.run").RunConfig
    train = TrainConfig(n_steps=20, eval_every=10, batch_size=32)
    with pytest.deprecated_call(match="AppConfig"):
        flat = RunConfig(
            searcher="bayes_morph",
            searcher_options=(("n_init", 4), ("objectives", ["accuracy", "params"])),
            population=4,
            rounds=2,
            seed=3,
            max_nodes=4,
            max_width=16,
            ops=("conv",),
            window=8,
            data="synthetic",
            synthetic_steps=900,
            n_folds=2,
            train=train,
            baselines=("majority",),
            n_boot=10,
            max_evaluations=7,
        )
    expected = AppConfig(
        seed=3,
        data=DataConfig(source="synthetic", window=8, synthetic_steps=900, n_folds=2),
        search_space=SearchSpaceConfig(max_nodes=4, max_width=16, ops=("conv",)),
        search=SearchConfig(
            name="bayes_morph",
            population=4,
            rounds=2,
            max_evaluations=7,
            objectives=("accuracy", "params"),
        ),
        surrogate=SurrogateConfig(n_init=4),
        train=train,
        evaluation=EvaluationConfig(baselines=("majority",), n_boot=10),
    )
    assert flat.to_app_config() == expected
    assert _app_config(flat) == expected  # what run_search runs
    assert app_config.searcher_options(expected)["n_init"] == 4


def test_run_config_rejects_what_the_app_config_rejects():
    with pytest.deprecated_call():
        RunConfig = _fresh_import("nasjax.run").RunConfig
    with pytest.deprecated_call(), pytest.raises(ValueError, match="max_evaluations"):
        RunConfig(max_evaluations=0)
    with (
        pytest.deprecated_call(),
        pytest.raises(ValueError, match="searcher option 'rho'"),
    ):
        RunConfig(searcher_options=(("rho", 0.1),))


def test_top_level_run_config_attribute():
    with pytest.deprecated_call():
        cls = nasjax.RunConfig
    assert cls.__name__ == "RunConfig"
    with pytest.raises(AttributeError):
        nasjax.NoSuchThing  # noqa: B018


def test_run_search_refuses_other_objects():
    with pytest.raises(TypeError, match="AppConfig"):
        _app_config({"search": {}})


def test_logger_config_is_renamed_progress_config():
    with pytest.deprecated_call(match="ProgressConfig"):
        LoggerConfig = app_config.LoggerConfig
    expected = app_config.ProgressConfig(bar=False, level="WARNING")
    assert LoggerConfig(progress=False, level="WARNING") == expected
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        app_config.Nope  # noqa: B018
