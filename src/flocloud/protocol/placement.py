"""Placement: which supernodes hold the data of a key. Pure and consensus-critical.

Rule (protocol version 1; documented in docs/protocol.md, frozen in tests/vectors/placement.json):

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
   The first ``N = backupDepth + 1`` entries are the key's replicas; the first *live* one is
   its home (coordinator).

Why several positions: with one position per supernode, the share of the key space each
node owns follows the shape of a binary trie and the busiest node holds several times the
average; ``V`` positions make each share the sum of ``V`` independent pieces, which shrinks
the spread by about ``sqrt(V)`` (bench/placement_balance.py measures it).

Cost: positions are kept sorted, and the XOR-nearest order is produced by walking the sorted
array as a binary trie (the half that agrees with the key on the next bit is always nearer),
so the first ``N`` nodes of a key cost O(N * V * log(total positions)), not a scan.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import BadFormat
from .hashes import hash160
from .keys import decode_address

__all__ = [
    "DEFAULT_VIRTUAL_NODES",
    "Placement",
    "key_payload",
    "node_positions",
]

DEFAULT_VIRTUAL_NODES = 32
MAX_VIRTUAL_NODES = 1024
_BITS = 160
_SMALL = 16  # ranges at most this long are sorted directly


def key_payload(key_id: str) -> int:
    """The 160-bit integer of a key's HASH160 payload (any network, P2PKH or P2SH form)."""
    return int.from_bytes(decode_address(key_id).hash160, "big")


def node_positions(node_id: str, virtual_nodes: int) -> tuple[int, ...]:
    """The ``virtual_nodes`` positions of a supernode, position 0 first."""
    if not 1 <= virtual_nodes <= MAX_VIRTUAL_NODES:
        raise BadFormat(f"virtualNodes must be in 1..{MAX_VIRTUAL_NODES}")
    payload = decode_address(node_id).hash160
    out = [int.from_bytes(payload, "big")]
    for i in range(1, virtual_nodes):
        h = hash160(b"flocloud-position" + payload + i.to_bytes(2, "big"))
        out.append(int.from_bytes(h, "big"))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Placement:
    """The placement function of one registry state: build once, query many times."""

    node_ids: tuple[str, ...]
    virtual_nodes: int
    _positions: tuple[int, ...]  # sorted
    _owners: tuple[int, ...]  # index into node_ids, parallel to _positions

    @classmethod
    def build(
        cls, node_ids: Iterable[str], virtual_nodes: int = DEFAULT_VIRTUAL_NODES
    ) -> Placement:
        # ordered by ID payload, so the owner index is the documented tie-break
        ids = tuple(sorted(set(node_ids), key=key_payload))
        pairs: list[tuple[int, int]] = []
        for n, node_id in enumerate(ids):
            pairs.extend((pos, n) for pos in node_positions(node_id, virtual_nodes))
        pairs.sort()
        return cls(
            node_ids=ids,
            virtual_nodes=virtual_nodes,
            _positions=tuple(p for p, _ in pairs),
            _owners=tuple(n for _, n in pairs),
        )

    def _nearest_positions(self, key: int) -> Iterator[int]:
        """Indexes of positions in increasing XOR distance from ``key``."""
        pos = self._positions
        # stack of (lo, hi, bit): the range [lo, hi) shares all bits above ``bit`` with itself
        stack: list[tuple[int, int, int]] = [(0, len(pos), _BITS - 1)]
        while stack:
            lo, hi, bit = stack.pop()
            if hi - lo <= _SMALL or bit < 0:
                yield from sorted(range(lo, hi), key=lambda i: (pos[i] ^ key, self._owners[i]))
                continue
            # split [lo, hi) on ``bit``; every value in the range agrees on higher bits
            base = pos[lo] >> (bit + 1) << (bit + 1)
            mid = bisect.bisect_left(pos, base | (1 << bit), lo, hi)
            near, far = ((lo, mid), (mid, hi)) if not key >> bit & 1 else ((mid, hi), (lo, mid))
            if far[0] < far[1]:
                stack.append((far[0], far[1], bit - 1))
            if near[0] < near[1]:
                stack.append((near[0], near[1], bit - 1))

    def preference_list(self, key_id: str, n: int | None = None) -> list[str]:
        """Supernode IDs ordered by closeness to ``key_id``; the first ``n`` if given."""
        want = len(self.node_ids) if n is None else min(n, len(self.node_ids))
        return self._preference(key_payload(key_id), want)

    def _preference(self, key: int, want: int) -> list[str]:
        seen: set[int] = set()
        out: list[str] = []
        for i in self._nearest_positions(key):
            owner = self._owners[i]
            if owner not in seen:
                seen.add(owner)
                out.append(self.node_ids[owner])
                if len(out) >= want:
                    break
        return out

    def neighbours(self, node_id: str, replication_factor: int) -> set[str]:
        """Supernodes that may share keys with ``node_id``: for each of its positions, the
        ``2 * replication_factor`` nearest supernodes (a superset of those sharing replica
        sets with it in practice; anti-entropy and heartbeats talk to these only)."""
        want = min(2 * replication_factor, len(self.node_ids))
        out: set[str] = set()
        for pos in node_positions(node_id, self.virtual_nodes):
            out.update(self._preference(pos, want))
        out.discard(node_id)
        return out

    def replicas(self, key_id: str, replication_factor: int) -> list[str]:
        """The ``replication_factor`` supernodes that hold ``key_id``."""
        return self.preference_list(key_id, replication_factor)

    def distance(self, key_id: str, node_id: str) -> int:
        """Smallest XOR distance between the key and the node's positions (for checks)."""
        key = key_payload(key_id)
        return min(p ^ key for p in node_positions(node_id, self.virtual_nodes))
