"""The request schema layer on a live node: each input of issue 13 that used to reach
``internal``, a plain-text page or no reply now gets one stable JSON error."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flocloud.devnet.network import NodeProcess
from flocloud.node.requests import MAX_SAFE, decode_frame
from fuzzing import http_request, raw_http
from node_helpers import ALICE, BOB, env, key

BIG = [2**53, 2**63, 2**64, -1]


async def ask(ws: aiohttp.ClientWebSocketResponse, frame: bytes | dict[str, Any]) -> list[Any]:
    """Send one frame; its reply (subscription events and end markers skipped)."""
    await ws.send_bytes(frame if isinstance(frame, bytes) else orjson.dumps(frame))
    while True:
        doc = orjson.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if "ok" in doc:
            return [doc]


def code(reply: dict[str, Any]) -> str:
    return str(reply["error"]["code"]) if reply.get("ok") is False else "ok"


async def test_big_integers_and_shapes_over_websocket(node: NodeProcess) -> None:
    inbox = key("schema-inbox").address
    async with aiohttp.ClientSession() as s, s.ws_connect(node.ws_url) as ws:
        for n in BIG:
            for k in ("after", "since", "until", "limit"):
                frame = {"id": 1, "op": "query", "filter": {"receiver": inbox, k: n}}
                [reply] = await ask(ws, orjson.dumps(frame) if n < 2**63 else _big(frame))
                assert code(reply) == "bad-format" and reply["id"] == 1, reply
            frame = {"id": 2, "op": "object.get", "application": "demo", "name": "x", "version": n}
            [reply] = await ask(ws, orjson.dumps(frame) if n < 2**63 else _big(frame))
            assert code(reply) == "bad-format"
            # a subscription with one answers once, and is not registered
            sub = {
                "id": 3,
                "op": "subscribe",
                "sub": "s",
                "filter": {"receiver": inbox, "after": n},
            }
            [reply] = await ask(ws, orjson.dumps(sub) if n < 2**63 else _big(sub))
            assert code(reply) == "bad-format"
        [ok] = await ask(
            ws, {"id": 4, "op": "subscribe", "sub": "s", "filter": {"receiver": inbox}}
        )
        assert ok["ok"] is True and ok["id"] == 4  # one answer each before; "s" was free
        # the largest safe integer is fine
        [reply] = await ask(
            ws, {"id": 5, "op": "query", "filter": {"receiver": inbox, "since": MAX_SAFE - 1}}
        )
        assert reply["ok"] is True and reply["messages"] == []
        # unknown filter keys, ids and names that are not short strings
        [reply] = await ask(
            ws, {"id": 6, "op": "query", "filter": {"receiver": inbox, "recever": 1}}
        )
        assert code(reply) == "bad-format" and "recever" in reply["error"]["message"]
        deep = b'{"id":' + b"[" * 300 + b"]" * 300 + b',"op":"ping"}'
        [reply] = await ask(ws, deep)
        assert code(reply) == "bad-format" and reply["id"] is None
        deep_sub = (
            b'{"id":7,"op":"subscribe","filter":{"receiver":"x"},"sub":'
            + b"[" * 300
            + b"]" * 300
            + b"}"
        )
        [reply] = await ask(ws, deep_sub)
        assert code(reply) == "bad-format" and reply["id"] == 7
        [reply] = await ask(ws, {"id": "x" * 65, "op": "ping"})
        assert code(reply) == "bad-format" and reply["id"] is None
        [reply] = await ask(ws, {"id": 8, "op": "peer.hello", "node_id": ["a"], "nonce": "n"})
        assert code(reply) == "bad-format"
        [reply] = await ask(ws, {"id": 9, "op": "peer.hello", "node_id": {"a": 1}, "nonce": "n"})
        assert code(reply) == "bad-format"
        [reply] = await ask(ws, {"id": 10, "op": "peer.sync", "after": 2**60})
        assert code(reply) == "bad-format"  # checked before the link is authenticated
        [reply] = await ask(ws, {"id": 11, "op": "peer.sync"})
        assert code(reply) == "forbidden"
        [reply] = await ask(
            ws, b'{"id": 12, "op": "ping", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        )
        assert code(reply) in ("bad-format", "too-deep")
        # a cursor: the opaque token of a previous reply; an integer or junk is refused
        e = env(ALICE, inbox, {"n": 1})
        [ack] = await ask(ws, {"id": 13, "op": "put", "envelope": e.to_wire()})
        assert ack["ok"]
        [page] = await ask(ws, {"id": 14, "op": "query", "filter": {"receiver": inbox}})
        assert [m["id"] for m in page["messages"]] == [e.id]
        [again] = await ask(
            ws, {"id": 16, "op": "query", "filter": {"receiver": inbox, "after": page["next"]}}
        )
        assert again["messages"] == []
        [reply] = await ask(
            ws, {"id": 17, "op": "query", "filter": {"receiver": inbox, "after": 5}}
        )
        assert code(reply) == "bad-format"
        [reply] = await ask(
            ws, {"id": 15, "op": "query", "filter": {"receiver": inbox, "after": "v1:zz"}}
        )
        assert code(reply) == "bad-format"


def _big(frame: dict[str, Any]) -> bytes:
    import json

    return json.dumps(frame).encode()


async def test_http_errors_are_json(node: NodeProcess) -> None:
    inbox = key("http-schema").address
    async with aiohttp.ClientSession() as s:

        async def get(path: str, **kw: Any) -> tuple[int, Any]:
            async with s.get(node.url + path, **kw) as r:
                return r.status, await r.json(content_type=None)

        for n in BIG:
            for k in ("after", "since", "until", "limit"):
                status, doc = await get("/api/messages", params={"receiver": inbox, k: str(n)})
                assert status == 400 and doc["error"]["code"] == "bad-format", (k, n, doc)
            status, doc = await get("/api/objects/demo/x", params={"version": str(n)})
            assert status == 400 and doc["error"]["code"] == "bad-format"
            status, doc = await get("/api/objects/demo/x/changes", params={"since": str(n)})
            assert status == 400 and doc["error"]["code"] == "bad-format"
        status, doc = await get("/api/messages", params={"receiver": inbox, "bogus": "1"})
        assert status == 400 and "bogus" in doc["error"]["message"]
        for path in ("/api", "/api/", "/api/nothing"):
            status, doc = await get(path)
            assert status == 404 and doc["error"]["code"] == "not-found", path
        async with s.put(node.url + "/api/messages") as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "not-found"
        # ids of the whole filter fit in the URL
        ids = ",".join(f"{i:064x}" for i in range(1000))
        status, doc = await get("/api/messages", params={"receiver": inbox, "ids": ids})
        assert status == 200 and doc["messages"] == []
        # a body over the limit, a body that does not decode
        async with s.post(node.url + "/api/messages", data=b"x" * 300_000) as r:
            assert r.status == 413 and (await r.json())["error"]["code"] == "too-large"
        e = env(BOB, inbox, {"gz": 1})
        async with s.post(
            node.url + "/api/messages", data=e.to_json(), headers={"Content-Encoding": "gzip"}
        ) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad-format"
        async with s.post(
            node.url + "/api/messages", data=e.to_json(), headers={"Content-Encoding": "bogus"}
        ) as r:
            assert r.status == 200  # an unknown coding is taken as identity
            assert (await r.json())["msgId"] == e.id
    # what aiohttp answers itself: a request line or a header too long, garbage
    for data, status in (
        (f"GET /api/messages?{'a' * 80_000} HTTP/1.1\r\n\r\n".encode(), 414),
        (b"GET / HTTP/1.1\r\nX: " + b"b" * 10_000 + b"\r\n\r\n", 431),
        (b"NOT HTTP\r\n\r\n", 400),
    ):
        got, body = http_request(await asyncio.to_thread(raw_http, node.port, data))
        assert got == status, (data[:40], got, body[:200])
        assert orjson.loads(body)["error"]["code"] in ("too-large", "bad-format")
    log = node.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "internal error" not in log, node.log_tail(30)


async def test_metrics_are_prometheus(node: NodeProcess) -> None:
    """/metrics parses as the Prometheus exposition; a hostile op name is no label."""
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(node.ws_url) as ws:
            [reply] = await ask(ws, {"id": 1, "op": 'x"} 1\nevil{a="', "sub": "s"})
            assert code(reply) == "bad-format"
        async with s.get(node.url + "/metrics") as r:
            text = await r.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "flocloud_writes_accepted" in families and "flocloud_requests_rejected" in families
    ops = {smp.labels.get("op") for smp in families["flocloud_requests"].samples}
    assert "evil" not in text and ops <= {*decode_frame.__globals__["OPS"], None}


@pytest.mark.parametrize("n", [2**53, -1])
def test_schema_bounds(n: int) -> None:
    """The schema refuses what the node cannot hold exactly (unit check, no node)."""
    from flocloud.protocol.errors import BadFormat

    with pytest.raises(BadFormat):
        decode_frame(orjson.dumps({"op": "query", "filter": {"receiver": "r", "after": n}}))
