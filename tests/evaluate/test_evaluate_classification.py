"""Multi-class metrics and report (nasjax.evaluate.classification) vs sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from nasjax.evaluate import classification as cm


def _data(seed: int, n: int = 300, c: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y] * rng.random((n, 1))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn(seed):
    y, proba = _data(seed)
    pred = proba.argmax(1)
    assert cm.accuracy(y, proba) == pytest.approx(skm.accuracy_score(y, pred))
    assert cm.balanced_accuracy(y, proba) == pytest.approx(
        skm.balanced_accuracy_score(y, pred)
    )
    assert cm.macro_f1(y, proba) == pytest.approx(
        skm.f1_score(y, pred, average="macro")
    )
    assert cm.mcc(y, proba) == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert cm.log_loss(y, proba) == pytest.approx(
        skm.log_loss(y, proba, labels=range(proba.shape[1]))
    )
    assert cm.roc_auc(y, proba) == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    binary = np.stack([1 - proba[:, 0], proba[:, 0]], axis=1)
    assert cm.roc_auc(y == 0, binary) == pytest.approx(
        skm.roc_auc_score(y == 0, proba[:, 0])
    )


def test_degenerate_cases():
    y = np.array([0, 0, 1, 1])
    const = np.tile([0.9, 0.1, 0.0], (4, 1))  # always class 0, class 2 unused
    assert cm.accuracy(y, const) == 0.5
    assert cm.balanced_accuracy(y, const) == 0.5
    assert cm.mcc(y, const) == 0.0
    pred = const.argmax(1)
    assert cm.macro_f1(y, const) == pytest.approx(
        skm.f1_score(y, pred, average="macro")
    )
    assert np.isfinite(cm.log_loss(y, const))  # p = 0 is clipped
    assert cm.roc_auc(y, const) == 0.5  # constant scores: ties count half
    assert np.isnan(cm.roc_auc(np.zeros(4, int), const))  # one class only


def test_report_intervals_and_paired_difference():
    y, good = _data(3)
    bad = np.full_like(good, 1.0 / good.shape[1])
    bad[:, 0] += 1e-3  # always class 0
    rep = cm.classification_report(
        {"best": good, "prior": bad}, y, class_names=list("abcd"), n_boot=200
    )
    assert rep["n"] == len(y) and rep["reference"] == "best"
    for name in ("best", "prior"):
        for m in cm.CLASS_METRICS:
            v = rep["models"][name]["metrics"][m]
            assert v["low"] <= v["value"] <= v["high"], (name, m, v)
    assert set(rep["models"]["best"]["per_class_recall"]) == set("abcd")
    assert np.asarray(rep["models"]["best"]["confusion"]).sum() == len(y)
    diff = rep["models"]["prior"]["vs_reference"]["accuracy_diff"]
    assert diff["high"] < 0 and diff["p_value"] < 0.05
    assert "vs_reference" not in rep["models"]["best"]
