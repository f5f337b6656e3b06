"""Anti-entropy and hand-off between supernodes: repair what the write path missed, and
move keys to the nodes that replicate them.

Invariants owned here:
- Traffic grows with the difference, not the data: two replicas compare fingerprints of
  key ranges (``flocloud.protocol.fingerprint``), descend only into ranges that differ,
  then compare id ranges of the keys that differ, and transfer only the missing writes,
  and those both hold under different dots (a retried write: each keeps the union).
  Equal replicas exchange one fingerprint per round.
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
from typing import TYPE_CHECKING, Any

from flocloud.client.connection import NodeConnection
from flocloud.protocol.errors import BadFormat, FlocloudError
from flocloud.protocol.fingerprint import Fingerprint, PrefixIndex, children, write_parts
from flocloud.replication.shared import SharedDigests

if TYPE_CHECKING:
    from flocloud.storage.sqlite import SqliteStore

from .context import PeerNet

KeyDigest = tuple[str, str, Fingerprint]  # receiver, key position, fingerprint

__all__ = ["AntiEntropy"]

log = logging.getLogger("flocloud.node.antientropy")

MAX_PREFIXES = 256  # ranges per request
LIST_KEYS = 16  # a key range this small is answered with its keys' fingerprints
LIST_IDS = 64  # an id range this small is answered with its ids
KEY_WIDTH = 40  # hex digits of a key position
GET_CHUNK = 500


def _ranges(value: Any) -> list[tuple[str, Fingerprint]]:
    """``[[prefix, fingerprint], ...]`` from the wire: the requester's side of each range."""
    if not isinstance(value, list) or len(value) > MAX_PREFIXES:
        raise BadFormat(f"ranges must be a list of at most {MAX_PREFIXES} [prefix, fp] pairs")
    out = []
    for item in value:
        fp = Fingerprint.from_wire(item[1]) if isinstance(item, list) and len(item) == 2 else None
        if fp is None or not isinstance(item[0], str) or len(item[0]) > 200:
            raise BadFormat("a range is [prefix, [count, s1, s2]] with a short prefix")
        out.append((item[0], fp))
    return out


class AntiEntropy:
    def __init__(self, peers: PeerNet) -> None:
        self.peers = peers
        self.wake = asyncio.Event()  # a round now: view change, a peer came back, heal
        self.shared = SharedDigests(peers.self_id)

    def on_commit(self, committed: list[Any]) -> None:
        """The store committed writes: move the shared roots (``SharedDigests``)."""
        for rec, _ in committed:
            delta = Fingerprint(1, *write_parts(rec.id, rec.dots))
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
        asked = _ranges(ranges)
        if (
            len(asked) == 1
            and asked[0][0] == ""
            and self.shared.built
            and self.shared.root(requester) == asked[0][1]
        ):
            return {"ranges": []}  # equal replicas: no scan
        index = await self._shared_keys(requester)
        out = []
        for p, theirs in asked:
            fp = index.fingerprint(p)
            if fp == theirs:
                continue
            entry: dict[str, Any] = {"prefix": p, "fp": fp.to_wire()}
            under = index.under(p)
            if len(under) <= LIST_KEYS or len(p) >= KEY_WIDTH:
                entry["keys"] = [[k[KEY_WIDTH:], f.to_wire()] for k, f in under[:1000]]
            out.append(entry)
        return {"ranges": out}

    async def serve_ids(self, receiver: Any, ranges: Any, max_time: Any = None) -> dict[str, Any]:
        """Like ``serve_digest`` for the ids of one key (those settled at ``max_time``,
        when given: signed or received by then); small ranges list their ids."""
        if not isinstance(receiver, str) or not receiver:
            raise BadFormat("peer.ids needs a receiver")
        if max_time is not None and (type(max_time) is not int or not 0 <= max_time < 2**62):
            raise BadFormat("max_time must be a time in ms")
        asked = _ranges(ranges)
        store = self._store
        fps = await store.id_fingerprints(receiver, [p for p, _ in asked], max_time)
        out = []
        for (p, theirs), fp in zip(asked, fps, strict=True):
            if fp == theirs:
                continue
            entry: dict[str, Any] = {"prefix": p, "fp": fp.to_wire()}
            if fp.count <= LIST_IDS:  # [id, part]: the part tells differing dots apart
                entry["ids"] = [
                    [i, q] for i, q in await store.receiver_items(receiver, p, max_time)
                ]
            out.append(entry)
        replica = self.peers.self_id in self.peers.replica_set(receiver)
        return {"ranges": out, "replica": replica}

    async def serve_get(self, ids: Any) -> dict[str, Any]:
        if (
            not isinstance(ids, list)
            or len(ids) > GET_CHUNK
            or not all(isinstance(i, str) for i in ids)
        ):
            raise BadFormat(f"ids must be a list of at most {GET_CHUNK} message ids")
        records = await self._store.records(ids)
        return {"records": [{**r.to_wire(), "receiver": r.receiver} for r in records]}

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
            reply = await conn.request("peer.digest", ranges=[["", root.to_wire()]])
            self._count("ae_ranges")
            if not reply.get("ranges"):
                self._count("ae_rounds")
                return 0
        mine = await self._shared_keys(peer, digests)
        todo, differing = [""], []
        while todo:
            batch, todo = todo[:MAX_PREFIXES], todo[MAX_PREFIXES:]
            wire = [[p, mine.fingerprint(p).to_wire()] for p in batch]
            reply = await conn.request("peer.digest", ranges=wire)
            self._count("ae_ranges", len(batch))
            for entry in reply.get("ranges", []):
                p = entry.get("prefix")
                theirs = Fingerprint.from_wire(entry.get("fp"))
                if not isinstance(p, str) or p not in batch or theirs is None:
                    continue
                if theirs == mine.fingerprint(p) or theirs.count == 0:
                    continue
                keys = entry.get("keys")
                if isinstance(keys, list):
                    self._count("ae_items", len(keys))
                    have = {k[KEY_WIDTH:]: fp for k, fp in mine.under(p)}
                    for item in keys:
                        if not (isinstance(item, list) and len(item) == 2):
                            continue
                        receiver, fp_wire = item
                        if isinstance(receiver, str) and have.get(
                            receiver
                        ) != Fingerprint.from_wire(fp_wire):
                            differing.append(receiver)
                else:
                    todo.extend(children(p))
        pulled = 0
        for receiver in differing:
            if self.peers.self_id not in self.peers.replica_set(receiver):
                continue  # not ours under our view: the peer's view differs
            # writes of the last few seconds are still on their way: leave them out. A
            # write settles at the earlier of its signed time and its receive time: a
            # client can date a write ahead, never its arrival (and replicas agree on the
            # signed time, so a write repaired here a moment ago is not compared again)
            settle_ms = int(self.peers.node.config.replication.settle_seconds * 1000)
            settled = self.peers.node.service.now_ms() - settle_ms
            missing, _, _ = await self.diff_ids(conn, receiver, settled)
            pulled += await self.fetch(conn, peer, missing)
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
        todo: list[str] = [""]
        missing: list[str] = []
        extra: list[str] = []
        replica = False
        while todo:
            batch, todo = todo[:MAX_PREFIXES], todo[MAX_PREFIXES:]
            mine = dict(
                zip(batch, await store.id_fingerprints(receiver, batch, max_time), strict=True)
            )
            wire = [[p, mine[p].to_wire()] for p in batch]
            reply = await conn.request(
                "peer.ids", receiver=receiver, ranges=wire, max_time=max_time
            )
            self._count("ae_ranges", len(batch))
            replica = reply.get("replica") is True
            for entry in reply.get("ranges", []):
                p = entry.get("prefix")
                theirs = Fingerprint.from_wire(entry.get("fp"))
                if not isinstance(p, str) or p not in mine or theirs is None or theirs == mine[p]:
                    continue
                ids = entry.get("ids")
                if isinstance(ids, list):
                    self._count("ae_items", len(ids))
                    here = dict(await store.receiver_items(receiver, p, max_time))
                    there = {
                        i[0]: i[1]
                        for i in ids
                        if isinstance(i, list) and len(i) == 2 and isinstance(i[0], str)
                        and i[0].startswith(p) and type(i[1]) is int
                    }  # fmt: skip
                    # an id both hold under different dots is in both lists: each side
                    # fetches the other's copy and keeps the union of the dots
                    missing.extend(sorted(i for i, q in there.items() if here.get(i) != q))
                    extra.extend(sorted(i for i, q in here.items() if there.get(i) != q))
                elif len(p) < 64:
                    todo.extend(children(p))
        return missing, extra, replica

    async def fetch(self, conn: NodeConnection, peer: str, ids: list[str]) -> int:
        stored = 0
        for i in range(0, len(ids), GET_CHUNK):
            reply = await conn.request("peer.get", ids=ids[i : i + GET_CHUNK])
            records = [r for r in reply.get("records", []) if isinstance(r, dict)]
            stored += await self.peers.store_batch(records, peer)
        return stored

    # -- hand-off of keys we do not replicate --------------------------------------------

    async def handoff(
        self, grace: float, digests: list[KeyDigest] | None = None, max_keys: int = 200
    ) -> int:
        """Push keys this node holds but does not replicate to their replicas; delete them
        once every replica confirmed. Returns how many writes were deleted here."""
        peers = self.peers
        if not peers.view.nodes or peers.clock() - peers.view_changed_at < grace:
            return 0
        if not self.shared.built:
            await self._rebuild()
        dropped = 0
        for receiver in self.shared.next_foreign(max_keys):  # round-robin
            if peers.self_id in peers.replica_set(receiver):
                continue
            ids = await self._store.receiver_ids(receiver)
            if await self._confirmed_everywhere(receiver):  # every id above, and any newer
                before = await self._store.key_digest(receiver)
                n = await self._store.drop(receiver, ids)
                after = await self._store.key_digest(receiver)
                removed = Fingerprint(
                    before.count - after.count, before.s1 - after.s1, before.s2 - after.s2
                )
                self.shared.drop(receiver, removed, peers.replica_set, gone=after.count == 0)
                self._count("handoff_dropped", n)
                dropped += n
                log.info("handed off %d writes of %s", n, receiver)
        return dropped

    async def _confirmed_everywhere(self, receiver: str) -> bool:
        """Push to each live replica what it lacks of ``receiver``; True when all ``N`` are
        live and confirmed. Live replicas are asked even when one is down: a write acked
        by a stand-in and a replica that then died may be on the stand-in alone."""
        peers = self.peers
        replicas = peers.replica_set(receiver)
        if len(replicas) < peers.view.replication_factor:
            return False
        ok = True
        for peer in replicas:
            if not peers.is_up(peer):
                ok = False
                continue
            try:
                conn = await peers.link(peer)
                _, extra, replica = await self.diff_ids(conn, receiver)
                if extra:
                    await self._push(conn, extra)
                    _, extra, replica = await self.diff_ids(conn, receiver)
                ok = ok and replica and not extra
            except FlocloudError as exc:
                log.debug("hand-off of %s to %s failed: %s", receiver, peer, exc.message)
                ok = False
        return ok

    async def _push(self, conn: NodeConnection, ids: list[str]) -> None:
        for i in range(0, len(ids), GET_CHUNK):
            records = await self._store.records(ids[i : i + GET_CHUNK])
            wire = [{**r.to_wire(), "receiver": r.receiver} for r in records]
            await conn.request("peer.push", records=wire)
            self._count("handoff_pushed", len(wire))

    # -- the loop -----------------------------------------------------------------------

    async def run(self, interval: float, grace: float) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=interval)
            except TimeoutError:
                pass
            self.wake.clear()
            digests: list[KeyDigest] | None = None
            try:  # an exact rebuild now and then (and after a change): one read serves all
                if self.shared.round():
                    digests = await self._rebuild()
            except FlocloudError as exc:
                log.warning("anti-entropy round skipped: %s", exc.message)
                continue
            # a peer whose log is being pulled is compared in a later round
            await self.peers.each_live_neighbour(
                functools.partial(self.reconcile, digests=digests),
                "anti-entropy",
                skip=self.peers.catching_up,
            )
            try:
                await self.handoff(grace, digests)
            except FlocloudError as exc:
                log.debug("hand-off failed: %s", exc.message)
            except Exception:
                log.exception("hand-off failed")
