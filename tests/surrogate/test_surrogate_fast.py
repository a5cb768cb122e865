"""Fast refits: warm starts, the sparse GP, fidelity and known noise, updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax  # noqa: F401
from nasjax.search.base import Archive, SearchState
from nasjax.serialize import decode, encode
from nasjax.surrogate import encode as encode_arch
from nasjax.surrogate import fit_compiles, fit_gp, kriging_believer, layout
from nasjax.surrogate.gp import factorise_all, inducing_points, padded_rows
from nasjax.surrogate.kernels import KernelParams
from nasjax.surrogate.model import covariance, masked_mvn_logpdf, vfe_logpdf
from tests.helpers import random_archs, small_spec, toy_gp_target

SPEC = small_spec()
LAY = layout(SPEC)


@pytest.fixture(scope="module")
def data():
    archs = random_archs(SPEC, 40, 0)
    enc = np.asarray(jax.vmap(encode_arch)(archs), np.float64)
    return enc, toy_gp_target(enc, LAY)


def _log_hyper(st):
    h = st.hyper.to_host()
    w = h["graph_weight"]
    return np.concatenate(
        [np.log([h["amplitude"], h["noise"]]), np.log(h["lengthscale"]),
         [np.log(w / (1 - w))]]
    )  # fmt: skip


@pytest.mark.slow
def test_warm_refit_reaches_the_cold_optimum(data):
    enc, y = data
    x, t = enc[:20], y[:20]
    cold = fit_gp(jax.random.key(0), x, t, LAY, n_restarts=8, tol=1e-9)
    # start far from the optimum: every length-scale 3x, noise 5x
    h = cold.hyper.to_host()
    far = {**h, "lengthscale": 3.0 * h["lengthscale"], "noise": 5.0 * h["noise"]}
    warm = fit_gp(jax.random.key(1), x, t, LAY, n_restarts=1, init=far, tol=1e-9)
    np.testing.assert_allclose(_log_hyper(warm), _log_hyper(cold), atol=0.05)
    m0, s0 = cold.predict(enc[20:])
    m1, s1 = warm.predict(enc[20:])
    np.testing.assert_allclose(m1, m0, atol=5e-3 * np.std(t))
    np.testing.assert_allclose(s1, s0, rtol=2e-2)


@pytest.mark.slow
def test_lbfgs_no_worse_than_adam(data):
    enc, y = data
    args = (enc[:20], y[:20], LAY)
    adam = fit_gp(jax.random.key(0), *args, optimizer="adam", n_restarts=4)
    lbfgs = fit_gp(jax.random.key(0), *args, n_restarts=4)

    def potential(st):
        with jax.enable_x64(True):
            h = st.hyper
            kp = KernelParams(h.amplitude[0], h.lengthscale[0], h.graph_weight[0])
            cov = covariance(kp, h.noise[0], st.x, st.mask, LAY)
            return float(masked_mvn_logpdf(st.y, cov, st.mask))

    # the log likelihood at the MAP (priors aside) is of the same quality
    assert potential(lbfgs) >= potential(adam) - 0.5


def test_one_compile_per_padded_size_with_warm_starts(data):
    enc, y = data
    st5 = fit_gp(jax.random.key(1), enc[:5], y[:5], LAY, n_restarts=1, init=None)
    fit_gp(jax.random.key(1), enc[:5], y[:5], LAY, n_restarts=1, init=st5.hyper)
    before = fit_compiles()
    fit_gp(jax.random.key(2), enc[:6], y[:6], LAY, n_restarts=1, init=st5.hyper)
    fit_gp(jax.random.key(3), enc[:8], y[:8], LAY, n_restarts=1, init=st5.hyper)
    assert fit_compiles() == before


@jax.jit
def _bounds(kp, noise, x, y, mask):
    exact = masked_mvn_logpdf(y, covariance(kp, noise, x, mask, LAY), mask)
    some = jnp.stack([vfe_logpdf(kp, noise, x, y, mask, x[:m], LAY) for m in (2, 6)])
    return exact, some, vfe_logpdf(kp, noise, x, y, mask, x[:12], LAY)


@settings(max_examples=10, deadline=None)
@given(
    amp=st.floats(0.2, 3.0),
    ls=st.floats(0.2, 5.0),
    noise=st.floats(1e-2, 0.5),
    w=st.floats(0.05, 0.95),
)
def test_vfe_bound_below_exact_and_tight_with_all_points(data, amp, ls, noise, w):
    enc, y = data
    with jax.enable_x64(True):
        x = jnp.asarray(np.concatenate([enc[:12], np.zeros((4, LAY.dim))]))
        yv = (y[:12] - y[:12].mean()) / y[:12].std()
        yy = jnp.asarray(np.concatenate([yv, np.zeros(4)]))
        mask = jnp.arange(16) < 12
        kp = KernelParams(
            jnp.asarray(amp), jnp.full(len(LAY.groups), ls), jnp.asarray(w)
        )
        exact, some, every = map(
            np.asarray, _bounds(kp, jnp.asarray(noise), x, yy, mask)
        )
    tol = 1e-6 * (1 + abs(float(exact)))
    assert np.all(some <= exact + tol)
    # equal up to the jitter on K_mm (1e-6 of the amplitude)
    assert float(every) == pytest.approx(
        float(exact), abs=5e-3 * (1 + abs(float(exact)))
    )


@pytest.mark.slow
def test_sparse_gp_matches_exact_on_small_n(data):
    enc, y = data
    x, t = enc[:24], y[:24]
    exact = fit_gp(jax.random.key(0), x, t, LAY)
    sparse = fit_gp(jax.random.key(0), x, t, LAY, sparse_above=8, n_inducing=24)
    assert sparse.sparse and not exact.sparse
    np.testing.assert_allclose(_log_hyper(sparse), _log_hyper(exact), atol=0.05)
    m0, s0 = exact.predict(enc[24:])
    m1, s1 = sparse.predict(enc[24:])
    np.testing.assert_allclose(m1, m0, atol=5e-3 * np.std(t))
    np.testing.assert_allclose(s1, s0, rtol=3e-2, atol=1e-3 * np.std(t))
    # fewer inducing points: a valid posterior (its quality is benchmarked)
    few = fit_gp(jax.random.key(0), x, t, LAY, sparse_above=8, n_inducing=12)
    m2, s2 = few.predict(enc[24:])
    assert few.inducing is not None and few.inducing.shape[0] == 12
    assert np.all(np.isfinite(m2)) and np.all(np.asarray(s2) > 0)


def test_inducing_points_distinct_best_first(data):
    enc, y = data
    dup = np.concatenate([enc, enc[:5]])
    idx = inducing_points(dup, np.concatenate([y, y[:5]]), 30)
    assert len(set(idx)) == 30
    assert len({tuple(dup[i]) for i in idx}) == 30  # no duplicate encodings
    assert idx[0] == int(np.argmax(np.concatenate([y, y[:5]])))


def test_equal_fidelity_and_zero_noise_change_nothing(data):
    enc, y = data
    x, t = enc[:16], y[:16]
    base = fit_gp(jax.random.key(0), x, t, LAY)
    fid = fit_gp(jax.random.key(0), x, t, LAY, fidelity=np.full(16, 100.0))
    nv = fit_gp(jax.random.key(0), x, t, LAY, noise_var=np.zeros(16))
    m0, s0 = base.predict(enc[16:])
    for other in (fid, nv):
        m1, s1 = other.predict(enc[16:])
        np.testing.assert_allclose(m1, m0, atol=2e-3 * np.std(t))
        np.testing.assert_allclose(s1, s0, rtol=2e-2)
    assert fid.hyper.fidelity_lengthscale is not None


def test_fidelity_separates_budgets(data):
    enc, y = data
    # the same archs at a cheap budget score 1 lower: the full-budget
    # prediction must follow the full-budget scores, not their average
    x = np.concatenate([enc[:16], enc[:16]])
    t = np.concatenate([y[:16], y[:16] - 1.0])
    b = np.concatenate([np.full(16, 400.0), np.full(16, 50.0)])
    st_ = fit_gp(jax.random.key(0), x, t, LAY, fidelity=b)
    full, _ = st_.predict(enc[:16])
    cheap, _ = st_.predict(enc[:16], fidelity=50.0)
    assert np.mean(np.abs(np.asarray(full) - y[:16])) < 0.25
    assert np.mean(np.asarray(full) - np.asarray(cheap)) > 0.5


def test_known_noise_widens_the_posterior_at_that_point(data):
    enc, y = data
    x, t = enc[:16], y[:16]
    nv = np.zeros(16)
    nv[3] = 100.0 * np.var(t)
    st_ = fit_gp(jax.random.key(0), x, t, LAY, noise_var=nv)
    base = fit_gp(jax.random.key(0), x, t, LAY, init=st_.hyper, n_restarts=1)
    with jax.enable_x64(True):
        # same hyper-parameters, only the known noise differs
        st_same = st_.replace(noise_obs=None)
        ch, al, _ = factorise_all(st_.hyper, st_.x, st_.y, st_.mask, LAY, None, None)
        st_same = st_same.replace(chol=ch, alpha=al)
    _, s_noisy = st_.predict(x[3:4])
    _, s_clean = st_same.predict(x[3:4])
    assert float(s_noisy[0]) > 2.0 * float(s_clean[0])
    assert base.n_obs == 16


def test_incremental_believer_equals_refactorisation(data):
    enc, y = data
    st_ = fit_gp(jax.random.key(0), enc[:10], y[:10], LAY)
    kb = kriging_believer(st_, enc[10:13])
    with jax.enable_x64(True):
        ch, al, _ = factorise_all(kb.hyper, kb.x, kb.y, kb.mask, LAY, None, None)
    np.testing.assert_allclose(kb.chol, ch, atol=1e-9)
    np.testing.assert_allclose(kb.alpha, al, atol=1e-7)
    # and a sparse state is conditioned too (refactorised)
    sp = fit_gp(jax.random.key(0), enc[:10], y[:10], LAY, sparse_above=4, n_inducing=6)
    m0, s0 = sp.predict(enc[10:13])
    kbs = kriging_believer(sp, enc[10:11])
    m1, s1 = kbs.predict(enc[10:13])
    np.testing.assert_allclose(m1, m0, atol=1e-4)
    assert s1[0] < s0[0]


def test_search_state_carry_survives_serialisation(data):
    enc, y = data
    st_ = fit_gp(jax.random.key(0), enc[:8], y[:8], LAY)
    carry = {"gp": st_.hyper.to_host(), "gp_fits": 3}
    state = SearchState(Archive(), None, 2, carry)
    back = decode(*encode(state))
    assert back.carry is not None and back.carry["gp_fits"] == 3
    for k, v in carry["gp"].items():
        np.testing.assert_array_equal(back.carry["gp"][k], v)
    assert decode(*encode(SearchState(Archive(), None, 0))).carry is None


def test_closed_form_likelihood_gradient_equals_autodiff(data):
    """The custom VJP of the masked log density is the gradient through Cholesky."""
    enc, y = data

    def reference(yv, cov, mask):  # differentiated through the factorisation
        y0 = jnp.where(mask, yv, 0.0)
        chol = jnp.linalg.cholesky(cov)
        a = jax.scipy.linalg.solve_triangular(chol, y0, lower=True)
        n = jnp.sum(mask)
        logdet = jnp.sum(jnp.log(jnp.diag(chol)))
        return -0.5 * jnp.sum(a**2) - logdet - 0.5 * n * np.log(2.0 * np.pi)

    with jax.enable_x64(True):
        x = jnp.asarray(np.pad(enc[:13], ((0, 3), (0, 0))))
        yv = jnp.asarray(np.pad(y[:13], (0, 3)))
        mask = jnp.arange(16) < 13

        def through(fn, u):
            kp = KernelParams(jnp.exp(u[0]), jnp.exp(u[1:6]), jax.nn.sigmoid(u[6]))
            return fn(yv, covariance(kp, jnp.exp(u[7]), x, mask, LAY), mask)

        u = jnp.asarray([0.3, -0.5, 0.2, 0.0, 0.7, -0.1, 0.4, -2.0])
        for fn in (masked_mvn_logpdf, reference):
            assert np.isfinite(float(through(fn, u)))
        v1, g1 = jax.value_and_grad(lambda u: through(masked_mvn_logpdf, u))(u)
        v2, g2 = jax.value_and_grad(lambda u: through(reference, u))(u)
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-8, atol=1e-10)


def test_padding_skews_power_of_two_sizes_and_repad_stays_exact():
    assert [padded_rows(n) for n in (1, 9, 100, 200, 257, 1000)] == [
        8, 16, 128, 264, 520, 1032,
    ]  # fmt: skip
    archs = random_archs(SPEC, 270, 3)
    enc = np.asarray(jax.vmap(encode_arch)(archs), np.float64)
    y = toy_gp_target(enc, LAY)
    st_ = fit_gp(jax.random.key(0), enc[:250], y[:250], LAY, n_restarts=1, steps=5)
    assert st_.x.shape[0] == 264
    kb = kriging_believer(st_, enc[250:270])  # 270 rows: re-padded to 520
    assert kb.x.shape[0] == 520 and kb.n_obs == 270
    with jax.enable_x64(True):
        ch, al, _ = factorise_all(kb.hyper, kb.x, kb.y, kb.mask, LAY, None, None)
    np.testing.assert_allclose(kb.chol, ch, atol=1e-9)
    np.testing.assert_allclose(kb.alpha, al, atol=1e-6)
