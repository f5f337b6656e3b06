"""The write quorum of one committed write: whom to send it to next, and when to answer.

Invariants owned here (docs/protocol.md §9, "Writes"):
- The accepting node has committed the write before a ``WriteQuorum`` exists; it counts
  as one of the ``W`` copies. The client's answer is ``OK`` only once ``W - 1`` peers
  confirmed a commit; ``SHORT`` when every candidate was tried (or the caller's deadline
  passed) with fewer. There is no third way to answer.
- Candidates are the key's sloppy quorum in preference order: its replicas first, then
  the next nodes of the preference list, which stand in for replicas that fail (as in
  Dynamo). Each candidate is tried at most once per write.
- Sends follow outcomes, not the plan: the first ``width`` candidates marked up are sent
  to at once; every failure (or a candidate marked down, when too few are up) brings in the
  next untried candidate, so a stale down mark or a dead replica costs one round trip,
  never the quorum. After ``OK`` the remaining copies still go on (``finished`` says when
  nothing is in flight any more): the write aims at ``width`` peer copies.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

__all__ = ["Decision", "WriteQuorum"]


class Decision(enum.Enum):
    PENDING = "pending"
    OK = "ok"  # at least W nodes committed
    SHORT = "short"  # every candidate tried (or time is up) with fewer than W


@dataclass
class WriteQuorum:
    """``candidates``: the key's preference list without this node (replicas first),
    bounded by the caller; ``width``: peer copies wanted (N - 1); ``need``: peer commits
    that make the quorum (W - 1)."""

    candidates: Sequence[str]
    width: int
    need: int
    acked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    inflight: set[str] = field(default_factory=set)
    _tried: set[str] = field(default_factory=set)
    _gave_up: bool = False

    def start(self, down: Container[str] = ()) -> list[str]:
        """The first sends: ``width`` candidates, those marked up first."""
        wanted = max(self.width, self.need)
        up: list[str] = []
        marked: list[str] = []
        for c in self.candidates:  # each asked once, and no further than needed
            if c in down:
                marked.append(c)
            else:
                up.append(c)
                if len(up) == wanted:  # the first ``wanted`` up: what up + marked would give
                    break
        return self._send((up + marked)[:wanted])

    def _send(self, peers: list[str]) -> list[str]:
        for p in peers:
            self._tried.add(p)
            self.inflight.add(p)
        return peers

    def _next(self, down: Container[str]) -> list[str]:
        if self._gave_up or len(self.acked) + len(self.inflight) >= self.width:
            return []
        untried = [c for c in self.candidates if c not in self._tried]
        untried.sort(key=lambda c: c in down)  # stable: up ones first, in preference order
        return self._send(untried[:1])

    def on_result(self, peer: str, ok: bool, down: Container[str] = ()) -> list[str]:
        """A send finished: returns the next sends (maybe none)."""
        if peer not in self.inflight:
            return []
        self.inflight.discard(peer)
        (self.acked if ok else self.failed).append(peer)
        return [] if ok else self._next(down)

    def give_up(self) -> None:
        """The caller's deadline passed: no new sends; in-flight ones may still land."""
        self._gave_up = True

    @property
    def decision(self) -> Decision:
        if len(self.acked) >= self.need:
            return Decision.OK
        if self._gave_up or (not self.inflight and all(c in self._tried for c in self.candidates)):
            return Decision.SHORT
        if not self.inflight:  # nothing in flight but candidates left: only after give_up
            return Decision.SHORT
        return Decision.PENDING

    @property
    def finished(self) -> bool:
        return not self.inflight

    @property
    def copies(self) -> int:
        """Nodes that hold the write, this one included."""
        return 1 + len(self.acked)
