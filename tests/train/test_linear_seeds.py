"""The seeded linear archs trained to convergence are logistic regressions.

``linear`` (stem + identity + last-step readout) must reach what
scikit-learn's ``LogisticRegression`` fits on the last step's features, and
``linear_window`` (the ``window`` readout) what it fits on the flattened
window: both trained with the library's own trainer, as a search trains
them (one population, early stopping on validation log loss).
"""

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from nasjax.graph import ZOO, ArchSpec, stack, unstack
from nasjax.train import train_population
from nasjax.train.predict import predict_proba
from tests.helpers import fast_train_config, instance_dataset

N_VAL = N_TEST = 1000
SEEDS = ("linear", "linear_window")


def _toy(n: int, seed: int = 0, window: int = 4, n_features: int = 3):
    """Windows ``x[n, T, F]`` with labels from a logistic model on every step."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, window, n_features)).astype(np.float32)
    beta = rng.normal(size=(window, n_features))
    logit = np.einsum("ntf,tf->n", x, beta) + 0.3
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)
    return x, y


def _features(name: str, x: np.ndarray) -> np.ndarray:
    return x[:, -1] if name == "linear" else x.reshape(len(x), -1)


def _fit_both(n: int, n_steps: int):
    """Train both seeds in one population; their and sklearn's P(up)."""
    x, y = _toy(n)
    data = instance_dataset(x, y, n_val=N_VAL, n_test=N_TEST)
    spec = ArchSpec(
        n_features=x.shape[2], window=x.shape[1], max_nodes=2, max_width=8,
        ops=("identity",),
    )  # fmt: skip
    archs = stack([ZOO[name](spec) for name in SEEDS])
    cfg = fast_train_config(
        n_steps=n_steps, eval_every=50, batch_size=256, learning_rate=0.03,
        weight_decay=0.0, end_lr_ratio=0.01, metric="loss",
        max_eval_samples=None, eval_batch_size=N_VAL,
    )  # fmt: skip
    result = train_population(jax.random.key(0), archs, None, data, cfg)
    n_train = n - N_VAL - N_TEST
    out = {}
    for i, (name, arch) in enumerate(zip(SEEDS, unstack(archs), strict=True)):
        params = jax.tree.map(lambda v, i=i: v[i, 0], result.params)
        feats = _features(name, x)
        sk = LogisticRegression(C=1e6, max_iter=2000).fit(feats[:n_train], y[:n_train])
        mean, std = data.norm.mean[0], data.norm.std[0]
        out[name] = {}
        for split, (lo, hi) in {"train": (0, n_train), "test": (n - N_TEST, n)}.items():
            ids = (x.shape[1] - 1) * n + np.arange(lo, hi)  # the instances' ids
            p = predict_proba(arch, params, data.dataset.features, ids, mean, std)
            q = sk.predict_proba(feats[lo:hi])[:, 1]
            out[name][split] = (p[:, 1], q, y[lo:hi])
    return out


def _check(fits, *, loss_tol: float, mean_tol: float, acc_tol: float) -> None:
    for name, splits in fits.items():
        p, q, y = splits["train"]
        # Both sit at (nearly) the same optimum of the training log loss.
        ours, theirs = log_loss(y, p), log_loss(y, q)
        assert ours - theirs < loss_tol, (name, ours, theirs)
        p, q, y = splits["test"]
        assert np.mean(np.abs(p - q)) < mean_tol, name
        acc_p, acc_q = np.mean((p > 0.5) == y), np.mean((q > 0.5) == y)
        assert abs(acc_p - acc_q) < acc_tol, (name, acc_p, acc_q)


def test_linear_seeds_match_logistic_regression_quickly():
    """300 steps: probabilities within 0.02 on average, accuracy within 2 pp."""
    _check(_fit_both(4000, 300), loss_tol=0.01, mean_tol=0.02, acc_tol=0.02)


@pytest.mark.slow
def test_linear_seeds_converge_to_logistic_regression():
    """1000 steps on 4000 training windows: the training log loss within
    0.002 of the optimum, test probabilities within 0.015 on average (early
    stopping on validation loss keeps a point near, not at, the training
    optimum) and test accuracy within 1 pp of scikit-learn's."""
    _check(_fit_both(6000, 1000), loss_tol=0.002, mean_tol=0.015, acc_tol=0.01)
