"""Deliberately broken rules: the simulator's checkers must fail on each (issue 10).

Each variant puts one of the old bugs back into the model; ``test_sim.py`` runs seeds
against it and requires a checker to fail (a checker that cannot fail is a defect).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from flocloud.protocol.cursor import Cursor, Dot
from flocloud.replication.feed import Answer, Held, MemoryStore
from flocloud.replication.quorum import WriteQuorum
from flocloud.replication.subscription import Subscription

from .node import Rules

T = TypeVar("T")


@dataclass
class SkipLowerSubscription(Subscription[T]):
    """Finding 5: live delivery skipped arrivals below the highest counter seen, and
    moved the cursor over them anyway."""

    def _take(self, item: T, dots: Sequence[Dot], matching: bool) -> T | None:
        if self.cursor.covers_any(dots):
            return None
        lower = any(c < self.cursor.top(o) for o, c in dots)
        self.cursor = self.cursor.add(dots)
        return item if matching and not lower else None


class GapStore(MemoryStore):
    """A cursor that advances over counters this store does not hold (a frontier set to
    the highest held counter): the client then never gets the writes in the gap."""

    def query(
        self,
        receiver: str,
        cursor: Cursor,
        limit: int,
        matches: Callable[[Held], bool] | None = None,
        include_deleted: bool = False,
    ) -> Answer[Held]:
        a = super().query(receiver, cursor, limit, matches, include_deleted)
        if a.more:
            return a
        out = a.cursor
        for origin in out.origins():
            out = out.add((origin, c) for c in range(out.frontier(origin) + 1, out.top(origin)))
        return Answer(a.records, a.more, out, a.lacking)


class LocalNumbers(MemoryStore):
    """Findings 1 and 4: every store numbers a receiver's writes from its own history
    (local max + 1) under one shared name, so numbers of different nodes collide."""

    def _assign(self, receiver: str) -> Dot:
        return "kseq", len(self.logs.get(receiver, [])) + 1


def below_w() -> Rules:
    """Finding 6: ``ok`` with any number of copies (need=0)."""
    return Rules(quorum=lambda c, width, need: WriteQuorum(c, width=width, need=0))


VARIANTS: dict[str, Callable[[], Rules]] = {
    "skip-lower": lambda: Rules(subscription=lambda c: SkipLowerSubscription(c, max_buffer=64)),
    "ok-below-w": below_w,
    "answer-behind": lambda: Rules(fetch_lacking=False),
    "cursor-gaps": lambda: Rules(store=GapStore),
    "local-numbers": lambda: Rules(store=LocalNumbers),
    "no-dot-check": lambda: Rules(check_dots=False),
    "no-member-check": lambda: Rules(check_member=False),
}
