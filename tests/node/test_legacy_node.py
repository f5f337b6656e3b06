"""The legacy gateway of one real node process (no chain): CORS preflight, rate limits,
oversize bodies, websocket frames it ignores or refuses, and the slow reader cut-off."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp

from flocloud.devnet.network import standalone_node
from legacy_client import store_fields
from node_helpers import ALICE, BOB, now_ms

SETTINGS = (
    "[legacy]\nrate_per_id = 1.0\nburst_per_id = 3\nmax_body_bytes = 4096\n"
    'delay_delta_ms = 60000\n[apps.demo]\nadmin = "' + ALICE.address + '"\n'
)


def doc(i: int) -> dict[str, object]:
    return store_fields(ALICE, BOB.address, now_ms(), f"bWVzc2FnZQ{i}", application="demo")


async def test_gateway_limits_and_frames(tmp_path: Path) -> None:
    node = standalone_node(tmp_path / "n", settings=SETTINGS)
    node.start()
    await node.wait_healthy(30)
    url = node.url + "/"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.options(url, headers={"Origin": "https://app.example",
                                               "Access-Control-Request-Method": "POST"}) as r:  # fmt: skip
                assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
            answers = []
            for i in range(5):  # the sender's bucket holds 3
                async with s.post(
                    url, data=json.dumps(doc(i)), headers={"Content-Type": "text/plain"}
                ) as r:
                    answers.append((r.status, await r.text()))
            assert [a[0] for a in answers] == [200, 200, 200, 400, 400]
            assert answers[-1][1] == "Too many requests"
            big = io.BytesIO(json.dumps(dict(doc(9), message="A" * 5000)).encode())
            async with s.post(url, data=big) as r:
                assert (r.status, await r.text()) == (400, "Too large")
                assert r.headers["Access-Control-Allow-Origin"] == "*"
            async with s.get(url, params={"receiverID": "nobody", "application": "demo"}) as r:
                assert (r.status, await r.text()) == (400, "Invalid receiverID")
            async with s.get(url, params={"receiverID": BOB.address, "application": "demo"}) as r:
                assert r.status == 200 and len(await r.json()) == 3
            async with s.ws_connect(node.url + "/") as ws:
                await ws.send_str("$ a supernode packet of the old cloud")
                await ws.send_str("[1]")
                assert (await ws.receive(timeout=10)).data == "Invalid Data-format"
                await ws.send_str(json.dumps({"receiverID": BOB.address, "application": "demo"}))
                assert len(json.loads((await ws.receive(timeout=10)).data)) == 3
                await ws.send_str("x" * 5000)  # over max_body_bytes: the socket is closed
                msg = await ws.receive(timeout=10)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            async with s.get(url) as r:  # the dashboard is still there
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            async with s.get(url, headers={"Accept": "application/json"}) as r:
                assert "legacy-gateway" in (await r.json())["supported_features"]
    finally:
        assert node.stop() == 0


async def test_not_ready_before_the_registry_is_read(tmp_path: Path) -> None:
    """A node whose explorer cannot be reached has no registry: 503, so clients fail over."""
    chain = f'[chain]\nexplorer = "http://127.0.0.1:9"\nregistry = "{BOB.address}"\n'
    node = standalone_node(tmp_path / "n", settings=chain)
    node.start()
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(300):  # /healthz says 503 until the registry lists the node
                try:
                    async with s.get(node.url + "/healthz") as r:
                        if r.status == 503:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            async with s.post(node.url + "/", data=json.dumps(doc(0))) as r:
                assert r.status == 503 and "registry" in await r.text()
                assert r.headers["Access-Control-Allow-Origin"] == "*"
            params = {"receiverID": BOB.address, "application": "demo"}
            async with s.get(node.url + "/", params=params) as r:
                assert r.status == 503
    finally:
        assert node.stop() == 0
