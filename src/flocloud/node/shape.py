"""The supernode as its HTTP routes see it (``node/server.py`` builds it): a protocol, so the
routes (``http.py``, ``stats.py``) do not import the server that imports them.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from flocloud.chain.registry import NetworkState
from flocloud.protocol.keys import PrivateKey
from flocloud.storage.sqlite import SqliteStore

from .config import NodeConfig
from .limits import RateLimitedLog
from .peers import Peers
from .service import NodeService

__all__ = ["HttpNode"]


class HttpNode(Protocol):
    """The supernode, as its HTTP routes see it (``node/server.py`` builds it)."""

    config: NodeConfig
    key: PrivateKey
    network_nodes: list[dict[str, str]]
    peers: Peers
    service: NodeService
    store: SqliteStore | None
    url: str
    registry: NetworkState | None
    resource_log: RateLimitedLog
    legacy: Any  # node/legacy.LegacyGateway
    outgoing: int

    def client_ip(self, request: web.Request) -> str: ...

    def epoch(self) -> dict[str, Any] | None: ...

    async def websocket(self, request: web.Request) -> web.StreamResponse: ...
