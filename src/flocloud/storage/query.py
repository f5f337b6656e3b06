"""The query builder: a ``MessageFilter`` as SQL, and the cursor after an answer.

Invariants owned here (docs/protocol.md §8.2):
- An ascending answer holds only writes the filter's cursor does not cover, at most
  ``limit`` and about ``max_bytes`` of bodies (at least one), in this store's log order; the cursor it returns covers exactly the old
  cursor, the writes returned, and writes held here that the client need not see (they
  do not match its filter) below the first matching write left out. So following the
  cursors from any replicas never skips a write and never repeats one.
- ``lacking``: the dots the client's cursor covers that this store does not hold
  (``protocol.cursor.lacking``, canonical ranges); ``behind`` says there are some. The
  client has seen writes that have not reached this replica yet, so the node fetches
  them before the answer is served (``node/service.read``).
- A newest-first answer (``order: desc``) is a window, not a feed: it ignores no cursor
  (one is refused by the request parser) and returns none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from .dots import first_undelivered, lacking_dots, parse_dots_text, uncovered, walk
from .store import MessageFilter, QueryPage, Record

__all__ = ["COLUMNS", "filter_sql", "keys_in", "query_page", "record_of_row", "time_bound"]

# the ``messages`` columns a ``Record`` is read from, in ``record_of_row``'s order
COLUMNS = "seq, id, receiver, sender, application, type, time, received_ms, body, pubkey, sign, deleted, tags, note, origin, dots, kind"


def keys_in(n: int) -> str:
    """``(receiver, id) IN (…)`` for ``n`` pairs of parameters, written so that SQLite
    searches the ``(receiver, id, …)`` index once per pair: a message id is only ever
    looked up with its receiver (migration 13), and a bare ``VALUES`` list on the right of
    ``IN`` is scanned against every row instead."""
    pairs = ",".join(["(?,?)"] * n)
    return f"(receiver, id) IN (SELECT column1, column2 FROM (VALUES {pairs}))"


def time_bound(max_time: int | None) -> int:
    return (1 << 62) if max_time is None else max_time


def record_of_row(row: tuple[Any, ...]) -> Record:
    return Record(
        seq=row[0], id=row[1], receiver=row[2], sender=row[3], application=row[4], type=row[5],
        time=row[6], received_ms=row[7], body=row[8], pubkey=row[9], sign=row[10],
        deleted=bool(row[11]), tags=() if row[12] == "[]" else tuple(orjson.loads(row[12])), note=row[13], origin=row[14], dots=parse_dots_text(row[15]),
        kind=row[16],
    )  # fmt: skip


def filter_sql(f: MessageFilter) -> tuple[str, list[Any]]:
    """The filter's conditions (besides receiver and cursor) over ``messages`` columns."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("application", f.application),
        ("type", f.type),
        ("sender", f.sender),
        ("comment", f.comment),
    ):
        if value is not None:
            where.append(f"m.{column}=?")
            args.append(value)
    if f.since is not None:
        where.append("m.time>=?")
        args.append(f.since)
    if f.until is not None:
        where.append("m.time<=?")
        args.append(f.until)
    if f.ids is not None:
        where.append(f"m.id IN ({','.join('?' * len(f.ids))})")
        args.extend(f.ids)
    if not f.include_deleted:
        where.append("m.deleted=0")
    if f.kind != "*":  # one kind of record at a time: legacy rows never pass as native
        where.append("m.kind IS ?")
        args.append(f.kind)
    return (" AND ".join(where) or "1"), args


def query_page(
    db: sqlite3.Connection,
    f: MessageFilter,
    columns: str,
    record: Callable[[tuple[Any, ...]], Record],
) -> QueryPage:
    where, args = filter_sql(f)
    cols = ", ".join("m." + c.strip() for c in columns.split(","))
    if f.newest_first:
        rows = db.execute(
            f"SELECT {cols} FROM messages m WHERE m.receiver=? AND {where} "
            "ORDER BY m.seq DESC LIMIT ?",
            (f.receiver, *args, f.limit + 1),
        ).fetchall()
        return QueryPage([record(r) for r in rows[: f.limit]], len(rows) > f.limit, None)
    db.execute("BEGIN")  # one snapshot: a write committed meanwhile is neither sent nor covered
    try:
        return _page(db, f, where, args, cols, record)
    finally:
        db.execute("COMMIT")


def _page(
    db: sqlite3.Connection,
    f: MessageFilter,
    where: str,
    args: list[Any],
    cols: str,
    record: Callable[[tuple[Any, ...]], Record],
) -> QueryPage:
    seqs, more = uncovered(db, f.receiver, f.after, where, args, f.limit)
    records: list[Record] = []
    for i in range(0, len(seqs), 500):
        chunk = seqs[i : i + 500]
        sql = f"SELECT {cols} FROM messages m WHERE m.seq IN ({','.join('?' * len(chunk))})"
        records.extend(record(r) for r in db.execute(sql, chunk))
    records.sort(key=lambda r: r.seq)
    if f.max_bytes is not None:  # a page also stops at about max_bytes of bodies
        size = 0
        for n, rec in enumerate(records):
            size += len(rec.body)
            if n and size > f.max_bytes:
                records, more = records[:n], True
                break
    cursor = f.after.add(d for r in records for d in r.dots)
    delivered = {r.id for r in records}
    origins = set(cursor.origins())
    for origin in sorted(origins):
        low = f.after.frontier(origin)
        below = (
            first_undelivered(db, f.receiver, origin, low, where, args, delivered) if more else None
        )
        cursor = cursor.advance(
            origin, walk(db, f.receiver, origin, cursor.frontier(origin), below)
        )
    return QueryPage(records, more, cursor, lacking_dots(db, f.receiver, f.after))
