"""Same seed -> identical metrics, ledger bytes and summary; another seed differs."""

import json

import jax
import numpy as np
import polars as pl
from protocol_configs import SMALL, small

from nasjax.protocol import init_state, make_params, run_protocol, simulate, x64_mode


def test_simulate_is_deterministic():
    with x64_mode():
        params, state = make_params(SMALL), init_state(SMALL)
        a = simulate(params, state, jax.random.key(1), SMALL.n_blocks)
        b = simulate(params, state, jax.random.key(1), SMALL.n_blocks)
        c = simulate(params, state, jax.random.key(2), SMALL.n_blocks)
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in pairs)
    assert not np.array_equal(a[1].metrics.producer, c[1].metrics.producer)


def test_run_protocol_is_deterministic(small_run, tmp_path):
    out, summary = small_run
    again = run_protocol(small(plots=True), tmp_path)
    assert (tmp_path / "ledger.jsonl").read_bytes() == (
        out / "ledger.jsonl"
    ).read_bytes()
    a = pl.read_parquet(out / "metrics.parquet")
    b = pl.read_parquet(tmp_path / "metrics.parquet")
    assert a.equals(b)

    def strip(s):
        s = {k: v for k, v in s.items() if k not in ("timing", "ledger", "plots")}
        s["ledger_report"] = {**s["ledger_report"], "path": None}
        return json.dumps(s, sort_keys=True)

    assert strip(again) == strip(summary)


def test_another_seed_gives_another_chain(small_run, tmp_path):
    out, _ = small_run
    run_protocol(small(seed=1), tmp_path)
    assert (tmp_path / "ledger.jsonl").read_bytes() != (
        out / "ledger.jsonl"
    ).read_bytes()
