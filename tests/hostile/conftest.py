"""The hostile-input suite: every case counted and the count printed.

Each test under ``tests/hostile/`` is one hostile input (a bad file, config,
checkpoint, export, ledger or disk state) that must end in a clear error of
the project's own type naming what to fix, or in correct results with nothing
lost. The terminal summary of any pytest run that includes these tests
prints how many ran and passed (``benchmarks/README.md`` records the count).
"""

from __future__ import annotations

import pytest

_HERE = "tests/hostile/"
_COUNTS: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Counts the outcome of each hostile case (also under pytest-xdist,
    where the reports reach the controlling process)."""
    if not report.nodeid.startswith(_HERE):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _COUNTS[outcome] = _COUNTS.get(outcome, 0) + 1


def pytest_terminal_summary(terminalreporter) -> None:
    """Prints ``hostile-input suite: N cases, P passed[, ...]``."""
    if not _COUNTS:
        return
    total = sum(_COUNTS.values())
    rest = ", ".join(f"{n} {k}" for k, n in sorted(_COUNTS.items()) if k != "passed")
    line = f"hostile-input suite: {total} cases, {_COUNTS.get('passed', 0)} passed"
    terminalreporter.write_line(line + (f", {rest}" if rest else ""))
