"""Placement: which supernodes hold the data of a key. Pure and consensus-critical.

Rule (protocol version 1; documented in docs/protocol.md §6, frozen in
tests/vectors/placement.json):

1. A key is an ID of the FLO scheme: a receiver's FLO ID, or ``object_id(application, name)``
   for an application object. Only its 20-byte HASH160 payload matters (so a mainnet and a
   testnet ID with the same payload place identically).
2. Every supernode has ``V`` positions in the same 160-bit space (``V`` = chain config
   ``virtualNodes``, default ``DEFAULT_VIRTUAL_NODES``):
   position 0 is the HASH160 payload of its own ID, which keeps plain XOR distance of the
   decoded IDs (as the existing FLO cloud uses) when ``V = 1``; position ``i >= 1`` is
   ``HASH160(b"flocloud-position" || id_payload || i.to_bytes(2, "big"))``.
3. The distance from a key to a supernode is the smallest XOR (as an unsigned 160-bit
   integer) between the key and any of the supernode's positions.
4. The **preference list** of a key is every supernode ordered by that distance, ties
   broken by the supernode's ID payload (ties need two equal positions: practically never).

Invariants owned here:
- ``preference_list`` is exactly the order of rule 4 (a hypothesis test compares it with
  an exhaustive sort), and costs what it returns: the first ``n`` nodes take
  O(n + log positions), independent of the number of supernodes.
- ``windows`` partitions the whole key space (every 160-bit key, not a sample) into
  regions where the first ``cut`` and the first ``size`` nodes do not change; membership
  derives exact neighbour sets from it.

How: positions are sorted and cut into ``2**b`` buckets by their top ``b`` bits
(``2**b`` ~ positions / 2). Every position in bucket ``j`` is nearer to key ``k`` than any
position in a bucket ``j'`` with ``j' ^ kb > j ^ kb`` (``kb`` = the key's top bits), so
visiting buckets ``kb ^ 0, kb ^ 1, kb ^ 2, ...`` and sorting each (a few positions) by full
XOR yields positions in exact XOR order. Positions are kept as one byte string (20 bytes
each) and owners as an ``array``: 24 bytes per position, not a Python int each.

Why several positions: with one position per supernode, the share of the key space each
node owns follows the shape of a binary trie and the busiest node holds several times the
average; ``V`` positions make each share the sum of ``V`` independent pieces, which shrinks
the spread by about ``sqrt(V)`` (bench/membership_sim.py measures it exactly).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import BadFormat
from .hashes import hash160_with_prefix
from .keys import decode_address

__all__ = [
    "DEFAULT_VIRTUAL_NODES",
    "MAX_VIRTUAL_NODES",
    "Placement",
    "Window",
    "key_payload",
    "node_positions",
]

# 256 positions keep the busiest node within 1.25x the mean share at 10,000 supernodes
# (1.19 measured exactly; 1.61 with 32): bench/membership_sim.py.
DEFAULT_VIRTUAL_NODES = 256
MAX_VIRTUAL_NODES = 1024
_BITS = 160
_WIDTH = 20  # bytes per position
_DOMAIN = b"flocloud-position"


def key_payload(key_id: str) -> int:
    """The 160-bit integer of a key's HASH160 payload (any network, P2PKH or P2SH form)."""
    return int.from_bytes(decode_address(key_id).hash160, "big")


def _check_virtual_nodes(virtual_nodes: int) -> None:
    if type(virtual_nodes) is not int or not 1 <= virtual_nodes <= MAX_VIRTUAL_NODES:
        raise BadFormat(f"virtualNodes must be an integer in 1..{MAX_VIRTUAL_NODES}")


def _positions(payload: bytes, virtual_nodes: int) -> Iterator[bytes]:
    yield payload
    yield from hash160_with_prefix(
        _DOMAIN + payload, (i.to_bytes(2, "big") for i in range(1, virtual_nodes))
    )


def node_positions(node_id: str, virtual_nodes: int) -> tuple[int, ...]:
    """The ``virtual_nodes`` positions of a supernode, position 0 first."""
    _check_virtual_nodes(virtual_nodes)
    payload = decode_address(node_id).hash160
    return tuple(int.from_bytes(p, "big") for p in _positions(payload, virtual_nodes))


@dataclass(frozen=True, slots=True)
class Window:
    """A region of the key space (keys whose top ``depth`` bits equal ``prefix``) and the
    nodes (indexes into ``Placement.node_ids``) that are, for every key in it, the first
    ``cut`` of its preference list (``first``) and the next ``size - cut`` (``rest``)."""

    prefix: int
    depth: int
    first: frozenset[int]
    rest: frozenset[int]


@dataclass(frozen=True, slots=True, eq=False)
class Placement:
    """The placement function of one set of supernodes: build once, query many times."""

    node_ids: tuple[str, ...]  # ordered by ID payload: the owner index is the tie-break
    virtual_nodes: int
    _blob: bytes  # the positions, sorted, 20 bytes each
    _owners: array[int]  # owner (index into node_ids) of each position
    _starts: array[int]  # index of the first position of each bucket, and the total
    _bits: int  # buckets are the top ``_bits`` bits of a position

    @classmethod
    def build(
        cls, node_ids: Iterable[str], virtual_nodes: int = DEFAULT_VIRTUAL_NODES
    ) -> Placement:
        _check_virtual_nodes(virtual_nodes)
        ids = tuple(sorted(set(node_ids), key=key_payload))
        # position || owner as bytes: one sort orders by position, then by the tie-break
        entries: list[bytes] = []
        for n, node_id in enumerate(ids):
            tag = n.to_bytes(4, "big")
            payload = decode_address(node_id).hash160
            entries.extend(p + tag for p in _positions(payload, virtual_nodes))
        entries.sort()
        bits = max(0, (len(entries) >> 1).bit_length() - 1)
        starts = array("I", bytes(4 * ((1 << bits) + 1)))
        for e in entries:
            starts[(int.from_bytes(e[:4], "big") >> (32 - bits)) + 1] += 1
        for j in range(1, len(starts)):
            starts[j] += starts[j - 1]
        blob = b"".join(e[:_WIDTH] for e in entries)
        owners = array("I", (int.from_bytes(e[_WIDTH:], "big") for e in entries))
        return cls(ids, virtual_nodes, blob, owners, starts, bits)

    def __len__(self) -> int:
        return len(self.node_ids)

    def position(self, i: int) -> int:
        """The ``i``-th smallest position."""
        return int.from_bytes(self._blob[_WIDTH * i : _WIDTH * i + _WIDTH], "big")

    @property
    def position_count(self) -> int:
        return len(self._owners)

    @property
    def size_bytes(self) -> int:
        """Memory held by the positions, owners and buckets."""
        arrays = (self._owners, self._starts)
        return len(self._blob) + sum(a.itemsize * len(a) for a in arrays)

    # -- lookups ------------------------------------------------------------------------

    def nearest(self, key: int) -> Iterator[int]:
        """Owners (indexes into ``node_ids``) in preference order for the payload ``key``,
        each once; lazily, so taking the first few costs only those."""
        starts, owners, blob = self._starts, self._owners, self._blob
        kb = key >> (_BITS - self._bits)
        seen: set[int] = set()
        for d in range(len(starts) - 1):
            j = kb ^ d
            lo, hi = starts[j], starts[j + 1]
            if lo == hi:
                continue
            if hi - lo == 1:
                order: Iterable[int] = (lo,)
            else:
                order = sorted(
                    range(lo, hi),
                    key=lambda i: (
                        int.from_bytes(blob[_WIDTH * i : _WIDTH * i + _WIDTH], "big") ^ key,
                        owners[i],
                    ),
                )
            for i in order:
                owner = owners[i]
                if owner not in seen:
                    seen.add(owner)
                    yield owner

    def preference_of(self, key: int, n: int | None = None) -> list[str]:
        """The first ``n`` (default: all) supernodes of the payload ``key``'s preference list."""
        want = len(self.node_ids) if n is None else min(n, len(self.node_ids))
        out: list[str] = []
        if want <= 0:
            return out
        ids = self.node_ids
        for owner in self.nearest(key):
            out.append(ids[owner])
            if len(out) >= want:
                break
        return out

    def preference_list(self, key_id: str, n: int | None = None) -> list[str]:
        """Supernode IDs ordered by closeness to ``key_id``; the first ``n`` if given."""
        return self.preference_of(key_payload(key_id), n)

    def replicas(self, key_id: str, replication_factor: int) -> list[str]:
        """The ``replication_factor`` supernodes that hold ``key_id``."""
        return self.preference_list(key_id, replication_factor)

    def distance(self, key_id: str, node_id: str) -> int:
        """Smallest XOR distance between the key and the node's positions (for checks)."""
        key = key_payload(key_id)
        return min(p ^ key for p in node_positions(node_id, self.virtual_nodes))

    # -- the whole key space ------------------------------------------------------------

    def windows(self, cut: int, size: int, focus: int | None = None) -> Iterator[Window]:
        """Partition the key space into regions where the first ``cut`` and the first
        ``size`` owners of the preference list are constant (``cut <= size``); with
        ``focus`` (an owner index), only the regions where it is among the first ``size``.

        A region is walked with the positions in ranges ordered so that, for every key in
        it, each range is nearer than the next; a range's inner order is left open until a
        cut falls inside it, then that range and the later ones are halved on the key's
        next bit (the half that agrees with the key comes first)."""
        if not 0 <= cut <= size:
            raise ValueError("need 0 <= cut <= size")
        focus_at: list[int] = []
        if focus is not None:
            focus_at = [i for i, o in enumerate(self._owners) if o == focus]
        stack: list[tuple[int, int, list[tuple[int, int]]]] = [(0, 0, [(0, len(self._owners))])]
        while stack:
            prefix, depth, ranges = stack.pop()
            union, first_open, end = self._scan(ranges, cut, size)
            if focus is not None and not any(
                _holds(focus_at, lo, hi) for lo, hi in ranges[: end + 1]
            ):
                continue
            if first_open is None:
                yield Window(prefix, depth, frozenset(union[:cut]), frozenset(union[cut:size]))
                continue
            frozen, active = ranges[:first_open], ranges[first_open : end + 1]
            bit = _BITS - 1 - depth
            if bit < 0:  # equal positions: their order is the owner's (the array order)
                singles = [(i, i + 1) for lo, hi in active for i in range(lo, hi)]
                stack.append((prefix, depth, frozen + singles))
                continue
            halves = [self._split(lo, hi, bit) for lo, hi in active]
            for side in (1, 0):
                nxt = list(frozen)
                for low, high in halves:
                    nxt.extend(r for r in ((high, low) if side else (low, high)) if r[0] < r[1])
                stack.append((prefix << 1 | side, depth + 1, nxt))

    def _scan(
        self, ranges: list[tuple[int, int]], cut: int, size: int
    ) -> tuple[list[int], int | None, int]:
        """Distinct owners of ``ranges`` in order (at most ``size + 1``), the first range a
        cut falls strictly inside (None: the region is decided), and the last range that
        counts (where ``size`` owners are reached)."""
        owners = self._owners
        union: list[int] = []
        seen: set[int] = set()
        first_open: int | None = None
        for idx, (lo, hi) in enumerate(ranges):
            before = len(union)
            for i in range(lo, hi):
                o = owners[i]
                if o not in seen:
                    seen.add(o)
                    union.append(o)
                    if len(union) > size:
                        break
            after = len(union)
            if first_open is None and (before < cut < after or before < size < after):
                first_open = idx
            if after >= size:
                return union, first_open, idx
        return union, first_open, len(ranges) - 1

    def _split(self, lo: int, hi: int, bit: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """``[lo, hi)`` (positions that agree above ``bit``) cut into bit 0 and bit 1."""
        base = self.position(lo) >> (bit + 1) << (bit + 1)
        mid = bisect.bisect_left(
            range(len(self._owners)), base | 1 << bit, lo, hi, key=self.position
        )
        return (lo, mid), (mid, hi)


def _holds(sorted_indexes: list[int], lo: int, hi: int) -> bool:
    j = bisect.bisect_left(sorted_indexes, lo)
    return j < len(sorted_indexes) and sorted_indexes[j] < hi
