"""Shared fixtures. ``nasjax`` is imported first so its XLA settings apply."""

import atexit
import os
import shutil
import tempfile

import jax
import pytest

import nasjax  # noqa: F401  (must precede jax initialisation)
from nasjax.compile_guard import drop_compiled
from nasjax.graph import ArchSpec
from tests.helpers import random_inputs, small_spec

# One persistent XLA compilation cache for the subprocesses the CLI,
# checkpoint and multi-process tests start (they inherit the environment): a
# program that several processes compile (the same tiny search run again,
# resumed, or in a sweep) compiles once. Fresh per session, so every session
# still compiles everything at least once. The pytest process itself does not
# write to it: its own jit cache already dedupes, and serialising its larger
# executables crashed the interpreter (a segfault inside
# ``compilation_cache.put_executable_and_time``) on loaded machines.
_XLA_CACHE = tempfile.mkdtemp(prefix="nasjax-tests-xla-cache-")
atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after every test module.

    The whole suite runs in one process; without this it holds every program
    it ever compiled (each with its code mappings) until the end, and XLA's
    compiler crashed late in long runs. A module rarely reuses another
    module's programs, so this costs few recompiles.
    """
    yield
    drop_compiled()


@pytest.fixture(scope="session")
def spec() -> ArchSpec:
    """A small bucket that keeps compiles fast."""
    return small_spec()


@pytest.fixture(scope="session")
def x(spec) -> jax.Array:
    """A batch of inputs ``float32[4, window, F]``."""
    return random_inputs(spec, 4, seed=42)


# The hostile-input suite (tests/hostile/): every case counted and the count
# printed in the terminal summary (benchmarks/README.md records it). The hooks
# live here, not in tests/hostile/conftest.py, so that the pytest-xdist
# controller, which collects nothing itself, loads them too.

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
