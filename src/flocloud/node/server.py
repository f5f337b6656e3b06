"""The supernode process: aiohttp on one port for HTTP and websockets (``/ws``).

Invariants owned here:
- A client never sees a stack trace: every failure becomes ``{"code", "message"}``
  (unexpected ones are logged and answered ``internal``); one bad client never disturbs
  others (its errors stay on its connection).
- Requests on one connection are pipelined (each runs as its own task, at most
  ``max_inflight_per_connection`` at a time); replies carry the request's ``id``.
- A subscription sends its stored matches, then ``{"sub", "eose": true}``, then live
  matches. Live records that commit while the stored phase runs are buffered and sent
  after it, skipping any ``seq`` already sent: no gap, no duplicate. A subscriber whose
  outgoing queue is full is cut off with an error instead of growing memory.
- SIGTERM/SIGINT: stop accepting, close websockets (1001 going away), flush the store,
  exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import signal
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from flocloud.protocol.errors import BadFormat, FlocloudError, Forbidden, RateLimited, Unavailable
from flocloud.storage.sqlite import SqliteStore

from .config import AppConfig, NodeConfig
from .limits import TokenBucket
from .peers import Peers, RegistryView
from .service import NodeService, Subscriber, parse_filter

if TYPE_CHECKING:
    from .legacy import LegacyGateway

__all__ = ["Node", "run_node"]

log = logging.getLogger("flocloud.node")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(config: NodeConfig) -> None:
    handler = logging.StreamHandler()
    if config.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("flocloud")
    root.handlers[:] = [handler]
    root.setLevel(config.log_level.upper())


class Connection:
    """One websocket client."""

    def __init__(self, node: Node, ws: web.WebSocketResponse, peer: str) -> None:
        self.node, self.ws, self.peer = node, ws, peer
        lim = node.config.limits
        self.out: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=lim.subscription_queue)
        self.bucket = TokenBucket(lim.rate_per_connection, lim.burst_per_connection)
        self.inflight = asyncio.Semaphore(lim.max_inflight_per_connection)
        self.subs: dict[str, Subscriber] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.background: set[asyncio.Task[None]] = set()
        self.peer_state: dict[str, Any] = {}
        self.on_close: list[Callable[[], None]] = []  # cleanups of what others registered

    async def send(self, frame: dict[str, Any]) -> None:
        await self.out.put(orjson.dumps(frame))

    async def writer(self) -> None:
        while True:
            data = await self.out.get()
            if data is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(data.decode())
            except (ConnectionError, RuntimeError):
                return

    async def serve(self) -> None:
        writer = asyncio.create_task(self.writer())
        try:
            async for msg in self.ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if not self.bucket.take(time.monotonic()):
                        self.node.service.metrics.rejected["rate-limited"] += 1
                        await self.send(
                            {
                                "id": _frame_id(msg.data),
                                "ok": False,
                                "error": RateLimited("connection request rate exceeded").to_dict(),
                            }
                        )
                        continue
                    await self.inflight.acquire()
                    task = asyncio.create_task(self.handle(msg.data))
                    self.tasks.add(task)
                    task.add_done_callback(self._done)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            for sub in self.subs.values():
                self.node.service.subscribers.discard(sub)
            self.node.service.metrics.subscriptions -= len(self.subs)
            self.subs.clear()
            for cleanup in self.on_close:
                cleanup()
            for task in list(self.tasks):
                task.cancel()
            with contextlib.suppress(asyncio.QueueFull):
                self.out.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.inflight.release()

    async def handle(self, data: str | bytes) -> None:
        rid: Any = None
        op = "?"
        try:
            try:
                frame = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise BadFormat("frame is not valid JSON") from None
            if not isinstance(frame, dict):
                raise BadFormat("frame must be a JSON object")
            rid = frame.get("id")
            op = str(frame.get("op"))
            self.node.service.metrics.requests[op] += 1
            reply = await self.dispatch(op, frame, rid)
            if reply is not None:
                await self.send({"id": rid, "ok": True, **reply})
        except FlocloudError as exc:
            self.node.service.metrics.rejected[exc.code] += 1
            await self.send({"id": rid, "ok": False, "error": exc.to_dict()})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("internal error handling %s from %s", op, self.peer)
            self.node.service.metrics.rejected["internal"] += 1
            await self.send(
                {"id": rid, "ok": False, "error": {"code": "internal", "message": "internal error"}}
            )

    async def dispatch(self, op: str, f: dict[str, Any], rid: Any) -> dict[str, Any] | None:
        svc = self.node.service
        if op == "put":
            if "envelope" not in f:
                raise BadFormat("put needs an envelope")
            return await svc.put(f["envelope"], restore=f.get("restore") is True)
        if op == "query":
            return await svc.query(f.get("filter"))
        if op == "subscribe":
            await self.subscribe(rid, f.get("sub"), f.get("filter"))
            return None
        if op == "unsubscribe":
            sub = self.subs.pop(str(f.get("sub")), None)
            if sub is not None:
                svc.subscribers.discard(sub)
                svc.metrics.subscriptions -= 1
            return {"sub": f.get("sub")}
        if op == "object.get":
            return await svc.object_get(f.get("application"), f.get("name"), f.get("version"))
        if op == "object.changes":
            return await svc.object_changes(
                f.get("application"),
                f.get("name"),
                f.get("since_version"),
                f.get("mode", "patches"),
            )
        if op == "schema.get":
            return await svc.schemas(f.get("application"))
        if op == "ping":
            return {"pong": svc.now_ms(), "client": self.peer}
        if op.startswith("peer."):
            return await self.peer_op(op, f)
        raise BadFormat(f"unknown op {op!r}")

    async def peer_op(self, op: str, f: dict[str, Any]) -> dict[str, Any]:
        """Replication requests: only from a supernode that proved its registered key."""
        peers = self.node.peers
        if op == "peer.hello":
            return peers.hello(self.peer_state, f.get("node_id"), f.get("nonce"))
        if op == "peer.auth":
            return peers.auth(self.peer_state, f.get("sign"))
        peer = self.peer_state.get("peer")
        if not peer:
            raise Forbidden("replication requests need an authenticated supernode link")
        if peer in peers.blocked:
            raise Unavailable("partitioned (fault injection)")
        if op == "peer.key":
            return await peers.serve_key(f.get("receiver"), f.get("after"))
        if op == "peer.replicate":
            env = self.node.service.parse_replica(f)
            kseq = f.get("kseq") if type(f.get("kseq")) is int else None
            result = await self.node.service.store_replica(env, origin=peer, kseq=kseq)
            return {"seq": result.kseq, "duplicate": result.duplicate}
        if op == "peer.sync":
            return await peers.serve_sync(
                peer, f.get("after"), f.get("limit"), from_top=f.get("from_top") is True
            )
        ae = peers.antientropy
        if op == "peer.digest":
            return await ae.serve_digest(peer, f.get("ranges"))
        if op == "peer.ids":
            return await ae.serve_ids(f.get("receiver"), f.get("ranges"), f.get("max_time"))
        if op == "peer.get":
            return await ae.serve_get(f.get("ids"))
        if op == "peer.push":
            return await ae.serve_push(peer, f.get("records"))
        if op.startswith("peer.legacy."):
            return await self.node.legacy.peer_op(self, op, f)
        raise BadFormat(f"unknown op {op!r}")

    async def subscribe(self, rid: Any, sub_id: Any, filt: Any) -> None:
        """Acknowledge, then stream stored matches, the end marker, then live ones."""
        svc = self.node.service
        if not isinstance(sub_id, str) or not sub_id or len(sub_id) > 64:
            raise BadFormat("sub must be a string of 1-64 characters")
        if sub_id in self.subs:
            raise BadFormat(f"subscription {sub_id} already exists")
        if len(self.subs) >= self.node.config.limits.max_subscriptions:
            raise RateLimited(
                f"at most {self.node.config.limits.max_subscriptions} subscriptions per connection"
            )
        f = parse_filter(filt, self.node.config.limits.query_max_limit)
        buffered: list[Any] = []
        state = {"live": False, "last": f.after or 0, "closed": False}

        def deliver(rec: Any) -> None:
            if state["closed"]:
                return
            if not state["live"]:
                buffered.append(rec)
                return
            self._push_event(sub_id, sub, rec, state)

        sub = Subscriber(f, deliver)
        self.subs[sub_id] = sub
        svc.subscribers.add(sub)  # registered before the stored phase: nothing falls in between
        svc.metrics.subscriptions += 1
        await self.send({"id": rid, "ok": True, "sub": sub_id})
        await self._stored_phase(sub_id, sub, f, buffered, state)

    async def _stored_phase(
        self, sub_id: str, sub: Subscriber, f: Any, buffered: list[Any], state: dict[str, Any]
    ) -> None:
        from dataclasses import replace

        after = f.after
        while True:
            records, more = await self.node.service.store.query(
                replace(f, after=after, newest_first=False, limit=500)
            )
            for rec in records:
                await self.send({"sub": sub_id, "event": rec.to_wire()})
                state["last"] = rec.kseq
            if not more:
                break
            after = records[-1].kseq
        await self.send({"sub": sub_id, "eose": True})
        state["live"] = True
        for rec in buffered:
            self._push_event(sub_id, sub, rec, state)
        buffered.clear()

    def _push_event(self, sub_id: str, sub: Subscriber, rec: Any, state: dict[str, Any]) -> None:
        if rec.kseq <= state["last"] or state["closed"]:
            return
        try:
            self.out.put_nowait(orjson.dumps({"sub": sub_id, "event": rec.to_wire()}))
            state["last"] = rec.kseq
        except asyncio.QueueFull:
            state["closed"] = True
            svc = self.node.service
            svc.subscribers.discard(sub)
            if self.subs.pop(sub_id, None) is not None:
                svc.metrics.subscriptions -= 1
            svc.metrics.slow_consumers += 1
            err = {
                "code": "unavailable",
                "message": "slow consumer: subscription closed, resubscribe with after=<last seq>",
            }
            task = asyncio.create_task(self.send({"sub": sub_id, "error": err}))
            self.background.add(task)
            task.add_done_callback(self.background.discard)


def _frame_id(data: str | bytes) -> Any:
    with contextlib.suppress(Exception):
        frame = orjson.loads(data)
        if isinstance(frame, dict):
            return frame.get("id")
    return None


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.key = config.key()
        self.store: SqliteStore | None = None
        self.service: NodeService
        self.connections: set[Connection] = set()
        self.runner: web.AppRunner | None = None
        self.url = ""
        self._registry_task: asyncio.Task[None] | None = None
        self.network_nodes: list[dict[str, str]] = []
        self.legacy: LegacyGateway

    async def start(self) -> None:
        data_dir = self.config.path(self.config.data_dir)
        self.store = await SqliteStore.open(
            data_dir / "store.sqlite3", synchronous=self.config.synchronous
        )
        self.service = NodeService(self.config, self.store)
        self.peers = Peers(self)
        self.service.replicate = self.peers.replicate
        self.service.prepare_key = self.peers.prepare_key
        from .legacy import LegacyGateway

        self.legacy = LegacyGateway(self)
        app = web.Application(
            client_max_size=max(
                self.config.limits.max_message_bytes * 2, self.config.legacy.max_body_bytes
            )
            + 4096
        )
        from . import http

        http.add_routes(app, self)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        ctx = None
        if self.config.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(
                self.config.path(self.config.tls_cert), self.config.path(self.config.tls_key)
            )
        site = web.TCPSite(
            self.runner, self.config.host, self.config.port, ssl_context=ctx, reuse_address=True
        )
        await site.start()
        scheme = "https" if ctx else "http"
        self.url = f"{scheme}://{self.config.host}:{self.config.port}"
        if self.config.chain.explorer and self.config.chain.registry:
            self._registry_task = asyncio.create_task(self._follow_registry())
            await self.peers.load_cursors()
            self.peers.start()
        log.info("supernode %s listening on %s (data %s)", self.key.address, self.url, data_dir)

    async def _follow_registry(self) -> None:
        from flocloud.chain.reader import make_reader
        from flocloud.chain.registry import RegistryReader
        from flocloud.protocol.params import network_by_name

        chain = self.config.chain
        reader = make_reader(chain.explorer_kind, chain.explorer)
        registry = RegistryReader(
            reader,
            chain.registry,
            network_by_name(self.config.network),
            min_confirmations=chain.min_confirmations,
        )
        state = None
        try:
            while True:
                try:
                    state = await (registry.load() if state is None else registry.refresh(state))
                    self.service.set_apps(
                        {a.name: AppConfig(a.admin, a.trusted) for a in state.apps}
                    )
                    self.peers.update(RegistryView.from_state(state))
                    self.legacy.update_registry(state)
                    self.network_nodes = [
                        {"id": n.id, "uri": n.uri, "pubKey": n.pubkey} for n in state.nodes
                    ]
                except FlocloudError as exc:
                    log.warning("registry refresh failed: %s", exc.message)
                await asyncio.sleep(chain.refresh_seconds)
        finally:
            await reader.aclose()

    def client_ip(self, request: web.Request) -> str:
        peer = request.remote or ""
        try:
            trusted = any(
                ipaddress.ip_address(peer) in ipaddress.ip_network(p, strict=False)
                for p in self.config.trusted_proxies
            )
        except ValueError:
            trusted = False
        if trusted:
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return peer

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            compress=False,  # peer links carry legacy records too (up to [legacy] max_body_bytes)
            max_msg_size=max(
                self.config.limits.max_message_bytes * 2, self.config.legacy.max_body_bytes
            )
            + 65536,
            heartbeat=30,
        )
        await ws.prepare(request)
        conn = Connection(self, ws, self.client_ip(request))
        self.connections.add(conn)
        self.service.metrics.connections += 1
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
            self.service.metrics.connections -= 1
        return ws

    async def stop(self) -> None:
        if self._registry_task is not None:
            self._registry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._registry_task
        await self.peers.stop()
        await self.legacy.aclose()
        for conn in list(self.connections):
            await conn.ws.close(code=1001, message=b"server shutting down")
        if self.runner is not None:
            await self.runner.cleanup()
        if self.store is not None:
            await self.store.close()
        log.info("supernode %s stopped", self.key.address)


def run_node(config: NodeConfig) -> None:
    """Run until SIGTERM/SIGINT; exits cleanly."""
    setup_logging(config)

    async def main() -> None:
        node = Node(config)
        await node.start()
        print(f"flocloud supernode {node.key.address} on {node.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await node.stop()

    asyncio.run(main())
