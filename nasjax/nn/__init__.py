"""Masked DAG models over :class:`~nasjax.graph.Arch`."""

from nasjax.nn.cost import active_macs, active_param_count, input_widths
from nasjax.nn.model import (
    apply,
    count_params,
    embed,
    init,
    init_node,
    init_nodes,
    pad_params,
)
from nasjax.nn.population import (
    NODE_LOOPS,
    Capacities,
    apply_population,
    check_capacities,
    embed_population,
    member_counts,
    node_capacities,
    op_capacities,
    schedule_shape,
)
from nasjax.nn.schedule import ScheduleShape
from nasjax.nn.static import apply_static, embed_static

__all__ = [
    "NODE_LOOPS",
    "Capacities",
    "ScheduleShape",
    "active_macs",
    "active_param_count",
    "apply",
    "apply_population",
    "apply_static",
    "check_capacities",
    "count_params",
    "embed",
    "embed_population",
    "embed_static",
    "init",
    "init_node",
    "init_nodes",
    "input_widths",
    "member_counts",
    "node_capacities",
    "op_capacities",
    "pad_params",
    "schedule_shape",
]
