"""``nasjax.safe_json``: deep nesting is refused before the parser recurses."""

import json

import pytest

from nasjax.safe_json import MAX_DEPTH, loads, nesting_depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('[[1, 2], {"a": [3]}]', 3),
        ('["[[[[", "]]"]', 1),  # brackets in strings do not count
        ('["\\"[[["]', 1),  # nor after an escaped quote
        ("[[[", 3),  # unbalanced: the deepest open level
    ],
)
def test_nesting_depth(text, depth):
    assert nesting_depth(text) == depth
    assert nesting_depth(text.encode()) == depth


def test_loads_equals_json_loads_below_the_limit():
    text = json.dumps({"rows": [[1, 2.5, None], [3, "x", True]], "n": 2})
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


def test_deep_nesting_is_refused_not_parsed():
    deep = b"[" * 200_000 + b"]" * 200_000  # would overflow the C stack
    with pytest.raises(ValueError, match="nested 200000 levels deep"):
        loads(deep)
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError, match="at most 3"):
        loads("[[[[]]]]", max_depth=3)
