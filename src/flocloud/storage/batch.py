"""The writer's batched path for plain message writes (``SqliteStore._apply``).

A plain write is a ``MessageWrite`` (no object, schema, delete, tag or note to derive):
the common case of ingest and replication. A run of consecutive plain writes of one
batch costs a fixed number of statements instead of ~10 each: one ``SELECT … IN`` for the
stored ids, one for the writes about them that came first, one for the senders' quota, one
for the receivers' counters, then one multi-row ``INSERT`` for each of ``dot_counters``,
``dots``, ``messages``, ``key_digest``, ``quota`` and ``dot_contig``. Each statement is
one step for SQLite (multi-row ``VALUES``; reads return their rows as one JSON array):
the sqlite3 module releases the GIL around each step and the writer then waits for the
busy event loop to hand it back, so ``executemany`` (a step per row) cost a wait per row.

Invariants owned here:
- The outcome is the per-write path's (``inserts.put_write`` on each write in the batch's
  order, a savepoint each): the same rows, ``seq`` in batch order, the same dots (each
  receiver's counters handed out in batch order), digests, quotas, ``dot_contig`` and
  results. Every check is made in Python, in order, on what the run read plus what it has
  decided so far, before anything is written: a refused write (quota, schema) writes
  nothing, so its neighbours need no savepoint.
- What this path does not decide the same way stops the run: a stored write given new
  dots, an id given twice with new dots, a write that writes about it came before (its
  ``deleted``/tags/note to derive). ``put_run`` returns how many writes it settled; the
  caller sends the next through the per-write path and starts a new run after it.
- Anything unexpected while writing (a dot already taken, a ``seq`` not in batch order, a
  SQLite error, a bug) rolls the run back to its one savepoint and raises ``Fallback``;
  so does any error while reading, before anything is written. The caller then applies
  the whole run through the per-write path, which decides it exactly (and refuses only
  the write at fault).
- Each inserted dot goes through the ``dots`` table's triggers (``storage/held.py``) like
  any other insert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import orjson

from flocloud.protocol.cursor import Dot
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import FlocloudError, QuotaExceeded, Unavailable
from flocloud.protocol.fingerprint import write_parts

from .dots import dots_text, parse_dots_text
from .query import keys_in
from .store import PutResult, Record

__all__ = ["Fallback", "Plain", "put_run"]

_CHUNK = 500  # bound parameters per IN (…) (SQLite's limit is far higher)
_VARIABLES = 32_000  # bound parameters per statement (SQLite's default limit: 32,766)


class Plain(NamedTuple):
    """A plain message write queued for the writer (``SqliteStore.put``'s arguments; a
    tuple: made on the event loop for every write, where a frozen dataclass costs more)."""

    env: Envelope
    received_ms: int
    quota_bytes: int | None
    origin: str | None
    dots: tuple[Dot, ...] | None
    accepting: bool  # from a client here: the application's schema applies


class Fallback(Exception):
    """The run was rolled back: apply it through the per-write path."""


@dataclass(slots=True)
class _New:
    item: Plain
    size: int
    stored: tuple[Dot, ...]
    seq: int = 0
    parts: tuple[int, int] = (0, 0)


@dataclass(frozen=True, slots=True)
class _Twin:
    """The same id again in the run: a duplicate of ``new`` once it is stored."""

    new: _New


Outcome = tuple[bool, Any]  # (True, PutResult) or (False, the error to raise)
SchemaCheck = Callable[[str, str, Any], None]  # (application, message type, payload)


_SQL: dict[tuple[Any, ...], str] = {}  # texts of statements of few rows, built once
_SQL_ROWS = 64  # … of at most this many rows or values: a commit of a few writes builds
# none of its statements' texts (and SQLite's statement cache finds them by a string whose
# hash is already known)


def _text(build: Callable[..., str], *args: Any) -> str:
    """``build(*args)``, whose last argument is the statement's rows or values: kept when
    they are at most ``_SQL_ROWS``, so what is kept stays bounded by the call sites."""
    key = (build, *args)
    sql = _SQL.get(key)
    if sql is None:
        sql = build(*args)
        if args[-1] <= _SQL_ROWS:
            _SQL[key] = sql
    return sql


def _in_text(columns: str, rest: str, n: int) -> str:
    text = f"SELECT json_group_array(json_array({columns})) {rest}"
    return text.format(",".join("?" * n))


def _keys_text(columns: str, n: int) -> str:
    return f"SELECT json_group_array(json_array({columns})) FROM messages WHERE " + keys_in(n)


def _insert_text(head: str, tail: str, width: int, n: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return f"{head} VALUES {','.join([one] * n)} {tail}"


def _select_in(
    db: sqlite3.Connection, columns: str, rest: str, values: Sequence[Any]
) -> Iterable[list[Any]]:
    """``SELECT columns rest`` with ``{}`` in ``rest`` the placeholders of ``values``, the
    rows as one JSON array: one step of the statement, so the writer thread releases and
    retakes the GIL once per statement instead of once per row (a busy event loop makes
    each retake wait)."""
    for i in range(0, len(values), _CHUNK):
        chunk = values[i : i + _CHUNK]
        (text,) = db.execute(_text(_in_text, columns, rest, len(chunk)), chunk).fetchone()
        yield from orjson.loads(text)


def _select_keys(
    db: sqlite3.Connection, columns: str, keys: Sequence[tuple[str, str]]
) -> Iterable[list[Any]]:
    """``_select_in`` of the ``messages`` rows of ``keys``, (receiver, id) pairs."""
    for i in range(0, len(keys), _CHUNK // 2):
        chunk = keys[i : i + _CHUNK // 2]
        sql = _text(_keys_text, columns, len(chunk))
        (text,) = db.execute(sql, list(chain.from_iterable(chunk))).fetchone()
        yield from orjson.loads(text)


def _insert(
    db: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """``head VALUES (…),(…) tail``: many rows in one step (see ``_select_in``), not one
    ``executemany`` step per row."""
    if not rows:
        return
    width = len(rows[0])
    per = max(1, _VARIABLES // width)
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        sql = _text(_insert_text, head, tail, width, len(chunk))
        db.execute(sql, list(chain.from_iterable(chunk)))


def put_run(
    db: sqlite3.Connection,
    items: Sequence[Plain],
    store_id: str,
    check_schema: SchemaCheck,
    key_position: Callable[[str], str],
    committed: list[tuple[Record, str | None]],
) -> tuple[list[Outcome], int]:
    """Apply a prefix of ``items`` (plain writes, in batch order) inside the caller's
    transaction; returns the outcomes of the prefix and its length (see the module
    docstring). ``check_schema`` raises when a client's payload breaks its schema;
    ``committed`` gets the stored records, in order."""
    keys = list(dict.fromkeys((p.env.body.receiverID, p.env.id) for p in items))
    existing = {str(i): (int(s), str(d)) for i, s, d in _select_keys(db, "id, seq, dots", keys)}
    fresh = [i for _, i in keys if i not in existing]
    about = {
        (str(t), str(r))
        for t, r in _select_in(db, "target, receiver", "FROM messages WHERE target IN ({})", fresh)
    }
    checked = list({p.env.body.senderID: None for p in items if p.quota_bytes is not None})
    used: dict[str, int] = {
        str(s): int(b)
        for s, b in _select_in(db, "sender, bytes", "FROM quota WHERE sender IN ({})", checked)
    }
    numbered = list({p.env.body.receiverID: None for p in items if not p.dots})
    counters: dict[str, int] = {
        str(r): int(c)
        for r, c in _select_in(
            db, "receiver, counter", "FROM dot_counters WHERE receiver IN ({})", numbered
        )
    }
    advanced: dict[str, int] = {}

    out: list[Outcome | _New | _Twin] = []
    pending: list[_New] = []
    by_id: dict[str, _New] = {}
    done = len(items)
    for k, p in enumerate(items):
        env, body = p.env, p.env.body
        old = existing.get(env.id)
        if old is not None:
            have = parse_dots_text(old[1])
            if p.dots and not set(p.dots) <= set(have):
                done = k
                break
            out.append((True, PutResult(old[0], duplicate=True, dots=have)))
            continue
        twin = by_id.get(env.id)
        if twin is not None:
            if p.dots and not set(p.dots) <= set(twin.stored):
                done = k
                break
            out.append(_Twin(twin))
            continue
        size = env.size
        sender, receiver = body.senderID, body.receiverID
        if p.quota_bytes is not None and used.get(sender, 0) + size > p.quota_bytes:
            out.append(
                (False, QuotaExceeded(f"{sender} has used its {p.quota_bytes}-byte storage quota"))
            )
            continue
        if p.accepting:
            try:
                check_schema(body.application, body.type, body.payload)
            except FlocloudError as exc:
                out.append((False, exc))
                continue
            except Exception as exc:  # as the per-write path: refuse this write only
                out.append((False, Unavailable(f"store error: {exc}")))
                continue
        if (env.id, receiver) in about:
            done = k
            break
        if p.dots:
            stored = p.dots
        else:
            c = advanced.get(receiver, counters.get(receiver, 0)) + 1
            advanced[receiver] = c
            stored = ((store_id, c),)
        used[sender] = used.get(sender, 0) + size
        new = _New(p, size, stored)
        by_id[env.id] = new
        pending.append(new)
        out.append(new)

    if pending:
        db.execute("SAVEPOINT plain_run")
        try:
            _flush(db, pending, advanced, key_position)
            records = [_record(new) for new in pending]
        except Exception:  # a dot taken, seq out of order, SQLite or a bug: undo the run
            db.execute("ROLLBACK TO plain_run")
            db.execute("RELEASE plain_run")
            raise Fallback() from None
        db.execute("RELEASE plain_run")
        committed.extend(records)
    outcomes: list[Outcome] = []
    for o in out:
        if isinstance(o, _New):
            outcomes.append((True, PutResult(o.seq, dots=o.stored)))
        elif isinstance(o, _Twin):  # as read back from its row: sorted, once each
            have = tuple(sorted(set(o.new.stored)))
            outcomes.append((True, PutResult(o.new.seq, duplicate=True, dots=have)))
        else:
            outcomes.append(o)
    return outcomes, done


def _record(new: _New) -> tuple[Record, str | None]:
    p, env = new.item, new.item.env
    body = env.body
    rec = Record(new.seq, env.id, body.receiverID, body.senderID, body.application, body.type,
                 body.time, p.received_ms, env.body_text, env.pubkey.hex(), env.signature.hex(),
                 origin=p.origin, dots=new.stored, parts=new.parts)  # fmt: skip
    return rec, body.comment


def _flush(
    db: sqlite3.Connection,
    pending: list[_New],
    advanced: dict[str, int],
    key_position: Callable[[str], str],
) -> None:
    _insert(
        db, "INSERT INTO dot_counters (receiver, counter)", list(advanced.items()),
        "ON CONFLICT(receiver) DO UPDATE SET counter = excluded.counter",
    )  # fmt: skip
    runs: dict[tuple[str, str], set[int]] = {}
    dot_rows = []
    for new in pending:
        receiver, msg_id = new.item.env.body.receiverID, new.item.env.id
        for origin, counter in new.stored:
            dot_rows.append((receiver, origin, counter, msg_id))
            runs.setdefault((receiver, origin), set()).add(counter)
    # a dot already taken: IntegrityError, the per-write path decides
    _insert(db, "INSERT INTO dots (receiver, origin, counter, id)", dot_rows)
    _grow_contig(db, runs)

    rows = []
    digests: dict[str, list[int]] = {}
    quota: dict[str, int] = {}
    for new in pending:
        p, env = new.item, new.item.env
        body = env.body
        new.parts = p1, p2 = write_parts(env.id, new.stored)
        rows.append(
            (env.id, body.receiverID, body.senderID, body.application, body.type, body.comment,
             body.time, p.received_ms, env.body_text, env.pubkey.hex(), env.signature.hex(),
             new.size, p.origin, dots_text(new.stored), p1, p2)
        )  # fmt: skip
        d = digests.setdefault(body.receiverID, [0, 0, 0])
        d[0] += 1
        d[1] += p1
        d[2] += p2
        quota[body.senderID] = quota.get(body.senderID, 0) + new.size
    (base,) = db.execute(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name='messages'), 0)"
    ).fetchone()
    _insert(
        db,
        "INSERT INTO messages (id, receiver, sender, application, type, comment, time, received_ms, body, pubkey, sign, size, origin, dots, fp1, fp2)",
        rows,
    )
    (ids,) = db.execute(
        "SELECT json_group_array(id) FROM (SELECT id FROM messages WHERE seq > ? ORDER BY seq)",
        (base,),
    ).fetchone()
    if orjson.loads(ids) != [new.item.env.id for new in pending]:
        raise Fallback()  # not numbered base + 1, base + 2, … in batch order
    for n, new in enumerate(pending, int(base) + 1):
        new.seq = n
    _insert(
        db, "INSERT INTO key_digest (receiver, kpos, n, s1, s2)",
        [(r, key_position(r), n, s1, s2) for r, (n, s1, s2) in digests.items()],
        "ON CONFLICT(receiver) DO UPDATE SET n=n+excluded.n, s1=s1+excluded.s1, s2=s2+excluded.s2",
    )  # fmt: skip
    _insert(
        db, "INSERT INTO quota (sender, bytes)", list(quota.items()),
        "ON CONFLICT(sender) DO UPDATE SET bytes = bytes + excluded.bytes",
    )  # fmt: skip


def _grow_contig(db: sqlite3.Connection, runs: dict[tuple[str, str], set[int]]) -> None:
    """``dots._grow_contig`` for every dot the run stored (they are in ``dots`` now): each
    (receiver, origin) whose run from 1 the new counters extend walks on over what is held.
    The result is the run from 1 of the final set, as one dot at a time gives."""
    receivers = list({r for r, _ in runs})
    upto: dict[tuple[str, str], int] = {
        (str(r), str(o)): int(u)
        for r, o, u in _select_in(
            db, "receiver, origin, upto", "FROM dot_contig WHERE receiver IN ({})", receivers
        )
    }
    grown: dict[tuple[str, str], int] = {}
    for pair, counters in runs.items():
        c = upto.get(pair, 0)
        if c + 1 not in counters:
            continue
        while c + 1 in counters:
            c += 1
        grown[pair] = c
    # the counter after each grown run may be held already (a peer's dot that came early)
    probe = list(grown.items())
    while probe:
        held: set[tuple[str, str]] = set()
        for i in range(0, len(probe), _CHUNK // 3):
            chunk = probe[i : i + _CHUNK // 3]
            values = ",".join("(?,?,?)" for _ in chunk)
            args = [x for (r, o), c in chunk for x in (r, o, c + 1)]
            held.update(
                (str(r), str(o))
                for r, o in db.execute(
                    f"SELECT d.receiver, d.origin FROM (VALUES {values}) v CROSS JOIN dots d "
                    "ON d.receiver = v.column1 AND d.origin = v.column2 AND d.counter = v.column3",
                    args,
                )
            )
        probe = []
        for pair in held:
            grown[pair] += 1
            probe.append((pair, grown[pair]))
    _insert(
        db, "INSERT INTO dot_contig (receiver, origin, upto)",
        [(r, o, c) for (r, o), c in grown.items()],
        "ON CONFLICT(receiver, origin) DO UPDATE SET upto=excluded.upto",
    )  # fmt: skip
