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
from nasjax.protocol.paired import (
    SCORE_ONE,
    paired_band_ppm,
    paired_test,
    paired_test_units,
    score_units,
    t2_table,
)
from nasjax.protocol.step import jit_step
from nasjax.protocol.tokens import PPM

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
        test = paired_test_units(
            score_units(gains),
            counted,
            params.t2_ppm,
            params.trim_ppm,
            None,
            params.band_ppm,
            params.test_units,
        )
        return float(jnp.mean(test.accept))


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


def _first_seats(seats: np.ndarray) -> np.ndarray:
    """``bool[P, C]`` each seat is its validator's first (numpy)."""
    out = np.zeros(seats.shape, bool)
    for p, row in enumerate(seats):
        _, first = np.unique(row, return_index=True)
        out[p, first] = True
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_integer_test_decides_as_the_float_test(seed):
    """On gains on the score grid, :func:`paired_test_units` (what the
    contract computes) screens the same seats as :func:`paired_test`, decides
    the same, and its estimate is the float one floored to the grid."""
    rng = np.random.default_rng(seed)
    p, c, z = 400, 32, 2.878
    gains = rng.normal(rng.uniform(-0.02, 0.03, (p, 1)), 0.01, (p, c))
    gains[::3, :6] = gains[::3, :1]  # ties and a clump
    gains[1::4, :3] = 0.3  # gross outliers for the screen
    units = np.round(gains * SCORE_ONE).astype(np.int64)
    counted = rng.uniform(size=(p, c)) < 0.9
    distinct = _first_seats(rng.integers(0, 20, (p, c)))
    with x64_mode():
        est, lower, kept, _ = paired_test(
            units / SCORE_ONE, counted, z, 0.2, distinct, 6.0
        )
        test = paired_test_units(
            units, counted, t2_table(z), 200_000, distinct, paired_band_ppm(6.0), 0
        )
        est, lower, kept = (np.asarray(x) for x in (est, lower, kept))
        np.testing.assert_array_equal(np.asarray(test.kept), kept)
        clear = np.abs(lower) > 1e-6  # away from the bound (t is rounded up)
        np.testing.assert_array_equal(np.asarray(test.accept)[clear], lower[clear] >= 0)
        assert clear.mean() > 0.95 and 0.1 < np.mean(lower >= 0) < 0.9
        np.testing.assert_array_equal(
            np.asarray(test.estimate), np.floor(est * SCORE_ONE + 1e-9)
        )


def test_integer_test_is_exact_at_its_bound():
    """A bound met with equality is accepted, one unit less is not: the
    decision is an exact integer comparison, not a float one."""
    with x64_mode():
        t2 = np.full(257, 4 * PPM, np.int64)  # t = 2 for every dof
        # Gains 0, 2, 4, 6 (units): mean 3, Q = n W2 - W1**2 = 4 * 56 - 144 = 80,
        # se**2 = Q / (h (h - 1) m) = 80 / 48: the bound 3 - 2 se = 0.42 clears
        # a margin of 0 units, not one of 1.
        gains = np.array([[0, 2, 4, 6]], np.int64)
        counted = np.ones(gains.shape, bool)
        ok = paired_test_units(gains, counted, t2, 0, None, 0, 0)
        assert bool(ok.accept[0]) and int(ok.estimate[0]) == 3
        assert not bool(paired_test_units(gains, counted, t2, 0, None, 0, 1).accept[0])
        # Equality: D**2 (h - 1) m 1e6 == t2 h Q with all gains equal (Q = 0).
        flat = np.full((1, 4), 5, np.int64)
        assert bool(paired_test_units(flat, counted, t2, 0, None, 0, 5).accept[0])
        assert not bool(paired_test_units(flat, counted, t2, 0, None, 0, 6).accept[0])
        # Negative trimmed means floor toward minus infinity, like the contract.
        odd = np.array([[0, 2, 4, 7]], np.int64)
        neg = paired_test_units(-odd, counted, t2, 0, None, 0, 0)
        assert int(neg.estimate[0]) == -4 and not bool(neg.accept[0])  # -13 / 4
