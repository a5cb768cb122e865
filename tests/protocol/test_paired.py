"""The paired acceptance rule: pairing, the committee test, re-certification.

Committee-level checks draw many committees in one vmapped call of the
surrogate's per-seat paired scorer; nothing here trains a model.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from protocol_configs import SMALL

from nasjax.protocol import (
    PRESETS,
    BlockInputs,
    init_state,
    make_params,
    simulate,
    step,
    with_overrides,
    x64_mode,
)
from nasjax.protocol.agents import paired_block_scores
from nasjax.protocol.paired import paired_test
from nasjax.protocol.step import jit_step

TRIALS = 20_000
SEATS = 32


def committee_gains(cfg, delta: float, trials: int = TRIALS, seats: int = SEATS):
    """``f64[trials, seats]`` paired gains of a candidate ``delta`` above the
    incumbent, each seat its own validator, in one vmapped call."""
    with x64_mode():
        params = make_params(cfg)
        keys = jax.random.split(jax.random.key(7), trials * seats)
        keys = keys.reshape(trials, seats)
        score = jax.vmap(
            jax.vmap(lambda k: paired_block_scores(params, k, 0.55 + delta, 0.55))
        )
        cand, inc = score(keys)
        return params, cand, inc, (cand - inc).mean(axis=-1)


def accept_rate(params, gains, n_bad: int = 0, value: float = 0.0) -> float:
    """Share of committees accepting, the first ``n_bad`` seats reporting
    ``value`` whatever they measured."""
    with x64_mode():
        gains = jnp.asarray(gains, jnp.float64).at[:, :n_bad].set(value)
        counted = jnp.ones(gains.shape, bool)
        _, lower, _, _ = paired_test(
            gains,
            counted,
            params.accept_z,
            params.trim,
            None,
            params.outlier_band,
        )
        return float(jnp.mean(lower >= params.test_gain))


def test_pairing_cancels_a_shared_block_effect():
    """A block effect common to both models vanishes from the gain."""
    cfg = with_overrides(
        PRESETS["default"],
        {
            "surrogate.fold_noise": 0.05,  # 25x the default: a huge block effect
            "surrogate.block_share": 1.0,
            "surrogate.train_noise": 0.0,
        },
    )
    _, cand, inc, gains = committee_gains(cfg, 0.001, trials=200, seats=8)
    assert float(np.std(np.asarray(cand).mean(-1))) > 0.01  # scores swing widely
    np.testing.assert_allclose(np.asarray(cand - inc), 0.001, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gains), 0.001, atol=1e-12)


def test_paired_gain_variance_is_what_pairing_leaves():
    """Var(gain) = 2 (1 - block_share) fold^2 + 2 (1 - train_share) train^2."""
    cfg = PRESETS["default"]
    s = cfg.surrogate
    _, _, _, gains = committee_gains(cfg, 0.0, trials=2_000)
    want = 2 * (1 - s.block_share) * s.fold_noise**2
    want += 2 * (1 - s.train_share) * s.train_noise**2
    assert float(np.var(np.asarray(gains))) == pytest.approx(want, rel=0.05)
    unpaired = 2 * (s.fold_noise**2 + s.train_noise**2)
    assert want < unpaired / 4


def test_false_accept_at_the_stated_rate_and_power_at_the_margin():
    """Equal candidate: accepted at about 1 - confidence; a gain of the
    margin: accepted with high probability (default noise, 32 seats)."""
    loose = with_overrides(PRESETS["default"], {"acceptance.confidence": 0.99})
    params, _, _, null = committee_gains(loose, 0.0)
    rate = accept_rate(params, null)
    assert 0.004 < rate < 0.02, rate  # stated 1%
    params, _, _, null = committee_gains(PRESETS["default"], 0.0)
    assert accept_rate(params, null) < 0.005  # stated 0.2%
    margin = PRESETS["default"].consensus.min_improvement
    params, _, _, good = committee_gains(PRESETS["default"], margin)
    assert accept_rate(params, good) > 0.85
    _, _, _, better = committee_gains(PRESETS["default"], 1.5 * margin)
    assert accept_rate(params, better) > 0.99


@pytest.mark.parametrize(
    ("n_bad", "value", "null_limit", "good_floor"),
    [
        (15, 0.05, 0.01, 0.9),  # gross values, just under half: screened out
        (3, 0.0015, 0.02, 0.99),  # subtle ones, under the trimmed share
        (6, 0.0008, 0.08, 0.9),  # subtle ones, at the trimmed share (19%)
        (10, 0.0015, 0.3, None),  # beyond it (31%): degraded, no veto claim
    ],
)
def test_a_malicious_minority_moves_the_test_little(
    n_bad, value, null_limit, good_floor
):
    """``n_bad`` of 32 seats report ``+value`` for an equal candidate, or
    ``-value`` for one ``2 * margin`` better."""
    params, _, _, null = committee_gains(PRESETS["default"], 0.0, trials=5_000)
    assert accept_rate(params, null, n_bad, value) < null_limit
    if good_floor is not None:
        _, _, _, good = committee_gains(PRESETS["default"], 0.002, trials=5_000)
        assert accept_rate(params, good, n_bad, -value) > good_floor


def test_recertification_moves_the_incumbent_toward_its_truth():
    """A genesis certified 0.01 above its truth, proposals that never pass:
    the running mean of committees' incumbent scores pulls it back."""
    base = with_overrides(
        SMALL,
        {
            "consensus.committee_size": 16,
            "surrogate.gain_mean": -1.0,
            "surrogate.gain_std": 0.0,
            "surrogate.random_mean": 0.3,
            "surrogate.random_std": 0.0,
            "agents.lie_margin": 0.0,
        },
    )
    finals = {}
    for recertify in (True, False):
        cfg = with_overrides(base, {"acceptance.recertify": recertify})
        with x64_mode():
            params = make_params(cfg)
            state = init_state(cfg, initial_score=0.53, initial_true=0.52)
            final, out = simulate(params, state, jax.random.key(3), cfg.n_blocks)
        assert int(np.asarray(out.metrics.accepted).sum()) == 0
        finals[recertify] = float(np.asarray(final.best_score)[0])
        assert float(np.asarray(final.best_true)[0]) == 0.52
    assert finals[False] == 0.53
    assert abs(finals[True] - 0.52) < 0.1 * 0.01, finals


@pytest.mark.slow  # the eager step compiles every op (~30 s); the jitted step
# runs in every other protocol test
def test_jit_step_equals_eager_step():
    """From a state with proposals in every stage, one eager step equals the
    jitted one (and a jitted step was what built the state)."""
    cfg = with_overrides(SMALL, {"consensus.rule": "paired"})
    key = jax.random.key(5)
    with x64_mode():
        params, state = make_params(cfg), init_state(cfg)
        t = 0
        while t < 3 or not bool(np.asarray(state.voting.valid).any()):
            state, _ = jit_step(params, state, BlockInputs(jax.random.fold_in(key, t)))
            t += 1
            assert t < 30
        inputs = BlockInputs(jax.random.fold_in(key, t))
        eager = step(params, state, inputs)
        jitted = jit_step(params, state, inputs)
        for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
            a, b = np.asarray(a), np.asarray(b)
            if np.issubdtype(a.dtype, np.floating):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
            else:
                np.testing.assert_array_equal(a, b)
    assert int(np.asarray(eager[1].metrics.accepted + eager[1].metrics.rejected)) > 0
