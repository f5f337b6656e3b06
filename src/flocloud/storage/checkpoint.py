"""WAL checkpoints off the store writer's thread.

With SQLite's default, the connection that commits also checkpoints: every ~1,000 WAL
pages one commit copies the WAL's frames into the database file and, at
``synchronous=NORMAL``, syncs both files, and every writer of that batch waits for it.

Invariants owned here:
- The writer's connection never checkpoints (``PRAGMA wal_autocheckpoint=0``, set by the
  store); this thread does, on a connection of its own, so a commit costs only its WAL
  append and its writers are answered without waiting for a copy or a sync.
- Checkpoints are PASSIVE, which never block the writer or a reader (frames a reader
  still needs stay in the WAL for a later one), but for the RESTART below. One runs at
  most every ``interval`` seconds while the writer commits.
- The WAL file stays bounded under continuous writes. SQLite starts the WAL again from
  its beginning only at a commit that finds every frame copied, and a writer that
  commits while a PASSIVE checkpoint copies leaves new frames behind it every time: the
  WAL would grow by all that is written (at 1,000 writes/s, 20 MB a second), and every
  append would allocate a new block of the file. So once the WAL holds
  ``restart_frames`` frames after a PASSIVE checkpoint, a RESTART one follows: it holds
  writers off while it copies the few frames left, and the next commit starts the WAL
  again. It waits at most ``RESTART_WAIT_MS`` for the writer's transaction or a reader
  (then it gives up and a later round tries again), and while it runs ``restarting`` is
  set, so the store does not commit on its event loop (which would wait for it there)
  but on its writer thread.
- ``close`` returns once the thread ends, whenever it is called: the thread looks at
  ``_stop`` before every wait for work, so a wake-up that lands while it clears ``_due``
  is not lost (it was, and a store's close then waited forever).
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

__all__ = ["RESTART_FRAMES", "RESTART_WAIT_MS", "Checkpointer"]

RESTART_FRAMES = 4096  # WAL frames (16 MiB of 4 KiB pages) past which the WAL restarts
RESTART_WAIT_MS = 20  # how long a RESTART waits for the writer or a reader, at most
SETTLE = 0.002  # seconds after ``restarting`` is set: a commit begun on the loop ends

log = logging.getLogger("flocloud.storage")


class Checkpointer:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        interval: float = 1.0,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self._connect = connect
        self.interval = interval
        self.restart_frames = restart_frames
        self.restarting = threading.Event()  # a RESTART checkpoint holds writers off
        self.restarts = 0  # RESTART checkpoints that let the WAL start again
        self.frames = 0  # WAL frames after the last checkpoint
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
            # ``close`` sets ``_stop`` before ``_due``: a ``_due`` it set that the
            # ``clear`` below swallows is seen here, through ``_stop``
            while not self._stop.is_set():
                self._due.wait()
                wait = last + self.interval - time.monotonic()
                if self._stop.wait(max(0.0, wait)):
                    return
                self._due.clear()
                last = time.monotonic()
                try:
                    if db is None:
                        db = self._connect()
                        # only RESTART waits on it; PASSIVE never does
                        db.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                    _, self.frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if self.frames >= self.restart_frames:
                        self._restart(db)
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (tried again later): %s", exc)
        finally:
            if db is not None:
                db.close()

    def _restart(self, db: sqlite3.Connection) -> None:
        self.restarting.set()
        try:
            time.sleep(SETTLE)
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            if not busy:
                self.restarts += 1
                self.frames = 0
        finally:
            self.restarting.clear()
