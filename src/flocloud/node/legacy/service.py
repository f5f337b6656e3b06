"""What a supernode does with the existing FLO cloud's requests, whatever the transport.

Invariants owned here:
- Any node accepts any receiver (never "Incorrect Supernode"): a node that does not
  replicate the inbox hands the request to a live replica over the authenticated peer
  link (``peer.legacy.accept`` / ``peer.legacy.query``) and serves it itself only when
  none answers, as a stand-in, like a native write.
- A write is answered only after the local commit, and as a success only when ``W``
  (writeQuorum) supernodes committed it; below that the caller answers 503 so the client
  fails over, and its retry is a duplicate that returns the same row.
- Legacy records are a record kind of their own (``NodeService.kinds["legacy"]``): every
  replica re-verifies the client's signature and the change permissions before storing
  a record it is sent, and never signs anything for the client.
- Live subscribers hear a row after its commit on this node, whichever supernode
  accepted it; a node that does not replicate an inbox watches a replica that does
  (``peer.legacy.watch``) so its sockets hear rows committed anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from flocloud.protocol.cursor import Dot
from flocloud.protocol.errors import (
    BadFormat,
    FlocloudError,
    Forbidden,
    RateLimited,
    StaleTime,
    Unavailable,
)
from flocloud.protocol.legacy import (
    ChangeRequest,
    LegacyRecord,
    Request,
    change_permitted,
    parse_record,
    parse_write,
)
from flocloud.protocol.legacy_query import ROW_FIELDS, LegacyQuery, parse_query
from flocloud.storage.legacy import LegacyStore
from flocloud.storage.store import PutResult

from ..limits import BucketMap
from ..wake import woken
from .apps import AppRoles, AppRolesReader

if TYPE_CHECKING:
    from ..server import Connection, Node

__all__ = ["LegacyService", "LiveSub", "RemoteWatch"]

log = logging.getLogger("flocloud.node.legacy")
Row = dict[str, Any]
MAX_WATCHES = 4096  # legacy watches one peer link may hold (live queries of its sockets)


@dataclass(eq=False)  # identity semantics: kept in a set
class LiveSub:
    """Someone who hears committed rows of one inbox that ``wants`` accepts."""

    receiver: str
    wants: Callable[[Row], bool]
    push: Callable[[Row], None]


class LegacyService:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.config = node.config.legacy
        self.store = LegacyStore(node.service.store)
        self.buckets = BucketMap(self.config.rate_per_id, self.config.burst_per_id)
        self.delay_delta = self.config.delay_delta_ms
        self.live: dict[str, set[LiveSub]] = {}
        self.roles = AppRolesReader(node.config.chain)
        node.service.kinds["legacy"] = self

    def now_ms(self) -> int:
        return self.node.service.now_ms()

    def count(self, what: str) -> None:
        self.node.service.metrics.requests[f"legacy.{what}"] += 1

    def update_registry(self, state: Any) -> None:
        dd = state.config.raw.get("delayDelta")
        self.delay_delta = dd if type(dd) is int and dd > 0 else self.config.delay_delta_ms
        self.roles.refresh_soon({a.name: a.admin for a in state.apps})

    # -- the record kind (replication calls these) --------------------------------------

    def parse(self, wire: Any) -> LegacyRecord:
        return parse_record(wire, self.config.max_body_bytes)

    async def store_replica(
        self, rec: LegacyRecord, origin: str, dots: tuple[Dot, ...] | None
    ) -> PutResult:
        dup, n, row = await self.store.store_replica(
            rec, self.now_ms(), origin=origin, dots=dots, check=self.check
        )
        if row is not None:
            self.notify(row)
        self.node.service.metrics.replicated += 0 if dup else 1
        return PutResult(0, duplicate=dup, dots=n)

    def check(
        self, op: str, requestor: str, row_sender: str, row_receiver: str, app: str | None
    ) -> None:
        """The reference's permissions for a tag/note/edit of a row: the sub-admins and
        trusted IDs the app's admin published, and the registry's trusted IDs of the app."""
        cfg = self.node.service.apps.get(app) if app else None
        admin, trusted = (cfg.admin, cfg.trusted) if cfg else (None, ())
        roles = self.roles.get(str(app), admin) if admin else AppRoles()
        subs, trust = (*roles.sub_admins, *trusted), (*roles.trusted, *trusted)
        if not change_permitted(op, requestor, row_sender, row_receiver, admin, subs, trust):
            raise Forbidden("Access denied")

    # -- routing to a replica ------------------------------------------------------------

    def _check_ready(self) -> None:
        """A node that follows a chain serves only once it has read the registry: before,
        it cannot place an inbox or count a quorum (503: the client tries the next node)."""
        if self.node.config.chain.explorer and not self.node.peers.view.nodes:
            raise Unavailable("Not ready: the supernode registry is not read yet")

    def _replicas_elsewhere(self, receiver: str) -> list[str]:
        """Live replicas to hand a request to when this node does not replicate it."""
        peers = self.node.peers
        if peers.view.placement is None or peers.replicates(peers.self_id, receiver):
            return []
        return [p for p in peers.replica_set(receiver) if peers.is_up(p)]

    async def _ask(
        self, receiver: str, op: str, *, retry: bool = True, **fields: Any
    ) -> dict[str, Any] | None:
        """Ask the first live replica that answers; None when none can be reached. With
        ``retry=False`` (a write) a replica that was sent the request but did not answer
        is not passed over: the caller answers 503, and the client's retry is then a
        duplicate there instead of a second assignment elsewhere."""
        for peer in self._replicas_elsewhere(receiver):
            try:
                conn = await self.node.peers.link(peer)
            except Unavailable as exc:
                log.debug("no link to %s for %s: %s", peer, op, exc.message)
                continue
            try:
                return await conn.request(op, **fields)
            except Unavailable as exc:
                if not retry:
                    raise Unavailable(
                        f"the replica did not answer in time: {exc.message}"
                    ) from None
                log.debug("%s at %s failed: %s", op, peer, exc.message)
        return None

    # -- writes -------------------------------------------------------------------------

    async def write(self, doc: dict[str, Any], source: str, size: int) -> Row:
        """A store, tag, note or edit from a client at ``source`` (its IP) of ``size`` bytes
        (the request's body); raises ``Unavailable`` below quorum. It is charged to the
        legacy per-ID bucket and to the node's own write budgets (per ID, per source, the
        whole node), as a native write is: fresh IDs from one source cannot multiply their
        writes here either. A write refused by one budget is charged to none."""
        req, replayed = await self._parse(doc)
        self._check_ready()
        if replayed is not None:
            return replayed
        self.count(req.op if isinstance(req, ChangeRequest) else "store")
        bucket, now = self.buckets.get(req.sender), time.monotonic()
        if bucket.refill(now) < 1.0:
            raise RateLimited("Too many requests")
        refused = self.node.service.budget.take(req.sender, source, size, self.now_ms() / 1000)
        if refused is not None:
            log.debug("legacy write refused: %s", refused)
            raise RateLimited("Too many requests")
        bucket.take(now)
        reply = await self._ask(req.receiver, "peer.legacy.accept", retry=False, request=doc)
        if reply:
            row, ok = _row(reply.get("row")), reply.get("quorum") is True
        else:
            row, ok = await self.accept(req)
        if not ok:
            raise Unavailable("Stored on fewer supernodes than the write quorum: retry")
        return dict(row)

    async def _parse(self, doc: Any) -> tuple[Request, Row | None]:
        """The request, checked; outside the clock window, a replay of a stored request
        still answers its row (whatever its age) instead of "Invalid Time"."""
        try:
            return parse_write(doc, self.now_ms(), self.delay_delta), None
        except StaleTime:
            try:
                req = parse_write(doc, None, 0)
            except FlocloudError:
                raise StaleTime("Invalid Time") from None
            row = await self.store.stored_row(req)
            if row is None and not self.serves_here(req.receiver):
                reply = await self._ask(req.receiver, "peer.legacy.replayed", request=doc)
                row = _row(reply.get("row")) if reply and reply.get("row") is not None else None
            if row is None:
                raise
            return req, dict(row)

    async def accept(self, req: Request) -> tuple[Row, bool]:
        """Store here (assigning), forward to the replicas; the row and whether W committed."""
        svc = self.node.service
        await svc.catch_up_key(req.receiver)  # a replay must find the first assignment
        acc = await self.store.accept(
            req, self.now_ms(), quota_bytes=svc.config.limits.quota_bytes_per_id, check=self.check
        )
        if not acc.duplicate:
            self.notify(acc.row)
            svc.metrics.accepted += 1
        else:
            svc.metrics.duplicates += 1
        if svc.replicate is None:
            return acc.row, True
        replicas, need = await svc.replicate(acc.record, PutResult(0, acc.duplicate, acc.dots))
        return acc.row, replicas >= need

    # -- reads --------------------------------------------------------------------------

    async def query(self, doc: dict[str, Any], *, strings: bool = False) -> list[Row]:
        q = parse_query(doc, strings=strings)
        self._check_ready()
        self.count("query")
        reply = await self._ask(q.receiver, "peer.legacy.query", query=doc, strings=strings)
        if reply is not None:
            rows = reply.get("rows")
            if not isinstance(rows, list):
                raise Unavailable("a replica answered a query without rows: ask again")
            return [_row(r) for r in rows]
        return await self.query_here(q)

    async def query_here(self, q: LegacyQuery) -> list[Row]:
        """Answer from this replica after taking what the inbox's other live replicas hold
        and this one lacks (a write acked by W of N may not have reached it yet): the
        existing client expects every node to answer alike."""
        await self.node.service.catch_up_key(q.receiver)
        return await self.store.query(q, self.config.query_max_rows)

    def serves_here(self, receiver: str) -> bool:
        return not self._replicas_elsewhere(receiver)

    # -- live ---------------------------------------------------------------------------

    def subscribe(self, sub: LiveSub) -> Callable[[], None]:
        self.live.setdefault(sub.receiver, set()).add(sub)

        def cancel() -> None:
            subs = self.live.get(sub.receiver)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    self.live.pop(sub.receiver, None)

        return cancel

    def notify(self, row: Row) -> None:
        for sub in list(self.live.get(row["proxyID"], ())):
            if sub.wants(row):
                sub.push(row)

    def watch(
        self, receiver: str, push: Callable[[Row], None], resync: Callable[[], None]
    ) -> RemoteWatch:
        w = RemoteWatch(self, receiver, push, resync)
        w.start()
        return w

    # -- peer requests ------------------------------------------------------------------

    async def peer_op(self, conn: Connection, op: str, f: dict[str, Any]) -> dict[str, Any]:
        if op == "peer.legacy.accept":
            req, replayed = await self._parse(f.get("request"))
            if replayed is not None:
                return {"row": replayed, "quorum": True}
            row, ok = await self.accept(req)
            return {"row": row, "quorum": ok}
        if op == "peer.legacy.replayed":
            return {"row": await self.store.stored_row(parse_write(f.get("request"), None, 0))}
        if op == "peer.legacy.query":
            q = parse_query(f.get("query"), strings=f.get("strings") is True)
            return {"rows": await self.query_here(q)}
        if op == "peer.legacy.watch":
            sub_id, receiver = f.get("sub"), f.get("receiver")
            if not isinstance(sub_id, str) or not isinstance(receiver, str):
                raise BadFormat("peer.legacy.watch needs sub and receiver")

            def push(row: Row) -> None:
                data = orjson.dumps({"sub": sub_id, "row": row})
                if not conn._full(len(data)):  # a peer that does not read misses pushes
                    conn._queue(data)

            watches = conn.legacy_watches
            if sub_id not in watches and len(watches) >= MAX_WATCHES:
                raise RateLimited(f"at most {MAX_WATCHES} legacy watches per peer link")
            old = watches.pop(sub_id, None)
            if old is not None:  # the same sub again: the new one replaces it
                old()
            watches[sub_id] = self.subscribe(LiveSub(receiver, lambda r: True, push))
            if len(watches) == 1:  # (again after all ended: the extra cleanup finds none)

                def close_all() -> None:
                    for stop in list(watches.values()):
                        stop()
                    watches.clear()

                conn.on_close.append(close_all)
            return {"sub": sub_id}
        if op == "peer.legacy.unwatch":  # a watcher's socket moved on (RemoteWatch.stop)
            stop = conn.legacy_watches.pop(str(f.get("sub")), None)
            if stop is not None:
                stop()
            return {"sub": f.get("sub")}
        raise BadFormat(f"unknown op {op!r}")


class RemoteWatch:
    """Rows of an inbox committed on a replica, pushed to this node over a peer link.
    When the link fails it moves to another live replica and calls ``resync`` (the caller
    re-reads what it may have missed)."""

    def __init__(
        self,
        svc: LegacyService,
        receiver: str,
        push: Callable[[Row], None],
        resync: Callable[[], None],
    ) -> None:
        self.svc, self.receiver, self.push, self.resync = svc, receiver, push, resync
        self.task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # watching, or no replica could be asked

    async def ready(self, timeout: float) -> None:
        await woken(self._ready, timeout)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"legacy-watch {self.receiver}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        first = True
        while True:
            for peer in self.svc._replicas_elsewhere(self.receiver):
                sub = "legacy-" + os.urandom(6).hex()
                try:
                    conn = await self.svc.node.peers.link(peer)
                    queue = conn.open_subscription(sub)
                    try:
                        await conn.request("peer.legacy.watch", sub=sub, receiver=self.receiver)
                        self._ready.set()
                        if not first:
                            self.resync()
                        first = False
                        while True:
                            frame = await queue.get()
                            if isinstance(frame, FlocloudError):
                                break
                            row = frame.get("row")
                            if isinstance(row, dict) and all(k in row for k in ROW_FIELDS):
                                self.push(row)
                            else:
                                log.debug("legacy watch at %s: a frame without a row", peer)
                    finally:
                        conn.close_subscription(sub)
                        _unwatch(conn, sub)
                except FlocloudError as exc:
                    log.debug("legacy watch at %s failed: %s", peer, exc.message)
            first = False
            self._ready.set()
            await asyncio.sleep(0.5)


def _row(value: Any) -> Row:
    """A row a replica sent (``peer.legacy.*``): a dict with every row field, else
    ``unavailable`` (the client then tries again or elsewhere), never a crash."""
    if not isinstance(value, dict) or not all(k in value for k in ROW_FIELDS):
        raise Unavailable("a replica answered with a malformed row: ask again")
    return value


def _unwatch(conn: Any, sub: str) -> None:
    """Tell the replica this watch ended (best effort, in the background): its pushes for
    ``sub`` stop at once instead of when the peer link closes."""
    task = asyncio.ensure_future(conn.request("peer.legacy.unwatch", sub=sub))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
