"""The tables derived from legacy records (migration 6): what a hand-off drops with them."""

from __future__ import annotations

import sqlite3

__all__ = ["drop_legacy"]


def drop_legacy(db: sqlite3.Connection, msg_id: str) -> None:
    """Forget what a dropped record added (inside the writer's transaction)."""
    db.execute("DELETE FROM legacy_rows WHERE msg_id=?", (msg_id,))
    db.execute("DELETE FROM legacy_changes WHERE msg_id=?", (msg_id,))
