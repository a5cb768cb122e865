"""Small configurations shared by the protocol tests (few shapes, few compiles)."""

import dataclasses

from nasjax.protocol import (
    ConsensusConfig,
    EconomicsConfig,
    LedgerConfig,
    ProtocolConfig,
)

SMALL = ProtocolConfig(
    n_nodes=40,
    n_blocks=60,
    consensus=ConsensusConfig(proposals_per_block=2, committee_size=8),
    economics=EconomicsConfig(unbonding_delay=4),
    ledger=LedgerConfig(fsync=False),
    plots=False,
)
"""40 nodes x 60 blocks, 2 slots x 8 seats: every attacker type present."""


def small(**changes) -> ProtocolConfig:
    """``SMALL`` with top-level fields replaced."""
    return dataclasses.replace(SMALL, **changes)
