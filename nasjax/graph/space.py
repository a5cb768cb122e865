"""`SearchSpaceConfig`: the capacity bucket a search's architectures live in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasjax.graph.spec import ArchSpec


@dataclass(frozen=True)
class SearchSpaceConfig:
    """The capacity bucket architectures live in.

    Attributes:
        max_nodes: Node capacity (input projection included).
        max_width: Width capacity of a node.
        ops: Op vocabulary; None allows every known op.
    """

    max_nodes: int = 8
    max_width: int = 32
    ops: tuple[str, ...] | None = None

    def spec(self, n_features: int, window: int, n_classes: int = 2) -> ArchSpec:
        """The `ArchSpec` of this space for data of ``n_features`` features,
        ``window`` steps and ``n_classes`` classes."""
        extra: dict[str, Any] = {} if self.ops is None else {"ops": tuple(self.ops)}
        return ArchSpec(
            n_features=n_features,
            window=window,
            n_classes=n_classes,
            max_nodes=self.max_nodes,
            max_width=self.max_width,
            **extra,
        )
