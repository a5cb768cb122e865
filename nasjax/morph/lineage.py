"""Host-side lineage: the list of morphs that led from a seed to a child."""

from __future__ import annotations

import dataclasses

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
