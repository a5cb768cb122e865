"""Seeded searchers: the first asks hand out the seeds, once each, for every
searcher, and the seeds still queued survive a checkpoint of the state."""

import jax
import numpy as np
import pytest

from nasjax.search import SEARCHERS, seed_archs, with_seeds
from nasjax.search.seeds import SEED_PREFIX, check_seed_names
from nasjax.serialize import decode, encode
from tests.helpers import search_spec

pytest.importorskip("optuna")

SPEC = search_spec(max_nodes=4)
SEEDS, SKIPPED = seed_archs(SPEC)  # linear, linear_window, tcn (no lstm/attention)
OPTIONS = {"bayes_morph": {"n_init": 16, "n_candidates": 64, "gp_steps": 30,
                           "gp_restarts": 2}}  # fmt: skip


def seeded_searcher(name):
    return with_seeds(SEARCHERS[name](SPEC, **OPTIONS.get(name, {})), SEEDS)


def fitness(prop) -> np.ndarray:
    return np.linspace(0.4, 0.6, len(prop.fingerprints))


def rounds(searcher, n, k, state=None, seed=0):
    """``k`` ask/tell rounds of ``n`` members; the proposals and the state."""
    state = searcher.init(jax.random.key(seed)) if state is None else state
    props = []
    for r in range(k):
        key = jax.random.fold_in(jax.random.key(seed), len(state.archive) + r)
        k_ask, k_tell = jax.random.split(key)
        prop, state = searcher.ask(k_ask, state, n)
        state, _ = searcher.tell(k_tell, state, prop.archs, fitness(prop))
        props.append(prop)
    return props, state


def test_the_small_bucket_skips_what_it_cannot_express():
    assert list(SEEDS) == ["linear", "linear_window", "tcn"]
    assert set(SKIPPED) == {"fcn", "lstm", "transformer"}
    with pytest.raises(ValueError, match="unknown seeds"):
        check_seed_names(["linear", "resnet"])


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_first_ask_holds_the_seeds_then_the_searchers_own(name):
    (prop, second), state = rounds(seeded_searcher(name), 5, 2)
    k = len(SEEDS)
    assert prop.fingerprints[:k] == tuple(a.fingerprint() for a in SEEDS.values())
    assert prop.morph_names[:k] == tuple((SEED_PREFIX + s,) for s in SEEDS)
    assert prop.parent_fingerprints[:k] == ("",) * k
    assert all(not m or not m[0].startswith(SEED_PREFIX) for m in prop.morph_names[k:])
    assert len(set(prop.fingerprints)) == 5
    # Fresh weights: one copy for every fold.
    assert jax.tree.leaves(prop.params)[0].shape[:2] == (5, 1)
    # Every searcher's tell took the seeds into its archive.
    assert set(prop.fingerprints) <= set(state.archive.fingerprints)
    assert not any(m and m[0].startswith(SEED_PREFIX) for m in second.morph_names)
    assert not set(second.fingerprints) & set(prop.fingerprints)


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_seeds_beyond_the_population_come_next_round_never_twice(name):
    props, _ = rounds(seeded_searcher(name), 2, 3)
    handed = [
        m[0][len(SEED_PREFIX) :]
        for p in props
        for m in p.morph_names
        if m and m[0].startswith(SEED_PREFIX)
    ]
    assert handed == list(SEEDS)  # in order, each once
    assert [len(p.fingerprints) for p in props] == [2, 2, 2]
    assert props[0].morph_names == tuple((SEED_PREFIX + s,) for s in list(SEEDS)[:2])
    fps = [f for p in props for f in p.fingerprints]
    assert len(fps) == len(set(fps))


def test_a_seed_already_evaluated_is_not_proposed():
    plain = SEARCHERS["random"](SPEC)
    (first,), state = rounds(with_seeds(plain, {"linear": SEEDS["linear"]}), 1, 1)
    assert first.morph_names == ((SEED_PREFIX + "linear",),)
    again = with_seeds(plain, SEEDS)  # e.g. a longer seed list on the same state
    prop, _ = again.ask(jax.random.key(3), state, 2)
    assert prop.morph_names == tuple(
        (SEED_PREFIX + s,) for s in ("linear_window", "tcn")
    )


def test_once_the_seeds_are_out_the_wrapper_is_the_searcher():
    plain = SEARCHERS["evolution"](SPEC)
    _, state = rounds(with_seeds(plain, SEEDS), 4, 2)
    key = jax.random.key(9)
    ours, _ = with_seeds(plain, SEEDS).ask(key, state, 4)
    theirs, _ = plain.ask(key, state, 4)
    assert ours.fingerprints == theirs.fingerprints
    assert with_seeds(plain, {}) is plain


def test_resume_with_seeds_queued_equals_an_uninterrupted_run():
    """The queue is read off the state: a checkpointed state (encoded and
    decoded as the app stores it) continues exactly like the original."""
    searcher = seeded_searcher("random")
    _, state = rounds(searcher, 2, 1)  # one seed still queued
    restored = decode(*encode(state))
    ahead, _ = rounds(searcher, 2, 2, state=state, seed=1)
    resumed, _ = rounds(searcher, 2, 2, state=restored, seed=1)
    assert [p.fingerprints for p in ahead] == [p.fingerprints for p in resumed]
    assert ahead[0].morph_names[0] == (SEED_PREFIX + "tcn",)
