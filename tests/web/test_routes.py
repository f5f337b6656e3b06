"""What every supernode serves for the web, over real HTTP to a real node process: CORS
on every route with preflights answered (writes included), the browser client, its
types, the demo app, and the cheap counters of /api/stats."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from flocloud.devnet.network import NodeProcess, standalone_node
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.web.routes import static_bytes

ORIGIN = "http://127.0.0.1:9"  # a page of another origin


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"webroutes-" + label.encode()).digest(), REGTEST)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    proc = standalone_node(tmp_path)
    proc.start()
    await proc.wait_healthy(30)
    yield proc
    proc.stop()


async def test_cors_preflight_and_headers_on_every_route(node: NodeProcess) -> None:
    """OPTIONS answers 204 with the allowed methods and the asked headers; answers (errors
    too) carry Access-Control-Allow-Origin: *; a JSON POST from another origin is stored."""
    receiver = key("receiver").address
    async with aiohttp.ClientSession(headers={"Origin": ORIGIN}) as s:
        for path in ("/api/messages", "/api/objects/demo/board", "/api/network", "/", "/ws"):
            async with s.options(
                node.url + path,
                headers={
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            ) as r:
                assert r.status == 204, path
                assert r.headers["Access-Control-Allow-Origin"] == "*"
                assert "POST" in r.headers["Access-Control-Allow-Methods"]
                assert r.headers["Access-Control-Allow-Headers"] == "content-type"
        env = build_envelope(
            key("sender"), receiver=receiver, payload={"x": 1}, time_ms=int(time.time() * 1000)
        )
        async with s.post(
            node.url + "/api/messages",
            data=env.to_json(),
            headers={"Content-Type": "application/json"},
        ) as r:
            assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
            assert (await r.json())["msgId"] == env.id
        for path, status in (
            ("/api/messages", 400),
            ("/api/objects/demo/none", 404),
            ("/api/nope", 404),
            ("/nope", 404),
            ("/metrics", 200),
            ("/healthz", 200),
        ):
            async with s.get(node.url + path) as r:
                assert r.status == status, path
                assert r.headers.get("Access-Control-Allow-Origin") == "*", path


async def test_static_files_and_stats(node: NodeProcess) -> None:
    """The committed bundle, its types and the demo app are served as they are committed;
    /api/stats counts a write."""
    async with aiohttp.ClientSession() as s:
        async with s.get(node.url + "/flocloud.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript"
            assert await r.read() == static_bytes("static/flocloud.js")
        async with s.get(node.url + "/flocloud.d.ts") as r:
            assert "export declare class Client" in await r.text()
        async with s.get(node.url + "/demo", allow_redirects=True) as r:
            assert r.url.path == "/demo/" and "flocloud notes" in await r.text()
        env = build_envelope(
            key("s"), receiver=key("r").address, payload=1, time_ms=int(time.time() * 1000)
        )
        async with s.post(node.url + "/api/messages", data=env.to_json()) as r:
            assert r.status == 200
        async with s.get(node.url + "/api/stats") as r:
            stats = await r.json()
        assert stats["node_id"] == node.id
        assert stats["writes_accepted"] == 1 and stats["messages"] == 1
        assert stats["log_position"] >= 1
        b = stats["batching"]  # one write alone: one check and one commit, on the event loop
        assert (b["signatures_checked"], b["signature_batches_inline"]) == (1, 1)
        assert b["store_writes"] >= 1 and b["store_commits_inline"] >= 1
        assert b["store_commit_lingers"] == 0  # one write: no company to wait for
        assert set(stats["wal"]) == {"frames", "checkpoints", "restarts"}
        async with s.get(node.url + "/api/network") as r:
            net = await r.json()
        assert net["replication_factor"] >= 1 and net["virtual_nodes"] >= 1
        assert [n["id"] for n in net["nodes"]] == [node.id]
