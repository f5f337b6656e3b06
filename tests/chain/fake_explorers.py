"""A fake FLO chain served in the real explorer shapes (flo-chain.md §4), for CI.

Blocks hold real signed transactions (our codec, deterministic keys); the explorer views
are derived from them as each explorer writes them:

- ``blockbook-fork``: RanchiMall's Blockbook, v1 (``/api``) with ``floData`` (absent when
  empty) and ``hex``; v2 (``/api/v2``) with ``coinSpecificData.floData``;
- ``blockbook-upstream``: upstream Blockbook, v1 without any ``floData`` field, v2
  without ``coinSpecificData`` for confirmed transactions (``hex`` only);
- ``flosight``: ``/api/addrs/<a>/txs?after=`` in chunks (oldest first from the cursor,
  newest first in the answer, one block's transactions sorted by txid), ``floData``
  always present, ``/api/block/<hash>`` with ``tx`` in block order, plain-text errors.

The chain can reorganise (``replace_from``), lie (``lie_about``: a floData view that
differs from the hex) and be slow (``delay``).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from flocloud.chain.script import address_from_script, p2pkh_script, parse_p2pkh_script_sig
from flocloud.chain.tx import OutPoint, Transaction, TxIn, TxOut, sign_p2pkh_input
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey, address_from_pubkey
from flocloud.protocol.params import REGTEST

BASE = 100  # height of the first block


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(f"fake-explorer-{label}".encode()).digest(), REGTEST)


REG = key("registry")


def signed_tx(senders: list[PrivateKey], flo: bytes, salt: int = 0) -> Transaction:
    """A real transaction: one input per sender (each signed by its key), data in floData."""
    inputs = tuple(
        TxIn(OutPoint(hashlib.sha256(f"{k.address}:{salt}:{i}".encode()).hexdigest(), i))
        for i, k in enumerate(senders)
    )
    out = TxOut(100_000, p2pkh_script(hash160(senders[0].public_key)))
    tx = Transaction(2, inputs, (out,), 0, flo)
    for i, k in enumerate(senders):
        tx = sign_p2pkh_input(tx, i, k)
    return tx


def _flo(sat: int) -> float:
    return float(Decimal(sat) / 100_000_000)


@dataclass
class FakeChain:
    blocks: list[list[Transaction]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lies: dict[str, str] = field(default_factory=dict)

    def add_block(self, *txs: Transaction, tag: str = "a") -> int:
        self.blocks.append(list(txs))
        self.tags.append(tag)
        return self.tip

    def replace_from(self, height: int, *blocks: list[Transaction], tag: str = "b") -> None:
        """A reorganisation: blocks ``height``.. replaced by ``blocks``."""
        del self.blocks[height - BASE :]
        del self.tags[height - BASE :]
        for txs in blocks:
            self.add_block(*txs, tag=tag)

    def lie_about(self, txid: str, flo_data: str) -> None:
        self.lies[txid] = flo_data

    @property
    def tip(self) -> int:
        return BASE + len(self.blocks) - 1

    def block_hash(self, height: int) -> str:
        return hashlib.sha256(f"{self.tags[height - BASE]}:{height}".encode()).hexdigest()

    def located(self) -> list[tuple[int, int, Transaction]]:
        return [(BASE + b, i, tx) for b, txs in enumerate(self.blocks) for i, tx in enumerate(txs)]

    def history(self, address: str) -> list[tuple[int, int, Transaction]]:
        """Oldest first, block order."""
        return [loc for loc in self.located() if address in self.addresses(loc[2])]

    @staticmethod
    def senders(tx: Transaction) -> list[str]:
        out = []
        for txin in tx.inputs:
            parsed = parse_p2pkh_script_sig(txin.script_sig)
            assert parsed is not None
            out.append(str(address_from_pubkey(parsed[1], REGTEST)))
        return out

    def addresses(self, tx: Transaction) -> set[str]:
        outs = {address_from_script(o.script_pubkey, REGTEST) for o in tx.outputs}
        return {a for a in outs if a} | set(self.senders(tx))

    def flo_view(self, tx: Transaction) -> str:
        return self.lies.get(tx.txid, tx.flo_data.decode())

    # -- views ----------------------------------------------------------------------------

    def placed(self, h: int, tx: Transaction) -> dict[str, Any]:
        """Where a transaction is (v1 and Flosight name these fields alike)."""
        return {
            "blockhash": self.block_hash(h),
            "blockheight": h,
            "confirmations": self.tip - h + 1,
            "time": 1_700_000_000 + h,
            "blocktime": 1_700_000_000 + h,
            "size": tx.size,
        }

    def v1(self, h: int, tx: Transaction, fork: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "txid": tx.txid,
            "version": tx.version,
            "locktime": tx.locktime,
            "vin": [
                {"txid": i.prevout.txid, "vout": i.prevout.index, "n": n, "addresses": [a],
                 "isAddress": True, "value": "0.1", "valueSat": "10000000"}
                for n, (i, a) in enumerate(zip(tx.inputs, self.senders(tx), strict=True))
            ],
            "vout": [
                {"value": _flo(o.value), "valueSat": str(o.value), "n": n,
                 "scriptPubKey": {"hex": o.script_pubkey.hex(),
                                  "addresses": [address_from_script(o.script_pubkey, REGTEST)],
                                  "isAddress": True, "type": "pubkeyhash"}}
                for n, o in enumerate(tx.outputs)
            ],
            **self.placed(h, tx),
            "hex": tx.to_hex(),
        }  # fmt: skip
        if fork and tx.flo_data:
            doc["floData"] = self.flo_view(tx)
        return doc

    def v2(self, h: int, tx: Transaction, fork: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "txid": tx.txid,
            "version": tx.version,
            "vin": [{"n": n, "addresses": [a], "isAddress": True, "value": "10000000"}
                    for n, a in enumerate(self.senders(tx))],
            "vout": [{"value": str(o.value), "n": n, "isAddress": True,
                      "addresses": [address_from_script(o.script_pubkey, REGTEST)]}
                     for n, o in enumerate(tx.outputs)],
            "blockHash": self.block_hash(h),
            "blockHeight": h,
            "confirmations": self.tip - h + 1,
            "blockTime": 1_700_000_000 + h,
            "hex": tx.to_hex(),
        }  # fmt: skip
        if fork:
            doc["coinSpecificData"] = {"txid": tx.txid, "floData": self.flo_view(tx)}
        return doc

    def flosight(self, h: int, tx: Transaction) -> dict[str, Any]:
        return {
            "txid": tx.txid,
            "version": tx.version,
            "locktime": tx.locktime,
            "vin": [
                {"txid": i.prevout.txid, "vout": i.prevout.index, "sequence": i.sequence, "n": n,
                 "scriptSig": {"hex": i.script_sig.hex(), "asm": ""}, "addr": a,
                 "valueSat": 10_000_000, "value": 0.1}
                for n, (i, a) in enumerate(zip(tx.inputs, self.senders(tx), strict=True))
            ],
            "vout": [
                {"value": f"{Decimal(o.value) / 100_000_000:.8f}", "n": n,
                 "scriptPubKey": {"hex": o.script_pubkey.hex(), "asm": "", "type": "pubkeyhash",
                                  "addresses": [address_from_script(o.script_pubkey, REGTEST)]}}
                for n, o in enumerate(tx.outputs)
            ],
            **self.placed(h, tx),
            "floData": self.flo_view(tx),
        }  # fmt: skip


class FakeExplorer:
    """One explorer over a ``FakeChain``: ``flavour`` is ``fork`` or ``upstream``."""

    def __init__(self, chain: FakeChain, flavour: str = "fork", chunk: int = 100) -> None:
        self.chain, self.fork, self.chunk = chain, flavour == "fork", chunk
        self.delay = 0.0
        self.requests = 0
        app = web.Application(middlewares=[self._count])
        r = app.router
        r.add_get("/api/", self.status)
        r.add_get("/api/address/{a}", self.v1_address)
        r.add_get("/api/block-index/{h}", self.block_index)
        r.add_get("/api/v2/address/{a}", self.v2_address)
        r.add_get("/api/v2/block-index/{h}", self.block_index)
        r.add_get("/api/addrs/{a}/txs", self.fs_txs)
        r.add_get("/api/block/{hash}", self.fs_block)
        r.add_get("/api/status", self.fs_status)
        r.add_get("/api/rawtx/{t}", self.fs_rawtx)
        self.server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> FakeExplorer:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        response: web.StreamResponse = await handler(request)
        return response

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"blockbook": {"coin": "Flo", "inSync": True, "bestHeight": self.chain.tip},
             "backend": {"chain": "regtest", "bestBlockHash": self.chain.block_hash(self.chain.tip)}}
        )  # fmt: skip

    async def block_index(self, request: web.Request) -> web.Response:
        h = int(request.match_info["h"])
        if not BASE <= h <= self.chain.tip:
            return web.json_response({"error": "Block not found"}, status=400)
        return web.json_response({"blockHash": self.chain.block_hash(h)})

    def _page(self, request: web.Request) -> tuple[list[tuple[int, int, Transaction]], int, int]:
        hist = self.chain.history(request.match_info["a"])[::-1]  # newest first
        low = int(request.query.get("from", "0"))
        hist = [x for x in hist if x[0] >= low]
        page, size = int(request.query.get("page", "1")), int(request.query.get("pageSize", "50"))
        total = max(1, (len(hist) + size - 1) // size)
        return hist[(page - 1) * size : page * size], page, total

    async def v1_address(self, request: web.Request) -> web.Response:
        rows, page, total = self._page(request)
        txs = [self.chain.v1(h, tx, self.fork) for h, _, tx in rows]
        return web.json_response({"page": page, "totalPages": total, "txs": txs})

    async def v2_address(self, request: web.Request) -> web.Response:
        rows, page, total = self._page(request)
        txs = [self.chain.v2(h, tx, self.fork) for h, _, tx in rows]
        return web.json_response(
            {"page": page, "totalPages": total, "txs": len(txs), "transactions": txs}
        )

    async def fs_txs(self, request: web.Request) -> web.Response:
        address = request.match_info["a"]
        if not address.startswith("o"):
            return web.Response(text=f"Invalid address: {address}. Code:1", status=400)
        hist = self.chain.history(address)
        after = request.query.get("after")
        if after:
            ids = [tx.txid for _, _, tx in hist]
            if after not in ids:
                return web.Response(text="Invalid after: not found. Code:1", status=400)
            hist = hist[ids.index(after) + 1 :]
        part, incomplete = hist[: self.chunk], len(hist) > self.chunk
        # newest first; one block's transactions by txid, as the fork sorts them
        part = sorted(part, key=lambda x: (-x[0], x[2].txid))
        items = [self.chain.flosight(h, tx) for h, _, tx in part]
        return web.json_response(
            {"totalItems": len(items), "lastItem": items[0]["txid"] if items else None,
             "initItem": items[-1]["txid"] if items else None, "incomplete": incomplete,
             "items": items}
        )  # fmt: skip

    async def fs_block(self, request: web.Request) -> web.Response:
        for h in range(BASE, self.chain.tip + 1):
            if self.chain.block_hash(h) == request.match_info["hash"]:
                txids = [tx.txid for tx in self.chain.blocks[h - BASE]]
                return web.json_response(
                    {"hash": request.match_info["hash"], "height": h, "tx": txids}
                )
        return web.Response(text="Not found", status=404)

    async def fs_status(self, request: web.Request) -> web.Response:
        return web.json_response({"info": {"blocks": self.chain.tip, "network": "testnet"}})

    async def fs_rawtx(self, request: web.Request) -> web.Response:
        for _, _, tx in self.chain.located():
            if tx.txid == request.match_info["t"]:
                return web.json_response({"rawtx": tx.to_hex()})
        return web.Response(text="Not found", status=404)
