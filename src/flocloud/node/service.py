"""What a supernode does with a request, independent of the transport.

Invariants owned here:
- A write is acknowledged only after the store committed it, and ``ok`` only once ``W``
  nodes of its sloppy quorum hold it; below that the answer is ``unavailable`` with
  ``replicas`` (the write is stored; retrying is idempotent). The ack carries the write's
  dots and whether it was a duplicate.
- A node that is neither a replica nor a stand-in of the key forwards the write to one
  that is (``forward``) instead of numbering it on the side.
- Order of checks for a write: envelope validation (size, format, signature, clock), then
  the write budgets (sender ID, source, node), then permissions from the application
  registry, then the store's atomic checks (duplicate, quota, known parents, schema); a
  strict object's write goes through its majority round first (``strict.py``).
- Live delivery happens after commit, from the store's commit callback, so a subscriber
  never sees a write that could still be lost. Subscribers are indexed by receiver: a
  commit costs the same however many subscribers other keys have.
- Replicated writes pass the same permission rules as client writes (objects, schemas,
  deletes, tags, notes): a peer cannot store what a client could not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flocloud.protocol.cursor import Cursor, Dot, Range
from flocloud.protocol.envelope import Envelope, parse_unverified
from flocloud.protocol.envelope import Limits as EnvelopeLimits
from flocloud.protocol.errors import (
    BadFormat,
    FlocloudError,
    NotFound,
    NotListed,
    RateLimited,
    StaleTime,
    Unavailable,
)
from flocloud.protocol.keys import decode_address
from flocloud.protocol.writes import (
    About,
    MessageWrite,
    ObjectWrite,
    SchemaWrite,
    Write,
    check_about_permission,
    check_object_permission,
    check_schema_permission,
    parse_write,
)
from flocloud.replication import lacking
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter, PutResult, QueryPage, Record

from . import objects
from .config import AppConfig, NodeConfig
from .limits import Metrics, WriteBudget
from .requests import Filter
from .verify import BatchVerifier

__all__ = ["KindRecord", "NodeService", "RecordKind", "Subscriber", "parse_filter"]

log = logging.getLogger("flocloud.node.service")
_NOT_STORED = Unavailable("not stored")  # a placeholder every record's outcome replaces


def _free_of_rules(write: Write) -> bool:
    """Whether ``NodeService._check_permissions`` has nothing to check for ``write``: a
    plain message (the application rules are about objects, schemas and writes about a
    message). The bulk path of replicated writes skips the check for these only."""
    return type(write) is MessageWrite


class KindRecord(Protocol):
    """A replicated record of a kind other than the flocloud envelope (``kind`` names it)."""

    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def receiver(self) -> str: ...
    def to_wire(self) -> dict[str, Any]: ...


class RecordKind(Protocol):
    """How replication verifies and stores the records of one kind (``NodeService.kinds``)."""

    def parse(self, wire: Any) -> KindRecord: ...
    async def store_replica(
        self, rec: Any, origin: str, dots: tuple[Dot, ...] | None
    ) -> PutResult: ...


def parse_filter(d: Filter, max_limit: int, max_bytes: int | None = None) -> MessageFilter:
    """A query/subscription filter from its validated wire form (``requests.Filter``)."""
    if d.order == "desc" and d.after not in (None, ""):
        raise BadFormat("a newest-first query has no cursor: leave out after")
    decode_address(d.receiver)  # invalid-address, for a query and a subscription alike
    return MessageFilter(
        receiver=d.receiver,
        application=d.application,
        type=d.type,
        sender=d.sender,
        comment=d.comment,
        since=d.since,
        until=d.until,
        ids=tuple(d.ids) if d.ids is not None else None,
        after=Cursor.decode(d.after),
        limit=max(1, min(d.limit if d.limit is not None else 100, max_limit)),
        newest_first=d.order == "desc",
        include_deleted=d.include_deleted,
        max_bytes=max_bytes,
        kind=d.kind,
    )


@dataclass(eq=False)  # identity semantics: kept in a set
class Subscriber:
    """A live subscription: ``deliver(record, matching)`` is called after commit for every
    write of the filter's receiver (``matching``: whether the filter selects it)."""

    filter: MessageFilter
    deliver: Callable[[Record, bool], None]


Replicate = Callable[[Any, PutResult], Awaitable[tuple[int, int]]]


SETTLED_SECONDS = 30.0  # how long "no holder has these dots" is believed
SETTLED_ENTRIES = 4096


class NodeService:
    def __init__(
        self,
        config: NodeConfig,
        store: SqliteStore,
        *,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.config = config
        self.store = store
        self.now_ms = now_ms
        self.metrics = Metrics()
        lim = config.limits
        self.envelope_limits = EnvelopeLimits(lim.max_message_bytes, lim.max_depth, lim.max_skew_ms)
        self.budget = WriteBudget(lim)
        self.query_slots = asyncio.Semaphore(lim.max_queries_total)
        self.verifier = BatchVerifier(
            config.verify_threads,
            processes=config.verify_processes,
            inline_max=config.verify_inline_max,
        )
        self.apps: dict[str, AppConfig] = dict(config.apps)
        # a node that follows a registry learns its applications (which objects are
        # strict) when it first reads it; until then it cannot tell a strict object
        self.apps_read = not (config.chain.explorer and config.chain.registry)
        self.subscribers: dict[str, set[Subscriber]] = {}  # by receiver
        # set by the replication shell (node/peers.py): forward a committed write to its
        # quorum -> (nodes holding it, W); hand a write to a replica when this node is not
        # one -> that node's ack (or None: accept here); pull a key from its replicas
        self.replicate: Replicate | None = None
        self.forward: Callable[[Envelope], Awaitable[dict[str, Any] | None]] | None = None
        self.pull_key: Callable[[str, Cursor], Awaitable[None]] | None = None
        # fetch the writes held under dots this node lacks -> every holder answered
        self.pull_lacking: Callable[[str, tuple[Range, ...]], Awaitable[bool]] | None = None
        # lacking dots that every holder said nobody has (receiver, ranges) -> until when
        # (monotonic s): a cursor naming them is answered without asking again for a while,
        # so a client cannot make every query of a made-up cursor cost a round of peers
        self._settled: dict[tuple[str, tuple[Range, ...]], float] = {}
        self.is_replica: Callable[[str], bool] = lambda key: True
        # others that follow commits (anti-entropy's shared roots)
        self.commit_listeners: list[Callable[[list[tuple[Record, str | None]]], None]] = []
        # strict objects (node/strict.py): an ack, or None for a merge object
        self.strict_write: (
            Callable[[Envelope, ObjectWrite], Awaitable[dict[str, Any] | None]] | None
        ) = None
        self.strict_sync: Callable[[str, str], Awaitable[int]] | None = None
        # listed in the registry: None without a chain (a standalone node), False until
        # the registry is read and shows this node; client writes need it not False
        self.listed: bool | None = None
        self.registry_id = config.chain.registry
        # record kinds besides envelopes: replicas verify and store them with these
        self.kinds: dict[str, RecordKind] = {}
        store.on_commit = self._on_commit

    def add_subscriber(self, sub: Subscriber) -> None:
        self.subscribers.setdefault(sub.filter.receiver, set()).add(sub)
        self.metrics.subscriptions += 1

    def remove_subscriber(self, sub: Subscriber) -> None:
        subs = self.subscribers.get(sub.filter.receiver)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self.metrics.subscriptions -= 1
            if not subs:
                del self.subscribers[sub.filter.receiver]

    def set_apps(self, apps: Mapping[str, AppConfig]) -> None:
        """Replace the application registry (from the chain)."""
        merged = dict(self.config.apps)
        merged.update(apps)
        self.apps = merged
        self.apps_read = True

    def require_apps(self, what: str) -> None:
        """``unavailable`` while the application registry is not read yet (just started):
        whether ``what`` is a strict object is not known."""
        if not self.apps_read:
            raise Unavailable(
                f"{what}: this node has not read the application registry yet, try again"
            )

    # -- writes -------------------------------------------------------------------------

    async def put(
        self,
        wire: Any,
        *,
        restore: bool = False,
        source: str | None = None,
        forwarded: bool = False,
    ) -> dict[str, Any]:
        """Accept a client write from ``source`` (the client's IP, for its write budget).

        ``restore`` (re-storing exported messages) lifts only the lower bound of the clock
        window: anyone may restore a write however old, never one dated more than
        ``max_skew_ms`` ahead. The signature, the budgets and every other rule still apply.
        ``forwarded``: a peer handed it on (``peer.forward``); it is taken here, never
        forwarded again.
        """
        if self.listed is False and not forwarded:
            raise NotListed(
                f"this supernode is not listed in the registry {self.registry_id}: "
                "write to a listed supernode"
            )
        now = self.now_ms()
        env = parse_unverified(wire, now_ms=None if restore else now, limits=self.envelope_limits)
        await self.verifier.check(env)
        body = env.body
        if restore and body.time > now + self.config.limits.max_skew_ms:
            raise StaleTime("a restored write may be old, not dated in the future")
        refused = self.budget.take(body.senderID, source, env.size, self.now_ms() / 1000)
        if refused is not None:
            raise RateLimited(refused)
        write = parse_write(body)
        await self._check_permissions(env, write, client=True)
        if self.forward is not None and not forwarded:
            handed = await self.forward(env)
            if handed is not None:
                return handed
        if isinstance(write, ObjectWrite) and self.strict_write is not None:
            strict_ack = await self.strict_write(env, write)
            if strict_ack is not None:
                return strict_ack
        quota = self.config.limits.quota_bytes_per_id

        def store() -> Awaitable[PutResult]:
            return self.store.put(env, self.now_ms(), quota_bytes=quota, write=write)

        # an object write based on a version not here yet: fetched, then tried once more
        is_object = isinstance(write, ObjectWrite)
        result = await (objects.pulled(self, body.receiverID, store) if is_object else store())
        if result.duplicate:
            self.metrics.duplicates += 1
        else:
            self.metrics.accepted += 1
        ack: dict[str, Any] = {
            "msgId": env.id,
            "dots": [list(d) for d in result.dots],
            "duplicate": result.duplicate,
        }
        if result.version is not None:
            ack["version"] = result.version
        if self.replicate is not None:
            copies, need = await self.replicate(env, result)
            ack["replicas"] = copies
            if copies < need:
                self.metrics.rejected["below-quorum"] += 1
                raise Unavailable(
                    f"stored on {copies} of the {need} supernodes a write needs; it is kept "
                    "and sending it again is safe",
                    {k: ack[k] for k in ("msgId", "dots", "replicas")},
                )
        return ack

    async def _check_permissions(self, env: Envelope, write: Any, *, client: bool) -> None:
        """The application rules of a write (docs/protocol.md §8.1), for clients and
        replicas alike. A delete/tag/note whose target is not here yet (a replica got the
        tombstone first) is checked against its own receiver, which the store later
        requires to be the target's."""
        body = env.body
        app = self.apps.get(body.application)
        admin, trusted = (app.admin, app.trusted) if app else (None, ())
        if isinstance(write, ObjectWrite):
            check_object_permission(body.senderID, admin, trusted)
        elif isinstance(write, SchemaWrite):
            check_schema_permission(body.senderID, admin)
        elif isinstance(write, About):
            target = await self.store.message(body.receiverID, write.target_id)
            if target is None and client:
                raise NotFound(f"message {write.target_id} is not stored for {body.receiverID}")
            target_app = self.apps.get(target.application) if target is not None else app
            check_about_permission(
                write.kind, body.senderID, body.receiverID, target_app.admin if target_app else None
            )

    def _parse_unchecked(self, rec: Mapping[str, Any]) -> Envelope | KindRecord:
        """A replicated record from the wire by the rules of its ``kind``; an envelope's
        signature is not checked yet, nor its clock (it was accepted elsewhere, maybe long
        ago)."""
        kind = rec.get("kind")
        if kind is None:
            return parse_unverified(rec.get("envelope"), now_ms=None, limits=self.envelope_limits)
        handler = self.kinds.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise BadFormat(f"unknown record kind {str(kind)[:32]!r}")
        return handler.parse(rec.get("envelope"))

    async def parse_replicas(
        self, records: Sequence[Mapping[str, Any]]
    ) -> list[Envelope | KindRecord | FlocloudError]:
        """Replicated records from the wire, each verified by the rules of its ``kind``,
        in order, the envelopes' signatures checked together (``BatchVerifier.check_many``):
        each one's parse, or the error that refuses it (one record's fault never fails
        the others)."""
        out: list[Envelope | KindRecord | FlocloudError] = []
        at: list[int] = []
        for rec in records:
            try:
                out.append(self._parse_unchecked(rec))
            except FlocloudError as exc:
                out.append(exc)
                continue
            except Exception as exc:  # a bug in a record kind's rules: refuse this one
                log.exception("parsing a replicated record failed")
                out.append(Unavailable(f"record not parsed: {exc!r}"[:200]))
                continue
            if isinstance(out[-1], Envelope):
                at.append(len(out) - 1)
        envs = [out[i] for i in at]
        for i, err in zip(at, await self.verifier.check_many(envs), strict=True):  # type: ignore[arg-type]
            if err is not None:
                out[i] = err
        return out

    async def store_replicas(
        self, writes: Sequence[tuple[Envelope | KindRecord, tuple[Dot, ...] | None]], origin: str
    ) -> list[PutResult | FlocloudError]:
        """``store_replica`` of each ``(parsed record, dots)``: writes no permission rule
        applies to (``_free_of_rules``) go to the store at once, in order, the others one
        by one concurrently after them; each one's result, or the error that refuses it
        (one record's fault never fails the others)."""
        out: list[PutResult | FlocloudError] = [_NOT_STORED] * len(writes)
        free: list[tuple[Envelope, Write, tuple[Dot, ...] | None]] = []
        free_at: list[int] = []
        others: list[tuple[int, Envelope | KindRecord, Write | None]] = []
        for i, (env, dots) in enumerate(writes):
            try:
                write = parse_write(env.body) if isinstance(env, Envelope) else None
            except FlocloudError as exc:  # refused alone, as store_replica refuses it
                out[i] = exc
                continue
            if isinstance(env, Envelope) and write is not None and _free_of_rules(write):
                free.append((env, write, dots))
                free_at.append(i)
            else:
                others.append((i, env, write))

        async def one(i: int, env: Envelope | KindRecord, write: Write | None) -> None:
            dots = writes[i][1]
            try:
                if isinstance(env, Envelope) and write is not None:
                    out[i] = await self._store_write(env, write, origin, dots)
                else:
                    out[i] = await self.store_replica(env, origin, dots)
            except FlocloudError as exc:
                out[i] = exc
            except Exception as exc:  # a bug: refuse this record, never the page
                log.exception("storing a replicated record failed")
                out[i] = Unavailable(f"record not stored: {exc!r}"[:200])

        async def batch() -> None:
            try:
                results = await self.store.put_replicas(free, self.now_ms(), origin)
            except FlocloudError as exc:  # the store is closed: none of them is stored
                results = [exc] * len(free)
            for i, r in zip(free_at, results, strict=True):
                out[i] = r
                if isinstance(r, PutResult) and not r.duplicate:
                    self.metrics.replicated += 1

        await asyncio.gather(batch(), *(one(*o) for o in others))
        return out

    async def store_replica(
        self, env: Envelope | KindRecord, origin: str, dots: tuple[Dot, ...] | None = None
    ) -> PutResult:
        """Store a write a peer forwarded or we pulled: already accepted by a supernode, so
        only the rules every node must agree on apply (signature, permissions, store).
        ``dots``: the write's dots as the peer holds them (kept verbatim)."""
        if not isinstance(env, Envelope):
            return await self.kinds[env.kind].store_replica(env, origin, dots)
        return await self._store_write(env, parse_write(env.body), origin, dots)

    async def _store_write(
        self, env: Envelope, write: Write, origin: str, dots: tuple[Dot, ...] | None
    ) -> PutResult:
        await self._check_permissions(env, write, client=False)
        result = await self.store.put(env, self.now_ms(), origin=origin, dots=dots, write=write)
        self.metrics.replicated += 0 if result.duplicate else 1
        return result

    def _on_commit(self, committed: list[tuple[Record, str | None]]) -> None:
        for listener in self.commit_listeners:
            listener(committed)
        for rec, comment in committed:
            subs = self.subscribers.get(rec.receiver)
            if subs:
                for sub in list(subs):
                    sub.deliver(rec, sub.filter.matches(rec, comment))

    async def catch_up_key(self, key: str) -> bool:
        """Take from ``key``'s other replicas what they hold beyond this node's held cursor
        (a write acked by W of N may not have reached this one yet; only the difference
        travels). False when there is no replication shell to ask."""
        if self.pull_key is None:
            return False
        await self.pull_key(key, await self.store.held_cursor(key))
        return True

    # -- reads --------------------------------------------------------------------------

    async def query(self, filt: Filter) -> dict[str, Any]:
        """A page of matches: at most ``limit`` records and about ``max_reply_bytes``."""
        lim = self.config.limits
        f = parse_filter(filt, lim.query_max_limit, lim.max_reply_bytes)
        async with self.query_slots:  # pages being read, node-wide: bounded memory
            page = await self.read(f)
        out: dict[str, Any] = {
            "messages": [r.to_wire() for r in page.records],
            "next": page.cursor.encode() if page.cursor is not None else None,
            "more": page.more,
            "replica": self.is_replica(f.receiver),
        }
        if page.behind:
            out["behind"] = True
        return out

    async def read(self, f: MessageFilter) -> QueryPage:
        """A query page. When the client's cursor covers dots this node lacks (it read
        another replica), they are fetched first (``catch_up_cursor``): a write held here
        under another dot is then known to be one the client has. A node that cannot
        fetch them refuses (``unavailable``) rather than risk sending a write twice."""
        page = await self.store.query(f)
        if f.newest_first or not page.lacking:
            return page
        ok, fetched = await self.catch_up_cursor(f.receiver, f.after, page.lacking)
        if not ok:
            raise Unavailable(
                "behind: this supernode lacks writes your cursor has seen and cannot reach "
                "the replicas that hold them; ask another replica (or again later)",
                {"behind": True},
            )
        return await self.store.query(f) if fetched else page

    async def catch_up_cursor(
        self, receiver: str, cursor: Cursor, lack: tuple[Range, ...] | None = None
    ) -> tuple[bool, bool]:
        """Fetch the dots ``cursor`` covers that this store lacks, from the key's replicas
        and the dots' origins, in rounds while they bring more (``replication.lacking``).
        Returns (may this node answer ``cursor``, did a round run): it may when it lacks
        nothing, or every node asked answered and none holds what is still lacking (its
        write was lost with its store: a client then gets it again only if it was also
        accepted elsewhere; docs/protocol.md §8.2)."""
        if lack is None:
            lack = await self.store.lacking(receiver, cursor)
        if not lack or self.pull_lacking is None:  # a network of one: nobody to ask
            return True, False
        if self._settled.get((receiver, lack), 0.0) > time.monotonic():
            return True, False
        for round_no in range(1, lacking.ROUNDS + 1):
            is_settled = await self.pull_lacking(receiver, lack)
            now = await self.store.lacking(receiver, cursor)
            step = lacking.after_round(lack, now, is_settled, round_no)
            if step is lacking.Next.AGAIN:
                lack = now
                continue
            if step is lacking.Next.ANSWER and now:  # nobody holds them: believed a while
                if len(self._settled) >= SETTLED_ENTRIES:
                    self._settled.pop(next(iter(self._settled)))
                self._settled[(receiver, now)] = time.monotonic() + SETTLED_SECONDS
            return step is lacking.Next.ANSWER, True
        return False, True  # pragma: no cover (after_round refuses at the last round)

    async def object_get(
        self, application: Any, name: Any, version: Any = None, consistent: Any = False
    ) -> dict[str, Any]:
        return await objects.object_get(self, application, name, version, consistent)

    async def object_changes(
        self, application: Any, name: Any, since_version: Any, mode: Any = "patches"
    ) -> dict[str, Any]:
        return await objects.object_changes(self, application, name, since_version, mode)

    async def schemas(self, application: Any) -> dict[str, Any]:
        if not isinstance(application, str):
            raise BadFormat("application must be a string")
        return {"application": application, "schemas": await self.store.schemas(application)}

    def describe(self, node_id: str, pubkey: str) -> dict[str, Any]:
        from flocloud import __version__
        from flocloud.protocol.envelope import PROTOCOL_VERSION

        lim = self.config.limits
        return {
            "name": "flocloud supernode",
            "node_id": node_id,
            "pubKey": pubkey,
            "software": "flocloud",
            "version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "network": self.config.network,
            "supported_features": [
                "put",
                "query",
                "subscribe",
                "objects",
                "schemas",
                "delete",
                "tag",
                "note",
                "encryption-v1",
                *(["legacy-gateway"] if self.config.legacy.enabled else []),
            ],
            "limits": {
                "max_message_bytes": lim.max_message_bytes,
                "max_depth": lim.max_depth,
                "max_skew_ms": lim.max_skew_ms,
                "rate_per_id": lim.rate_per_id,
                "rate_per_connection": lim.rate_per_connection,
                "max_subscriptions": lim.max_subscriptions,
                "quota_bytes_per_id": lim.quota_bytes_per_id,
                "query_max_limit": lim.query_max_limit,
                "max_reply_bytes": lim.max_reply_bytes,
                "max_outgoing_bytes": lim.max_outgoing_bytes,
                "write_timeout_seconds": lim.write_timeout_seconds,
                "max_connections_per_source": lim.max_connections_per_source,
                "rate_per_source": lim.rate_per_source,
                "bytes_per_source": lim.bytes_per_source,
            },
            "retention": {"messages": "kept until deleted by the receiver or an app admin"},
            "apps": sorted(self.apps),
        }
