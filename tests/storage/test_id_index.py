"""Migration 13: writes are found by (receiver, id), on one id-ordered B-tree.

A store of schema 12 holding writes (messages to two receivers, a schema, a tag, a
delete, a sequence ahead of its last row) is opened by this code: every row and its
``seq`` survive, no index of ``messages`` is keyed by the id alone, a new write is
numbered after every ``seq`` ever given, and the newest schema still wins by its time.
A delete naming another receiver's write is not its target, whichever writes this store
holds.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.errors import NotFound
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from flocloud.protocol.writes import schema_object_name
from flocloud.storage.migrations import MIGRATIONS, register_functions
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


A, B = key("a"), key("b")
SCHEMA_ID = object_id("app", schema_object_name("message:m"), REGTEST)
SHARED = (
    "seq, id, receiver, sender, application, type, comment, time, received_ms, body, pubkey, "
    "sign, size, deleted, tags, note, origin, target, fp1, fp2, dots, kind"
)


def writes() -> list[Envelope]:
    msgs = [
        build_envelope(A, receiver=r, payload={"i": i}, time_ms=10 + i, type="m", application="app")
        for i, r in enumerate([B.address, A.address] * 4)
    ]
    schemas = [
        build_envelope(A, receiver=SCHEMA_ID, application="app", type="flocloud.schema",
                       payload={"target": "message:m", "schema": {"minProperties": n}}, time_ms=t)
        for n, t in ((1, 50), (0, 40))
    ]  # fmt: skip
    about = [
        build_envelope(B, receiver=B.address, type="flocloud.delete", payload={"id": msgs[0].id},
                       time_ms=60),
        build_envelope(A, receiver=B.address, type="flocloud.tag", application="app",
                       payload={"id": msgs[2].id, "tag": "t"}, time_ms=61),
    ]  # fmt: skip
    return msgs + schemas + about


def as_schema_12(current: Path, old: Path, ahead: int) -> None:
    """``old``: a schema-12 database holding what the current store ``current`` holds,
    its rowid sequence ``ahead`` past its last row (a write dropped at the end)."""
    db = sqlite3.connect(old, isolation_level=None)
    register_functions(db)
    for m in MIGRATIONS[:12]:
        for statement in m.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("PRAGMA user_version = 12")
    db.execute("ATTACH ? AS cur", (str(current),))
    tables = [
        t
        for (t,) in db.execute("SELECT name FROM cur.sqlite_master WHERE type='table'")
        if t not in ("messages", "schemas", "sqlite_sequence")
    ]
    db.execute("BEGIN")
    for t in tables:
        db.execute(f"DELETE FROM main.{t}")
        db.execute(f"INSERT INTO main.{t} SELECT * FROM cur.{t}")
    db.execute(f"INSERT INTO main.messages ({SHARED}) SELECT {SHARED} FROM cur.messages")
    db.execute(
        "INSERT INTO main.schemas (application, target, schema, msg_id) "
        "SELECT application, target, schema, msg_id FROM cur.schemas"
    )
    top = db.execute("SELECT MAX(seq) FROM main.messages").fetchone()[0]
    db.execute(  # a write given seq top + ahead, then dropped
        "INSERT INTO main.messages (seq, id, receiver, sender, application, type, time, "
        "received_ms, body, pubkey, sign, size) VALUES (?, 'gone', 'r', 's', '', '', 0, 0, "
        "'', '', '', 0)",
        (top + ahead,),
    )
    db.execute("DELETE FROM main.messages WHERE id = 'gone'")
    db.execute("COMMIT")
    db.execute("DETACH cur")
    db.close()


async def old_store(tmp_path: Path, ahead: int) -> tuple[list[Envelope], list[tuple[object, ...]]]:
    """``writes()`` stored by this code, then copied into ``old.sqlite3`` at schema 12
    (``as_schema_12``); returns them and the rows they made."""
    envs = writes()
    current = await SqliteStore.open(tmp_path / "current.sqlite3")
    for e in envs:
        await current.put(e, 5)
    await current.close()
    before = rows(tmp_path / "current.sqlite3")
    as_schema_12(tmp_path / "current.sqlite3", tmp_path / "old.sqlite3", ahead=ahead)
    return envs, before


def rows(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT {SHARED} FROM messages ORDER BY seq").fetchall()
    finally:
        db.close()


async def test_a_schema_12_store_keeps_its_writes_and_loses_the_id_index(tmp_path: Path) -> None:
    envs, before = await old_store(tmp_path, ahead=7)
    db = sqlite3.connect(tmp_path / "old.sqlite3")
    old_indexes = {r[1] for r in db.execute("PRAGMA index_list(messages)")}
    db.close()
    assert "sqlite_autoindex_messages_1" in old_indexes  # schema 12's UNIQUE id

    store = await SqliteStore.open(tmp_path / "old.sqlite3")
    try:
        assert rows(tmp_path / "old.sqlite3") == before
        # the rebuild ran under a rollback journal, without zeroing freed pages: the
        # store is back in WAL mode and its writer zeroes deleted content as SQLite's
        # build does by default
        default = sqlite3.connect(":memory:").execute("PRAGMA secure_delete").fetchone()
        assert await store.transact(
            lambda db: (
                db.execute("PRAGMA journal_mode").fetchone()[0],
                db.execute("PRAGMA secure_delete").fetchone(),
            )
        ) == ("wal", default)
        assert not (tmp_path / "old.sqlite3-journal").exists()
        indexes = await store.read(
            lambda db: {
                name: [c[2] for c in db.execute(f"PRAGMA index_info({name})")]
                for _, name, *_ in db.execute("PRAGMA index_list(messages)")
            }
        )
        assert indexes["messages_by_receiver_id"][:2] == ["receiver", "id"]
        assert all(cols[0] != "id" for cols in indexes.values()), indexes
        assert set(indexes) == {
            "messages_by_receiver_id",
            "messages_by_receiver_seq",
            "messages_by_target",
        }
        # a new write is numbered after every seq given before, the dropped one's too
        top = max(r[0] for r in before)
        new = build_envelope(A, receiver=B.address, payload={"new": 1}, time_ms=70)
        assert (await store.put(new, 5)).seq == top + 8
        # found by (receiver, id); the derived state holds: the newest schema by its time,
        # the delete, the tag
        got = await store.records([(e.body.receiverID, e.id) for e in envs])
        assert sorted(r.id for r in got) == sorted(e.id for e in envs)
        assert await store.records([(A.address, envs[0].id)]) == []  # B's write, not A's
        assert (await store.schemas("app"))["message:m"] == {"minProperties": 1}
        page = await store.query(MessageFilter(B.address, include_deleted=True))
        by_id = {r.id: r for r in page.records}
        assert by_id[envs[0].id].deleted and by_id[envs[2].id].tags == ("t",)
        later = build_envelope(A, receiver=SCHEMA_ID, application="app", type="flocloud.schema",
                               payload={"target": "message:m", "schema": {"maxProperties": 3}},
                               time_ms=45)  # fmt: skip
        await store.put(later, 5)  # older than the schema held: kept, not applied
        assert (await store.schemas("app"))["message:m"] == {"minProperties": 1}
    finally:
        await store.close()


async def test_a_delete_names_a_write_of_its_own_receiver(tmp_path: Path) -> None:
    """This store holds B's write; a delete addressed to A that names it is not-found
    from a client (its target is not A's) and, from a replica, is kept without touching
    B's write."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    try:
        target = build_envelope(A, receiver=B.address, payload={"i": 1}, time_ms=1)
        await store.put(target, 5)

        def delete(t: int) -> Envelope:
            return build_envelope(A, receiver=A.address, type="flocloud.delete",
                                  payload={"id": target.id}, time_ms=t)  # fmt: skip

        with pytest.raises(NotFound):
            await store.put(delete(2), 5)
        await store.put(delete(3), 5, origin="peer", dots=(("p", 1),))
        [rec] = (await store.query(MessageFilter(B.address, include_deleted=True))).records
        assert rec.id == target.id and not rec.deleted
    finally:
        await store.close()


async def test_legacy_rows_are_found_after_the_rebuild(tmp_path: Path) -> None:
    """Records of the existing FLO cloud join ``messages`` by receiver and id: the rows a
    legacy query answers, a tag on one of them and a repeated request read the same
    after migration 13."""
    import base64

    from flocloud.protocol.legacy import parse_write as parse_legacy
    from flocloud.protocol.legacy_query import parse_query
    from flocloud.storage.legacy import LegacyStore
    from legacy_client import sign_data, store_fields

    now = 1_700_000_000_000
    a, b = PrivateKey.from_secret(bytes([7] * 32)), PrivateKey.from_secret(bytes([8] * 32))
    query = parse_query({"receiverID": b.address, "application": "app"})

    def request(i: int) -> Any:
        doc = store_fields(a, b.address, now + i, base64.b64encode(b"%d" % i).decode(),
                           application="app", comment=str(i))  # fmt: skip
        return parse_legacy(doc, now, 60_000)

    def allow(*_: object) -> None:
        return None

    current = await SqliteStore.open(tmp_path / "current.sqlite3")
    legacy = LegacyStore(current)
    accepted = [
        await legacy.accept(request(i), now, quota_bytes=None, check=allow) for i in range(3)
    ]
    vc = accepted[0].row["vectorClock"]
    tag = {"receiverID": b.address, "requestorID": a.address, "pubKey": a.pubkey_hex,
           "time": now, "vectorClock": vc, "tag": "t"}  # fmt: skip
    tag["sign"] = sign_data(a, f"{now}|{vc}|t")
    await legacy.accept(parse_legacy(tag, now, 60_000), now, quota_bytes=None, check=allow)
    before = await legacy.query(query, 100)
    await current.close()
    as_schema_12(tmp_path / "current.sqlite3", tmp_path / "old.sqlite3", ahead=1)

    store = await SqliteStore.open(tmp_path / "old.sqlite3")
    try:
        again = LegacyStore(store)
        after = await again.query(query, 100)
        assert after == before and len(after) == 3
        assert next(r for r in after if r["vectorClock"] == vc)["tag"] == "t"
        dup = await again.accept(request(1), now + 5, quota_bytes=None, check=allow)
        assert dup.duplicate and dup.row == accepted[1].row and dup.dots == accepted[1].dots
    finally:
        await store.close()


async def test_a_store_another_connection_holds_migrates_in_wal_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The rebuild leaves WAL mode only when nobody else has the file open: with another
    connection on it (a backup, an inspection) it runs in WAL mode, says so, and the store
    opens migrated at once (SQLite refuses the switch without waiting for the lock)."""
    import logging
    import time

    envs, before = await old_store(tmp_path, ahead=1)
    other = sqlite3.connect(tmp_path / "old.sqlite3")
    other.execute("PRAGMA journal_mode=WAL").fetchall()
    other.execute("SELECT COUNT(*) FROM messages").fetchall()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="flocloud.storage"):
        store = await SqliteStore.open(tmp_path / "old.sqlite3")
    try:
        assert time.monotonic() - started < 10
        assert "runs in WAL mode" in caplog.text
        assert rows(tmp_path / "old.sqlite3") == before
        got = await store.records([(e.body.receiverID, e.id) for e in envs])
        assert len(got) == len(envs)
    finally:
        await store.close()
        other.close()
