"""The storage interface of a supernode (``Store``) and its records.

Invariants owned here (every implementation keeps them):
- Every accepted write, whatever its type, is stored as its signed envelope with a local
  log position ``seq`` that is strictly increasing, assigned at commit, never reused: this
  node's log (catch-up reads it). ``seq`` differs between replicas and is never a cursor.
- Every write has one or more **dots** ``(origin, counter)`` (``flocloud.protocol.cursor``):
  assigned by the store that accepted it from a client (its store id, its next counter of
  the receiver) and stored verbatim by every replica. The clients' cursor is a set of dots:
  ``query(after=cursor)`` returns the receiver's writes the cursor does not cover, on any
  replica, and the cursor that covers them too.
- Records of another ``kind`` (``legacy``: the existing FLO cloud's writes) are stored
  verbatim in the same log, with dots and fingerprints, and never answer a query for
  another kind.
- A write's future resolves only after its transaction has committed; a write whose
  transaction failed is never visible.
- The same message id twice is a no-op that returns the original ``seq`` (``duplicate``).
- A write is found by its receiver and its id, never by its id alone: an id is a hash of
  a body that names the receiver, and a delete, tag or note is about a write of its own
  receiver (a target stored for another receiver is not its target).
- Objects, schemas, tombstones, tags and notes are derived from the stored writes inside
  the same transaction, so the derived state never disagrees with the stored envelopes;
  the derived state is a function of the set of stored writes, not of their arrival
  order (``storage/objects.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from flocloud.protocol.cursor import Cursor, Dot, Range
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.frozen import fast_init

if TYPE_CHECKING:
    from .objects import ObjectChange, ObjectState

EMPTY = Cursor()

__all__ = ["MessageFilter", "PutResult", "QueryPage", "Record", "Store", "StoreStats"]


@fast_init
@dataclass(frozen=True, slots=True)
class PutResult:
    seq: int
    duplicate: bool = False
    dots: tuple[Dot, ...] = ()
    version: str | None = None  # for object writes: the object's version after it


@fast_init
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
    origin: str | None = None  # the peer that forwarded it here (None: a client)
    dots: tuple[Dot, ...] = ()
    kind: str | None = None  # None: a flocloud envelope; "legacy": flocloud.protocol.legacy
    # its fingerprint parts (``write_parts`` of id and dots) when the writer computed them:
    # what a commit listener would hash again (not part of what the record is)
    parts: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    def to_wire(self) -> dict[str, Any]:
        if self.kind is not None:  # the record of its kind, with "kind" to parse it by
            return {"id": self.id, "dots": [list(d) for d in self.dots], "kind": self.kind,
                    "envelope": orjson.loads(self.body), "received_ms": self.received_ms}  # fmt: skip
        return {
            "id": self.id,
            "dots": [list(d) for d in self.dots],
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
    after: Cursor = EMPTY  # what the client already has
    limit: int = 100
    newest_first: bool = False
    include_deleted: bool = False
    max_bytes: int | None = None  # a page also stops before its bodies pass this size
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
class StoreStats:
    messages: int
    objects: int
    bytes: int
    db_bytes: int
    commits: int
    writes: int
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueryPage:
    """A query's answer: the records, whether more remain, the cursor after them
    (``None`` for newest-first queries, which have none), and ``lacking``: the dots the
    client's cursor covers that this store has not got (``behind``: there are some)."""

    records: list[Record]
    more: bool
    cursor: Cursor | None
    lacking: tuple[Range, ...] = ()

    @property
    def behind(self) -> bool:
        return bool(self.lacking)


class Store(Protocol):
    async def put(
        self, env: Envelope, received_ms: int, *, quota_bytes: int | None = None
    ) -> PutResult: ...

    async def query(self, f: MessageFilter) -> QueryPage: ...

    async def get_object(
        self, application: str, name: str, version: str | None = None
    ) -> ObjectState | None: ...

    async def object_changes(
        self, application: str, name: str, since_version: str
    ) -> list[ObjectChange]: ...

    async def schemas(self, application: str) -> dict[str, Any]: ...

    async def message(self, receiver: str, msg_id: str) -> Record | None: ...

    async def stats(self) -> StoreStats: ...

    async def close(self) -> None: ...
