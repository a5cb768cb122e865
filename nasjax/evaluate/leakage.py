"""Leakage guard: real-data accuracy above ~60% is an alarm, not a success."""

from __future__ import annotations

import warnings

#: Directional accuracy above which a real-data result is suspicious.
LEAKAGE_THRESHOLD = 0.60


class LeakageWarning(UserWarning):
    """A result too good to be true on real data (likely look-ahead leakage)."""


def check_leakage(
    accuracy: float,
    *,
    real_data: bool = True,
    threshold: float = LEAKAGE_THRESHOLD,
    name: str = "model",
) -> bool:
    """Warn with :class:`LeakageWarning` when ``accuracy > threshold`` on real data.

    Returns:
        True if the alarm fired.
    """
    if real_data and accuracy > threshold:
        warnings.warn(
            f"{name}: directional accuracy {accuracy:.3f} > {threshold:.2f} on real "
            "data. Honest 5-minute crypto direction results are ~51-56%; check "
            "for look-ahead leakage (features using bars after t, normalisation "
            "on test data, overlapping train/test windows) before believing it.",
            LeakageWarning,
            stacklevel=2,
        )
        return True
    return False
