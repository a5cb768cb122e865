"""The committee's paired acceptance test, robust to a minority of seats.

Every counted seat (revealed, not equivocated) reveals ``d``: the mean over
its chain-drawn evaluation blocks of the candidate's score minus the
incumbent's on the same block, so whatever makes a block easy or hard
cancels. A seat's gain still carries the noise pairing cannot remove (each
model's own share of the block errors, the part of the two training runs
that common random numbers do not share), so the seats, not the blocks, are
the replicates, and their spread is what the test is calibrated against.

The committee first screens out gains more than ``band`` robust standard
deviations (median and MAD, 50% breakdown) from the median, then runs
Yuen's trimmed paired t-test (:func:`paired_test`) on the rest: the
20%-trimmed mean of the seats' gains, a winsorised standard error and a
Student quantile with ``h - 1`` degrees of freedom.

The core decides with :func:`paired_test_units`, the same test in exact
integer arithmetic on gains in units of ``2**-20`` (squares compared in 128
bits, the quantile from a table of its squares rounded up), which the
market contract (``contracts/Tally.vy``) computes identically; the float
:func:`paired_test` is its reference (the two decide alike away from the
bound, ``tests/protocol/test_paired.py``). Measured (``tests/
protocol/test_paired.py``): about the stated false-accept rate at zero gain,
over 80% power at a gain of one seat standard deviation with 16 seats, and
a minority of colluding seats moves it little: gross values (an echoed
claim) are screened out whatever their number below half, up to
``floor(trim * n)`` subtler ones are trimmed, and more of them inflate the
winsorised spread with every step they push the mean.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.tokens import PPM, product_at_least
from nasjax.protocol.x64 import x64_mode

MAD_TO_STD: float = 1.4826
"""``std = 1.4826 * MAD`` for normal data."""


def masked_median_mid(x: jax.Array, mask: jax.Array) -> jax.Array:
    """``f64[P]`` median of ``x[P, C]`` over ``mask`` (mean of the two middle
    values when the count is even; NaN when empty)."""
    s = jnp.sort(jnp.where(mask, x, jnp.inf), axis=-1)
    n = jnp.sum(mask, axis=-1)
    lo = jnp.maximum((n - 1) // 2, 0)
    hi = jnp.maximum(n // 2, 0)
    a = jnp.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    b = jnp.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    return jnp.where(n > 0, 0.5 * (a + b), jnp.nan)


def student_quantile(z: jax.Array, dof: jax.Array) -> jax.Array:
    """Student-t quantile from the normal quantile ``z`` (Cornish-Fisher).

    Accurate to about 1% for ``dof >= 3`` at ``z <= 2.6``; with fewer
    degrees of freedom it is crude (a committee that small should not
    decide by this test).
    """
    v = jnp.maximum(jnp.asarray(dof, jnp.float64), 1.0)
    z3, z5 = z**3, z**5
    return (
        z
        + (z3 + z) / (4 * v)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v**3)
    )


def screen_outliers(
    gain: jax.Array, ok: jax.Array, band: float | jax.Array
) -> jax.Array:
    """``bool[P, C]`` counted seats within ``band`` robust standard deviations
    (``1.4826 * MAD``) of the median gain (a 50%-breakdown screen)."""
    med = masked_median_mid(gain, ok)
    mad = masked_median_mid(jnp.abs(gain - med[..., None]), ok)
    return ok & (jnp.abs(gain - med[..., None]) <= band * MAD_TO_STD * mad[..., None])


def paired_test(
    gain: jax.Array,
    counted: jax.Array,
    z: jax.Array,
    trim: float | jax.Array = 0.2,
    distinct: jax.Array | None = None,
    band: float | jax.Array = jnp.inf,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The committee's paired test of each slot (screened Yuen trimmed t-test).

    Seats whose gain lies more than ``band`` robust standard deviations
    from the median are screened out (:func:`screen_outliers`). Over the
    ``n`` seats left: drop the ``k = floor(trim * n)`` lowest and highest
    gains, average the ``h = n - 2k`` left (the estimate), and winsorise the
    gains at the ``k``-th from each end for the spread ``s_w``; ``se =
    sqrt((n - 1) s_w^2 / (h (h - 1)))``, and the one-sided lower confidence
    bound is ``estimate - t_{h-1}(confidence) * se``. Seats weigh
    validators by stake, like every other vote; a validator holding ``r``
    seats reveals one gain ``r`` times, which is no extra evidence, so the
    standard error is scaled by ``sqrt(n / distinct validators)`` and the
    degrees of freedom count distinct validators.

    Args:
        gain: ``f64[P, C]`` revealed paired gains per seat.
        counted: ``bool[P, C]`` seats whose votes count.
        z: ``f64[]`` normal quantile of the test's confidence.
        trim: Share trimmed from each end (0: Student's paired t-test).
        distinct: ``bool[P, C]`` the seat is its validator's first in the
            committee (None: every seat is a distinct validator).
        band: Screening band in robust standard deviations (inf: none).

    Returns:
        ``(estimate f64[P], lower bound f64[P], kept bool[P, C], distinct
        validators kept int[P])``; estimate and bound NaN without counted
        seats, the bound ``-inf`` with fewer than two validators or nothing
        left after trimming.
    """
    ok = screen_outliers(gain, counted & jnp.isfinite(gain), band)
    n = jnp.sum(ok, axis=-1)
    m = n if distinct is None else jnp.sum(ok & distinct, axis=-1)
    s = jnp.sort(jnp.where(ok, gain, jnp.inf), axis=-1)
    k = jnp.floor(trim * n).astype(n.dtype)
    h = n - 2 * k
    rank = jnp.arange(gain.shape[-1])
    kept = (rank >= k[..., None]) & (rank < (n - k)[..., None])
    estimate = jnp.sum(jnp.where(kept, s, 0.0), axis=-1) / jnp.maximum(h, 1)
    lo = jnp.take_along_axis(s, jnp.minimum(k, n - 1)[..., None], axis=-1)
    hi = jnp.take_along_axis(s, jnp.maximum(n - k - 1, 0)[..., None], axis=-1)
    w = jnp.where(rank < n[..., None], jnp.clip(s, lo, hi), 0.0)
    w_mean = jnp.sum(w, axis=-1) / jnp.maximum(n, 1)
    dev = jnp.where(rank < n[..., None], w - w_mean[..., None], 0.0)
    s_w2 = jnp.sum(dev**2, axis=-1) / jnp.maximum(n - 1, 1)
    se = jnp.sqrt((n - 1) * s_w2 / jnp.maximum(h * (h - 1), 1))
    se = se * jnp.sqrt(n / jnp.maximum(m, 1))
    h_eff = m - 2 * jnp.floor(trim * m)
    t = student_quantile(z, h_eff - 1)
    lower = jnp.where((m > 1) & (h > 1) & (h_eff > 1), estimate - t * se, -jnp.inf)
    estimate = jnp.where(n > 0, estimate, jnp.nan)
    return estimate, jnp.where(n > 0, lower, jnp.nan), ok, m


# -- the same test in integer score units (what the contract computes) --------

SCORE_BITS: int = 20
SCORE_ONE: int = 2**SCORE_BITS
"""Integer score units per 1.0 of a score (the contract's grid)."""

GAIN_LIMIT: int = 2 * SCORE_ONE
"""Revealed gains are clipped to ``[-2, 2]`` (scores are accuracies), which
keeps every product of the exact test within 128 bits."""

_MASKED: int = 2**40
"""Sort key of seats that do not count (above every clipped gain)."""


def score_units(x: jax.Array) -> jax.Array:
    """``int64[...]`` scores (or gains) rounded to integer units of ``2**-20``
    (non-finite values become 0: mask them)."""
    x = jnp.asarray(x, jnp.float64)
    return jnp.round(jnp.where(jnp.isfinite(x), x, 0.0) * SCORE_ONE).astype(jnp.int64)


T2_DOF: int = 256
"""Degrees of freedom the quantile table covers (larger committees use its
last entry, a slightly conservative quantile)."""


def t2_table(z: float, max_dof: int = T2_DOF) -> np.ndarray:
    """``int64[max_dof + 1]`` squared Student quantiles in ppm, rounded up.

    Entry ``d`` is ``ceil(t_d(z)**2 * 1e6)`` (:func:`student_quantile`;
    entry 0 repeats entry 1). The exact test compares squares, so the table
    is all it needs of the quantile function, and the contract receives the
    same table at deployment.

    Args:
        z: Normal quantile of the confidence (``>= 0``).
        max_dof: Largest degrees of freedom (a committee's seats).
    """
    if z < 0:
        raise ValueError(f"the paired test needs a confidence >= 0.5 (z={z})")
    with x64_mode():
        t = np.asarray(student_quantile(jnp.float64(z), jnp.arange(1, max_dof + 1)))
    out = np.zeros(max_dof + 1, np.int64)
    out[1:] = [math.ceil(x * x * PPM) for x in t.tolist()]
    out[0] = out[1]
    return out


def paired_band_ppm(band: float) -> int:
    """The outlier screen's band times :data:`MAD_TO_STD`, in ppm (0: none)."""
    return round(band * MAD_TO_STD * PPM) if math.isfinite(band) else 0


def paired_margin_units(gain: float) -> int:
    """The test's null gain in integer score units, rounded up."""
    return max(math.ceil(gain * SCORE_ONE - 1e-9), 0)


def _pair_sum(sorted_x: jax.Array, n: jax.Array) -> jax.Array:
    """Sum of the two middle values of each sorted row's first ``n``
    (twice the median; meaningless where ``n == 0``)."""
    lo = jnp.maximum((n - 1) // 2, 0)[..., None]
    hi = jnp.maximum(n // 2, 0)[..., None]
    a = jnp.take_along_axis(sorted_x, lo, axis=-1)[..., 0]
    b = jnp.take_along_axis(sorted_x, hi, axis=-1)[..., 0]
    return a + b


def median_units(x: jax.Array, mask: jax.Array) -> jax.Array:
    """``int64[P]`` median of ``x[P, C]`` (score units) over ``mask``: the
    mean of the two middle values, floored (0 where the mask is empty)."""
    n = jnp.sum(mask, axis=-1).astype(jnp.int64)
    two = _pair_sum(jnp.sort(jnp.where(mask, x, _MASKED), axis=-1), n)
    return jnp.where(n > 0, jnp.floor_divide(two, 2), 0)


class UnitTest(NamedTuple):
    """The exact paired test of each slot (:func:`paired_test_units`).

    Attributes:
        accept: ``bool[P]`` the lower confidence bound clears the margin.
        estimate: ``int64[P]`` trimmed-mean gain in score units, floored
            (0 where no seat is left).
        lower: ``f64[P]`` the lower bound in score units (for reports only:
            the decision is ``accept``); ``-inf`` where the test cannot run,
            NaN where no seat is left.
        kept: ``bool[P, C]`` seats that survived the outlier screen.
        n_kept: ``int64[P]`` seats left after the screen.
    """

    accept: jax.Array
    estimate: jax.Array
    lower: jax.Array
    kept: jax.Array
    n_kept: jax.Array


def paired_test_units(
    gain: jax.Array,
    counted: jax.Array,
    t2_ppm: jax.Array,
    trim_ppm: jax.Array | int,
    distinct: jax.Array | None = None,
    band_ppm: jax.Array | int = 0,
    margin: jax.Array | int = 0,
) -> UnitTest:
    """:func:`paired_test` in exact integer arithmetic on score units.

    The same screened Yuen test, computed so that the Vyper contract
    (``Market.vy``, ``_paired_test``) reaches the identical decision:

    * screen: with ``med2`` and ``mad4`` the sums of the two middle values of
      the gains and of ``|2 gain - med2|`` (twice the median, four times the
      MAD), a seat stays when ``2 |2 gain - med2| * 1e6 <= band_ppm * mad4``
      (``band_ppm = round(band * 1.4826e6)``; ``0`` screens nothing);
    * trim ``k = trim_ppm * n // 1e6`` from each end, ``S`` the sum of the
      ``h = n - 2k`` left, ``W1``/``W2`` the sum and sum of squares of the
      winsorised gains, ``Q = n W2 - W1**2``; then ``se**2 = Q / (h (h - 1)
      m)`` (``m`` distinct validators);
    * accept when ``D = S - margin * h >= 0`` and ``D**2 (h - 1) m 1e6 >=
      t2_ppm[h_eff - 1] h Q``, i.e. ``S / h - t se >= margin``, with
      ``h_eff`` the seats a validator-level trim would leave (as in
      :func:`paired_test`).

    Args:
        gain: ``int64[P, C]`` revealed gains in score units (clipped to
            :data:`GAIN_LIMIT`).
        counted: ``bool[P, C]`` seats whose votes count.
        t2_ppm: ``int64[D]`` squared Student quantiles (:func:`t2_table`).
        trim_ppm: Share trimmed from each end, in ppm.
        distinct: ``bool[P, C]`` the seat is its validator's first (None:
            every seat is distinct).
        band_ppm: Screening band times 1.4826, in ppm (0: no screen).
        margin: The null gain in score units (``>= 0``).

    Returns:
        The :class:`UnitTest`.
    """
    g = jnp.clip(jnp.asarray(gain, jnp.int64), -GAIN_LIMIT, GAIN_LIMIT)
    ok = jnp.asarray(counted, bool)
    n0 = jnp.sum(ok, axis=-1).astype(jnp.int64)
    med2 = _pair_sum(jnp.sort(jnp.where(ok, g, _MASKED), axis=-1), n0)
    dev2 = jnp.abs(2 * g - med2[..., None])
    mad4 = _pair_sum(jnp.sort(jnp.where(ok, dev2, _MASKED), axis=-1), n0)
    band = jnp.asarray(band_ppm, jnp.int64)
    within = 2 * dev2 * PPM <= band * mad4[..., None]
    ok = ok & ((band <= 0) | within)
    n = jnp.sum(ok, axis=-1).astype(jnp.int64)
    m = n if distinct is None else jnp.sum(ok & distinct, axis=-1).astype(jnp.int64)
    s = jnp.sort(jnp.where(ok, g, _MASKED), axis=-1)
    trim = jnp.asarray(trim_ppm, jnp.int64)
    k = trim * n // PPM
    h = n - 2 * k
    rank = jnp.arange(g.shape[-1])
    middle = (rank >= k[..., None]) & (rank < (n - k)[..., None])
    total = jnp.sum(jnp.where(middle, s, 0), axis=-1)
    lo = jnp.take_along_axis(s, jnp.clip(k, 0, None)[..., None], axis=-1)
    hi = jnp.take_along_axis(s, jnp.maximum(n - k - 1, 0)[..., None], axis=-1)
    w = jnp.where(rank < n[..., None], jnp.clip(s, lo, hi), 0)
    w1, w2 = jnp.sum(w, axis=-1), jnp.sum(w * w, axis=-1)
    q = n * w2 - w1 * w1
    h_eff = m - 2 * (trim * m // PPM)
    t2 = jnp.asarray(t2_ppm, jnp.int64)
    t2 = t2[jnp.clip(h_eff - 1, 0, t2.shape[-1] - 1)]
    runs = (m > 1) & (h > 1) & (h_eff > 1)
    d = total - jnp.asarray(margin, jnp.int64) * h
    dd = jnp.where(runs & (d >= 0), d, 0)
    accept = (
        runs
        & (d >= 0)
        & product_at_least(dd * dd, jnp.maximum(h - 1, 0) * m * PPM, q, t2 * h)
    )
    hf = jnp.maximum(h, 1).astype(jnp.float64)
    t_se = jnp.sqrt(
        t2 / PPM * q / jnp.maximum((h * (h - 1) * m).astype(jnp.float64), 1.0)
    )
    lower = jnp.where(runs, total / hf - t_se, -jnp.inf)
    return UnitTest(
        accept=accept,
        estimate=jnp.where(n > 0, jnp.floor_divide(total, jnp.maximum(h, 1)), 0),
        lower=jnp.where(n > 0, lower, jnp.nan),
        kept=ok,
        n_kept=n,
    )
