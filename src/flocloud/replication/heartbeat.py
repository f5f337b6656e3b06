"""The failure detector's rule: when a neighbour counts as down, and when as up again; and
which neighbours a heartbeat round pings.

Sans-I/O: the caller runs a round every ``heartbeat_seconds`` (``node/peers.py``; the
simulator on its own clock), pings whom ``PingSchedule.round`` names and reports each
outcome with the time of its clock. The node and the simulator run these same rules.

Invariants owned here:
- A peer is up until an outcome marks it down; nothing else does.
- A failed ping that was refused (or failed in any way other than a slow answer) marks
  the peer down at once. A slow answer (a timeout) does so only when it is the second
  failure in a row: a busy peer is not a dead one.
- A peer marked down stays down for ``down_for`` from the last failure that marked it, or
  until an answer comes, whichever is first; ``is_up`` compares with the caller's time.
- An answer clears the failures counted so far.
- Only pings count: a failed request outside a ping (a refused replicate, say) marks
  nothing, in the node and in the simulator alike.
- Whom a round pings (``PingSchedule``):
  - a peer marked down, every round (to see it back);
  - a suspect one, at the next round: a peer that left a request unanswered since its last
    answer (refused, timed out, its link lost; a ping too). A death among the peers a node
    exchanges writes with is so judged within a round, and a slow answer is followed by
    the ping that may make it the second;
  - not a peer that answered other traffic since the last round: that answer is its
    heartbeat (and starts its idle count over);
  - any other peer every ``IDLE_ROUNDS`` rounds, first at a round of its own, so a node
    with thousands of neighbours (10,000 supernodes) does not ping them all each second,
    nor all in one round.
  A failed request still marks nothing: it only makes the peer due for the ping that
  judges it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["IDLE_ROUNDS", "FailureDetector", "PingSchedule"]

IDLE_ROUNDS = 4  # a peer neither down, suspect nor heard is pinged every this many rounds


@dataclass
class FailureDetector:
    down_for: float
    _missed: dict[str, int] = field(default_factory=dict)  # failures in a row, by peer
    _down_until: dict[str, float] = field(default_factory=dict)

    def is_up(self, peer: str, now: float) -> bool:
        return self._down_until.get(peer, -math.inf) <= now

    def answered(self, peer: str) -> None:
        """A ping answered: the peer is up, its failures forgotten."""
        self._missed.pop(peer, None)
        self._down_until.pop(peer, None)

    def failed(self, peer: str, now: float, *, slow: bool) -> bool:
        """A ping failed (``slow``: it timed out); True when the rule marks the peer down
        now (again, if it was already)."""
        self._missed[peer] = self._missed.get(peer, 0) + 1
        if slow and self._missed[peer] < 2:
            return False
        self._down_until[peer] = now + self.down_for
        return True


@dataclass
class PingSchedule:
    """Which neighbours a heartbeat round pings (the rule above); ``interval``: the time
    between two rounds, on the caller's clock."""

    interval: float
    _heard: dict[str, float] = field(default_factory=dict)  # last answer to other traffic
    _failed: dict[str, float] = field(default_factory=dict)  # last request left unanswered
    _pinged: dict[str, float] = field(default_factory=dict)  # last ping or heartbeat heard

    def heard(self, peer: str, at: float) -> None:
        """``peer`` answered a request that was not a ping (an error reply too), at ``at``."""
        if at > self._heard.get(peer, -math.inf):
            self._heard[peer] = at

    def failed(self, peer: str, at: float) -> None:
        """A request to ``peer`` (a ping too) got no answer (refused, timed out, the link
        lost) at ``at``: the next round pings it."""
        if at > self._failed.get(peer, -math.inf):
            self._failed[peer] = at

    def round(
        self, peers: Iterable[str], now: float, is_up: Callable[[str], bool]
    ) -> tuple[list[str], list[str]]:
        """A round at ``now`` over the neighbours ``peers``: (whom to ping, who answered
        other traffic since the last round: the caller counts those as answered pings).
        Peers no longer listed are forgotten."""
        ping: list[str] = []
        heard: list[str] = []
        listed = set()
        for p in peers:
            listed.add(p)
            last = self._pinged.get(p)
            if last is None:  # first seen: pinged within IDLE_ROUNDS, at a round of its own
                last = self._pinged[p] = now - self._phase(p)
            answer = self._heard.get(p, -math.inf)
            if not is_up(p) or self._failed.get(p, -math.inf) > max(answer, last):
                ping.append(p)  # down, or suspect: a request failed since its last answer
            elif now - answer < self.interval:
                heard.append(p)
            elif now - last >= (IDLE_ROUNDS - 0.5) * self.interval:
                ping.append(p)
        for p in [*ping, *heard]:  # a heartbeat heard starts the idle count over too
            self._pinged[p] = now
        for table in (self._heard, self._failed, self._pinged):
            for p in [p for p in table if p not in listed]:
                del table[p]
        return ping, heard

    def _phase(self, peer: str) -> float:
        """As if pinged this long ago: 1 to IDLE_ROUNDS rounds, by the peer's id."""
        return (IDLE_ROUNDS - zlib.crc32(peer.encode()) % IDLE_ROUNDS) * self.interval
