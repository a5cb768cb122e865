"""Shared fixtures of the protocol tests."""

import dataclasses

import pytest
from protocol_configs import SMALL

import nasjax  # noqa: F401  (must precede jax initialisation)
from nasjax.protocol import run_protocol


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """One full run of ``SMALL`` with a full ledger and plots: (out_dir, summary)."""
    out = tmp_path_factory.mktemp("protocol_run")
    summary = run_protocol(dataclasses.replace(SMALL, plots=True), out)
    return out, summary
