"""JSON from files a user hands in, parsed without risking the process.

CPython's JSON parser recurses once per nesting level. Its guard is the
interpreter's recursion limit, which libraries raise (hypothesis, JAX's
tracing, deep models) well above what a thread's C stack holds, so a file of
a few thousand ``[`` can crash the process with a segmentation fault
instead of raising. :func:`loads` measures the nesting first (vectorised,
strings excluded) and refuses anything deeper than ``max_depth`` with a
``ValueError``; every JSON the project reads is shallow (a freqtrade file is
2 levels, a ledger block or an export file under 10).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

MAX_DEPTH = 64
"""Deepest nesting accepted by default."""

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def nesting_depth(raw: bytes | str) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text (brackets inside strings
    do not count; an unbalanced text gives its deepest open level)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if b"[" not in data and b"{" not in data:
        return 0
    bare = np.frombuffer(_STRING.sub(b"", data), np.uint8)
    step = np.isin(bare, (ord("["), ord("{"))).astype(np.int64)
    step -= np.isin(bare, (ord("]"), ord("}")))
    return int(np.max(np.cumsum(step), initial=0))


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth``.

    Raises:
        ValueError: On nesting deeper than ``max_depth``, and on everything
            ``json.loads`` raises for bad JSON (``JSONDecodeError`` and
            ``UnicodeDecodeError`` are ``ValueError`` subclasses).
    """
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise ValueError(f"JSON nested {depth} levels deep (at most {max_depth})")
    return json.loads(raw)
