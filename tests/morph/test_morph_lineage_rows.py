"""``nasjax.morph.arch_lineage``, the one lineage of an architecture."""

import math

import pytest

from nasjax.app.export import lineage as export_lineage
from nasjax.morph import arch_lineage
from nasjax.morph.lineage import arch_lineage as lineage_module_fn

ROWS = [
    {"fingerprint": "a", "parent_fingerprint": "", "morphs": "", "round": 0,
     "fitness": 0.5, "params_count": 100},
    {"fingerprint": "b", "parent_fingerprint": "a", "morphs": "widen,deepen",
     "round": 1, "fitness": float("nan"), "params_count": 150},
    {"fingerprint": "c", "parent_fingerprint": "b", "morphs": "add_skip",
     "round": 2, "fitness": 0.75},
    {"fingerprint": "d", "parent_fingerprint": "zz", "morphs": "swap_op",
     "round": 3, "fitness": None, "params_count": 7},
    {"fingerprint": "e", "parent_fingerprint": "f", "round": 4, "fitness": 0.1},
    {"fingerprint": "f", "parent_fingerprint": "e", "morphs": ",widen,",
     "round": 5, "fitness": math.inf, "params_count": 3},
]  # fmt: skip


def _step(fp, parent, morphs, rnd, fitness, count):
    return {
        "fingerprint": fp,
        "parent_fingerprint": parent,
        "morphs": morphs,
        "round": rnd,
        "fitness": fitness,
        "params_count": count,
    }


EXPECTED = {
    "a": [{**_step("a", "", [], 0, 0.5, 100), "origin": "seed"}],
    "c": [
        {**_step("a", "", [], 0, 0.5, 100), "origin": "seed"},
        _step("b", "a", ["widen", "deepen"], 1, None, 150),
        _step("c", "b", ["add_skip"], 2, 0.75, 0),
    ],
    "d": [
        {
            **_step("d", "zz", ["swap_op"], 3, None, 7),
            "origin": "parent zz not evaluated in this run",
        }
    ],
    "e": [
        {**_step("f", "e", ["widen"], 5, None, 3), "origin": "cycle"},
        _step("e", "f", [], 4, 0.1, 0),
    ],
}


@pytest.mark.parametrize("fp", sorted(EXPECTED))
def test_one_lineage_implementation(fp):
    got = arch_lineage(ROWS, fp)
    assert got == EXPECTED[fp]
    assert export_lineage(ROWS, fp) == got
    assert lineage_module_fn is arch_lineage


def test_unknown_fingerprint_raises():
    with pytest.raises(KeyError, match="not among the evaluations"):
        arch_lineage(ROWS, "nope")
    with pytest.raises(KeyError, match="not among the evaluations"):
        export_lineage(ROWS, "nope")
