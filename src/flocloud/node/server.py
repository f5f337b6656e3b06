"""The supernode process: aiohttp on one port for HTTP and websockets (``/ws``).

Invariants owned here:
- A client never sees a stack trace: every failure becomes ``{"code", "message"}``
  (unexpected ones are logged and answered ``internal``); one bad client never disturbs
  others (its errors stay on its connection).
- Every frame is decoded and validated by its operation's schema (``requests.py``)
  before any work, and gets exactly one reply carrying its ``id``.
- Requests on one connection are pipelined (each runs as its own task, at most
  ``max_inflight_per_connection`` and ``max_inflight_bytes`` at a time).
- Memory per connection is bounded in bytes (``Connection``): a client that leaves its
  replies unread past ``write_timeout_seconds`` is disconnected.
- A subscription sends its stored matches, then ``{"sub", "eose": true}``, then live
  matches, each with the cursor after it; the phases and the exactly-once rule are
  ``flocloud.replication.subscription``'s. A subscriber whose outgoing queue is full is
  cut off with an error instead of growing memory.
- SIGTERM/SIGINT: stop accepting, close websockets (1001 going away), flush the store,
  exit 0.
- One process per data directory (an exclusive lock on ``data_dir/LOCK``); a port in use
  or a locked directory is a one-line error, not a traceback. The log says what the node
  is: its ID, whether the registry lists it (and at which epoch), how many peers it found;
  while unlisted it refuses client writes (``not-listed``) and ``/healthz`` answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import ipaddress
import json
import logging
import os
import signal
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import orjson
from aiohttp import WSMsgType, web

from flocloud.protocol.errors import BadFormat, FlocloudError, Forbidden, RateLimited, Unavailable
from flocloud.replication.handshake import LinkState, Responder
from flocloud.replication.subscription import Subscription, SubscriptionPhase
from flocloud.storage.sqlite import SqliteStore

from . import http, runtime
from . import requests as rq
from .config import KEY_ENV, AppConfig, NodeConfig
from .frames import send_text_frames
from .gate import BACKLOG, Gate, GuardedRunner
from .limits import ByteBudget, RateLimitedLog, TokenBucket
from .peers import Peers
from .replicate import serve_batch, store_one
from .requests import decode_frame, frame_id
from .service import NodeService, Subscriber, parse_filter
from .strict import StrictObjects
from .wake import woken

if TYPE_CHECKING:
    from flocloud.chain.registry import NetworkState

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
    """One websocket client. Memory is bounded in bytes: request frames being handled
    (``max_inflight_bytes``), queries running (``max_inflight_queries``, each page at most
    ``max_reply_bytes``) and replies queued (``max_outgoing_bytes``, and all connections
    together ``max_outgoing_bytes_total``). A reply that finds no room within
    ``write_timeout_seconds`` means the client is not reading: the connection is cut."""

    def __init__(
        self, node: Node, ws: web.WebSocketResponse, peer: str, transport: Any = None
    ) -> None:
        self.node, self.ws, self.peer, self.transport = node, ws, peer, transport
        lim = node.config.limits
        self.lim = lim
        self.out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queued = 0  # bytes in ``out`` and being sent
        self.waiting = 0  # bytes of frames waiting for room in ``out``
        self.room = asyncio.Event()
        self.room.set()
        self.bucket = TokenBucket(lim.rate_per_connection, lim.burst_per_connection)
        self.inflight = asyncio.Semaphore(lim.max_inflight_per_connection)
        self.inflight_bytes = ByteBudget(lim.max_inflight_bytes)
        self.queries = asyncio.Semaphore(lim.max_inflight_queries)
        self.subs: dict[str, Subscriber] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.background: set[asyncio.Task[None]] = set()
        self.link = Responder(node.key.address)  # the peer handshake, if one talks here
        self.cut = False
        self.on_close: list[Callable[[], None]] = []  # cleanups of what others registered
        self.legacy_watches: dict[str, Callable[[], None]] = {}  # sub -> unwatch (legacy)

    def _full(self, extra: int) -> bool:
        """No room for ``extra`` more bytes (a connection with nothing queued always has)."""
        return bool(self.queued) and (
            self.queued + extra > self.lim.max_outgoing_bytes
            or self.node.outgoing + extra > self.lim.max_outgoing_bytes_total
        )

    def _queue(self, data: bytes) -> None:
        self.queued += len(data)
        self.node.outgoing += len(data)
        self.out.put_nowait(data)

    async def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame, waiting for room (the client reads), at most the write timeout.
        A frame waiting counts in the node's outgoing bytes; when those pass
        ``max_outgoing_bytes_total``, a connection that still has replies unread is cut
        at once, so pages waiting for slow readers cannot add up across connections."""
        data = orjson.dumps(frame)
        n = len(data)
        if self.cut:
            return
        self.waiting += n
        self.node.outgoing += n
        try:
            if self.node.outgoing > self.lim.max_outgoing_bytes_total and (
                self.queued + self.waiting > n
            ):
                self.cut_off("the node's outgoing bytes are at their bound")
                return
            if self.queued and self.queued + n > self.lim.max_outgoing_bytes:
                try:
                    async with asyncio.timeout(self.lim.write_timeout_seconds):
                        while self.queued and self.queued + n > self.lim.max_outgoing_bytes:
                            self.room.clear()
                            await self.room.wait()
                            if self.closed():
                                return
                except TimeoutError:
                    self.cut_off("slow reader: replies not read within the write timeout")
                    return
            if not self.closed():
                self.queued += n  # moved from waiting to queued
                self.waiting -= n
                n = 0
                self.out.put_nowait(data)
        finally:
            if n:  # not queued: release the reservation
                self.waiting -= n
                self.node.outgoing -= n

    def closed(self) -> bool:
        return self.cut

    def cut_off(self, why: str) -> None:
        """Drop what is queued and close the socket of a client that does not read."""
        if self.cut:
            return
        self.cut = True
        self.node.service.metrics.slow_consumers += 1
        self.node.resource_log.warning("slow-reader", "cut off %s: %s", self.peer, why)
        self._drain_queue()
        if self.transport is not None:
            self.transport.abort()

    def _drain_queue(self) -> None:
        while not self.out.empty():
            data = self.out.get_nowait()
            if data is not None:
                self._sent(len(data))

    def _sent(self, n: int) -> None:
        self.queued -= n
        self.node.outgoing -= n
        self.room.set()

    async def writer(self) -> None:
        while True:
            data = await self.out.get()
            if data is None or self.ws.closed:
                return
            frames = [data]  # and what else is queued now: one write (node/frames.py)
            while len(frames) < 256 and not self.out.empty():
                more = self.out.get_nowait()
                if more is None:
                    self.out.put_nowait(None)  # after these
                    break
                frames.append(more)
            try:  # the JSON bytes as text frames, without a str copy of a large page
                await send_text_frames(self.ws, frames)
            except (ConnectionError, RuntimeError):
                return
            finally:
                self._sent(sum(len(f) for f in frames))

    async def serve(self) -> None:
        writer = asyncio.create_task(self.writer())
        try:
            async for msg in self.ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if not self.bucket.take(time.monotonic()):
                        self.node.service.metrics.rejected["rate-limited"] += 1
                        await self.send(
                            {
                                "id": frame_id(msg.data),
                                "ok": False,
                                "error": RateLimited("connection request rate exceeded").to_dict(),
                            }
                        )
                        continue
                    size = len(msg.data)
                    await self.inflight.acquire()
                    await self.inflight_bytes.acquire(size)
                    task = asyncio.create_task(self.handle(msg.data))
                    self.tasks.add(task)
                    task.add_done_callback(functools.partial(self._done, size=size))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            for sub in self.subs.values():
                self.node.service.remove_subscriber(sub)
            self.subs.clear()
            for cleanup in self.on_close:
                cleanup()
            for task in list(self.tasks):
                task.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._drain_queue()

    def _done(self, task: asyncio.Task[None], size: int) -> None:
        self.tasks.discard(task)
        self.inflight.release()
        self.inflight_bytes.release(size)

    async def handle(self, data: str | bytes) -> None:
        rid: Any = None
        op = "?"
        try:
            try:
                req = decode_frame(data)
            except FlocloudError:
                rid = frame_id(data)
                raise
            rid = req.id
            op = str(req.__struct_config__.tag)
            self.node.service.metrics.requests[op] += 1
            if isinstance(req, rq.Query):  # holds a query slot until its page is queued
                async with self.queries:
                    await self._answer(rid, await self.dispatch(req), epoch=True)
            else:
                await self._answer(rid, await self.dispatch(req), isinstance(req, rq.Put))
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

    async def _answer(self, rid: Any, reply: dict[str, Any] | None, epoch: bool) -> None:
        """Send ``reply`` (None: the op answers by itself); ``epoch``: with the registry
        epoch this node routes by (a put's and a query's answer)."""
        if reply is not None:
            out = {"id": rid, "ok": True, **reply}
            if epoch:
                out["epoch"] = self.node.epoch()
            await self.send(out)

    async def dispatch(self, req: rq.Frame) -> dict[str, Any] | None:
        svc = self.node.service
        match req:
            case rq.Put():
                return await svc.put(req.envelope.to_dict(), restore=req.restore, source=self.peer)
            case rq.Query():
                return await svc.query(req.filter)
            case rq.Subscribe():
                await self.subscribe(req.id, req.sub, req.filter)
                return None
            case rq.Unsubscribe():
                sub = self.subs.pop(req.sub, None)
                if sub is not None:
                    svc.remove_subscriber(sub)
                return {"sub": req.sub}
            case rq.ObjectGet():
                return await svc.object_get(req.application, req.name, req.version, req.consistent)
            case rq.ObjectChanges():
                return await svc.object_changes(
                    req.application, req.name, req.since_version, req.mode
                )
            case rq.SchemaGet():
                return await svc.schemas(req.application)
            case rq.Ping():
                return {"pong": svc.now_ms(), "client": self.peer}
            case rq.PeerRequest():
                return await self.peer_op(req)
        raise BadFormat(f"unknown op {req.__struct_config__.tag!r}")  # pragma: no cover

    async def peer_op(self, req: rq.PeerRequest) -> dict[str, Any]:
        """Replication requests: only from a supernode that proved its registered key and
        that the registry still lists (checked on every request; a removed node's link is
        closed)."""
        peers = self.node.peers
        if isinstance(req, rq.PeerHello):
            return peers.links.hello(self.link, req.node_id, req.nonce)
        if isinstance(req, rq.PeerAuth):
            return peers.links.auth(self.link, req.sign, req.store_id)
        try:
            peer = peers.links.check_member(self.link)
        except Forbidden:
            if self.link.state is LinkState.CLOSED:  # a removed supernode: close the link
                task = asyncio.create_task(self._close(4003, b"not a supernode"))
                self.background.add(task)
                task.add_done_callback(self.background.discard)
            raise
        if peer in peers.blocked:
            raise Unavailable("partitioned (fault injection)")
        svc = self.node.service
        ae = peers.antientropy
        match req:
            case rq.PeerPaxos():
                op = str(req.__struct_config__.tag)
                return await self.node.strict.serve(op, msgspec.structs.asdict(req))
            case rq.PeerKey():
                return await peers.serve_key(req.receiver, req.after, req.lacking)
            case rq.PeerLegacy():
                op = str(req.__struct_config__.tag)
                return await self.node.legacy.peer_op(self, op, msgspec.structs.asdict(req))
            case rq.PeerReplicate():  # node/replicate.py: one write, or a batch of them
                return await store_one(
                    svc, peer, self.link.store_id, req.envelope, req.kind, req.dots
                )
            case rq.PeerReplicateBatch():
                return await serve_batch(svc, peer, self.link.store_id, req.records)
            case rq.PeerForward():  # a client write another node does not take
                return await svc.put(req.envelope.to_dict(), forwarded=True)
            case rq.PeerSync():
                ae.old_gets.paged(peer, req.after)
                return await peers.catchup.serve(peer, req.after, req.limit, req.from_top)
            case rq.PeerDigest():
                return await ae.serve_digest(peer, req.ranges)
            case rq.PeerIds():
                ae.old_gets.compared(peer, req.receiver)
                return await ae.serve_ids(req.receiver, req.ranges, req.max_time)
            case rq.PeerGet():
                if req.keys is not None:
                    return await ae.serve_get(req.keys)
                if req.ids is not None:  # an older node's: placed by what it read here
                    return await ae.serve_old_get(peer, req.ids)
                raise BadFormat("peer.get needs keys: [[receiver, id], ...]")
            case rq.PeerPush():
                return await ae.serve_push(peer, req.records)
        raise BadFormat(f"unknown op {req.__struct_config__.tag!r}")  # pragma: no cover

    async def _close(self, code: int, message: bytes) -> None:
        await self.ws.close(code=code, message=message)

    async def subscribe(self, rid: Any, sub_id: str, filt: rq.Filter) -> None:
        """Acknowledge, then stream stored matches, the end marker, then live ones."""
        svc = self.node.service
        if sub_id in self.subs:
            raise BadFormat(f"subscription {sub_id} already exists")
        if len(self.subs) >= self.node.config.limits.max_subscriptions:
            raise RateLimited(
                f"at most {self.node.config.limits.max_subscriptions} subscriptions per connection"
            )
        f = parse_filter(filt, self.node.config.limits.query_max_limit)
        if f.newest_first:
            raise BadFormat("a subscription follows the feed in order: leave out order")
        if not (await svc.catch_up_cursor(f.receiver, f.after))[0]:
            raise Unavailable(
                "behind: this supernode lacks writes your cursor has seen and cannot reach "
                "the replicas that hold them; subscribe at another replica (or again later)",
                {"behind": True},
            )
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
        async with self.queries:
            await self._stored_phase(sub_id, sub, core, f)

    async def _stored_phase(
        self, sub_id: str, sub: Subscriber, core: Subscription[Any], f: Any
    ) -> None:
        from dataclasses import replace

        lim = self.node.config.limits
        while core.phase is SubscriptionPhase.STORED and not self.cut:
            async with self.node.service.query_slots:
                page = await self.node.service.read(
                    replace(f, after=core.cursor, limit=500, max_bytes=lim.max_reply_bytes)
                )
            cursor = f.after
            for rec in page.records:
                cursor = cursor.add(rec.dots)
                await self.send({"sub": sub_id, "event": rec.to_wire(), "cursor": cursor.encode()})
            assert page.cursor is not None
            core.stored_page(page.cursor)
            f = replace(f, after=page.cursor)
            if not page.more:
                break
        if core.phase is SubscriptionPhase.CLOSED or self.cut:
            self._close_slow(sub_id, sub)
            return
        await self.send({"sub": sub_id, "eose": True, "cursor": core.cursor.encode()})
        for rec, cursor in core.end_stored():
            self._push_event(sub_id, sub, core, rec, cursor)

    def _push_event(
        self, sub_id: str, sub: Subscriber, core: Subscription[Any], rec: Any, cursor: Any = None
    ) -> None:
        if core.phase is SubscriptionPhase.CLOSED or self.cut:
            return
        after = (cursor or core.cursor).encode()  # covers this write, none after it
        data = orjson.dumps({"sub": sub_id, "event": rec.to_wire(), "cursor": after})
        if self.out.qsize() < self.lim.subscription_queue and not self._full(len(data)):
            self._queue(data)
            return
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
        self._registry_wake = asyncio.Event()  # a peer named another epoch: refresh soon
        self.network_nodes: list[dict[str, str]] = []
        self.registry: NetworkState | None = None
        self.resource_log = RateLimitedLog(log)
        self.outgoing = 0  # bytes of replies queued or waiting, websockets and HTTP together
        self.legacy: LegacyGateway
        self._reported = False
        self._lock_fd: int | None = None

    def _lock_data_dir(self, data_dir: Any) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "LOCK"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Unavailable(
                f"data directory {data_dir} is in use by another supernode (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd  # held (and the lock with it) until the process exits

    async def start(self) -> None:
        data_dir = self.config.path(self.config.data_dir)
        self._lock_data_dir(data_dir)
        self.store = await SqliteStore.open(
            data_dir / "store.sqlite3",
            synchronous=self.config.synchronous,
            inline_max=self.config.inline_writes,
            commit_linger=self.config.commit_linger_ms / 1000,
        )
        self.service = NodeService(self.config, self.store)
        self.service.verifier.start()  # its worker processes spawn while the node starts
        self.peers = Peers(self)
        self.service.replicate = self.peers.replicate
        self.service.forward = self.peers.forward
        self.service.commit_listeners.append(self.peers.antientropy.on_commit)
        self.service.pull_key = self.peers.pull_key
        self.service.pull_lacking = self.peers.pull_lacking
        self.service.is_replica = lambda key: (
            not self.peers.view.nodes or self.key.address in self.peers.replica_set(key)
        )
        self.strict = StrictObjects(self)
        self.peers.refresh_soon = self._registry_wake.set
        self.service.strict_write = self.strict.write
        self.service.strict_sync = self.strict.catch_up
        from .legacy import LegacyGateway

        self.legacy = LegacyGateway(self)
        lim = self.config.limits
        app = web.Application(
            client_max_size=max(lim.max_message_bytes * 2, self.config.legacy.max_body_bytes) + 4096
        )
        http.add_routes(app, self)
        _quiet_resource_errors(asyncio.get_running_loop(), self.resource_log)
        self.gate = Gate(self.config, self.service.metrics, self.resource_log)
        self.runner = GuardedRunner(
            app,
            self.gate,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=lim.header_timeout_seconds,
            max_line_size=lim.max_url_bytes,
        )
        await self.runner.setup()
        ctx = None
        if self.config.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(
                self.config.path(self.config.tls_cert), self.config.path(self.config.tls_key)
            )
        site = web.TCPSite(
            self.runner,
            self.config.host,
            self.config.port,
            ssl_context=ctx,
            reuse_address=True,
            backlog=BACKLOG,
        )
        try:
            await site.start()
        except OSError as exc:
            await self.runner.cleanup()
            await self.store.close()
            if exc.errno == errno.EADDRINUSE:
                raise Unavailable(
                    f"port {self.config.port} on {self.config.host} is already in use "
                    "(another supernode? set port in node.toml or pass --port)"
                ) from None
            raise Unavailable(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}"
            ) from None
        scheme = "https" if ctx else "http"
        self.url = f"{scheme}://{self.config.host}:{self.config.port}"
        if self.config.chain.explorer and self.config.chain.registry:
            self.service.listed = False  # until the registry shows this node
            self._registry_task = asyncio.create_task(self._follow_registry())
            await self.peers.load_cursors()
            self.peers.start()
        log.info(
            "supernode %s (%s) listening on %s (data %s)",
            self.key.address,
            self.config.network,
            self.url,
            data_dir,
        )
        if not self._registry_task:
            log.info("no [chain] configured: standalone, apps from the config file")
        key_file = self.config.path(self.config.key_file)
        if not os.environ.get(KEY_ENV) and key_file.exists() and key_file.stat().st_mode & 0o077:
            log.warning("the node key file %s is readable by other users: chmod 600 it", key_file)

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
        seeded = False
        try:
            while True:
                try:
                    state = await follower.refresh()
                    self.registry = state
                    self.service.set_apps(
                        {a.name: AppConfig(a.admin, a.writers, a.strict) for a in state.apps}
                    )
                    # placement is rebuilt only on a change, and off the event loop
                    self.peers.update(await asyncio.to_thread(self.peers.view_of, state))
                    if not seeded:  # layouts of the recent registry history, once
                        seeded = True
                        earlier = follower.earlier_states()[:8]
                        self.peers.remember_layouts(
                            [await asyncio.to_thread(self.peers.view_of, s) for s in earlier]
                        )
                    self._close_removed_peers()
                    self.legacy.update_registry(state)
                    self.network_nodes = [
                        {"id": n.id, "uri": n.ws_url, "pubKey": n.pubkey} for n in state.nodes
                    ]
                    self._report_listing(state)
                except FlocloudError as exc:
                    log.warning("registry refresh failed: %s", exc.message)
                # every refresh_seconds, or (at most once a second) when woken
                if await woken(self._registry_wake, chain.refresh_seconds):
                    await asyncio.sleep(1.0)
                self._registry_wake.clear()
        finally:
            await follower.aclose()

    def epoch(self) -> dict[str, Any] | None:
        """The registry epoch this node routes by (``{"height", "hash"}``), if any."""
        return self.registry.epoch.to_json() if self.registry and self.registry.epoch else None

    def _close_removed_peers(self) -> None:
        """Links from supernodes the registry no longer lists close at once (finding 8)."""
        for conn in list(self.connections):
            peer = conn.link.authenticated
            if peer and peer not in self.peers.view.nodes:
                conn.link.close()
                task = asyncio.create_task(conn._close(4003, b"no longer a registered supernode"))
                conn.background.add(task)
                task.add_done_callback(conn.background.discard)

    def _report_listing(self, state: Any) -> None:
        """Log whether the registry lists this node (when that changes), with the epoch."""
        listed = any(n.id == self.key.address for n in state.nodes)
        was, self.service.listed = self.service.listed, listed
        if was is listed and self._reported:
            return
        self._reported = True
        epoch = (
            f"height {getattr(state, 'height', '?')} tx {str(getattr(state, 'last_txid', ''))[:12]}"
        )
        peers = len(state.nodes) - (1 if listed else 0)
        if listed:
            log.info(
                "listed in registry %s (epoch %s); %d peer supernode(s) found",
                self.config.chain.registry,
                epoch,
                peers,
            )
        else:
            log.warning(
                "NOT listed in registry %s (epoch %s; %d supernodes listed): refusing client "
                "writes until the registry adds %s (see `flocloud node init` for the entry)",
                self.config.chain.registry,
                epoch,
                len(state.nodes),
                self.key.address,
            )

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
        conn = Connection(self, ws, self.client_ip(request), request.transport)
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
        self.service.verifier.close()
        if self.store is not None:
            await self.store.close()
        log.info("supernode %s stopped", self.key.address)


def _quiet_resource_errors(loop: asyncio.AbstractEventLoop, rlog: RateLimitedLog) -> None:
    """Out-of-descriptor and similar accept errors are logged once per interval, not once
    per pending connection (asyncio's default logs a traceback for each)."""
    default = loop.get_exception_handler()

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
            rlog.warning("accept", "%s: %s", context.get("message"), exc)
            return
        if default is not None:
            default(lp, context)
        else:
            lp.default_exception_handler(context)

    loop.set_exception_handler(handler)


def run_node(config: NodeConfig) -> None:
    """Run until SIGTERM/SIGINT; exits cleanly."""
    setup_logging(config)

    async def main() -> None:
        runtime.before_start(config.gc_young)
        node = Node(config)
        await node.start()
        runtime.after_start()
        print(f"flocloud supernode {node.key.address} on {node.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await node.stop()

    runtime.run(main(), config.event_loop)
