"""Range fingerprints for anti-entropy between replicas. Pure; every node computes them alike.

Two replicas find what one holds and the other lacks without sending their data: they
compare fingerprints of ranges, and split only the ranges that differ (as negentropy and
Riak's active anti-entropy do), so the traffic grows with the difference, not the data.

Invariants owned here (protocol version 1, documented in docs/protocol.md §9):
- The item set is the set of stored writes, each counted by ``write_parts(id, dots)``: its
  message id (hex SHA-256 of the body) *and* its dots (``flocloud.protocol.cursor``), so
  replicas that hold the same write under different dots differ and are repaired.
  Deletes, tags and notes are writes too, and what they derive is a function of the set.
- A fingerprint of a set of ids is ``(count, s1, s2)``: the count and the sums of
  ``part1(id)`` and ``part2(id)``, each a 31-bit integer read from the id's hex (so the sums
  fit SQLite's 64-bit integers for any realistic count). Sums make fingerprints additive:
  a range's fingerprint is the sum of its parts, and removing an item subtracts it.
- Ranges are hex prefixes. Keys (receivers) are ordered by ``key_position``, the 40-hex
  HASH160 payload placement uses, and split into 16 children by the next hex digit; ids
  within a key are split the same way by their own hex digits.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .frozen import fast_init
from .hashes import sha256
from .placement import key_payload

__all__ = [
    "HEX",
    "Fingerprint",
    "PrefixIndex",
    "children",
    "id_parts",
    "key_position",
    "prefix_end",
    "write_parts",
]

HEX = "0123456789abcdef"
_MASK31 = (1 << 31) - 1


def id_parts(msg_id: str) -> tuple[int, int]:
    """The two 31-bit parts of a message id that fingerprints sum."""
    return int(msg_id[0:8], 16) & _MASK31, int(msg_id[8:16], 16) & _MASK31


def write_parts(msg_id: str, dots: Sequence[tuple[str, int]]) -> tuple[int, int]:
    """The two 31-bit parts a stored write adds to its key's fingerprint: of
    ``SHA-256(id || "|" || origin ":" counter ("," ...))`` over its sorted dots."""
    text = msg_id + "|" + ",".join(f"{o}:{c}" for o, c in sorted(dots))
    d = sha256(text.encode())  # id_parts of its hex, without the hex
    return int.from_bytes(d[0:4], "big") & _MASK31, int.from_bytes(d[4:8], "big") & _MASK31


def key_position(key_id: str) -> str:
    """A key's place in the order of ranges: its HASH160 payload as 40 lowercase hex."""
    return f"{key_payload(key_id):040x}"


@fast_init
@dataclass(frozen=True, slots=True)
class Fingerprint:
    count: int = 0
    s1: int = 0
    s2: int = 0

    @classmethod
    def of_writes(cls, writes: Iterable[tuple[str, Sequence[tuple[str, int]]]]) -> Fingerprint:
        """The fingerprint of stored writes ``(id, dots)``, as replicas keep it."""
        n = a = b = 0
        for msg_id, dots in writes:
            p, q = write_parts(msg_id, dots)
            n, a, b = n + 1, a + p, b + q
        return cls(n, a, b)

    @classmethod
    def of(cls, ids: Iterable[str]) -> Fingerprint:
        n = a = b = 0
        for i in ids:
            p, q = id_parts(i)
            n, a, b = n + 1, a + p, b + q
        return cls(n, a, b)

    def __add__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(self.count + other.count, self.s1 + other.s1, self.s2 + other.s2)

    def to_wire(self) -> list[int]:
        return [self.count, self.s1, self.s2]

    @classmethod
    def from_wire(cls, v: object) -> Fingerprint | None:
        if isinstance(v, list) and len(v) == 3 and all(type(x) is int and x >= 0 for x in v):
            return cls(v[0], v[1], v[2])
        return None


def children(prefix: str) -> list[str]:
    """The 16 sub-ranges of a hex prefix range."""
    return [prefix + c for c in HEX]


def prefix_end(prefix: str) -> str:
    """A string above every string that starts with ``prefix`` (hex, base58) and below the
    next prefix: ranges are ``[prefix, prefix_end(prefix))``."""
    return prefix + "~"


class PrefixIndex:
    """Sorted strings (hex, optionally followed by more text), each with a fingerprint,
    answering "fingerprint of everything under this prefix" in O(log n) with prefix sums."""

    def __init__(self, items: Sequence[tuple[str, Fingerprint]]) -> None:
        ordered = sorted(items, key=lambda kv: kv[0])
        self.keys = [k for k, _ in ordered]
        self.fps = [fp for _, fp in ordered]
        self._sums = [Fingerprint()]
        for fp in self.fps:
            self._sums.append(self._sums[-1] + fp)

    def span(self, prefix: str) -> tuple[int, int]:
        lo = bisect.bisect_left(self.keys, prefix)
        return lo, bisect.bisect_left(self.keys, prefix_end(prefix), lo)

    def fingerprint(self, prefix: str) -> Fingerprint:
        a, b = self.span(prefix)
        s, e = self._sums[b], self._sums[a]
        return Fingerprint(s.count - e.count, s.s1 - e.s1, s.s2 - e.s2)

    def under(self, prefix: str) -> list[tuple[str, Fingerprint]]:
        a, b = self.span(prefix)
        return list(zip(self.keys[a:b], self.fps[a:b], strict=True))
