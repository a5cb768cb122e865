"""Multi-objective bayes_morph (accuracy vs parameter count) and its front."""

import jax
import numpy as np
import pytest

import nasjax  # noqa: F401
from nasjax.search import SEARCHERS, SearchState, init_state, pareto_front_of
from nasjax.search.base import random_population
from nasjax.search.objectives import check_objectives, cost_values
from tests.helpers import search_spec

# Same bucket and options as the contract tests, so compiles are shared.
SPEC = search_spec()
OPTIONS = {
    "n_init": 4, "n_candidates": 256, "gp_steps": 60, "gp_restarts": 4,
    "morphs": ("widen", "deepen", "add_skip", "remove_node"),
}  # fmt: skip

N = 8
ROUNDS = 3
OBJ = ("accuracy", "params")


def toy_accuracy(archs) -> np.ndarray:
    """Grows with the total active width: conflicts with the parameter count."""
    w = np.asarray(archs.width) * np.asarray(archs.node_mask)
    return np.tanh(w.sum(1) / 48.0)


def run(objectives, seed=0):
    searcher = SEARCHERS["bayes_morph"](SPEC, **OPTIONS, objectives=objectives)
    state = searcher.init(jax.random.key(seed), None)
    key = jax.random.key(seed)
    asked = []
    metrics = {}
    for _ in range(ROUNDS):
        key, k_ask, k_tell = jax.random.split(key, 3)
        prop, state = searcher.ask(k_ask, state, N)
        acc = toy_accuracy(prop.archs)
        state, metrics = searcher.tell(k_tell, state, prop.archs, acc)
        asked.append((acc, cost_values(prop.archs, ("params",))[:, 0]))
    return state, asked, metrics


@pytest.fixture(scope="module")
def mo():
    return run(OBJ)


@pytest.fixture(scope="module")
def so():
    return run(("accuracy",))


def _dominates(a, b):
    """``a`` dominates ``b`` for (accuracy max, params min)."""
    ge = a[0] >= b[0] and a[1] <= b[1]
    return ge and (a[0] > b[0] or a[1] < b[1])


def _hypervolume(front: np.ndarray, ref_params: float) -> float:
    """Area dominated by ``(accuracy, log10 params)`` rows, from (0, ref)."""
    pts = sorted((float(a), np.log10(p)) for a, p in front)  # by accuracy
    area, prev_acc = 0.0, 0.0
    for acc, _ in pts:
        cheapest = min(q for a, q in pts if a >= acc)
        area += (acc - prev_acc) * max(np.log10(ref_params) - cheapest, 0.0)
        prev_acc = acc
    return area


def test_front_is_non_dominated_and_covers_the_archive(mo):
    state, _, metrics = mo
    front = pareto_front_of(state, OBJ)
    assert front.objectives == OBJ
    assert len(front.fingerprints) == metrics["pareto_size"] >= 2
    assert set(front.fingerprints) <= set(state.archive.fingerprints)
    vals = front.values
    for i in range(len(vals)):
        for j in range(len(vals)):
            assert not _dominates(vals[j], vals[i]), (vals[j], vals[i])
    assert np.all(np.diff(vals[:, 0]) <= 0)  # by decreasing accuracy
    costs = cost_values(state.archive.archs, ("params",))[:, 0]
    ok = np.isfinite(state.archive.fitness)
    for acc, p in zip(state.archive.fitness[ok], costs[ok], strict=True):
        on_or_dominated = any(
            _dominates(f, (acc, p)) or (f[0] == acc and f[1] == p) for f in vals
        )
        assert on_or_dominated
    # Front params are the analytic counts of the archived archs.
    np.testing.assert_array_equal(vals[:, 1], costs[front.indices])


def test_proposals_cover_both_ends_and_beat_single_objective(mo, so):
    _, asked_mo, _ = mo
    init_acc, init_params = asked_mo[0]  # round 0: random, identical for both
    mo_acc = np.concatenate([a for a, _ in asked_mo[1:]])
    mo_params = np.concatenate([p for _, p in asked_mo[1:]])
    # Small end: cheaper than every random arch of round 0.
    assert mo_params.min() < init_params.min()
    # Accurate end: better than the median random arch of round 0.
    assert mo_acc.max() > np.median(init_acc)
    # At an equal budget the front dominates more than single-objective's.
    ref = 10 * max(init_params.max(), 1.0)
    front_mo = pareto_front_of(mo[0], OBJ).values
    front_so = pareto_front_of(so[0], OBJ).values
    assert _hypervolume(front_mo, ref) > _hypervolume(front_so, ref)


def test_single_objective_state_has_a_front_too(so):
    front = pareto_front_of(so[0], ("accuracy", "macs"))
    assert len(front.fingerprints) >= 1
    assert front.values.shape == (len(front.fingerprints), 2)
    assert front.values[0, 0] == np.nanmax(so[0].archive.fitness)


def test_empty_state_and_bad_objectives():
    empty = pareto_front_of(init_state(jax.random.key(0)), OBJ)
    assert empty.fingerprints == () and empty.values.shape == (0, 2)
    with pytest.raises(ValueError, match="start with 'accuracy'"):
        check_objectives(("params", "accuracy"))
    with pytest.raises(ValueError, match="unknown objectives"):
        check_objectives(("accuracy", "latency"))
    with pytest.raises(ValueError, match="acquisition must be 'ei'"):
        SEARCHERS["bayes_morph"](SPEC, objectives=OBJ, acquisition="ucb")


def test_failed_members_never_on_front():
    archs, _, _ = random_population(jax.random.key(3), SPEC, 8, set())
    fit = toy_accuracy(archs)
    fit[np.argmin(cost_values(archs, ("params",))[:, 0])] = np.nan  # cheapest fails
    searcher = SEARCHERS["random"](SPEC)
    state, _ = searcher.tell(
        jax.random.key(0), init_state(jax.random.key(0)), archs, fit
    )
    assert isinstance(state, SearchState)
    front = pareto_front_of(state, OBJ)
    assert np.all(np.isfinite(front.values))
    assert len(front.fingerprints) >= 1
