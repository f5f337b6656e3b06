"""``NodeConnection``'s ``heard`` / ``unanswered`` times, which a supernode's heartbeat
schedule reads from its links (``replication/heartbeat.PingSchedule``): a real websocket
server on 127.0.0.1 that answers, keeps silent, or drops the connection."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from flocloud.client.connection import NodeConnection
from flocloud.protocol.errors import FlocloudError


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            frame = orjson.loads(msg.data)
            if frame["op"] == "silent":
                continue
            if frame["op"] == "drop":
                await sock.close()
                break
            if frame["op"] == "answer-then-drop":
                await sock.send_str(orjson.dumps({"id": frame["id"], "ok": True}).decode())
                await asyncio.sleep(0.05)
                await sock.close()
                break
            ok = frame["op"] != "refuse"
            reply = {"id": frame["id"], "ok": ok}
            if not ok:
                reply["error"] = {"code": "forbidden", "message": "no"}
            await sock.send_str(orjson.dumps(reply).decode())
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    async with TestServer(app, host="127.0.0.1") as srv:  # a free port on loopback
        yield str(srv.make_url("/ws"))


async def test_answers_are_heard_silence_and_loss_are_not(server: str) -> None:
    ticks = itertools.count(1)
    async with aiohttp.ClientSession() as session:
        conn = NodeConnection(server, session, timeout=0.3, clock=lambda: float(next(ticks)))
        await conn.connect()
        assert conn.heard == conn.unanswered == -math.inf
        await conn.request("ping")
        assert conn.heard == -math.inf  # a ping is the heartbeat itself, not other traffic
        await conn.request("get")
        assert conn.heard == 1.0 and conn.unanswered == -math.inf  # on the clock given
        with pytest.raises(FlocloudError) as refused:
            await conn.request("refuse")
        assert refused.value.code == "forbidden" and conn.heard == 2.0  # an error is an answer
        with pytest.raises(FlocloudError) as silent:
            await conn.request("silent")
        assert silent.value.code == "unavailable" and conn.unanswered == 3.0
        with pytest.raises(FlocloudError):
            await conn.request("drop")  # the server closes under a pending request
        assert conn.unanswered >= 4.0 and conn.closed
        with pytest.raises(FlocloudError):
            await conn.request("get")  # not connected: unanswered too
        assert conn.unanswered > 4.0 and conn.heard == 2.0


async def test_a_connection_lost_with_nothing_pending_counts_as_unanswered(server: str) -> None:
    async with aiohttp.ClientSession() as session:
        conn = NodeConnection(server, session, timeout=1.0)
        await conn.connect()
        await conn.request("answer-then-drop")  # answered; then the server drops the link
        assert conn.heard > -math.inf and conn.unanswered == -math.inf
        for _ in range(100):
            if conn.closed:
                break
            await asyncio.sleep(0.01)
        assert conn.closed and conn.unanswered >= conn.heard  # lost with nothing pending
        ours = NodeConnection(server, session, timeout=1.0)
        await ours.connect()
        await ours.close()  # closed here: nothing to tell the heartbeats
        await asyncio.sleep(0.05)
        assert ours.unanswered == -math.inf


@pytest.mark.parametrize("ticks", [0, 1])
async def test_a_cancel_that_comes_with_the_reply_is_kept(server: str, ticks: int) -> None:
    """A request cancelled in the moment its reply arrives (a node stopping while catch-up
    asks a peer) ends cancelled: on 3.11 ``asyncio.wait_for`` returned the reply instead
    and lost the cancel, so the task that was being stopped went on."""
    async with aiohttp.ClientSession() as session:
        conn = NodeConnection(server, session, timeout=30)
        await conn.connect()
        task = asyncio.create_task(conn.request("silent"))
        for _ in range(1000):  # until the request is sent and waits for its reply
            if conn._pending:
                break
            await asyncio.sleep(0)
        next(iter(conn._pending.values())).set_result({"ok": True})
        for _ in range(ticks):
            await asyncio.sleep(0)
        running = not task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled() == running
        await conn.close()
