"""Op vocabulary for time series, built from flax layers."""

from nasjax.ops.base import NodeConfig, Op
from nasjax.ops.registry import make_op, ops_for

__all__ = ["NodeConfig", "Op", "make_op", "ops_for"]
