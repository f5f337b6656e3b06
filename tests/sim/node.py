"""A simulated supernode: the rules of ``flocloud.node`` over the simulated network.

The decisions are the real ones: ``WriteQuorum`` (whom to send a write to, when to
answer), ``Subscription`` (stored -> live, exactly once), ``Cursor`` (encoded and decoded
on every request), ``Placement`` (replicas, preference lists), the feed rule of
``MemoryStore`` (the reference the SQLite store is checked against), and catch-up paging,
reconciliation descent and hand-off plans (``CatchUp``, ``KeyDescent``/``IdDescent``,
``Confirmation``). The I/O around them is small and mirrors ``node/peers.py``,
``node/catchup.py``, ``node/antientropy.py`` and ``node/server.py``:

- put: a node that does not ``accept`` the key forwards the write to one that does (the
  first that answers among the key's first 2N); else it stands in. It commits (its dot),
  then follows ``WriteQuorum`` over the key's 2N candidates; ``ok`` only at W copies, else
  ``unavailable`` with the count.
- peer.replicate: refused unless the sender is a member under this node's view and every
  dot is the sender's own store's.
- catch-up: every ``SYNC`` ms, each live neighbour's log, paged by the real
  ``CatchUp`` (``replication/catchup.py``: first contact or a replaced store follows from
  the top, the position moves only after the wanted writes are stored and survives a
  crash, ``more`` pages at once); the serving side is the real ``serve_page`` (the
  requester's own forwards, the writes it acknowledged to us (``Delivered``, lost with a
  crash) and keys it does not replicate left out).
- anti-entropy: every ``AE`` ms, per live neighbour, the real descent
  (``replication/reconcile.py``): ``KeyDescent`` over the fingerprints of the keys both
  replicate, answered by ``answer_digest``, then ``IdDescent`` per differing key
  (``answer_ids``); we fetch writes we lack or hold under other dots, for keys we
  replicate. (The sim's ``peer.digest`` carries both kinds of request, and nothing is
  left out as unsettled.) The first comparison sends the requester's root, as the node's;
  whom a round compares with is ``ComparePace`` (``replication/pace.py``): a peer found
  equal is left out of rounds that double, until its shared root moves here or it asks
  with a root that is not ours.
  A round ends when its last request is answered, as the node's loop awaits it: a tick
  while one runs starts none, and a peer back up starts a round (as the node's wake), not
  a comparison of its own outside one.
- hand-off: the real plan (``replication/handoff.py``): after the view has been stable
  for ``GRACE``, a key held but not replicated here is compared (``IdDescent``) with each
  live replica, pushed once to one that lacks writes, and dropped only when all N
  confirmed and the replicas are still the same.
- query and subscribe: the feed rule; when the client's cursor covers dots this store
  lacks, fetch the writes held under them from the key's replicas and the dots' origins
  (``peer.dots``), a few rounds, and answer; or refuse (``unavailable``) while some of
  them did not answer and dots are still lacking.
- heartbeats: refused -> down at once; two timeouts in a row -> down. Nothing else marks
  a peer down (a refused replicate does not: the node's rule). Whom a round pings is the
  node's ``PingSchedule``: an answer to other traffic since the last round counts as the
  peer's heartbeat, a request left unanswered makes it due next round, the others every
  few rounds.
A crash loses everything here but the store and the saved catch-up positions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flocloud.protocol import objectlog, paxos
from flocloud.protocol.cursor import Cursor, Dot, Range
from flocloud.protocol.fingerprint import Fingerprint, PrefixIndex, key_position, write_parts
from flocloud.replication import lacking
from flocloud.replication.catchup import (
    Ask,
    CatchUp,
    Delivered,
    Outcome,
    Page,
    PollSchedule,
    serve_page,
)
from flocloud.replication.deferral import Deferral
from flocloud.replication.feed import Held, MemoryStore, Refused, Write
from flocloud.replication.handoff import Confirmation, due
from flocloud.replication.heartbeat import FailureDetector, PingSchedule
from flocloud.replication.pace import ComparePace
from flocloud.replication.quorum import Decision, WriteQuorum
from flocloud.replication.reconcile import (
    IdDescent,
    KeyDescent,
    answer_digest,
    answer_ids,
    parse_ranges,
)
from flocloud.replication.routing import accepts, candidates
from flocloud.replication.subscription import Subscription, SubscriptionPhase

from .objects import ObjectShell
from .world import Endpoint, Net, Reply, Sim, Stream, placement

RPC = 60  # peer request timeout, ms
QUORUM_DEADLINE = 250
HEARTBEAT = 250
DOWN_FOR = 400
SYNC = 250
AE = 400
GRACE = 600
PAGE = 8  # catch-up page (small, so runs page)
PAGING = 2500  # a peer paging our log that asked nothing for this long stopped
GONE_AFTER = 1000  # views lag up to 300 ms (run.py ``publish``): an unknown store is gone after


@dataclass
class Rules:
    """What a variant may change: the real ones by default; broken ones in variants.py."""

    quorum: Callable[[list[str], int, int], WriteQuorum] = lambda c, width, need: WriteQuorum(
        c, width=width, need=need
    )
    subscription: Callable[[Cursor], Subscription[Any]] = lambda c: Subscription(c, max_buffer=64)
    store: Callable[[str], MemoryStore] = MemoryStore
    check_dots: bool = True
    check_member: bool = True
    anti_entropy: bool = True
    fetch_lacking: bool = True  # a node behind the client's cursor fetches first
    # objects (tests/sim/objects.py): the state a node serves from the writes it holds (in
    # arrival order), and the Paxos of strict objects, all the real pure code by default
    fold: Callable[[list[objectlog.ObjectOp]], objectlog.Folded] = objectlog.fold
    on_prepare: Callable[..., Any] = paxos.on_prepare
    on_accept: Callable[..., Any] = paxos.on_accept
    proposer: Callable[..., paxos.Proposer] = lambda ballot, own, quorum: paxos.Proposer(
        ballot, own, len(quorum.members), quorum=quorum
    )
    acceptors_durable: bool = True  # acceptor state lives in the store
    epoch_fence: bool = True  # acceptors vote only at their epoch; joint sets after a change
    store_knowledge: bool = True  # acceptors report what their store knows follows V
    young_recovers: bool = True  # a young store recovers an instance before it votes in it
    read_holds_caught_up: bool = True  # a consistent read answers no older state than its
    # catch-up confirmed (off: the store's state, which a hand-off drop may have emptied)
    catch_up_wakes: bool = True  # a wake (a peer back, a placement change) starts a catch-up
    # round at once, as node/catchup.py does since stop 33 (off: at the next tick, as before)


@functools.lru_cache(maxsize=65536)
def _pref(members: frozenset[str], key: str, k: int) -> tuple[str, ...]:
    return tuple(placement(members).preference_list(key, k))


@functools.lru_cache(maxsize=1 << 17)
def _write_fp(msg_id: str, dots: tuple[Dot, ...]) -> Fingerprint:
    return Fingerprint(1, *write_parts(msg_id, dots))


@functools.lru_cache(maxsize=4096)
def _kpos(receiver: str) -> str:
    return key_position(receiver)


def _fp(items: Any) -> Fingerprint:
    """The fingerprint of ``(id, dots)`` pairs, as ``Fingerprint.of_writes`` (cached)."""
    out = Fingerprint()
    for i, d in items:
        out = out + _write_fp(i, d)
    return out


@dataclass
class View:
    members: frozenset[str]
    n: int
    w: int
    epoch: int = 0  # registry changes so far (the chain's epoch)

    def pref(self, key: str) -> list[str]:
        return list(_pref(self.members, key, 2 * self.n)) if self.members else []

    def replicas(self, key: str) -> list[str]:
        return self.pref(key)[: self.n]


@dataclass
class World:
    """What the checkers read: everything every store ever held, the dots assigned."""

    sim: Sim
    net: Net
    rules: Rules
    assigned: dict[tuple[str, str, int], str] = field(default_factory=dict)  # dot -> id
    violations: list[str] = field(default_factory=list)
    forged: set[str] = field(default_factory=set)  # ids an evil peer tried to renumber
    held_by: dict[str, set[str]] = field(default_factory=dict)  # id -> stores that held it
    chain: Callable[[], View] | None = None  # the registry as the chain has it now (refresh)
    layouts: list[View] = field(default_factory=list)  # the registry's history, oldest first
    strict: set[str] = field(default_factory=set)  # the strict objects' keys (the registry's)


class SimNode:
    def __init__(
        self, world: World, name: str, view: View, store_id: str, young: bool = True
    ) -> None:
        self.w = world
        self.sim: Sim = world.sim
        self.net: Net = world.net
        self.name = name
        self.view = view
        self.view_changed_at = 0
        self.store = world.rules.store(store_id)
        self.positions: dict[str, tuple[str, int]] = {}  # durable: peer -> (store id, seq)
        self.end = Endpoint(name, handler=self.handle, store_id=store_id)
        self.objects = ObjectShell(self, young)
        self.net.ends[name] = self.end
        self._volatile()
        self.timers()

    def _volatile(self) -> None:
        self.detector = FailureDetector(DOWN_FOR)  # the node's own heartbeat rule
        self.pings = PingSchedule(HEARTBEAT)  # whom a round pings (as node/peers.py)
        self.subs: dict[int, tuple[Subscription[Any], Stream, Callable[[Held], bool]]] = {}
        self.busy: set[str] = set()  # catch-up in flight, by peer
        self.catchups: dict[str, CatchUp] = {}  # from ``positions`` after a restart
        # anti-entropy waits for catch-up (replication/deferral.py, as node/antientropy.py)
        self.behind: set[str] = set()  # peers whose log we page through (last page: more)
        self.paging_us: dict[str, int] = {}  # peers paging our backlog: when they last asked
        self.deferral = Deferral()
        self.pace = ComparePace()  # peers found equal: compared less often
        self.ae_pending: int | None = None  # the running round's requests unanswered
        self.ae_rounds = 0  # rounds begun (a request counts only in the round it was sent in)
        self.ae_woken = False  # a peer came back during the round: another follows it
        self.polls = PollSchedule()  # catch-up: whom a round pulls from (as node/catchup.py)
        self.delivered = Delivered()  # our writes each peer acknowledged (as node/peers.py)
        self.unknown_since: dict[str, float] = {}  # origins no known holder runs: since when
        self.link_stores: dict[str, str] = {}  # the store each member's link named (peer.auth)

    # -- process life ---------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return self.end.up

    def crash(self) -> None:
        self.end.up = False
        self.end.incarnation += 1
        self.net.break_node(self.name)

    def restart(self, new_disk: str | None = None) -> None:
        if new_disk is not None:  # a replaced disk: a new, empty store
            self.store = self.w.rules.store(new_disk)
            self.end.store_id = new_disk
            self.positions = {}
            self.objects.born[new_disk] = self.sim.now  # a new store is young
        self._volatile()
        self.end.up = True
        self.end.incarnation += 1
        self.timers()

    def every(self, period: int, fn: Callable[[], None]) -> None:
        inc = self.end.incarnation

        def tick() -> None:
            if self.up and self.end.incarnation == inc:
                fn()  # loops drift, as asyncio's do: no two timers stay in phase
                self.sim.at(period + self.sim.rnd.randint(0, period // 4), tick)

        self.sim.at(self.sim.rnd.randint(1, period), tick)

    def timers(self) -> None:
        self.every(HEARTBEAT, self.heartbeat)
        self.every(SYNC, self.catch_up)
        if self.w.rules.anti_entropy:
            self.every(AE, self.anti_entropy)

    def set_view(self, view: View) -> None:
        if view.members != self.view.members:
            self.view_changed_at = self.sim.now
            self.wake_catch_up()  # keys this node replicates moved: pull from all, now
        self.view = view
        self.objects.on_view(view)

    # -- placement and liveness -------------------------------------------------------

    def is_up(self, peer: str) -> bool:
        return self.detector.is_up(peer, self.sim.now)

    def neighbours(self) -> list[str]:
        return sorted(self.view.members - {self.name})  # every node: the sim has <= 64

    def accepts(self, key: str) -> bool:
        return accepts(self.view.pref(key), self.view.n, self.name, self.is_up)

    def replicates(self, key: str) -> bool:
        return self.name in self.view.replicas(key)

    def call(self, dst: str, op: str, args: Any, cb: Callable[[Reply], None], t: int = RPC) -> None:
        if op == "ping":
            return self.net.call(self.name, dst, op, args, t, cb)

        def answered(r: Reply) -> None:  # what the link tells the heartbeats (peers.py)
            if r[0] in ("timeout", "refused"):
                self.pings.failed(dst, self.sim.now)
            else:
                self.pings.heard(dst, self.sim.now)
            cb(r)

        self.net.call(self.name, dst, op, args, t, answered)

    # -- storing ----------------------------------------------------------------------

    def _store(self, w: Write, dots: tuple[Dot, ...] | None, origin: str | None) -> Any:
        if origin is not None and origin not in self.view.members:
            self.w.violations.append(
                f"t={self.sim.now}ms {self.name[:6]} stored {w.id[:8]} from {origin[:6]}, "
                "not a registered supernode in its view"
            )
        before = w.id in self.store.by_id and self.store.by_id[w.id].dots
        res = self.store.put(w, dots, origin)
        self.w.held_by.setdefault(w.id, set()).add(self.store.store_id)
        if dots is None and not res.duplicate:
            for d in res.dots:
                self.w.assigned.setdefault((w.receiver, *d), w.id)
        if res.dots != before:
            self.commit(self.store.by_id[w.id])
        return res

    def commit(self, h: Held) -> None:
        for sub, stream, match in list(self.subs.values()):
            if h.write.receiver != stream_receiver(stream):
                continue
            ev = sub.on_commit(h, h.dots, match(h))
            if ev is not None:
                self.net.send(stream, ("event", ev, sub.cursor.encode()))
            elif sub.phase is SubscriptionPhase.CLOSED:
                self.net.break_stream(stream)

    def store_replica(self, rec: tuple[Write, tuple[Dot, ...]], origin: str) -> bool:
        try:
            return not self._store(rec[0], rec[1], origin).duplicate
        except Refused:
            return False

    def store_batch(self, records: list[tuple[Write, tuple[Dot, ...]]], origin: str) -> None:
        failed = [r for r in records if not self._try(r, origin)]
        for r in failed:  # in order, after the batch: targets exist now
            self._try(r, origin)

    def _try(self, rec: tuple[Write, tuple[Dot, ...]], origin: str) -> bool:
        try:
            self._store(rec[0], rec[1], origin)
            return True
        except Refused:
            return False

    def record(self, i: str) -> tuple[Write, tuple[Dot, ...]] | None:
        h = self.store.by_id.get(i)
        return (h.write, h.dots) if h else None

    # -- requests ---------------------------------------------------------------------

    def handle(self, src: str, op: str, args: Any, respond: Callable[[Reply], None]) -> None:
        if op.startswith("obj."):
            return self.objects.handle(src, op, args, respond)
        if op == "put":
            return self.client_put(args, respond, forwarded=False)
        if op == "query":
            return self.query(args, respond)
        if op == "subscribe":
            return self.subscribe(src, args, respond)
        if self.w.rules.check_member and src not in self.view.members:
            return respond(("err", "forbidden", f"{src} is not a registered supernode"))
        if src in self.view.members:  # its link's handshake named its store (node/links.py)
            self.link_stores[src] = self.net.ends[src].store_id
        if op.startswith(("peer.paxos.", "peer.obj.")):
            return self.objects.handle(src, op, args, respond)
        if op == "peer.forward":
            return self.client_put(args, respond, forwarded=True)
        if op == "peer.replicate":
            w, dots = args
            sid = self.net.ends[src].store_id  # proven by peer.auth on the real link
            if self.w.rules.check_dots and any(o != sid for o, _ in dots):
                return respond(("err", "forbidden", "only the sender's own dots"))
            try:
                res = self._store(w, dots, src)
            except Refused as exc:
                return respond(("err", exc.code, None))
            return respond(("ok", res.duplicate))
        if op == "peer.sync":
            return respond(("ok", self.serve_sync(src, args)))
        if op == "peer.get":
            return respond(("ok", [r for i in args if (r := self.record(i)) is not None]))
        if op == "peer.dots":
            receiver, ranges = args
            return respond(
                ("ok", [(h.write, h.dots) for h in self.store.holding(receiver, ranges, 1000)])
            )
        if op == "peer.digest":
            return respond(("ok", self.serve_digest(src, args)))
        if op == "peer.items":
            return respond(("ok", (self.store.items(args), self.replicates(args))))
        if op == "peer.push":
            self.store_batch([r for r in args if self.replicates(r[0].receiver)], src)
            return respond(("ok", None))
        if op == "ping":
            return respond(("ok", None))
        respond(("err", "bad-format", op))

    # -- the write path ---------------------------------------------------------------

    def client_put(self, w: Write, respond: Callable[[Reply], None], forwarded: bool) -> None:
        if w.kind != "message" and w.target not in self.store.by_id:
            return respond(("err", "not-found", w.target))
        if not forwarded and self.view.members and not self.accepts(w.receiver):
            peers = [p for p in self.view.pref(w.receiver) if p != self.name and self.is_up(p)]
            return self._forward(w, peers, respond)
        self._accept(w, respond)

    def _forward(self, w: Write, peers: list[str], respond: Callable[[Reply], None]) -> None:
        if not peers:  # nobody who takes it answers: stand in
            return self._accept(w, respond)

        def done(reply: Reply) -> None:
            if reply[0] == "ok" or (reply[0] == "err" and reply[1] == "unavailable"):
                return respond(reply)
            self._forward(w, peers[1:], respond)

        self.call(peers[0], "peer.forward", w, done, t=QUORUM_DEADLINE + 2 * RPC)

    def _accept(self, w: Write, respond: Callable[[Reply], None]) -> None:
        try:
            res = self._store(w, None, None)
        except Refused as exc:
            return respond(("err", exc.code, None))
        v = self.view
        cands = candidates(v.pref(w.receiver), v.n, self.name)
        q = self.w.rules.quorum(cands, v.n - 1, v.w - 1)
        rec = (w, res.dots)
        answered = [False]
        inc = self.end.incarnation

        def answer() -> None:
            if answered[0] or q.decision is Decision.PENDING:
                return
            answered[0] = True
            if q.decision is Decision.OK:
                respond(("ok", {"dots": res.dots, "replicas": q.copies}))
            else:
                respond(("err", "unavailable", {"dots": res.dots, "replicas": q.copies}))

        def launch(peers: list[str]) -> None:
            for p in peers:
                self.call(p, "peer.replicate", rec, lambda r, p=p: result(p, r))

        def result(peer: str, reply: Reply) -> None:  # heartbeats alone mark a peer down
            if reply[0] == "ok" and self.end.incarnation == inc:  # left out of its pages
                self.delivered.add(peer, res.seq)
            launch(q.on_result(peer, reply[0] == "ok", self._down(cands)))
            answer()

        def deadline() -> None:
            if self.end.incarnation == inc and not answered[0]:
                q.give_up()
                answer()

        launch(q.start(self._down(cands)))
        self.sim.at(QUORUM_DEADLINE, deadline)
        answer()  # a network of one node: OK at once

    def _down(self, peers: list[str]) -> set[str]:
        return {p for p in peers if not self.is_up(p)}

    # -- reads ------------------------------------------------------------------------

    def query(self, args: Any, respond: Callable[[Reply], None]) -> None:
        receiver, token, limit, flt = args
        cursor = Cursor.decode(token)

        def answer() -> Any:
            return self.store.query(receiver, cursor, limit, flt.match, flt.include_deleted)

        first = answer()
        if not first.lacking:
            return respond(("ok", _wire(first)))

        def then(ok: bool) -> None:
            respond(("ok", _wire(answer())) if ok else ("err", "unavailable", "behind"))

        self.catch_up_cursor(receiver, cursor, first.lacking, then)

    def catch_up_cursor(
        self,
        receiver: str,
        cursor: Cursor,
        lack: tuple[Range, ...],
        then: Callable[[bool], None],
        round_no: int = 1,
    ) -> None:
        """As ``NodeService.catch_up_cursor``: fetch rounds as ``lacking.after_round``
        says; ``then(True)`` when the node may answer."""
        if not lack or not self.w.rules.fetch_lacking:
            return then(True)

        def pulled(is_settled: bool) -> None:
            now = self.store.lacking(receiver, cursor)
            step = lacking.after_round(lack, now, is_settled, round_no)
            if step is lacking.Next.AGAIN:
                return self.catch_up_cursor(receiver, cursor, now, then, round_no + 1)
            then(step is lacking.Next.ANSWER)

        self.pull_lacking(receiver, lack, pulled)

    def pull_lacking(
        self, receiver: str, ranges: tuple[Range, ...], then: Callable[[bool], None]
    ) -> None:
        """As ``Peers.pull_lacking``: ask the key's replicas and the nodes whose stores
        (as far as this node knows them: its catch-up positions) are the origins, all at
        once; ``then(settled)`` (``replication.lacking.settled``)."""
        store_of = {**{p: sid for p, (sid, _) in self.positions.items()}, **self.link_stores}
        members = self.view.members
        asked = lacking.ask(ranges, self.view.replicas(receiver), store_of, members, self.name)

        def settle(all_answered: bool) -> None:
            holders = self.view.pref(receiver)
            me, mine = self.name, self.store.store_id
            then(lacking.settled(
                ranges, all_answered, store_of, members, holders, me, mine,
                self.unknown_since, self.sim.now, GONE_AFTER,
            ))  # fmt: skip

        if not asked:
            return settle(True)
        left = [len(asked)]
        complete = [True]

        def got(peer: str, reply: Reply) -> None:
            if reply[0] == "ok" and peer in self.view.members:
                self.store_batch(reply[1], peer)  # held ones only learn the dots
            else:
                complete[0] = False
            left[0] -= 1
            if left[0] == 0:
                settle(complete[0])

        for p in asked:
            if not self.is_up(p):
                got(p, ("err", "down", None))
            else:
                self.call(p, "peer.dots", (receiver, ranges), lambda r, p=p: got(p, r))

    def subscribe(self, src: str, args: Any, respond: Callable[[Reply], None]) -> None:
        stream, flt, token = args
        cursor = Cursor.decode(token)
        inc = self.end.incarnation

        def then(ok: bool) -> None:
            if self.end.incarnation != inc or not stream.open:
                return
            if not ok:
                return respond(("err", "unavailable", "behind"))
            self._subscribe(stream, flt, token, respond)

        self.catch_up_cursor(flt.receiver, cursor, self.store.lacking(flt.receiver, cursor), then)

    def _subscribe(
        self, stream: Stream, flt: Any, token: str, respond: Callable[[Reply], None]
    ) -> None:
        sub = self.w.rules.subscription(Cursor.decode(token))
        key = id(stream)
        self.subs[key] = (sub, stream, flt.match_all)
        stream.node_break = lambda: self.subs.pop(key, None)  # type: ignore[method-assign]
        respond(("ok", None))
        self._stored_page(key, sub, stream, flt, Cursor.decode(token))

    def _stored_page(
        self, key: int, sub: Subscription[Any], stream: Stream, flt: Any, after: Cursor
    ) -> None:
        """One page of the stored phase (the real node awaits between pages, so commits
        can land meanwhile: they wait in the subscription's buffer)."""
        if key not in self.subs or sub.phase is not SubscriptionPhase.STORED:
            return
        page = self.store.query(flt.receiver, sub.cursor, 3, flt.match, flt.include_deleted)
        cursor = after
        for h in page.records:
            cursor = cursor.add(h.dots)
            self.net.send(stream, ("event", h, cursor.encode()))
        sub.stored_page(page.cursor)
        if page.more:
            inc = self.end.incarnation
            self.sim.at(
                self.sim.rnd.randint(1, 5),
                lambda: (
                    self.end.incarnation == inc
                    and self._stored_page(key, sub, stream, flt, page.cursor)
                ),  # type: ignore[func-returns-value]
            )
            return
        if sub.phase is SubscriptionPhase.CLOSED:
            return self.net.break_stream(stream)
        self.net.send(stream, ("eose", None, sub.cursor.encode()))
        for h in sub.end_stored():
            self.net.send(stream, ("event", h, sub.cursor.encode()))

    # -- catch-up ---------------------------------------------------------------------

    def serve_sync(self, src: str, args: Any) -> Any:
        after, from_top = args
        sid = self.store.store_id
        if from_top:
            return sid, [], self.store.seq, False
        self.delivered.passed(src, after)
        rows, nxt, more = serve_page(
            self.store.log_since(after, PAGE), src, after, PAGE,
            lambda r: src in self.view.replicas(r), self.delivered.of(src),
        )  # fmt: skip
        if more:
            self.paging_us[src] = self.sim.now
        else:
            self.paging_us.pop(src, None)
        return sid, rows, nxt, more

    def wake_catch_up(self, peer: str | None = None) -> None:
        """``peer`` (every peer: None) due again, and a round now (``CatchUpShell.wake``)."""
        self.polls.wake(peer)
        if self.w.rules.catch_up_wakes:
            inc = self.end.incarnation

            def round_now() -> None:
                if self.up and self.end.incarnation == inc:  # not after a crash
                    self.catch_up()

            self.sim.at(0, round_now)

    def catch_up(self) -> None:
        for peer in self.neighbours():
            if self.is_up(peer) and peer not in self.busy and self.polls.due(peer):
                self._pull(peer)
        self.polls.next_round()

    def _pull(
        self,
        peer: str,
        ask: Ask | None = None,
        stored: bool = False,
        token: tuple[int, int] | None = None,
    ) -> None:
        """One page of ``peer``'s log, as ``CatchUp`` says (node/catchup.py's loop);
        ``stored``: an earlier page of this pull stored something; ``token``: the
        schedule's, from the pull's first page."""
        token = token or self.polls.begin(peer)
        cu = self.catchups.get(peer)
        if cu is None:
            cu = self.catchups[peer] = CatchUp(self.positions.get(peer), limit=PAGE)
        self.busy.add(peer)
        inc = self.end.incarnation

        def save() -> None:
            pos = cu.to_save()
            if pos is not None:
                self.positions[peer] = pos  # durable, as the real node's peer_cursors

        def done(pulled: bool | None = None) -> None:  # None: the pull failed
            self.busy.discard(peer)
            self.behind.discard(peer)
            if pulled is not None:
                self.polls.pulled(peer, pulled, token)

        def got(reply: Reply) -> None:
            if reply[0] != "ok":
                return done()
            sid, rows, nxt, more = reply[1]
            step = cu.on_page(Page(sid, rows, nxt, more), self.replicates)
            if step.outcome is not Outcome.FETCH:  # first contact, or a replaced store
                save()
                return done(stored)
            wanted = [i for _, i in step.wanted if i not in self.store.by_id]

            def fetched(rep: Reply) -> None:
                if rep[0] != "ok" or peer not in self.view.members:
                    return done()
                held = len(self.store.by_id)
                self.store_batch(rep[1], peer)
                now_stored = stored or len(self.store.by_id) > held  # as ``pull``'s count
                cu.stored(step)
                save()
                if step.again is None:
                    return done(now_stored)
                self.behind.add(peer)  # a backlog: anti-entropy waits for it
                nxt_ask = step.again
                self.sim.at(
                    1,
                    lambda: (
                        self.end.incarnation == inc and self._pull(peer, nxt_ask, now_stored, token)
                    ),  # type: ignore[func-returns-value]
                )

            if wanted:
                self.call(peer, "peer.get", wanted, fetched)
            else:
                fetched(("ok", []))

        a = ask or cu.ask()
        self.call(peer, "peer.sync", (a.after, a.from_top), got)

    # -- anti-entropy and hand-off ----------------------------------------------------

    def _shared_index(self, peer: str) -> PrefixIndex:
        """The keys held here that this node and ``peer`` replicate (this node's view), by
        key position + receiver, as ``node/antientropy.py`` indexes them."""
        return PrefixIndex(
            [
                (_kpos(r) + r, _fp(self.store.items(r).items()))
                for r in self.store.receivers()
                if self.name in self.view.replicas(r) and peer in self.view.replicas(r)
            ]
        )

    def _id_parts(self, receiver: str, prefix: str) -> dict[str, int]:
        items = self.store.items(receiver)
        return {i: _write_fp(i, d).s1 for i, d in items.items() if i.startswith(prefix)}

    def serve_digest(self, src: str, args: Any) -> Any:
        """``peer.digest``: ``("root", ranges)`` (the first comparison, with the
        requester's root: "later" while catch-up pages a backlog) and ``("keys", ranges)``
        answered by ``answer_digest``, ``("ids", receiver, ranges)`` by ``answer_ids``, as
        node/antientropy.py answers ``peer.digest`` and ``peer.ids``. A request whose
        ranges differ from ours makes its sender due here (``ComparePace.differ``). The
        roots here are computed from the store each time: exact, where the node's are kept
        write by write and rebuilt every 10 rounds."""
        if args[0] in ("root", "keys"):
            if self.deferral.waits(bool(self.behind)):  # what differs is on its way
                return "later" if args[0] == "root" else []
            answer = answer_digest(self._shared_index(src), parse_ranges(args[1]))
            if answer:  # it holds what we lack, or lacks what we hold
                self.pace.differ(src)
            return answer
        _, receiver, wire = args
        asked = parse_ranges(wire)
        items = self.store.items(receiver)
        fps = [_fp((i, d) for i, d in items.items() if i.startswith(p)) for p, _ in asked]
        out = []
        for p, fp, listed in answer_ids(asked, fps):
            entry: dict[str, Any] = {"prefix": p, "fp": fp.to_wire()}
            if listed:
                entry["ids"] = [[i, q] for i, q in sorted(self._id_parts(receiver, p).items())]
            out.append(entry)
        return {"ranges": out, "replica": self.replicates(receiver)}

    def anti_entropy(self) -> None:
        if self.ae_pending is not None:  # the node's loop is still in its round
            return
        for p in [p for p, t in self.paging_us.items() if self.sim.now - t > PAGING]:
            del self.paging_us[p]
        skip = self.deferral.begin_round(bool(self.behind), self.paging_us)
        if skip is not None:  # peers paging through our backlog: left out, boundedly
            self.ae_pending = 0
            self.ae_rounds += 1
            for peer in self.neighbours():
                if not self.is_up(peer) or peer in self.busy or peer in skip:
                    continue
                index = self._shared_index(peer)
                if not self.pace.due(peer, index.fingerprint("")):
                    continue
                self._ae_call(
                    peer,
                    "peer.digest",
                    ("root", [["", index.fingerprint("").to_wire()]]),
                    lambda r, p=peer, i=index: self._reconcile(p, i, r),
                )
            if self.ae_pending == 0:
                self._end_round()
        self.handoff()

    def _ae_call(self, peer: str, op: str, args: Any, cb: Callable[[Reply], None]) -> None:
        """A request of the running round: the round ends when the last is answered."""
        counted = self.ae_rounds if self.ae_pending is not None else None
        if self.ae_pending is not None:
            self.ae_pending += 1

        def answered(r: Reply) -> None:
            try:
                cb(r)
            finally:
                if self.ae_pending is not None and counted == self.ae_rounds:
                    self.ae_pending -= 1
                    if self.ae_pending == 0:
                        self._end_round()

        self.call(peer, op, args, answered)

    def _end_round(self) -> None:
        self.ae_pending = None
        self.deferral.end_round()
        if self.ae_woken:  # the node's wake, set during the round: the next one at once
            self.ae_woken = False
            inc = self.end.incarnation

            def again() -> None:
                if self.up and self.end.incarnation == inc:
                    self.anti_entropy()

            self.sim.at(1, again)

    def wake_anti_entropy(self) -> None:
        """A peer is back up: a round now, or right after the one running (node/peers.py)."""
        if self.ae_pending is not None:
            self.ae_woken = True
        else:
            self.anti_entropy()

    def _reconcile(self, peer: str, index: PrefixIndex, reply: Reply) -> None:
        """The real descent (``KeyDescent``, then ``IdDescent`` per differing key), from
        the reply to the first comparison (``index``: the shared keys it was sent with);
        writes missing here are fetched."""
        if reply[0] != "ok":
            self.pace.differ(peer)
            return
        if reply[1] == "later":  # the peer is catching up: a later round
            return
        if not reply[1]:  # equal roots
            self.pace.equal(peer, index.fingerprint(""))
            return
        self.pace.differ(peer)
        d = KeyDescent(self._shared_index(peer))
        d.batch()  # the first comparison: answered with the peer's ranges
        d.on_reply(reply[1])

        def step() -> None:
            wire = d.batch()
            if wire is None:
                return keys_done()

            def got(r: Reply) -> None:
                if r[0] == "ok":
                    d.on_reply(r[1])
                    step()

            self._ae_call(peer, "peer.digest", ("keys", wire), got)

        def keys_done() -> None:
            for receiver in d.differing:
                if self.deferral.cut_short(bool(self.behind), peer, self.paging_us):
                    return  # catch-up began on a backlog since: it fetches these
                if self.replicates(receiver):  # ours under our view
                    self._diff_ids(peer, receiver, fetch, self._ae_call)

        def fetch(ids: IdDescent | None) -> None:
            if ids is not None and ids.missing:
                self._ae_call(peer, "peer.get", ids.missing, lambda r: self._fetched(peer, r))

        step()

    def _diff_ids(
        self,
        peer: str,
        receiver: str,
        then: Callable[[IdDescent | None], None],
        call: Callable[[str, str, Any, Callable[[Reply], None]], None] | None = None,
    ) -> None:
        """``IdDescent`` over ``peer.digest`` ``("ids", ...)``; ``then`` gets it when done
        (None: a request failed). ``call``: how requests go (a round's count them)."""
        send = call or self.call
        d = IdDescent()

        def step() -> None:
            batch = d.batch()
            if batch is None:
                return then(d)
            items = self.store.items(receiver)
            fps = [_fp((i, x) for i, x in items.items() if i.startswith(p)) for p in batch]

            def got(r: Reply) -> None:
                if r[0] != "ok":
                    return then(None)
                for p in d.on_reply(r[1]):
                    d.on_items(p, self._id_parts(receiver, p))
                step()

            send(peer, "peer.digest", ("ids", receiver, d.ask(batch, fps)), got)

        step()

    def _fetched(self, peer: str, reply: Reply) -> None:
        if reply[0] == "ok" and peer in self.view.members:  # still a member when it answers
            self.store_batch(reply[1], peer)

    def handoff(self) -> None:
        """``replication/handoff.py``'s plan, per foreign key held here."""
        if not due(bool(self.view.members), self.sim.now, self.view_changed_at, GRACE):
            return
        for receiver in self.store.receivers():
            if self.replicates(receiver):
                continue
            ids = list(self.store.items(receiver))
            conf = Confirmation.start(self.view.replicas(receiver), self.view.n, self.is_up, ids)
            for p in conf.targets():
                self._confirm(p, receiver, conf)

    def _confirm(self, peer: str, receiver: str, conf: Confirmation) -> None:
        def checked(d: IdDescent | None) -> None:
            if d is None:
                return conf.on_failure(peer)
            push = conf.on_compare(peer, d.extra, d.replica)
            if push:
                recs = [r for i in push if (r := self.record(i)) is not None]

                def pushed(r: Reply) -> None:
                    if r[0] != "ok":
                        return conf.on_failure(peer)
                    self._diff_ids(peer, receiver, checked)

                return self.call(peer, "peer.push", recs, pushed)
            self._drop(receiver, conf)

        self._diff_ids(peer, receiver, checked)

    def _drop(self, receiver: str, conf: Confirmation) -> None:
        if conf.may_drop(self.name, self.view.replicas(receiver)):
            # only what the replicas confirmed: writes that came in meanwhile stay
            self.store.drop(receiver, conf.ids)

    # -- heartbeats -------------------------------------------------------------------

    def heartbeat(self) -> None:
        ping, heard = self.pings.round(self.neighbours(), self.sim.now, self.is_up)
        for peer in heard:
            self.detector.answered(peer)
        for peer in ping:
            self.call(peer, "ping", None, lambda r, p=peer: self._pinged(p, r))

    def _pinged(self, peer: str, reply: Reply) -> None:
        was_down = not self.is_up(peer)
        if reply[0] == "ok":
            self.detector.answered(peer)
            if was_down:
                self.wake_catch_up(peer)
            if was_down and self.w.rules.anti_entropy:
                self.pace.differ(peer)  # compared in the round the wake starts
                self.wake_anti_entropy()
            return
        self.pings.failed(peer, self.sim.now)  # a slow one is pinged again next round
        self.detector.failed(peer, self.sim.now, slow=reply[0] == "timeout")


def stream_receiver(stream: Stream) -> str:
    return stream.receiver


def _wire(ans: Any) -> Any:
    return ([(h.write, h.dots, h.deleted) for h in ans.records], ans.cursor.encode(), ans.more)


__all__ = ["Rules", "SimNode", "View", "World", "replace"]
