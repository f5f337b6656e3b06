"""The client's view of the network: supernodes from the chain registry, and routing.

Invariants owned here:
- Routing is computed locally from the registry alone: the preference list of a key comes
  from ``flocloud.protocol.placement`` over the registered supernodes, exactly as nodes
  compute it. There is no directory server.
- A node that failed recently is skipped (not forgotten) for ``down_for`` seconds, then
  tried again; if every node is marked down, all are tried in preference order anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES, Placement

__all__ = ["NetworkView", "NodeRef"]


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
    """Registered supernodes + placement + a local memory of failures."""

    nodes: dict[str, NodeRef]
    replication_factor: int = 1
    virtual_nodes: int = DEFAULT_VIRTUAL_NODES
    down_for: float = 10.0
    clock: Callable[[], float] = field(default=lambda: 0.0)
    _placement: Placement | None = None
    _down_until: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: Any, *, clock: Callable[[], float]) -> NetworkView:
        """Build from a chain ``NetworkState`` (nodes with id/uri/pubkey, config)."""
        nodes = {n.id: NodeRef(n.id, n.uri, getattr(n, "pubkey", "")) for n in state.nodes}
        config: Mapping[str, Any] = getattr(state, "config", {}) or {}
        rf = int(getattr(state, "replication_factor", 1) or 1)
        vn = config.get("virtualNodes", DEFAULT_VIRTUAL_NODES)
        return cls(
            nodes=nodes,
            replication_factor=rf,
            virtual_nodes=int(vn) if isinstance(vn, int) else DEFAULT_VIRTUAL_NODES,
            clock=clock,
        )

    @classmethod
    def from_nodes(
        cls, nodes: Iterable[NodeRef], *, replication_factor: int = 1, clock: Callable[[], float]
    ) -> NetworkView:
        return cls({n.id: n for n in nodes}, replication_factor=replication_factor, clock=clock)

    @property
    def placement(self) -> Placement:
        if self._placement is None:
            self._placement = Placement.build(self.nodes, self.virtual_nodes)
        return self._placement

    def route(self, key_id: str) -> list[NodeRef]:
        """Every node in preference order for ``key_id``, recently failed ones last."""
        pref = [self.nodes[i] for i in self.placement.preference_list(key_id)]
        now = self.clock()
        live = [n for n in pref if self._down_until.get(n.id, 0.0) <= now]
        return live + [n for n in pref if n not in live]

    def mark_down(self, node_id: str) -> None:
        self._down_until[node_id] = self.clock() + self.down_for

    def mark_up(self, node_id: str) -> None:
        self._down_until.pop(node_id, None)
