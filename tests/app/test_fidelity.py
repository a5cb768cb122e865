"""Rungs inside a round: promoted members equal one long run per fold, the
deadline stops promotion, rows carry the rung columns, every searcher runs
the same schedule, the winner comes from the top rung."""

import dataclasses
import functools
import json

import jax
import numpy as np
import pytest

from nasjax.app.config import override
from nasjax.app.loop import LoopState, is_better, round_budgets, search_round
from nasjax.app.rungs import train_rungs
from nasjax.data import FoldedData, load_data
from nasjax.search import SEARCHERS
from nasjax.train import TrainPlan, train_population
from tests.helpers import fast_train_config, random_archs, tiny_app_config

CFG = tiny_app_config(
    {
        "search.population": 3,
        "search.rounds": 1,
        "search_space.ops": ("dense_gelu",),  # one compiled trainer per shape
        "data.window": 4,
        "data.synthetic_symbols": 2,
        "data.synthetic_steps": 800,
        "train": fast_train_config(
            n_steps=10, eval_every=5, warmup_steps=2, max_eval_samples=128
        ),
    }
)


@functools.lru_cache(maxsize=1)
def data() -> FoldedData:
    return FoldedData(*load_data(CFG.data, CFG.features, CFG.seed))


def spec():
    ds = data().dataset
    return CFG.search_space.spec(int(ds.features.shape[-1]), int(ds.meta.window))


@pytest.mark.slow  # three compiles (~3 min on 2 shared cores)
def test_promoted_member_equals_its_one_long_run_and_deadline_stops_promotion(
    caplog,
):
    archs = random_archs(spec(), 3, key=4)
    train_cfg, budgets = round_budgets(CFG, data())
    assert budgets == (5, 10)
    key = jax.random.key(3)
    with caplog.at_level("INFO", logger="nasjax.run"):
        res = train_rungs(key, archs, None, data(), train_cfg, budgets, eta=3)
    # Progress inside the round: one line per rung.
    assert "rung 1/2: 3 member(s) trained to 5 steps" in caplog.text
    assert "rung 2/2: 1 member(s) trained to 10 steps" in caplog.text
    assert res.rung.tolist().count(1) == 1  # ceil(3 / 3) promoted
    top = int(np.flatnonzero(res.rung == 1)[0])
    assert res.budget_steps[top] == 10
    assert set(res.budget_steps[res.rung == 0].tolist()) == {5}
    # The promoted member is the best by the (lcb) score at rung 0.
    rung0 = res.rung_fitness[:, 0]
    assert np.all(np.isfinite(rung0))
    # One long run of the whole population with rung 0's key and schedule.
    whole = train_population(
        jax.random.fold_in(key, 0),
        archs,
        None,
        data(),
        dataclasses.replace(train_cfg, n_steps=10, schedule_steps=10),
        plan=TrainPlan(),
    )
    for a, b in zip(
        jax.tree.leaves(jax.tree.map(lambda x: np.asarray(x)[top], res.params)),
        jax.tree.leaves(jax.tree.map(lambda x: np.asarray(x)[top], whole.params)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.fitness[top], whole.fitness[top], atol=1e-5)
    np.testing.assert_array_equal(res.best_step[top], whole.metrics["best_step"][top])
    steps = [s for s, _ in res.curves[top]]
    assert steps == [5, 10]
    # Past the deadline nobody is promoted: every member stays at rung 0.
    cut = train_rungs(
        key, archs, None, data(), train_cfg, budgets, eta=3, deadline=lambda: True
    )
    assert cut.rung.tolist() == [0, 0, 0]
    np.testing.assert_allclose(cut.rung_fitness[:, 0], rung0, atol=1e-6)


@pytest.mark.slow  # one round of each of the four searchers (~1-2 min)
@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_every_searcher_runs_the_rung_schedule_and_rows_carry_it(name):
    cfg = override(CFG, {"search.name": name})
    searcher = SEARCHERS[name](spec())
    loop = LoopState(searcher.init(jax.random.key(0), None), (), (), -1, None, 0.0)
    stages: list[str] = []
    loop = search_round(
        jax.random.key(1), searcher, loop, 3, data(), cfg, on_stage=stages.append
    )
    # What the progress bar shows inside the round.
    assert stages == [
        f"asking {name} for 3 archs",
        "rung 1/2: 3 arch(s) to 5 steps",
        "rung 2/2: 1 arch(s) to 10 steps",
    ]
    rows = loop.rows
    assert [r["rung"] for r in rows].count(1) == 1
    for r in rows:
        assert r["budget_steps"] == (5, 10)[r["rung"]]
        assert r["best_step"] == min(r["best_step_fold0"], r["best_step_fold1"])
        assert 0 <= r["best_step"] <= r["budget_steps"]
        assert r["fitness"] == r[f"fitness_rung{r['rung']}"]
        assert r["select_score"] <= r["fitness"]
        assert r["fitness_se"] >= 0
        assert len(json.loads(r["val_curve"])) == r["budget_steps"] // 5
    # The searcher was told rung-0 fitness (like with like).
    told = loop.searcher.archive.fitness
    np.testing.assert_allclose(told, [r["fitness_rung0"] for r in rows])
    # ... with its standard error (a member left at rung 0 keeps that one).
    told_se = loop.searcher.archive.fitness_se
    for i, r in enumerate(rows):
        assert np.isfinite(told_se[i]) and told_se[i] >= 0
        if r["rung"] == 0:
            assert told_se[i] == pytest.approx(r["fitness_se"])
    # The winner is the member trained at the top rung.
    assert rows[loop.best_row]["rung"] == 1
    assert loop.best_fold_params is not None


def test_a_higher_rung_wins_over_a_higher_score():
    rows = (
        {"rung": 0, "select_score": 0.9},
        {"rung": 1, "select_score": 0.5},
        {"rung": 1, "select_score": 0.5},
        {"rung": 1, "select_score": float("nan")},
    )
    assert is_better(rows, 0, -1)
    assert is_better(rows, 1, 0) and not is_better(rows, 0, 1)
    assert not is_better(rows, 2, 1)  # ties: the earlier row stays
    assert not is_better(rows, 3, -1)
    off = override(CFG, {"search.fidelity.enabled": False})
    assert round_budgets(off, data())[1] == (10,)
    with pytest.raises(ValueError, match=r"search\.select"):
        override(CFG, {"search.select": "max"})
    with pytest.raises(ValueError, match="fidelity"):
        override(CFG, {"search.fidelity.eta": 1})
