"""A local ``anvil`` dev chain: find or install it, start it, stop it.

:func:`find_anvil` looks for ``anvil`` on ``PATH``, then under the cache
folder (``$NASJAX_CACHE/anvil`` or ``~/.cache/nasjax/anvil``), and installs
it there with ``npm install @foundry-rs/anvil`` when neither has it (and
``install`` is set). :class:`Anvil` runs one chain on ``127.0.0.1`` on a free
port in its own process group, waits until it answers JSON-RPC, and stops
it (the whole group) on :meth:`Anvil.stop`, on leaving a ``with`` block and
at interpreter exit.

The chain's accounts come from a BIP-39 mnemonic (anvil's public dev
mnemonic by default): :func:`dev_key` derives account ``i``'s private key
(path ``m/44'/60'/0'/0/i``); anvil funds the first ``accounts`` of them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's (and hardhat's) public dev mnemonic: for local chains only."""

PACKAGE = "@foundry-rs/anvil"
"""The npm package that ships the ``anvil`` binary."""


class AnvilNotFound(RuntimeError):
    """``anvil`` is not on PATH, not cached and could not be installed."""


def cache_dir() -> Path:
    """Where :func:`find_anvil` installs anvil (``$NASJAX_CACHE/anvil``)."""
    root = os.environ.get("NASJAX_CACHE") or Path.home() / ".cache" / "nasjax"
    return Path(root) / "anvil"


def find_anvil(install: bool = True, timeout: float = 300.0) -> str:
    """The path of a working ``anvil`` binary.

    Args:
        install: Install it with npm into :func:`cache_dir` when missing.
        timeout: Seconds the npm install may take.

    Raises:
        AnvilNotFound: Saying what was tried and how to install it by hand.
    """
    found = shutil.which("anvil")
    cached = cache_dir() / "node_modules" / ".bin" / "anvil"
    for candidate in (found, str(cached)):
        if candidate and _works(candidate):
            return candidate
    why = "not on PATH nor in " + str(cached)
    npm = shutil.which("npm")
    if install and npm:
        cache_dir().mkdir(parents=True, exist_ok=True)
        cmd = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", PACKAGE]
        try:
            res = subprocess.run(
                cmd, cwd=cache_dir(), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            why += f"; `npm install {PACKAGE}` timed out after {timeout:.0f} s"
        else:
            if res.returncode == 0 and _works(str(cached)):
                return str(cached)
            why += f"; `npm install {PACKAGE}` failed: {res.stderr.strip()[-300:]}"
    elif install:
        why += "; npm is not on PATH"
    raise AnvilNotFound(
        f"anvil: {why}. Install Foundry (https://getfoundry.sh) or run "
        f"`npm install {PACKAGE}` in {cache_dir()}"
    )


def _works(path: str) -> bool:
    try:
        res = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and "anvil" in res.stdout.lower()


def free_port() -> int:
    """A TCP port on 127.0.0.1 free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_key(index: int, mnemonic: str = DEV_MNEMONIC) -> bytes:
    """Private key of account ``index`` of a mnemonic (``m/44'/60'/0'/0/i``)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return bytes(acct.key)


class Anvil:
    """One anvil chain on 127.0.0.1 (a context manager).

    Args:
        accounts: Dev accounts anvil funds (10,000 ETH each).
        mnemonic: Their mnemonic.
        log: File for anvil's output (default: discarded).
        binary: The anvil binary (default :func:`find_anvil`).
        port: TCP port (default: a free one).
    """

    def __init__(
        self,
        accounts: int = 10,
        mnemonic: str = DEV_MNEMONIC,
        log: Path | None = None,
        binary: str | None = None,
        port: int | None = None,
    ) -> None:
        self.binary = binary or find_anvil()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mnemonic = mnemonic
        self.accounts = accounts
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Anvil:
        """Start the chain and wait until it answers ``eth_chainId``.

        Raises:
            RuntimeError: If anvil exits or does not answer in time.
        """
        from nasjax.protocol.rpc import Rpc

        cmd = [
            self.binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--accounts",
            str(self.accounts),
            "--mnemonic",
            self.mnemonic,
            "--gas-limit",
            "100000000",
            "--code-size-limit",
            "100000",
        ]
        out = self.log.open("ab") if self.log else None
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if out is not None:
                out.close()  # the child holds its own descriptor
        atexit.register(self.stop)
        rpc, t0 = Rpc(self.url, timeout=2.0), time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"anvil exited with {self.proc.returncode}")
            with contextlib.suppress(OSError):
                rpc.chain_id()
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"anvil did not answer on {self.url} in {timeout} s")

    def stop(self) -> None:
        """Stop anvil's process group (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = [
    "DEV_MNEMONIC",
    "Anvil",
    "AnvilNotFound",
    "cache_dir",
    "dev_key",
    "find_anvil",
    "free_port",
]
