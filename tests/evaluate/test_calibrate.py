"""Temperature and Platt scaling of P(up) on held-out predictions."""

import numpy as np
import pytest

from nasjax.evaluate.calibrate import Calibration, fit_calibration, logit
from nasjax.evaluate.metrics import accuracy, log_loss


def _toy(seed: int, n: int = 20_000, sharpen: float = 3.0, shift: float = 0.0):
    """Labels with known P(up) and an overconfident (``sharpen`` x the true
    log-odds) and possibly biased (``shift``) model of them."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 0.6, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    p = 1 / (1 + np.exp(-(sharpen * z + shift)))
    return y, p, z


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_calibration_reduces_log_loss_of_a_miscalibrated_model(method):
    y, p, _ = _toy(0)
    cal = fit_calibration(y[:10_000], p[:10_000], method)
    # Fitted on one half, it helps on the other half too.
    held_y, held_p = y[10_000:], p[10_000:]
    assert log_loss(held_y, cal.apply(held_p)) < log_loss(held_y, held_p) - 0.01
    # The overconfidence (3x the log-odds) is recovered.
    assert cal.a == pytest.approx(1 / 3, rel=0.15)


def test_platt_corrects_a_bias_temperature_cannot():
    y, p, _ = _toy(1, sharpen=1.0, shift=1.0)
    temp = fit_calibration(y, p, "temperature")
    platt = fit_calibration(y, p, "platt")
    assert platt.b == pytest.approx(-1.0, abs=0.15)
    assert log_loss(y, platt.apply(p)) < log_loss(y, temp.apply(p))


@pytest.mark.parametrize("seed", range(4))
def test_temperature_keeps_hard_predictions_and_never_hurts_where_fitted(seed):
    rng = np.random.default_rng(seed)
    n = 500
    y = rng.integers(0, 2, n)
    p = rng.random(n)
    for method in ("temperature", "platt"):
        cal = fit_calibration(y, p, method)
        assert cal.a >= 0.0
        assert log_loss(y, cal.apply(p)) <= log_loss(y, p) + 1e-9
    temp = fit_calibration(y, p, "temperature")
    assert temp.b == 0.0
    q = temp.apply(p)
    if temp.a > 0:
        np.testing.assert_array_equal(q > 0.5, p > 0.5)
        assert accuracy(y, q) == accuracy(y, p)


def test_identity_and_errors():
    y, p, _ = _toy(2, n=100)
    assert fit_calibration(y, p, "none") == Calibration()
    np.testing.assert_array_equal(Calibration().apply(p), p)
    assert fit_calibration(y[:0], p[:0], "platt") == Calibration()
    with pytest.raises(ValueError, match="calibration method"):
        fit_calibration(y, p, "isotonic")
    np.testing.assert_allclose(
        Calibration("platt", 1.0, 0.0).apply(p), p, rtol=1e-6, atol=1e-7
    )
    assert np.all(np.isfinite(logit(np.array([0.0, 1.0]))))
