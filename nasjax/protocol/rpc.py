"""A minimal Ethereum JSON-RPC client for the market contract.

Enough of an Ethereum client for :mod:`nasjax.protocol.node` and
:mod:`nasjax.protocol.rpc_run`, on ``eth_abi`` and ``eth_account`` alone (both
come with the ``chain`` extra): :class:`Rpc` posts JSON-RPC requests,
:class:`Signer` signs and sends transactions from one private key with its
own nonce, :class:`Market` encodes calls and decodes results and ``eth_getLogs``
events with the contract's ABI. Events decode to the rows of
:attr:`nasjax.protocol.evm.MarketChain.events`, so
:func:`nasjax.protocol.evm.verify_events` replays a real node's log as it
replays the in-process EVM's.

:func:`compile_market` compiles ``Market.vy`` with ``vyper`` once per source
(cached as JSON under ``~/.cache/nasjax``); the node processes read the ABI
from the run folder and never import the compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasjax.protocol.evm import CONTRACTS, _plain

GAS: int = 8_000_000
"""Gas limit of a node's transaction (the producer's settlements get more)."""


class RpcError(RuntimeError):
    """A JSON-RPC error, a reverted transaction or a missing receipt."""


class Rpc:
    """JSON-RPC over HTTP.

    Args:
        url: The node's endpoint, e.g. ``http://127.0.0.1:8545``.
        timeout: Seconds per request.
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0

    def __call__(self, method: str, *params: Any) -> Any:
        """One request; returns ``result``.

        Raises:
            RpcError: With the node's error message.
        """
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        req = urllib.request.Request(
            self.url,
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            out = json.loads(resp.read())
        if "error" in out:
            err = out["error"]
            raise RpcError(f"{method}: {err.get('message')} {err.get('data', '')}")
        return out["result"]

    def chain_id(self) -> int:
        """``eth_chainId``."""
        return int(self("eth_chainId"), 16)

    def height(self) -> int:
        """``eth_blockNumber``."""
        return int(self("eth_blockNumber"), 16)

    def balance(self, address: str) -> int:
        """Wei held by an address."""
        return int(self("eth_getBalance", address, "latest"), 16)


class Signer:
    """Sends transactions from one private key (nonce kept locally).

    Args:
        rpc: The client.
        key: The 32-byte private key (bytes or hex).
    """

    def __init__(self, rpc: Rpc, key: bytes | str) -> None:
        from eth_account import Account

        self.rpc = rpc
        self.account = Account.from_key(key)
        self.address: str = self.account.address
        self.chain_id = rpc.chain_id()
        self.nonce = int(rpc("eth_getTransactionCount", self.address, "pending"), 16)
        self.sent = 0

    def send(
        self, to: str | None, data: bytes, value: int = 0, gas: int = GAS
    ) -> dict[str, Any]:
        """Sign, send and wait for the receipt (``status`` 1 or 0).

        Raises:
            RpcError: If the node refuses the transaction or no receipt comes.
        """
        tx: dict[str, Any] = {
            "nonce": self.nonce,
            "gas": gas,
            "gasPrice": int(self.rpc("eth_gasPrice"), 16),
            "value": value,
            "data": data,
            "chainId": self.chain_id,
        }
        if to is not None:
            tx["to"] = to
        raw = self.account.sign_transaction(tx).raw_transaction
        try:
            txh = self.rpc("eth_sendRawTransaction", "0x" + raw.hex())
        except RpcError:
            # A nonce out of step (another writer, a restart): re-read it.
            self.nonce = int(
                self.rpc("eth_getTransactionCount", self.address, "pending"), 16
            )
            raise
        self.nonce += 1
        self.sent += 1
        for _ in range(2000):
            receipt = self.rpc("eth_getTransactionReceipt", txh)
            if receipt is not None:
                return receipt
            time.sleep(0.005)
        raise RpcError(f"no receipt for {txh}")


def _type(entry: dict[str, Any]) -> str:
    """The canonical ABI type of an input/output entry (tuples spelled out)."""
    t = entry["type"]
    if t.startswith("tuple"):
        inner = ",".join(_type(c) for c in entry["components"])
        return f"({inner}){t[5:]}"
    return t


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)


def _keccak(data: bytes) -> bytes:
    from eth_utils.crypto import keccak

    return keccak(data)


class Market:
    """The deployed market contract, spoken to over JSON-RPC.

    Args:
        rpc: The client.
        address: The contract's address.
        abi: The contract's ABI (a list of JSON entries).
    """

    def __init__(self, rpc: Rpc, address: str, abi: Sequence[dict[str, Any]]) -> None:
        from eth_utils.address import to_checksum_address

        self.rpc = rpc
        self.address: str = to_checksum_address(address)
        self.fns: dict[str, tuple[bytes, list[str], list[str]]] = {}
        self.events: dict[bytes, tuple[str, list[dict[str, Any]]]] = {}
        for e in abi:
            if e["type"] == "function":
                ins = [_type(x) for x in e["inputs"]]
                outs = [_type(x) for x in e.get("outputs", [])]
                sel = _keccak(f"{e['name']}({','.join(ins)})".encode())[:4]
                self.fns[e["name"]] = (sel, ins, outs)
            elif e["type"] == "event":
                sig = f"{e['name']}({','.join(_type(x) for x in e['inputs'])})"
                self.events[_keccak(sig.encode())] = (e["name"], e["inputs"])

    def data(self, fn: str, *args: Any) -> bytes:
        """Calldata of ``fn(*args)``."""
        from eth_abi.abi import encode

        sel, ins, _ = self.fns[fn]
        return sel + encode(ins, list(args))

    def call(self, fn: str, *args: Any, block: str = "latest") -> Any:
        """A view call: one value, or a tuple for several outputs."""
        from eth_abi.abi import decode

        _, _, outs = self.fns[fn]
        raw = self.rpc(
            "eth_call", {"to": self.address, "data": _hex(self.data(fn, *args))}, block
        )
        vals = decode(outs, _bytes(raw))
        return vals[0] if len(vals) == 1 else vals

    def pinned(self) -> Callable[..., Any]:
        """A ``call`` that reads every value at the current height.

        Several views read through it form one consistent snapshot, however
        many transactions other processes send meanwhile.
        """
        height = hex(self.rpc.height())
        return lambda fn, *args: self.call(fn, *args, block=height)

    def transact(
        self, signer: Signer, fn: str, *args: Any, value: int = 0, gas: int = GAS
    ) -> dict[str, Any]:
        """Send ``fn(*args)`` from ``signer``; returns the receipt (reverts too)."""
        return signer.send(self.address, self.data(fn, *args), value, gas)

    def revert_reason(self, signer: Signer, fn: str, *args: Any) -> str:
        """Why ``fn(*args)`` would revert now (an ``eth_call`` from the signer)."""
        req = {
            "from": signer.address,
            "to": self.address,
            "data": _hex(self.data(fn, *args)),
        }
        try:
            self.rpc("eth_call", req, "latest")
        except RpcError as err:
            return str(err)
        return "no revert now"

    def decode_log(self, log: dict[str, Any]) -> dict[str, Any]:
        """One ``eth_getLogs`` entry as an event row (``{"event", args...}``)."""
        from eth_abi.abi import decode

        topics = [_bytes(t) for t in log["topics"]]
        name, inputs = self.events[topics[0]]
        plain = [x for x in inputs if not x["indexed"]]
        values = iter(decode([_type(x) for x in plain], _bytes(log["data"])))
        indexed = iter(topics[1:])
        row: dict[str, Any] = {"event": name}
        for x in inputs:
            if x["indexed"]:
                (row[x["name"]],) = decode([_type(x)], next(indexed))
            else:
                row[x["name"]] = next(values)
            row[x["name"]] = _plain(row[x["name"]])
        return row

    def logs(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """Decoded events of blocks ``start..stop`` (inclusive; default latest).

        Each row also carries ``_block`` (the EVM block number).
        """
        query = {
            "address": self.address,
            "fromBlock": hex(start),
            "toBlock": "latest" if stop is None else hex(stop),
        }
        rows = []
        for log in self.rpc("eth_getLogs", query):
            row = self.decode_log(log)
            row["_block"] = int(log["blockNumber"], 16)
            rows.append(row)
        return rows


def compile_market(cache: Path | None = None, name: str = "Market") -> dict[str, Any]:
    """``{"abi", "bytecode"}`` of ``Market.vy`` (or ``Tally.vy``: ``name``),
    compiled once per source.

    Args:
        cache: Folder of the compiled JSON (default ``~/.cache/nasjax``,
            or ``$NASJAX_CACHE``).
        name: The contract (``Market`` or ``Tally``).
    """
    src = (CONTRACTS / f"{name}.vy").read_text()
    import vyper

    tag = hashlib.sha256(f"{vyper.__version__}\n{src}".encode()).hexdigest()[:16]
    root = cache or Path(os.environ.get("NASJAX_CACHE", Path.home() / ".cache/nasjax"))
    path = root / f"{name}-{tag}.json"
    if path.is_file():
        return json.loads(path.read_text())
    out = vyper.compile_code(src, output_formats=["abi", "bytecode"])
    compiled = {"abi": out["abi"], "bytecode": out["bytecode"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(compiled))
    os.replace(tmp, path)
    return compiled


def deploy(
    rpc: Rpc,
    signer: Signer,
    compiled: dict[str, Any],
    args: Sequence[Any],
    value: int = 0,
) -> Market:
    """Deploy a contract with constructor ``args``; returns it.

    Raises:
        RpcError: If the deployment reverts.
    """
    from eth_abi.abi import encode

    ctor = next(e for e in compiled["abi"] if e["type"] == "constructor")
    data = _bytes(compiled["bytecode"]) + encode(
        [_type(x) for x in ctor["inputs"]], list(args)
    )
    receipt = signer.send(None, data, value, gas=20_000_000)
    if int(receipt["status"], 16) != 1:
        raise RpcError("deployment reverted")
    return Market(rpc, receipt["contractAddress"], compiled["abi"])


__all__ = ["GAS", "Market", "Rpc", "RpcError", "Signer", "compile_market", "deploy"]
