"""Replication between supernodes: the shell that owns the view, the write path and
liveness, and starts the loops of catch-up (``catchup.py``) and anti-entropy
(``antientropy.py``) over authenticated links (``links.py``).

Invariants owned here:
- Membership is the protocol's (``flocloud.protocol.membership``): the replicas of a key
  are the first ``N = backupDepth + 1`` supernodes of its preference list, the next ``N``
  its stand-in candidates (together its holders). A node that accepts a write commits it
  (assigning its dot), then sends it to the key's sloppy quorum as
  ``flocloud.replication.quorum`` decides: replicas first, the next holders standing in
  for those that fail, each failure bringing in the next candidate. The client's ``ok``
  needs ``W`` (writeQuorum) commits; below that it gets ``unavailable`` with the count.
- A node that is neither a replica nor a stand-in of a key (``accepts``) hands a client's
  write to one that is (``peer.forward``) rather than storing it on the side.
- A peer is marked down only by the heartbeat rule (``replication/heartbeat.py``: a
  refused connection, or two slow answers in a row), never by one failed request.
- A forwarded write's dots must be the sender's own (its store id, given in
  ``peer.auth``): a peer cannot number writes in another store's name on the write path.
- Failure detection: a heartbeat round every ``heartbeat_seconds`` pings the neighbours
  ``PingSchedule`` names (a reply on a link to other traffic counts as a heartbeat, a
  request left unanswered or a failed connection makes the peer due; the others every
  few rounds); a peer that fails the heartbeat rule is skipped for ``down_for`` seconds
  or until a ping succeeds again, which also starts an anti-entropy round with it. Links
  reconnect on their own.
- A registry change that moves placement wakes anti-entropy and restarts hand-off's
  grace; links of nodes the registry no longer lists close (``Links.drop_removed``).
- Catch-up, anti-entropy and a client's cursor ahead of this node store what they pull
  through ``store_batch``: re-validated like any replicated write, idempotent by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Container
from typing import TYPE_CHECKING, Any

import orjson

from flocloud.client.connection import NodeConnection
from flocloud.client.network import membership_from_state
from flocloud.protocol.cursor import Cursor, Range, parse_ranges
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import BadFormat, FlocloudError, Unavailable
from flocloud.protocol.membership import Membership
from flocloud.replication import lacking
from flocloud.replication.catchup import Delivered
from flocloud.replication.heartbeat import FailureDetector, PingSchedule
from flocloud.replication.quorum import Decision, WriteQuorum
from flocloud.replication.routing import accepts, candidates
from flocloud.storage.store import MessageFilter, PutResult

if TYPE_CHECKING:
    from .service import KindRecord

from .antientropy import AntiEntropy
from .catchup import CatchUpShell
from .context import NodeCore
from .links import Links
from .replicas import store_records
from .replicate import ReplicaBatcher

__all__ = ["Peers", "RegistryView"]

log = logging.getLogger("flocloud.node.peers")

# how long a strict object's rounds stay joint with its acceptors of an earlier layout:
# far above the registry refresh (60 s) plus hand-off (grace 30 s, then anti-entropy)
HANDOVER_SECONDS = 3600.0


RegistryView = Membership  # what replication needs from the chain registry


class _MarkedDown:
    """The peers marked down now, as a container (``WriteQuorum`` asks it per peer)."""

    __slots__ = ("is_up",)

    def __init__(self, is_up: Callable[[str], bool]) -> None:
        self.is_up = is_up

    def __contains__(self, peer: object) -> bool:
        return isinstance(peer, str) and not self.is_up(peer)


class _Sends:
    """One committed write's sends to its quorum (``Peers.replicate``). Its methods are
    the sends' callbacks: a bound method refers to this object and nothing here refers
    back to a send's future, so a finished write is freed by reference counting. (Closures
    that call each other, as ``launch`` and ``landed`` do, form a cycle of cells that only
    the cyclic collector frees: every write's envelope waited for its pass.)"""

    __slots__ = ("answered", "batcher", "data", "delivered", "down", "q", "seq", "wire")

    def __init__(
        self,
        q: WriteQuorum,
        batcher: ReplicaBatcher,
        wire: dict[str, Any],
        data: bytes,
        delivered: Delivered,
        seq: int,
        down: _MarkedDown,
    ) -> None:
        self.q, self.batcher, self.wire, self.data = q, batcher, wire, data
        self.delivered, self.seq, self.down = delivered, seq, down
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def launch(self, peers: list[str]) -> None:
        for p in peers:
            self.batcher.send(p, self.wire, self.data).add_done_callback(
                functools.partial(self.landed, p)
            )

    def landed(self, peer: str, fut: asyncio.Future[bool]) -> None:
        ok = not fut.cancelled() and fut.result()
        if ok:  # committed there: its catch-up pages leave it out
            self.delivered.add(peer, self.seq)
        self.launch(self.q.on_result(peer, ok, self.down))
        if self.q.decision is not Decision.PENDING:
            self.answer()

    def answer(self) -> None:
        if not self.answered.done():
            self.answered.set_result(None)


class Peers:
    def __init__(
        self,
        node: NodeCore,
        *,
        timeout: float = 2.0,
        down_for: float = 3.0,
        sync_interval: float = 0.5,
    ) -> None:
        self.node = node
        self.view = Membership.empty()
        self.timeout = timeout
        self.sync_interval = sync_interval
        self.links = Links(self)  # authenticated links, both ways (node/links.py)
        self.batcher = ReplicaBatcher(self._request)  # replicated writes, batched per peer
        self.down = _MarkedDown(self.is_up)  # asked only when a send must be chosen
        self.detector = FailureDetector(down_for)  # the heartbeat rule
        self.pings = PingSchedule(interval=1.0)  # whom a round pings (its loop's interval)
        self._unknown_since: dict[str, float] = {}  # see ``gone_after``
        self._tasks: list[asyncio.Task[None]] = []
        self._replica_sets: dict[str, tuple[str, ...]] = {}
        self._holders: dict[str, list[str]] = {}  # preference lists under ``_holders_of``
        self._holders_of: Membership | None = None
        # the views of earlier layouts, with when they were replaced (strict objects' rounds
        # stay joint with their acceptors for HANDOVER_SECONDS)
        self.previous_views: list[tuple[float, Membership]] = []
        self.refresh_soon: Callable[[], None] = lambda: None  # the server's registry loop
        self.view_changed_at = 0.0
        self.antientropy = AntiEntropy(self)
        self.clock: Callable[[], float] = time.monotonic
        self.catchup = CatchUpShell(
            self, self.antientropy.get_records, self.antientropy.store, self.antientropy.wake.set
        )
        self.catching_up = self.catchup.busy  # peers whose log we are pulling right now
        self.catchup_behind = self.catchup.behind  # of those, the ones paging a backlog

    @property
    def self_id(self) -> str:
        return self.node.key.address

    def view_of(self, state: Any) -> Membership:
        """The membership of a registry state, this node's neighbours computed; the
        placement is rebuilt only when the node set or V changed. Seconds at 10,000
        supernodes: call it off the event loop."""
        view = membership_from_state(state, previous=self.view)
        view.neighbours(self.self_id)
        return view

    def update(self, view: Membership) -> None:
        if view.layout_differs(self.view):
            # placement changed: anti-entropy finds keys we now replicate, hand-off waits
            if self.view.nodes:  # strict objects' rounds go joint with the old acceptors
                self.previous_views.append((self.clock(), self.view))
            self.view_changed_at = self.clock()
            self.antientropy.shared.built = False  # shared roots: rebuilt next round
            self._replica_sets.clear()
            self.antientropy.wake.set()
            self.catchup.wake()  # keys this node replicates moved: pull from all, now
        self.view = view
        self.links.drop_removed(view)
        self.antientropy.old_gets.forget(view.nodes)
        self.catchup.delivered.keep_only(view.nodes)

    def start(self) -> None:
        rc = self.node.config.replication
        self._tasks = [
            asyncio.create_task(self.catchup.run(self.sync_interval), name="peer-sync"),
            asyncio.create_task(self._heartbeat_loop(rc.heartbeat_seconds), name="heartbeat"),
            asyncio.create_task(
                self.antientropy.run(rc.anti_entropy_seconds, rc.handoff_grace_seconds),
                name="anti-entropy",
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.links.close_all()

    # -- placement ----------------------------------------------------------------------

    def preference(self, key: str) -> list[str]:
        """The key's holders: its replicas, then its stand-in candidates (cached for the
        current view object; a copy, callers may change it)."""
        if self._holders_of is not self.view or len(self._holders) > 200_000:
            self._holders_of, self._holders = self.view, {}
        found = self._holders.get(key)
        if found is None:
            found = self._holders[key] = list(self.view.holders(key))
        return list(found)

    def replica_set(self, key: str) -> tuple[str, ...]:
        """The key's ``N`` replicas under this node's view (cached per view)."""
        reps = self._replica_sets.get(key)
        if reps is None:
            try:
                reps = self.view.replicas(key)
            except FlocloudError:
                reps = ()
            if len(self._replica_sets) > 200_000:
                self._replica_sets.clear()
            self._replica_sets[key] = reps
        return reps

    def remember_layouts(self, views: list[Membership]) -> None:
        """Earlier layouts read from the chain at start (the registry's recent history):
        rounds stay joint with them as with the ones this node saw change."""
        now = self.clock()
        for view in views:
            if (
                view.nodes
                and view.layout_differs(self.view)
                and all(view.layout_differs(v) for _, v in self.previous_views)
            ):
                self.previous_views.append((now, view))

    def known_node(self, peer: str) -> tuple[str, str] | None:
        """``(uri, pubkey)`` of ``peer`` under the current view, or else under the newest
        earlier layout that lists it: a node of an earlier layout may still hold a strict
        object's acceptor state (``node/strict.py``)."""
        entry = self.view.nodes.get(peer)
        if entry is None:
            entry = next(
                (v.nodes[peer] for _, v in reversed(self.previous_views) if peer in v.nodes), None
            )
        return None if entry is None else (entry[0], entry[1])

    def previous_replica_sets(self, key: str) -> list[tuple[str, ...]]:
        """The key's replicas under each earlier layout of the last ``HANDOVER_SECONDS``,
        newest first."""
        now = self.clock()
        self.previous_views = [(t, v) for t, v in self.previous_views if now - t < HANDOVER_SECONDS]
        out = []
        for _, view in reversed(self.previous_views):
            try:
                out.append(view.replicas(key))
            except FlocloudError:
                continue
        return out

    @property
    def epoch(self) -> Any:
        """The registry epoch of the view, as sent on the wire (``{"height", "hash"}``)."""
        e = self.view.epoch
        return e.to_json() if hasattr(e, "to_json") else e

    def neighbours(self) -> set[str]:
        """Exactly the peers this node can share a key with (as replicas, or replica and
        stand-in): ``Membership.neighbours``, computed with the view."""
        return set(self.view.neighbours(self.self_id))

    @property
    def gone_after(self) -> float:
        """A store named by a client's cursor that no holder runs counts as gone only after
        this long: by then registry views agree (``replication/lacking.py``)."""
        return 3 * self.node.config.chain.refresh_seconds

    def is_up(self, peer: str) -> bool:
        return peer not in self.blocked and self.detector.is_up(peer, self.clock())

    @property
    def blocked(self) -> set[str]:
        """Peers unreachable by fault injection (``Links.refresh_faults``)."""
        return self.links.blocked

    def refresh_faults(self) -> None:
        self.links.refresh_faults(self.antientropy.wake.set)

    def candidates(self, key: str) -> list[str]:
        """The key's sloppy quorum without this node, in preference order: its replicas,
        then as many further nodes again to stand in for replicas that fail."""
        return candidates(self.preference(key), self.view.replication_factor, self.self_id)

    def accepts(self, key: str) -> bool:
        """Whether this node takes a client write of ``key``: it is a replica, or among the
        first ``N`` live nodes of the key's preference list (standing in for dead ones)."""
        return accepts(self.preference(key), self.view.replication_factor, self.self_id, self.is_up)

    def replicates(self, node_id: str, key: str) -> bool:
        return node_id in self.replica_set(key)

    # -- links --------------------------------------------------------------------------

    async def link(self, peer: str, *, probe: bool = False, wait: bool = False) -> NodeConnection:
        """An authenticated link to ``peer`` (``Links.get``)."""
        return await self.links.get(peer, probe=probe, wait=wait)

    # -- forwarding ---------------------------------------------------------------------

    async def replicate(self, env: Envelope | KindRecord, result: PutResult) -> tuple[int, int]:
        """Send a committed write to its quorum (``WriteQuorum`` decides whom, from the
        outcomes); returns (nodes holding it, W) once W hold it, every candidate failed, or
        the timeout passed. Remaining sends go on in the background: each outcome, when
        it lands, is given to the quorum, which may bring in the next candidate. The sends
        go through the batcher (``node/replicate.py``): one frame per peer carries the
        writes committed together."""
        key = env.body.receiverID if isinstance(env, Envelope) else env.receiver
        w = self.view.write_quorum
        n = self.view.replication_factor
        cands = self.candidates(key)
        q = WriteQuorum(cands, width=n - 1, need=w - 1)
        if not cands:  # a node alone (no registry, or N = 1): nobody to send to
            q.give_up()
            return q.copies, w
        # only this store's own dots: a replica takes no numbers it cannot check; a write
        # this node got from elsewhere (a client's retry here) goes with none, and a replica
        # that lacks it numbers it itself (dots are a union: a cursor covering any covers it)
        mine = await self.node.service.store.store_id()
        own = [list(d) for d in result.dots if d[0] == mine]
        wire: dict[str, Any] = {"envelope": env.to_wire(), "dots": own}
        if not isinstance(env, Envelope):
            wire["kind"] = env.kind
        data = orjson.dumps(wire)
        sends = _Sends(q, self.batcher, wire, data, self.catchup.delivered, result.seq, self.down)
        sends.launch(q.start(sends.down))
        if q.decision is Decision.PENDING:
            timer = asyncio.get_running_loop().call_later(self.timeout, sends.answer)
            try:
                await sends.answered
            finally:
                timer.cancel()
            if q.decision is Decision.PENDING:
                q.give_up()
        return q.copies, w

    async def _request(self, peer: str, op: str, fields: dict[str, Any]) -> dict[str, Any]:
        """One request to ``peer`` over its link (the batcher's transport)."""
        conn = await self.link(peer, probe=True, wait=True)
        return await conn.request(op, **fields)

    async def forward(self, env: Envelope) -> dict[str, Any] | None:
        """A client write of a key this node does not take: the ack of a node that does
        (``peer.forward``), or None when none answers (this node then stands in)."""
        key = env.body.receiverID
        if not self.view.nodes or self.accepts(key):
            return None
        for peer in self.preference(key)[: 2 * self.view.replication_factor]:
            if peer == self.self_id or not self.is_up(peer):
                continue
            try:
                conn = await self.link(peer)
                reply = await conn.request("peer.forward", envelope=env.to_wire())
            except Unavailable as exc:
                if "replicas" in exc.details:  # it stored the write: its answer is ours
                    raise
                continue
            reply.pop("id", None)
            reply.pop("ok", None)
            return reply
        return None

    # -- heartbeats ---------------------------------------------------------------------

    async def _heartbeat_loop(self, interval: float) -> None:
        self.pings.interval = interval
        self.node.service.metrics.replication["heartbeats_sent"] += 0  # on /metrics at once
        while True:
            await asyncio.sleep(interval)
            self.refresh_faults()
            peers = sorted(p for p in self.neighbours() if p in self.view.nodes)
            for p in peers:  # what the links heard of other traffic, or did not
                conn = self.links.conns.get(p)  # its times are on self.clock (Links.get)
                if conn is not None:
                    self.pings.heard(p, conn.heard)
                    self.pings.failed(p, conn.unanswered)
                failed_at = self.links.failed_at(p)
                if failed_at is not None:
                    self.pings.failed(p, failed_at)
            ping, heard = self.pings.round(peers, self.clock(), self.is_up)
            for p in heard:
                self.detector.answered(p)
            self.node.service.metrics.replication["heartbeats_sent"] += len(ping)
            await asyncio.gather(*(self._ping(p, interval) for p in ping))

    async def _ping(self, peer: str, interval: float) -> None:  # the heartbeat rule
        """A refused connection marks the peer down at once; a slow answer only after two
        heartbeats in a row (a busy peer is not a dead one)."""
        was_down = not self.is_up(peer)
        try:
            async with asyncio.timeout(max(interval, self.timeout)):
                conn = await self.link(peer, probe=True)
                await conn.request("ping")
        except (FlocloudError, TimeoutError) as exc:
            slow = isinstance(exc, TimeoutError)
            self.pings.failed(peer, self.clock())  # a slow one is pinged again next round
            if self.detector.failed(peer, self.clock(), slow=slow) and not was_down:
                log.info("peer %s is down (heartbeat: %s)", peer, type(exc).__name__)
                self.node.service.metrics.replication["peer_down"] += 1
            return
        self.detector.answered(peer)
        if was_down:
            log.info("peer %s is back", peer)
            self.node.service.metrics.replication["peer_up"] += 1
            self.antientropy.pace.differ(peer)  # compared in the round the wake starts
            self.antientropy.wake.set()
            self.catchup.wake(peer)

    # -- catch-up (node/catchup.py drives replication/catchup.py) ---------------------

    async def each_live_neighbour(
        self, work: Callable[[str], Awaitable[Any]], what: str, skip: Container[str] = ()
    ) -> None:
        """Run ``work(peer)`` for each live neighbour in turn; a failure is logged and the
        next peer goes on."""
        for peer in sorted(self.neighbours()):
            if not self.is_up(peer) or peer in skip:
                continue
            try:
                await work(peer)
            except FlocloudError as exc:
                log.debug("%s with %s failed: %s", what, peer, exc.message)
            except Exception:
                log.exception("%s with %s failed", what, peer)

    def paging_us(self) -> set[str]:
        """The peers paging through a backlog of our log (``CatchUpShell.paging``)."""
        return self.catchup.paging()

    @property
    def cursors(self) -> dict[str, int]:
        """Our position in each peer's log (its seq)."""
        return self.catchup.cursors

    async def load_cursors(self) -> None:
        await self.catchup.load()

    @property
    def store_of(self) -> dict[str, str]:
        """Each peer's store id (its dots' origin) as far as this node knows it: from its
        catch-up positions and the handshakes of inbound links."""
        return {**self.catchup.stores(), **self.links.stores}

    async def store_batch(self, records: list[dict[str, Any]], peer: str) -> int:
        """Verify and store pulled records (``node/replicas.py``: the store commits them in
        a few batches, dependents retried in order)."""
        return await store_records(self.node.service, records, peer)

    # -- a client's cursor ahead of this node: ask the key's replicas ------------------

    async def _ask_key(self, peer: str, receiver: str, **args: Any) -> list[dict[str, Any]] | None:
        """``peer.key`` to ``peer``: its records (dicts only), or None when it did not
        answer (or is no longer a member when it does)."""
        try:
            conn = await self.link(peer)
            reply = await conn.request("peer.key", receiver=receiver, **args)
        except FlocloudError as exc:
            log.debug("peer.key of %s from %s failed: %s", receiver, peer, exc.message)
            return None
        if peer not in self.view.nodes:  # removed while we asked
            return None
        rows = reply.get("records")
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    async def pull_key(self, receiver: str, cursor: Cursor) -> None:
        """A client's cursor names writes of ``receiver`` this node lacks (it read another
        replica): fetch from the key's live replicas what that cursor does not cover and
        this node lacks, so the answer that follows is as complete as theirs."""
        store = self.node.service.store
        asked = [
            p
            for p in self.preference(receiver)[: self.view.replication_factor]
            if p != self.self_id and self.is_up(p)
        ]
        after = cursor.encode()
        # all at once: a replica that does not answer costs its own timeout, not a sum of them
        answers = await asyncio.gather(*(self._ask_key(p, receiver, after=after) for p in asked))
        for peer, records in zip(asked, answers, strict=True):
            if records:
                have = await store.have([(receiver, str(r.get("id"))) for r in records])
                await self.store_batch([r for r in records if r.get("id") not in have], peer)

    async def pull_lacking(self, receiver: str, ranges: tuple[Range, ...]) -> bool:
        """A client's cursor covers dots of ``receiver`` this node does not hold
        (``ranges``, ``cursor.lacking``): fetch the writes held under them from the key's
        replicas and from the nodes whose stores are their origins, all at once. A write
        this node holds under another dot learns these, so the answer that follows does
        not send it again. True when the answers settle it (``replication.lacking``):
        what is still lacking then is held by no member."""
        members = self.view.nodes
        stores = self.store_of  # what this node knows now (the answers may teach more)
        asked = lacking.ask(ranges, self.replica_set(receiver), stores, members, self.self_id)
        wire = [list(r) for r in ranges]

        async def one(peer: str) -> bool:
            if not self.is_up(peer):
                return False
            records = await self._ask_key(peer, receiver, lacking=wire)
            if records is None:
                return False
            await self.store_batch(records, peer)  # held ones only learn the dots
            return True

        answered = await asyncio.gather(*(one(p) for p in asked))
        mine = await self.node.service.store.store_id()
        is_settled = lacking.settled(
            ranges, all(answered), stores, members, self.preference(receiver),
            self.self_id, mine, self._unknown_since, self.clock(), self.gone_after,
        )  # fmt: skip
        while len(self._unknown_since) > 10_000:  # bounded: the least recently seen go
            self._unknown_since.pop(next(iter(self._unknown_since)))
        return is_settled

    async def serve_key(self, receiver: Any, after: Any, ranges: Any = None) -> dict[str, Any]:
        """A receiver's writes a cursor does not cover (tombstoned ones included), or,
        with ``ranges`` (a ``lacking`` list), those held under the given dots."""
        if not isinstance(receiver, str) or not receiver:
            raise BadFormat("peer.key needs a receiver")
        store = self.node.service.store
        if ranges is not None:
            held = await store.holding(receiver, parse_ranges(ranges), 1000)
            return {"records": [{**r.to_wire(), "receiver": r.receiver} for r in held]}
        f = MessageFilter(
            receiver, after=Cursor.decode(after), limit=1000, include_deleted=True, kind="*"
        )
        page = await store.query(f)
        return {
            "records": [{**r.to_wire(), "receiver": r.receiver} for r in page.records],
            "more": page.more,
        }
