"""When anti-entropy waits for catch-up: sans-I/O, run by the node (``node/antientropy.py``)
and by the simulator alike, each holding one ``Deferral``.

Invariants owned here:
- A round waits while this node's catch-up pages through a backlog of some peer's log
  (``waits``): the writes a comparison would find missing are already on their way, and
  comparing them meanwhile fetches them twice. For the same reason a peer paging through
  our backlog is left out of rounds (``begin_round`` names them), and a peer's request
  for a comparison is answered "later" while ``waits`` holds.
- Each wait lasts at most ``DEFER_ROUNDS`` rounds in a row (rounds in a row, per peer for
  those left out): anti-entropy is the repair of last resort and is never put off for
  good. ``begin_round`` counts a round (one that waits, or one that runs and whom it
  leaves out); ``end_round`` closes one that ran and starts the count of waits over.
- A round that runs stops pulling from a peer (``cut_short``) only for what began since
  it began: catch-up on a backlog, or that peer paging through ours. A round cut short
  counts as one that waited, so a backlog that starts in every round cannot keep
  rounds short for good: a round forced by the bound runs to its end.
- A peer that stops paging through our backlog is forgotten: if it pages again, its count
  starts over.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["DEFER_ROUNDS", "Deferral"]

DEFER_ROUNDS = 30


@dataclass
class Deferral:
    waited: int = 0  # rounds in a row that waited
    _left: dict[str, int] = field(default_factory=dict)  # per peer: rounds in a row left out
    _began_behind: bool = False  # catch-up paged a backlog when the round began
    _began_paging: frozenset[str] = frozenset()  # who paged ours when the round began
    _cut: bool = False  # the running round was cut short

    def waits(self, paging_a_backlog: bool) -> bool:
        """Whether a round due now waits, and a peer's comparison is answered "later"."""
        return paging_a_backlog and self.waited < DEFER_ROUNDS

    def begin_round(self, paging_a_backlog: bool, paging_us: Collection[str]) -> set[str] | None:
        """A round is due: None when it waits (counted), else the peers paging through
        our backlog it leaves out (each counted, the others' counts started over);
        ``end_round`` follows a round that runs."""
        if self.waits(paging_a_backlog):
            self.waited += 1
            return None
        for p in [p for p in self._left if p not in paging_us]:
            del self._left[p]
        skip = {p for p in paging_us if self._left.get(p, 0) < DEFER_ROUNDS}
        for p in paging_us:
            self._left[p] = self._left.get(p, 0) + 1 if p in skip else 0
        self._began_behind = paging_a_backlog
        self._began_paging = frozenset(paging_us)
        return skip

    def cut_short(self, paging_a_backlog: bool, peer: str, paging_us: Collection[str]) -> bool:
        """Whether the running round stops pulling from ``peer``: catch-up began on a
        backlog since the round began, or ``peer`` began paging through ours since (never
        in a round forced by the bound)."""
        if self.waited >= DEFER_ROUNDS:
            return False
        began = paging_a_backlog and not self._began_behind
        if began or (peer in paging_us and peer not in self._began_paging):
            self._cut = True
            return True
        return False

    def end_round(self) -> None:
        """The round that ran is over: waits count from zero again, unless it was cut
        short (then it counts as one more)."""
        self.waited = self.waited + 1 if self._cut else 0
        self._cut = False
