"""Proof-of-stake protocol simulation: staked architecture proposals,
stake-weighted validator committees, commit-reveal votes, rewards and
slashing, and a hash-chained, Ed25519-signed ledger.

The core is a pure state transition (:func:`step`) over explicit pytrees
(:class:`State`), run for thousands of nodes in one ``lax.scan``
(:func:`simulate`) with a declared surrogate evaluator, or block by block with
the real nasjax evaluator (``ProtocolConfig(evaluator="real")``).
:func:`run_protocol` writes metrics, a summary, the ledger and plots;
:func:`sweep` maps where the protocol holds. Token amounts are int64
micro-tokens, so supply conservation is exact.

Example::

    from nasjax.protocol import PRESETS, run_protocol
    summary = run_protocol(PRESETS["default"], "outputs/protocol")
    summary["roi"], summary["false_accept_rate"]
"""

from nasjax.protocol.commit_reveal import CommitBook, CommitRevealError, commitment
from nasjax.protocol.config import (
    PRESETS,
    AcceptanceConfig,
    AgentConfig,
    ConsensusConfig,
    EconomicsConfig,
    LedgerConfig,
    ProtocolConfig,
    RealConfig,
    SurrogateEvaluatorConfig,
    from_dict,
    to_dict,
    with_overrides,
)
from nasjax.protocol.ledger import (
    LedgerError,
    LedgerReport,
    LedgerWriter,
    recover_ledger,
    verify_ledger,
)
from nasjax.protocol.metrics import gini, nakamoto, roi_by_type, summarize
from nasjax.protocol.run import run_protocol
from nasjax.protocol.sortition import draw_committees, select_proposers
from nasjax.protocol.state import init_state, make_params, supply, wealth
from nasjax.protocol.step import committees, proposers, simulate, simulate_batch, step
from nasjax.protocol.sweep import SweepConfig, sweep
from nasjax.protocol.types import (
    AGENT_TYPES,
    BlockEvents,
    BlockInputs,
    BlockMetrics,
    BlockOutput,
    Params,
    Pending,
    ProposalBatch,
    State,
)
from nasjax.protocol.x64 import x64_mode

__all__ = [
    "AGENT_TYPES",
    "PRESETS",
    "AcceptanceConfig",
    "AgentConfig",
    "BlockEvents",
    "BlockInputs",
    "BlockMetrics",
    "BlockOutput",
    "CommitBook",
    "CommitRevealError",
    "ConsensusConfig",
    "EconomicsConfig",
    "LedgerConfig",
    "LedgerError",
    "LedgerReport",
    "LedgerWriter",
    "Params",
    "Pending",
    "ProposalBatch",
    "ProtocolConfig",
    "RealConfig",
    "State",
    "SurrogateEvaluatorConfig",
    "SweepConfig",
    "commitment",
    "committees",
    "draw_committees",
    "from_dict",
    "gini",
    "init_state",
    "make_params",
    "nakamoto",
    "proposers",
    "recover_ledger",
    "roi_by_type",
    "run_protocol",
    "select_proposers",
    "simulate",
    "simulate_batch",
    "step",
    "summarize",
    "supply",
    "sweep",
    "to_dict",
    "verify_ledger",
    "wealth",
    "with_overrides",
    "x64_mode",
]


def __getattr__(name: str):
    """Deprecated names (one release): ``SurrogateConfig``."""
    if name == "SurrogateConfig":
        from nasjax.protocol import config

        return config.SurrogateConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
