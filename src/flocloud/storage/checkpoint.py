"""WAL checkpoints off the store writer's thread.

With SQLite's default, the connection that commits also checkpoints: every ~1,000 WAL
pages one commit copies the WAL's frames into the database file and, at
``synchronous=NORMAL``, syncs both files, and every writer of that batch waits for it.

Invariants owned here:
- The writer's connection never checkpoints (``PRAGMA wal_autocheckpoint=0``, set by the
  store); this thread does, on a connection of its own, so a commit costs only its WAL
  append and its writers are answered without waiting for a copy or a sync.
- Checkpoints are PASSIVE: they never block the writer or a reader; frames a reader
  still needs stay in the WAL for a later one. One runs at most every ``interval``
  seconds while the writer commits, so the WAL holds about what is written between two
  (SQLite starts the WAL again from its beginning at the first commit after a checkpoint
  that copied all of it).
- Durability does not depend on this thread: a committed write is in the WAL, which
  SQLite reads back after any crash; a checkpoint only moves it. A failed checkpoint is
  logged and tried again at the next commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

__all__ = ["Checkpointer"]

log = logging.getLogger("flocloud.storage")


class Checkpointer:
    def __init__(self, connect: Callable[[], sqlite3.Connection], interval: float = 1.0) -> None:
        self._connect = connect
        self.interval = interval
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="store-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A batch was committed (called where it was applied: the writer thread, or the
        event loop for a small batch; cheap)."""
        self._due.set()

    def close(self) -> None:
        """Stop after the checkpoint running now, if any (the last connection to close
        checkpoints what is left)."""
        if self._thread is not None:
            self._stop.set()
            self._due.set()
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        db: sqlite3.Connection | None = None
        last = 0.0
        try:
            while True:
                self._due.wait()
                wait = last + self.interval - time.monotonic()
                if self._stop.wait(max(0.0, wait)):
                    return
                self._due.clear()
                last = time.monotonic()
                try:
                    if db is None:
                        db = self._connect()
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (tried again later): %s", exc)
        finally:
            if db is not None:
                db.close()
