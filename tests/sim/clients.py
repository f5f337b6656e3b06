"""Simulated clients: writers, readers following cursors, subscribers.

- A ``Writer`` sends one write at a time to a random node; after a timeout, a refusal, an
  error or an ``unavailable`` (below quorum) answer it sends the same write (same id) to
  the next node, as the SDK does. It records every ``ok`` with the holders at that moment.
- A ``Reader`` follows one receiver's feed with the cursor token of each answer, asking a
  random replica (sometimes any node) each time, and records every write received.
- A ``Subscriber`` keeps a subscription open at a random replica and resumes from the
  cursor of its last event (or end-of-stored marker) after any disconnect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flocloud.replication.feed import Held, Write

from .world import Endpoint, Reply, Stream

if TYPE_CHECKING:
    from .run import Run

CLIENT_TIMEOUT = 700


@dataclass(frozen=True)
class Filter:
    receiver: str
    type: str | None = None
    include_deleted: bool = True

    def match(self, h: Held) -> bool:
        """The filter's fields but the deleted flag (the feed rule applies that one)."""
        return self.type is None or h.write.type == self.type

    def match_all(self, h: Held) -> bool:
        return self.match(h) and (self.include_deleted or not h.deleted)


class Writer:
    def __init__(self, run: Run, name: str, writes: int) -> None:
        self.run, self.name, self.left = run, name, writes
        run.net.ends[name] = Endpoint(name)
        self.mine: list[Write] = []  # acked messages, targets for deletes/tags/notes
        run.sim.at(run.sim.rnd.randint(0, 50), self.next)

    def next(self) -> None:
        if self.left <= 0 or self.run.quiet:
            return
        self.left -= 1
        rnd = self.run.sim.rnd
        n = self.run.new_id()
        if self.mine and rnd.random() < 0.3:
            t = rnd.choice(self.mine)
            kind = rnd.choice(["delete", "tag", "note"])
            value = None if kind == "delete" else rnd.choice(["x", "y", "z"])
            w = Write(
                n,
                t.receiver,
                type=f"flocloud.{kind}",
                kind=kind,
                target=t.id,
                value=value,
                time=self.run.sim.now,
            )
        else:
            w = Write(
                n,
                rnd.choice(self.run.receivers),
                type=rnd.choice(["t1", "t2"]),
                time=self.run.sim.now,
            )
        self.run.sent[w.id] = w
        order = sorted(self.run.registry)
        rnd.shuffle(order)
        self.send(w, order, 0)

    def send(self, w: Write, order: list[str], attempt: int) -> None:
        if attempt >= 8 or self.run.quiet:
            self.run.sim.at(10, self.next)
            return
        node = order[attempt % len(order)]

        def done(reply: Reply) -> None:
            if reply[0] == "ok":
                self.run.acked_write(w, reply[1])
                if w.kind == "message":
                    self.mine.append(w)
                self.run.sim.at(self.run.sim.rnd.randint(5, 60), self.next)
            else:
                self.run.sim.at(
                    self.run.sim.rnd.randint(5, 40), lambda: self.send(w, order, attempt + 1)
                )

        self.run.net.call(self.name, node, "put", w, CLIENT_TIMEOUT, done)


@dataclass
class Reader:
    run: Run
    name: str
    flt: Filter
    limit: int
    cursor: str = ""
    got: list[str] = field(default_factory=list)
    busy: bool = False

    def __post_init__(self) -> None:
        self.run.net.ends[self.name] = Endpoint(self.name)
        self.run.sim.at(self.run.sim.rnd.randint(0, 100), self.tick)

    def tick(self) -> None:
        if not self.run.quiet:
            self.read(None)
            self.run.sim.at(self.run.sim.rnd.randint(20, 150), self.tick)

    def read(self, then: Callable[[bool], None] | None, node: str | None = None) -> None:
        """One query; ``then(more)`` after an answer (``then(True)`` after a failure)."""
        if self.busy:
            return
        rnd = self.run.sim.rnd
        if node is None:
            reps = self.run.replicas(self.flt.receiver)
            node = rnd.choice(reps if reps and rnd.random() < 0.8 else sorted(self.run.registry))
        self.busy = True

        def done(reply: Reply) -> None:
            self.busy = False
            if reply[0] == "ok":
                records, token, more = reply[1]
                for w, _, _ in records:
                    if w.id in self.got:
                        self.run.duplicate(self.name, w.id, "cursor feed")
                    self.got.append(w.id)
                self.cursor = token
                if then:
                    then(more)
            elif then:
                then(True)

        self.run.net.call(
            self.name,
            node,
            "query",
            (self.flt.receiver, self.cursor, self.limit, self.flt),
            CLIENT_TIMEOUT,
            done,
        )


@dataclass
class Subscriber:
    run: Run
    name: str
    flt: Filter
    cursor: str = ""
    got: list[str] = field(default_factory=list)
    stream: Stream | None = None
    live: bool = False  # end of stored phase seen on the current stream

    def __post_init__(self) -> None:
        self.run.net.ends[self.name] = Endpoint(self.name)
        self.run.sim.at(self.run.sim.rnd.randint(0, 100), self.connect)

    def connect(self, node: str | None = None) -> None:
        if self.stream is not None and self.stream.open:
            return
        rnd = self.run.sim.rnd
        reps = self.run.replicas(self.flt.receiver)
        node = node or rnd.choice(reps or sorted(self.run.registry))
        s = Stream(self.name, node, self.flt.receiver, lambda f: None, lambda: None, lambda: None)
        s.on_frame = lambda frame, s=s: self.frame(s, frame)
        s.on_break = lambda s=s: self.broken(s)
        self.live = False
        if not self.run.net.open_stream(s):
            self.run.sim.at(rnd.randint(20, 100), self.connect)
            return
        self.stream = s

        def done(reply: Reply) -> None:
            if reply[0] != "ok":
                self.run.net.break_stream(s)

        self.run.net.call(
            self.name, node, "subscribe", (s, self.flt, self.cursor), CLIENT_TIMEOUT, done
        )

    def frame(self, s: Stream, frame: Any) -> None:
        if s is not self.stream:
            return
        kind, h, token = frame
        if kind == "event":
            if h.id in self.got:
                self.run.duplicate(self.name, h.id, "subscription")
            self.got.append(h.id)
        else:
            self.live = True
        self.cursor = token

    def broken(self, s: Stream) -> None:
        if s is self.stream:
            self.stream = None
            self.live = False
            self.run.sim.at(self.run.sim.rnd.randint(20, 100), self.connect)

    def leave(self) -> None:
        if self.stream is not None:
            s, self.stream = self.stream, None
            self.run.net.break_stream(s)
