"""Replication between supernodes: authenticated links, quorum writes, catch-up sync.

Invariants owned here:
- Only registered supernodes talk replication: every link is authenticated with the
  signed challenge of ``flocloud.protocol.peering`` against the registry's public keys,
  in both directions, before any replication request is served.
- Placement is the protocol's: the replicas of a key are the first ``N = backupDepth + 1``
  supernodes of its preference list. A node that accepts a write stores it, then forwards
  it to the other live replicas; when a replica is down, the next live node of the
  preference list stands in for it (it keeps the write until the replica has synced it
  back). The client is acknowledged once ``W`` (writeQuorum) nodes have committed it, or,
  when fewer are reachable within the timeout, with the count it got (``replicas`` in
  the ack), never before the local commit.
- Catch-up: each node periodically pulls from every live peer the writes committed
  there after the last position it saw (the peer's own ``seq``) and keeps those whose key
  it replicates under its own view of the registry (a peer's view may lag). A peer seen
  for the first time is followed from its current position: what it held before is
  anti-entropy's work (``antientropy.py``), whose traffic grows with the difference.
  Writes are idempotent by message id, so a pull after a restart, a partition or a new
  registry entry converges without double storage.
- Failure detection: neighbours are pinged every ``heartbeat_seconds``; a peer that fails
  a ping or a request is skipped for ``down_for`` seconds or until a ping succeeds again,
  which also starts an anti-entropy round with it. Links reconnect on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from flocloud.client.connection import NodeConnection
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import FlocloudError, Unavailable
from flocloud.protocol.peering import check_peer, sign_transcript, transcript
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES, Placement

if TYPE_CHECKING:
    from .server import Node
    from .service import KindRecord

from .antientropy import AntiEntropy

__all__ = ["Peers", "RegistryView"]

log = logging.getLogger("flocloud.node.peers")

PROBE_BACKOFF = 0.5  # seconds between two connection attempts to a peer


@dataclass
class RegistryView:
    """What replication needs from the chain registry."""

    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (uri, pubkey hex)
    replication_factor: int = 1
    write_quorum: int = 1
    virtual_nodes: int = DEFAULT_VIRTUAL_NODES
    placement: Placement | None = None

    @classmethod
    def from_state(cls, state: Any) -> RegistryView:
        vn = state.config.get("virtualNodes", DEFAULT_VIRTUAL_NODES)
        vn = vn if isinstance(vn, int) and vn > 0 else DEFAULT_VIRTUAL_NODES
        nodes = {n.id: (n.uri, n.pubkey) for n in state.nodes}
        placement = Placement.build(nodes, vn) if nodes else None
        return cls(nodes, state.replication_factor, state.write_quorum, vn, placement)

    @property
    def pubkeys(self) -> dict[str, str]:
        return {k: v[1] for k, v in self.nodes.items()}


class Peers:
    def __init__(
        self, node: Node, *, timeout: float = 2.0, down_for: float = 3.0, sync_interval: float = 0.5
    ) -> None:
        self.node = node
        self.view = RegistryView()
        self.timeout = timeout
        self.down_for = down_for
        self.sync_interval = sync_interval
        self.links: dict[str, NodeConnection] = {}
        self._down_until: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.cursors: dict[str, int] = {}  # peer id -> last peer seq pulled
        self._saved: dict[str, tuple[str, int]] = {}  # peer id -> (its store id, seq), on disk
        self._fresh_until: dict[str, float] = {}  # receiver -> until when prepare_key holds
        self._preparing: dict[str, asyncio.Future[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.catching_up: set[str] = set()  # peers whose log we are pulling right now
        self._missed: dict[str, int] = {}
        self._failed_at: dict[
            str, float
        ] = {}  # last failed connection attempt, by peer  # heartbeats missed in a row, by peer
        self._replica_sets: dict[str, tuple[str, ...]] = {}
        self._neighbours: set[str] | None = None
        self.view_changed_at = 0.0
        self.antientropy = AntiEntropy(self)
        self.clock: Callable[[], float] = time.monotonic
        self.blocked: set[str] = set()  # fault injection (partition): see refresh_faults
        self._fault_mtime = 0.0

    @property
    def self_id(self) -> str:
        return self.node.key.address

    def update(self, view: RegistryView) -> None:
        if (
            set(view.nodes) != set(self.view.nodes)
            or view.replication_factor != self.view.replication_factor
            or view.virtual_nodes != self.view.virtual_nodes
        ):
            # placement changed: anti-entropy finds keys we now replicate, hand-off waits
            self.view_changed_at = self.clock()
            self._replica_sets.clear()
            self._neighbours = None
            self.antientropy.wake.set()
        self.view = view
        for peer in list(self.links):
            if peer not in view.nodes:
                task = asyncio.ensure_future(self.links.pop(peer).close())
                task.add_done_callback(lambda t: t.exception())

    def start(self) -> None:
        rc = self.node.config.replication
        self._tasks = [
            asyncio.create_task(self._sync_loop(), name="peer-sync"),
            asyncio.create_task(self._heartbeat_loop(rc.heartbeat_seconds), name="heartbeat"),
            asyncio.create_task(
                self.antientropy.run(rc.anti_entropy_seconds, rc.handoff_grace_seconds),
                name="anti-entropy",
            ),
        ]

    async def load_cursors(self) -> None:
        """Resume catch-up where it stopped before a restart (positions are on disk)."""
        self._saved = await self.node.service.store.peer_cursors()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in list(self.links.values()):
            await link.close()
        if self._session is not None:
            await self._session.close()

    # -- placement ----------------------------------------------------------------------

    def preference(self, key: str) -> list[str]:
        return self.view.placement.preference_list(key) if self.view.placement else []

    def replica_set(self, key: str) -> tuple[str, ...]:
        """The key's ``N`` replicas under this node's view (cached per view)."""
        reps = self._replica_sets.get(key)
        if reps is None:
            if self.view.placement is None:
                return ()
            try:
                reps = tuple(self.view.placement.replicas(key, self.view.replication_factor))
            except FlocloudError:
                reps = ()
            if len(self._replica_sets) > 200_000:
                self._replica_sets.clear()
            self._replica_sets[key] = reps
        return reps

    def neighbours(self) -> set[str]:
        """The peers this node may share keys with: every peer in a small network, else
        the nodes nearest its positions (``Placement.neighbours``)."""
        if self._neighbours is None:
            others = set(self.view.nodes) - {self.self_id}
            if len(others) <= 64 or self.view.placement is None:
                self._neighbours = others
            else:
                self._neighbours = self.view.placement.neighbours(
                    self.self_id, self.view.replication_factor
                )
        return self._neighbours

    def is_up(self, peer: str) -> bool:
        return peer not in self.blocked and self._down_until.get(peer, 0.0) <= self.clock()

    def refresh_faults(self) -> None:
        """Test/dev fault injection: the config's ``fault_file`` (JSON ``{"partition":
        [node IDs]}``) lists peers to treat as unreachable, both ways. Off when unset."""
        path = self.node.config.fault_file
        if not path:
            return
        p = self.node.config.path(path)
        try:
            mtime = p.stat().st_mtime
        except FileNotFoundError:
            mtime = -1.0
        if mtime == self._fault_mtime:
            return
        self._fault_mtime = mtime
        try:
            blocked = set(json.loads(p.read_text()).get("partition", [])) if mtime >= 0 else set()
        except (OSError, ValueError, AttributeError):
            log.warning("unreadable fault file %s", p)
            return
        if blocked == self.blocked:
            return
        self.blocked = blocked
        self.antientropy.wake.set()  # a healed link: compare replicas now
        for peer in blocked:
            link = self.links.pop(peer, None)
            if link is not None:
                task = asyncio.ensure_future(link.close())
                task.add_done_callback(lambda t: t.exception())
        log.info("partitioned from %s", sorted(blocked) or "nobody")

    def targets(self, key: str) -> list[str]:
        """Peers to forward a write for ``key`` to: live replicas, plus stand-ins for dead ones."""
        pref = self.preference(key)
        n = self.view.replication_factor
        replicas = pref[:n]
        missing = sum(1 for p in replicas if p != self.self_id and not self.is_up(p))
        out = [p for p in replicas if p != self.self_id and self.is_up(p)]
        for p in pref[n:]:
            if missing <= 0:
                break
            if p != self.self_id and self.is_up(p):
                out.append(p)
                missing -= 1
        return out

    def replicates(self, node_id: str, key: str) -> bool:
        return node_id in self.replica_set(key)

    # -- links --------------------------------------------------------------------------

    async def link(self, peer: str, *, probe: bool = False) -> NodeConnection:
        """An authenticated link to ``peer``; ``probe`` tries even if it is marked down, but
        at most one connection attempt per peer every ``PROBE_BACKOFF`` seconds."""
        conn = self.links.get(peer)
        if conn is not None and not conn.closed:
            return conn
        if peer in self.blocked or (not probe and not self.is_up(peer)):
            raise Unavailable(f"peer {peer} is marked down")
        lock = self._locks.setdefault(peer, asyncio.Lock())
        async with lock:
            conn = self.links.get(peer)
            if conn is not None and not conn.closed:
                return conn
            if self.clock() - self._failed_at.get(peer, -PROBE_BACKOFF) < PROBE_BACKOFF:
                raise Unavailable(f"peer {peer} failed a moment ago")
            uri = self.view.nodes[peer][0]
            if self._session is None:
                self._session = aiohttp.ClientSession()
            conn = NodeConnection(uri, self._session, timeout=self.timeout)
            try:
                await conn.connect()
                await self._authenticate(conn, peer)
            except FlocloudError:
                await conn.close()
                self._failed_at[peer] = self.clock()
                self._down_until[peer] = self.clock() + self.down_for
                raise
            self.links[peer] = conn
            return conn

    async def _authenticate(self, conn: NodeConnection, peer: str) -> None:
        na = os.urandom(32).hex()
        hello = await conn.request("peer.hello", node_id=self.self_id, nonce=na)
        if hello.get("node_id") != peer:
            raise Unavailable(f"{conn.url} is {hello.get('node_id')}, not {peer}")
        nb = str(hello.get("nonce"))
        check_peer(
            self.view.pubkeys,
            peer,
            str(hello.get("sign")),
            transcript("server", self.self_id, peer, na, nb),
        )
        mine = sign_transcript(self.node.key, transcript("client", self.self_id, peer, na, nb))
        await conn.request("peer.auth", sign=mine)

    # -- forwarding ---------------------------------------------------------------------

    async def replicate(self, env: Envelope | KindRecord, kseq: int) -> int:
        """Forward a committed write; returns how many peers committed it (before the quorum
        is reached, or the timeout). Stragglers keep going in the background."""
        key = env.body.receiverID if isinstance(env, Envelope) else env.receiver
        targets = self.targets(key)
        need = self.view.write_quorum - 1
        probe: set[str] = set()
        if len(targets) < need:
            # too few live replicas to reach the quorum: a down mark may be stale (a peer
            # that restarted, or had not read the registry yet), so try those replicas too
            for p in self.replica_set(key):
                if p != self.self_id and p not in targets and p not in self.blocked:
                    targets.append(p)
                    probe.add(p)
        if not targets or need <= 0:
            if targets:
                for peer in targets:
                    self._background(self._send(peer, env, kseq))
            return 0
        tasks = [
            asyncio.ensure_future(self._send(peer, env, kseq, probe=peer in probe))
            for peer in targets
        ]
        done_ok = 0
        deadline = self.clock() + self.timeout
        pending = set(tasks)
        while pending and done_ok < need:
            left = deadline - self.clock()
            if left <= 0:
                break
            finished, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            done_ok += sum(
                1 for t in finished if not t.cancelled() and t.exception() is None and t.result()
            )
        for t in pending:
            t.add_done_callback(lambda t: t.cancelled() or t.exception())
        return done_ok

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _send(
        self, peer: str, env: Envelope | KindRecord, kseq: int, probe: bool = False
    ) -> bool:
        kind = {} if isinstance(env, Envelope) else {"kind": env.kind}
        try:
            conn = await self.link(peer, probe=probe)
            await conn.request("peer.replicate", envelope=env.to_wire(), kseq=kseq, **kind)
            if probe:
                self._down_until.pop(peer, None)  # it answered: it is up
            return True
        except FlocloudError as exc:
            if isinstance(exc, Unavailable):
                self._down_until[peer] = self.clock() + self.down_for
            log.debug("replicate to %s failed: %s", peer, exc.message)
            return False

    # -- heartbeats ---------------------------------------------------------------------

    async def _heartbeat_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.refresh_faults()
            peers = sorted(p for p in self.neighbours() if p in self.view.nodes)
            await asyncio.gather(*(self._ping(p, interval) for p in peers))

    async def _ping(self, peer: str, interval: float) -> None:
        """A refused connection marks the peer down at once; a slow answer only after two
        heartbeats in a row (a busy peer is not a dead one)."""
        was_down = not self.is_up(peer)
        try:
            async with asyncio.timeout(max(interval, self.timeout)):
                conn = await self.link(peer, probe=True)
                await conn.request("ping")
        except (FlocloudError, TimeoutError) as exc:
            self._missed[peer] = self._missed.get(peer, 0) + 1
            if isinstance(exc, TimeoutError) and self._missed[peer] < 2:
                return
            if not was_down:
                log.info("peer %s is down (heartbeat: %s)", peer, type(exc).__name__)
                self.node.service.metrics.replication["peer_down"] += 1
            self._down_until[peer] = self.clock() + self.down_for
            return
        self._missed.pop(peer, None)
        if was_down:
            log.info("peer %s is back", peer)
            self.node.service.metrics.replication["peer_up"] += 1
            self.antientropy.wake.set()
        self._down_until.pop(peer, None)

    # -- catch-up sync ------------------------------------------------------------------

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval)
            self.refresh_faults()
            await self.each_live_neighbour(self.pull, "catch-up")

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

    async def _advance(self, peer: str, store_id: str, position: int) -> None:
        """Our position in ``peer``'s log; kept on disk (only when it moved)."""
        self.cursors[peer] = position
        if store_id and self._saved.get(peer) != (store_id, position):
            self._saved[peer] = (store_id, position)
            await self.node.service.store.save_peer_cursor(peer, store_id, position)

    async def pull(self, peer: str) -> int:
        """Pull what ``peer`` committed since our position in its log and we replicate;
        returns how many writes were stored. The log comes as ids and receivers; the
        writes we lack are then fetched in full (``peer.get``). Writes we forwarded to the
        peer are left out by the peer: they are here."""
        conn = await self.link(peer)
        stored = 0
        if peer not in self.cursors and peer in self._saved:
            self.cursors[peer] = self._saved[peer][1]
        if peer not in self.cursors:
            # first contact: follow the peer from now on; anti-entropy compares the past
            reply = await conn.request("peer.sync", from_top=True)
            await self._advance(peer, str(reply.get("store_id", "")), int(reply.get("next", 0)))

        # the next page is requested before this one is stored, so the peer reads while
        # we verify and commit
        def ask(after: int) -> asyncio.Future[dict[str, Any]]:
            return asyncio.ensure_future(conn.request("peer.sync", after=after, limit=500))

        pending = ask(self.cursors[peer])
        self.catching_up.add(peer)
        try:
            while True:
                reply = await pending
                their_store = str(reply.get("store_id", ""))
                known = self._saved.get(peer)
                if known is not None and known[0] != their_store and self.cursors.get(peer, 0):
                    # the peer's store was replaced: its positions restarted; what it holds
                    # now is anti-entropy's to compare
                    self.cursors.pop(peer, None)
                    self._saved.pop(peer, None)
                    self.antientropy.wake.set()
                    return stored
                nxt = int(reply.get("next", self.cursors[peer]))
                more = bool(reply.get("more"))
                if more:
                    pending = ask(nxt)
                wanted = [
                    str(rec.get("id"))
                    for rec in reply.get("records", [])
                    # our own view of placement decides what we keep: the peer's may lag
                    if self.replicates(self.self_id, str(rec.get("receiver", "")))
                ]
                have = await self.node.service.store.have(wanted)
                missing = [i for i in wanted if i not in have]
                stored += await self.antientropy.fetch(conn, peer, missing)
                await self._advance(peer, their_store, nxt)
                if not more:
                    return stored
        finally:
            self.catching_up.discard(peer)
            if not pending.done():
                pending.cancel()
            pending.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def store_batch(self, records: list[dict[str, Any]], peer: str) -> int:
        """Store pulled records concurrently, so the store commits them in a few batches.
        Records are applied in the peer's order where it matters: a write that depends on an
        earlier one (a patch, a tag) is retried after the rest of the batch."""

        async def one(rec: dict[str, Any]) -> bool:
            env = self.node.service.parse_replica(rec)
            kseq = rec.get("seq") if type(rec.get("seq")) is int else None
            return not (
                await self.node.service.store_replica(env, origin=peer, kseq=kseq)
            ).duplicate

        results = await asyncio.gather(*(one(r) for r in records), return_exceptions=True)
        stored = sum(1 for r in results if r is True)
        retry = [
            rec for rec, r in zip(records, results, strict=True) if isinstance(r, FlocloudError)
        ]
        for rec in retry:  # in order, after the batch: versions and targets exist now
            try:
                stored += await one(rec)
            except FlocloudError as exc:
                log.debug("skipping %s from %s: %s", rec.get("id"), peer, exc.message)
        return stored

    # -- keys taken over: continue the numbering above every acknowledged write ----------

    async def prepare_key(self, receiver: str) -> None:
        """Before serving or numbering ``receiver``'s writes, pull what its live replicas
        hold beyond ours. A write acknowledged with W >= 2 is on at least one live replica
        when one node fails, so a stand-in numbers new writes above it and a client's
        cursor stays exact across the failover. The home node does this after a (re)start
        and then every few seconds; a stand-in before each request, at most every 0.5 s."""
        if self.view.placement is None or not receiver:
            return
        if self._fresh_until.get(receiver, 0.0) > self.clock():
            return
        running = self._preparing.get(receiver)
        if running is not None:  # one pull per key at a time; the others wait for it
            await asyncio.shield(running)
            return
        task = asyncio.ensure_future(self._prepare(receiver))
        self._preparing[receiver] = task
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._preparing.pop(receiver, None)

    async def _prepare(self, receiver: str) -> None:
        now = self.clock()
        pref = self.preference(receiver)
        if not pref:
            return
        home = pref[0] == self.self_id
        first_live = next((p for p in pref if p == self.self_id or self.is_up(p)), None)
        if self.self_id not in self.replica_set(receiver) and first_live != self.self_id:
            return  # neither a replica nor the stand-in that numbers its writes
        store = self.node.service.store
        top = await store.max_kseq(receiver)
        for peer in pref[: self.view.replication_factor]:
            if peer == self.self_id or not self.is_up(peer):
                continue
            try:
                conn = await self.link(peer)
                reply = await conn.request("peer.key", receiver=receiver, after=top)
            except FlocloudError as exc:
                log.debug("key sync of %s from %s failed: %s", receiver, peer, exc.message)
                continue
            records = [r for r in reply.get("records", []) if isinstance(r, dict)]
            have = await store.have([str(r.get("id")) for r in records])
            await self.store_batch([r for r in records if r.get("id") not in have], peer)
        if len(self._fresh_until) > 100_000:
            self._fresh_until.clear()
        self._fresh_until[receiver] = now + (5.0 if home else 0.5)

    async def serve_key(self, receiver: Any, after: Any) -> dict[str, Any]:
        """A receiver's writes after a receiver sequence number (tombstoned ones included)."""
        from flocloud.protocol.errors import BadFormat
        from flocloud.storage.store import MessageFilter

        if not isinstance(receiver, str) or not receiver:
            raise BadFormat("peer.key needs a receiver")
        after_i = after if type(after) is int and after >= 0 else 0
        f = MessageFilter(receiver, after=after_i, limit=1000, include_deleted=True, kind="*")
        records, more = await self.node.service.store.query(f)
        return {"records": [{**r.to_wire(), "receiver": r.receiver} for r in records], "more": more}

    # -- the serving side ---------------------------------------------------------------

    def hello(self, conn_state: dict[str, Any], node_id: Any, nonce: Any) -> dict[str, Any]:
        if node_id in self.blocked:
            raise Unavailable("partitioned (fault injection)")
        if not isinstance(node_id, str) or node_id not in self.view.nodes:
            from flocloud.protocol.errors import Forbidden

            raise Forbidden(f"{node_id} is not a registered supernode")
        nb = os.urandom(32).hex()
        digest = transcript("server", node_id, self.self_id, str(nonce), nb)
        conn_state.update(pending_peer=node_id, na=str(nonce), nb=nb)
        return {
            "node_id": self.self_id,
            "nonce": nb,
            "sign": sign_transcript(self.node.key, digest),
        }

    def auth(self, conn_state: dict[str, Any], sign: Any) -> dict[str, Any]:
        peer = conn_state.get("pending_peer")
        if not peer:
            from flocloud.protocol.errors import BadFormat

            raise BadFormat("peer.auth without peer.hello")
        check_peer(
            self.view.pubkeys,
            peer,
            str(sign),
            transcript("client", peer, self.self_id, conn_state["na"], conn_state["nb"]),
        )
        conn_state["peer"] = peer
        return {"peer": peer}

    async def serve_sync(
        self, requester: str, after: Any, limit: Any = None, from_top: bool = False
    ) -> dict[str, Any]:
        """Our log after ``after`` as ids and receivers, with our store's identity.
        Every write goes back, except those the requester itself forwarded to us (they are
        on the requester): it keeps what it replicates under its own view of the
        registry, which may be newer than ours (filtering here could skip writes for
        good). ``from_top``: no writes, just where the log ends now."""
        store = self.node.service.store
        if from_top:
            return {"records": [], "next": await store.top_seq(), "more": False,
                    "store_id": await store.store_id()}  # fmt: skip
        after_i = after if type(after) is int and after >= 0 else 0
        lim = limit if type(limit) is int and 0 < limit <= 1000 else 500
        log_rows = await store.log_since(after_i, lim)
        return {
            "records": [
                {"id": i, "receiver": r} for _, i, r, origin in log_rows if origin != requester
            ],
            "next": log_rows[-1][0] if log_rows else after_i,
            "more": len(log_rows) == lim,
            "store_id": await store.store_id(),
        }
