"""Optuna TPE searcher: parametrisation, replayable state, missing optuna."""

import sys

import jax
import numpy as np
import pytest

import nasjax
from nasjax.graph import chain, unstack, validate
from nasjax.search import SEARCHERS, SearchState, init_state, tpe
from nasjax.search.base import Archive
from tests.helpers import random_archs, search_spec

optuna = pytest.importorskip("optuna")

SPEC = search_spec()


def toy(archs) -> np.ndarray:
    w = np.asarray(archs.width)
    m = np.asarray(archs.node_mask)
    return -np.abs(m.sum(1) - 6.0) - (np.abs(w - 8) * m).sum(1) / 8.0


def test_random_archs_round_trip_through_params():
    archs = random_archs(SPEC, 24, 0)
    fps = [a.fingerprint() for a in unstack(archs)]
    dists = tpe.distributions(SPEC)
    for arch, fp in zip(unstack(archs), fps, strict=True):
        params = tpe.arch_to_params(arch)
        assert params is not None
        for name, value in params.items():
            assert dists[name]._contains(dists[name].to_internal_repr(value)), name
        back = tpe.params_to_arch(SPEC, params)
        validate(back)
        assert back.fingerprint() == fp
        assert tpe.arch_to_params(back) == params


def test_suggested_params_are_valid_archs_of_the_bucket():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_ops = set()
    for _ in range(30):
        trial = study.ask()
        params = tpe.suggest(trial, SPEC)
        assert params == trial.params
        arch = validate(tpe.params_to_arch(SPEC, params))
        assert int(np.asarray(arch.node_mask).sum()) == params["n_nodes"]
        seen_ops |= {params[k] for k in params if k.startswith("op_")}
    assert seen_ops == set(SPEC.ops)


def test_arch_without_backbone_is_outside_the_space():
    arch = chain(
        SPEC, ["dense_gelu", "identity", "conv"], [8, 8, 16], skips=[(0, 2), (1, 3)]
    )
    assert tpe.arch_to_params(arch) is not None
    cut = validate(arch.replace(adj=arch.adj.at[1, 2].set(False)))  # 0->2, 1->3
    assert tpe.arch_to_params(cut) is None


def _run(searcher, state, key, rounds):
    log = []
    for _ in range(rounds):
        key, k_ask, k_tell = jax.random.split(key, 3)
        prop, state = searcher.ask(k_ask, state, 4)
        state, _ = searcher.tell(k_tell, state, prop.archs, toy(prop.archs))
        log.append(prop.fingerprints)
    return state, log


def test_state_rebuilt_from_plain_data_asks_the_same():
    """Resume: a state rebuilt from (arch JSON, fitness) rows continues alike."""
    searcher = SEARCHERS["tpe"](SPEC, n_startup_trials=4)
    key = jax.random.key(5)
    state, _ = _run(searcher, init_state(key), key, 3)
    rows = [(a.to_json(), f) for a, f in zip(
        unstack(state.archive.archs), state.archive.fitness, strict=True
    )]  # fmt: skip
    archs = jax.tree.map(
        lambda *v: np.stack(v), *[nasjax.graph.Arch.from_json(j) for j, _ in rows]
    )
    fit = np.array([f for _, f in rows])
    rebuilt, _ = searcher.tell(jax.random.key(0), init_state(key), archs, fit)
    assert isinstance(rebuilt, SearchState)
    k = jax.random.key(11)
    a, _ = searcher.ask(k, state, 4)
    b, _ = searcher.ask(k, rebuilt, 4)
    assert a.fingerprints == b.fingerprints
    c, _ = searcher.ask(jax.random.key(12), state, 4)
    assert c.fingerprints != a.fingerprints  # the key matters


def test_study_replays_archive_and_uses_tpe_after_startup():
    archs = random_archs(SPEC, 12, 1)
    fit = toy(archs)
    fit[3] = np.nan
    study = tpe.build_study(jax.random.key(0), SPEC, archs, fit, n_startup_trials=4)
    states = [t.state for t in study.trials]
    done = optuna.trial.TrialState
    assert states.count(done.COMPLETE) == 11 and states.count(done.FAIL) == 1
    assert study.best_value == pytest.approx(np.nanmax(fit))
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    empty = Archive()
    assert len(tpe.build_study(jax.random.key(0), SPEC, empty.archs, empty.fitness)
               .trials) == 0  # fmt: skip


def test_missing_optuna_raises_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'nasjax\[tpe\]'"):
        SEARCHERS["tpe"](SPEC)
    assert "tpe" in SEARCHERS  # the registry itself imports without optuna
