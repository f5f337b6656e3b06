"""The storage interface of a supernode (``Store``) and its records.

Invariants owned here (every implementation keeps them):
- Every accepted write, whatever its type, is stored as its signed envelope with a
  sequence number ``seq`` that is strictly increasing, assigned at commit, never reused:
  this node's log (replication reads it with ``since``). Records of another ``kind``
  (``legacy``: the existing FLO cloud's writes) are stored verbatim in the same log and
  fingerprints, and never answer a query for another kind.
- Every write also has ``kseq``, its receiver's sequence number: assigned by the node that
  accepted the write (one more than the receiver's highest, or than a floor the caller
  gives) and stored unchanged by every replica. It is the clients' cursor:
  ``query(after=kseq)`` returns the receiver's writes after that point, in kseq order, on
  any replica that holds them.
- A write's future resolves only after its transaction has committed; a write whose
  transaction failed is never visible.
- The same message id twice is a no-op that returns the original ``seq`` (``duplicate``).
- Objects, schemas, tombstones, tags and notes are derived from the stored writes inside
  the same transaction, so the derived state never disagrees with the stored envelopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from flocloud.protocol.envelope import Envelope

__all__ = ["MessageFilter", "ObjectVersion", "PutResult", "Record", "Store", "StoreStats"]


@dataclass(frozen=True, slots=True)
class PutResult:
    seq: int
    duplicate: bool = False
    kseq: int = 0
    version: int | None = None  # for object writes: the new version


@dataclass(frozen=True, slots=True)
class Record:
    """A stored write as queries return it."""

    seq: int
    id: str
    receiver: str
    sender: str
    application: str
    type: str
    time: int
    received_ms: int
    body: str
    pubkey: str
    sign: str
    deleted: bool = False
    tags: tuple[str, ...] = ()
    note: str | None = None
    origin: str | None = None
    kseq: int = 0
    kind: str | None = None  # None: a flocloud envelope; "legacy": flocloud.protocol.legacy

    def to_wire(self) -> dict[str, Any]:
        if self.kind is not None:  # the record of its kind, with "kind" to parse it by
            return {"seq": self.kseq, "id": self.id, "kind": self.kind,
                    "envelope": orjson.loads(self.body), "received_ms": self.received_ms}  # fmt: skip
        return {
            "seq": self.kseq,
            "id": self.id,
            "envelope": {"body": self.body, "pubKey": self.pubkey, "sign": self.sign},
            "received_ms": self.received_ms,
            "deleted": self.deleted,
            "tags": list(self.tags),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What a query or subscription selects. ``receiver`` is required."""

    receiver: str
    application: str | None = None
    type: str | None = None
    sender: str | None = None
    comment: str | None = None
    since: int | None = None  # client time, ms, inclusive
    until: int | None = None
    ids: tuple[str, ...] | None = None
    after: int | None = None  # kseq cursor, exclusive
    limit: int = 100
    newest_first: bool = False
    include_deleted: bool = False
    kind: str | None = None  # records of one kind (None: flocloud envelopes); "*": all

    def matches(self, rec: Record, comment: str | None) -> bool:
        """For live subscriptions: does a just-committed record match (cursor aside)?"""
        return (
            rec.receiver == self.receiver
            and (self.kind == "*" or rec.kind == self.kind)
            and (self.application is None or rec.application == self.application)
            and (self.type is None or rec.type == self.type)
            and (self.sender is None or rec.sender == self.sender)
            and (self.comment is None or comment == self.comment)
            and (self.since is None or rec.time >= self.since)
            and (self.until is None or rec.time <= self.until)
            and (self.ids is None or rec.id in self.ids)
            and (self.include_deleted or not rec.deleted)
        )


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    application: str
    name: str
    version: int
    kind: str  # reset | patch
    change: Any  # the value (reset) or the merge patch (patch)
    value: Any  # the whole object after this version
    id: str
    sender: str
    time: int


@dataclass(frozen=True, slots=True)
class StoreStats:
    messages: int
    objects: int
    bytes: int
    db_bytes: int
    commits: int
    writes: int
    extra: dict[str, int] = field(default_factory=dict)


class Store(Protocol):
    async def put(
        self, env: Envelope, received_ms: int, *, quota_bytes: int | None = None
    ) -> PutResult: ...

    async def query(self, f: MessageFilter) -> tuple[list[Record], bool]: ...

    async def get_object(
        self, application: str, name: str, version: int | None = None
    ) -> ObjectVersion | None: ...

    async def object_changes(
        self, application: str, name: str, since_version: int
    ) -> list[ObjectVersion]: ...

    async def schemas(self, application: str) -> dict[str, Any]: ...

    async def message(self, msg_id: str) -> Record | None: ...

    async def stats(self) -> StoreStats: ...

    async def close(self) -> None: ...
