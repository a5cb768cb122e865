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
Student quantile with ``h - 1`` degrees of freedom. Measured (``tests/
protocol/test_paired.py``): about the stated false-accept rate at zero gain,
over 80% power at a gain of one seat standard deviation with 16 seats, and
a minority of colluding seats moves it little: gross values (an echoed
claim) are screened out whatever their number below half, up to
``floor(trim * n)`` subtler ones are trimmed, and more of them inflate the
winsorised spread with every step they push the mean.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
