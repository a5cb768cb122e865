"""Probability calibration on validation predictions: temperature and Platt.

Both are an affine map of the log-odds, ``p' = sigmoid(a * logit(p) + b)``:

* **temperature** scaling (Guo et al. 2017) fits ``a = 1 / T`` with ``b = 0``;
  it never moves a probability across 0.5, so accuracy, MCC and every hard
  prediction are unchanged and only the confidence is corrected;
* **Platt** scaling (Platt 1999) fits ``a`` and ``b`` (it can also correct a
  bias towards one class, and so change hard predictions).

Both minimise the log loss on held-out predictions (convex in ``a, b``), with
``a >= 0`` so the ranking of the samples is kept. ``a = 1, b = 0`` (the
identity) is always a candidate, so the fitted map never has a larger log
loss than the raw predictions on the data it was fitted on.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

METHODS: tuple[str, ...] = ("temperature", "platt", "none")
_CLIP = 1e-7


class Calibration(NamedTuple):
    """An affine map of the log-odds: ``p' = sigmoid(a * logit(p) + b)``.

    Attributes:
        method: ``"temperature"``, ``"platt"`` or ``"none"`` (identity).
        a: Slope (``1 / T`` for temperature scaling).
        b: Offset (0 for temperature scaling).
    """

    method: str = "none"
    a: float = 1.0
    b: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated P(up) of ``p: float[n]`` (same dtype as ``p``)."""
        p = np.asarray(p)
        if self.method == "none":
            return p
        z = self.a * logit(p) + self.b
        return (1.0 / (1.0 + np.exp(-z))).astype(p.dtype)

    def to_dict(self) -> dict[str, float | str]:
        """JSON-ready form."""
        return {"method": self.method, "a": float(self.a), "b": float(self.b)}


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of ``p`` clipped to ``[1e-7, 1 - 1e-7]`` (float64)."""
    q = np.clip(np.asarray(p, np.float64), _CLIP, 1.0 - _CLIP)
    return np.log(q) - np.log1p(-q)


def _loss_and_grad(
    theta: np.ndarray, z: np.ndarray, y: np.ndarray, fit_b: bool
) -> tuple[float, np.ndarray]:
    a, b = theta[0], theta[1] if fit_b else 0.0
    s = a * z + b
    # log(1 + e^s) - y s, stable.
    loss = np.mean(np.logaddexp(0.0, s) - y * s)
    r = 1.0 / (1.0 + np.exp(-s)) - y
    grad = np.array([np.mean(r * z), np.mean(r)])
    return float(loss), grad if fit_b else grad[:1]


def fit_calibration(
    y: np.ndarray, p: np.ndarray, method: str = "temperature"
) -> Calibration:
    """Fit a calibration map on held-out predictions.

    Args:
        y: ``int[n]`` labels in {0, 1}.
        p: ``float[n]`` predicted P(up) of the same samples.
        method: ``"temperature"``, ``"platt"`` or ``"none"``.

    Returns:
        The fitted :class:`Calibration` (the identity when ``method`` is
        ``"none"``, ``y`` is empty, or the fit does not improve on it).

    Raises:
        ValueError: On an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {METHODS}, got {method!r}")
    y = np.asarray(y, np.float64).reshape(-1)
    if method == "none" or len(y) == 0:
        return Calibration()
    z = logit(p).reshape(-1)
    fit_b = method == "platt"
    start = np.array([1.0, 0.0]) if fit_b else np.array([1.0])
    bounds = [(0.0, 100.0), (-20.0, 20.0)] if fit_b else [(0.0, 100.0)]
    res = minimize(
        _loss_and_grad,
        start,
        args=(z, y, fit_b),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
    )
    theta = np.asarray(res.x, np.float64)
    identity, _ = _loss_and_grad(start, z, y, fit_b)
    fitted, _ = _loss_and_grad(theta, z, y, fit_b)
    if not np.isfinite(fitted) or fitted > identity:
        theta = start
    return Calibration(method, float(theta[0]), float(theta[1]) if fit_b else 0.0)
