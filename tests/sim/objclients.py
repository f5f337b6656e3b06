"""Object clients in the simulator, and the object checkers run after each run.

- A ``MergeWriter`` reads a merge object at a random node (for the heads to name as
  parents; a failed read gives a root write), then sends one write (a patch of a field,
  a nested patch, a reset, or a list append / prepend / remove) to random nodes, the
  same write (same id) to the next node after a timeout or an error, as ``Writer``.
- A ``StrictClient`` reads a strict object consistently, then sends a compare-and-set at
  the version it read, retrying the same write on another node after a timeout or
  ``unavailable``. Every op goes into the object's history (``linearizability.Op``):
  called when first sent, returned at the definite answer (``ok`` or
  ``version-conflict``), or ``ret = None`` when it never got one.

The checkers (``check_objects``), after heal:
- every object: all current replicas serve the same state (version, heads, value and
  pending writes compared as canonical JSON bytes), which is the fold of the *set* of the
  writes they hold (``objectlog.fold``), and hold every acknowledged write of it; a merge
  write was acknowledged only with W copies;
- every strict object: its writes form one chain (one head, no write waiting), and its
  history is linearizable for a compare-and-set register of versions (``check``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flocloud.protocol.objectlog import EMPTY_VERSION, ObjectOp, fold, parse_version, version_of
from flocloud.protocol.objects import canonical

from .linearizability import Op, cas_register, check
from .objects import encode
from .world import Endpoint, Reply

if TYPE_CHECKING:
    from .run import Run

CLIENT_TIMEOUT = 700
MAX_HISTORY = 62


class MergeWriter:
    def __init__(self, run: Run, name: str, writes: int) -> None:
        self.run, self.name, self.left = run, name, writes
        run.net.ends[name] = Endpoint(name)
        run.sim.at(run.sim.rnd.randint(0, 80), self.next)

    def _node(self) -> str:
        return self.run.sim.rnd.choice(sorted(self.run.registry))

    def next(self) -> None:
        if self.left <= 0 or self.run.quiet:
            return
        self.left -= 1
        key = self.run.sim.rnd.choice(self.run.merge_keys)

        def got(reply: Reply) -> None:
            heads = tuple(reply[1]["heads"]) if reply[0] == "ok" else ()
            self.write(key, heads)

        self.run.net.call(self.name, self._node(), "obj.get", (key, False), CLIENT_TIMEOUT, got)

    def write(self, key: str, parents: tuple[str, ...]) -> None:
        rnd = self.run.sim.rnd
        what = rnd.choice(["field", "field", "nested", "reset", "append", "append", "remove"])
        v = rnd.randint(0, 3)
        if what == "field":
            kind, change = "patch", {rnd.choice(["a", "b", "c"]): rnd.choice([v, None, [v], True])}
        elif what == "nested":
            kind, change = "patch", {"n": {rnd.choice(["x", "y"]): v}}
        elif what == "reset":
            kind, change = "reset", {"a": v, "items": [v]}
        else:
            op = "prepend" if what == "append" and rnd.random() < 0.3 else what
            kind, change = "list", {"op": op, "path": ["items"], "item": v}
        op_ = ObjectOp(self.run.new_id(), self.run.sim.now, parents, kind, change)
        w = encode(op_, key)
        order = sorted(self.run.registry)
        rnd.shuffle(order)
        self.send(w, order, 0)

    def send(self, w: Any, order: list[str], attempt: int) -> None:
        if attempt >= 8 or self.run.quiet:
            self.run.sim.at(10, self.next)
            return

        def done(reply: Reply) -> None:
            if reply[0] == "ok":
                self.run.object_acked(w, merge=True)
                self.run.sim.at(self.run.sim.rnd.randint(5, 60), self.next)
            else:
                self.run.sim.at(
                    self.run.sim.rnd.randint(5, 40), lambda: self.send(w, order, attempt + 1)
                )

        node = order[attempt % len(order)]
        self.run.net.call(self.name, node, "obj.put", w, CLIENT_TIMEOUT, done)


class StrictClient:
    def __init__(self, run: Run, name: str, ops: int) -> None:
        self.run, self.name, self.left = run, name, ops
        run.net.ends[name] = Endpoint(name)
        run.sim.at(run.sim.rnd.randint(0, 80), self.next)

    def _node(self, key: str) -> str:
        rnd = self.run.sim.rnd
        reps = self.run.replicas(key)
        return rnd.choice(reps if reps and rnd.random() < 0.8 else sorted(self.run.registry))

    def next(self) -> None:
        if self.left <= 0 or self.run.quiet:
            return
        self.left -= 1
        key = self.run.sim.rnd.choice(self.run.strict_keys)
        # the checker's search takes at most 62 ops per object: room for the clients'
        # ops in flight (a read and a write each) and the final reads
        if len(self.run.history[key]) >= MAX_HISTORY - 2 * len(self.run.strict_clients) - 3:
            return
        self.read(key, self.cas)

    def read(self, key: str, then: Any, tries: int = 0) -> None:
        """A consistent read, recorded in the history when it answers."""
        start = self.run.sim.now

        def got(reply: Reply) -> None:
            if reply[0] == "ok":
                version, heads = reply[1]["version"], tuple(reply[1]["heads"])
                self.run.history[key].append(Op(start, self.run.sim.now, ("read",), version))
                return then(key, version, heads)
            if tries < 3:
                self.run.sim.at(
                    self.run.sim.rnd.randint(10, 60), lambda: self.read(key, then, tries + 1)
                )
            else:
                self.run.sim.at(10, self.next)

        self.run.net.call(self.name, self._node(key), "obj.get", (key, True), CLIENT_TIMEOUT, got)

    def cas(self, key: str, expected: str, parents: tuple[str, ...]) -> None:
        count, _ = parse_version(expected)
        op = ObjectOp(self.run.new_id(), self.run.sim.now, parents, "patch", {"by": op_tag(self)})
        w = encode(op, key)
        new = version_of([w.id], count + 1)
        self.run.history[key].append(Op(self.run.sim.now, None, ("cas", expected, new)))
        idx = len(self.run.history[key]) - 1
        self.send(key, w, expected, idx, 0)

    def send(self, key: str, w: Any, expected: str, idx: int, attempt: int) -> None:
        if attempt >= 4 or self.run.quiet:
            self.run.sim.at(10, self.next)
            return  # outcome unknown: ret stays None

        def done(reply: Reply) -> None:
            h = self.run.history[key]
            if reply[0] == "ok":
                h[idx] = Op(h[idx].call, self.run.sim.now, h[idx].input, "ok")
                self.run.object_acked(w, merge=False)
            elif reply[0] == "err" and reply[1] == "version-conflict":
                h[idx] = Op(h[idx].call, self.run.sim.now, h[idx].input, "fail")
            else:
                self.run.sim.at(
                    self.run.sim.rnd.randint(10, 50),
                    lambda: self.send(key, w, expected, idx, attempt + 1),
                )
                return
            self.run.sim.at(self.run.sim.rnd.randint(5, 40), self.next)

        self.run.net.call(
            self.name, self._node(key), "obj.cas", (w, expected), CLIENT_TIMEOUT, done
        )


def op_tag(c: StrictClient) -> str:
    return f"{c.name}-{c.left}"


# -- the checkers -------------------------------------------------------------------------


def _bytes(f: Any) -> bytes:
    return canonical([f.version, list(f.heads), f.value, list(f.pending)])


def check_objects(run: Run) -> None:
    for key in [*run.merge_keys, *run.strict_keys]:
        reps = [run.nodes[n] for n in run.replicas(key)]
        served = {n.name: n.objects.state(key) for n in reps}
        held = {n.name: n.objects.ops(key) for n in reps}
        label = ("strict " if key in run.strict_keys else "merge ") + key[:6]
        for name, ops in held.items():
            if _bytes(served[name]) != _bytes(fold(ops)):
                run.violation(f"{label} on {name[:6]}: its state is not the fold of its writes")
        first = reps[0].name
        for name in served:
            if _bytes(served[name]) != _bytes(served[first]):
                run.violation(
                    f"{label}: replicas {first[:6]} and {name[:6]} differ "
                    f"({served[first].version} vs {served[name].version})"
                )
        for i, w in run.obj_acked.items():
            if w.receiver != key:
                continue
            for name, ops in held.items():
                if i not in {op.id for op in ops}:
                    run.violation(f"{label}: acked object write {i[:8]} lost on {name[:6]}")
        if key in run.strict_keys:
            f = served[first]
            if len(f.heads) > 1 or f.pending:
                run.violation(
                    f"{label}: two writes were chosen after one version ({len(f.heads)} heads)"
                )
            hist = run.history[key]
            if hist and check(cas_register(EMPTY_VERSION), hist) is None:
                known = sum(1 for op in hist if op.known)
                run.violation(
                    f"{label}: the history of {len(hist)} ops ({known} known) is not linearizable"
                )
