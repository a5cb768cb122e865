"""Masked DAG models over :class:`~nasjax.graph.Arch`."""

from nasjax.nn.cost import active_macs, active_param_count
from nasjax.nn.model import (
    apply,
    count_params,
    embed,
    init,
    init_nodes,
    input_widths,
    pad_params,
)

__all__ = [
    "active_macs",
    "active_param_count",
    "apply",
    "count_params",
    "embed",
    "init",
    "init_nodes",
    "input_widths",
    "pad_params",
]
