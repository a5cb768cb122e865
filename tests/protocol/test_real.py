"""The real evaluator: proposal rules, chain-drawn folds, and a small real run."""

import itertools
import json

import numpy as np
import pytest

from nasjax.protocol import PRESETS, run_protocol, verify_ledger, with_overrides
from nasjax.protocol.real import Candidate, make_real_evaluator, proposal_batch
from nasjax.protocol.sortition import beacon_from_hash
from nasjax.protocol.types import HONEST, LIAR, OVERFITTER, RANDOM

REAL = with_overrides(
    PRESETS["real"],
    {
        "n_blocks": 4,
        "ledger.fsync": False,
        "real.data.source": "synthetic",
        "real.data.synthetic_steps": 900,
    },
)


def fake(name):
    return Candidate(arch=None, fingerprint=name, morphs=())  # type: ignore[arg-type]


def test_proposal_rules_follow_agent_types():
    agents = np.array([HONEST, HONEST, LIAR, OVERFITTER, RANDOM])
    options = [
        [fake("a")],
        [fake("b")],
        [fake("c")],
        [fake("d"), fake("e")],
        [fake("f")],
    ]
    public = [
        np.array([0.55]),
        np.array([0.45]),
        np.array([0.40]),
        np.array([0.48, 0.56]),
        np.array([0.30]),
    ]
    oracle = [
        np.array([0.54]),
        np.array([0.50]),
        np.array([0.41]),
        np.array([0.49, 0.47]),
        np.array([0.33]),
    ]
    batch, chosen = proposal_batch(
        agents, np.arange(5), np.ones(5, bool), options, public, oracle, 0.5, 0.02
    )
    assert batch.valid.tolist() == [True, False, True, True, True]
    assert batch.claimed[0] == 0.55  # honest claims its own score
    assert batch.claimed[2] == pytest.approx(0.52)  # liar: bar + margin
    assert batch.claimed[3] == 0.56 and chosen[3].fingerprint == "e"  # best-looking
    assert batch.quality[3] == 0.47  # ...whose held-out quality is worse
    assert batch.n_trained.tolist() == [1, 1, 1, 2, 1]
    assert chosen[1] is None


def test_chain_folds_hide_validation_subsets():
    ev = make_real_evaluator(REAL)
    k = ev.n_folds
    a = ev.stacked_folds(np.array([1, 2], np.uint32))
    b = ev.stacked_folds(np.array([1, 2], np.uint32))
    c = ev.stacked_folds(np.array([1, 3], np.uint32))
    mask_a, mask_c = np.asarray(a.val_mask), np.asarray(c.val_mask)
    assert mask_a.shape[0] == 2 * k + 1
    assert np.array_equal(mask_a, np.asarray(b.val_mask))  # same beacon, same folds
    assert not np.array_equal(mask_a[k : 2 * k], mask_c[k : 2 * k])
    public, chain = mask_a[:k], mask_a[k : 2 * k]
    assert not (chain & ~public).any()  # a subset of the public validation ids
    kept = chain.sum() / public.sum()
    assert abs(kept - REAL.real.chain_val_fraction) < 0.05
    test_ids = np.asarray(ev.oracle.val)[0][np.asarray(ev.oracle.val_mask)[0]]
    val_ids = np.asarray(a.val)[:k][public]
    assert test_ids.min() > val_ids.max()  # the oracle scores the test period


@pytest.mark.slow
def test_small_real_run(tmp_path):
    summary = run_protocol(REAL, tmp_path)
    assert summary["evaluator"] == "real" and summary["supply"]["conserved"]
    assert summary["timing"]["architectures_trained"] > REAL.n_blocks
    report = verify_ledger(tmp_path / "ledger.jsonl")
    assert report.n_blocks == REAL.n_blocks + 2  # + genesis and close
    text = (tmp_path / "ledger.jsonl").read_text()
    records = [json.loads(x) for x in text.splitlines()]
    for prev, rec in itertools.pairwise(records[:-1]):  # the last: close
        # Each block's committees were drawn from the previous block's hash.
        assert rec["header"]["beacon"] == beacon_from_hash(prev["hash"]).tolist()
    bodies = [t["body"] for r in records for t in r["txs"]]
    reveals = [b for b in bodies if b["type"] == "propose_reveal"]
    assert reveals, "no proposal was revealed"
    assert all(r["payload"]["candidate"]["kind"] == "arch" for r in reveals)
