"""Membership: from one registry state to who holds a key and who talks to whom. Pure.

A registry state comes in as plain values (the chain layer validates the config):
supernodes ``{id: (uri, pubkey hex)}``, the replication factor ``N``, the write quorum
``W``, the positions per node ``V`` and an opaque epoch. Supernodes and clients build the
same ``Membership`` from it, so they agree on every answer below (docs/protocol.md §9).

Invariants owned here:
- **Replicas** of a key: the first ``N`` supernodes of its preference list (§6).
- **Stand-in candidates**: the next ``D = standin_depth`` supernodes (``D = N``). The write
  path's sloppy quorum is the first ``N`` of the key's first ``N + D`` supernodes that are
  not down: the live replicas, then, for each replica that is down, the next live
  candidate. No other node ever holds a key's writes, so the first ``N + D`` (``holders``)
  are also the only nodes a client tries for the key (``route``).
- **Neighbours**: two supernodes are neighbours exactly when some key (any of the 2**160)
  has both among its holders and at least one of them among its replicas; every pair that
  can share a key as replicas, or as replica and stand-in, is a neighbour pair, in both
  directions. Computed exactly over the key space (``Placement.windows``), not sampled.
- Answers are bounded: a lookup returns only the entries asked for (O(N + D), independent
  of the number of supernodes).
- The placement depends only on the node IDs and ``V``: ``build(..., previous=...)``
  reuses the previous placement when those did not change, and returns ``previous``
  itself when nothing changed, so callers rebuild only on real changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import BadFormat
from .placement import DEFAULT_VIRTUAL_NODES, Placement, key_payload

__all__ = ["Membership", "NodeEntry", "pairs_sharing"]

NodeEntry = tuple[str, str]  # (uri, public key hex) of a supernode


@dataclass(frozen=True, eq=False)
class Membership:
    """Placement, replica sets, stand-ins and neighbour sets of one registry state."""

    nodes: Mapping[str, NodeEntry]
    replication_factor: int  # N, at most the number of supernodes
    write_quorum: int  # W, 1..N
    virtual_nodes: int
    placement: Placement
    epoch: Any = None
    _neighbours: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        nodes: Mapping[str, NodeEntry],
        replication_factor: int = 1,
        write_quorum: int = 1,
        virtual_nodes: int = DEFAULT_VIRTUAL_NODES,
        epoch: Any = None,
        previous: Membership | None = None,
    ) -> Membership:
        """The membership of a registry state; ``previous`` (the last one) is reused for
        what did not change. ``N`` and ``W`` are clamped to the number of supernodes."""
        for name, value in (("replication factor", replication_factor),
                            ("write quorum", write_quorum)):  # fmt: skip
            if type(value) is not int or value < 1:
                raise BadFormat(f"the {name} must be a positive integer")
        frozen = MappingProxyType({k: (str(v[0]), str(v[1])) for k, v in nodes.items()})
        n = max(1, min(replication_factor, len(frozen)))
        w = max(1, min(write_quorum, n))
        if (
            previous is not None
            and previous.virtual_nodes == virtual_nodes
            and set(previous.nodes) == set(frozen)
        ):
            if (
                previous.replication_factor == n
                and previous.write_quorum == w
                and previous.epoch == epoch
                and dict(previous.nodes) == dict(frozen)
            ):
                return previous
            same_n = previous.replication_factor == n
            return cls(frozen, n, w, virtual_nodes, previous.placement, epoch,
                       previous._neighbours if same_n else {})  # fmt: skip
        return cls(frozen, n, w, virtual_nodes, Placement.build(frozen, virtual_nodes), epoch)

    @classmethod
    def empty(cls) -> Membership:
        return cls.build({})

    def layout_differs(self, other: Membership) -> bool:
        """Whether replica sets or neighbours can differ from ``other``'s (node set, N, V)."""
        return (
            set(self.nodes) != set(other.nodes)
            or self.replication_factor != other.replication_factor
            or self.virtual_nodes != other.virtual_nodes
        )

    # -- what the registry says ---------------------------------------------------------

    @property
    def pubkeys(self) -> dict[str, str]:
        return {k: v[1] for k, v in self.nodes.items()}

    def is_member(self, node_id: str) -> bool:
        return node_id in self.nodes

    @property
    def standin_depth(self) -> int:
        """How many nodes after the replicas may stand in for them (``D``)."""
        return self.replication_factor

    @property
    def holders_count(self) -> int:
        """``N + D``, or every node in a smaller network."""
        return min(self.replication_factor + self.standin_depth, len(self.nodes))

    # -- one key ------------------------------------------------------------------------

    def preference(self, key_id: str, count: int) -> list[str]:
        """The first ``count`` supernodes of ``key_id``'s preference list."""
        return self.placement.preference_list(key_id, count) if self.nodes else []

    def replicas(self, key_id: str) -> tuple[str, ...]:
        """The ``N`` supernodes that hold ``key_id``."""
        return tuple(self.preference(key_id, self.replication_factor))

    def holders(self, key_id: str) -> tuple[str, ...]:
        """Every supernode that may hold ``key_id``: replicas, then stand-in candidates."""
        return tuple(self.preference(key_id, self.holders_count))

    def stand_in_candidates(self, key_id: str) -> tuple[str, ...]:
        return self.holders(key_id)[self.replication_factor :]

    def sloppy_quorum(self, key_id: str, down: Container[str] = ()) -> tuple[str, ...]:
        """The nodes a write of ``key_id`` goes to: the first ``N`` holders not ``down``
        (live replicas, and for each replica that is down the next live candidate)."""
        live = [p for p in self.holders(key_id) if p not in down]
        return tuple(live[: self.replication_factor])

    def stand_ins(self, key_id: str, down: Container[str] = ()) -> tuple[str, ...]:
        """The candidates the write path picks for the replicas that are ``down``."""
        return self.sloppy_quorum(key_id, down)[
            sum(1 for p in self.replicas(key_id) if p not in down) :
        ]

    def route(self, key_id: str) -> list[str]:
        """The supernodes a client tries for ``key_id``, in order (the holders)."""
        return list(self.holders(key_id))

    # -- who talks to whom --------------------------------------------------------------

    def neighbours(self, node_id: str) -> frozenset[str]:
        """Every supernode that shares some key with ``node_id`` as replica and replica, or
        as replica and stand-in candidate (exact over the whole key space; cached)."""
        got = self._neighbours.get(node_id)
        if got is not None:
            return got
        if node_id not in self.nodes:
            return frozenset()
        ids = self.placement.node_ids
        me = _index(ids, node_id)
        out: set[int] = set()
        for w in self.placement.windows(self.replication_factor, self.holders_count, focus=me):
            out |= (w.first | w.rest) if me in w.first else w.first
        out.discard(me)
        got = frozenset(ids[i] for i in out)
        self._neighbours[node_id] = got
        return got


def _index(ids: tuple[str, ...], node_id: str) -> int:
    """The owner index of a member (``ids`` is sorted by ID payload)."""
    return bisect.bisect_left(ids, key_payload(node_id), key=key_payload)


def pairs_sharing(membership: Membership) -> Iterable[tuple[str, str]]:
    """Every (a, b) with a != b that can share a key (the neighbour relation, both
    directions), from one walk of the whole key space; for checks and simulations."""
    p = membership.placement
    ids = p.node_ids
    seen: set[tuple[int, int]] = set()
    for w in p.windows(membership.replication_factor, membership.holders_count):
        for a in w.first:
            for b in w.first | w.rest:
                if a != b and (a, b) not in seen:
                    seen.add((a, b))
                    seen.add((b, a))
    return [(ids[a], ids[b]) for a, b in seen]
