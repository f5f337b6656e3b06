"""Authenticated links between supernodes: the I/O of ``replication/handshake.py``.

Invariants owned here:
- Only registered supernodes talk replication: every link is authenticated with the
  signed challenge of ``flocloud.protocol.peering`` against the registry's public keys, in
  both directions, before any replication request is served; the states and checks are
  ``replication/handshake.py``'s (``Initiator`` outbound, ``Responder`` per inbound
  connection), this module supplies the nonces (32 random bytes each), the signer and the
  registry's keys.
- Membership is checked on every peer request (``check_member``): a node the registry no
  longer lists is refused and its link closed; outbound links to it close too
  (``drop_removed``).
- At most one connection attempt per peer every ``PROBE_BACKOFF`` seconds; a failed
  attempt marks nothing down (heartbeats decide, ``node/peers.py``).
- Fault injection (tests, devnets): the config's ``fault_file`` lists peers treated as
  unreachable both ways; their links close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from flocloud.client.connection import NodeConnection
from flocloud.client.network import NodeRef
from flocloud.protocol.errors import FlocloudError, Unavailable
from flocloud.protocol.membership import Membership
from flocloud.protocol.peering import check_peer, sign_transcript
from flocloud.replication.handshake import Initiator, Responder

from .context import NodeCore

__all__ = ["PROBE_BACKOFF", "Links"]

log = logging.getLogger("flocloud.node.links")

PROBE_BACKOFF = 0.5  # seconds between two connection attempts to a peer


class Owner(Protocol):
    """What links need of the replication shell (``node/peers.py``)."""

    node: NodeCore
    view: Membership
    timeout: float

    @property
    def self_id(self) -> str: ...

    def clock(self) -> float: ...

    def is_up(self, peer: str) -> bool: ...

    def known_node(self, peer: str) -> tuple[str, str] | None: ...


class Links:
    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.conns: dict[str, NodeConnection] = {}  # outbound, authenticated
        self.blocked: set[str] = set()  # fault injection (partition): see refresh_faults
        self._locks: dict[str, asyncio.Lock] = {}
        self._failed_at: dict[str, float] = {}  # last failed connection attempt, by peer
        self._session: aiohttp.ClientSession | None = None
        self._fault_version: tuple[int, int] | None = None  # the fault file read last
        self.stores: dict[str, str] = {}  # peer -> the store id its last handshake named

    # -- outbound -----------------------------------------------------------------------

    async def get(self, peer: str, *, probe: bool = False, wait: bool = False) -> NodeConnection:
        """An authenticated link to ``peer``; ``probe`` tries even if it is marked down, but
        at most one connection attempt per peer every ``PROBE_BACKOFF`` seconds; ``wait``
        (the write path) waits for that pause instead of failing at once, since the failed
        attempt may have been another task's, at a node's start."""
        o = self.owner
        if wait:
            pause = PROBE_BACKOFF - (o.clock() - self._failed_at.get(peer, -PROBE_BACKOFF))
            conn = self.conns.get(peer)
            if pause > 0 and (conn is None or conn.closed):
                await asyncio.sleep(pause)
        conn = self.conns.get(peer)
        if conn is not None and not conn.closed:
            return conn
        if peer in self.blocked or (not probe and not o.is_up(peer)):
            raise Unavailable(f"peer {peer} is marked down")
        lock = self._locks.setdefault(peer, asyncio.Lock())
        async with lock:
            conn = self.conns.get(peer)
            if conn is not None and not conn.closed:
                return conn
            if o.clock() - self._failed_at.get(peer, -PROBE_BACKOFF) < PROBE_BACKOFF:
                raise Unavailable(f"peer {peer} failed a moment ago")
            entry = o.known_node(peer)  # the view's, or an earlier layout's (strict objects)
            if entry is None:
                raise Unavailable(f"peer {peer} is not a registered supernode")
            uri = entry[0]
            if self._session is None:
                self._session = aiohttp.ClientSession()
            conn = NodeConnection(
                NodeRef(peer, uri).ws_url, self._session, timeout=o.timeout, clock=o.clock
            )
            try:
                await conn.connect()
                await self._authenticate(conn, peer)
            except FlocloudError:
                await conn.close()
                self._failed_at[peer] = o.clock()  # no down mark: heartbeats decide
                raise
            self.conns[peer] = conn
            return conn

    def failed_at(self, peer: str) -> float | None:
        """When a connection attempt to ``peer`` last failed (``owner.clock``), if one did."""
        return self._failed_at.get(peer)

    async def _authenticate(self, conn: NodeConnection, peer: str) -> None:
        hs = Initiator(self.owner.self_id, peer, os.urandom(32).hex())
        hello = await conn.request("peer.hello", **hs.hello())
        auth = hs.on_hello(hello, self._verify_known, self._sign)
        store_id = await self.owner.node.service.store.store_id()
        await conn.request("peer.auth", **auth, store_id=store_id)

    def close(self, peer: str) -> None:
        """Close the outbound link to ``peer``, if any (in the background)."""
        conn = self.conns.pop(peer, None)
        if conn is not None:
            task = asyncio.ensure_future(conn.close())
            task.add_done_callback(lambda t: t.exception())

    def drop_removed(self, view: Membership) -> None:
        """Links to nodes ``view`` no longer lists close at once."""
        for peer in [p for p in self.conns if p not in view.nodes]:
            self.close(peer)

    async def close_all(self) -> None:
        for conn in list(self.conns.values()):
            await conn.close()
        if self._session is not None:
            await self._session.close()

    # -- inbound (one ``Responder`` per connection, in node/server.py) -------------------

    def hello(self, link: Responder, node_id: Any, nonce: Any) -> dict[str, Any]:
        if node_id in self.blocked:
            raise Unavailable("partitioned (fault injection)")
        member = isinstance(node_id, str) and node_id in self.owner.view.nodes
        return link.on_hello(node_id, nonce, os.urandom(32).hex(), member, self._sign)

    def auth(self, link: Responder, sign: Any, store_id: Any = None) -> dict[str, Any]:
        answer = link.on_auth(sign, store_id, self._verify)
        if link.peer is not None and link.store_id is not None:
            self.stores[link.peer] = link.store_id
        return answer

    def check_member(self, link: Responder) -> str:
        """Every peer request: the authenticated sender, if the registry still lists it
        (else the link is closed: ``Forbidden``)."""
        return link.on_request(lambda p: p in self.owner.view.nodes)

    def _sign(self, digest: bytes) -> str:
        return sign_transcript(self.owner.node.key, digest)

    def _verify(self, node_id: str, sign: str, digest: bytes) -> None:
        check_peer(self.owner.view.pubkeys, node_id, sign, digest)

    def _verify_known(self, node_id: str, sign: str, digest: bytes) -> None:
        """A node we connect to: registered now, or in an earlier layout we still reach
        for strict objects' acceptor state."""
        entry = self.owner.known_node(node_id)
        keys = self.owner.view.pubkeys if entry is None else {node_id: entry[1]}
        check_peer(keys, node_id, sign, digest)

    # -- fault injection ----------------------------------------------------------------

    def refresh_faults(self, on_change: Callable[[], None]) -> None:
        """Test/dev fault injection: the config's ``fault_file`` (JSON ``{"partition":
        [node IDs]}``) lists peers to treat as unreachable, both ways. Off when unset.
        ``on_change``: called when the set changed (a healed link: compare replicas).
        Every version of the file is read once, told by its inode and mtime (the devnet
        replaces it whole, so a version differs by inode from the one it replaces even
        within one tick of the clock), and logged as ``partitioned from …`` even when the
        set is the one before: the devnet waits for that line to know that the node
        applied the version it wrote."""
        config = self.owner.node.config
        if not config.fault_file:
            return
        p = config.path(config.fault_file)
        try:
            st = p.stat()
            version = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            version = (-1, -1)
        if version == self._fault_version:
            return
        self._fault_version = version
        try:
            blocked = (
                set(json.loads(p.read_text()).get("partition", [])) if version[0] >= 0 else set()
            )
        except (OSError, ValueError, AttributeError):
            log.warning("unreadable fault file %s", p)
            return
        if blocked != self.blocked:
            self.blocked = blocked
            on_change()
            for peer in blocked:
                self.close(peer)
        log.info("partitioned from %s", sorted(blocked) or "nobody")
