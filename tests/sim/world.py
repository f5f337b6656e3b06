"""The simulated world: a clock, an event queue, a network and the chain's registry.

Everything is driven by one ``random.Random(seed)``; nothing reads the real clock, so a
seed replays exactly. Time is in integer milliseconds.

The network (``Net``):
- a request (``call``) is delivered after a random delay (so requests reorder), or lost
  (``loss``), or dropped when the two ends are cut (a partition of the nodes, or a cut
  link, client links included); its answer travels back the same way. The caller learns
  ``timeout`` when nothing came back in time, ``refused`` fast when the other end is a
  crashed process. A lost answer leaves the request done on the other side (so retries
  must be safe).
- a stream (a client's subscription socket) is FIFO and loses nothing, like TCP; a cut or
  a crash breaks it and both ends are told.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.protocol.placement import Placement

VIRTUAL_NODES = 8


@functools.cache
def address(label: str) -> str:
    """A real address (placement hashes address payloads) for a simulated node or key."""
    return PrivateKey(hashlib.sha256(b"flocloud-sim-" + label.encode()).digest(), REGTEST).address


@functools.lru_cache(maxsize=256)
def placement(members: frozenset[str]) -> Placement:
    return Placement.build(members, VIRTUAL_NODES)


class Sim:
    """The clock and the event queue."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.now = 0
        self._q: list[tuple[int, int, Callable[[], None]]] = []
        self._n = 0
        self.events = 0

    def at(self, delay: int, fn: Callable[[], None]) -> None:
        self._n += 1
        heapq.heappush(self._q, (self.now + max(0, delay), self._n, fn))

    def run_until(self, t: int) -> None:
        while self._q and self._q[0][0] <= t:
            when, _, fn = heapq.heappop(self._q)
            self.now = when
            self.events += 1
            fn()
        self.now = max(self.now, t)


Reply = tuple[Any, ...]  # ("ok", value) | ("err", code, details) | ("timeout",) | ("refused",)
Handler = Callable[[str, str, Any, Callable[[Reply], None]], None]  # src, op, args, respond


@dataclass
class Endpoint:
    name: str
    up: bool = True
    incarnation: int = 0
    handler: Handler | None = None
    store_id: str = ""  # what peer.auth proves about a node's sender


@dataclass
class Stream:
    client: str
    node: str
    receiver: str
    on_frame: Callable[[Any], None]
    on_break: Callable[[], None]
    node_break: Callable[[], None]
    open: bool = True
    last: int = 0  # FIFO: the latest delivery time so far


@dataclass
class Net:
    sim: Sim
    loss: float = 0.0
    delay: tuple[int, int] = (1, 10)
    ends: dict[str, Endpoint] = field(default_factory=dict)
    side: dict[str, int] = field(default_factory=dict)  # partition: name -> side (absent: 0)
    cuts: set[frozenset[str]] = field(default_factory=set)
    streams: list[Stream] = field(default_factory=list)
    messages: int = 0

    def reachable(self, a: str, b: str) -> bool:
        return self.side.get(a, 0) == self.side.get(b, 0) and frozenset((a, b)) not in self.cuts

    def _delay(self) -> int:
        return self.sim.rnd.randint(*self.delay)

    def call(
        self, src: str, dst: str, op: str, args: Any, timeout: int, cb: Callable[[Reply], None]
    ) -> None:
        me = self.ends[src]
        inc = me.incarnation
        done = [False]

        def finish(reply: Reply) -> None:
            if done[0] or not me.up or me.incarnation != inc:
                return
            done[0] = True
            cb(reply)

        self.sim.at(timeout, lambda: finish(("timeout",)))
        self.messages += 1
        if self.sim.rnd.random() < self.loss or not self.reachable(src, dst):
            return

        def deliver() -> None:
            end = self.ends.get(dst)
            if not self.reachable(src, dst):
                return
            if end is None or not end.up or end.handler is None:
                self.sim.at(self._delay(), lambda: finish(("refused",)))
                return
            d_inc = end.incarnation

            def respond(reply: Reply) -> None:
                if not end.up or end.incarnation != d_inc:
                    return  # the process died before answering
                if self.sim.rnd.random() < self.loss:
                    return

                def back() -> None:
                    if self.reachable(src, dst):
                        finish(reply)

                self.sim.at(self._delay(), back)

            end.handler(src, op, args, respond)

        self.sim.at(self._delay(), deliver)

    # -- streams (subscriptions) ---------------------------------------------------------

    def open_stream(self, s: Stream) -> bool:
        if not self.reachable(s.client, s.node) or not self.ends[s.node].up:
            return False
        self.streams.append(s)
        return True

    def send(self, s: Stream, frame: Any) -> None:
        if not s.open:
            return
        if not self.reachable(s.client, s.node):
            self.break_stream(s)
            return
        s.last = max(s.last, self.sim.now + self._delay())

        def deliver() -> None:
            if s.open:
                s.on_frame(frame)

        self.sim.at(s.last - self.sim.now, deliver)

    def break_stream(self, s: Stream) -> None:
        if not s.open:
            return
        s.open = False
        s.node_break()
        self.sim.at(self._delay(), s.on_break)

    def _break_cut(self) -> None:
        for s in list(self.streams):
            if s.open and not self.reachable(s.client, s.node):
                self.break_stream(s)
        self.streams = [s for s in self.streams if s.open]

    def break_node(self, node: str) -> None:
        for s in self.streams:
            if s.node == node:
                self.break_stream(s)
        self.streams = [s for s in self.streams if s.open]

    # -- faults --------------------------------------------------------------------------

    def partition(self, side_b: set[str]) -> None:
        self.side = dict.fromkeys(side_b, 1)
        self._break_cut()

    def cut(self, a: str, b: str) -> None:
        self.cuts.add(frozenset((a, b)))
        self._break_cut()

    def heal(self) -> None:
        self.side.clear()
        self.cuts.clear()
