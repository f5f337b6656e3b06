"""Catch-up's I/O: pull each live neighbour's log, serve ours (``peer.sync``).

Invariants owned here: the rules are ``flocloud.replication.catchup`` (one ``CatchUp`` per
peer: what to ask, what to fetch, when the position moves); this shell only sends the
requests, fetches and stores the writes wanted, and keeps the positions on disk, written
only after the writes they cover are committed, so a restart resumes where catch-up
stopped. The next page is asked before this one is stored, so the peer reads while this
node verifies and commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flocloud.client.connection import NodeConnection
from flocloud.replication.catchup import Ask, CatchUp, Outcome, Page, serve_page

from .context import PeerNet

__all__ = ["CatchUpShell"]

log = logging.getLogger("flocloud.node.catchup")

Fetch = Callable[[NodeConnection, str, list[str]], Awaitable[int]]


class CatchUpShell:
    def __init__(self, peers: PeerNet, fetch: Fetch, on_reset: Callable[[], None]) -> None:
        self.peers = peers
        self.fetch = fetch  # peer.get the ids and store them; returns how many were new
        self.on_reset = on_reset  # a peer's store was replaced: compare replicas
        self.state: dict[str, CatchUp] = {}
        self._saved: dict[str, tuple[str, int]] = {}
        self.busy: set[str] = set()  # peers whose log is being pulled right now

    @property
    def _store(self) -> Any:
        return self.peers.node.service.store

    @property
    def cursors(self) -> dict[str, int]:
        """Our position in each peer's log (its seq)."""
        return {p: c.position[1] for p, c in self.state.items() if c.position is not None}

    def stores(self) -> dict[str, str]:
        """Each peer's store id, as its log last told us (or the saved position did)."""
        out = {p: pos[0] for p, pos in self._saved.items()}
        out.update({p: c.position[0] for p, c in self.state.items() if c.position is not None})
        return out

    async def load(self) -> None:
        """Resume catch-up where it stopped before a restart (positions are on disk)."""
        self._saved = await self._store.peer_cursors()

    def of(self, peer: str) -> CatchUp:
        cu = self.state.get(peer)
        if cu is None:
            cu = self.state[peer] = CatchUp(self._saved.get(peer))
        return cu

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.peers.refresh_faults()
            await self.peers.each_live_neighbour(self.pull, "catch-up")

    async def pull(self, peer: str) -> int:
        """Pull what ``peer`` committed since our position in its log and we replicate;
        returns how many writes were stored."""
        conn = await self.peers.link(peer)
        cu = self.of(peer)
        me = self.peers.self_id
        stored = 0

        def ask(a: Ask) -> asyncio.Future[dict[str, Any]]:
            args: dict[str, Any] = {"from_top": True} if a.from_top else {"after": a.after}
            return asyncio.ensure_future(conn.request("peer.sync", limit=a.limit, **args))

        pending = ask(cu.ask())
        self.busy.add(peer)
        try:
            while True:
                reply = await pending
                rows = reply.get("records")
                page = Page(
                    str(reply.get("store_id", "")),
                    [
                        (str(r.get("id")), str(r.get("receiver", "")))
                        for r in (rows if isinstance(rows, list) else [])
                        if isinstance(r, dict)
                    ],
                    _int(reply.get("next"), cu.seq or 0),
                    reply.get("more") is True,
                )
                # our own view of placement decides what we keep: the peer's may lag
                step = cu.on_page(page, lambda r: me in self.peers.replica_set(r))
                if step.outcome is Outcome.RESET:  # its store was replaced
                    self._saved.pop(peer, None)
                    self.on_reset()
                    return stored
                if step.again is not None:
                    pending = ask(step.again)
                if step.wanted:
                    have = await self._store.have(list(step.wanted))
                    missing = [i for i in step.wanted if i not in have]
                    stored += await self.fetch(conn, peer, missing)
                cu.stored(step)
                await self._save(peer, cu)
                if step.again is None:
                    return stored
        finally:
            self.busy.discard(peer)
            if not pending.done():
                pending.cancel()
            pending.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _save(self, peer: str, cu: CatchUp) -> None:
        pos = cu.to_save()
        if pos is not None and pos[0]:
            self._saved[peer] = pos
            await self._store.save_peer_cursor(peer, *pos)

    async def serve(
        self, requester: str, after: Any, limit: Any = None, from_top: bool = False
    ) -> dict[str, Any]:
        """Our log after ``after`` as ids and receivers, with our store's identity: the
        writes of keys the requester replicates (under our view), except those it
        forwarded to us. ``from_top``: no writes, just where the log ends now."""
        store = self._store
        if from_top:
            return {"records": [], "next": await store.top_seq(), "more": False,
                    "store_id": await store.store_id()}  # fmt: skip
        after_i = after if type(after) is int and after >= 0 else 0
        lim = limit if type(limit) is int and 0 < limit <= 1000 else 500
        rows, nxt, more = serve_page(
            await store.log_since(after_i, lim),
            requester,
            after_i,
            lim,
            lambda r: requester in self.peers.replica_set(r),
        )
        return {
            "records": [{"id": i, "receiver": r} for i, r in rows],
            "next": nxt,
            "more": more,
            "store_id": await store.store_id(),
        }


def _int(v: Any, default: int) -> int:
    return v if type(v) is int and v >= 0 else default
