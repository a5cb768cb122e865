"""``ArchSpec``: the static description of one capacity bucket."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

#: Every op name the model knows, in a fixed canonical order.
KNOWN_OPS: tuple[str, ...] = (
    "dense_gelu",
    "dense_tanh",
    "conv",
    "lstm",
    "gru",
    "attention",
    "layernorm",
    "identity",
)
#: Default op vocabulary of a search space.
DEFAULT_OPS: tuple[str, ...] = KNOWN_OPS
#: Ops whose width can grow by a function-preserving morph (new units start
#: with zero incoming weights, so they output exactly zero).
WIDENABLE_OPS: frozenset[str] = frozenset(
    {"dense_gelu", "dense_tanh", "conv", "lstm", "gru", "attention"}
)
#: Readout names, indexed by ``Arch.readout``: the output node's last step,
#: its mean over time, or a learned per-channel weighting of every step
#: (``window``: with the linear head, a linear model over the whole window;
#: :mod:`nasjax.nn.readout`).
READOUTS: tuple[str, ...] = ("last", "mean", "window")


def _is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """Static description of a capacity bucket and its op vocabulary.

    An ``ArchSpec`` is hashable and never a pytree leaf: it is the static part
    of every :class:`~nasjax.graph.Arch` and fixes the shapes of the arch
    arrays and of the parameters.

    Node 0 of every architecture is the *input node*: a linear projection of
    the ``n_features`` input channels. Nodes ``1 .. n_active - 1`` apply an op
    from ``ops``; the last active node is the output node, read out over time
    and fed to a linear classifier head.

    Attributes:
        n_features: Input channels ``F`` of ``x: float32[batch, window, F]``.
        window: Time steps ``T`` per example.
        n_classes: Classifier outputs.
        max_nodes: Node capacity ``N`` of the bucket (a power of two, >= 2).
        max_width: Channel capacity ``W`` of every node (a power of two and a
            multiple of ``head_dim``).
        ops: Op vocabulary for nodes 1.., names from :data:`KNOWN_OPS`.
        max_kernel: Capacity of the causal convolution's kernel (taps).
        dilations: Dilations a convolution may use.
        head_dim: Channels per attention head (fixed, so heads do not depend
            on the bucket width).
        width_step: Granularity of sampled and widened widths.
    """

    n_features: int
    window: int
    n_classes: int = 2
    max_nodes: int = 8
    max_width: int = 64
    ops: tuple[str, ...] = DEFAULT_OPS
    max_kernel: int = 4
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    head_dim: int = 8
    width_step: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        problems = []
        if self.n_features < 1:
            problems.append(f"n_features must be >= 1, got {self.n_features}")
        if self.window < 1:
            problems.append(f"window must be >= 1, got {self.window}")
        if self.n_classes < 2:
            problems.append(f"n_classes must be >= 2, got {self.n_classes}")
        if not _is_power_of_two(self.max_nodes) or self.max_nodes < 2:
            problems.append(
                f"max_nodes must be a power of two >= 2, got {self.max_nodes}"
            )
        if not _is_power_of_two(self.max_width):
            problems.append(f"max_width must be a power of two, got {self.max_width}")
        if self.max_width % self.head_dim:
            problems.append(
                f"max_width ({self.max_width}) must be a multiple of head_dim "
                f"({self.head_dim})"
            )
        if not self.ops:
            problems.append("ops must name at least one op")
        unknown = [o for o in self.ops if o not in KNOWN_OPS]
        if unknown:
            problems.append(f"unknown ops {unknown}; known ops are {list(KNOWN_OPS)}")
        if len(set(self.ops)) != len(self.ops):
            problems.append(f"ops has duplicates: {list(self.ops)}")
        if self.max_kernel < 1:
            problems.append(f"max_kernel must be >= 1, got {self.max_kernel}")
        if not self.dilations or min(self.dilations) < 1:
            problems.append(f"dilations must be positive, got {self.dilations}")
        if self.width_step < 1 or self.width_step > self.max_width:
            problems.append(
                f"width_step must be in [1, max_width], got {self.width_step}"
            )
        if problems:
            raise ValueError("invalid ArchSpec: " + "; ".join(problems))

    @property
    def n_ops(self) -> int:
        """Size of the op vocabulary."""
        return len(self.ops)

    def op_id(self, name: str) -> int:
        """Index of op ``name`` in this spec's vocabulary.

        Raises:
            ValueError: If ``name`` is not in ``ops``.
        """
        if name not in self.ops:
            raise ValueError(f"op {name!r} is not in this spec's ops {list(self.ops)}")
        return self.ops.index(name)

    def grown(
        self, max_nodes: int | None = None, max_width: int | None = None
    ) -> ArchSpec:
        """The same spec with a larger capacity (the next bucket up)."""
        return dataclasses.replace(
            self,
            max_nodes=self.max_nodes if max_nodes is None else max_nodes,
            max_width=self.max_width if max_width is None else max_width,
        )

    def to_dict(self) -> dict:
        """JSON-ready dict of every field."""
        d = dataclasses.asdict(self)
        d["ops"] = list(self.ops)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ArchSpec:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["ops"] = tuple(d["ops"])
        d["dilations"] = tuple(d["dilations"])
        return cls(**d)


def bucket_size(n: int, minimum: int = 1) -> int:
    """Smallest power of two ``>= max(n, minimum)``."""
    size = 1
    while size < max(n, minimum):
        size *= 2
    return size


# Host-side padding to a static size, so jitted calls see few distinct shapes
# (one compile per power-of-two bucket rather than one per count).


def repeat_rows(x: ArrayLike, size: int) -> np.ndarray:
    """The rows of ``x`` repeated cyclically to ``size`` rows.

    Exactly ``np.resize(x, (size, *x.shape[1:]))``: row ``i`` of the result is
    row ``i % n`` of ``x`` (``n = len(x)``); an empty ``x`` gives zeros.

    Args:
        x: ``[n, ...]`` rows.
        size: Rows wanted.

    Returns:
        ``[size, ...]`` with the dtype of ``x``.
    """
    x = np.asarray(x)
    return np.resize(x, (size, *x.shape[1:]))


def bucket_indices(n: int, minimum: int = 1) -> np.ndarray:
    """``0 .. n-1`` repeated cyclically to :func:`bucket_size` ``(n, minimum)``.

    ``tree[bucket_indices(n)]`` pads a population of ``n`` to its bucket by
    repeating members; ``result[:n]`` undoes it.

    Returns:
        ``int64[bucket_size(n, minimum)]``.
    """
    return repeat_rows(np.arange(n), bucket_size(n, minimum))


def pad_rows(
    x: ArrayLike, size: int, *, fill: float = np.nan, dtype: DTypeLike | None = None
) -> np.ndarray:
    """``x`` followed by ``fill`` rows up to ``size`` rows.

    Args:
        x: ``[n, ...]`` rows.
        size: Rows wanted (``>= n``).
        fill: Value of the padding rows (default NaN).
        dtype: Result dtype (default that of ``x``); ``x`` is cast to it.

    Returns:
        ``[size, ...]``.

    Raises:
        ValueError: If ``size < n``.
    """
    x = np.asarray(x)
    if size < len(x):
        raise ValueError(f"pad_rows: size {size} is smaller than the {len(x)} rows")
    out = np.full((size, *x.shape[1:]), fill, x.dtype if dtype is None else dtype)
    out[: len(x)] = x
    return out


def pad_to_bucket(
    x: ArrayLike,
    minimum: int = 1,
    *,
    fill: float = np.nan,
    dtype: DTypeLike | None = None,
) -> np.ndarray:
    """:func:`pad_rows` of ``x`` to :func:`bucket_size` ``(len(x), minimum)`` rows.

    Args:
        x: ``[n, ...]`` rows.
        minimum: Smallest bucket.
        fill: Value of the padding rows (default NaN).
        dtype: Result dtype (default that of ``x``).

    Returns:
        ``[bucket_size(n, minimum), ...]``; ``result[:n]`` is ``x``.
    """
    x = np.asarray(x)
    return pad_rows(x, bucket_size(len(x), minimum), fill=fill, dtype=dtype)
