"""The supernode process: aiohttp on one port for HTTP and websockets (``/ws``).

Invariants owned here:
- A client never sees a stack trace: every failure becomes ``{"code", "message"}``
  (unexpected ones are logged and answered ``internal``); one bad client never disturbs
  others (its errors stay on its connection).
- Requests on one connection are pipelined (each runs as its own task, at most
  ``max_inflight_per_connection`` at a time); replies carry the request's ``id``.
- A subscription sends its stored matches, then ``{"sub", "eose": true}``, then live
  matches, each with the cursor after it; the phases and the exactly-once rule are
  ``flocloud.replication.subscription``'s. A subscriber whose outgoing queue is full is
  cut off with an error instead of growing memory.
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
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from flocloud.protocol.cursor import parse_dots
from flocloud.protocol.errors import BadFormat, FlocloudError, Forbidden, RateLimited, Unavailable
from flocloud.replication.subscription import Subscription, SubscriptionPhase
from flocloud.storage.sqlite import SqliteStore

from . import http
from .config import AppConfig, NodeConfig
from .limits import TokenBucket
from .peers import Peers, RegistryView
from .service import NodeService, Subscriber, parse_filter
from .strict import StrictObjects

if TYPE_CHECKING:
    from flocloud.chain.registry import NetworkState

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
                self.node.service.remove_subscriber(sub)
            self.subs.clear()
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
                if op in ("put", "query"):  # the client sees which registry we route by
                    reply = {**reply, "epoch": self.node.epoch()}
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
                svc.remove_subscriber(sub)
            return {"sub": f.get("sub")}
        if op == "object.get":
            return await svc.object_get(
                f.get("application"), f.get("name"), f.get("version"), f.get("consistent")
            )
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
            return peers.auth(self.peer_state, f.get("sign"), f.get("store_id"))
        peer = self.peer_state.get("peer")
        if not peer:
            raise Forbidden("replication requests need an authenticated supernode link")
        try:
            peers.check_member(peer)
        except Forbidden:
            self.peer_state.clear()
            task = asyncio.create_task(self._close(4003, b"not a supernode"))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
            raise
        if peer in peers.blocked:
            raise Unavailable("partitioned (fault injection)")
        if op.startswith("peer.paxos."):
            return await self.node.strict.serve(op, f)
        if op == "peer.key":
            return await peers.serve_key(f.get("receiver"), f.get("after"))
        if op == "peer.replicate":
            dots = parse_dots(f.get("dots"))
            env = await self.node.service.replica_envelope(f.get("envelope"))
            if any(o != self.peer_state.get("store_id") for o, _ in dots):
                raise Forbidden("peer.replicate may carry only the sender's own dots")
            result = await self.node.service.store_replica(env, origin=peer, dots=dots)
            return {"duplicate": result.duplicate}
        if op == "peer.forward":  # a client write another node does not take
            return await self.node.service.put(f.get("envelope"), forwarded=True)
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
        raise BadFormat(f"unknown op {op!r}")

    async def _close(self, code: int, message: bytes) -> None:
        await self.ws.close(code=code, message=message)

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
        if f.newest_first:
            raise BadFormat("a subscription follows the feed in order: leave out order")
        core: Subscription[Any] = Subscription(f.after, max_buffer=10_000)

        def deliver(rec: Any, matching: bool) -> None:
            event = core.on_commit(rec, rec.dots, matching)
            if event is not None:
                self._push_event(sub_id, sub, core, event)
            elif core.phase is SubscriptionPhase.CLOSED:
                self._close_slow(sub_id, sub)

        sub = Subscriber(f, deliver)
        self.subs[sub_id] = sub
        svc.add_subscriber(sub)  # registered before the stored phase: nothing falls in between
        await self.send({"id": rid, "ok": True, "sub": sub_id})
        await self._stored_phase(sub_id, sub, core, f)

    async def _stored_phase(
        self, sub_id: str, sub: Subscriber, core: Subscription[Any], f: Any
    ) -> None:
        from dataclasses import replace

        while core.phase is SubscriptionPhase.STORED:
            page = await self.node.service.read(replace(f, after=core.cursor, limit=500))
            cursor = f.after
            for rec in page.records:
                cursor = cursor.add(rec.dots)
                await self.send({"sub": sub_id, "event": rec.to_wire(), "cursor": cursor.encode()})
            assert page.cursor is not None
            core.stored_page(page.cursor)
            f = replace(f, after=page.cursor)
            if not page.more:
                break
        if core.phase is SubscriptionPhase.CLOSED:
            self._close_slow(sub_id, sub)
            return
        await self.send({"sub": sub_id, "eose": True, "cursor": core.cursor.encode()})
        for rec, cursor in core.end_stored():
            self._push_event(sub_id, sub, core, rec, cursor)

    def _push_event(
        self, sub_id: str, sub: Subscriber, core: Subscription[Any], rec: Any, cursor: Any = None
    ) -> None:
        if core.phase is SubscriptionPhase.CLOSED:
            return
        after = (cursor or core.cursor).encode()  # covers this write, none after it
        frame = {"sub": sub_id, "event": rec.to_wire(), "cursor": after}
        try:
            self.out.put_nowait(orjson.dumps(frame))
        except asyncio.QueueFull:
            core.close()
            self._close_slow(sub_id, sub)

    def _close_slow(self, sub_id: str, sub: Subscriber) -> None:
        svc = self.node.service
        svc.remove_subscriber(sub)
        if self.subs.pop(sub_id, None) is None:
            return
        svc.metrics.slow_consumers += 1
        err = {
            "code": "unavailable",
            "message": "slow consumer: subscription closed, resubscribe with after=<last cursor>",
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
        self.registry: NetworkState | None = None

    async def start(self) -> None:
        data_dir = self.config.path(self.config.data_dir)
        self.store = await SqliteStore.open(
            data_dir / "store.sqlite3", synchronous=self.config.synchronous
        )
        self.service = NodeService(self.config, self.store)
        self.peers = Peers(self)
        self.service.replicate = self.peers.replicate
        self.service.forward = self.peers.forward
        self.service.commit_listeners.append(self.peers.antientropy.on_commit)
        self.service.pull_key = self.peers.pull_key
        self.service.is_replica = lambda key: (
            self.peers.view.placement is None or (self.key.address in self.peers.replica_set(key))
        )
        self.strict = StrictObjects(self)
        self.service.strict_write = self.strict.write
        self.service.strict_sync = self.strict.catch_up
        app = web.Application(client_max_size=self.config.limits.max_message_bytes * 2 + 4096)
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
        from flocloud.chain.explorers import make_reader
        from flocloud.chain.follower import RegistryFollower
        from flocloud.chain.networks import parse_explorers
        from flocloud.protocol.params import network_by_name

        chain = self.config.chain
        readers = [
            make_reader(kind, url)
            for kind, url in parse_explorers([chain.explorer], chain.explorer_kind)
        ]
        follower = RegistryFollower(
            readers,
            chain.registry,
            network_by_name(self.config.network),
            confirmations=chain.min_confirmations,
        )
        try:
            while True:
                try:
                    state = await follower.refresh()
                    self.registry = state
                    self.service.set_apps(
                        {a.name: AppConfig(a.admin, a.writers, a.strict) for a in state.apps}
                    )
                    self.peers.update(RegistryView.from_state(state))
                    self._close_removed_peers()
                    self.network_nodes = [
                        {"id": n.id, "uri": n.ws_url, "pubKey": n.pubkey} for n in state.nodes
                    ]
                except FlocloudError as exc:
                    log.warning("registry refresh failed: %s", exc.message)
                await asyncio.sleep(chain.refresh_seconds)
        finally:
            await follower.aclose()

    def epoch(self) -> dict[str, Any] | None:
        """The registry epoch this node routes by (``{"height", "hash"}``), if any."""
        return self.registry.epoch.to_json() if self.registry and self.registry.epoch else None

    def _close_removed_peers(self) -> None:
        """Links from supernodes the registry no longer lists close at once (finding 8)."""
        for conn in list(self.connections):
            peer = conn.peer_state.get("peer")
            if peer and peer not in self.peers.view.nodes:
                conn.peer_state.clear()
                task = asyncio.create_task(conn._close(4003, b"no longer a registered supernode"))
                conn.background.add(task)
                task.add_done_callback(conn.background.discard)

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
            compress=False,
            max_msg_size=self.config.limits.max_message_bytes * 2 + 4096,
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
        for conn in list(self.connections):
            await conn.ws.close(code=1001, message=b"server shutting down")
        if self.runner is not None:
            await self.runner.cleanup()
        self.service.verifier.close()
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

    if config.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed: running on asyncio's own event loop")
        else:
            uvloop.run(main())
            return
    asyncio.run(main())
