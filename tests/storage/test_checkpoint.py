"""``Checkpointer.close`` against the thread's own bookkeeping of its wake-ups."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from flocloud.storage.checkpoint import Checkpointer


def test_close_is_not_lost_while_the_thread_clears_its_wakeup(tmp_path: Path) -> None:
    """``close`` lands just before the thread clears ``_due`` (the interleaving that hung a
    store's close forever under valgrind's slow scheduling): the thread still ends."""
    path = tmp_path / "store.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL").fetchall()
    cp = Checkpointer(lambda: sqlite3.connect(path, check_same_thread=False), interval=0.0)

    class CloseLandsFirst(threading.Event):
        def clear(self) -> None:
            cp._stop.set()  # what close() does first ...
            super().set()  # ... then its wake-up, which this clear swallows
            super().clear()

    cp._due = CloseLandsFirst()
    cp.start()
    cp.committed()
    assert cp._thread is not None
    cp._thread.join(10)
    assert not cp._thread.is_alive(), "the checkpoint thread missed the close"
    assert cp.checkpoints == 1  # the round under way ran, then the thread ended
    cp.close()
