"""When the store commits the writes clients hand it: at once, or after a short wait for
company (``CommitLinger``; the store's ``commit_linger``).

One write alone pays a whole commit (a dozen WAL pages) on its home, and a frame and a
commit on each replica, since the writes of one commit leave for the replicas together
(node/replicate.py). At a moderate rate, when writes come about a millisecond apart, each
would pay all of that alone; waiting a couple of milliseconds lets a few share it and
frees the cores the tail latency waits for (bench/README.md, "Stop 28").

Invariants owned here:
- Pure: the caller passes the time (the event loop's clock); no I/O, no timers here.
- A write never waits longer than ``seconds`` for company, and waits only while writes
  arrive at least one per ``seconds`` on average (``gap``, a moving average of the time
  between arrivals, is at most ``seconds``): at a lower rate there is no company to wait
  for and every write commits at once, as without a linger.
- ``seconds`` 0 turns it off: ``wait`` is then always 0.
- Only a client's write opens a batch that waits (the store asks ``wait`` for those
  alone); a replica's write that finds such a batch open joins it and commits with it,
  so it too waits at most ``seconds``.
- After an idle spell the average starts from that long gap, so a burst commits at once
  until its own gaps bring the average down.
"""

from __future__ import annotations

__all__ = ["CommitLinger"]

WEIGHT = 0.25  # the newest gap's share of the moving average


class CommitLinger:
    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("commit_linger must be 0 or more")
        self.seconds = seconds
        self.gap = float("inf")  # the moving average of the time between arrivals
        self._last: float | None = None
        self.waits = 0  # batches that waited (a figure for tests and metrics)

    def arrived(self, now: float) -> None:
        """A write that may wait arrived at ``now``."""
        if self._last is not None:
            gap = max(0.0, now - self._last)
            self.gap = gap if self.gap == float("inf") else self.gap + WEIGHT * (gap - self.gap)
        self._last = now

    def wait(self) -> float:
        """How long the batch a write just opened waits before it commits."""
        if self.seconds and self.gap <= self.seconds:
            self.waits += 1
            return self.seconds
        return 0.0
