"""What a supernode does with a request, independent of the transport.

Invariants owned here:
- A write is acknowledged only after the store committed it; the ack carries the node's
  ``seq`` (the incremental cursor) and whether it was a duplicate.
- Order of checks for a write: envelope validation (size, format, signature, clock), then
  rate limit per sender ID, then permissions from the application registry, then the
  store's atomic checks (duplicate, quota, compare-and-set, schema).
- Live delivery happens after commit, from the store's commit callback, so a subscriber
  never sees a write that could still be lost.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flocloud.protocol.envelope import Envelope, parse_envelope
from flocloud.protocol.envelope import Limits as EnvelopeLimits
from flocloud.protocol.errors import BadFormat, NotFound, RateLimited
from flocloud.protocol.objects import merge_diff
from flocloud.protocol.writes import (
    About,
    ObjectWrite,
    SchemaWrite,
    check_about_permission,
    check_object_permission,
    check_schema_permission,
    parse_write,
)
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter, PutResult, Record

from .config import AppConfig, NodeConfig
from .limits import BucketMap, Metrics

__all__ = ["KindRecord", "NodeService", "RecordKind", "Subscriber", "parse_filter"]


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
    async def store_replica(self, rec: Any, origin: str, kseq: int | None) -> PutResult: ...


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadFormat(f"filter.{key} must be a string")
    return v


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if type(v) is not int:
        raise BadFormat(f"filter.{key} must be an integer")
    return int(v)


def parse_filter(d: Any, max_limit: int) -> MessageFilter:
    """A query/subscription filter from its wire form."""
    if not isinstance(d, Mapping):
        raise BadFormat("filter must be an object")
    receiver = _opt_str(d, "receiver")
    if not receiver:
        raise BadFormat("filter.receiver is required")
    ids = d.get("ids")
    if ids is not None and (
        not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > 1000
    ):
        raise BadFormat("filter.ids must be a list of at most 1000 message ids")
    limit = _opt_int(d, "limit")
    order = d.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadFormat('filter.order must be "asc" or "desc"')
    return MessageFilter(
        receiver=receiver,
        application=_opt_str(d, "application"),
        type=_opt_str(d, "type"),
        sender=_opt_str(d, "sender"),
        comment=_opt_str(d, "comment"),
        since=_opt_int(d, "since"),
        until=_opt_int(d, "until"),
        ids=tuple(ids) if ids is not None else None,
        after=_opt_int(d, "after"),
        limit=max(1, min(limit if limit is not None else 100, max_limit)),
        newest_first=order == "desc",
        include_deleted=bool(d.get("include_deleted", False)),
        kind=_kind(d),
    )


def _kind(d: Mapping[str, Any]) -> str | None:
    """``filter.kind``: records of another kind instead of envelopes (``"legacy"``: the
    existing FLO cloud's writes, as records of their own, docs/legacy.md)."""
    kind = d.get("kind")
    if kind not in (None, "legacy"):
        raise BadFormat('filter.kind must be "legacy" when given')
    return kind


@dataclass(eq=False)  # identity semantics: kept in a set
class Subscriber:
    """A live subscription: ``deliver`` is called after commit for matching records."""

    filter: MessageFilter
    deliver: Callable[[Record], None]


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
        self.id_buckets = BucketMap(lim.rate_per_id, lim.burst_per_id)
        self.apps: dict[str, AppConfig] = dict(config.apps)
        self.subscribers: set[Subscriber] = set()
        self.replicate: Callable[[Envelope | KindRecord, int], Awaitable[int]] | None = None
        # record kinds besides envelopes: replicas verify and store them with these
        self.kinds: dict[str, RecordKind] = {}
        # before serving a receiver: make sure this node holds what its replicas hold
        self.prepare_key: Callable[[str], Awaitable[None]] | None = None
        store.on_commit = self._on_commit

    def set_apps(self, apps: Mapping[str, AppConfig]) -> None:
        """Replace the application registry (from the chain)."""
        merged = dict(self.config.apps)
        merged.update(apps)
        self.apps = merged

    # -- writes -------------------------------------------------------------------------

    async def put(self, wire: Any, *, restore: bool = False) -> dict[str, Any]:
        """Accept a client write. ``restore`` (re-storing exported messages) skips only the
        clock-skew check: the signature and every other rule still apply."""
        now = None if restore else self.now_ms()
        env = parse_envelope(wire, now_ms=now, limits=self.envelope_limits)
        body = env.body
        if not self.id_buckets.take(body.senderID, self.now_ms() / 1000):
            raise RateLimited(
                f"{body.senderID} is writing faster than {self.config.limits.rate_per_id}/s"
            )
        write = parse_write(body)
        app = self.apps.get(body.application)
        admin, trusted = (app.admin, app.trusted) if app else (None, ())
        if isinstance(write, ObjectWrite):
            check_object_permission(body.senderID, admin, trusted)
        elif isinstance(write, SchemaWrite):
            check_schema_permission(body.senderID, admin)
        elif isinstance(write, About):
            target = await self.store.message(write.target_id)
            if target is None:
                raise NotFound(f"message {write.target_id} is not stored here")
            target_app = self.apps.get(target.application)
            check_about_permission(
                write.kind, body.senderID, target.receiver, target_app.admin if target_app else None
            )
        if self.prepare_key is not None:
            await self.prepare_key(body.receiverID)
        result = await self.store.put(
            env, self.now_ms(), quota_bytes=self.config.limits.quota_bytes_per_id, write=write
        )
        if result.duplicate:
            self.metrics.duplicates += 1
        else:
            self.metrics.accepted += 1
        ack: dict[str, Any] = {"msgId": env.id, "seq": result.kseq, "duplicate": result.duplicate}
        if result.version is not None:
            ack["version"] = result.version
        if self.replicate is not None:
            ack["replicas"] = 1 + await self.replicate(env, result.kseq)
        return ack

    def parse_replica(self, rec: Mapping[str, Any]) -> Envelope | KindRecord:
        """A replicated record from the wire, verified by the rules of its ``kind``."""
        kind = rec.get("kind")
        if kind is None:
            return parse_envelope(rec.get("envelope"), now_ms=None, limits=self.envelope_limits)
        handler = self.kinds.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise BadFormat(f"unknown record kind {kind!r}")
        return handler.parse(rec.get("envelope"))

    async def store_replica(
        self, env: Envelope | KindRecord, origin: str, kseq: int | None = None
    ) -> PutResult:
        """Store a write a peer forwarded or we pulled: already accepted by a supernode, so
        only the rules every node must agree on apply (signature, permissions, store)."""
        if not isinstance(env, Envelope):
            return await self.kinds[env.kind].store_replica(env, origin, kseq)
        write = parse_write(env.body)
        app = self.apps.get(env.body.application)
        admin, trusted = (app.admin, app.trusted) if app else (None, ())
        if isinstance(write, ObjectWrite):
            check_object_permission(env.body.senderID, admin, trusted)
        elif isinstance(write, SchemaWrite):
            check_schema_permission(env.body.senderID, admin)
        result = await self.store.put(env, self.now_ms(), origin=origin, kseq=kseq, write=write)
        self.metrics.replicated += 0 if result.duplicate else 1
        return result

    def _on_commit(self, committed: list[tuple[Record, str | None]]) -> None:
        for rec, comment in committed:
            for sub in list(self.subscribers):
                if sub.filter.matches(rec, comment):
                    sub.deliver(rec)

    # -- reads --------------------------------------------------------------------------

    async def query(self, filt: Any) -> dict[str, Any]:
        f = parse_filter(filt, self.config.limits.query_max_limit)
        if self.prepare_key is not None:
            await self.prepare_key(f.receiver)
        records, more = await self.store.query(f)
        nxt = records[-1].kseq if records else f.after
        return {"messages": [r.to_wire() for r in records], "next": nxt, "more": more}

    async def object_get(self, application: Any, name: Any, version: Any = None) -> dict[str, Any]:
        if not isinstance(application, str) or not isinstance(name, str):
            raise BadFormat("application and name must be strings")
        if version is not None and type(version) is not int:
            raise BadFormat("version must be an integer")
        obj = await self.store.get_object(application, name, version)
        if obj is None:
            raise NotFound(
                f"object {application}/{name}"
                + (f" version {version}" if version else "")
                + " not found"
            )
        return {
            "application": application,
            "name": name,
            "version": obj.version,
            "value": obj.value,
            "msgId": obj.id,
        }

    async def object_changes(
        self, application: Any, name: Any, since_version: Any, mode: Any = "patches"
    ) -> dict[str, Any]:
        if not isinstance(application, str) or not isinstance(name, str):
            raise BadFormat("application and name must be strings")
        if type(since_version) is not int or since_version < 0:
            raise BadFormat("since_version must be a non-negative integer")
        if mode not in ("patches", "diff"):
            raise BadFormat('mode must be "patches" or "diff"')
        latest = await self.store.get_object(application, name)
        if latest is None:
            raise NotFound(f"object {application}/{name} not found")
        if mode == "patches":
            changes = await self.store.object_changes(application, name, since_version)
            return {
                "version": latest.version,
                "changes": [
                    {
                        "version": c.version,
                        "kind": c.kind,
                        "change": c.change,
                        "msgId": c.id,
                        "sender": c.sender,
                        "time": c.time,
                    }
                    for c in changes
                ],
            }
        base = (
            await self.store.get_object(application, name, since_version) if since_version else None
        )
        base_value = base.value if base else None
        patch = merge_diff(base_value, latest.value) if since_version and base else None
        if patch is None:
            return {"version": latest.version, "kind": "reset", "value": latest.value}
        return {"version": latest.version, "kind": "patch", "patch": patch}

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
            },
            "retention": {"messages": "kept until deleted by the receiver or an app admin"},
            "apps": sorted(self.apps),
        }
