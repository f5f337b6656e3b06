"""Anti-entropy and hand-off between supernodes: repair what the write path missed, and
move keys to the nodes that replicate them. The I/O shell of the rules in
``flocloud.replication``: the descent (which ranges to ask, which keys and ids differ,
both sides' answers) is ``reconcile.py``, the hand-off decision (when, whom to push to,
when to drop) ``handoff.py``, the shared roots ``shared.py``; this module sends the
requests, reads the store and stores what comes back.

Invariants owned here (with those of the modules above):
- Traffic grows with the difference, not the data: two replicas compare fingerprints of
  key ranges (``flocloud.protocol.fingerprint``), descend only into ranges that differ,
  then compare id ranges of the keys that differ, and transfer only the missing writes,
  and those both hold under different dots (a retried write: each keeps the union).
  Equal replicas exchange one fingerprint per comparison, and a peer found equal is
  compared less often until what the two share moves or it asks with a root that is not
  ours (``replication/pace.py``; the round leaves it out).
- Each side pulls what it lacks (``peer.digest``, ``peer.ids``, ``peer.get``); it keeps
  only keys it replicates under its own view of the registry, so a peer whose view lags
  cannot push data onto it. Pulled writes are re-validated like any replicated write.
- Hand-off: a node that holds writes of a key it does not replicate (it stood in for a
  dead replica, or the registry moved the key) pushes them to the key's replicas
  (``peer.push``) and deletes its copy only when every one of the ``N`` replicas is live,
  says it is a replica of the key under its own view, and holds every one of those
  writes; and only after the registry has been stable for ``handoff_grace_seconds``.
  Writes that arrive meanwhile stay until a later round confirms them too. Each round
  takes the next ``max_keys`` foreign keys after where the last one stopped (round-robin,
  ``SharedDigests.next_foreign``), so keys that cannot be confirmed yet do not starve
  the others.
- While catch-up pages through a peer's backlog (``CatchUpShell.behind``), rounds wait
  and ``peer.digest`` answers ``later`` (no ranges: an older peer takes it for equal),
  and a peer paging through our log (``CatchUpShell.paging``) is left out of rounds,
  each at most ``DEFER_ROUNDS`` rounds in a row (the rule: ``replication/deferral.py``):
  the writes a comparison would find missing are on their way by catch-up, and comparing
  them meanwhile (each round listing the ids of the difference again) tripled a
  recovering node's traffic.
  ``peer.ids`` always answers (hand-off's confirmations rely on it).
- Tombstones are ordinary writes, so they travel the same way; they are never purged.
- Cost: a round starts with one comparison per peer of the fingerprint of everything the
  two share (``flocloud.replication.shared``, kept up to date write by write), so equal
  replicas cost milliseconds whatever the number of keys; scans of every key digest run
  only when a root differs or for the periodic exact rebuild, and off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from flocloud.client.connection import NodeConnection
from flocloud.protocol.errors import BadFormat, FlocloudError
from flocloud.protocol.fingerprint import Fingerprint, PrefixIndex, write_parts
from flocloud.replication import handoff as plan
from flocloud.replication.deferral import Deferral
from flocloud.replication.pace import ComparePace
from flocloud.replication.reconcile import (
    IdDescent,
    KeyDescent,
    answer_digest,
    answer_ids,
    parse_ranges,
    root_equal,
)
from flocloud.replication.shared import SharedDigests

if TYPE_CHECKING:
    from flocloud.storage.sqlite import SqliteStore

from .compat import OldGets, fetch_records
from .context import PeerNet
from .replicas import store_records
from .wake import woken

KeyDigest = tuple[str, str, Fingerprint]  # receiver, key position, fingerprint

__all__ = ["AntiEntropy"]

log = logging.getLogger("flocloud.node.antientropy")

GET_CHUNK = 500


class AntiEntropy:
    def __init__(self, peers: PeerNet) -> None:
        self.peers = peers
        self.wake = asyncio.Event()  # a round now: view change, a peer came back, heal
        self.shared = SharedDigests(peers.self_id)
        self.deferral = Deferral()  # rounds that wait for catch-up (``_defer``)
        self.pace = ComparePace()  # peers found equal: compared less often
        self.old_gets = OldGets()  # what older peers read here, to place their peer.get

    def on_commit(self, committed: list[Any]) -> None:
        """The store committed writes: move the shared roots (``SharedDigests``)."""
        for rec, _ in committed:
            delta = Fingerprint(1, *(rec.parts or write_parts(rec.id, rec.dots)))
            self.shared.add(rec.receiver, delta, self.peers.replica_set)

    async def _rebuild(self) -> list[KeyDigest]:
        digests = await self._store.key_digests()
        await asyncio.to_thread(
            self.shared.rebuild, [(r, fp) for r, _, fp in digests], self.peers.replica_set
        )
        return digests

    @property
    def _store(self) -> SqliteStore:
        return self.peers.node.service.store

    def _defer(self) -> bool:
        """Catch-up is paging through a peer's backlog: the writes a comparison would
        find missing now are on their way, so comparing would fetch them twice. At most
        ``DEFER_ROUNDS`` rounds in a row wait."""
        return self.deferral.waits(bool(self.peers.catchup_behind))

    def _count(self, event: str, n: int = 1) -> None:
        self.peers.node.service.metrics.replication[event] += n

    # -- what two nodes share -----------------------------------------------------------

    async def _shared_keys(self, peer: str, digests: list[KeyDigest] | None = None) -> PrefixIndex:
        """Keys stored here that both this node and ``peer`` replicate (this node's view),
        indexed by ``key position + receiver``; from ``digests`` when the caller read them."""
        me = self.peers.self_id
        if digests is None:
            digests = await self._store.key_digests()

        def build(digests: list[KeyDigest]) -> PrefixIndex:
            items = []
            for receiver, kpos, fp in digests:
                reps = self.peers.replica_set(receiver)
                if me in reps and peer in reps:
                    items.append((kpos + receiver, fp))
            return PrefixIndex(items)

        return await asyncio.to_thread(build, digests)

    # -- serving ------------------------------------------------------------------------

    async def serve_digest(self, requester: str, ranges: Any) -> dict[str, Any]:
        """For each of the requester's ranges whose fingerprint differs from ours: ours,
        and the keys in it when there are few. Equal ranges are left out."""
        asked = parse_ranges(ranges)
        if self._defer():  # catching up a backlog: what differs now is on its way here
            self._count("ae_later")
            return {"ranges": [], "later": True}  # an older requester sees "equal"
        if self.shared.built and root_equal(asked, self.shared.root(requester)):
            return {"ranges": []}  # equal replicas: no scan
        self.pace.differ(requester)  # it holds what we lack, or lacks what we hold
        return {"ranges": answer_digest(await self._shared_keys(requester), asked)}

    async def serve_ids(self, receiver: Any, ranges: Any, max_time: Any = None) -> dict[str, Any]:
        """Like ``serve_digest`` for the ids of one key (those settled at ``max_time``,
        when given: signed or received by then); small ranges list their ids."""
        if not isinstance(receiver, str) or not receiver:
            raise BadFormat("peer.ids needs a receiver")
        if max_time is not None and (type(max_time) is not int or not 0 <= max_time < 2**62):
            raise BadFormat("max_time must be a time in ms")
        asked = parse_ranges(ranges)
        store = self._store
        fps = await store.id_fingerprints(receiver, [p for p, _ in asked], max_time)
        out = []
        for p, fp, listed in answer_ids(asked, fps):
            entry: dict[str, Any] = {"prefix": p, "fp": fp.to_wire()}
            if listed:  # [id, part]: the part tells differing dots apart
                entry["ids"] = [
                    [i, q] for i, q in await store.receiver_items(receiver, p, max_time)
                ]
            out.append(entry)
        replica = self.peers.self_id in self.peers.replica_set(receiver)
        return {"ranges": out, "replica": replica}

    async def serve_get(self, keys: list[tuple[str, str]]) -> dict[str, Any]:
        """The writes of ``keys``, ``(receiver, id)`` pairs (checked by ``PeerGet``)."""
        records = await self._store.records(keys)
        return {"records": [{**r.to_wire(), "receiver": r.receiver} for r in records]}

    async def serve_old_get(self, requester: str, ids: list[str]) -> dict[str, Any]:
        """``peer.get {ids}`` of a node older than schema 13 (``node/compat.py``)."""
        return await self.serve_get(await self.old_gets.keys(self._store, requester, ids))

    async def serve_push(self, requester: str, records: Any) -> dict[str, Any]:
        if not isinstance(records, list) or len(records) > GET_CHUNK:
            raise BadFormat(f"records must be a list of at most {GET_CHUNK}")
        me = self.peers.self_id
        good = [
            r
            for r in records
            if isinstance(r, dict)
            and "envelope" in r
            and me in self.peers.replica_set(str(r.get("receiver", "")))
        ]
        stored = await self.peers.store_batch(good, requester)
        self._count("handoff_received", stored)
        return {"stored": stored}

    # -- pulling what we lack -----------------------------------------------------------

    async def reconcile(self, peer: str, digests: list[KeyDigest] | None = None) -> int:
        """One anti-entropy exchange with ``peer``; returns how many writes were pulled.
        ``digests``: this store's key digests, when the caller already read them."""
        conn = await self.peers.link(peer)
        if self.shared.built:  # one comparison first: equal replicas stop here
            root = self.shared.root(peer)
            try:
                reply = await conn.request("peer.digest", ranges=[["", root.to_wire()]])
            except FlocloudError:
                self.pace.differ(peer)
                raise
            self._count("ae_ranges")
            if reply.get("later") is True:  # the peer is catching up: a later round
                self._count("ae_deferred")
                return 0
            if not reply.get("ranges"):
                self.pace.equal(peer, root)
                self._count("ae_rounds")
                return 0
        self.pace.differ(peer)
        descent = KeyDescent(await self._shared_keys(peer, digests))
        while (wire := descent.batch()) is not None:
            reply = await conn.request("peer.digest", ranges=wire)
            descent.on_reply(reply.get("ranges"))
        self._count("ae_ranges", descent.asked)
        self._count("ae_items", descent.listed)
        differing = descent.differing
        pulled = 0
        for receiver in differing:
            if self.deferral.cut_short(
                bool(self.peers.catchup_behind), peer, self.peers.paging_us()
            ):
                break  # catch-up started on a backlog since: it fetches these
            if self.peers.self_id not in self.peers.replica_set(receiver):
                continue  # not ours under our view: the peer's view differs
            # writes of the last few seconds are still on their way: leave them out. A
            # write settles at the earlier of its signed time and its receive time: a
            # client can date a write ahead, never its arrival (and replicas agree on the
            # signed time, so a write repaired here a moment ago is not compared again)
            settle_ms = int(self.peers.node.config.replication.settle_seconds * 1000)
            settled = self.peers.node.service.now_ms() - settle_ms
            missing, _, _ = await self.diff_ids(conn, receiver, settled)
            pulled += await self.fetch(conn, peer, [(receiver, i) for i in missing])
        self._count("ae_rounds")
        self._count("ae_pulled", pulled)
        return pulled

    async def diff_ids(
        self, conn: NodeConnection, receiver: str, max_time: int | None = None
    ) -> tuple[list[str], list[str], bool]:
        """Ids of ``receiver`` (settled at ``max_time``, when given) the peer holds
        and we lack, those we hold and it lacks, and whether the peer says it replicates
        ``receiver``. Fingerprints of id ranges are summed by the store on both sides."""
        store = self._store
        d = IdDescent()
        while (batch := d.batch()) is not None:
            fps = await store.id_fingerprints(receiver, batch, max_time)
            wire = d.ask(batch, fps)
            reply = await conn.request(
                "peer.ids", receiver=receiver, ranges=wire, max_time=max_time
            )
            for p in d.on_reply(reply):
                d.on_items(p, dict(await store.receiver_items(receiver, p, max_time)))
        self._count("ae_ranges", d.asked)
        self._count("ae_items", d.listed)
        return d.missing, d.extra, d.replica

    async def fetch(self, conn: NodeConnection, peer: str, keys: list[tuple[str, str]]) -> int:
        """``peer.get`` the writes of ``keys`` (receiver, id) from ``peer`` and store them,
        a chunk at a time."""
        stored = 0
        for i in range(0, len(keys), GET_CHUNK):
            stored += await self.store(
                await self.get_records(conn, peer, keys[i : i + GET_CHUNK]), peer
            )
        return stored

    async def get_records(
        self, conn: NodeConnection, peer: str, keys: list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """``peer.get`` the writes of ``keys`` (all chunks at once), not verified or stored
        yet."""
        replies = await asyncio.gather(
            *(fetch_records(conn, keys[i : i + GET_CHUNK]) for i in range(0, len(keys), GET_CHUNK))
        )
        return [r for reply in replies for r in reply.get("records", []) if isinstance(r, dict)]

    async def store(
        self, records: list[dict[str, Any]], peer: str, turn: Awaitable[Any] | None = None
    ) -> int:
        """Verify and store ``records`` (once ``turn`` is done: catch-up's earlier pages)."""
        return await store_records(self.peers.node.service, records, peer, turn)

    # -- hand-off of keys we do not replicate --------------------------------------------

    async def handoff(
        self, grace: float, digests: list[KeyDigest] | None = None, max_keys: int = 200
    ) -> int:
        """Push keys this node holds but does not replicate to their replicas; delete them
        once every replica confirmed. Returns how many writes were deleted here."""
        peers = self.peers
        if not plan.due(bool(peers.view.nodes), peers.clock(), peers.view_changed_at, grace):
            return 0
        if not self.shared.built:
            await self._rebuild()
        dropped = 0
        me = peers.self_id
        for receiver in self.shared.next_foreign(max_keys):  # round-robin
            if me in peers.replica_set(receiver):
                continue
            ids = await self._store.receiver_ids(receiver)
            conf = plan.Confirmation.start(
                peers.replica_set(receiver), peers.view.replication_factor, peers.is_up, ids
            )
            await self._confirm(receiver, conf)  # every id above, and any newer
            if not conf.may_drop(me, peers.replica_set(receiver)):
                continue
            before = await self._store.key_digest(receiver)
            n = await self._store.drop(receiver, list(conf.ids))
            after = await self._store.key_digest(receiver)
            removed = Fingerprint(
                before.count - after.count, before.s1 - after.s1, before.s2 - after.s2
            )
            self.shared.drop(receiver, removed, peers.replica_set, gone=after.count == 0)
            self._count("handoff_dropped", n)
            dropped += n
            log.info("handed off %d writes of %s", n, receiver)
        return dropped

    async def _confirm(self, receiver: str, conf: plan.Confirmation) -> None:
        """Compare ``receiver`` with each live replica, pushing what one lacks, as the
        hand-off plan (``replication/handoff.py``) says."""
        for peer in conf.targets():
            try:
                conn = await self.peers.link(peer)
                _, extra, replica = await self.diff_ids(conn, receiver)
                push = conf.on_compare(peer, extra, replica)
                if push:
                    await self._push(conn, receiver, push)
                    _, extra, replica = await self.diff_ids(conn, receiver)
                    conf.on_compare(peer, extra, replica)
            except FlocloudError as exc:
                log.debug("hand-off of %s to %s failed: %s", receiver, peer, exc.message)
                conf.on_failure(peer)

    async def _push(self, conn: NodeConnection, receiver: str, ids: list[str]) -> None:
        for i in range(0, len(ids), GET_CHUNK):
            records = await self._store.records([(receiver, k) for k in ids[i : i + GET_CHUNK]])
            wire = [{**r.to_wire(), "receiver": r.receiver} for r in records]
            await conn.request("peer.push", records=wire)
            self._count("handoff_pushed", len(wire))

    # -- the loop -----------------------------------------------------------------------

    def _paced(self, skip: set[str], rebuilt: bool) -> set[str]:
        """``skip`` and the live neighbours found equal that this round leaves out
        (``replication/pace.py``); ``rebuilt``: the roots were just rebuilt (the state of
        peers no longer neighbours is dropped then)."""
        neighbours = self.peers.neighbours()
        if rebuilt:
            self.pace.forget(neighbours)
        if not self.shared.built:
            return skip
        paced = {
            p
            for p in neighbours
            if p not in skip and self.peers.is_up(p) and not self.pace.due(p, self.shared.root(p))
        }
        self._count("ae_paced", len(paced))
        return skip | paced

    async def run(self, interval: float, grace: float) -> None:
        while True:
            await woken(self.wake, interval)
            self.wake.clear()
            digests: list[KeyDigest] | None = None
            try:  # an exact rebuild now and then (and after a change): one read serves all
                if self.shared.round():
                    digests = await self._rebuild()
            except FlocloudError as exc:
                log.warning("anti-entropy round skipped: %s", exc.message)
                continue
            paging = self.deferral.begin_round(
                bool(self.peers.catchup_behind), self.peers.paging_us()
            )
            if paging is None:
                self._count("ae_deferred")
            else:  # a peer whose log is being pulled, or who pages ours, in a later round
                try:
                    await self.peers.each_live_neighbour(
                        functools.partial(self.reconcile, digests=digests),
                        "anti-entropy",
                        skip=self._paced(self.peers.catching_up | paging, digests is not None),
                    )
                finally:
                    self.deferral.end_round()
            try:
                await self.handoff(grace, digests)
            except FlocloudError as exc:
                log.debug("hand-off failed: %s", exc.message)
            except Exception:
                log.exception("hand-off failed")
