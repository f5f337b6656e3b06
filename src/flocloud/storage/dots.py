"""Dots on disk: assigning, merging and reading by cursor (``flocloud.protocol.cursor``).

Invariants owned here:
- ``dots(receiver, origin, counter)`` is a primary key: one write per dot, so a numbering
  bug fails loudly instead of hiding a write behind another.
- This store's counter of a receiver lives in ``dot_counters`` and only grows, inside the
  transaction that uses it: a counter is never reused, even after a hand-off dropped the
  receiver's writes here.
- A write's dots only grow (a retried write accepted by two nodes has two). A dot that is
  already taken by another write is not stored (logged) and the write is kept: no data is
  lost for a numbering conflict, which only a misbehaving peer can cause.
- Reading by cursor touches only what the cursor does not cover, through the
  ``(receiver, origin, counter)`` key: the cost grows with what is new, not with what is
  stored.
- ``dot_contig(receiver, origin, upto)``: every counter ``1..upto`` of that origin is
  held here and ``upto + 1`` is not (no row: ``upto = 0``). It moves in the transaction
  that stores or drops a dot, so ``lacking`` (the dots a client's cursor covers that this
  store lacks, ``replication/feed.lacking``) costs a few key lookups per origin.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

import orjson

from flocloud.protocol.cursor import Cursor, Dot, Range, contiguous, lacking

__all__ = [
    "assign_dot",
    "dots_text",
    "dropped_dots",
    "first_undelivered",
    "held_cursor",
    "holding",
    "lacking_dots",
    "merge_dots",
    "parse_dots_text",
    "uncovered",
    "walk",
]

log = logging.getLogger("flocloud.storage")

WALK_LIMIT = 5000  # counters read per origin when a cursor advances


def dots_text(dots: Sequence[Dot]) -> str:
    return orjson.dumps([[o, c] for o, c in sorted(set(dots))]).decode()


def parse_dots_text(text: str) -> tuple[Dot, ...]:
    """``messages.dots`` as tuples (written by ``dots_text``: ``[[origin, counter], …]``;
    every query row goes through here)."""
    return tuple(map(tuple, orjson.loads(text)))


def assign_dot(db: sqlite3.Connection, receiver: str, origin: str) -> Dot:
    """The next dot of this store (``origin``) for ``receiver``."""
    row = db.execute(
        "INSERT INTO dot_counters (receiver, counter) VALUES (?, 1) "
        "ON CONFLICT(receiver) DO UPDATE SET counter = counter + 1 RETURNING counter",
        (receiver,),
    ).fetchone()
    return origin, int(row[0])


def merge_dots(
    db: sqlite3.Connection, receiver: str, msg_id: str, dots: Sequence[Dot]
) -> tuple[Dot, ...]:
    """Insert ``dots`` of a write (those not yet stored); returns the ones now stored."""
    out = []
    for origin, counter in dots:
        row = db.execute(
            "SELECT id FROM dots WHERE receiver=? AND origin=? AND counter=?",
            (receiver, origin, counter),
        ).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO dots (receiver, origin, counter, id) VALUES (?,?,?,?)",
                (receiver, origin, counter, msg_id),
            )
            out.append((origin, counter))
            _grow_contig(db, receiver, origin, counter)
        elif row[0] == msg_id:
            out.append((origin, counter))
        else:
            log.warning(
                "dot %s:%d of %s is taken by %s; write %s kept without it",
                origin, counter, receiver, row[0], msg_id,
            )  # fmt: skip
    return tuple(out)


def _upto(db: sqlite3.Connection, receiver: str, origin: str) -> int:
    row = db.execute(
        "SELECT upto FROM dot_contig WHERE receiver=? AND origin=?", (receiver, origin)
    ).fetchone()
    return int(row[0]) if row else 0


def _holds(db: sqlite3.Connection, receiver: str, origin: str, counter: int) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM dots WHERE receiver=? AND origin=? AND counter=?",
            (receiver, origin, counter),
        ).fetchone()
        is not None
    )


def _grow_contig(db: sqlite3.Connection, receiver: str, origin: str, counter: int) -> None:
    """A dot was stored: when it extends the contiguous run from 1, walk on over the
    counters already held above it."""
    upto = _upto(db, receiver, origin)
    if counter != upto + 1:
        return
    new = contiguous(lambda c: _holds(db, receiver, origin, c), counter)
    db.execute(
        "INSERT INTO dot_contig (receiver, origin, upto) VALUES (?,?,?) "
        "ON CONFLICT(receiver, origin) DO UPDATE SET upto=excluded.upto",
        (receiver, origin, new),
    )


def dropped_dots(db: sqlite3.Connection, receiver: str, dots: Sequence[Dot]) -> None:
    """Dots were deleted (a hand-off dropped their write): the run from 1 ends below."""
    for origin, counter in dots:
        db.execute(
            "UPDATE dot_contig SET upto=? WHERE receiver=? AND origin=? AND upto>=?",
            (counter - 1, receiver, origin, counter),
        )


def lacking_dots(db: sqlite3.Connection, receiver: str, cursor: Cursor) -> tuple[Range, ...]:
    """``feed.lacking`` over the dots held here."""

    def next_held(origin: str, c: int) -> int | None:
        row = db.execute(
            "SELECT MIN(counter) FROM dots WHERE receiver=? AND origin=? AND counter>?",
            (receiver, origin, c),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    return lacking(
        cursor,
        lambda o: _upto(db, receiver, o),
        next_held,
        lambda o, c: _holds(db, receiver, o, c),
    )


def holding(
    db: sqlite3.Connection, receiver: str, ranges: Sequence[Range], limit: int
) -> list[str]:
    """Ids of ``receiver``'s writes held under a dot in ``ranges``, at most ``limit``, by
    range then counter (``feed.MemoryStore.holding``)."""
    out: dict[str, None] = {}
    for origin, first, last in ranges:
        for (msg_id,) in db.execute(
            "SELECT id FROM dots WHERE receiver=? AND origin=? AND counter BETWEEN ? AND ? "
            "ORDER BY counter LIMIT ?",
            (receiver, origin, first, last, limit),
        ):
            if len(out) >= limit:
                return list(out)
            out.setdefault(str(msg_id), None)
    return list(out)


def origins_of(db: sqlite3.Connection, receiver: str) -> list[str]:
    """The origins that numbered writes of ``receiver`` here: a skip-scan of the dots key,
    one index seek per origin."""
    rows = db.execute(
        "WITH RECURSIVE o(x) AS ("
        " SELECT (SELECT MIN(origin) FROM dots WHERE receiver=?1)"
        " UNION ALL SELECT (SELECT MIN(origin) FROM dots WHERE receiver=?1 AND origin > x)"
        " FROM o WHERE x IS NOT NULL) SELECT x FROM o WHERE x IS NOT NULL",
        (receiver,),
    )
    return [r[0] for r in rows]


def uncovered(
    db: sqlite3.Connection,
    receiver: str,
    cursor: Cursor,
    where: str,
    args: Sequence[object],
    limit: int,
) -> tuple[list[int], bool]:
    """Local ``seq`` of up to ``limit`` of the receiver's writes that match ``where`` and
    that the cursor does not cover, in ``seq`` order, and whether there are more."""
    if cursor.is_empty():
        sql = f"SELECT m.seq FROM messages m WHERE m.receiver=? AND {where} ORDER BY m.seq LIMIT ?"
        seqs = [int(r[0]) for r in db.execute(sql, (receiver, *args, limit + 1))]
        return seqs[:limit], len(seqs) > limit
    parts, params = [], []
    for origin in origins_of(db, receiver):  # known or not: each a range of the key
        parts.append("SELECT id FROM dots WHERE receiver=? AND origin=? AND counter>?")
        params += [receiver, origin, cursor.frontier(origin)]
    if not parts:
        return [], False
    # rows covered through an exception or another dot are dropped below: read a few more
    sql_limit = limit + 1 + sum(len(x) for _, _, x in cursor.entries) + 64
    # CROSS JOIN: SQLite walks the few uncovered dots and looks their writes up, instead
    # of scanning every write of the receiver
    sql = (
        f"SELECT DISTINCT m.seq, m.dots FROM ({' UNION ALL '.join(parts)}) u "
        f"CROSS JOIN messages m ON m.receiver=? AND m.id = u.id WHERE {where} "
        "ORDER BY m.seq LIMIT ?"
    )
    rows: list[tuple[int, str]] = db.execute(sql, (*params, receiver, *args, sql_limit)).fetchall()
    out = [int(r[0]) for r in rows if not cursor.covers_any(parse_dots_text(r[1]))]
    return out[:limit], len(out) > limit or len(rows) == sql_limit


def first_undelivered(
    db: sqlite3.Connection,
    receiver: str,
    origin: str,
    after: int,
    where: str,
    args: Sequence[object],
    delivered: set[str],
) -> int | None:
    """The lowest counter of ``origin`` above ``after`` whose write matches ``where`` and
    was not delivered (an answer cut by its limit); the frontier must stay below it."""
    for counter, msg_id in db.execute(
        "SELECT d.counter, d.id FROM dots d JOIN messages m ON m.receiver = d.receiver "
        "AND m.id = d.id "
        f"WHERE d.receiver=? AND d.origin=? AND d.counter>? AND {where} ORDER BY d.counter",
        (receiver, origin, after, *args),
    ):
        if msg_id not in delivered:
            return int(counter)
    return None


def held_cursor(db: sqlite3.Connection, receiver: str) -> Cursor:
    """A cursor that covers every dot of ``receiver`` held here: what a peer need not send
    back when this node asks for what it lacks (``peer.key``)."""
    rows = db.execute("SELECT origin, counter FROM dots WHERE receiver=?", (receiver,))
    return Cursor().add((str(o), int(c)) for o, c in rows)


def walk(
    db: sqlite3.Connection, receiver: str, origin: str, after: int, below: int | None
) -> list[int]:
    """Counters of ``origin`` in ``(after, below)`` held here, for ``Cursor.advance``
    (at most ``WALK_LIMIT``)."""
    top = below if below is not None else (1 << 62)
    return [
        int(c)
        for (c,) in db.execute(
            "SELECT counter FROM dots WHERE receiver=? AND origin=? AND counter>? AND counter<? "
            "ORDER BY counter LIMIT ?",
            (receiver, origin, after, top, WALK_LIMIT),
        )
    ]
