"""``peer.get`` across a rolling upgrade to schema 13 (docs/howto.md §7).

Before schema 13 a node asked for writes by id alone (``peer.get {ids}``); a store now
finds a write only by its receiver and id (``storage/migrations.py`` 13). An older peer
asks for ids it has just read from this node: rows of the ``peer.sync`` pages it pages
through, or ids of a key it compared by ``peer.ids``. ``OldGets`` remembers, per peer,
where its last pages started and which keys it last compared, and places the ids of an
older ``peer.get`` from those; the asking side (``fetch_records``) asks an older peer by
ids when it refuses ``keys`` as ``bad-format``.

Invariants owned here:
- Bounded memory: per peer at most ``PAGES`` page starts and ``KEYS`` receivers (the
  oldest forgotten first), and only for peers the registry lists: a peer it removes is
  forgotten at the view change (``forget``, from ``Peers.update``); placing reads at
  most ``PAGES`` × ``PAGE`` log rows.
- An answer holds only writes the peer named; an id this node cannot place is left out,
  as an id it does not hold was before (the peer's anti-entropy finds it later).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container, Sequence
from typing import Any

from flocloud.client.connection import NodeConnection
from flocloud.protocol.errors import FlocloudError
from flocloud.replication.catchup import PAGE

__all__ = ["KEYS", "PAGES", "OldGets", "fetch_records"]

PAGES = 8  # page starts kept per peer: catch-up's pages in flight (node/catchup.DEPTH)
KEYS = 16  # receivers a peer last compared by peer.ids, kept per peer


class OldGets:
    def __init__(self) -> None:
        self._starts: dict[str, deque[int]] = {}
        self._compared: dict[str, deque[str]] = {}

    def paged(self, peer: str, after: Any) -> None:
        """``peer`` asked for our log after ``after`` (``peer.sync``)."""
        if type(after) is int and after >= 0:
            self._starts.setdefault(peer, deque(maxlen=PAGES)).append(after)

    def compared(self, peer: str, receiver: str) -> None:
        """``peer`` listed the ids of ``receiver`` here (``peer.ids``)."""
        keys = self._compared.setdefault(peer, deque(maxlen=KEYS))
        if receiver not in keys:
            keys.append(receiver)

    def forget(self, keep: Container[str]) -> None:
        """Drop what peers not in ``keep`` (the registry's supernodes) read here."""
        for table in (self._starts, self._compared):
            for peer in [p for p in table if p not in keep]:
                del table[peer]

    def peers(self) -> set[str]:
        """The peers whose reads are remembered."""
        return set(self._starts) | set(self._compared)

    async def keys(self, store: Any, peer: str, ids: Sequence[str]) -> list[tuple[str, str]]:
        """``(receiver, id)`` pairs for the ids of an older ``peer.get``: from the log rows
        after the peer's page starts, then under each key it compared lately."""
        wanted = set(ids)
        out: list[tuple[str, str]] = []
        starts = self._starts.get(peer)
        if starts:
            for _, msg_id, receiver, _ in await store.log_since(min(starts), PAGES * PAGE):
                if msg_id in wanted:
                    out.append((receiver, msg_id))
                    wanted.discard(msg_id)
        for receiver in self._compared.get(peer, ()):
            out += [(receiver, i) for i in sorted(wanted)]
        return out


async def fetch_records(conn: NodeConnection, keys: Sequence[tuple[str, str]]) -> Any:
    """``peer.get`` of ``keys``; a peer older than schema 13 refuses them as
    ``bad-format`` (it requires ``ids``) and is asked by ids instead."""
    try:
        return await conn.request("peer.get", keys=[list(k) for k in keys])
    except FlocloudError as exc:
        if exc.code != "bad-format":
            raise
        return await conn.request("peer.get", ids=[i for _, i in keys])
