"""``hydra/sweeper=nasjax_optuna``: sweep syntax -> Optuna, ask and tell."""

import math
import os
import subprocess
import sys

import optuna.distributions as od
import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydra_plugins.nasjax_optuna_sweeper.sweeper import (
    NasjaxOptunaSweeper,
    search_space,
)


def test_sweep_syntax_becomes_optuna_distributions():
    space, fixed = search_space(
        [
            "search=choice(random,tpe)",
            "search.population=range(2,10,2)",
            "train.dropout=range(0.0,0.3,0.1)",
            "train.learning_rate=tag(log,interval(1e-4,1e-2))",
            "train.n_steps=tag(int,interval(10,50))",
            "train.batch_size=tag(int,log,interval(16,256))",
            "train.weight_decay=interval(0,0.1)",
            "seed=3",
        ]
    )
    assert space["search"] == od.CategoricalDistribution(["random", "tpe"])
    assert space["search.population"] == od.IntDistribution(2, 8, step=2)
    dropout = space["train.dropout"]
    assert isinstance(dropout, od.FloatDistribution) and dropout.step == 0.1
    assert dropout.low == 0.0 and dropout.high == pytest.approx(0.2)
    assert space["train.learning_rate"] == od.FloatDistribution(1e-4, 1e-2, log=True)
    assert space["train.n_steps"] == od.IntDistribution(10, 50)
    assert space["train.batch_size"] == od.IntDistribution(16, 256, log=True)
    assert space["train.weight_decay"] == od.FloatDistribution(0.0, 0.1)
    assert fixed == {"seed": "3"}


def test_a_later_override_replaces_an_earlier_one():
    space, fixed = search_space(["seed=choice(1,2)", "seed=4", "x=1", "x=choice(a,b)"])
    assert fixed == {"seed": "4"} and list(space) == ["x"]


@pytest.mark.parametrize(
    ("arg", "match"),
    [("lr=interval(0.1,0.01)", "low < high"), ("n=range(5,1)", "empty range")],
)
def test_bad_sweeps_are_named(arg, match):
    with pytest.raises(ValueError, match=match):
        search_space([arg])


def test_bad_settings_are_refused():
    kw = dict(n_trials=2, n_jobs=1, seed=0, n_startup_trials=1, study_name=None,
              storage=None, max_failure_rate=0.0, params=None)  # fmt: skip
    with pytest.raises(ValueError, match="direction"):
        NasjaxOptunaSweeper(direction="up", **kw)
    with pytest.raises(ValueError, match="n_trials"):
        NasjaxOptunaSweeper(direction="maximize", **{**kw, "n_trials": 0})


class _Launcher:
    """Runs ``objective`` on each trial's overrides in-process, as Hydra's
    launchers return results (JobReturn with a status and a value)."""

    def __init__(self, objective):
        self.objective = objective
        self.calls = []

    def launch(self, overrides, initial_job_idx):
        self.calls.append((initial_job_idx, overrides))
        out = []
        for job in overrides:
            values = dict(o.split("=", 1) for o in job)
            ret = JobReturn(overrides=list(job), status=JobStatus.COMPLETED)
            ret.return_value = self.objective(values)
            out.append(ret)
        return out


def _sweeper(tmp_path, objective, **kw):
    settings = dict(direction="maximize", n_trials=12, n_jobs=3, seed=0,
                    n_startup_trials=4, study_name=None, storage=None,
                    max_failure_rate=0.0, params={"seed": "7"})  # fmt: skip
    sweeper = NasjaxOptunaSweeper(**{**settings, **kw})
    sweeper.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    sweeper.launcher = _Launcher(objective)
    return sweeper


def test_trials_are_asked_in_batches_and_the_best_is_saved(tmp_path):
    seen = []

    def objective(values):
        assert values["seed"] == "7"  # hydra.sweeper.params are fixed overrides
        lr = float(values["lr"])
        seen.append(-((math.log10(lr) + 2.5) ** 2))
        return seen[-1]

    sweeper = _sweeper(tmp_path, objective)
    result = sweeper.sweep(["lr=tag(log,interval(1e-4,1e-1))"])
    assert [idx for idx, _ in sweeper.launcher.calls] == [0, 3, 6, 9]
    assert result["n_trials"] == 12 and result["best_value"] == max(seen)
    saved = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert saved.best_params.lr == pytest.approx(result["best_params"]["lr"])


def test_failed_trials_are_told_and_tolerated_up_to_the_rate(tmp_path):
    def objective(values):
        return float("nan") if float(values["x"]) < 0.5 else float(values["x"])

    result = _sweeper(tmp_path, objective, max_failure_rate=1.0).sweep(
        ["x=interval(0,1)"]
    )
    assert result["best_value"] >= 0.5
    strict = _sweeper(tmp_path, lambda v: float("nan"), n_trials=2, n_jobs=1)
    with pytest.raises(RuntimeError, match="no number"):
        strict.sweep(["x=interval(0,1)"])
    with pytest.raises(ValueError, match="nothing to sweep"):
        _sweeper(tmp_path, objective).sweep(["x=1"])


@pytest.mark.slow  # two smoke runs through the CLI and the basic launcher
def test_a_cli_multirun_with_the_optuna_sweeper(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m", "hydra/sweeper=nasjax_optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.seed=0", "debug=smoke", "progress=quiet",
        "train.learning_rate=tag(log,interval(1e-3,1e-2))",
        f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "nasjax", *args],
        cwd=tmp_path,
        env=dict(os.environ, HYDRA_FULL_ERROR="1"),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = OmegaConf.load(sweep / "optimization_results.yaml")
    assert result.n_trials == 2 and result.best_params["train.learning_rate"] >= 1e-3
    fitness = [
        OmegaConf.load(sweep / str(i) / ".hydra" / "overrides.yaml") for i in (0, 1)
    ]
    assert all(any("learning_rate" in o for o in f) for f in fitness)
