"""Inserting one stored write inside the writer's transaction (``SqliteStore`` and the
legacy records of ``storage/legacy.py``), the sender's quota check, a stored write's
dots growing, dropping writes (a hand-off), and a write stored alone (``put_write``: the
path of every write the batched one does not take).

Invariants owned here:
- A write is inserted with its dots (a peer's, merged; else this store's next), its
  fingerprint parts added to its key's digest and its size to the sender's quota, all in
  the caller's transaction: a crash keeps all of it or none.
- ``check_quota`` refuses a write that would take a sender past its quota.
- A write dropped takes with it its dots (``dot_contig`` ends below them), schemas, legacy
  rows, object writes, its size from the quota and its parts from the key's digest (a key
  with no writes left has no digest row).
"""

from __future__ import annotations

import functools
import sqlite3

from flocloud.protocol.cursor import Dot
from flocloud.protocol.envelope import Envelope, utf8_size
from flocloud.protocol.errors import BadFormat, NotFound, QuotaExceeded
from flocloud.protocol.fingerprint import key_position, write_parts
from flocloud.protocol.writes import About, MessageWrite, ObjectWrite, SchemaWrite, Write

from . import objects
from .dots import assign_dot, dots_text, dropped_dots, merge_dots, parse_dots_text
from .legacy_tables import drop_legacy
from .schemas import SchemaChecks, jsonschema_lib
from .store import PutResult, Record

__all__ = [
    "check_quota",
    "drop_messages",
    "insert_message",
    "key_position_of",
    "more_dots",
    "put_write",
]


@functools.lru_cache(maxsize=65536)
def key_position_of(receiver: str) -> str:
    """A key's position on the fingerprint ring, cached (every write's digest upsert)."""
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
    size: int | None = None,
) -> tuple[int, tuple[Dot, ...]]:
    """Insert one stored write inside the writer's transaction (``put_write``, and
    the legacy rows of ``storage/legacy.py``), with its dots (``dots`` given by a peer,
    else this store's next), its key fingerprint and the sender's quota; returns its
    ``seq`` and its dots. ``size``: the body's UTF-8 bytes, when the caller knows them."""
    stored = merge_dots(db, receiver, msg_id, dots) if dots else ()
    if not stored:
        stored = merge_dots(db, receiver, msg_id, (assign_dot(db, receiver, store_id),))
    size = utf8_size(body) if size is None else size
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
        (receiver, key_position_of(receiver), p1, p2),
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


def more_dots(
    db: sqlite3.Connection,
    msg_id: str,
    receiver: str,
    have: tuple[Dot, ...],
    given: tuple[Dot, ...],
) -> tuple[Dot, ...]:
    """A stored write learns dots another node gave it: store them, and move its
    fingerprint parts and its key's digest with them."""
    added = merge_dots(db, receiver, msg_id, [d for d in given if d not in have])
    if not added:
        return have
    new = tuple(sorted(set(have) | set(added)))
    o1, o2 = write_parts(msg_id, have)
    p1, p2 = write_parts(msg_id, new)
    db.execute(
        "UPDATE messages SET dots=?, fp1=?, fp2=? WHERE receiver=? AND id=?",
        (dots_text(new), p1, p2, receiver, msg_id),
    )
    db.execute(
        "UPDATE key_digest SET s1=s1+?, s2=s2+? WHERE receiver=?",
        (p1 - o1, p2 - o2, receiver),
    )
    return new


def drop_messages(db: sqlite3.Connection, receiver: str, ids: list[str]) -> int:
    """``SqliteStore.drop`` inside the writer's transaction; returns how many were held."""
    gone: list[str] = []
    for msg_id in ids:
        row = db.execute(
            "SELECT sender, size, fp1, fp2, dots, seq FROM messages WHERE receiver=? AND id=?",
            (receiver, msg_id),
        ).fetchone()
        if row is None:
            continue
        db.execute("DELETE FROM messages WHERE seq=?", (row[5],))
        held = []  # its dots, by the table's key (``messages.dots`` lists exactly those)
        for origin, counter in parse_dots_text(row[4]):
            held += db.execute(
                "DELETE FROM dots WHERE receiver=? AND origin=? AND counter=? AND id=? "
                "RETURNING origin, counter",
                (receiver, origin, counter, msg_id),
            ).fetchall()
        dropped_dots(db, receiver, [(str(o), int(c)) for o, c in held])
        db.execute("DELETE FROM schemas WHERE msg_id=?", (msg_id,))
        drop_legacy(db, msg_id)
        db.execute("UPDATE quota SET bytes = bytes - ? WHERE sender=?", (row[1], row[0]))
        db.execute(
            "UPDATE key_digest SET n=n-1, s1=s1-?, s2=s2-? WHERE receiver=?",
            (row[2], row[3], receiver),
        )
        gone.append(msg_id)
    objects.drop_object_writes(db, gone)
    db.execute("DELETE FROM key_digest WHERE receiver=? AND n<=0", (receiver,))
    return len(gone)


def put_write(
    db: sqlite3.Connection,
    env: Envelope,
    write: Write,
    received_ms: int,
    quota_bytes: int | None,
    origin: str | None,
    dots: tuple[Dot, ...] | None = None,
    decided: bool = False,
    *,
    store_id: str,
    schema_checks: SchemaChecks,
    committed: list[tuple[Record, str | None]],
) -> PutResult:
    """One write alone, inside the writer's transaction: a duplicate's dots merged, else
    the quota, the checks of its kind, the insert and the derived state (objects,
    schemas, deletes, tags, notes); the stored record is appended to ``committed``."""
    body = env.body
    accepting = origin is None and not decided  # this node accepts it from a client
    row = db.execute(
        "SELECT seq, dots FROM messages WHERE receiver=? AND id=?", (body.receiverID, env.id)
    ).fetchone()
    if row is not None:
        version = None
        if isinstance(write, ObjectWrite):
            state = objects.object_state(db, body.application, write.name)
            version = state.version if state else None
        have = parse_dots_text(row[1])
        if dots and not set(dots) <= set(have):
            have = more_dots(db, env.id, body.receiverID, have, dots)
        return PutResult(int(row[0]), duplicate=True, version=version, dots=have)
    check_quota(db, body.senderID, env.size, quota_bytes)
    version = None
    if isinstance(write, MessageWrite) and accepting:
        schema_checks.check(db, body.application, f"message:{body.type}", body.payload)
    elif isinstance(write, SchemaWrite):
        jsonschema = jsonschema_lib()
        try:
            jsonschema.Draft202012Validator.check_schema(write.schema)
        except jsonschema.exceptions.SchemaError as exc:
            raise BadFormat(f"invalid JSON Schema: {exc.message}"[:300]) from None
    elif isinstance(write, About) and not origin:  # a replica keeps it for its target
        target_row = db.execute(
            "SELECT 1 FROM messages WHERE receiver=? AND id=?", (body.receiverID, write.target_id)
        ).fetchone()
        if target_row is None:
            raise NotFound(f"message {write.target_id} is not stored for {body.receiverID}")
    seq, stored = insert_message(
        db, env.id, body.receiverID, body.senderID, application=body.application,
        type=body.type, comment=body.comment, time=body.time, received_ms=received_ms,
        body=env.body_text, pubkey=env.pubkey.hex(), sign=env.signature.hex(),
        origin=origin, dots=dots, store_id=store_id, size=env.size,
        target=write.target_id if isinstance(write, About) else None,
    )  # fmt: skip
    if not isinstance(
        write, About
    ):  # writes about this one that came first (by the target index only: with
        # receiver in the query, SQLite picked the receiver index and scanned it all)
        about = {
            t
            for r, t in db.execute("SELECT receiver, type FROM messages WHERE target=?", (env.id,))
            if r == body.receiverID
        }
        if "flocloud.delete" in about:
            db.execute("UPDATE messages SET deleted=1 WHERE seq=?", (seq,))
        if about & {"flocloud.tag", "flocloud.note"}:
            objects.derive_about(db, body.receiverID, env.id)
    if isinstance(write, ObjectWrite):
        app, target = body.application, f"object:{write.name}"
        version = objects.apply_object_write(
            db, env, write, need_parents=accepting,
            check=(lambda v: schema_checks.check(db, app, target, v)) if accepting else None,
        )  # fmt: skip
    elif isinstance(write, SchemaWrite):
        objects.apply_schema(db, body.application, write.target, write.schema, env.id, body.time)
    elif isinstance(write, About):
        if write.kind == "delete":
            db.execute(
                "UPDATE messages SET deleted=1 WHERE receiver=? AND id=?",
                (body.receiverID, write.target_id),
            )
        else:
            objects.derive_about(db, body.receiverID, write.target_id)
    rec = Record(seq, env.id, body.receiverID, body.senderID, body.application, body.type, body.time,
                 received_ms, env.body_text, env.pubkey.hex(), env.signature.hex(), origin=origin, dots=stored)  # fmt: skip
    committed.append((rec, body.comment))
    return PutResult(seq, version=version, dots=stored)
