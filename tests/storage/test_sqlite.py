"""SqliteStore on real files: group commit, cursor, migrations, derived state."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.errors import NotFound, QuotaExceeded, VersionConflict
from flocloud.protocol.fingerprint import Fingerprint, key_position
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from flocloud.storage.migrations import MIGRATIONS, migrate
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


A, B = key("a"), key("b")


async def test_group_commit_and_cursor(tmp_path: Path) -> None:
    """Concurrent writes share commits; seqs are unique and the cursor pages them exactly."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(400)]
    results = await asyncio.gather(*(store.put(e, 5) for e in envs))
    assert store.commits < store.writes == 400
    seqs = [r.seq for r in results]
    assert len(set(seqs)) == 400
    seen: list[int] = []
    after = 0
    while True:
        recs, more = await store.query(MessageFilter(B.address, after=after, limit=37))
        seen += [r.seq for r in recs]
        if not more:
            break
        after = recs[-1].seq
    assert seen == sorted(seqs)
    # the log (replication reads it) continues exactly after a position
    log_rows = await store.log_since(seqs[9], 5)
    assert [row[0] for row in log_rows] == sorted(q for q in seqs if q > seqs[9])[:5]
    assert all(row[2] == B.address and row[3] is None for row in log_rows)
    stats = await store.stats()
    assert (stats.messages, stats.db_bytes > 0) == (400, True)
    await store.close()


async def test_refused_write_does_not_disturb_its_batch(tmp_path: Path) -> None:
    """A write refused inside a batch (quota) leaves the others committed."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    big = [build_envelope(A, receiver=B.address, payload="x" * 600, time_ms=i) for i in range(5)]
    results = await asyncio.gather(
        *(store.put(e, 5, quota_bytes=2000) for e in big), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    assert len(ok) == 2 and all(
        isinstance(r, QuotaExceeded) for r in results if isinstance(r, BaseException)
    )
    assert len((await store.query(MessageFilter(B.address)))[0]) == 2
    await store.close()


async def test_objects_tombstones_and_reopen(tmp_path: Path) -> None:
    """Derived objects and tombstones persist across a reopen; CAS and missing targets refuse."""
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path)
    oid = object_id("app", "o", REGTEST)
    reset = build_envelope(
        A,
        receiver=oid,
        payload={"name": "o", "value": {"a": 1}},
        time_ms=1,
        application="app",
        type="flocloud.object.reset",
    )
    patch = build_envelope(
        A,
        receiver=oid,
        payload={"name": "o", "patch": {"b": 2}, "expected_version": 1},
        time_ms=2,
        application="app",
        type="flocloud.object.patch",
    )
    stale = build_envelope(
        A,
        receiver=oid,
        payload={"name": "o", "patch": {"c": 3}, "expected_version": 1},
        time_ms=3,
        application="app",
        type="flocloud.object.patch",
    )
    assert (await store.put(reset, 1)).version == 1
    assert (await store.put(patch, 1)).version == 2
    with pytest.raises(VersionConflict):
        await store.put(stale, 1)
    msg = build_envelope(A, receiver=B.address, payload=1, time_ms=4)
    await store.put(msg, 1)
    await store.put(
        build_envelope(
            B, receiver=B.address, payload={"id": msg.id}, time_ms=5, type="flocloud.delete"
        ),
        1,
    )
    with pytest.raises(NotFound):
        await store.put(
            build_envelope(
                B, receiver=B.address, payload={"id": "ab" * 32}, time_ms=6, type="flocloud.delete"
            ),
            1,
        )
    await store.close()
    again = await SqliteStore.open(path)
    obj = await again.get_object("app", "o")
    assert obj is not None and (obj.version, obj.value) == (2, {"a": 1, "b": 2})
    assert [c.version for c in await again.object_changes("app", "o", 0)] == [1, 2]
    recs, _ = await again.query(MessageFilter(B.address, ids=(msg.id,), include_deleted=True))
    assert recs[0].deleted
    assert (await again.put(msg, 9)).duplicate
    await again.close()


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    """Migrating an empty file reaches the latest version; migrating again changes nothing."""
    db = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    assert migrate(db) == len(MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.execute("PRAGMA user_version = 99")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(db)


async def test_tombstone_before_target_from_a_peer(tmp_path: Path) -> None:
    """A replicated tombstone may arrive before its target: the target is stored deleted."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    msg = build_envelope(A, receiver=B.address, payload="to delete", time_ms=1)
    tomb = build_envelope(
        B, receiver=B.address, payload={"id": msg.id}, time_ms=2, type="flocloud.delete"
    )
    await store.put(tomb, 1, origin="peer-node")
    await store.put(msg, 1, origin="peer-node")
    recs, _ = await store.query(MessageFilter(B.address, ids=(msg.id,), include_deleted=True))
    assert recs[0].deleted
    assert (await store.query(MessageFilter(B.address, ids=(msg.id,))))[0] == []
    await store.close()


async def _digest_by_brute_force(store: SqliteStore) -> dict[str, tuple[int, int, int]]:
    out = {}
    for receiver, _, _ in await store.key_digests():
        ids = await store.receiver_ids(receiver)
        out[receiver] = tuple(Fingerprint.of(ids).to_wire())
    return out


async def test_key_digests_follow_puts_and_drops(tmp_path: Path) -> None:
    """The per-key fingerprint is kept by the writer: it equals the fingerprint of the
    stored ids after puts and drops; a drop takes derived object versions with it, and a
    key with nothing left has no digest. Migration 5 rebuilds the same digests."""
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path)
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(30)]
    envs += [build_envelope(B, receiver=A.address, payload={"j": i}, time_ms=1) for i in range(5)]
    for e in envs:
        await store.put(e, 1)
    oid = object_id("app", "doc", REGTEST)
    obj = build_envelope(
        A, receiver=oid, application="app", type="flocloud.object.reset",
        payload={"name": "doc", "value": {"x": 1}}, time_ms=1,
    )  # fmt: skip
    await store.put(obj, 1)
    digests = {r: (k, tuple(fp.to_wire())) for r, k, fp in await store.key_digests()}
    assert set(digests) == {A.address, B.address, oid}
    assert digests[B.address][0] == key_position(B.address)
    assert {r: d[1] for r, d in digests.items()} == await _digest_by_brute_force(store)
    prefix = key_position(B.address)[:3]
    under = await store.key_digests(prefix)
    assert B.address in {r for r, _, _ in under}
    assert all(k.startswith(prefix) for _, k, _ in under) and len(under) < 3

    assert await store.drop(B.address, [e.id for e in envs[:10]] + ["0" * 64]) == 10
    assert await store.drop(oid, [obj.id]) == 1
    assert await store.get_object("app", "doc") is None
    assert oid not in {r for r, _, _ in await store.key_digests()}
    left = {r: tuple(fp.to_wire()) for r, _, fp in await store.key_digests()}
    assert left == await _digest_by_brute_force(store)
    assert left[B.address][0] == 20
    assert [r.id for r in await store.records([envs[12].id, envs[0].id])] == [envs[12].id]
    await store.close()

    db = sqlite3.connect(path)
    db.executescript(
        # legacy: undo migration 6 too (messages.kind, the legacy tables)
        "DROP TABLE legacy_rows; DROP TABLE legacy_changes; ALTER TABLE messages DROP COLUMN kind; "
        "DROP TABLE key_digest; DROP INDEX messages_receiver_id; "
        "ALTER TABLE messages DROP COLUMN fp1; ALTER TABLE messages DROP COLUMN fp2; "
        "CREATE INDEX messages_receiver ON messages(receiver, seq); "
        "CREATE INDEX messages_app_type ON messages(application, type, seq); "
        "CREATE INDEX messages_sender ON messages(sender, seq); "
        "PRAGMA user_version = 4;"
    )
    db.close()
    store = await SqliteStore.open(path)
    assert {r: tuple(fp.to_wire()) for r, _, fp in await store.key_digests()} == left
    # id ranges of a key are summed inside SQLite, and agree with the ids
    ids = await store.receiver_ids(B.address)
    prefixes = ["", ids[0][:1], ids[0][:2], "x"]
    fps = await store.id_fingerprints(B.address, prefixes)
    assert fps == [Fingerprint.of(i for i in ids if i.startswith(p)) for p in prefixes]
    assert (await store.id_fingerprints(B.address, [""], max_time=0))[0].count == 0
    assert await store.receiver_ids(B.address, max_time=0) == []
    await store.close()
