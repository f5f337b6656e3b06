"""The client's view of the network: supernodes from the chain registry, and routing.

Invariants owned here:
- Routing is computed locally from the registry alone, by the same
  ``flocloud.protocol.membership`` the supernodes use: a key's route is its holders
  (replicas, then stand-in candidates), never the whole network. There is no directory
  server.
- A node that failed recently is skipped (not forgotten) for ``down_for`` seconds, then
  tried again; if every holder is marked down, all are tried in route order anyway.
- ``membership_from_state`` is the one place a chain ``NetworkState`` becomes the plain
  values of a ``Membership`` (supernodes and clients share it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flocloud.protocol.membership import Membership
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES, Placement

__all__ = ["NetworkView", "NodeRef", "membership_from_state"]

ROUTES_CACHED = 4096  # keys whose route a view keeps (all forgotten when full)


def membership_from_state(state: Any, previous: Membership | None = None) -> Membership:
    """The membership of the registry follower's ``NetworkState`` (its values validated by
    ``chain/netconfig.py``; each node's ``ws_url`` is its flocloud endpoint); ``previous``
    is reused for what did not change (the placement is rebuilt only when the node set or
    V changed)."""
    return Membership.build(
        {n.id: (n.ws_url, n.pubkey) for n in state.nodes},
        state.replication_factor,
        state.write_quorum,
        state.virtual_nodes,
        epoch=state.epoch,
        previous=previous,
    )


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A supernode as the registry lists it."""

    id: str
    uri: str
    pubkey: str = ""

    @property
    def ws_url(self) -> str:
        """The websocket URL: registry URIs may be ``ws(s)://host:port/ws``, ``http(s)://``,
        or bare ``host[:port]``, which means TLS (``wss://``) as for the FLO cloud's clients."""
        uri = self.uri.rstrip("/")
        if uri.startswith("http://"):
            uri = "ws://" + uri[len("http://") :]
        elif uri.startswith("https://"):
            uri = "wss://" + uri[len("https://") :]
        elif not uri.startswith(("ws://", "wss://")):
            uri = "wss://" + uri
        return uri if uri.endswith("/ws") else uri + "/ws"

    @property
    def http_url(self) -> str:
        """The node's base HTTP URL (its self-description with ``Accept: application/json``)."""
        base = self.ws_url[: -len("/ws")]
        return "http" + base[len("ws") :]


@dataclass
class NetworkView:
    """A registry's membership + a local memory of failures."""

    membership: Membership
    down_for: float = 10.0
    clock: Callable[[], float] = field(default=lambda: 0.0)
    nodes: dict[str, NodeRef] = field(default_factory=dict)
    _down_until: dict[str, float] = field(default_factory=dict)
    # routes computed under ``_routes_of`` (a pure function of the membership: cached, a
    # bounded number of keys)
    _routes: dict[str, tuple[NodeRef, ...]] = field(default_factory=dict)
    _routes_of: Membership | None = None

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes = {
                k: NodeRef(k, uri, pub) for k, (uri, pub) in self.membership.nodes.items()
            }

    @classmethod
    def from_state(cls, state: Any, *, clock: Callable[[], float]) -> NetworkView:
        """Build from the registry follower's ``NetworkState`` (values already validated)."""
        return cls(membership_from_state(state), clock=clock)

    @classmethod
    def from_nodes(
        cls,
        nodes: Iterable[NodeRef],
        *,
        replication_factor: int = 1,
        virtual_nodes: int = DEFAULT_VIRTUAL_NODES,
        clock: Callable[[], float],
    ) -> NetworkView:
        entries = {n.id: (n.uri, n.pubkey) for n in nodes}
        return cls(Membership.build(entries, replication_factor, 1, virtual_nodes), clock=clock)

    @property
    def placement(self) -> Placement:
        return self.membership.placement

    @property
    def replication_factor(self) -> int:
        return self.membership.replication_factor

    @property
    def virtual_nodes(self) -> int:
        return self.membership.virtual_nodes

    def route(self, key_id: str) -> list[NodeRef]:
        """The key's holders in order, recently failed ones last."""
        if self._routes_of is not self.membership or len(self._routes) >= ROUTES_CACHED:
            self._routes, self._routes_of = {}, self.membership
        pref = self._routes.get(key_id)
        if pref is None:
            pref = tuple(self.nodes[i] for i in self.membership.route(key_id))
            self._routes[key_id] = pref
        if not self._down_until:
            return list(pref)
        now = self.clock()
        live = [n for n in pref if self._down_until.get(n.id, 0.0) <= now]
        return live + [n for n in pref if n not in live]

    def mark_down(self, node_id: str) -> None:
        self._down_until[node_id] = self.clock() + self.down_for

    def mark_up(self, node_id: str) -> None:
        self._down_until.pop(node_id, None)
