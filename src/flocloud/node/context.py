"""What the replication shell needs from the node and from each other, as protocols.

Invariant owned here: the node's modules depend on each other one way (server → http,
peers → antientropy → context), never in a circle; where a module needs a collaborator
built above it, it names the collaborator's shape here instead of importing its class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Any, Protocol

from flocloud.client.connection import NodeConnection
from flocloud.protocol.keys import PrivateKey

from .config import NodeConfig
from .service import NodeService

__all__ = ["NodeCore", "PeerNet", "ReplicatedNode", "ViewShape"]


class NodeCore(Protocol):
    """A running supernode, as replication sees it."""

    key: PrivateKey
    config: NodeConfig
    service: NodeService


class ViewShape(Protocol):
    @property
    def nodes(self) -> Mapping[str, Any]: ...

    @property
    def replication_factor(self) -> int: ...


class PeerNet(Protocol):
    """The replication shell (``node/peers.py``), as anti-entropy sees it."""

    node: NodeCore
    view_changed_at: float
    catching_up: set[str]
    catchup_behind: set[str]

    @property
    def view(self) -> ViewShape: ...

    @property
    def self_id(self) -> str: ...

    def clock(self) -> float: ...

    def is_up(self, peer: str) -> bool: ...

    def neighbours(self) -> set[str]: ...

    def refresh_faults(self) -> None: ...

    def paging_us(self) -> set[str]: ...

    def replica_set(self, key: str) -> tuple[str, ...]: ...

    def previous_replica_sets(self, key: str) -> list[tuple[str, ...]]: ...

    @property
    def epoch(self) -> Any: ...

    def refresh_soon(self) -> None: ...

    async def link(
        self, peer: str, *, probe: bool = False, wait: bool = False
    ) -> NodeConnection: ...

    async def store_batch(self, records: list[dict[str, Any]], peer: str) -> int: ...

    async def each_live_neighbour(
        self, work: Callable[[str], Awaitable[Any]], what: str, skip: Container[str] = ()
    ) -> None: ...


class ReplicatedNode(NodeCore, Protocol):
    """A supernode with its replication shell, as strict objects see it."""

    @property
    def peers(self) -> PeerNet: ...
