"""Objects in the simulator: object writes as records, and a node's object shell.

An object write rides replication as any write does (a ``Write`` addressed to the
object's key, ``type`` ``flocloud.object``, the op as canonical JSON in ``value``), so
crashes, partitions, replaced disks, hand-off and anti-entropy treat it as they treat
messages. What a node serves of an object is ``Rules.fold`` over the object writes its
store holds, in arrival order (the real fold ignores the order: that is its point).

``ObjectShell`` mirrors ``flocloud/node/strict.py`` with the real pure state machines of
``flocloud.protocol.paxos``:

- merge writes (``obj.put``): forwarded like ``put`` to a node that accepts the key; the
  accepting node must know every parent (else ``not-found``), then the write quorum.
- strict writes (``obj.cas``, a compare-and-set at ``V``): ``ok`` only once the instance
  (object, ``V``) chose it (then stored and replicated); ``version-conflict`` when another
  write was chosen after ``V`` (stored too) or this replica's version is past ``V``;
  ``unavailable`` when this replica does not know ``V``, no majority answered, or the
  rounds kept losing. A retry of a stored write answers ``ok``.
- consistent reads (``obj.get`` with ``consistent``): ``catch_up`` as the node does.
- acceptors (``peer.paxos.*``): state per (object, instance) kept with the store (a crash
  keeps it, a replaced disk loses it); proposer state (round hints, rounds in flight) is
  lost in a crash.
- epoch fencing: rounds carry the proposer's epoch and current acceptor set; an acceptor
  votes only when both are its own (``paxos.fence``), else ``stale-epoch`` with its epoch;
  either side on the older epoch refreshes from the chain. For ``HANDOVER`` ms after a
  registry change a round must also win a majority of the object's acceptors under each
  earlier layout seen in that window (``paxos.Quorum``: joint majorities).
- what the store knows: an acceptor whose store does not know ``V`` abstains (a lagging
  or replaced store); one whose store holds the write after ``V`` reports it as accepted
  at the top ballot ``DECIDED`` (stored means chosen), so a proposer that lags learns it.
- young stores (finding O1): a store created less than ``HANDOVER`` ms ago (a replaced
  disk, a node added; the stores the run starts with are old) holds no acceptor state
  from before its creation. Before it votes (prepare, accept) in an instance it has not
  recovered, it sends ``peer.paxos.recover`` (a prepare at the same ballot that never
  recovers in turn) to the instance's other acceptors, and with ``n - majority + 1`` of
  the others of each set it belongs to promising (``Quorum.recovered``) adopts
  ``paxos.recover`` of their states, marks the instance recovered and answers; when one
  promised higher it refuses, else it abstains (``unavailable``). Its ``peek`` of such an
  instance answers what it accepted, else what one of as many others accepted
  (``peer.paxos.read``: their own state), else ``unavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flocloud.protocol.objectlog import EMPTY_VERSION, Folded, ObjectOp, parse_version
from flocloud.protocol.paxos import (
    NO_BALLOT,
    STALE_EPOCH,
    AcceptorState,
    Promise,
    Quorum,
    fence,
    recover,
)
from flocloud.replication.feed import Write

from .world import Reply

if TYPE_CHECKING:
    from .node import SimNode, View

OBJECT_TYPE = "flocloud.object"
ATTEMPTS = 6  # rounds per decision, as node/strict.py
RPC = 60
HANDOVER = 3000  # ms an earlier layout's acceptors stay in the rounds (hand-off is done)
QUORUM_DEADLINE = 250
CONSISTENT_TRIES = 4  # catch-ups per consistent read, as node/objects.py

Value = tuple[str, Any]
DECIDED = (1 << 53, "")  # the ballot a promise reports a write its store holds under


def encode(op: ObjectOp, key: str) -> Write:
    body = {"parents": list(op.parents), "kind": op.kind, "change": op.change}
    return Write(op.id, key, type=OBJECT_TYPE, value=json.dumps(body, sort_keys=True), time=op.time)


def decode(w: Write) -> ObjectOp | None:
    if w.type != OBJECT_TYPE or w.value is None:
        return None
    b = json.loads(w.value)
    return ObjectOp(w.id, w.time, tuple(b["parents"]), b["kind"], b["change"])


def summary(f: Folded) -> dict[str, Any]:
    return {"version": f.version, "heads": f.heads, "value": f.value, "count": len(f.order)}


class ObjectShell:
    def __init__(self, node: SimNode, young: bool = True) -> None:
        self.node = node
        self.rules = node.w.rules
        self.acceptors: dict[str, dict[tuple[str, str], AcceptorState]] = {}  # by store id
        # with the store: when it was created (young ones recover), instances recovered
        self.born: dict[str, int] = {node.store.store_id: node.sim.now} if young else {}
        self.recovered: dict[str, set[tuple[str, str]]] = {}
        self.view: View = node.view  # the newest view seen (epochs never go back)
        self.previous: list[tuple[int, View]] = []  # (seen at, view) of earlier layouts
        self._inc = node.end.incarnation
        self.rounds: dict[tuple[str, str], int] = {}
        self._remember_chain()

    def _remember_chain(self) -> None:
        """At start (a new node, or a restart: what was in memory is gone), as the node
        does: the layouts of the registry's recent history, read from the chain."""
        now, members = self.node.sim.now, self.view.members
        self.previous = []
        for v in reversed(self.node.w.layouts[-8:]):
            if (
                v.members
                and v.members != members
                and all(v.members != p.members for _, p in self.previous)
            ):
                self.previous.append((now, v))

    # -- state ----------------------------------------------------------------------------

    def _fresh(self) -> None:
        """Lazily after a crash: proposer state is gone; acceptor state survives with the
        store (a broken variant forgets it)."""
        if self.node.end.incarnation != self._inc:
            self._inc = self.node.end.incarnation
            self.rounds = {}
            self._remember_chain()
            if not self.rules.acceptors_durable:
                self.acceptors.pop(self.node.store.store_id, None)
                self.recovered.pop(self.node.store.store_id, None)

    def _acc(self) -> dict[tuple[str, str], AcceptorState]:
        self._fresh()
        return self.acceptors.setdefault(self.node.store.store_id, {})

    def young(self) -> bool:
        born = self.born.get(self.node.store.store_id)
        return born is not None and self.node.sim.now - born < HANDOVER

    def ops(self, key: str) -> list[ObjectOp]:
        store = self.node.store
        out = []
        for i in store.logs.get(key, []):
            h = store.by_id.get(i)
            op = decode(h.write) if h is not None else None
            if op is not None:
                out.append(op)
        return out

    def state(self, key: str) -> Folded:
        return self.rules.fold(self.ops(key))

    def on_view(self, view: View) -> None:
        if view.epoch > self.view.epoch:
            self.previous.append((self.node.sim.now, self.view))
            self.view = view

    def refresh(self) -> None:
        """Read the registry again now (the chain's current state)."""
        if self.node.w.chain is not None:
            self.node.set_view(self.node.w.chain())

    def quorum(self, key: str) -> Quorum:
        cur = self.view.replicas(key) or [self.node.name]
        if not self.rules.epoch_fence:
            return Quorum.of(cur)
        now = self.node.sim.now
        self.previous = [(t, v) for t, v in self.previous if now - t < HANDOVER]
        return Quorum.of(cur, *(v.replicas(key) for _, v in reversed(self.previous)))

    # -- requests -------------------------------------------------------------------------

    def handle(self, src: str, op: str, args: Any, respond: Callable[[Reply], None]) -> None:
        self._fresh()
        if op == "obj.get":
            key, consistent = args
            if consistent and key in self.node.w.strict:
                return self.consistent_read(key, respond)
            return respond(("ok", self._get(key)))
        if op == "obj.put":
            return self.put(args, respond, forwarded=False)
        if op == "peer.obj.forward":
            return self.put(args, respond, forwarded=True)
        if op == "obj.cas":
            w, expected = args
            return self.cas(w, expected, respond)
        if op.startswith("peer.paxos."):
            return self.serve(op, args, respond)
        respond(("err", "bad-format", op))

    def _get(self, key: str) -> dict[str, Any]:
        return summary(self.state(key))

    def consistent_read(self, key: str, respond: Callable[[Reply], None], tries: int = 0) -> None:
        """As ``node/objects.object_get``: catch up, then answer the store's state only if
        it holds at least the writes the catch-up confirmed; a store that went back
        meanwhile (a hand-off dropped the object from a node that no longer replicates it)
        is caught up again, a few times, then ``unavailable`` (seed 335533)."""

        def caught(err: Reply | None, reached: int = 0) -> None:
            if err is not None:
                return respond(err)
            if len(self.state(key).order) >= reached or not self.rules.read_holds_caught_up:
                return respond(("ok", self._get(key)))
            if tries < CONSISTENT_TRIES - 1:
                return self.consistent_read(key, respond, tries + 1)
            respond(("err", "unavailable", "the store went back while catching up"))

        self.catch_up(key, caught)

    # -- merge writes ---------------------------------------------------------------------

    def put(self, w: Write, respond: Callable[[Reply], None], forwarded: bool) -> None:
        node = self.node
        if not forwarded and node.view.members and not node.accepts(w.receiver):
            peers = [p for p in node.view.pref(w.receiver) if p != node.name and node.is_up(p)]
            return self._forward(w, peers, respond)
        op = decode(w)
        if w.id not in node.store.by_id and op is not None:
            missing = [p for p in op.parents if p not in node.store.by_id]
            if missing:
                return respond(("err", "not-found", f"parent {missing[0][:8]} not known here"))
        node._accept(w, respond)

    def _forward(self, w: Write, peers: list[str], respond: Callable[[Reply], None]) -> None:
        if not peers:
            return self.put(w, respond, forwarded=True)

        def done(reply: Reply) -> None:
            if reply[0] == "ok" or (reply[0] == "err" and reply[1] == "unavailable"):
                return respond(reply)
            self._forward(w, peers[1:], respond)

        self.node.call(peers[0], "peer.obj.forward", w, done, t=QUORUM_DEADLINE + 2 * RPC)

    # -- strict writes: the proposer ------------------------------------------------------

    def cas(self, w: Write, expected: str, respond: Callable[[Reply], None]) -> None:
        key = w.receiver
        if key not in self.node.w.strict:
            return respond(("err", "bad-format", "a merge object takes no expected_version"))
        if w.id in self.node.store.by_id:
            return self.commit(w, respond)  # a retry of a chosen write
        f = self.state(key)
        if f.version != expected:
            if expected == EMPTY_VERSION or expected in f.versions:
                return respond(("err", "version-conflict", f.version))
            return respond(("err", "unavailable", f"this replica does not know {expected}"))

        def decided(chosen: Value | None) -> None:
            if chosen is None:
                return respond(("err", "unavailable", "no majority"))
            if chosen[0] == w.id:
                return self.commit(w, respond)
            self.commit(chosen[1], lambda r: respond(("err", "version-conflict", None)))

        self.decide(key, expected, (w.id, w), decided)

    def commit(self, w: Write, respond: Callable[[Reply], None]) -> None:
        """Store the chosen write, replicate it like any write, then answer ``ok``."""
        node = self.node

        def replicated(reply: Reply) -> None:
            respond(("ok", {"version": self.state(w.receiver).version}))

        node._accept(w, replicated)

    def decide(
        self,
        key: str,
        inst: str,
        own: Value,
        then: Callable[[Value | None], None],
        attempt: int = 0,
    ) -> None:
        """Paxos rounds until a value is chosen for (``key``, ``inst``); ``then(None)``:
        unavailable."""
        if attempt >= ATTEMPTS:
            return then(None)
        node, inc = self.node, self.node.end.incarnation
        q = self.quorum(key)
        k = (key, inst)
        rnd = self.rounds.get(k, 0) + 1
        self.rounds[k] = rnd
        ballot = (rnd, f"{node.name}/{node.sim.rnd.getrandbits(48):012x}")  # fresh per attempt
        prop = self.rules.proposer(ballot, own, q)
        epoch, cur = self.view.epoch, q.current
        newer = [False]

        def retry() -> None:
            self.rounds[k] = max(self.rounds.get(k, 0), prop_box[0].highest[0])
            if newer[0]:  # an acceptor is on a newer registry: refresh, go again at once
                self.refresh()
                return self.decide(key, inst, own, then, attempt + 1)
            if prop_box[0].phase != "rejected" and not q.reached(answered[0]):
                return then(None)
            delay = node.sim.rnd.randint(10, 35) * (attempt + 1)
            node.sim.at(
                delay,
                lambda: (
                    node.end.incarnation == inc and self.decide(key, inst, own, then, attempt + 1)
                ),  # type: ignore[func-returns-value]
            )

        prop_box = [prop]
        answered = [frozenset[str]()]

        def on_reply(who: str, reply: Reply) -> Any:
            if reply[0] == "ok":
                answered[0] |= {who}
                return reply[1]
            if reply[0] == "err" and reply[1] == STALE_EPOCH and reply[2] > epoch:
                newer[0] = True
            return None

        def promised(who: str, reply: Reply) -> None:
            r = on_reply(who, reply)
            if r is not None:
                prop_box[0] = prop_box[0].on_promise(who, Promise(*r))

        def accepted(who: str, reply: Reply) -> None:
            r = on_reply(who, reply)
            if r is not None:
                prop_box[0] = prop_box[0].on_accepted(who, *r)

        def after_accept() -> None:
            if prop_box[0].phase == "chosen":
                return then(prop_box[0].proposal)
            retry()

        def after_prepare() -> None:
            if prop_box[0].phase != "accept":
                return retry()
            answered[0] = frozenset()
            args = (key, inst, ballot, epoch, cur, prop_box[0].proposal)
            self._round(q, "peer.paxos.accept", args, accepted, prop_box, "chosen", after_accept)

        self._round(
            q, "peer.paxos.prepare", (key, inst, ballot, epoch, cur), promised, prop_box,
            "accept", after_prepare,
        )  # fmt: skip

    def _round(
        self,
        q: Quorum,
        op: str,
        args: Any,
        fold: Callable[[str, Reply], None],
        box: list[Any],
        goal: str,
        done: Callable[[], None],
    ) -> None:
        """Ask every acceptor; ``done`` once the proposer reached ``goal``, was rejected,
        or every acceptor answered or timed out."""
        left = [len(q.members)]
        finished = [False]
        inc = self.node.end.incarnation

        def got(who: str, reply: Reply) -> None:
            if finished[0] or self.node.end.incarnation != inc:
                return
            left[0] -= 1
            fold(who, reply)
            if box[0].phase in (goal, "rejected") or left[0] == 0:
                finished[0] = True
                done()

        for a in q.members:
            self.node.call(a, op, args, lambda r, a=a: got(a, r))

    # -- consistent reads -----------------------------------------------------------------

    def catch_up(self, key: str, then: Callable[[Reply | None, int], None], loops: int = 0) -> None:
        """As ``StrictObjects.catch_up``: peek at the acceptors of the current version's
        instance; while a majority answers and one accepted something, finish that
        instance, store what was chosen, and look again. ``then(None, writes)``: caught
        up to a version of that many writes; ``then(error, 0)``: not."""
        if loops >= 16:
            return then(("err", "unavailable", "still catching up"), 0)
        version = self.state(key).version
        q = self.quorum(key)
        epoch = self.view.epoch
        replies: dict[str, Any] = {}
        left = [len(q.members)]
        newer = [False]
        inc = self.node.end.incarnation

        def got(who: str, reply: Reply) -> None:
            if self.node.end.incarnation != inc:
                return
            left[0] -= 1
            if reply[0] == "ok":
                replies[who] = reply[1]
            elif reply[0] == "err" and reply[1] == STALE_EPOCH and reply[2] > epoch:
                newer[0] = True
            if left[0] == 0:
                finish()

        def finish() -> None:
            if newer[0]:
                self.refresh()
                return self.catch_up(key, then, loops + 1)
            if not q.reached(frozenset(replies)):
                return then(("err", "unavailable", "no majority"), 0)
            seen = [v for _, v in sorted(replies.items()) if v is not None]
            if not seen:
                return then(None, parse_version(version)[0])

            def chosen(value: Value | None) -> None:
                if value is None:
                    return then(("err", "unavailable", "no majority"), 0)
                self.commit(value[1], lambda r: self.catch_up(key, then, loops + 1))

            self.decide(key, version, seen[0], chosen)

        for a in q.members:
            self.node.call(
                a, "peer.paxos.peek", (key, version, epoch, q.current), lambda r, a=a: got(a, r)
            )

    # -- the acceptor ---------------------------------------------------------------------

    def serve(self, op: str, args: Any, respond: Callable[[Reply], None]) -> None:
        key, inst, *rest = args
        if op in ("peer.paxos.peek", "peer.paxos.read"):
            epoch, cur = rest
        else:
            ballot, epoch, cur, *value = rest
        if self.rules.epoch_fence:
            why = fence(self.view.epoch, self.quorum(key).current, epoch, list(cur))
            if why is not None:
                if epoch > self.view.epoch:
                    self.refresh()  # this acceptor is behind: refresh, refuse this time
                return respond(("err", STALE_EPOCH, self.view.epoch))
        acc = self._acc()
        state = acc.get((key, inst), AcceptorState())
        decided = None
        if self.rules.store_knowledge:
            f = self.state(key)
            if inst != EMPTY_VERSION and inst not in f.versions:  # a lagging or new store
                return respond(("err", "unavailable", "this acceptor's store lacks the version"))
            at = f.versions.index(inst) + 1 if inst != EMPTY_VERSION else 0
            if at < len(f.order):  # the store holds the write that follows V: it was chosen
                nxt = f.order[at]
                decided = (nxt, self.node.store.by_id[nxt].write)
        forgetful = (
            op not in ("peer.paxos.recover", "peer.paxos.read")
            and decided is None
            and self.rules.young_recovers
            and self.young()
            and not self.quorum(key).recovered(self.node.name, frozenset())  # nobody to ask
            and (key, inst) not in self.recovered.get(self.node.store.store_id, set())
        )
        if op == "peer.paxos.peek" and forgetful:  # "nothing" could speak for a lost disk
            return self._peek_others(key, inst, epoch, cur, state, respond)
        if op in ("peer.paxos.peek", "peer.paxos.read"):
            return respond(("ok", decided or state.value))
        if forgetful and op != "peer.paxos.recover":
            return self._recover(op, args, ballot, respond)
        if op in ("peer.paxos.prepare", "peer.paxos.recover"):
            acc[(key, inst)], p = self.rules.on_prepare(state, ballot)
            if decided is not None and p.ok:
                return respond(("ok", (p.ok, p.promised, DECIDED, decided)))
            return respond(("ok", (p.ok, p.promised, p.accepted, p.value)))
        if decided is not None and decided[0] != value[0][0]:  # another write follows V here
            return respond(("ok", (False, max(state.promised, ballot))))
        acc[(key, inst)], ok, promised = self.rules.on_accept(state, ballot, value[0])
        respond(("ok", (ok, promised)))

    def _peek_others(
        self, key: str, inst: str, epoch: int, cur: Any, own: AcceptorState,
        respond: Callable[[Reply], None],
    ) -> None:  # fmt: skip
        """As ``StrictObjects._peek_others``: a young store's peek of an instance it has not
        recovered answers what it accepted, else what one of enough others accepted."""
        node, inc, me = self.node, self.node.end.incarnation, self.node.name
        q = self.quorum(key)
        others = [a for a in q.members if a != me]
        seen: dict[str, Any] = {}
        left = [len(others)]

        def got(who: str, reply: Reply) -> None:
            if node.end.incarnation != inc:
                return
            if reply[0] == "ok":
                seen[who] = reply[1]
            left[0] -= 1
            if left[0] == 0:
                if not q.recovered(me, frozenset(seen)):
                    return respond(("err", "unavailable", "a young acceptor, too few others"))
                values = [v for _, v in sorted(seen.items()) if v is not None]
                respond(("ok", own.value or (values[0] if values else None)))

        for a in others:
            node.call(a, "peer.paxos.read", (key, inst, epoch, cur), lambda r, a=a: got(a, r))

    def _recover(self, op: str, args: Any, ballot: Any, respond: Callable[[Reply], None]) -> None:
        """A young store's first vote in an instance: have the other acceptors promise
        ``ballot`` and report their state, adopt ``paxos.recover`` of them, then answer
        ``op`` (or refuse when one promised higher, or abstain without enough of them)."""
        key, inst, _, epoch, cur, *_ = args
        node, inc, me = self.node, self.node.end.incarnation, self.node.name
        q = self.quorum(key)
        others = [a for a in q.members if a != me]
        reports: dict[str, Promise] = {}
        left = [len(others)]

        def done() -> None:
            acc = self._acc()
            sid = node.store.store_id
            ok = frozenset(a for a, p in reports.items() if p.ok)
            if q.recovered(me, ok):
                acc[(key, inst)] = recover(acc.get((key, inst), AcceptorState()), reports.values())
                self.recovered.setdefault(sid, set()).add((key, inst))
                return self.serve(op, args, respond)
            higher = max((p.promised for p in reports.values() if not p.ok), default=NO_BALLOT)
            if higher > ballot:  # another proposer is ahead: refuse, as an acceptor would
                if op == "peer.paxos.prepare":
                    return respond(("ok", (False, higher, NO_BALLOT, None)))
                return respond(("ok", (False, higher)))
            respond(("err", "unavailable", "a young acceptor could not recover the instance"))

        def got(who: str, reply: Reply) -> None:
            if node.end.incarnation != inc:
                return
            if reply[0] == "ok":
                reports[who] = Promise(*reply[1])
            left[0] -= 1
            if left[0] == 0:
                done()

        if not others:
            return done()
        for a in others:
            node.call(
                a, "peer.paxos.recover", (key, inst, ballot, epoch, cur), lambda r, a=a: got(a, r)
            )
