"""The dev chain's HTTP face: the Blockbook v1 API subset flocloud's reader uses.

Shapes follow flo-chain.md §4.1 (``floData`` absent when empty; amounts as FLO numbers,
``*Sat`` fields as strings; address history newest first). Dev-only extras:
``POST /api/faucet`` ``{"address", "amount"}`` (FLO) and ``POST /api/mine`` ``{"blocks"}``.
Errors are ``{"error": "..."}`` with HTTP 400 (bad request) or 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from flocloud.protocol.errors import FlocloudError, InsufficientFunds
from flocloud.protocol.keys import PrivateKey, decode_address
from flocloud.protocol.params import REGTEST

from ..publisher import build_data_tx
from ..reader import Utxo
from ..script import address_from_script, p2pkh_script
from ..tx import Transaction
from .state import ChainState, Rejected

__all__ = ["DevChain", "faucet_key"]

log = logging.getLogger("flocloud.devchain")
COIN = 100_000_000


def faucet_key(data_dir: Path) -> PrivateKey:
    """The dev chain's mining/faucet key: random per data dir, kept in ``faucet.wif``."""
    path = data_dir / "faucet.wif"
    if path.exists():
        return PrivateKey.from_wif(path.read_text().strip(), REGTEST)
    import os

    key = PrivateKey(hashlib.sha256(os.urandom(32)).digest(), REGTEST)
    path.write_text(key.to_wif() + "\n")
    path.chmod(0o600)
    return key


def flo(sat: int) -> float:
    """Satoshi as a FLO JSON number (exact for dev amounts: < 15 significant digits)."""
    return float(Decimal(sat) / COIN)


def _height(text: str) -> int | None:
    """A block height from a URL (digits, within SQLite's integers), else None."""
    return int(text) if text.isdigit() and len(text) <= 18 else None


@web.middleware
async def _cors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Any origin may read (browser apps read the registry from here, as from Blockbook)."""
    response: web.StreamResponse = await handler(request)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


class DevChain:
    """A local FLO chain: state in ``data_dir``, Blockbook v1 API on ``host:port``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 18080,
        block_interval: float = 2.0,
        coinbase_address: str | None = None,
        min_relay_fee_per_kb: int = 1000,
        initial_blocks: int = 10,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.block_interval = block_interval
        self.state = ChainState(
            self.data_dir / "chain.sqlite3", min_relay_fee_per_kb=min_relay_fee_per_kb
        )
        self.key = faucet_key(self.data_dir)
        addr = coinbase_address or self.key.address
        self.coinbase_script = p2pkh_script(decode_address(addr).hash160)
        self.initial_blocks = initial_blocks
        self._runner: web.AppRunner | None = None
        self._miner: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def faucet_address(self) -> str:
        return self.key.address

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self.state.height < 0:
            await self.mine(max(1, self.initial_blocks))
        app = web.Application(middlewares=[_cors])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            await self._runner.cleanup()
            raise OSError(f"devchain cannot listen on {self.host}:{self.port}: {exc}") from None
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        if self.block_interval > 0:
            self._miner = asyncio.create_task(self._mine_loop(), name="devchain-miner")
        log.info("devchain listening on %s (faucet %s)", self.url, self.faucet_address)

    async def stop(self) -> None:
        if self._miner is not None:
            self._miner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._miner
        if self._runner is not None:
            await self._runner.cleanup()
        self.state.close()

    async def _mine_loop(self) -> None:
        while True:
            await asyncio.sleep(self.block_interval)
            await self.mine(1)

    # -- operations ---------------------------------------------------------------------

    async def mine(self, blocks: int = 1) -> list[str]:
        async with self._lock:
            return [
                self.state.mine(self.coinbase_script, int(time.time())).hash for _ in range(blocks)
            ]

    async def submit(self, raw_hex: str) -> str:
        async with self._lock:
            try:
                tx = Transaction.from_hex(raw_hex)
            except FlocloudError as exc:
                raise Rejected(f"TX decode failed: {exc.message}") from None
            return self.state.accept(tx, int(time.time()))

    async def fund(self, address: str, sat: int) -> str:
        """Pay ``sat`` to ``address`` from the faucet with a real signed transaction."""
        decode_address(address, REGTEST)
        coins = [
            Utxo(txid, vout, value, 1, height)
            for txid, vout, value, height in self.state.utxos(self.faucet_address)
        ]
        tx = build_data_tx(coins, self.key, b"faucet", 2.0, to_address=address, amount=sat)
        return await self.submit(tx.to_hex())

    # -- JSON shapes --------------------------------------------------------------------

    def _confirmations(self, height: int | None) -> int:
        return 0 if height is None else self.state.height - height + 1

    def tx_json(self, txid: str) -> dict[str, Any] | None:
        found = self.state.tx(txid)
        if found is None:
            return None
        tx, height, seen, fee = found
        block = self.state.block(height) if height is not None else None
        vin = []
        value_in = 0
        for n, txin in enumerate(tx.inputs):
            if tx.is_coinbase:
                vin.append({"n": n, "coinbase": txin.script_sig.hex(), "sequence": txin.sequence})
                continue
            prev = self.state.output(txin.prevout.txid, txin.prevout.index)
            value = prev[0] if prev else 0
            value_in += value
            addr = address_from_script(prev[1], REGTEST) if prev else None
            vin.append(
                {
                    "txid": txin.prevout.txid,
                    "vout": txin.prevout.index,
                    "sequence": txin.sequence,
                    "n": n,
                    "scriptSig": {"hex": txin.script_sig.hex()},
                    "addresses": [addr] if addr else [],
                    "isAddress": addr is not None,
                    "value": flo(value),
                    "valueSat": str(value),
                }
            )
        vout = []
        for n, out in enumerate(tx.outputs):
            addr = address_from_script(out.script_pubkey, REGTEST)
            spent = self.state.output(tx.txid, n)
            vout.append(
                {
                    "value": flo(out.value),
                    "valueSat": str(out.value),
                    "n": n,
                    "scriptPubKey": {
                        "hex": out.script_pubkey.hex(),
                        "addresses": [addr] if addr else [],
                        "isAddress": addr is not None,
                        "type": "pubkeyhash" if addr and addr.startswith("o") else "nonstandard",
                    },
                    "spent": bool(spent and spent[2]),
                }
            )
        value_out = sum(o.value for o in tx.outputs)
        doc: dict[str, Any] = {
            "txid": tx.txid,
            "version": tx.version,
            "locktime": tx.locktime,
            "vin": vin,
            "vout": vout,
            "blockhash": block.hash if block else None,
            "blockheight": height if height is not None else -1,
            "confirmations": self._confirmations(height),
            "time": block.time if block else seen,
            "blocktime": block.time if block else seen,
            "valueOut": flo(value_out),
            "valueOutSat": str(value_out),
            "valueIn": flo(value_in),
            "valueInSat": str(value_in),
            "fees": flo(fee),
            "feesSat": str(fee),
            "size": tx.size,
            "hex": tx.to_hex(),
        }
        if tx.flo_data:
            doc["floData"] = tx.flo_data.decode("utf-8", errors="replace")
        return doc

    # -- routes -------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/", self.h_status)
        r.add_get("/api", self.h_status)
        for prefix in ("/api", "/api/v1"):
            r.add_get(prefix + "/address/{address}", self.h_address)
            r.add_get(prefix + "/tx/{txid}", self.h_tx)
            r.add_get(prefix + "/utxo/{address}", self.h_utxo)
            r.add_get(prefix + "/sendtx/{hex}", self.h_sendtx_get)
            r.add_post(prefix + "/sendtx/", self.h_sendtx_post)
            r.add_get(prefix + "/block/{id}", self.h_block)
            r.add_get(prefix + "/block-index/{height}", self.h_block_index)
        r.add_post("/api/faucet", self.h_faucet)
        r.add_post("/api/mine", self.h_mine)

    @staticmethod
    def _err(message: str, status: int = 400) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def h_status(self, request: web.Request) -> web.Response:
        tip = self.state.block(self.state.height)
        return web.json_response(
            {
                "blockbook": {
                    "coin": "FLO regtest (flocloud devchain)",
                    "inSync": True,
                    "bestHeight": self.state.height,
                    "lastBlockTime": tip.time if tip else 0,
                    "mempoolSize": len(self.state.mempool()),
                    "decimals": 8,
                    "faucet": self.faucet_address,
                },
                "backend": {
                    "chain": "regtest",
                    "blocks": self.state.height,
                    "headers": self.state.height,
                    "bestBlockHash": tip.hash if tip else "",
                    "version": "flocloud-devchain",
                },
            }
        )

    async def h_address(self, request: web.Request) -> web.Response:
        address = request.match_info["address"]
        try:
            decode_address(address, REGTEST)
            page = max(1, int(request.query.get("page", "1")))
            size = min(1000, max(1, int(request.query.get("pageSize", "1000"))))
        except (FlocloudError, ValueError) as exc:
            return self._err(f"invalid request: {getattr(exc, 'message', exc)}")
        txids = self.state.address_txids(address)
        if request.query.get("confirmed") == "true":
            txids = [t for t in txids if (found := self.state.tx(t)) and found[1] is not None]
        total_pages = max(1, (len(txids) + size - 1) // size)
        window = txids[(page - 1) * size : page * size]
        confirmed, unconfirmed, received = self.state.balance(address)
        doc: dict[str, Any] = {
            "page": page,
            "totalPages": total_pages,
            "itemsOnPage": size,
            "addrStr": address,
            "balance": flo(confirmed),
            "balanceSat": str(confirmed),
            "totalReceived": flo(received),
            "totalReceivedSat": str(received),
            "totalSent": flo(received - confirmed),
            "totalSentSat": str(received - confirmed),
            "unconfirmedBalance": flo(unconfirmed),
            "unconfirmedBalanceSat": str(unconfirmed),
            "unconfirmedTxApperances": len(self.state.address_txids(address)) - len(txids)
            if request.query.get("confirmed") == "true"
            else sum(1 for t in txids if (f := self.state.tx(t)) and f[1] is None),
            "txApperances": len(txids),
            "transactions": window,
        }
        if request.query.get("details", "txids") == "txs":
            doc["txs"] = [self.tx_json(t) for t in window]
        return web.json_response(doc)

    async def h_tx(self, request: web.Request) -> web.Response:
        doc = self.tx_json(request.match_info["txid"])
        if doc is None:
            return self._err("transaction not found", 400)
        return web.json_response(doc)

    async def h_utxo(self, request: web.Request) -> web.Response:
        address = request.match_info["address"]
        try:
            decode_address(address, REGTEST)
        except FlocloudError as exc:
            return self._err(f"invalid address: {exc.message}")
        only_confirmed = request.query.get("confirmed") == "true"
        out = []
        for txid, vout, value, height in self.state.utxos(address):
            if only_confirmed and height is None:
                continue
            out.append(
                {
                    "txid": txid,
                    "vout": vout,
                    "amount": flo(value),
                    "satoshis": value,
                    "height": height,
                    "confirmations": self._confirmations(height),
                }
            )
        return web.json_response(out)

    async def _send(self, raw: str) -> web.Response:
        try:
            txid = await self.submit(raw.strip())
        except Rejected as exc:
            return self._err(f"rejected: {exc}")
        return web.json_response({"result": txid})

    async def h_sendtx_get(self, request: web.Request) -> web.Response:
        return await self._send(request.match_info["hex"])

    async def h_sendtx_post(self, request: web.Request) -> web.Response:
        return await self._send(await request.text())

    async def h_block(self, request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        height = _height(ident)
        block = self.state.block(height) if height is not None else self.state.block_by_hash(ident)
        if block is None:
            return self._err("block not found")
        nxt = self.state.block(block.height + 1)
        txids = self.state.block_txids(block.height)
        return web.json_response(
            {
                "page": 1,
                "totalPages": 1,
                "itemsOnPage": len(txids),
                "hash": block.hash,
                "previousBlockHash": block.prev,
                "nextBlockHash": nxt.hash if nxt else None,
                "height": block.height,
                "confirmations": self._confirmations(block.height),
                "time": block.time,
                "txCount": len(txids),
                "txs": [self.tx_json(t) for t in txids],
            }
        )

    async def h_block_index(self, request: web.Request) -> web.Response:
        height = _height(request.match_info["height"])
        block = self.state.block(height) if height is not None else None
        if block is None:
            return self._err("block not found")
        return web.json_response({"blockHash": block.hash})

    async def h_faucet(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            address = str(body["address"])
            amount = body.get("amount", 10)
            sat = int(Decimal(str(amount)) * COIN) if not body.get("sat") else int(body["sat"])
            txid = await self.fund(address, sat)
            if body.get("mine"):
                await self.mine(1)
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError):
            return self._err('body must be {"address": ..., "amount": FLO}')
        except InsufficientFunds as exc:
            return self._err(f"faucet is empty: {exc.message}")
        except (Rejected, FlocloudError) as exc:
            return self._err(str(getattr(exc, "message", exc)))
        return web.json_response({"result": txid, "address": address, "sat": sat})

    async def h_mine(self, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            blocks = int(body.get("blocks", 1))
        except (ValueError, TypeError, AttributeError):
            return self._err('body must be {"blocks": N}')
        if not 1 <= blocks <= 1000:
            return self._err("blocks must be 1..1000")
        hashes = await self.mine(blocks)
        return web.json_response({"result": hashes, "height": self.state.height})
