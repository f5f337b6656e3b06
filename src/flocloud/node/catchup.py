"""Catch-up's I/O: pull each live neighbour's log, serve ours (``peer.sync``).

Invariants owned here: the rules are ``flocloud.replication.catchup`` (one ``CatchUp`` per
peer: what to ask, what to fetch, when the position moves); this shell only sends the
requests, fetches and stores the writes wanted, and keeps the positions on disk, written
only after the writes they cover are committed, so a restart resumes where catch-up
stopped.

Pages are pipelined (``pull``): the next page is asked as soon as one came, and each
page's writes are fetched and verified while earlier pages are stored, up to ``DEPTH``
pages ahead (``Store`` gets the earlier pages as its turn). Pages are stored one after the other in page order (a write may depend on
one of an earlier page), and a position moves only after its page's writes and every
earlier page's are committed. A round pulls from the neighbours ``PollSchedule`` says are
due (one whose pulls stored nothing is left out of up to ``IDLE_ROUNDS`` rounds; one that
comes back up, and all of them when the placement changes, are due at once, and such a
wake starts a round then, not at the interval's end).
``behind``: the peers whose pull is still paging through a
backlog (its last page said ``more``); anti-entropy waits while one is, as it would fetch
the same writes a second time; ``paging``: the peers paging through our log's backlog,
with which anti-entropy waits too (the writes it would compare are on their way to them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flocloud.client.connection import NodeConnection
from flocloud.replication.catchup import (
    PAGE,
    Ask,
    CatchUp,
    Delivered,
    Outcome,
    Page,
    PollSchedule,
    Step,
    serve_page,
)

from .context import PeerNet
from .wake import woken

__all__ = ["CatchUpShell"]

log = logging.getLogger("flocloud.node.catchup")

# peer.get the writes of (receiver, id) pairs
Get = Callable[[NodeConnection, str, list[tuple[str, str]]], Awaitable[Any]]
# verify what ``Get`` returned, store it once the turn (earlier pages) is done; how many new
Store = Callable[[Any, str, Awaitable[Any] | None], Awaitable[int]]

PAGING_SECONDS = 5.0  # a peer paging our log that asked nothing for this long stopped
DEPTH = 8  # pages of one peer in flight (asked, fetched or verified) before the oldest is stored
# (at most DEPTH x PAGE pulled writes in memory per peer pulled, one peer at a time)
UNSAID_PAGE = 500  # rows a peer.sync that names no limit gets


class CatchUpShell:
    def __init__(
        self, peers: PeerNet, get: Get, store: Store, on_reset: Callable[[], None]
    ) -> None:
        self.peers = peers
        self.get = get  # peer.get writes by (receiver, id), not verified or stored yet
        self.store = store  # verify what ``get`` returned, store it in page order
        self.on_reset = on_reset  # a peer's store was replaced: compare replicas
        self.state: dict[str, CatchUp] = {}
        self._saved: dict[str, tuple[str, int]] = {}
        self.busy: set[str] = set()  # peers whose log is being pulled right now
        self.behind: set[str] = set()  # of those, the ones whose last page said ``more``
        self._paging: dict[str, float] = {}  # requesters paging our backlog: when last
        self.polls = PollSchedule()  # whom a round pulls from (idle peers less often)
        self._woken = asyncio.Event()  # a round is due now, not at the interval's end
        self.delivered = Delivered()  # our writes each peer acknowledged: left out of pages
        self.left_out_delivered = 0  # log rows served pages left out for that (a figure)
        self.started = peers.clock()  # (the node's start, near enough)
        self.last_pull: dict[str, Any] | None = None  # the last pull that stored writes

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

    def wake(self, peer: str | None = None) -> None:
        """``peer`` (every peer: None) is due again, and a round starts now: right after
        the one running, if one is. A restarted node's first round comes before it has
        read the registry (it knows no neighbour yet); the placement the registry gives
        wakes it, so catch-up starts then, not one interval later."""
        self.polls.wake(peer)
        self._woken.set()

    async def run(self, interval: float) -> None:
        while True:  # a pull first: a restarted node catches up before anything else
            self._woken.clear()  # a wake from here on starts the next round at once
            self.peers.refresh_faults()
            await self.peers.each_live_neighbour(self._pull_if_due, "catch-up")
            self.polls.next_round()
            await woken(self._woken, interval)

    async def _pull_if_due(self, peer: str) -> None:
        if self.polls.due(peer):
            token = self.polls.begin(peer)
            self.polls.pulled(peer, await self.pull(peer) > 0, token)  # failed: due next round

    async def pull(self, peer: str) -> int:
        """Pull what ``peer`` committed since our position in its log and we replicate;
        returns how many writes were stored.

        Pipelined: the next page is asked as soon as a page's reply came, and each page's
        writes are fetched and verified as their own task, up to ``DEPTH`` pages ahead;
        the stores run one page after the other in page order (a write may depend on one
        of an earlier page), and the position moves and is saved after its page's
        writes are committed, never ahead of them."""
        began = self.peers.clock()
        conn = await self.peers.link(peer)
        cu = self.of(peer)
        me = self.peers.self_id
        stored = pages = 0

        def ask(a: Ask) -> asyncio.Future[dict[str, Any]]:
            args: dict[str, Any] = {"from_top": True} if a.from_top else {"after": a.after}
            return asyncio.ensure_future(conn.request("peer.sync", limit=a.limit, **args))

        async def page(step: Step, before: asyncio.Future[int] | None) -> int:
            n = 0
            if step.wanted:
                have = await self._store.have(step.wanted)
                missing = [k for k in step.wanted if k[1] not in have]
                if missing:  # verified now, stored once the pages before are
                    n = await self.store(await self.get(conn, peer, missing), peer, before)
            if before is not None:  # the pages before are stored (or this one fails too)
                await asyncio.shield(before)
            cu.stored(step)
            await self._save(peer, cu)
            return n

        pending: asyncio.Future[dict[str, Any]] | None = ask(cu.ask())
        flight: list[asyncio.Future[int]] = []  # pages not stored yet, oldest first
        self.busy.add(peer)
        try:
            while pending is not None:
                reply = await pending
                pending = None
                rows = reply.get("records")
                pg = Page(
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
                step = cu.on_page(pg, lambda r: me in self.peers.replica_set(r))
                if step.outcome is Outcome.RESET:  # its store was replaced
                    self._saved.pop(peer, None)
                    self.on_reset()
                    return stored
                if step.outcome is not Outcome.FETCH:  # first contact: follow from the top
                    await self._save(peer, cu)
                    return stored
                if step.again is not None:
                    self.behind.add(peer)
                    pending = ask(step.again)
                flight.append(asyncio.ensure_future(page(step, flight[-1] if flight else None)))
                pages += 1
                while flight and (len(flight) >= DEPTH or pending is None):
                    stored += await flight.pop(0)
            return stored
        finally:
            self.busy.discard(peer)
            self.behind.discard(peer)
            if stored:  # how long a backlog took (a restarted node's catch-up: /api/stats)
                ended = self.peers.clock()
                self.last_pull = {"peer": peer, "writes": stored, "pages": pages,
                                  "began_s": round(began - self.started, 3),
                                  "seconds": round(ended - began, 3)}  # fmt: skip
                if pages > 1:  # a backlog, not the trickle of every round
                    log.info("caught up %d writes from %s in %.2f s (%d pages)",
                             stored, peer, ended - began, pages)  # fmt: skip
            left: list[asyncio.Future[Any]] = [*flight]
            if pending is not None:
                left.append(pending)
            for f in left:
                if not f.done():
                    f.cancel()
                f.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _save(self, peer: str, cu: CatchUp) -> None:
        pos = cu.to_save()
        if pos is not None and pos[0]:
            self._saved[peer] = pos
            await self._store.save_peer_cursor(peer, *pos)

    def paging(self) -> set[str]:
        """The peers paging through a backlog of our log: our last answer to them said
        ``more``, less than ``PAGING_SECONDS`` ago (a peer that stopped midway is
        forgotten)."""
        now = self.peers.clock()
        for p in [p for p, t in self._paging.items() if now - t > PAGING_SECONDS]:
            del self._paging[p]
        return set(self._paging)

    async def serve(
        self, requester: str, after: Any, limit: Any = None, from_top: bool = False
    ) -> dict[str, Any]:
        """Our log after ``after`` as ids and receivers, with our store's identity: the
        writes of keys the requester replicates (under our view), except those it
        forwarded to us or acknowledged holding (``Delivered``). ``from_top``: no writes,
        just where the log ends now."""
        store = self._store
        if from_top:
            return {"records": [], "next": await store.top_seq(), "more": False,
                    "store_id": await store.store_id()}  # fmt: skip
        after_i = after if type(after) is int and after >= 0 else 0
        lim = min(limit, PAGE) if type(limit) is int and limit > 0 else UNSAID_PAGE
        self.delivered.passed(requester, after_i)
        log_rows = await store.log_since(after_i, lim)
        acked = self.delivered.of(requester)
        rows, nxt, more = serve_page(
            log_rows,
            requester,
            after_i,
            lim,
            lambda r: requester in self.peers.replica_set(r),
            acked,
        )
        if acked:
            self.left_out_delivered += sum(1 for row in log_rows if row[0] in acked)
        if more:
            self._paging[requester] = self.peers.clock()
        else:
            self._paging.pop(requester, None)
        return {
            "records": [{"id": i, "receiver": r} for i, r in rows],
            "next": nxt,
            "more": more,
            "store_id": await store.store_id(),
        }


def _int(v: Any, default: int) -> int:
    return v if type(v) is int and v >= 0 else default
