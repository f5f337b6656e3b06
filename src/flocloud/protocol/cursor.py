"""Dots and the incremental-fetch cursor: exact "everything since my last fetch" from any
replica, without a coordinator. Pure; node, simulator and clients compute it alike.

Invariants owned here (docs/protocol.md §8.2, vectors in ``tests/vectors/cursor.json``):
- A **dot** ``(origin, counter)`` names one write of one receiver: ``origin`` is the store
  id of the node that accepted it from a client, ``counter`` that store's per-receiver
  counter (1, 2, 3, ... never reused). A dot is assigned once and stored verbatim on every
  replica. A write retried through a second node may carry a second dot: a write is
  covered when any of its dots is.
- A **cursor** is a version vector with exceptions: per origin a ``frontier`` (every
  counter ``<= frontier`` is covered) and ``extras`` (single counters above it, covered
  too). ``advance`` moves a frontier only over counters the answering replica holds and
  whose writes the client has (or that do not match its filter), so a cursor never covers
  a write the client has not seen: no loss whatever replica answers next, and no
  duplicate, since covered writes are never sent again.
- ``lacking``: the dots a cursor covers that a store does not hold, as canonical ranges
  (node, simulator and the store agree on them). A store that lacks a dot the client has
  must fetch it, or learn that no replica holds it, before it answers: else a write it
  holds under another dot could reach the client twice.
- The token is ``"c1." + base64url(JSON [[origin, frontier, [extras...]], ...])`` sorted by
  origin, without padding. Decoding checks everything (bounded sizes, 0 <= counters < 2^53,
  extras sorted above the frontier) and refuses anything else as ``bad-format``. The empty
  cursor is ``""`` (also accepted: ``None``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .errors import BadFormat

__all__ = [
    "MAX_COUNTER",
    "MAX_EXTRAS",
    "MAX_LACKING",
    "MAX_ORIGINS",
    "Cursor",
    "Dot",
    "Range",
    "check_dot",
    "contiguous",
    "lacking",
    "parse_dots",
    "parse_ranges",
]

Dot = tuple[str, int]
MAX_COUNTER = (1 << 53) - 1
MAX_ORIGINS = 64
MAX_EXTRAS = 512  # in all origins together; beyond it the oldest are folded (see fold)
MAX_TOKEN = 8192
_PREFIX = "c1."
MAX_LACKING = 64  # ranges in one ``lacking`` answer

Range = tuple[str, int, int]  # (origin, first, last): the counters first..last of origin


def check_dot(origin: object, counter: object) -> Dot:
    """A dot from untrusted input, or ``BadFormat``."""
    if not isinstance(origin, str) or not 1 <= len(origin) <= 64 or not origin.isalnum():
        raise BadFormat("a dot's origin must be 1-64 letters or digits")
    if type(counter) is not int or not 1 <= counter <= MAX_COUNTER:
        raise BadFormat("a dot's counter must be an integer in 1..2^53-1")
    return origin, counter


def parse_dots(value: object) -> tuple[Dot, ...]:
    """The ``dots`` of a record on the wire: a non-empty list of ``[origin, counter]``."""
    if not isinstance(value, list) or not 1 <= len(value) <= 16:
        raise BadFormat("dots must be a list of 1-16 [origin, counter] pairs")
    out = set()
    for d in value:
        if not isinstance(d, list) or len(d) != 2:
            raise BadFormat("a dot is [origin, counter]")
        out.add(check_dot(d[0], d[1]))
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class _Entry:
    frontier: int
    extras: frozenset[int]


@dataclass(slots=True)
class _Runs:
    """One origin of ``Cursor.of_runs`` as it folds: the runs above the frontier (the
    lowest last) and how many counters they hold."""

    origin: str
    frontier: int
    above: list[tuple[int, int]]
    n: int


@dataclass(frozen=True, slots=True)
class Cursor:
    """An immutable cursor; ``Cursor()`` is the empty one (covers nothing)."""

    entries: tuple[tuple[str, int, tuple[int, ...]], ...] = ()

    # -- reading ------------------------------------------------------------------------

    def _map(self) -> dict[str, _Entry]:
        return {o: _Entry(f, frozenset(x)) for o, f, x in self.entries}

    def frontier(self, origin: str) -> int:
        for o, f, _ in self.entries:
            if o == origin:
                return f
        return 0

    def origins(self) -> tuple[str, ...]:
        return tuple(o for o, _, _ in self.entries)

    def covers(self, dot: Dot) -> bool:
        origin, counter = dot
        for o, f, x in self.entries:
            if o == origin:
                return counter <= f or counter in x
        return False

    def covers_any(self, dots: Iterable[Dot]) -> bool:
        return any(self.covers(d) for d in dots)

    def top(self, origin: str) -> int:
        """The highest counter of ``origin`` this cursor mentions (0 if none)."""
        for o, f, x in self.entries:
            if o == origin:
                return max(f, max(x, default=0))
        return 0

    def is_empty(self) -> bool:
        return not self.entries

    # -- changing -----------------------------------------------------------------------

    @classmethod
    def _build(cls, m: Mapping[str, _Entry]) -> Cursor:
        out = []
        for o in sorted(m):
            e = m[o]
            f = e.frontier
            xs = set(e.extras)
            while f + 1 in xs:  # normalize: contiguous extras join the frontier
                f += 1
                xs.discard(f)
            out.append((o, f, tuple(sorted(c for c in xs if c > f))))
        return cls(tuple(out)).fold()

    def add(self, dots: Iterable[Dot]) -> Cursor:
        """This cursor plus the given dots (writes the client now has)."""
        m: dict[str, tuple[int, set[int]]] = {o: (f, set(x)) for o, f, x in self.entries}
        changed = False
        for origin, counter in dots:
            entry = m.get(origin)
            if entry is None:
                entry = m[origin] = (0, set())
            if counter <= entry[0] or counter in entry[1]:
                continue
            entry[1].add(counter)
            changed = True
        if not changed:
            return self
        return self._build({o: _Entry(f, frozenset(xs)) for o, (f, xs) in m.items()})

    def advance(self, origin: str, present: Iterable[int]) -> Cursor:
        """Move ``origin``'s frontier over ``present`` counters, in order from the
        frontier: ``present`` lists counters the replica holds whose writes the client has
        or need not see (they do not match its filter). It stops at the first gap."""
        e = self._map().get(origin, _Entry(0, frozenset()))
        f = e.frontier
        have = set(present) | e.extras
        while f + 1 in have:
            f += 1
        if f == e.frontier:
            return self
        m = self._map()
        m[origin] = _Entry(f, frozenset(c for c in e.extras if c > f))
        return self._build(m)

    def merge(self, other: Cursor) -> Cursor:
        """Covers what either covers (a client that read two replicas)."""
        m = self._map()
        for o, f, x in other.entries:
            e = m.get(o, _Entry(0, frozenset()))
            nf = max(e.frontier, f)
            m[o] = _Entry(nf, frozenset(c for c in (e.extras | set(x)) if c > nf))
        return self._build(m)

    @classmethod
    def of_runs(cls, runs: Mapping[str, Iterable[tuple[int, int]]]) -> Cursor:
        """The cursor ``Cursor().add(dots)`` gives for the dots in ``runs`` (per origin,
        sorted ``(first, last)`` runs of counters >= 1), computed from the runs: the cost
        grows with the runs, not with the counters they cover. ``fold`` is followed step
        by step: each step moves the frontier of the first origin with the most
        exceptions over its lowest run of them."""
        entries: list[_Runs] = []
        total = 0
        for origin in sorted(runs):
            merged: list[tuple[int, int]] = []
            for a, b in runs[origin]:
                if merged and a <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
                else:
                    merged.append((a, b))
            if not merged:
                continue
            frontier = merged.pop(0)[1] if merged[0][0] == 1 else 0
            e = _Runs(origin, frontier, merged[::-1], sum(b - a + 1 for a, b in merged))
            total += e.n
            entries.append(e)
        if total > MAX_EXTRAS or len(entries) > MAX_ORIGINS:
            while total > MAX_EXTRAS:
                e = entries[max(range(len(entries)), key=lambda i: entries[i].n)]
                a, b = e.above.pop()  # its lowest run: the frontier jumps over it
                e.frontier, e.n, total = b, e.n - (b - a + 1), total - (b - a + 1)
            entries.sort(key=lambda e: -e.frontier)
            entries = sorted(entries[:MAX_ORIGINS], key=lambda e: e.origin)
        return cls(
            tuple(
                (
                    e.origin,
                    e.frontier,
                    tuple(c for a, b in reversed(e.above) for c in range(a, b + 1)),
                )
                for e in entries
            )
        )

    def fold(self) -> Cursor:
        """Bound the size: beyond ``MAX_EXTRAS`` exceptions, an origin's frontier jumps to
        its lowest exception (declaring the counters below it skipped). Only a write held
        by no node that answered for a long time can sit in such a gap: one committed on a
        single node whose disk was then lost, never a write acknowledged by a quorum."""
        total = sum(len(x) for _, _, x in self.entries)
        if total <= MAX_EXTRAS and len(self.entries) <= MAX_ORIGINS:
            return self
        entries: list[tuple[str, int, tuple[int, ...]]] = list(self.entries)
        while sum(len(x) for _, _, x in entries) > MAX_EXTRAS:
            k = max(range(len(entries)), key=lambda i: len(entries[i][2]))
            origin, _, xs = entries[k]
            frontier, rest = xs[0], list(xs[1:])
            while rest and rest[0] == frontier + 1:
                frontier = rest.pop(0)
            entries[k] = (origin, frontier, tuple(rest))
        # too many origins (every store that ever accepted a write of this receiver): keep
        # the ones with the highest frontiers; a dropped origin's writes come again (dup)
        entries.sort(key=lambda e: -e[1])
        return Cursor(tuple(sorted(entries[:MAX_ORIGINS])))

    # -- the wire -----------------------------------------------------------------------

    def encode(self) -> str:
        if not self.entries:
            return ""
        doc = [[o, f, list(x)] for o, f, x in self.entries]
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: object) -> Cursor:
        if token is None or token == "":
            return cls()
        if not isinstance(token, str) or len(token) > MAX_TOKEN or not token.startswith(_PREFIX):
            raise BadFormat("after must be a cursor token from a previous reply")
        body = token[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            doc = json.loads(raw)
        except (binascii.Error, ValueError):
            raise BadFormat("after is not a valid cursor token") from None
        if not isinstance(doc, list) or len(doc) > MAX_ORIGINS:
            raise BadFormat("cursor token: too many origins")
        entries = []
        total = 0
        last = ""
        for item in doc:
            if not isinstance(item, list) or len(item) != 3:
                raise BadFormat("cursor token: bad entry")
            origin, frontier, extras = item
            check_dot(origin, 1)
            if origin <= last:
                raise BadFormat("cursor token: origins must be sorted and unique")
            last = origin
            if type(frontier) is not int or not 0 <= frontier <= MAX_COUNTER:
                raise BadFormat("cursor token: bad frontier")
            if not isinstance(extras, list) or any(
                type(c) is not int or not frontier + 1 < c <= MAX_COUNTER for c in extras
            ):
                raise BadFormat("cursor token: bad exceptions")
            if extras != sorted(set(extras)):
                raise BadFormat("cursor token: exceptions must be sorted and unique")
            total += len(extras)
            entries.append((origin, frontier, tuple(extras)))
        if total > MAX_EXTRAS:
            raise BadFormat("cursor token: too many exceptions")
        return cls(tuple(entries))


def contiguous(held: Callable[[int], bool], start: int = 0) -> int:
    """The highest ``c`` with every counter ``1..c`` held, walking up from ``start``
    (a counter known to have ``1..start`` held)."""
    c = start
    while held(c + 1):
        c += 1
    return c


def lacking(
    cursor: Cursor,
    upto: Callable[[str], int],
    next_held: Callable[[str, int], int | None],
    holds: Callable[[str, int], bool],
) -> tuple[Range, ...]:
    """The dots ``cursor`` covers that are not held here, as ranges, canonically: per
    origin (in the cursor's order), the first run of missing counters at or below its
    frontier, ``upto(o) + 1`` to the counter before the next held one (``next_held(o, c)``:
    the lowest held counter above ``c``), cut at the frontier; then each exception not
    held, as a range of one. At most ``MAX_LACKING`` ranges; empty when every covered dot
    is held. ``upto(o)``: the highest ``c`` with ``1..c`` of ``o`` held."""
    out: list[Range] = []
    for origin, frontier, extras in cursor.entries:
        u = upto(origin)
        if frontier > u:
            nxt = next_held(origin, u)
            last = frontier if nxt is None else min(frontier, nxt - 1)
            out.append((origin, u + 1, last))
        out += [(origin, x, x) for x in extras if not holds(origin, x)]
    return tuple(out[:MAX_LACKING])


def parse_ranges(value: object) -> tuple[Range, ...]:
    """``lacking`` ranges from untrusted input (a peer's ``peer.key``), or ``BadFormat``."""
    if not isinstance(value, list) or len(value) > MAX_LACKING:
        raise BadFormat(f"lacking must be a list of at most {MAX_LACKING} ranges")
    out = []
    for r in value:
        if not isinstance(r, list) or len(r) != 3:
            raise BadFormat("a range is [origin, first, last]")
        origin, first = check_dot(r[0], r[1])
        _, last = check_dot(r[0], r[2])
        if last < first:
            raise BadFormat("a range's last counter is below its first")
        out.append((origin, first, last))
    return tuple(out)
