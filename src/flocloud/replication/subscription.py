"""A live subscription's phases: STORED -> LIVE -> CLOSED, with a bounded buffer.

Invariants owned here (docs/protocol.md §8.3):
- The subscription exists (and sees every commit of its receiver) before its stored phase
  reads anything, so no commit falls between the stored and the live phase.
- Every matching committed write is delivered exactly once: a write is pushed only if the
  subscription's cursor does not cover one of its dots, and the cursor then covers it.
  The cursor sent with a write covers that write and those before it, never a later one.
  Arrival order does not matter (a replica's late or out-of-order copy is pushed too).
- Commits during the stored phase wait in a buffer of at most ``max_buffer`` writes;
  beyond it the subscription closes (the client resumes from its last cursor) instead of
  growing memory.
- Writes of the receiver that do not match the filter still move the cursor (they are
  held here, so the cursor may cover them), which keeps filtered cursors compact.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from flocloud.protocol.cursor import Cursor, Dot

__all__ = ["Subscription", "SubscriptionPhase"]

T = TypeVar("T")


class SubscriptionPhase(enum.Enum):
    STORED = "stored"
    LIVE = "live"
    CLOSED = "closed"


@dataclass
class Subscription(Generic[T]):
    cursor: Cursor
    max_buffer: int = 10_000
    phase: SubscriptionPhase = SubscriptionPhase.STORED
    _buffer: list[tuple[T, Sequence[Dot], bool]] = field(default_factory=list)

    def on_commit(self, item: T, dots: Sequence[Dot], matching: bool) -> T | None:
        """A write of the receiver committed here: returns it if it is to be pushed now."""
        if self.phase is SubscriptionPhase.CLOSED:
            return None
        if self.phase is SubscriptionPhase.STORED:
            if len(self._buffer) >= self.max_buffer:
                self.close()
                return None
            self._buffer.append((item, dots, matching))
            return None
        return self._take(item, dots, matching)

    def _take(self, item: T, dots: Sequence[Dot], matching: bool) -> T | None:
        if self.cursor.covers_any(dots):
            return None
        self.cursor = self.cursor.add(dots)
        return item if matching else None

    def stored_page(self, cursor: Cursor) -> None:
        """The stored phase sent a page; ``cursor`` is the cursor after it."""
        self.cursor = cursor

    def end_stored(self) -> list[tuple[T, Cursor]]:
        """The stored phase is over: the buffered writes to push now, in commit order,
        each with the cursor just after it (a client resuming from it gets the rest)."""
        if self.phase is not SubscriptionPhase.STORED:
            return []
        self.phase = SubscriptionPhase.LIVE
        out = []
        for item, dots, matching in self._buffer:
            if (x := self._take(item, dots, matching)) is not None:
                out.append((x, self.cursor))
        self._buffer.clear()
        return out

    def close(self) -> None:
        self.phase = SubscriptionPhase.CLOSED
        self._buffer.clear()
