"""The transport of the existing FLO cloud's client, at the root of a supernode's port.

``GET /?<fields>`` is a query, ``POST /`` (a JSON text sent as ``text/plain``) a write,
tag, note, edit or ``{time, request}`` query, a websocket upgrade at ``/`` a live query
or presence; a plain ``GET /`` stays the dashboard (``node/http.py`` asks ``claims``).

Invariants owned here:
- Every answer carries ``Access-Control-Allow-Origin: *`` (preflights too).
- Errors are plain text with the reference's messages: 400 for what the client must not
  retry elsewhere (bad input, permissions, limits), 503 when it should fail over (the
  node cannot serve now, or the write is below the write quorum), 500 only for a bug
  ("Unable to process request", logged, never a stack trace to the client).
- Bodies and websocket frames are limited to ``[legacy] max_body_bytes``; each socket
  has a bounded outgoing queue and is closed (1013) rather than let memory grow.
- A socket has one live query at a time (a new query frame replaces it); it gets the
  current matches, then each new or changed matching row once per state
  (``vectorClock``, ``log_time``), including rows committed on other replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from flocloud.protocol.errors import BadFormat, FlocloudError, StaleTime, TooLarge
from flocloud.protocol.legacy import parse_presence
from flocloud.protocol.legacy_query import parse_query

from .presence import PresenceHub, Tracker
from .service import LegacyService, LiveSub, RemoteWatch

if TYPE_CHECKING:
    from ..server import Connection, Node

__all__ = ["LegacyGateway"]

log = logging.getLogger("flocloud.node.legacy")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}
_FAIL_OVER = {"unavailable": 503, "internal": 500}


def _loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:  # integers beyond 64 bits, which orjson refuses and JavaScript reads as doubles
        return json.loads(data)
    except ValueError:
        raise BadFormat("Invalid Data-format") from None


def _text(message: str, status: int) -> web.Response:
    return web.Response(text=message, status=status, content_type="text/plain", headers=CORS)


def _json(doc: Any) -> web.Response:
    return web.Response(body=orjson.dumps(doc), content_type="application/json", headers=CORS)


class LegacyGateway:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.config = node.config.legacy
        self.service = LegacyService(node)
        self.presence = PresenceHub()
        self.sockets: Counter[str] = Counter()

    def update_registry(self, state: Any) -> None:
        self.service.update_registry(state)

    async def aclose(self) -> None:
        await self.service.roles.aclose()

    async def peer_op(self, conn: Connection, op: str, f: dict[str, Any]) -> dict[str, Any]:
        return await self.service.peer_op(conn, op, f)

    def claims(self, request: web.Request) -> bool:
        """A GET at ``/`` that is the legacy client's: a query string or a websocket."""
        return self.config.enabled and (
            bool(request.query_string) or request.headers.get("Upgrade", "").lower() == "websocket"
        )

    async def serve(self, request: web.Request) -> web.StreamResponse:
        if not self.config.enabled:
            return _text("Not found", 404)
        if request.method == "OPTIONS":
            self.service.count("preflight")
            return web.Response(status=204, headers={**CORS, "Access-Control-Max-Age": "86400"})
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        try:
            if request.method == "GET":
                return _json(await self.service.query(dict(request.query), strings=True))
            body = await self._body(request)
            doc = _loads(body)
            if not isinstance(doc, dict):
                raise BadFormat("Invalid Data-format")
            if "request" in doc:  # a query by POST: {time, request}
                t = doc.get("time")
                now = self.service.now_ms()
                if not isinstance(t, int | float) or abs(now - t) > self.service.delay_delta:
                    raise StaleTime("Invalid Time")
                return _json(await self.service.query(doc["request"]))
            return _json(await self.service.write(doc, self.node.client_ip(request), len(body)))
        except FlocloudError as exc:
            self.node.service.metrics.rejected[exc.code] += 1
            return _text(exc.message, _FAIL_OVER.get(exc.code, 400))
        except Exception:
            log.exception("internal error on legacy %s", request.method)
            self.node.service.metrics.rejected["internal"] += 1
            return _text("Unable to process request", 500)

    async def _body(self, request: web.Request) -> bytes:
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge("Too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise TooLarge("Too large") from None
        if len(body) > limit:
            raise TooLarge("Too large")
        return body

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ip = self.node.client_ip(request)
        if self.sockets[ip] >= self.config.max_sockets_per_ip:
            return _text("Too many connections", 503)
        ws = web.WebSocketResponse(
            compress=False, max_msg_size=self.config.max_body_bytes, heartbeat=30
        )
        ws.headers.update(CORS)
        await ws.prepare(request)
        self.sockets[ip] += 1
        sock = LegacySocket(self, ws)
        try:
            await sock.serve()
        finally:
            sock.close()
            self.sockets[ip] -= 1
            if self.sockets[ip] <= 0:
                del self.sockets[ip]
        return ws


class LegacySocket:
    """One legacy websocket: a live query and/or presence."""

    def __init__(self, gw: LegacyGateway, ws: web.WebSocketResponse) -> None:
        self.gw, self.ws = gw, ws
        self.svc = gw.service
        self.out: asyncio.Queue[str | None] = asyncio.Queue(
            maxsize=gw.node.config.limits.subscription_queue
        )
        self.generation = 0
        self.cancels: list[Callable[[], None]] = []
        self.watch: RemoteWatch | None = None
        self.online: list[tuple[str, str]] = []
        self.tracker: Tracker | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, doc: Any) -> None:
        try:
            self.out.put_nowait(doc if isinstance(doc, str) else orjson.dumps(doc).decode())
        except asyncio.QueueFull:  # a slow reader: close instead of growing memory
            self._spawn(self.ws.close(code=1013, message=b"too slow"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _writer(self) -> None:
        while True:
            data = await self.out.get()
            if data is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(data)
            except (ConnectionError, RuntimeError):
                return

    async def serve(self) -> None:
        writer = asyncio.create_task(self._writer())
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self.handle(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                self.out.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def handle(self, data: str) -> None:
        if data.startswith("$"):  # supernode-to-supernode packets of the old cloud
            return
        try:
            doc = _loads(data)
            if not isinstance(doc, dict):
                raise BadFormat("Invalid Data-format")
            if "status" in doc:
                self.on_presence(doc)
            else:
                await self.live_query(doc)
        except FlocloudError as exc:
            self.send(exc.message)
        except Exception:
            log.exception("internal error on a legacy websocket")
            self.send("Unable to process request")

    # -- live queries -------------------------------------------------------------------

    def _stop_live(self) -> None:
        self.generation += 1
        for cancel in self.cancels:
            cancel()
        self.cancels.clear()
        if self.watch is not None:
            self.watch.stop()
            self.watch = None

    async def live_query(self, doc: dict[str, Any]) -> None:
        q = parse_query(doc)
        self._stop_live()
        gen = self.generation
        sent: dict[str, int] = {}  # vectorClock -> the log_time the client has
        buffered: list[dict[str, Any]] = []
        live = False

        def emit(row: dict[str, Any]) -> None:
            if sent.get(row["vectorClock"], -1) < row["log_time"]:
                sent[row["vectorClock"]] = row["log_time"]
                self.send(row)

        def deliver(row: dict[str, Any]) -> None:
            if gen != self.generation or not q.matches(row):
                return
            if live:
                emit(row)
            else:
                buffered.append(row)

        async def resync() -> None:
            for row in await self.svc.query(doc):
                deliver(row)

        if q.live:
            self.cancels.append(self.svc.subscribe(LiveSub(q.receiver, q.matches, deliver)))
            if not self.svc.serves_here(q.receiver):
                self.watch = self.svc.watch(q.receiver, deliver, lambda: self._spawn(resync()))
                await self.watch.ready(self.gw.node.peers.timeout)
        rows = await self.svc.query(doc)
        if gen != self.generation:
            return
        for row in rows:
            sent[row["vectorClock"]] = row["log_time"]
        self.send(rows)
        live = True
        for row in buffered:
            emit(row)
        buffered.clear()

    # -- presence -----------------------------------------------------------------------

    def on_presence(self, doc: dict[str, Any]) -> None:
        p = parse_presence(doc, self.svc.now_ms(), self.svc.delay_delta)
        hub = self.gw.presence
        if p.online is not None:
            key = hub.join(p.application, p.online)
            if key is not None:
                self.online.append(key)
            return
        if self.tracker is not None:
            hub.untrack(self.tracker)
        self.tracker = Tracker(p.application, p.track, self.send)
        self.send(hub.track(self.tracker))

    def close(self) -> None:
        self._stop_live()
        hub = self.gw.presence
        for key in self.online:
            hub.leave(key)
        self.online.clear()
        if self.tracker is not None:
            hub.untrack(self.tracker)
            self.tracker = None
        for task in list(self.tasks):
            task.cancel()
