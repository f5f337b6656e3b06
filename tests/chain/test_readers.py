"""Explorer readers against a local HTTP server speaking the exact shapes of flo-chain.md §4."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from flocloud.chain.blockbook import BlockbookV1Reader, BlockbookV2Reader
from flocloud.chain.explorers import make_reader
from flocloud.chain.flosight import FlosightReader
from flocloud.chain.reader import to_sat
from flocloud.protocol.errors import ExplorerError

ADDR = "FNaN9McoBAEFUjkRmNQRYLmBF8SpS7Tgfk"
OTHER = "FRHSikcCPYDDsyJdnbdVzic97NT8jHfm8f"


def v1_tx(n: int, flo: str = "") -> dict[str, Any]:
    tx: dict[str, Any] = {
        "txid": f"{n:064x}",
        "version": 2,
        "blockheight": 100 + n,
        "confirmations": 10 - n,
        "blocktime": 1_600_000_000 + n,
        "vin": [{"txid": "aa" * 32, "vout": 0, "n": 0, "addresses": [ADDR], "value": "0.1"}],
        "vout": [
            {"value": "0.0003", "n": 0, "scriptPubKey": {"addresses": [OTHER], "hex": "76a9"}},
            {"value": 1.23456789, "n": 1, "scriptPubKey": {"addresses": [ADDR], "hex": "76a9"}},
        ],
    }
    if flo:
        tx["floData"] = flo  # Blockbook v1 omits the key when empty
    return tx


def v2_tx(n: int, flo: str = "") -> dict[str, Any]:
    return {
        "txid": f"{n:064x}",
        "blockHeight": 100 + n,
        "confirmations": 10 - n,
        "blockTime": 1_600_000_000 + n,
        "vin": [{"n": 0, "addresses": [ADDR], "value": "10000000"}],
        "vout": [{"value": "30000", "n": 0, "addresses": [OTHER]}],
        "coinSpecificData": {"txid": f"{n:064x}", "floData": flo},
    }


class FakeExplorer:
    """Five transactions of ADDR over three pages (2 per page), newest first."""

    def __init__(self) -> None:
        self.fail_next = 0
        self.app = web.Application()
        r = self.app.router
        r.add_get("/api/", self.status)
        r.add_get("/api/address/{a}", self.v1_address)
        r.add_get("/api/tx/{t}", self.v1_tx_h)
        r.add_get("/api/utxo/{a}", self.v1_utxo)
        r.add_post("/api/sendtx/", self.sendtx)
        r.add_get("/api/v2/address/{a}", self.v2_address)
        r.add_get("/api/v2/utxo/{a}", self.v2_utxo)
        r.add_get("/api/txs", self.fs_txs)
        r.add_get("/api/status", self.fs_status)
        r.add_post("/api/tx/send", self.fs_send)
        r.add_get("/broken/api/", self.broken)

    def flaky(self) -> web.Response | None:
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"error": "busy"}, status=503)
        return None

    async def status(self, request: web.Request) -> web.Response:
        return self.flaky() or web.json_response(
            {
                "blockbook": {"coin": "Flo", "inSync": True, "bestHeight": 110},
                "backend": {"chain": "main"},
            }
        )

    def page(self, request: web.Request, make: Any) -> tuple[list[Any], int, int]:
        txs = [make(n, "hello" if n % 2 else "") for n in range(5)][::-1]
        page = int(request.query.get("page", "1"))
        size = 2
        return txs[(page - 1) * size : page * size], page, 3

    async def v1_address(self, request: web.Request) -> web.Response:
        txs, page, total = self.page(request, v1_tx)
        return web.json_response({"page": page, "totalPages": total, "addrStr": ADDR, "txs": txs})

    async def v1_tx_h(self, request: web.Request) -> web.Response:
        if request.match_info["t"] == "missing":
            return web.json_response({"error": "Tx not found"}, status=400)
        return web.json_response(v1_tx(3, "floData here"))

    async def v1_utxo(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "txid": "bb" * 32,
                    "vout": 1,
                    "amount": 0.0003,
                    "satoshis": 30000,
                    "height": 5,
                    "confirmations": 3,
                }
            ]
        )

    async def sendtx(self, request: web.Request) -> web.Response:
        body = await request.text()
        if body == "bad":
            return web.json_response({"error": "TX decode failed"}, status=400)
        return web.json_response({"result": "cc" * 32})

    async def v2_address(self, request: web.Request) -> web.Response:
        txs, page, total = self.page(request, v2_tx)
        return web.json_response({"page": page, "totalPages": total, "txs": 5, "transactions": txs})

    async def v2_utxo(self, request: web.Request) -> web.Response:
        return web.json_response(
            [{"txid": "dd" * 32, "vout": 0, "value": "123456", "confirmations": 2}]
        )

    async def fs_txs(self, request: web.Request) -> web.Response:
        def make(n: int, flo: str) -> dict[str, Any]:
            return {
                "txid": f"{n:064x}",
                "blockheight": 100 + n,
                "confirmations": 10 - n,
                "floData": flo,  # Flosight always has it
                "vin": [{"addr": ADDR, "valueSat": 1}],
                "vout": [{"value": "0.00030000", "n": 0, "scriptPubKey": {"addresses": [OTHER]}}],
            }

        txs = [make(n, "x" if n % 2 else "") for n in range(5)][::-1]
        page = int(request.query.get("pageNum", "0"))
        return web.json_response({"pagesTotal": 3, "txs": txs[page * 2 : page * 2 + 2]})

    async def fs_status(self, request: web.Request) -> web.Response:
        return web.json_response({"info": {"blocks": 77, "network": "livenet"}})

    async def fs_send(self, request: web.Request) -> web.Response:
        form = await request.post()
        return web.json_response({"txid": "ee" * 32, "got": str(form.get("rawtx"))})

    async def broken(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>")


@pytest.fixture
async def explorer() -> AsyncIterator[tuple[str, FakeExplorer]]:
    fake = FakeExplorer()
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), fake
    await server.close()


class TestBlockbookV1:
    async def test_status_and_tx(self, explorer: tuple[str, FakeExplorer]) -> None:
        """Status and one transaction, with floData, sender and exact satoshi values."""
        url, _ = explorer
        async with BlockbookV1Reader(url) as r:
            assert (await r.status()).best_height == 110
            tx = await r.get_tx("x")
        assert tx.flo_data == "floData here"
        assert tx.sender == ADDR
        assert tx.outputs == ((OTHER, 30_000), (ADDR, 123_456_789))

    async def test_oldest_first_iteration_and_after(
        self, explorer: tuple[str, FakeExplorer]
    ) -> None:
        """Paging newest-first is turned into oldest-first; empty floData reads as ''."""
        url, _ = explorer
        async with BlockbookV1Reader(url) as r:
            txs = [t async for t in r.iter_address_txs(ADDR)]
            assert [int(t.txid, 16) for t in txs] == [0, 1, 2, 3, 4]
            assert [t.flo_data for t in txs] == ["", "hello", "", "hello", ""]
            after = [t async for t in r.iter_address_txs(ADDR, after_txid=f"{1:064x}")]
            assert [int(t.txid, 16) for t in after] == [2, 3, 4]
            deep = [t async for t in r.iter_address_txs(ADDR, min_confirmations=8)]
            assert [int(t.txid, 16) for t in deep] == [0, 1, 2]

    async def test_utxos_and_broadcast(self, explorer: tuple[str, FakeExplorer]) -> None:
        """UTXOs in satoshi; broadcast returns the txid; a refusal is an ExplorerError."""
        url, _ = explorer
        async with BlockbookV1Reader(url) as r:
            (u,) = await r.utxos(ADDR)
            assert (u.value, u.vout, u.confirmations) == (30_000, 1, 3)
            assert await r.broadcast("00") == "cc" * 32
            with pytest.raises(ExplorerError, match="TX decode failed"):
                await r.broadcast("bad")

    async def test_http_400_error_message(self, explorer: tuple[str, FakeExplorer]) -> None:
        """Blockbook's {"error"} body becomes the error message."""
        url, _ = explorer
        async with BlockbookV1Reader(url) as r:
            with pytest.raises(ExplorerError, match="Tx not found"):
                await r.get_tx("missing")

    async def test_retry_then_success(self, explorer: tuple[str, FakeExplorer]) -> None:
        """HTTP 503 is retried with backoff."""
        url, fake = explorer
        fake.fail_next = 2
        async with BlockbookV1Reader(url, retries=3, backoff=0.01) as r:
            assert (await r.status()).best_height == 110
        assert fake.fail_next == 0

    async def test_outage_and_garbage(self, explorer: tuple[str, FakeExplorer]) -> None:
        """A dead explorer or a non-JSON answer is a clear ExplorerError, not a crash."""
        url, _ = explorer
        async with BlockbookV1Reader("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2) as r:
            with pytest.raises(ExplorerError, match="unreachable"):
                await r.status()
        async with BlockbookV1Reader(url + "/broken", retries=0) as r:
            with pytest.raises(ExplorerError, match="not JSON"):
                await r.status()


async def test_blockbook_v2(explorer: tuple[str, FakeExplorer]) -> None:
    """v2: satoshi strings and floData under coinSpecificData."""
    url, _ = explorer
    async with BlockbookV2Reader(url) as r:
        txs = [t async for t in r.iter_address_txs(ADDR)]
        (u,) = await r.utxos(ADDR)
    assert [t.flo_data for t in txs] == ["", "hello", "", "hello", ""]
    assert txs[0].outputs == ((OTHER, 30_000),)
    assert u.value == 123_456


async def test_flosight(explorer: tuple[str, FakeExplorer]) -> None:
    """Flosight: pageNum paging, floData always present, vin.addr sender, form broadcast."""
    url, _ = explorer
    async with FlosightReader(url) as r:
        txs = [t async for t in r.iter_address_txs(ADDR)]
        assert (await r.status()).best_height == 77
        assert await r.broadcast("abcd") == "ee" * 32
    assert [int(t.txid, 16) for t in txs] == [0, 1, 2, 3, 4]
    assert txs[1].sender == ADDR
    assert txs[1].outputs == ((OTHER, 30_000),)


def test_amounts_are_exact() -> None:
    """FLO amounts convert to satoshi exactly; junk is an ExplorerError."""
    assert to_sat(0.0003) == 30_000
    assert to_sat("1.23456789") == 123_456_789
    assert to_sat(160_000_000) == 16_000_000_000_000_000
    for bad in ("x", "0.000000001"):
        with pytest.raises(ExplorerError):
            to_sat(bad)


def test_unknown_kind() -> None:
    """make_reader refuses unknown explorer kinds."""
    with pytest.raises(ExplorerError):
        make_reader("insight-classic", "http://127.0.0.1:1")
