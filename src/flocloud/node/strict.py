"""Strict objects: compare-and-set writes decided by a majority of the object's replicas.

The node shell around ``flocloud.protocol.paxos``: the proposer side runs for a client's
write (and for consistent reads, ``catch_up``), the acceptor side serves
``peer.paxos.prepare`` / ``peer.paxos.accept`` / ``peer.paxos.peek``.

Invariants owned here:
- Every write of a strict object is a compare-and-set at ``V``: its ``expected_version``,
  or else the version of its parents. It is acknowledged
  ``ok`` only once the Paxos instance (object, ``V``) chose it, so of two writes at the same
  version at most one is ever acknowledged. It is then stored here (``decided``) and
  replicated like any write; every replica folds it after ``V``.
- ``version-conflict`` only when another write was chosen after ``V`` (this node then
  stores and replicates that write too, so the loser can read what won); ``unavailable``
  when no majority of the ``N`` replicas answered, or the round kept losing to others
  (the write may still be chosen later; sending the same envelope again is safe).
- Acceptor state is committed before the reply (``storage/objects.py``).
- No ballot is used twice: it is ``(round, "<node ID>/<random nonce>")``, fresh for each
  attempt, so a restarted proposer cannot reuse one with another value.
- Epoch fencing: every prepare, accept and peek carries this node's registry epoch and
  the object's replicas under it; an acceptor answers only a round of its own epoch and
  acceptors (``paxos.fence``), else ``stale-epoch`` with its epoch, and both sides ask
  their registry loop to refresh. For an hour after a change of layout a round must win
  a majority of the object's replicas under each earlier layout too (``paxos.Quorum``,
  docs §5.6), and an acceptor's store speaks for it: it abstains for a version the store
  lacks and reports the write stored after it as chosen.
- A young store (created less than ``young_store_seconds`` ago, by default the hour of
  ``HANDOVER_SECONDS``: a replaced disk, a new node;
  ``SqliteStore.created_ms``) recovers an instance before it votes in it: its acceptor
  holds nothing from before its creation, so for an instance it has not recovered and
  whose successor its store lacks, a prepare or accept first sends
  ``peer.paxos.recover`` (a prepare at the same ballot that never recovers in turn) to
  the instance's other acceptors; with ``n - majority + 1`` of the others of each set it
  belongs to promising (``Quorum.recovered``) it stores ``paxos.recover`` of their states
  and the mark, then answers; when one promised higher it refuses, else ``unavailable``.
  Its ``peek`` of such an instance answers what it accepted, else what one of as many
  others accepted (``peer.paxos.read``: their own state). This holds when the node is its own
  acceptor too (``_ask`` serves itself through ``serve``).
- Which objects are strict comes from the application registry (``strictObjects`` in the
  app's record, or ``strict`` in a node's ``[apps.*]``; ``node/objects.is_strict``); a merge
  object refuses ``expected_version``: compare-and-set without a majority round would lie.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from flocloud.protocol.envelope import Envelope, parse_envelope
from flocloud.protocol.errors import (
    BadFormat,
    FlocloudError,
    StaleEpoch,
    Unavailable,
    VersionConflict,
)
from flocloud.protocol.objectlog import EMPTY_VERSION, ObjectOp, apply_op, parse_version
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import network_by_name
from flocloud.protocol.paxos import (
    NO_BALLOT,
    Ballot,
    Promise,
    Proposer,
    Quorum,
    fence,
    on_accept,
    on_prepare,
    recover,
)
from flocloud.protocol.writes import ObjectWrite, parse_write
from flocloud.storage import objects as objstore

from .objects import is_strict

if TYPE_CHECKING:
    import sqlite3

from .context import ReplicatedNode as Node

__all__ = ["StrictObjects"]

log = logging.getLogger("flocloud.node.strict")
ATTEMPTS = 6
DECIDED: Ballot = ((1 << 53) - 1, "")  # the ballot a promise reports a stored successor at


def _ballot(value: Any) -> Ballot:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) is not int
        or not isinstance(value[1], str)
    ):
        raise BadFormat("ballot must be [round, node ID]")
    return (int(value[0]), str(value[1]))


def _instance(f: dict[str, Any]) -> tuple[str, str, str]:
    app, name, inst = f.get("application"), f.get("name"), f.get("instance")
    if not isinstance(app, str) or not isinstance(name, str) or not name:
        raise BadFormat("paxos requests name an application and an object")
    parse_version(inst)
    return app, name, str(inst)


class StrictObjects:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.rounds: dict[tuple[str, str, str], int] = {}
        self.stale_answers = 0  # acceptors that answered stale-epoch, ever

    @property
    def _svc(self) -> Any:
        return self.node.service

    # -- the proposer: a client's write --------------------------------------------------

    async def write(self, env: Envelope, write: ObjectWrite) -> dict[str, Any] | None:
        """The ack of a strict object's write, or None for a merge object."""
        app, name = env.body.application, write.name
        if write.legacy:
            raise BadFormat(
                "expected_version is a version string (as object.get returns it) and the "
                "write names its parents: see docs/protocol.md §5"
            )
        if not is_strict(self._svc, app, name):
            if write.expected_version is not None:
                raise BadFormat(
                    f"{app}/{name} is a merge object: it takes no expected_version "
                    "(compare-and-set needs a strict object, see strictObjects)"
                )
            return None
        store = self._svc.store
        expected = write.expected_version
        if expected is None:  # a compare-and-set at the version of the write's parents
            expected = await store.read(
                lambda db: objstore.version_of_parents(db, app, name, write.parents)
            )
            if expected is None:
                raise Unavailable(
                    f"this replica does not know the parents of the write to {app}/{name}"
                )
        if await store.have([(env.body.receiverID, env.id)]):
            return await self._commit(env, write)  # a retry of a chosen write
        await self._check_base(app, name, expected)
        current = await store.get_object(app, name)
        op = ObjectOp(env.id, env.body.time, write.parents, write.kind, write.change)
        await store.check_schema(
            app, f"object:{name}", apply_op(current.value if current else None, op)
        )
        events = self._svc.metrics.replication  # /metrics: flocloud_replication_total
        events["strict_rounds"] += 1
        try:
            chosen = await self._decide(app, name, expected, env)
        except Unavailable:
            events["strict_unavailable"] += 1
            raise
        if chosen.id == env.id:
            return await self._commit(env, write)
        events["strict_conflicts"] += 1
        await self._commit(chosen, parse_write(chosen.body))
        raise await self._conflict(app, name, expected)

    async def _check_base(self, app: str, name: str, expected: str) -> None:
        """``expected`` must be this replica's current version: an older one lost already
        (``version-conflict``); an unknown one means this replica lags (``unavailable``)."""
        store = self._svc.store
        current = await store.get_object(app, name)
        cur = current.version if current is not None else EMPTY_VERSION
        if cur == expected:
            return
        try:
            known = expected == EMPTY_VERSION or await store.get_object(app, name, expected)
        except FlocloudError:
            known = False
        if not known:
            raise Unavailable(f"this replica does not know version {expected} of {app}/{name}")
        raise await self._conflict(app, name, expected)

    async def _conflict(self, app: str, name: str, expected: str) -> VersionConflict:
        current = await self._svc.store.get_object(app, name)
        now = current.version if current is not None else EMPTY_VERSION
        return VersionConflict(f"{app}/{name} is now at version {now}, not {expected}")

    async def _commit(self, env: Envelope, write: Any) -> dict[str, Any]:
        svc = self._svc
        result = await svc.store.put(env, svc.now_ms(), write=write, decided=True)
        ack: dict[str, Any] = {
            "msgId": env.id,
            "dots": [list(d) for d in result.dots],
            "duplicate": result.duplicate,
            "version": result.version,
        }
        if svc.replicate is not None:  # the chosen write also spreads like any write
            ack["replicas"], _ = await svc.replicate(env, result)
        return ack

    async def _decide(self, app: str, name: str, instance: str, env: Envelope) -> Envelope:
        """Run Paxos rounds until a value is chosen for (object, ``instance``)."""
        me = self.node.peers.self_id
        key = (app, name, instance)
        own = (env.id, env.to_wire())
        for attempt in range(ATTEMPTS):
            stale = self.stale_answers
            quorum = self._quorum(app, name)  # again each attempt: the view may be newer
            acceptors = list(quorum.members)
            rnd = self.rounds.get(key, 0) + 1
            if len(self.rounds) > 10_000:  # only a hint of the rounds others use
                self.rounds.clear()
            self.rounds[key] = rnd
            # a ballot is never used twice, even across restarts: a fresh nonce each time
            tag = f"{me}/{os.urandom(8).hex()}"
            prop = Proposer((rnd, tag), own, len(acceptors), quorum=quorum)
            base = {
                "application": app,
                "name": name,
                "instance": instance,
                "ballot": [rnd, tag],
                **self._fence_fields(quorum),
            }

            def fold_promise(p: Proposer, who: str, r: dict[str, Any]) -> Proposer:
                v = r.get("value")
                value = (str(v[0]), v[1]) if isinstance(v, list) and len(v) == 2 else None
                promise = Promise(
                    r.get("promised_ok") is True,
                    _ballot(r.get("promised")),
                    _ballot(r.get("accepted")),
                    value,
                )
                return p.on_promise(who, promise)

            prop, answered = await self._round(
                acceptors, "peer.paxos.prepare", base, prop, fold_promise, "accept"
            )
            if prop.phase == "accept":
                request = {**base, "value": list(prop.proposal)}

                def fold_accept(p: Proposer, who: str, r: dict[str, Any]) -> Proposer:
                    return p.on_accepted(who, r.get("accepted") is True, _ballot(r.get("promised")))

                prop, answered = await self._round(
                    acceptors, "peer.paxos.accept", request, prop, fold_accept, "chosen"
                )
                if prop.phase == "chosen":
                    value_id, wire = prop.proposal
                    chosen = parse_envelope(wire, now_ms=None, limits=self._svc.envelope_limits)
                    if chosen.id != value_id:
                        raise Unavailable("an acceptor returned a value that is not its id")
                    return chosen
            self.rounds[key] = max(self.rounds[key], prop.highest[0])
            if prop.phase != "rejected" and not quorum.reached(answered):
                if self.stale_answers != stale:  # another epoch: the registry is re-read
                    await asyncio.sleep(1.0 + 0.5 * attempt)
                    continue
                raise Unavailable(
                    f"{app}/{name} is a strict object and only {len(answered)} of its "
                    f"{len(acceptors)} acceptors answered (a majority of each of "
                    f"{len(quorum.sets)} acceptor set(s) is needed)"
                )
            # another proposer is ahead: back off a little, with jitter, and go higher
            await asyncio.sleep((0.01 + int.from_bytes(os.urandom(1)) / 2550) * (attempt + 1))
        raise Unavailable(f"{app}/{name}: the majority round kept losing to concurrent writers")

    async def _round(
        self,
        acceptors: list[str],
        op: str,
        request: dict[str, Any],
        prop: Proposer,
        fold: Any,
        goal: str,
    ) -> tuple[Proposer, frozenset[str]]:
        """Send ``request`` to every acceptor; feed replies to ``prop`` until it reaches
        ``goal``, is rejected, or every acceptor answered or timed out."""
        tasks = {asyncio.ensure_future(self._ask(a, op, request)): a for a in acceptors}
        answered: frozenset[str] = frozenset()
        pending = set(tasks)
        try:
            while pending and prop.phase not in (goal, "rejected"):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    reply = t.result()
                    if reply is not None:
                        answered |= {tasks[t]}
                        try:
                            prop = fold(prop, tasks[t], reply)
                        except FlocloudError as exc:
                            log.debug("bad %s reply from %s: %s", op, tasks[t], exc.message)
        finally:
            for t in pending:
                t.add_done_callback(lambda t: t.cancelled() or t.exception())
        return prop, answered

    async def _ask(self, acceptor: str, op: str, request: dict[str, Any]) -> dict[str, Any] | None:
        try:
            if acceptor == self.node.peers.self_id:
                return await self.serve(op, request)
            conn = await self.node.peers.link(acceptor, probe=True)
            return await conn.request(op, **request)
        except StaleEpoch as exc:
            log.info("%s to %s: %s", op, acceptor, exc.message)
            self.stale_answers += 1
            self.node.peers.refresh_soon()
            return None
        except FlocloudError as exc:
            log.debug("%s to %s failed: %s", op, acceptor, exc.message)
            return None

    # -- linearizable reads -------------------------------------------------------------

    async def catch_up(self, app: str, name: str) -> int:
        """Bring this replica's state of a strict object up to every acknowledged write:
        ask the acceptors what they accepted after the local version; while a majority
        answers and one of them accepted something, finish that instance (a round that
        chooses it or what was chosen), store it, and look again. A write acknowledged
        before this started is accepted by a majority, so some answer names it: a read
        after ``catch_up`` is linearizable, if the store still holds what it confirmed.
        Returns how many writes the version it confirmed has (``object_get`` checks the
        store did not go back meanwhile: a hand-off drops an object from a node that no
        longer replicates it)."""
        for _ in range(64):
            quorum = self._quorum(app, name)
            acceptors = list(quorum.members)
            current = await self._svc.store.get_object(app, name)
            version = current.version if current is not None else EMPTY_VERSION
            request = {
                "application": app,
                "name": name,
                "instance": version,
                "ballot": [0, ""],
                **self._fence_fields(quorum),
            }
            replies = await asyncio.gather(
                *(self._ask(a, "peer.paxos.peek", request) for a in acceptors)
            )
            answers = [r for r in replies if r is not None]
            answered = frozenset(
                a for a, r in zip(acceptors, replies, strict=True) if r is not None
            )
            if not quorum.reached(answered):
                raise Unavailable(
                    f"{app}/{name} is a strict object and only {len(answers)} of its "
                    f"{len(acceptors)} acceptors answered (a majority of each of "
                    f"{len(quorum.sets)} acceptor set(s) is needed)"
                )
            seen = [r["value"] for r in answers if isinstance(r.get("value"), list)]
            if not seen:
                return current.count if current is not None else 0
            found = parse_envelope(seen[0][1], now_ms=None, limits=self._svc.envelope_limits)
            chosen = await self._decide(app, name, version, found)
            await self._commit(chosen, parse_write(chosen.body))
        raise Unavailable(f"{app}/{name}: still catching up, try again")

    def _quorum(self, app: str, name: str) -> Quorum:
        """The acceptor sets of the object's rounds: its replicas under this node's view,
        and under each earlier layout of the hand-over window (joint majorities)."""
        peers = self.node.peers
        chain = self._svc.config.chain
        if not peers.view.nodes and chain.explorer and chain.registry:
            # a node that follows a registry but has not read it yet (just started) is
            # not the only acceptor: it would answer from its own empty store
            raise Unavailable(f"{app}/{name}: the registry is not read yet, try again")
        key = object_id(app, name, network_by_name(self._svc.config.network))
        current = peers.replica_set(key) or (peers.self_id,)
        return Quorum.of(current, *peers.previous_replica_sets(key))

    async def _decided(self, app: str, name: str, inst: str) -> list[Any] | None:
        """What this acceptor's store knows of instance ``inst``: ``unavailable`` when it
        does not know the version (a lagging or replaced store abstains), else the write it
        holds after it as ``[id, envelope]`` (stored means chosen), or None."""
        store = self._svc.store
        known, after = await store.read(lambda db: objstore.successor(db, app, name, inst))
        if not known:
            raise Unavailable(f"this acceptor's store does not know version {inst} of {app}/{name}")
        if after is None:
            return None
        key = object_id(app, name, network_by_name(self._svc.config.network))
        record = await store.message(key, after)  # an object's writes go to its id
        return [after, record.to_wire()["envelope"]] if record is not None else None

    def _young(self) -> bool:
        """Whether this node's store was created within the hand-over window
        (``young_store_seconds``, by default ``HANDOVER_SECONDS``)."""
        window = self._svc.config.replication.young_store_seconds
        created = getattr(self._svc.store, "created_ms", 0)
        return bool(self._svc.now_ms() - created < window * 1000)

    async def _recover(
        self, app: str, name: str, inst: str, ballot: Ballot, f: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A young store's first vote in an instance: have the other acceptors promise
        ``ballot`` and report their state, store ``paxos.recover`` of them with the mark
        (None: recovered); a refusal when one promised higher; else ``unavailable``."""
        me = self.node.peers.self_id
        quorum = self._quorum(app, name)
        others = [a for a in quorum.members if a != me]
        request = {
            "application": app,
            "name": name,
            "instance": inst,
            "ballot": list(ballot),
            "epoch": f.get("epoch"),
            "acceptors": f.get("acceptors"),
        }
        replies = await asyncio.gather(
            *(self._ask(a, "peer.paxos.recover", request) for a in others)
        )
        reports: dict[str, Promise] = {}
        for who, r in zip(others, replies, strict=True):
            if r is None:
                continue
            try:
                v = r.get("value")
                value = (str(v[0]), v[1]) if isinstance(v, list) and len(v) == 2 else None
                reports[who] = Promise(
                    r.get("promised_ok") is True,
                    _ballot(r.get("promised")),
                    _ballot(r.get("accepted")),
                    value,
                )
            except FlocloudError as exc:
                log.debug("bad recover reply from %s: %s", who, exc.message)
        if quorum.recovered(me, frozenset(a for a, p in reports.items() if p.ok)):

            def save(db: sqlite3.Connection) -> None:
                own = objstore.acceptor_load(db, app, name, inst)
                state = recover(own, reports.values())
                objstore.acceptor_save(db, app, name, inst, state, recovered=True)

            await self._svc.store.transact(save)
            return None
        higher = max((p.promised for p in reports.values() if not p.ok), default=NO_BALLOT)
        if higher > ballot:  # another proposer is ahead: refuse, as any acceptor would
            return {"higher": list(higher)}
        raise Unavailable(
            f"{app}/{name}: this acceptor's store is young and could not recover instance "
            f"{inst} from the other acceptors (only {len(reports)} of {len(others)} answered)"
        )

    async def _peek_others(
        self, app: str, name: str, inst: str, f: dict[str, Any]
    ) -> dict[str, Any]:
        """A young store's ``peek`` of an instance it has not recovered: what it accepted
        itself or, else, what one of ``n - majority + 1`` of the others (of each set)
        accepted (``peer.paxos.read``: their own state); they meet every majority that
        accepted a write before the read began. Else ``unavailable``."""
        me = self.node.peers.self_id
        quorum = self._quorum(app, name)
        others = [a for a in quorum.members if a != me]
        request = {**f, "instance": inst, "ballot": [0, ""]}
        request = {k: request.get(k) for k in ("application", "name", "instance", "ballot",
                                                "epoch", "acceptors")}  # fmt: skip
        replies = await asyncio.gather(*(self._ask(a, "peer.paxos.read", request) for a in others))
        answered = frozenset(a for a, r in zip(others, replies, strict=True) if r is not None)
        if not quorum.recovered(me, answered):
            raise Unavailable(
                f"{app}/{name}: this acceptor's store is young and only {len(answered)} of "
                f"the {len(others)} other acceptors answered for instance {inst}"
            )
        own = await self._svc.store.read(lambda db: objstore.acceptor_load(db, app, name, inst))
        if own.value is not None:
            return {"value": list(own.value)}
        seen = [r["value"] for r in replies if r is not None and isinstance(r.get("value"), list)]
        return {"value": seen[0] if seen else None}

    def _fence_fields(self, quorum: Quorum) -> dict[str, Any]:
        return {"epoch": self.node.peers.epoch, "acceptors": list(quorum.current)}

    # -- the acceptor ------------------------------------------------------------------

    async def serve(self, op: str, f: dict[str, Any]) -> dict[str, Any]:
        app, name, inst = _instance(f)
        ballot = _ballot(f.get("ballot"))
        mine = self.node.peers.epoch
        why = fence(mine, self._quorum(app, name).current, f.get("epoch"), f.get("acceptors"))
        if why is not None:  # refuse, and read the registry again (one side is behind)
            self.node.peers.refresh_soon()
            raise StaleEpoch(f"{app}/{name}: {why}", {"epoch": mine})
        decided = await self._decided(app, name, inst)
        forgetful = (
            decided is None
            and op not in ("peer.paxos.recover", "peer.paxos.read")
            and self._young()
            and not self._quorum(app, name).recovered(self.node.peers.self_id, frozenset())
            and not await self._svc.store.read(
                lambda db: objstore.acceptor_recovered(db, app, name, inst)
            )
        )  # a young store that may have replaced a disk that voted here (docs §5.6)
        if forgetful and op == "peer.paxos.peek":
            return await self._peek_others(app, name, inst, f)
        if forgetful and op in ("peer.paxos.prepare", "peer.paxos.accept"):
            ahead = await self._recover(app, name, inst, ballot, f)
            if ahead is not None and op == "peer.paxos.prepare":
                return {
                    "promised_ok": False,
                    "promised": ahead["higher"],
                    "accepted": list(NO_BALLOT),
                    "value": None,
                }
            if ahead is not None:
                return {"accepted": False, "promised": ahead["higher"]}
        if op in ("peer.paxos.peek", "peer.paxos.read"):  # what it accepted, no promise

            def peek(db: sqlite3.Connection) -> dict[str, Any]:
                state = objstore.acceptor_load(db, app, name, inst)
                return {"value": list(state.value) if state.value is not None else None}

            peeked: dict[str, Any] = await self._svc.store.read(peek)
            return {"value": decided} if decided is not None else peeked
        if op in ("peer.paxos.prepare", "peer.paxos.recover"):

            def prepare(db: sqlite3.Connection) -> dict[str, Any]:
                state, p = on_prepare(objstore.acceptor_load(db, app, name, inst), ballot)
                objstore.acceptor_save(db, app, name, inst, state)
                accepted, value = p.accepted, list(p.value) if p.value is not None else None
                if decided is not None and p.ok:  # stored means chosen: report it above all
                    accepted, value = DECIDED, decided
                return {
                    "promised_ok": p.ok,
                    "promised": list(p.promised),
                    "accepted": list(accepted),
                    "value": value,
                }

            result: dict[str, Any] = await self._svc.store.transact(prepare)
            return result
        if op == "peer.paxos.accept":
            v = f.get("value")
            if not isinstance(v, list) or len(v) != 2 or not isinstance(v[0], str):
                raise BadFormat("value must be [write id, envelope]")
            value = (v[0], v[1])
            if decided is not None and decided[0] != v[0]:  # another write follows V here

                def promise(db: sqlite3.Connection) -> dict[str, Any]:
                    state = objstore.acceptor_load(db, app, name, inst)
                    return {"accepted": False, "promised": list(max(state.promised, ballot))}

                refused: dict[str, Any] = await self._svc.store.read(promise)
                return refused

            def accept(db: sqlite3.Connection) -> dict[str, Any]:
                state, ok, promised = on_accept(
                    objstore.acceptor_load(db, app, name, inst), ballot, value
                )
                objstore.acceptor_save(db, app, name, inst, state)
                return {"accepted": ok, "promised": list(promised)}

            result = await self._svc.store.transact(accept)
            return result
        raise BadFormat(f"unknown op {op!r}")
