"""One simulated run from a seed: build the network, inject faults, heal, check.

A run has a fault phase (writes, reads, subscriptions, and random crashes, restarts,
partitions, cut client links, loss, a replaced disk or a registry change, a peer sending
dots that are not its own), then a quiet phase: everything healed and restarted, every
node sees the final registry, no new writes; anti-entropy, catch-up and hand-off run
until the end. Then the checkers (``checks.py``) read the result.

Destructive faults (a replaced disk, a removed node) each destroy one copy; a run has at
most ``W - 1`` of them, the most a quorum of ``W`` is promised to survive.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from flocloud.replication.feed import Write

from . import checks
from .clients import Filter, Reader, Subscriber, Writer
from .linearizability import Op
from .node import GONE_AFTER, Rules, SimNode, View, World
from .objclients import MergeWriter, StrictClient, check_objects
from .world import Endpoint, Net, Sim, address

FAULT_MS = 1200
QUIET_MS = 2200


@dataclass
class Config:
    seed: int
    nodes: int
    n: int = 3
    w: int = 2
    writers: int = 3
    writes: int = 8
    readers: int = 2
    subscribers: int = 2
    receivers: int = 3
    loss: float = 0.02
    faults: int = 6
    destructive: bool = True  # replaced disks and registry changes
    objects: bool = False  # merge and strict objects (objclients.py)
    merge_objects: int = 2
    merge_writers: int = 2
    merge_writes: int = 4
    strict_objects: int = 1
    strict_clients: int = 3
    strict_ops: int = 3
    registry_changes: int = 0  # extra registry changes (nodes added) in the fault phase
    crashes: int = 0  # extra crashes (and restarts) in the fault phase
    disks: int = 0  # extra replaced disks in the fault phase, all of one node (one at a time)
    # nodes added by ``registry_changes`` come with new stores (young: they recover Paxos
    # instances before voting); off: with stores older than the window (set up and synced
    # more than an hour before they were registered), which vote at once
    added_young: bool = True

    @classmethod
    def from_seed(cls, seed: int, nodes: int | None = None, **kw: Any) -> Config:
        import random

        r = random.Random(seed ^ 0x5EED)
        drawn = r.choice([3, 3, 4, 4, 5, 5, 6, 7, 9])
        # objects in one seed of four (the suite's time); the others replay exactly as
        # before objects came (among them seeds 68 and 1012 of finding E1, issue 10)
        kw.setdefault("objects", seed % 4 == 1)
        return cls(
            seed, nodes or drawn, loss=r.choice([0.0, 0.01, 0.05]), faults=r.randint(2, 10), **kw
        )

    def replay(self) -> str:
        extra = ""
        if self.objects != (self.seed % 4 == 1):
            extra += " --objects" if self.objects else " --no-objects"
        for name in REPLAYED:
            value = getattr(self, name)
            if value != Config.__dataclass_fields__[name].default:
                flag = "--" + name.replace("_", "-")
                extra += f" {flag} {value}" if not isinstance(value, bool) else f" {flag}-off"
        return f"python -m tests.sim --seed {self.seed} --nodes {self.nodes}{extra}"


# the run keywords a replay names when they differ from the default (``__main__``)
REPLAYED = (
    "strict_clients", "strict_ops", "registry_changes", "crashes", "disks", "destructive",
    "added_young",
)  # fmt: skip


@dataclass
class Result:
    config: Config
    violations: list[str]
    known: list[str]
    acked: int
    events: int
    messages: int

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class Run:
    cfg: Config
    rules: Rules = field(default_factory=Rules)

    def __post_init__(self) -> None:
        self.sim = Sim(self.cfg.seed)
        self.net = Net(self.sim, loss=self.cfg.loss)
        self.world = World(self.sim, self.net, self.rules)
        self.quiet = False
        self.known: list[str] = []  # duplicates excused: a dot's store left the network
        self._ids = 0
        self._disks = 0
        self.destroyed = 0
        self.sent: dict[str, Write] = {}
        self.acked: dict[str, Write] = {}
        self.receivers = [address(f"key-{self.cfg.seed}-{i}") for i in range(self.cfg.receivers)]
        self.nodes: dict[str, SimNode] = {}
        self.spare = [address(f"node-{i}") for i in range(self.cfg.nodes + 4)]
        self.registry: set[str] = set()
        self.epoch = 0  # registry changes published
        for _ in range(self.cfg.nodes):
            self.registry.add(self.spare.pop(0))
        for name in sorted(self.registry):
            self.nodes[name] = SimNode(self.world, name, self.view(), self.disk(), young=False)
        self.writers = [
            Writer(self, f"writer{i}", self.cfg.writes) for i in range(self.cfg.writers)
        ]
        rnd = self.sim.rnd
        self.readers = [
            Reader(self, f"reader{i}", self.filter(), rnd.randint(1, 4))
            for i in range(self.cfg.readers)
        ]
        self.subscribers = [
            Subscriber(self, f"sub{i}", self.filter()) for i in range(self.cfg.subscribers)
        ]
        self.world.chain = self.view
        self.world.layouts.append(self.view())
        self.merge_keys: list[str] = []
        self.strict_keys: list[str] = []
        self.obj_acked: dict[str, Write] = {}
        self.history: dict[str, list[Op]] = {}
        if self.cfg.objects:
            self.objects()

    def objects(self) -> None:
        c = self.cfg
        self.merge_keys = [address(f"obj-{c.seed}-m{i}") for i in range(c.merge_objects)]
        self.strict_keys = [address(f"obj-{c.seed}-s{i}") for i in range(c.strict_objects)]
        self.world.strict.update(self.strict_keys)
        self.history = {k: [] for k in self.strict_keys}
        self.merge_writers = [
            MergeWriter(self, f"mwriter{i}", c.merge_writes) for i in range(c.merge_writers)
        ]
        self.strict_clients = [
            StrictClient(self, f"cas{i}", c.strict_ops) for i in range(c.strict_clients)
        ]

    # -- helpers ------------------------------------------------------------------------

    def filter(self) -> Filter:
        rnd = self.sim.rnd
        return Filter(
            rnd.choice(self.receivers), rnd.choice([None, None, "t1"]), rnd.random() < 0.5
        )

    def view(self) -> View:
        return View(
            frozenset(self.registry),
            min(self.cfg.n, len(self.registry)),
            min(self.cfg.w, len(self.registry)),
            self.epoch,
        )

    def disk(self) -> str:
        self._disks += 1
        return hashlib.sha256(f"{self.cfg.seed}-disk-{self._disks}".encode()).hexdigest()[:16]

    def new_id(self) -> str:
        self._ids += 1
        return hashlib.sha256(f"{self.cfg.seed}-write-{self._ids}".encode()).hexdigest()

    def replicas(self, receiver: str) -> list[str]:
        return self.view().replicas(receiver)

    def duplicate(self, client: str, msg_id: str, how: str) -> None:
        """A client received a write twice. Excused (recorded in ``known``) only in the
        documented corner of docs/protocol.md §8.2: the write has two dots and the store
        that numbered one of them has left the network (a replaced disk, a removed node)
        holding its only copy, so nobody can tell the dots are one write. Any other
        duplicate is a violation."""
        text = f"{client} received {msg_id[:8]} twice ({how})"
        origins = [o for (_, o, _), i in self.world.assigned.items() if i == msg_id]
        serving = {n.store.store_id for name, n in self.nodes.items() if name in self.registry}
        if len(origins) >= 2 and any(o not in serving for o in origins):
            self.known.append(f"t={self.sim.now}ms {text}: the store of a dot is gone")
        else:
            self.violation(text)

    def violation(self, text: str) -> None:
        self.world.violations.append(f"t={self.sim.now}ms {text}")

    def acked_write(self, w: Write, info: Any) -> None:
        holders = sum(1 for n in self.nodes.values() if w.id in n.store.by_id)
        ever = len(self.world.held_by.get(w.id, ()))
        if ever < self.view().w:
            self.violation(
                f"{w.id[:8]} acked ok with {ever} copies, below W={self.view().w} (now {holders})"
            )
        self.acked[w.id] = w

    def object_acked(self, w: Write, merge: bool) -> None:
        """An object write acknowledged ``ok``: a merge write only with W copies (a strict
        one once chosen, stored here and sent on: the acceptors hold it too)."""
        ever = len(self.world.held_by.get(w.id, ()))
        if merge and ever < self.view().w:
            self.violation(f"object write {w.id[:8]} acked ok with {ever} copies, below W")
        self.obj_acked[w.id] = w

    # -- faults -------------------------------------------------------------------------

    def up_nodes(self) -> list[SimNode]:
        return [n for name, n in sorted(self.nodes.items()) if n.up and name in self.registry]

    def fault(self) -> None:
        rnd = self.sim.rnd
        up = self.up_nodes()
        kind = rnd.choice(
            ["crash", "crash", "partition", "partition", "cut", "loss", "evil", "destroy", "member"]
        )
        budget = self.cfg.destructive and self.destroyed < self.view().w - 1
        if kind == "crash" and len(up) > 1:
            node = rnd.choice(up)
            node.crash()
            self.sim.at(rnd.randint(50, 600), lambda: self.restart(node))
        elif kind == "partition":
            side = {x for x in sorted(self.net.ends) if rnd.random() < 0.35}
            self.net.partition(side)
            self.sim.at(rnd.randint(50, 500), self.net.heal)
        elif kind == "cut":
            client = rnd.choice([c for c in self.net.ends if c not in self.nodes])
            self.net.cut(client, rnd.choice(sorted(self.registry)))
            self.sim.at(rnd.randint(50, 400), self.net.heal)
        elif kind == "loss":
            old = self.net.loss
            self.net.loss = 0.3
            self.sim.at(rnd.randint(50, 300), lambda: setattr(self.net, "loss", old))
        elif kind == "evil" and up:
            self.evil(rnd.choice(up))
        elif kind == "destroy" and budget and len(up) > 1:
            node = rnd.choice(up)
            self.destroyed += 1
            node.crash()
            self.sim.at(rnd.randint(50, 400), lambda: self.restart(node, new_disk=True))
        elif kind == "member" and budget and rnd.random() < 0.5 and len(self.registry) > 3:
            gone = rnd.choice(sorted(self.registry))
            self.destroyed += 1
            self.registry.discard(gone)
            self.publish()
            self.sim.at(rnd.randint(1, 100), lambda: self.stale_client_write(gone))
        elif kind == "member" and self.spare and self.cfg.destructive:
            name = self.spare.pop(0)
            self.nodes[name] = SimNode(self.world, name, self.view(), self.disk())
            self.registry.add(name)
            self.publish()

    def restart(self, node: SimNode, new_disk: bool = False) -> None:
        if (not self.quiet or not node.up) and not node.up:
            node.restart(self.disk() if new_disk else None)
            node.set_view(self.view())

    def publish(self) -> None:
        """A registry change: each node reads it at its own time (views lag)."""
        self.epoch += 1
        v = self.view()
        self.world.layouts.append(v)
        for node in self.nodes.values():
            self.sim.at(self.sim.rnd.randint(0, 300), lambda node=node: node.set_view(v))

    def evil(self, node: SimNode) -> None:
        """A registered peer sends a stored write under a dot of another store's origin."""
        held = [h for h in node.store.by_id.values()]
        others = [n for n in self.nodes.values() if n is not node]
        if not held or not others:
            return
        h = self.sim.rnd.choice(held)
        target = self.sim.rnd.choice(others)
        forged = (
            others[0].store.store_id if others[0] is not target else target.store.store_id,
            10**6,
        )
        self.world.forged.add(h.id)
        node.call(target.name, "peer.replicate", (h.write, (forged,)), lambda r: None)

    def stale_client_write(self, gone: str) -> None:
        """A client that read the registry before the removal writes to the removed node."""
        w = Write(self.new_id(), self.sim.rnd.choice(self.receivers))
        self.sent[w.id] = w
        self.net.call(
            "writer0", gone, "put", w, 700, lambda r: r[0] == "ok" and self.acked_write(w, r[1])
        )  # type: ignore[func-returns-value]

    # -- the run ------------------------------------------------------------------------

    def add_node(self) -> None:
        """A registry change that adds a spare node (``registry_changes``)."""
        if self.spare:
            name = self.spare.pop(0)
            self.nodes[name] = SimNode(
                self.world, name, self.view(), self.disk(), young=self.cfg.added_young
            )
            self.registry.add(name)
            self.publish()

    def crash_one(self) -> None:
        """A crash of a node (``crashes``), restarted 20-200 ms later."""
        up = self.up_nodes()
        if len(up) > 1:
            node = self.sim.rnd.choice(up)
            node.crash()
            self.sim.at(self.sim.rnd.randint(20, 200), lambda: self.restart(node))

    def replace_disk(self) -> None:
        """A replaced disk (``disks``): always the same node's, so one acceptor of an
        instance at a time has lost its state (what recovery tolerates, docs §5.6);
        restarted 20-200 ms later with a new, empty store (young)."""
        if self.bad_disk is None:
            up = self.up_nodes()
            if len(up) < 2 or self.destroyed >= self.view().w - 1:
                return
            self.bad_disk = self.sim.rnd.choice(up).name
            self.destroyed += 1  # the faults' own replaced disks and removals stop here
        node = self.nodes[self.bad_disk]
        if node.up and self.bad_disk in self.registry:
            node.crash()
            self.sim.at(self.sim.rnd.randint(20, 200), lambda: self.restart(node, new_disk=True))

    def go(self) -> Result:
        rnd = self.sim.rnd
        self.bad_disk: str | None = None
        for _ in range(self.cfg.disks):
            self.sim.at(rnd.randint(0, FAULT_MS), self.replace_disk)
        for _ in range(self.cfg.faults):
            self.sim.at(rnd.randint(0, FAULT_MS), self.fault)
        for _ in range(self.cfg.registry_changes):
            self.sim.at(rnd.randint(0, FAULT_MS), self.add_node)
        for _ in range(self.cfg.crashes):
            self.sim.at(rnd.randint(0, FAULT_MS), self.crash_one)
        self.sim.run_until(FAULT_MS)
        self.sim.run_until(FAULT_MS + 800)  # writers finish what they started
        self.quiet = True
        self.net.heal()
        self.net.loss = 0.0
        for _name, node in sorted(self.nodes.items()):
            if not node.up:
                node.restart()
            node.set_view(self.view())
        t = self.sim.now
        for s in self.subscribers:
            if s.stream is None or s.stream.node not in self.replicas(s.flt.receiver):
                s.leave()
                s.connect()
        self.sim.at(100, self.final_reads)
        self.sim.run_until(t + QUIET_MS)
        for r in self.readers:
            self.final_fetch(r)
        # a cursor naming a store gone meanwhile is answered GONE_AFTER after a node first
        # finds its origin unaccounted for (replication/lacking.py): the final reads may
        # be the first to ask
        self.sim.run_until(self.sim.now + GONE_AFTER + 800)
        checks.check(self)
        check_objects(self)
        return Result(
            self.cfg,
            self.world.violations,
            self.known,
            len(self.acked),
            self.sim.events,
            self.net.messages,
        )

    def final_reads(self) -> None:
        """A consistent read of each strict object at each of its replicas (in the
        history too): a write acknowledged but lost from every store (a replaced disk)
        lives on in its acceptors, and such a read brings it back, as on real nodes."""
        if self.strict_keys:
            self.net.ends.setdefault("final-reader", Endpoint("final-reader"))
        for key in self.strict_keys:
            for node in self.replicas(key):
                self.final_read(key, node, 0)

    def final_read(self, key: str, node: str, tries: int) -> None:
        start = self.sim.now

        def got(reply: Any) -> None:
            if reply[0] == "ok":
                self.history[key].append(Op(start, self.sim.now, ("read",), reply[1]["version"]))
            elif tries < 20:
                self.sim.at(50, lambda: self.final_read(key, node, tries + 1))

        self.net.call("final-reader", node, "obj.get", (key, True), 700, got)

    def final_fetch(self, r: Reader, tries: int = 0) -> None:
        reps = self.replicas(r.flt.receiver)

        def then(more: bool) -> None:
            if more and tries < 60:
                self.sim.at(5, lambda: self.final_fetch(r, tries + 1))

        r.read(then, node=reps[tries % len(reps)])


def run(seed: int, nodes: int | None = None, rules: Rules | None = None, **kw: Any) -> Result:
    cfg = Config.from_seed(seed, nodes, **kw)
    return Run(cfg, rules or Rules()).go()
