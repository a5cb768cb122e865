"""Host-side lineage: the list of morphs that led from a seed to a child.

:class:`MorphStep` / :func:`record` / :func:`extend` build it one morph at a
time; :func:`arch_lineage` reads it back from a search's result rows (what
``nasjax.export.lineage`` returns and ``lineage.json`` holds).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasjax.morph.base import MorphOutput


@dataclasses.dataclass(frozen=True)
class MorphStep:
    """One applied morph.

    Attributes:
        name: Morph name.
        args: Its ``(a, b, c)`` arguments (see each morph's docstring).
    """

    name: str
    args: tuple[int, int, int]

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"name": self.name, "args": list(self.args)}

    @classmethod
    def from_dict(cls, d: dict) -> MorphStep:
        """Inverse of :meth:`to_dict`."""
        a, b, c = (int(v) for v in d["args"])
        return cls(str(d["name"]), (a, b, c))


def record(name: str, out: MorphOutput) -> MorphStep | None:
    """A lineage step for a single (unbatched) morph output, or None if it did
    not apply."""
    if not bool(np.asarray(out.applied)):
        return None
    a, b, c = (int(v) for v in np.asarray(out.args))
    return MorphStep(name, (a, b, c))


def extend(
    lineage: tuple[MorphStep, ...], step: MorphStep | None
) -> tuple[MorphStep, ...]:
    """Lineage of the child: the parent's plus ``step`` (if any)."""
    return lineage if step is None else (*lineage, step)


def arch_lineage(rows: Sequence[Mapping[str, Any]], fingerprint: str) -> list[dict]:
    """The morph history of ``fingerprint`` from its seed architecture.

    Follows ``parent_fingerprint`` through result rows (one per evaluation:
    ``fingerprint``, ``parent_fingerprint``, ``morphs`` comma-joined,
    ``round``, ``fitness``, ``params_count``).

    Returns:
        Steps from the seed (no parent) to ``fingerprint``; each step holds
        ``fingerprint``, ``parent_fingerprint``, ``morphs`` (list applied to
        the parent), ``round``, ``fitness``, ``params_count``. If a parent is
        not among the rows, the first step's ``origin`` says so.

    Raises:
        KeyError: If ``fingerprint`` is not a row.
    """
    by_fp = {str(r["fingerprint"]): r for r in rows}
    if fingerprint not in by_fp:
        raise KeyError(f"{fingerprint} is not among the evaluations")
    chain: list[dict] = []
    fp, seen = fingerprint, set()
    origin = "seed"
    while fp:
        if fp in seen:
            origin = "cycle"
            break
        if fp not in by_fp:
            origin = f"parent {fp} not evaluated in this run"
            break
        seen.add(fp)
        r = by_fp[fp]
        morphs = str(r.get("morphs", ""))
        chain.append(
            {
                "fingerprint": fp,
                "parent_fingerprint": str(r.get("parent_fingerprint", "")),
                "morphs": [m for m in morphs.split(",") if m],
                "round": int(r["round"]),
                "fitness": _finite(r.get("fitness")),
                "params_count": int(r.get("params_count", 0)),
            }
        )
        fp = chain[-1]["parent_fingerprint"]
    chain.reverse()
    if chain:
        chain[0]["origin"] = origin
    return chain


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None
