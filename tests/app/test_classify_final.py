"""The final fit of a classification answer's fold models."""

import jax
import numpy as np
import pytest
from sklearn.metrics import log_loss

from nasjax.app.classify_final import final_fit_folds
from nasjax.graph import ZOO, ArchSpec
from nasjax.nn.model import init
from nasjax.train import split_ids
from nasjax.train.predict import predict_proba
from tests.helpers import instance_dataset, tiny_app_config

N_TRAIN, N_VAL, N_TEST = 200, 200, 10


def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N_TRAIN + N_VAL + N_TEST, 4, 3)).astype(np.float32)
    logit = 2.0 * x[:, -1, 0] - x[:, -1, 1]
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(np.int32)
    return instance_dataset(x, y, n_val=N_VAL, n_test=N_TEST, n_classes=3)


def _val_loss(arch, params, data) -> float:
    _, val, _ = split_ids(data.folds, "val", 0)
    p = predict_proba(arch, params, data.dataset.features, val, data.norm.mean[0],
                      data.norm.std[0])  # fmt: skip
    y = np.asarray(data.dataset.labels).reshape(-1)[np.asarray(val)]
    return log_loss(y, np.asarray(p), labels=[0, 1, 2])


@pytest.fixture(scope="module")
def fitted():
    data = _toy()
    spec = ArchSpec(n_features=3, window=4, max_nodes=2, max_width=8,
                    ops=("identity",), n_classes=3)  # fmt: skip
    arch = ZOO["linear"](spec)
    start = init(jax.random.key(1), arch)
    cfg = tiny_app_config(
        {
            "evaluation.final_fit.n_steps": 60,
            "evaluation.final_fit.eval_every": 20,
            "evaluation.final_fit.learning_rate": 0.05,
            "evaluation.final_fit.max_eval_samples": None,
        }
    )
    k_params = jax.tree.map(lambda v: np.asarray(v)[None], start)  # K = 1
    (fit,) = final_fit_folds(jax.random.key(0), [arch], [k_params], data, cfg)
    return data, arch, start, fit


def test_the_final_fit_improves_an_untrained_fold_model(fitted):
    data, arch, start, fit = fitted
    (fold,) = fit.folds
    assert fold.best_step > 0 and not fold.from_scratch
    rec = fit.record()
    assert rec["best_step"] == [fold.best_step] and rec["budget_steps"] == 60
    assert rec["folds_kept_start"] == 0 and not rec["kept_start"]
    kept = jax.tree.map(lambda v: v[0], fit.fold_params)
    before, after = _val_loss(arch, start, data), _val_loss(arch, kept, data)
    assert after < before - 0.05
    # the recorded loss is the kept model's validation loss
    assert fold.best_val_loss == pytest.approx(after, abs=1e-4)


def test_a_converged_fold_model_is_never_made_worse(fitted):
    data, arch, _, fit = fitted
    cfg = tiny_app_config(
        {
            "evaluation.final_fit.n_steps": 40,
            "evaluation.final_fit.eval_every": 20,
            "evaluation.final_fit.learning_rate": 1.0,  # a destructive restart
            "evaluation.final_fit.max_eval_samples": None,
        }
    )
    (again,) = final_fit_folds(jax.random.key(2), [arch], [fit.fold_params], data, cfg)
    start = jax.tree.map(lambda v: v[0], fit.fold_params)
    kept = jax.tree.map(lambda v: v[0], again.fold_params)
    assert _val_loss(arch, kept, data) <= _val_loss(arch, start, data) + 1e-6
    if again.folds[0].best_step == 0:  # kept its starting weights, unchanged
        for a, b in zip(jax.tree.leaves(kept), jax.tree.leaves(start), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mismatched_inputs_are_refused(fitted):
    data, arch, _, fit = fitted
    with pytest.raises(ValueError, match="fold params for 2 archs"):
        final_fit_folds(jax.random.key(0), [arch, arch], [fit.fold_params], data,
                        tiny_app_config())  # fmt: skip
