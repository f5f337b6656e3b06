"""The failure detector's rule: when a neighbour counts as down, and when as up again.

Sans-I/O: the caller pings (``node/peers.py`` every ``heartbeat_seconds``; the simulator on
its own clock) and reports each outcome with the time of its clock. The node and the
simulator run this same rule.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["FailureDetector"]


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
