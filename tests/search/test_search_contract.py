"""Contract tests run on every registry entry."""

import itertools

import jax
import numpy as np
import pytest

import nasjax
from nasjax.graph import validate
from nasjax.morph import PRESERVING
from nasjax.search import SEARCHERS, Proposal
from tests.helpers import random_inputs, search_spec

SPEC = search_spec()
MORPHS = ("widen", "deepen", "add_skip", "remove_node")
OPTIONS = {
    "bayes_morph": {
        "n_init": 4, "n_candidates": 256, "morphs": MORPHS, "gp_steps": 60,
        "gp_restarts": 4,
    },
    "evolution": {"morphs": MORPHS, "population_size": 16, "sample_size": 4},
    "random": {},
    "tpe": {"n_startup_trials": 8},
}  # fmt: skip
N = 8
ROUNDS = 3


def toy_fitness(archs) -> np.ndarray:
    """Known objective: 6 active nodes of width 8 is optimal (fitness 0)."""
    w = np.asarray(archs.width)
    m = np.asarray(archs.node_mask)
    return -np.abs(m.sum(1) - 6.0) - (np.abs(w - 8) * m).sum(1) / 8.0


def run(name, seed, rounds=ROUNDS, n=N, nan_round=1, **extra):
    searcher = SEARCHERS[name](SPEC, **{**OPTIONS[name], **extra})
    state = searcher.init(jax.random.key(seed), None)
    key = jax.random.key(seed)
    log = []
    for r in range(rounds):
        key, k_ask, k_tell = jax.random.split(key, 3)
        prop, state = searcher.ask(k_ask, state, n)
        fit = toy_fitness(prop.archs)
        if r == nan_round:
            fit[0] = np.nan
        # Two different fold copies per member, as two walk-forward folds
        # would train them (the run loop tells train_population's [n, K, ...]).
        first = jax.tree.map(lambda v: v[:, 0], prop.params)
        told = jax.tree.map(lambda v: np.stack([v, 1.5 * v], axis=1), first)
        state, metrics = searcher.tell(k_tell, state, prop.archs, fit, params=told)
        log.append((prop, fit, metrics, told))
    return state, log


@pytest.fixture(scope="module", params=sorted(SEARCHERS))
def runs(request):
    name = request.param
    return name, run(name, 0), run(name, 0)


def test_registry_names():
    assert {"bayes_morph", "random", "evolution", "tpe"} <= set(SEARCHERS)
    assert set(OPTIONS) == set(SEARCHERS)


def test_ask_shapes_validity_and_no_duplicates(runs):
    _, (state, log), _ = runs
    seen: set[str] = set()
    for prop, *_ in log:
        assert isinstance(prop, Proposal)
        assert prop.archs.batch_shape == (N,)
        assert prop.archs.spec == SPEC
        validate(prop.archs)
        fps = tuple(a.fingerprint() for a in nasjax.graph.unstack(prop.archs))
        assert fps == prop.fingerprints
        assert len(set(fps)) == N, "duplicate fingerprints within one ask"
        assert not seen & set(fps), "re-proposed an evaluated arch"
        seen |= set(fps)
        leaves = jax.tree.leaves(prop.params)
        assert leaves and all(leaf.shape[0] == N for leaf in leaves)
        assert len(prop.parent_fingerprints) == len(prop.morph_names) == N
    assert len(state.archive) == N * ROUNDS


def test_deterministic(runs):
    _, (_, log_a), (_, log_b) = runs
    for (pa, fa, *_), (pb, fb, *_) in zip(log_a, log_b, strict=True):
        assert pa.fingerprints == pb.fingerprints
        np.testing.assert_array_equal(fa, fb)


def test_nan_fitness_kept_as_failure(runs):
    _, (state, log), _ = runs
    assert np.isnan(state.archive.fitness).sum() == 1
    assert log[-1][2]["n_failed"] == 1
    assert np.isfinite(log[-1][2]["best_fitness"])


def test_best_never_decreases(runs):
    _, (_, log), _ = runs
    best = [m["best_fitness"] for _, _, m, _ in log]
    assert all(b2 >= b1 for b1, b2 in itertools.pairwise(best))


def test_children_inherit_parent_params(runs):
    name, (_state, log), _ = runs
    if name in ("random", "tpe"):
        pytest.skip(f"{name} proposes parentless archs")
    prop = log[-1][0]
    kids = [i for i, p in enumerate(prop.parent_fingerprints) if p]
    assert kids, "no morph children in the last round"
    assert all(prop.morph_names[i] for i in kids)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_improves_over_rounds(name):
    gains = []
    for seed in range(3):
        _, log = run(name, seed, rounds=6, nan_round=-1)
        gains.append(log[-1][2]["best_fitness"] - log[0][2]["best_fitness"])
    assert np.mean(gains) > 0


@pytest.mark.slow
def test_bayes_morph_beats_random_on_toy():
    def final(name, seed):
        return run(name, seed, rounds=6, nan_round=-1)[1][-1][2]["best_fitness"]

    seeds = range(4)
    bo = np.mean([final("bayes_morph", s) for s in seeds])
    rnd = np.mean([final("random", s) for s in seeds])
    assert bo > rnd


def test_pending_asks_do_not_overlap(runs):
    name, (state, _), _ = runs
    searcher = SEARCHERS[name](SPEC, **OPTIONS[name])
    first, state = searcher.ask(jax.random.key(7), state, N)
    second, state = searcher.ask(jax.random.key(8), state, N)
    assert not set(first.fingerprints) & set(second.fingerprints)
    assert not set(second.fingerprints) & set(state.archive.fingerprints)


def test_children_continue_each_fold_from_its_parent_copy(runs):
    """Told per-fold params [P, K, ...]: each child copy k keeps parent copy k."""
    name, (_, log), _ = runs
    told = {}
    for prop, _, _, fold_params in log[:-1]:
        for i, fp in enumerate(prop.fingerprints):
            told[fp] = (
                jax.tree.map(lambda v, i=i: v[i], prop.archs),
                jax.tree.map(lambda v, i=i: v[i], fold_params),
            )
    prop = log[-1][0]
    k_copies = {leaf.shape[1] for leaf in jax.tree.leaves(prop.params)}
    assert k_copies <= {1, 2} and len(k_copies) == 1
    x = random_inputs(SPEC, 2, seed=0)
    checked = 0
    for i, parent_fp in enumerate(prop.parent_fingerprints):
        if not parent_fp or not set(prop.morph_names[i]) <= PRESERVING:
            continue
        assert k_copies == {2}
        parent_arch, parent_params = told[parent_fp]
        child_arch = jax.tree.map(lambda v, i=i: v[i], prop.archs)
        for k in range(2):
            child = jax.tree.map(lambda v, i=i, k=k: v[i, k], prop.params)
            parent = jax.tree.map(lambda v, k=k: v[k], parent_params)
            np.testing.assert_allclose(
                nasjax.nn.apply(child_arch, child, x),
                nasjax.nn.apply(parent_arch, parent, x),
                atol=1e-4,
            )
        checked += 1
    if name in ("bayes_morph", "evolution"):
        assert checked, "no function-preserving child to check"
