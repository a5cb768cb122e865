"""``fit_archs``: final fits from given weights, the kept step, no test reads."""

import jax
import numpy as np
import pytest

from nasjax.baselines.fit import fit_archs
from nasjax.baselines.registry import fit_arch
from nasjax.data import FoldedData
from nasjax.graph import chain
from nasjax.nn import init
from nasjax.train import split_ids
from tests.helpers import data_spec, fast_train_config, tiny_dataset


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(3, n_steps=900)


@pytest.fixture(scope="module")
def archs(data):
    spec = data_spec(data)
    return [
        chain(spec, ["dense_gelu"], [8], readout="last"),
        chain(spec, ["conv", "dense_gelu"], [8, 8], readout="last"),
    ]


def _equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _poisoned(data: FoldedData) -> FoldedData:
    """Test labels flipped and features from the first test bar on replaced
    by garbage (the normalisation statistics are kept: they come from the
    training part of each fold)."""
    ds, folds, norm = data
    _, _, test_ids = split_ids(folds, "test")
    n_sym = ds.features.shape[1]
    labels = np.asarray(ds.labels).copy().reshape(-1)
    labels[test_ids] = 1 - labels[test_ids]
    feats = np.asarray(ds.features).copy()
    feats[int(test_ids.min()) // n_sym :] = 1e6
    ds = ds.replace(labels=labels.reshape(ds.labels.shape), features=feats)
    return FoldedData(ds, folds, norm)


@pytest.mark.slow  # two compiled runs of a two-arch population
def test_final_fit_never_reads_test_ids(data, archs):
    cfg = fast_train_config(n_steps=8, eval_every=4, metric="loss")
    key = jax.random.key(0)
    start = [init(jax.random.key(1), archs[0]), None]
    clean = fit_archs(key, archs, data, cfg=cfg, params=start)
    dirty = fit_archs(key, archs, _poisoned(data), cfg=cfg, params=start)
    for a, b in zip(clean, dirty, strict=True):
        _equal(a.params, b.params)
        assert a.record() == b.record()


@pytest.mark.slow
def test_fit_archs_reports_the_kept_step(data, archs):
    cfg = fast_train_config(n_steps=8, eval_every=4, metric="loss")
    fits = fit_archs(jax.random.key(0), archs, data, cfg=cfg)
    for f in fits:
        assert f.from_scratch and f.budget_steps == 8
        assert f.best_step in (0, 4, 8) and f.steps_trained == 8
        assert np.isfinite(f.best_val_loss) and not f.failed
        assert f.record()["start"] == "scratch"
    # fit_arch is one member of the same population run.
    (one,) = fit_archs(jax.random.key(0), archs[:1], data, cfg=cfg)
    _equal(one.params, fit_arch(jax.random.key(0), archs[0], data, cfg=cfg))


def test_no_improving_step_returns_the_start_and_flags_it(data, archs):
    """A learning rate that only makes the model worse: the kept step is 0,
    the starting weights come back bit for bit, and the fit is flagged
    (untrained when the start was a fresh init)."""
    cfg = fast_train_config(
        n_steps=4, eval_every=2, metric="loss", learning_rate=50.0, warmup_steps=0
    )
    start = init(jax.random.key(5), archs[1])
    searched, fresh = fit_archs(
        jax.random.key(0), [archs[1], archs[1]], data, cfg=cfg, params=[start, None]
    )
    assert searched.best_step == 0 and searched.kept_start
    assert not searched.untrained and searched.record()["start"] == "searched"
    _equal(searched.params, start)
    assert fresh.best_step == 0 and fresh.untrained
    assert fresh.record()["untrained"] is True
