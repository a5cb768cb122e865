"""GP fitting: recompile-free refits, padding invariance, sensible posterior."""

import jax
import numpy as np
import pytest

import nasjax  # noqa: F401
from nasjax.surrogate import encode, fit_compiles, fit_gp, kriging_believer, layout
from tests.helpers import random_archs, small_spec, toy_gp_target

SPEC = small_spec()
LAY = layout(SPEC)


@pytest.fixture(scope="module")
def data():
    archs = random_archs(SPEC, 24, 0)
    enc = np.asarray(jax.vmap(encode)(archs))
    return enc, toy_gp_target(enc, LAY)


def test_refit_reuses_compile_and_padding_invariance(data):
    enc, y = data
    before = fit_compiles()
    s5 = fit_gp(jax.random.key(1), enc[:5], y[:5], LAY, steps=50)
    after_first = fit_compiles()
    s7 = fit_gp(jax.random.key(1), enc[:7], y[:7], LAY, steps=50)
    assert fit_compiles() == after_first <= before + 1
    assert s5.x.shape[0] == s7.x.shape[0] == 8 and s7.n_obs == 7
    m7, sd7 = s7.predict(enc[10:])
    s7p = fit_gp(jax.random.key(1), enc[:7], y[:7], LAY, steps=50, pad_to=16)
    m7p, sd7p = s7p.predict(enc[10:])
    np.testing.assert_allclose(m7, m7p, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sd7, sd7p, rtol=1e-5, atol=1e-5)
    assert m7.dtype == np.float32 and np.all(sd7 > 0)


def test_nan_targets_dropped_and_posterior_interpolates(data):
    enc, y = data
    y8 = y[:8].copy()
    y8[3] = np.nan
    st = fit_gp(jax.random.key(2), enc[:8], y8, LAY, steps=50)
    assert st.n_obs == 7
    m, _s = st.predict(enc[:8])
    ok = np.isfinite(y8)
    # near the data, the posterior is close to the (noisy) observations
    assert np.corrcoef(np.asarray(m)[ok], y8[ok])[0, 1] > 0.9
    assert float(st.best) == pytest.approx(np.nanmax(y8))


def test_kriging_believer_keeps_mean_shrinks_std(data):
    enc, y = data
    st = fit_gp(jax.random.key(3), enc[:6], y[:6], LAY, steps=50)
    m0, s0 = st.predict(enc[6:12])
    kb = kriging_believer(st, enc[6:7])
    m1, s1 = kb.predict(enc[6:12])
    np.testing.assert_allclose(m0, m1, atol=1e-4)
    assert s1[0] < 0.5 * s0[0]
    assert np.all(np.asarray(s1) <= np.asarray(s0) + 1e-6)


@pytest.mark.slow
def test_nuts_predictions_average_samples(data):
    enc, y = data
    st = fit_gp(
        jax.random.key(4), enc[:8], y[:8], LAY, method="nuts",
        num_warmup=100, num_samples=50,
    )  # fmt: skip
    assert st.hyper.amplitude.shape == (50,)
    m, s = st.predict(enc[8:12])
    assert np.all(np.isfinite(m)) and np.all(np.asarray(s) > 0)
