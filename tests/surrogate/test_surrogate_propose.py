"""Acquisition maximisation over morph children: batch, dedup, inheritance."""

import jax
import numpy as np
import pytest

import nasjax  # noqa: F401
from nasjax import nn
from nasjax.graph import unstack, validate
from nasjax.morph import PRESERVING
from nasjax.surrogate import encode_population, fit_gp, layout, propose
from tests.helpers import random_members, search_spec

# Same bucket / morphs / sizes as tests/search, so compiles are shared.
SPEC = search_spec()
MORPHS = ("widen", "deepen", "add_skip", "remove_node")


@pytest.fixture(scope="module")
def setup():
    # Two fold copies per parent (as trained on two walk-forward folds).
    archs, fold0 = random_members(SPEC, 8, 0)
    fold1 = jax.vmap(nn.init)(jax.random.split(jax.random.key(9), 8), archs)
    params = jax.tree.map(lambda a, b: np.stack([a, b], axis=1), fold0, fold1)
    w = np.asarray(archs.width)
    fit = -(np.abs(w - 8) * np.asarray(archs.node_mask)).sum(1) / 8.0
    enc = encode_population(archs)
    gp = fit_gp(jax.random.key(1), enc, fit, layout(SPEC), steps=60, n_restarts=4)
    fps = {a.fingerprint() for a in unstack(archs)}
    prop = propose(
        jax.random.key(2), gp, archs, params, fit, 8,
        n_candidates=256, morphs=MORPHS, exclude=fps,
    )  # fmt: skip
    return archs, params, fit, fps, prop


def test_batch_distinct_and_new(setup):
    _, _, _, fps, prop = setup
    assert len(prop.fingerprints) == 8
    validate(prop.archs)
    got = {a.fingerprint() for a in unstack(prop.archs)}
    assert got == set(prop.fingerprints) and len(got) == 8
    assert not got & fps
    enc = np.asarray(encode_population(prop.archs))
    d = np.linalg.norm(enc[:, None] - enc[None], axis=-1)
    assert d[~np.eye(8, dtype=bool)].min() > 1e-6  # no near-copies
    assert np.all(np.diff(prop.acquisition) <= 1e-6)  # greedy order


def test_children_inherit_weights_and_lineage(setup, x):
    archs, params, _, _, prop = setup
    assert prop.morph_ids.shape == prop.applied.shape == (8, 2)
    checked = 0
    for i, p in enumerate(prop.parent):
        if p < 0:
            continue
        used = {
            MORPHS[m]
            for m, a in zip(prop.morph_ids[i], prop.applied[i], strict=False)
            if a
        }
        assert used, "a child must differ from its parent"
        if not used <= PRESERVING:
            continue
        child_arch = jax.tree.map(lambda v, i=i: v[i], prop.archs)
        parent_arch = jax.tree.map(lambda v, p=p: v[p], archs)
        for k in range(2):  # every fold copy keeps its own parent's function
            child = jax.tree.map(lambda v, i=i, k=k: v[i, k], prop.params)
            parent = jax.tree.map(lambda v, p=p, k=k: v[p, k], params)
            np.testing.assert_allclose(
                np.asarray(nn.apply(child_arch, child, x)),
                np.asarray(nn.apply(parent_arch, parent, x)),
                atol=1e-4,
            )
        checked += 1
    assert checked or (prop.parent >= 0).sum() == 0
