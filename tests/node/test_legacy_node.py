"""The legacy gateway of one real node process (no chain): CORS preflight, rate limits,
oversize bodies, websocket frames it ignores or refuses, and the slow reader cut-off."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pytest

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


async def test_a_legacy_socket_outlives_the_request_timeout(tmp_path: Path) -> None:
    """The legacy websocket at ``/`` bounds itself like ``/ws``: the HTTP request timeout
    (1 s here) does not cut it, and it still answers after it."""
    node = standalone_node(
        tmp_path / "n", settings=SETTINGS + "[limits]\nrequest_timeout_seconds = 1.0\n"
    )
    node.start()
    await node.wait_healthy(30)
    try:
        async with aiohttp.ClientSession() as s, s.ws_connect(node.url + "/") as ws:
            await asyncio.sleep(2.5)
            await ws.send_str(json.dumps({"receiverID": BOB.address, "application": "demo"}))
            msg = await ws.receive(timeout=10)
            assert msg.type is aiohttp.WSMsgType.TEXT and json.loads(msg.data) == []
    finally:
        assert node.stop() == 0


def test_a_malformed_replica_row_is_unavailable_not_a_crash() -> None:
    """What a replica answers on ``peer.legacy.*`` is checked: a row lacking a field, or
    not a dict, is ``unavailable`` (the client retries), never a KeyError."""
    from flocloud.node.legacy.service import _row
    from flocloud.protocol.errors import Unavailable
    from flocloud.protocol.legacy_query import ROW_FIELDS

    good = {k: "x" for k in ROW_FIELDS}
    assert _row(good) is good
    for bad in (None, 5, [], {k: "x" for k in ROW_FIELDS[1:]}):
        with pytest.raises(Unavailable):
            _row(bad)


async def test_a_legacy_watch_ends_when_its_watcher_says_so() -> None:
    """``peer.legacy.watch`` registers one live push per ``sub`` on the replica;
    ``peer.legacy.unwatch`` (sent when the watching socket moves on) drops it at once,
    a watch sent again under the same ``sub`` replaces it, and closing the link drops all:
    re-sent live queries do not pile up pushes on the replica."""
    from types import SimpleNamespace

    from flocloud.node.legacy.service import LegacyService

    svc = LegacyService.__new__(LegacyService)
    svc.live = {}
    conn = SimpleNamespace(legacy_watches={}, on_close=[], _full=lambda n: False, _queue=print)
    watch = {"sub": "s1", "receiver": BOB.address}
    await svc.peer_op(conn, "peer.legacy.watch", watch)  # type: ignore[arg-type]
    await svc.peer_op(conn, "peer.legacy.watch", watch)  # type: ignore[arg-type]
    await svc.peer_op(conn, "peer.legacy.watch", dict(watch, sub="s2"))  # type: ignore[arg-type]
    assert len(svc.live[BOB.address]) == 2
    await svc.peer_op(conn, "peer.legacy.unwatch", {"sub": "s1"})  # type: ignore[arg-type]
    assert len(svc.live[BOB.address]) == 1
    for cleanup in conn.on_close:
        cleanup()
    assert BOB.address not in svc.live and conn.legacy_watches == {}


async def test_fresh_ids_from_one_source_share_its_write_budget(tmp_path: Path) -> None:
    """Legacy writes are charged to the node's per-source budget as native writes are:
    new sender IDs from one address do not get a fresh bucket each."""
    import hashlib

    from flocloud.protocol.keys import PrivateKey
    from flocloud.protocol.params import REGTEST

    limits = "[limits]\nrate_per_source = 0.001\nburst_per_source = 3\n"
    node = standalone_node(tmp_path / "n", settings=SETTINGS + limits)
    node.start()
    await node.wait_healthy(30)
    try:
        async with aiohttp.ClientSession() as s:
            answers = []
            for i in range(5):
                sender = PrivateKey(hashlib.sha256(b"fresh-%d" % i).digest(), REGTEST)
                fields = store_fields(
                    sender, BOB.address, now_ms(), "bWVzc2FnZQ", application="demo"
                )
                async with s.post(node.url + "/", data=json.dumps(fields)) as r:
                    answers.append((r.status, await r.text()))
            assert [a[0] for a in answers] == [200, 200, 200, 400, 400], answers
            assert answers[-1][1] == "Too many requests"
    finally:
        assert node.stop() == 0


async def test_a_write_one_budget_refuses_is_charged_to_none(tmp_path: Path) -> None:
    """The legacy per-ID bucket is charged only once the node's own budgets take the
    write: a write its source's budget refuses leaves the sender's legacy token, which a
    write from another source then uses."""
    settings = SETTINGS.replace(
        "rate_per_id = 1.0\nburst_per_id = 3", "rate_per_id = 0.001\nburst_per_id = 2"
    )
    limits = "[limits]\nrate_per_source = 0.001\nburst_per_source = 1\n"
    node = standalone_node(tmp_path / "n", settings=settings + limits)
    node.start()
    await node.wait_healthy(30)
    try:
        statuses = []
        for i, source in enumerate(["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.4"]):
            conn = aiohttp.TCPConnector(local_addr=(source, 0))
            async with (
                aiohttp.ClientSession(connector=conn) as s,
                s.post(node.url + "/", data=json.dumps(doc(i))) as r,
            ):
                statuses.append((r.status, await r.text()))
        # the second: its source's budget; the fourth: the sender's two legacy tokens are spent
        assert [a[0] for a in statuses] == [200, 400, 200, 400], statuses
        assert statuses[1][1] == statuses[3][1] == "Too many requests"
    finally:
        assert node.stop() == 0
