"""The dots held per inbox, in memory: ``SqliteStore.held_cursor`` without a scan.

A legacy query or write first asks the inbox's other replicas for what this node lacks,
with a cursor of every dot held here (``dots.held_cursor``); computed from the ``dots``
table that costs O(inbox) per request. This keeps it per inbox instead.

Invariants owned here:
- An entry holds, per origin, the sorted maximal runs ``[first, last]`` of the counters
  the store holds for that inbox, and ``cursor()`` is ``Cursor.of_runs`` of them: equal to
  ``dots.held_cursor`` on the committed store (``tests/storage/test_held.py`` compares the
  two after random writes, replicated arrivals, second dots and drops).
- Every change to the ``dots`` table reaches the entries: the writer's connection logs
  each inserted and deleted dot through temporary triggers (``LOG_SQL``), whatever code
  made it; the log is read inside the batch's transaction (savepoints rolled back take
  their rows with them) and applied with ``committed`` only after the ``COMMIT``
  succeeded, before any writer of the batch is answered.
- An entry is built lazily from a read (``begin`` before the read, ``install`` after):
  ``begin`` notes the number ``v`` of batches applied so far; the read's snapshot then
  holds at least those. A batch applied before ``install`` that touched the inbox (it may
  or may not be in the snapshot) voids the build: the rows read are still returned, the
  entry is not kept. A batch applied after ``install`` moves the entry; applying one the
  snapshot already held is harmless (adding a held dot, removing an absent one). The
  writer applies each batch before it starts the next, so at most one committed batch is
  not yet applied when a snapshot is taken.
- Memory and the event loop's share are bounded: at most ``max_inboxes`` entries and
  ``max_runs`` runs in all (the least recently used go first); an inbox with more than
  ``max_entry_runs`` runs is not kept (each request reads it, off the loop, as before),
  and a batch that changes more than ``max_batch_changes`` dots of a kept inbox (a
  hand-off dropping it) evicts it instead of moving it. Builds read and compute the
  cursor on a reader thread; the writer applies a batch under the lock in O(changes).
- The entries belong to one ``SqliteStore`` object: a replaced store (a new data
  directory, a restart) starts with none.
"""

from __future__ import annotations

import sqlite3
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flocloud.protocol.cursor import Cursor

__all__ = ["LOG_SQL", "Build", "HeldCursors", "Runs", "runs_of", "take_log"]

# On the writer's connection only: every dot inserted (gone=0) or deleted (gone=1).
LOG_SQL = """
CREATE TEMP TABLE IF NOT EXISTS dot_log (
    gone INTEGER NOT NULL, receiver TEXT NOT NULL, origin TEXT NOT NULL, counter INTEGER NOT NULL
);
CREATE TEMP TRIGGER IF NOT EXISTS dot_log_insert AFTER INSERT ON main.dots BEGIN
    INSERT INTO dot_log VALUES (0, NEW.receiver, NEW.origin, NEW.counter);
END;
CREATE TEMP TRIGGER IF NOT EXISTS dot_log_delete AFTER DELETE ON main.dots BEGIN
    INSERT INTO dot_log VALUES (1, OLD.receiver, OLD.origin, OLD.counter);
END;
CREATE TEMP TRIGGER IF NOT EXISTS dot_log_update AFTER UPDATE ON main.dots BEGIN
    INSERT INTO dot_log VALUES (1, OLD.receiver, OLD.origin, OLD.counter);
    INSERT INTO dot_log VALUES (0, NEW.receiver, NEW.origin, NEW.counter);
END;
"""

Change = tuple[int, str, str, int]  # (gone, receiver, origin, counter)
Reader = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]


def take_log(db: sqlite3.Connection) -> list[Change]:
    """The batch's changes to ``dots``, in order, emptying the log (inside the batch's
    transaction: a failed COMMIT rolls the log back to empty with the rest)."""
    changes: list[Change] = db.execute(
        "SELECT gone, receiver, origin, counter FROM dot_log ORDER BY rowid"
    ).fetchall()
    if changes:
        db.execute("DELETE FROM dot_log")
    return changes


@dataclass(slots=True)
class Runs:
    """The counters of one origin as sorted maximal runs ``starts[i]..ends[i]``."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def add(self, c: int) -> int:
        """Hold ``c``; returns the change in the number of runs."""
        s, e = self.starts, self.ends
        i = bisect_right(s, c) - 1
        if i >= 0 and e[i] >= c:
            return 0
        left = i >= 0 and e[i] == c - 1
        right = i + 1 < len(s) and s[i + 1] == c + 1
        if left and right:
            e[i] = e[i + 1]
            del s[i + 1], e[i + 1]
            return -1
        if left:
            e[i] = c
            return 0
        if right:
            s[i + 1] = c
            return 0
        s.insert(i + 1, c)
        e.insert(i + 1, c)
        return 1

    def remove(self, c: int) -> int:
        """No longer hold ``c``; returns the change in the number of runs."""
        s, e = self.starts, self.ends
        i = bisect_right(s, c) - 1
        if i < 0 or e[i] < c:
            return 0
        a, b = s[i], e[i]
        if a == b:
            del s[i], e[i]
            return -1
        if c == a:
            s[i] = c + 1
        elif c == b:
            e[i] = c - 1
        else:
            e[i] = c - 1
            s.insert(i + 1, c + 1)
            e.insert(i + 1, b)
            return 1
        return 0

    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends, strict=True))


def runs_of(rows: Iterable[tuple[str, int]]) -> tuple[dict[str, Runs], int]:
    """Runs per origin of ``(origin, counter)`` rows sorted by origin then counter (the
    ``dots`` key's order), and how many runs in all."""
    out: dict[str, Runs] = {}
    n = 0
    cur: Runs | None = None
    last_origin = None
    for origin, counter in rows:
        if origin != last_origin:
            cur = out.setdefault(origin, Runs())
            last_origin = origin
        assert cur is not None
        if cur.ends and cur.ends[-1] >= counter - 1:
            if counter > cur.ends[-1]:
                cur.ends[-1] = counter
            elif counter < cur.starts[-1]:  # not in key order: take the slow path
                n += cur.add(counter)
            continue
        if cur.ends and counter < cur.starts[-1]:
            n += cur.add(counter)
            continue
        cur.starts.append(counter)
        cur.ends.append(counter)
        n += 1
    return out, n


@dataclass(slots=True)
class _Entry:
    origins: dict[str, Runs]
    runs: int
    cursor: Cursor | None = None

    def apply(self, gone: int, origin: str, counter: int) -> int:
        r = self.origins.get(origin)
        if r is None:
            if gone:
                return 0
            r = self.origins[origin] = Runs()
        d = r.remove(counter) if gone else r.add(counter)
        if not r.starts:
            del self.origins[origin]
        self.runs += d
        self.cursor = None
        return d

    def get(self) -> Cursor:
        if self.cursor is None:
            self.cursor = Cursor.of_runs({o: r.pairs() for o, r in self.origins.items()})
        return self.cursor


def _read_entry(receiver: str) -> Callable[[sqlite3.Connection], _Entry]:
    """On a reader's connection: the inbox's runs and their cursor (off the event loop)."""

    def run(db: sqlite3.Connection) -> _Entry:
        e = _Entry(
            *runs_of(
                db.execute(
                    "SELECT origin, counter FROM dots WHERE receiver=? ORDER BY origin, counter",
                    (receiver,),
                )
            )
        )
        e.get()
        return e

    return run


@dataclass(frozen=True, slots=True)
class Build:
    """A lazy build in progress (``HeldCursors.begin``)."""

    receiver: str
    applied: int  # batches applied before the read began


class HeldCursors:
    """See the module docstring. ``committed`` runs where the batch was applied (the
    store's writer thread, or the event loop for a small batch applied inline); the
    other methods on the event loop (or any thread: a lock guards the entries)."""

    def __init__(
        self,
        max_inboxes: int = 4096,
        max_runs: int = 1 << 18,
        max_entry_runs: int = 4096,
        max_batch_changes: int = 1024,
    ) -> None:
        self.max_inboxes = max_inboxes
        self.max_runs = max_runs  # in all entries
        self.max_entry_runs = max_entry_runs  # an inbox with more is read each time
        self.max_batch_changes = max_batch_changes  # more in one batch: evicted, not moved
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._runs = 0
        self._applied = 0  # batches applied
        self._building: dict[str, list[int]] = {}  # receiver -> [builds out, last batch]
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def runs(self) -> int:
        return self._runs

    def get(self, receiver: str) -> Cursor | None:
        with self._lock:
            e = self._entries.get(receiver)
            if e is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(receiver)
            return e.get()

    async def cursor(self, receiver: str, read: Reader) -> Cursor:
        """``receiver``'s held cursor: from memory, else built from one ``read`` of the
        store (a reader connection) and kept."""
        cursor = self.get(receiver)
        if cursor is not None:
            return cursor
        build = self.begin(receiver)
        try:
            entry: _Entry = await read(_read_entry(receiver))
        except BaseException:
            self.abandon(build)
            raise
        return self.install(build, entry)

    def begin(self, receiver: str) -> Build:
        """Before the read that builds ``receiver``'s entry."""
        with self._lock:
            b = self._building.setdefault(receiver, [0, 0])
            b[0] += 1
            return Build(receiver, self._applied)

    def install(self, build: Build, e: _Entry) -> Cursor:
        """After the read: its cursor, and the entry kept unless a batch touched the inbox
        meanwhile (see the module docstring)."""
        cursor = e.get()
        with self._lock:
            b = self._building[build.receiver]
            fresh = b[1] <= build.applied
            b[0] -= 1
            if not b[0]:
                del self._building[build.receiver]
            if fresh and e.runs <= min(self.max_runs, self.max_entry_runs):
                old = self._entries.pop(build.receiver, None)
                if old is not None:
                    self._runs -= old.runs
                self._entries[build.receiver] = e
                self._runs += e.runs
                self._evict()
        return cursor

    def abandon(self, build: Build) -> None:
        """The read failed."""
        with self._lock:
            b = self._building[build.receiver]
            b[0] -= 1
            if not b[0]:
                del self._building[build.receiver]

    def committed(self, changes: list[Change]) -> None:
        """A batch committed with these changes to ``dots``, in the order made."""
        by: dict[str, list[Change]] = {}
        for c in changes:
            by.setdefault(c[1], []).append(c)
        with self._lock:
            self._applied += 1
            for receiver, mine in by.items():
                b = self._building.get(receiver)
                if b is not None:
                    b[1] = self._applied
                e = self._entries.get(receiver)
                if e is None:
                    continue
                if len(mine) <= self.max_batch_changes:
                    for gone, _, origin, counter in mine:
                        self._runs += e.apply(gone, origin, counter)
                if len(mine) > self.max_batch_changes or e.runs > self.max_entry_runs:
                    del self._entries[receiver]  # built again on next use, off the loop
                    self._runs -= e.runs
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._runs = 0

    def _evict(self) -> None:
        while self._entries and (
            len(self._entries) > self.max_inboxes or self._runs > self.max_runs
        ):
            _, e = self._entries.popitem(last=False)
            self._runs -= e.runs
