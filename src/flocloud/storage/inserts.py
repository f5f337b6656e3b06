"""Inserting one stored write inside the writer's transaction (``SqliteStore`` and the
legacy records of ``storage/legacy.py``), and the sender's quota check.

Invariants owned here:
- A write is inserted with its dots (a peer's, merged; else this store's next), its
  fingerprint parts added to its key's digest and its size to the sender's quota, all in
  the caller's transaction: a crash keeps all of it or none.
- ``check_quota`` refuses a write that would take a sender past its quota.
"""

from __future__ import annotations

import functools
import sqlite3

from flocloud.protocol.cursor import Dot
from flocloud.protocol.errors import QuotaExceeded
from flocloud.protocol.fingerprint import key_position, write_parts

from .dots import assign_dot, dots_text, merge_dots

__all__ = ["check_quota", "insert_message"]


@functools.lru_cache(maxsize=65536)
def _key_position(receiver: str) -> str:
    return key_position(receiver)


def insert_message(
    db: sqlite3.Connection,
    msg_id: str,
    receiver: str,
    sender: str,
    *,
    application: str,
    type: str,
    comment: str | None,
    time: int,
    received_ms: int,
    body: str,
    pubkey: str,
    sign: str,
    origin: str | None,
    dots: tuple[Dot, ...] | None,
    store_id: str,
    kind: str | None = None,
    target: str | None = None,
) -> tuple[int, tuple[Dot, ...]]:
    """Insert one stored write of another kind (``storage/legacy.py``) inside the writer's
    transaction, with its dots (``dots`` given by a peer, else this store's next), its key
    fingerprint and the sender's quota; returns its ``seq`` and its dots."""
    stored = merge_dots(db, receiver, msg_id, dots) if dots else ()
    if not stored:
        stored = merge_dots(db, receiver, msg_id, (assign_dot(db, receiver, store_id),))
    size = len(body.encode())
    p1, p2 = write_parts(msg_id, stored)
    cur = db.execute(
        "INSERT INTO messages (id, receiver, sender, application, type, comment, time, received_ms, body, pubkey, sign, size, origin, dots, fp1, fp2, kind, target) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (msg_id, receiver, sender, application, type, comment, time, received_ms, body, pubkey,
         sign, size, origin, dots_text(stored), p1, p2, kind, target),
    )  # fmt: skip
    db.execute(
        "INSERT INTO key_digest (receiver, kpos, n, s1, s2) VALUES (?,?,1,?,?) "
        "ON CONFLICT(receiver) DO UPDATE SET n=n+1, s1=s1+excluded.s1, s2=s2+excluded.s2",
        (receiver, _key_position(receiver), p1, p2),
    )
    db.execute(
        "INSERT INTO quota (sender, bytes) VALUES (?, ?) ON CONFLICT(sender) DO UPDATE SET bytes = bytes + excluded.bytes",
        (sender, size),
    )
    return int(cur.lastrowid or 0), stored


def check_quota(db: sqlite3.Connection, sender: str, size: int, quota_bytes: int | None) -> None:
    if quota_bytes is None:
        return
    used = db.execute("SELECT bytes FROM quota WHERE sender=?", (sender,)).fetchone()
    if (used[0] if used else 0) + size > quota_bytes:
        raise QuotaExceeded(f"{sender} has used its {quota_bytes}-byte storage quota")
