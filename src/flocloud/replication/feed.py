"""The feed rule: answering a cursor from a set of held writes, and a reference store.

This is the executable specification of what a supernode's store does with dots and
cursors (docs/protocol.md §8.2). ``SqliteStore`` implements it in SQL; the deterministic
simulator (``tests/sim``) runs ``MemoryStore``; ``tests/storage/test_feed_model.py``
checks on random operation sequences that the two answer identically, so the simulated
store and the real one cannot drift apart.

Invariants owned here:
- ``answer``: an answer holds only matching writes the cursor does not cover (by any of
  their dots), at most ``limit``, in log order; ``more`` says more remain. The cursor
  after it covers the old cursor, the dots of the writes returned, and held counters
  below the first matching write left out (walking from the frontier, stopping at the
  first counter not held). ``lacking``: the dots the client's cursor covers that are not
  held here (``lacking``, below), as ranges; ``behind`` says there are some. A node that
  is behind must not serve the answer before it fetched those dots or learnt that no
  replica holds them: a write it holds under one dot may be one the client has under
  another (a retry accepted twice, finding E1 of issue 10).
- ``MemoryStore`` (one store, all receivers): a write accepted from a client gets this
  store's next dot of its receiver (counters per receiver, never reused); a replica keeps
  the dots it was given, merged as a union; a dot already taken by another write is not
  stored and the write is kept (a write left without a dot gets one of this store's). The
  same id twice is a duplicate that only adds dots. Deletes, tags and notes are derived
  from the held writes as the SQLite store derives them: a delete, tag or note needs its
  target to be held for its own receiver (a write of another receiver is never its
  target, whatever its id: writes are found by receiver and id), except that a replica keeps a
  tombstone that came before its target (which is then stored deleted). Tags are the
  distinct tags of its tag writes in (signed time, id) order and the note is the newest
  note write's (signed time, then id), as docs/protocol.md §5.2 says, so replicas
  that got the same writes in any order agree on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from flocloud.protocol.cursor import Cursor, Dot, Range, contiguous, lacking

__all__ = [
    "WALK_LIMIT",
    "Answer",
    "Held",
    "MemoryStore",
    "Refused",
    "Write",
    "answer",
]

WALK_LIMIT = 5000  # counters read per origin when a cursor advances (storage/dots.py)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    records: list[T]
    more: bool
    cursor: Cursor
    lacking: tuple[Range, ...] = ()

    @property
    def behind(self) -> bool:
        return bool(self.lacking)


def answer(
    log: Sequence[T],
    dots_of: Callable[[T], Sequence[Dot]],
    id_of: Callable[[T], str],
    matches: Callable[[T], bool],
    cursor: Cursor,
    limit: int,
) -> Answer[T]:
    """The answer to ``cursor`` from ``log`` (one receiver's held writes, in log order)."""
    uncovered = [w for w in log if matches(w) and not cursor.covers_any(dots_of(w))]
    records, more = uncovered[:limit], len(uncovered) > limit
    out = cursor.add(d for w in records for d in dots_of(w))
    delivered = {id_of(w) for w in records}
    held: dict[str, dict[int, T]] = {}
    for w in log:
        for origin, counter in dots_of(w):
            held.setdefault(origin, {})[counter] = w

    def holds(origin: str, c: int) -> bool:
        return c in held.get(origin, {})

    def next_held(origin: str, c: int) -> int | None:
        return min((k for k in held.get(origin, {}) if k > c), default=None)

    missing = lacking(cursor, lambda o: contiguous(lambda c: holds(o, c)), next_held, holds)
    for origin in sorted(out.origins()):
        mine = held.get(origin, {})
        below = None
        if more:  # the frontier must stay below the first matching write left out
            low = cursor.frontier(origin)
            below = min(
                (
                    c
                    for c, w in mine.items()
                    if c > low and matches(w) and id_of(w) not in delivered
                ),
                default=None,
            )
        f = out.frontier(origin)
        top = below if below is not None else 1 << 62
        walk = sorted(c for c in mine if f < c < top)[:WALK_LIMIT]
        out = out.advance(origin, walk)
    return Answer(records, more, out, missing)


# -- a reference store ---------------------------------------------------------------------


class Refused(Exception):
    """A write the store does not take (as the SQLite store raises ``NotFound`` or
    ``BadFormat``): ``code`` is the protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Write:
    """What the feed rule needs of a signed write. ``kind``: ``message`` or one of
    ``delete``, ``tag``, ``note`` (then ``target`` names the message and ``value`` is the
    tag or note)."""

    id: str
    receiver: str
    application: str = "app"
    type: str = "msg"
    kind: str = "message"
    target: str | None = None
    value: str | None = None
    time: int = 0  # the signed time (ms)


@dataclass(frozen=True, slots=True)
class Held:
    """A write as one store holds it."""

    write: Write
    seq: int
    dots: tuple[Dot, ...]
    deleted: bool = False
    tags: tuple[str, ...] = ()
    note: str | None = None
    origin: str | None = None  # the peer it came from (None: a client)

    @property
    def id(self) -> str:
        return self.write.id

    def state(self) -> tuple[str, tuple[Dot, ...], bool, tuple[str, ...], str | None]:
        """Everything replicas must agree on."""
        return (self.id, self.dots, self.deleted, self.tags, self.note)


@dataclass(frozen=True, slots=True)
class PutResult:
    seq: int
    dots: tuple[Dot, ...]
    duplicate: bool = False


@dataclass
class MemoryStore:
    """One node's durable store, in memory. ``store_id`` is its dot origin."""

    store_id: str
    counters: dict[str, int] = field(default_factory=dict)
    by_id: dict[str, Held] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)  # receiver -> ids, log order
    dot_owner: dict[tuple[str, str, int], str] = field(default_factory=dict)
    seq: int = 0
    log: list[tuple[int, str, str, str | None]] = field(default_factory=list)  # for catch-up

    def _merge(self, receiver: str, msg_id: str, dots: Iterable[Dot]) -> tuple[Dot, ...]:
        out = []
        for origin, counter in dots:
            owner = self.dot_owner.setdefault((receiver, origin, counter), msg_id)
            if owner == msg_id:
                out.append((origin, counter))
        return tuple(out)

    def _assign(self, receiver: str) -> Dot:
        c = self.counters.get(receiver, 0) + 1
        self.counters[receiver] = c
        return self.store_id, c

    def put(
        self, w: Write, dots: Sequence[Dot] | None = None, origin: str | None = None
    ) -> PutResult:
        """Store ``w``; ``dots`` given: a replica's copy (else this store accepts it)."""
        old = self.by_id.get(w.id)
        if old is not None:
            have = old.dots
            if dots and not set(dots) <= set(have):
                added = self._merge(w.receiver, w.id, [d for d in dots if d not in have])
                if added:
                    have = tuple(sorted(set(have) | set(added)))
                    self.by_id[w.id] = replace(old, dots=have)
            return PutResult(old.seq, have, duplicate=True)
        target = self._held(w.receiver, w.target)
        if w.kind != "message" and target is None and origin is None:
            # a replica keeps it for its target
            raise Refused("not-found", f"message {w.target} is not stored for {w.receiver}")
        stored = self._merge(w.receiver, w.id, dots) if dots else ()
        if not stored:
            stored = self._merge(w.receiver, w.id, (self._assign(w.receiver),))
        stored = tuple(sorted(set(stored)))
        self.seq += 1
        self.by_id[w.id] = Held(w, self.seq, stored, origin=origin)
        self.logs.setdefault(w.receiver, []).append(w.id)
        self.log.append((self.seq, w.id, w.receiver, origin))
        about = w.id if w.kind == "message" else w.target
        if about is not None and self._held(w.receiver, about) is not None:
            self._derive(about)
        return PutResult(self.seq, stored)

    def _derive(self, msg_id: str) -> None:
        """A message's deleted flag, tags and note from every delete/tag/note about it
        held here: any delete; the distinct tags in (time, id) order; the note of the
        largest (time, id)."""
        held = self.by_id[msg_id]
        about = sorted(
            (
                h
                for h in self._receiver(held.write.receiver)
                if h.write.kind != "message" and h.write.target == msg_id
            ),
            key=lambda h: (h.write.time, h.id),
        )
        tags: list[str] = []
        note = None
        for h in about:
            if h.write.kind == "tag" and h.write.value is not None and h.write.value not in tags:
                tags.append(h.write.value)
            elif h.write.kind == "note":
                note = h.write.value
        deleted = any(h.write.kind == "delete" for h in about)
        self.by_id[msg_id] = replace(held, deleted=deleted, tags=tuple(tags), note=note)

    def _held(self, receiver: str, msg_id: str | None) -> Held | None:
        """The write ``msg_id`` held for ``receiver``: a write is found by both."""
        h = self.by_id.get(msg_id) if msg_id is not None else None
        return h if h is not None and h.write.receiver == receiver else None

    def _receiver(self, receiver: str) -> list[Held]:
        return [self.by_id[i] for i in self.logs.get(receiver, [])]

    def query(
        self,
        receiver: str,
        cursor: Cursor,
        limit: int,
        matches: Callable[[Held], bool] | None = None,
        include_deleted: bool = False,
    ) -> Answer[Held]:
        def ok(h: Held) -> bool:
            return (include_deleted or not h.deleted) and (matches is None or matches(h))

        return answer(self._receiver(receiver), lambda h: h.dots, lambda h: h.id, ok, cursor, limit)

    def drop(self, receiver: str, ids: Iterable[str]) -> int:
        """Hand-off: forget writes of a key this node no longer replicates (counters stay)."""
        gone = {i for i in ids if i in self.by_id and self.by_id[i].write.receiver == receiver}
        for i in gone:
            h = self.by_id.pop(i)
            for origin, counter in h.dots:
                self.dot_owner.pop((receiver, origin, counter), None)
        self.logs[receiver] = [i for i in self.logs.get(receiver, []) if i not in gone]
        return len(gone)

    def log_since(self, after: int, limit: int) -> list[tuple[int, str, str, str | None]]:
        """Catch-up: ``(seq, id, receiver, origin)`` after ``after`` of writes still held."""
        out = []
        for row in self.log:
            if row[0] > after and row[1] in self.by_id:
                out.append(row)
                if len(out) >= limit:
                    break
        return out

    def receivers(self) -> list[str]:
        return sorted(r for r, ids in self.logs.items() if ids)

    def lacking(self, receiver: str, cursor: Cursor) -> tuple[Range, ...]:
        """The dots ``cursor`` covers that this store does not hold."""
        return answer(
            self._receiver(receiver), lambda h: h.dots, lambda h: h.id, lambda h: False, cursor, 0
        ).lacking

    def holding(self, receiver: str, ranges: Iterable[Range], limit: int) -> list[Held]:
        """Writes of ``receiver`` held under a dot in ``ranges`` (a peer's ``lacking``),
        at most ``limit``, by range then counter: what a behind replica asks for."""
        out: dict[str, Held] = {}
        for origin, first, last in ranges:
            owners = sorted(
                (c, i)
                for (r, o, c), i in self.dot_owner.items()
                if r == receiver and o == origin and first <= c <= last and i in self.by_id
            )
            for _, i in owners:
                if len(out) >= limit:
                    return list(out.values())
                out.setdefault(i, self.by_id[i])
        return list(out.values())

    def items(self, receiver: str) -> dict[str, tuple[Dot, ...]]:
        """Anti-entropy's view of a key: id -> dots (the fingerprint covers both)."""
        return {h.id: h.dots for h in self._receiver(receiver)}

    def state(
        self, receiver: str
    ) -> list[tuple[str, tuple[Dot, ...], bool, tuple[str, ...], str | None]]:
        return sorted(h.state() for h in self._receiver(receiver))
