"""SqliteStore on real files: group commit, cursor, migrations, derived state."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from flocloud.protocol.cursor import Cursor
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.errors import FlocloudError, NotFound, QuotaExceeded
from flocloud.protocol.fingerprint import Fingerprint, key_position
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from flocloud.protocol.writes import schema_object_name
from flocloud.storage.migrations import MIGRATIONS, migrate
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


A, B = key("a"), key("b")


async def test_group_commit_and_cursor(tmp_path: Path) -> None:
    """Concurrent writes share commits; seqs and dots are unique and the cursor pages them
    exactly."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(400)]
    results = await asyncio.gather(*(store.put(e, 5) for e in envs))
    assert store.commits < store.writes == 400
    seqs = [r.seq for r in results]
    assert len(set(seqs)) == 400
    sid = await store.store_id()
    assert sorted(r.dots for r in results) == sorted(((sid, i),) for i in range(1, 401))
    seen: list[int] = []
    after = Cursor()
    while True:
        page = await store.query(MessageFilter(B.address, after=after, limit=37))
        seen += [r.seq for r in page.records]
        assert page.cursor is not None
        after = page.cursor
        if not page.more:
            break
    assert seen == sorted(seqs)
    assert after.entries == ((sid, 400, ()),)
    # the log (replication reads it) continues exactly after a position
    log_rows = await store.log_since(seqs[9], 5)
    assert [row[0] for row in log_rows] == sorted(q for q in seqs if q > seqs[9])[:5]
    assert all(row[2] == B.address and row[3] is None for row in log_rows)
    stats = await store.stats()
    assert (stats.messages, stats.db_bytes > 0) == (400, True)
    await store.close()


async def test_cursor_is_exact_over_out_of_order_dots(tmp_path: Path) -> None:
    """Replicated writes arrive out of order, from two origins, one retried under two dots:
    a client following cursors, reading after each arrival, gets each write exactly once;
    a gap stops the frontier until it is filled; a filtered cursor stays compact."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    envs = [
        build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=i, application=app)
        for i, app in enumerate(["x", "y"] * 5)
    ]
    arrivals = [(0, ("o1", 2)), (1, ("o1", 1)), (2, ("o2", 1)), (3, ("o1", 4)), (4, ("o2", 2)),
                (5, ("o1", 3)), (6, ("o1", 5)), (7, ("o2", 3)), (8, ("o1", 6)), (9, ("o2", 4)),
                (3, ("o2", 9))]  # fmt: skip
    got: list[str] = []
    got_x: list[str] = []
    cursor, cursor_x = Cursor(), Cursor()
    for i, dot in arrivals:
        await store.put(envs[i], 5, origin="peer", dots=(dot,))
        page = await store.query(MessageFilter(B.address, after=cursor, limit=2))
        assert page.cursor is not None
        got += [r.id for r in page.records]
        cursor = page.cursor
        while page.more:
            page = await store.query(MessageFilter(B.address, after=cursor, limit=2))
            assert page.cursor is not None
            got += [r.id for r in page.records]
            cursor = page.cursor
        px = await store.query(MessageFilter(B.address, application="x", after=cursor_x))
        assert px.cursor is not None
        got_x += [r.id for r in px.records]
        cursor_x = px.cursor
    assert sorted(got) == sorted(e.id for e in envs) and len(got) == len(set(got))
    assert sorted(got_x) == sorted(e.id for e in envs[::2]) and len(got_x) == len(set(got_x))
    assert cursor.entries == (("o1", 6, ()), ("o2", 4, ()))  # o2:9 covered through o1:4
    # non-matching writes held here move the filtered frontier too: it stays compact
    assert cursor_x.entries == (("o1", 6, ()), ("o2", 4, ()))
    rec = (await store.records([(envs[3].body.receiverID, envs[3].id)]))[0]
    assert rec.dots == (("o1", 4), ("o2", 9))
    # a client that saw o2:9 elsewhere: this store cannot have what lies below it
    behind = await store.query(MessageFilter(B.address, after=Cursor().add([("o1", 7)])))
    assert behind.behind
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
    assert len((await store.query(MessageFilter(B.address))).records) == 2
    await store.close()


async def test_objects_tombstones_and_reopen(tmp_path: Path) -> None:
    """Derived objects and tombstones persist across a reopen; unknown parents and missing
    targets refuse."""
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
        payload={"name": "o", "patch": {"b": 2}, "parents": [reset.id]},
        time_ms=2,
        application="app",
        type="flocloud.object.patch",
    )
    unknown_parent = build_envelope(
        A,
        receiver=oid,
        payload={"name": "o", "patch": {"c": 3}, "parents": ["ab" * 32]},
        time_ms=3,
        application="app",
        type="flocloud.object.patch",
    )
    v1 = (await store.put(reset, 1)).version
    v2 = (await store.put(patch, 1)).version
    assert v1 == "1-" + reset.id[:24] and v2 == "2-" + patch.id[:24]
    with pytest.raises(NotFound):  # a client's write based on a version unknown here
        await store.put(unknown_parent, 1)
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
    assert obj is not None and (obj.version, obj.value) == (v2, {"a": 1, "b": 2})
    assert [c.version for c in await again.object_changes("app", "o", "0")] == [v1, v2]
    page = await again.query(MessageFilter(B.address, ids=(msg.id,), include_deleted=True))
    assert page.records[0].deleted
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
    recs = (
        await store.query(MessageFilter(B.address, ids=(msg.id,), include_deleted=True))
    ).records
    assert recs[0].deleted
    assert (await store.query(MessageFilter(B.address, ids=(msg.id,)))).records == []
    await store.close()


async def _digest_by_brute_force(store: SqliteStore) -> dict[str, tuple[int, int, int]]:
    out = {}
    for receiver, _, _ in await store.key_digests():
        recs = await store.records([(receiver, i) for i in await store.receiver_ids(receiver)])
        out[receiver] = tuple(Fingerprint.of_writes((r.id, r.dots) for r in recs).to_wire())
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
    stats = await store.stats()  # from the digests and quotas: equal to a count of rows
    count, size = await store.transact(
        lambda db: db.execute("SELECT COUNT(*), SUM(size) FROM messages").fetchone()
    )
    assert (stats.messages, stats.bytes) == (count, size) == (25, size)
    keys = [(e.body.receiverID, e.id) for e in (envs[12], envs[0])]
    assert [r.id for r in await store.records(keys)] == [envs[12].id]
    await store.close()

    db = sqlite3.connect(path)
    db.executescript(
        # undo migration 9 too (messages.kind, the legacy tables)
        "DROP TABLE legacy_rows; DROP TABLE legacy_changes; ALTER TABLE messages DROP COLUMN kind; "
        "DROP TABLE key_digest; DROP INDEX messages_by_receiver_id; "
        "ALTER TABLE messages DROP COLUMN fp1; ALTER TABLE messages DROP COLUMN fp2; "
        "CREATE INDEX messages_receiver ON messages(receiver, seq); "
        "CREATE INDEX messages_app_type ON messages(application, type, seq); "
        "CREATE INDEX messages_sender ON messages(sender, seq); "
        # back to migration 4's object tables too
        "DROP TABLE object_writes; DROP TABLE object_state; DROP TABLE paxos; "
        "CREATE TABLE objects (application TEXT NOT NULL, name TEXT NOT NULL, "
        "version INTEGER NOT NULL, kind TEXT NOT NULL, change TEXT NOT NULL, value TEXT NOT NULL, "
        "msg_id TEXT NOT NULL, PRIMARY KEY (application, name, version)); "
        "DROP TABLE dots; DROP TABLE dot_counters; DROP INDEX messages_by_receiver_seq; "
        "ALTER TABLE messages DROP COLUMN dots; "
        # and migration 13 (the id index, kseq, origin_seq, schemas.time)
        "ALTER TABLE messages ADD COLUMN origin_seq INTEGER; "
        "ALTER TABLE messages ADD COLUMN kseq INTEGER; UPDATE messages SET kseq = seq; "
        "CREATE UNIQUE INDEX messages_id ON messages(id); DROP INDEX messages_by_target; "
        "CREATE INDEX messages_target ON messages(target) WHERE target IS NOT NULL; "
        "ALTER TABLE schemas DROP COLUMN time; "
        "CREATE INDEX messages_receiver_kseq ON messages(receiver, kseq); "
        "PRAGMA user_version = 4;"
    )
    db.close()
    store = await SqliteStore.open(path)
    # migrations 5 and 6 rebuild the digests (6 numbers old writes under this store's id)
    migrated = {r: tuple(fp.to_wire()) for r, _, fp in await store.key_digests()}
    assert migrated == await _digest_by_brute_force(store)
    assert {r: d[0] for r, d in migrated.items()} == {r: d[0] for r, d in left.items()}
    sid = await store.store_id()
    recs = await store.records([(B.address, i) for i in await store.receiver_ids(B.address)])
    assert sorted(r.dots for r in recs) == [((sid, i),) for i in range(1, 21)]
    # id ranges of a key are summed inside SQLite, and agree with the ids
    ids = await store.receiver_ids(B.address)
    prefixes = ["", ids[0][:1], ids[0][:2], "x"]
    fps = await store.id_fingerprints(B.address, prefixes)
    dots = {r.id: r.dots for r in recs}
    assert fps == [
        Fingerprint.of_writes((i, dots[i]) for i in ids if i.startswith(p)) for p in prefixes
    ]
    assert (await store.id_fingerprints(B.address, [""], max_time=0))[0].count == 0
    assert await store.receiver_ids(B.address, max_time=0) == []
    await store.close()


async def test_a_drop_takes_every_dot_of_its_writes(tmp_path: Path) -> None:
    """Dots are found by ``messages.dots`` (migration 12 dropped the index by id): a
    dropped write loses each of its dots, its own and those a peer gave it later, and the
    other writes of its key keep theirs."""
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path)
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(6)]
    for e in envs:
        await store.put(e, 1)
    await store.put(envs[1], 1, origin="peer", dots=(("peer", 7), ("other", 2)))  # more dots
    await store.put(envs[4], 1, origin="peer", dots=(("peer", 8),))
    assert await store.drop(B.address, [envs[1].id, envs[2].id]) == 2
    await store.close()
    db = sqlite3.connect(path)
    rows = db.execute("SELECT origin, counter, id FROM dots ORDER BY id, origin, counter")
    held = {(str(o), int(c), str(i)) for o, c, i in rows}
    by_id = {i: {(o, c) for o, c, j in held if j == i} for i in {i for _, _, i in held}}
    assert set(by_id) == {envs[i].id for i in (0, 3, 4, 5)}
    assert ("peer", 8) in by_id[envs[4].id] and len(by_id[envs[4].id]) == 2
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name='dots_id'").fetchall()
    db.close()


async def test_checkpoints_run_off_the_writer(tmp_path: Path) -> None:
    """The writer's connection does not checkpoint; the checkpointer's thread does, and a
    store reopened after it closed holds every write (from the WAL or the file)."""
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path)
    store.checkpointer.interval = 0.05
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(300)]
    for chunk in range(0, 300, 50):
        await asyncio.gather(*(store.put(e, 1) for e in envs[chunk : chunk + 50]))
        await asyncio.sleep(0.06)
    for _ in range(100):
        if store.checkpointer.checkpoints:
            break
        await asyncio.sleep(0.05)
    assert store.checkpointer.checkpoints > 0
    assert (
        await store.transact(lambda db: db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0
    )
    await store.close()
    again = await SqliteStore.open(path)
    assert (await again.stats()).messages == 300
    await again.close()


async def test_the_wal_stays_bounded_under_continuous_writes(tmp_path: Path) -> None:
    """Writes that never pause, while the checkpointer copies: a PASSIVE checkpoint alone
    always leaves the frames written meanwhile behind, and the WAL would hold all that was
    ever written (about 11 frames a write here); past ``restart_frames`` a RESTART
    checkpoint lets it start again. While it runs nothing commits on the event loop."""
    path = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(path)
    ck = store.checkpointer
    ck.interval, ck.restart_frames = 0.05, 300
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(1500)]
    largest = 0
    for i, env in enumerate(envs):
        await store.put(env, 1)
        if i % 25 == 0:
            largest = max(largest, (tmp_path / "s.sqlite3-wal").stat().st_size // 4096)
            await asyncio.sleep(0.001)
    assert ck.restarts >= 2
    assert largest < 8000  # frames; without restarts ~16,000, with them ~3,000 here
    ck.restarting.set()  # as while a RESTART runs: a write alone goes to the writer thread
    inline = store.inline
    await store.put(build_envelope(A, receiver=B.address, payload="x", time_ms=1), 1)
    assert store.inline == inline
    ck.restarting.clear()
    await store.put(build_envelope(A, receiver=B.address, payload="y", time_ms=1), 1)
    assert store.inline == inline + 1
    await store.close()
    again = await SqliteStore.open(path)
    assert (await again.stats()).messages == 1502
    await again.close()


async def test_small_batches_commit_on_the_loop_in_order(tmp_path: Path) -> None:
    """A write alone commits on the event loop (``inline``), but never while the writer
    thread still has a batch handed to it before: then it waits its turn, and seqs follow
    the order of hand-over. With ``synchronous=FULL`` nothing is inline (the commit would
    wait for the disk on the loop). Both stores end with the same writes."""
    envs = [build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(60)]
    held = []
    for sync in ("NORMAL", "FULL"):
        store = await SqliteStore.open(tmp_path / f"{sync}.sqlite3", synchronous=sync)
        committed: list[int] = []  # on_commit sees writes in commit order, whichever thread
        store.on_commit = lambda recs, out=committed: out.extend(r.seq for r, _ in recs)
        alone = [await store.put(e, 1) for e in envs[:20]]
        assert store.inline == (20 if sync == "NORMAL" else 0)
        entered, gate = threading.Event(), threading.Event()

        def block(db: sqlite3.Connection, entered: Any = entered, gate: Any = gate) -> None:
            entered.set()
            gate.wait(10)

        blocker = asyncio.ensure_future(store.transact(block))  # never inline: the writer
        assert await asyncio.to_thread(entered.wait, 10)
        behind = asyncio.ensure_future(store.put(envs[20], 1))
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert not behind.done()  # queued behind the writer's batch, not run beside it
        gate.set()
        await blocker
        last = await behind
        assert last.seq > max(r.seq for r in alone)
        big = await asyncio.gather(*(store.put(e, 1) for e in envs[21:59]))  # the writer's
        after = await store.put(envs[59], 1)
        assert after.seq > max(r.seq for r in big)
        assert store.inline == (21 if sync == "NORMAL" else 0)
        assert store.commits < store.writes
        assert committed == sorted(committed) and len(committed) == 60
        held.append(sorted(r[1] for r in await store.log_since(0, 1000)))
        await store.close()
    assert held[0] == held[1] and len(held[0]) == 60


async def test_a_page_of_replicas_is_stored_in_order_each_refused_alone(tmp_path: Path) -> None:
    """``put_replicas``: plain messages, a second copy of one of them (a duplicate that
    learns the peer's dot), an object write and a delete addressed to another receiver than
    its target's, queued at once: each gets its own outcome, in page order, and a small
    page commits on the event loop like a write alone."""
    from flocloud.protocol.writes import parse_write

    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    try:
        m1 = build_envelope(A, receiver=B.address, payload={"i": 1}, time_ms=1)
        m2 = build_envelope(A, receiver=B.address, payload={"i": 2}, time_ms=2)
        oid = object_id("app", "o", REGTEST)
        reset = build_envelope(A, receiver=oid, payload={"name": "o", "value": {"a": 1}},
                               time_ms=3, application="app", type="flocloud.object.reset")  # fmt: skip
        sid = object_id("app", schema_object_name("message:x"), REGTEST)
        stray = build_envelope(A, receiver=sid, payload={"target": "message:x", "schema":
                               {"type": 5}}, time_ms=4, application="app",  # not a schema
                               type="flocloud.schema")  # fmt: skip
        page = [
            (m1, ("pa", 1)),
            (m2, ("pa", 2)),
            (m1, ("pb", 7)),
            (reset, ("pa", 3)),
            (stray, ("pa", 4)),
        ]
        out = await store.put_replicas(
            [(e, parse_write(e.body), (dot,)) for e, dot in page], 10, "oPeer"
        )
        assert [getattr(r, "duplicate", None) for r in out[:4]] == [False, False, True, False]
        assert out[2].dots == (("pa", 1), ("pb", 7))  # type: ignore[union-attr]
        assert isinstance(out[4], FlocloudError) and out[4].code == "bad-format"
        assert [r[1] for r in await store.log_since(0, 10)] == [m1.id, m2.id, reset.id]
        assert (await store.get_object("app", "o")) is not None
        small = await store.put_replicas([(m2, parse_write(m2.body), (("pc", 1),))], 10, "oPeer")
        assert store.inline >= 1 and small[0].duplicate  # type: ignore[union-attr]
    finally:
        await store.close()


async def _two_writes_told(tmp_path: Path) -> tuple[SqliteStore, list[str], Any, Any]:
    """A store on the per-write path whose commit listener records the ids it is told,
    and two writes to it."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3", batch_writes=False)
    told: list[str] = []
    store.on_commit = lambda recs: told.extend(r.id for r, _ in recs)
    first, second = (
        build_envelope(A, receiver=B.address, payload={"i": i}, time_ms=1) for i in range(2)
    )
    return store, told, first, second


async def test_a_write_rolled_back_is_never_told_to_the_commit_listeners(tmp_path: Path) -> None:
    """A write that fails after its record was noted for the listeners (``on_commit``:
    subscriptions, anti-entropy's digests) is rolled back and forgotten by them too; its
    neighbours in the batch are stored and told."""
    store, told, first, second = await _two_writes_told(tmp_path)
    real = store._put_alone

    def fails_late(env: Any, *args: Any) -> Any:  # the second: stored, noted, then fails
        result = real(env, *args)
        if env.id == second.id:
            raise NotFound("failed after the record was noted")
        return result

    store._put_alone = fails_late  # type: ignore[method-assign]
    results = await asyncio.gather(
        store.put(first, 5), store.put(second, 5), return_exceptions=True
    )
    assert store.commits == 1  # one batch
    assert isinstance(results[1], NotFound) and not isinstance(results[0], BaseException)
    assert told == [first.id]
    assert [r.id for r in (await store.query(MessageFilter(B.address))).records] == [first.id]
    await store.close()


async def test_a_batch_sqlite_rolled_back_by_itself_is_refused_whole(tmp_path: Path) -> None:
    """SQLite may roll a transaction back by itself (a full disk, an I/O error): then no
    write of the batch is stored, and none is acked or told to the commit listeners,
    however far the batch got (it was taken for committed when the failure came after
    BEGIN)."""
    store, told, first, second = await _two_writes_told(tmp_path)
    real = store._put_alone

    def rolls_back(env: Any, *args: Any) -> Any:  # as SQLite does on SQLITE_FULL
        result = real(env, *args)
        if env.id == second.id:
            next(a for a in args if isinstance(a, sqlite3.Connection)).execute("ROLLBACK")
        return result

    store._put_alone = rolls_back  # type: ignore[method-assign]
    results = await asyncio.gather(
        store.put(first, 5), store.put(second, 5), return_exceptions=True
    )
    assert all(isinstance(r, FlocloudError) and r.code == "unavailable" for r in results), results
    assert told == []
    store._put_alone = real  # type: ignore[method-assign]
    assert (await store.query(MessageFilter(B.address))).records == []
    await store.close()
