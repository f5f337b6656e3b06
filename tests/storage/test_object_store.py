"""Derived state on real SQLite files is a function of the set of writes: objects (in any
arrival order, parents late included), schemas, tags and notes; drops refold."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objectlog import ObjectOp, fold
from flocloud.protocol.objects import canonical, object_id
from flocloud.protocol.params import REGTEST
from flocloud.protocol.writes import parse_write, schema_object_name
from flocloud.storage.migrations import MIGRATIONS
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


A, B = key("a"), key("b")
OID = object_id("app", "doc", REGTEST)


def write(kind: str, payload: dict[str, Any], parents: list[Envelope], t: int) -> Envelope:
    return build_envelope(
        A, receiver=OID, application="app", type=f"flocloud.object.{kind}", time_ms=t,
        payload={"name": "doc", **payload, "parents": sorted(p.id for p in parents)},
    )  # fmt: skip


def history() -> list[Envelope]:
    root = write("reset", {"value": {"items": [1, 2, 3], "title": "t"}}, [], 10)
    rm = write("list", {"op": "remove", "path": ["items"], "item": 1}, [root], 20)
    add = write("list", {"op": "append", "path": ["items"], "item": 4}, [root], 20)
    p1 = write("patch", {"patch": {"title": "A", "a": True}}, [root], 30)
    p2 = write("patch", {"patch": {"title": "B", "b": 1.0}}, [root], 25)
    merge = write("patch", {"patch": {"n": None, "m": [None]}}, [rm, add, p1, p2], 40)
    late = write("reset", {"value": "concurrent reset"}, [], 5)  # folded first: root wins
    after = write("list", {"op": "prepend", "path": ["items"], "item": 0}, [merge], 50)
    return [root, rm, add, p1, p2, merge, late, after]


async def _state(store: SqliteStore) -> tuple[Any, ...]:
    obj = await store.get_object("app", "doc")
    assert obj is not None
    changes = await store.object_changes("app", "doc", "0")
    return obj.version, canonical(obj.value), obj.heads, [(c.id, c.version) for c in changes]


async def test_any_arrival_order_gives_the_same_object(tmp_path: Path) -> None:
    """Replicas that got the same writes in different orders (children before parents
    too) hold the same version, value and history, and it is the pure fold of the set."""
    envs = history()
    orders = [envs, envs[::-1], *(random.Random(s).sample(envs, len(envs)) for s in range(4))]
    states = []
    for i, order in enumerate(orders):
        store = await SqliteStore.open(tmp_path / f"r{i}.sqlite3")
        for e in order:
            await store.put(e, 1, origin="peer")  # as a replica: pending parents are kept
        states.append(await _state(store))
        await store.close()
    assert all(s == states[0] for s in states)
    ops = []
    for e in envs:
        w = parse_write(e.body)
        ops.append(ObjectOp(e.id, e.body.time, w.parents, w.kind, w.change))  # type: ignore[union-attr]
    f = fold(ops)
    assert states[0][0] == f.version and states[0][1] == canonical(f.value)
    assert f.value["items"] == [0, 2, 3, 4] and f.value["title"] == "A"


async def test_pending_write_applies_when_its_parent_arrives(tmp_path: Path) -> None:
    """A replica keeps a write whose parent it lacks, and folds it in when the parent comes;
    an old version is still readable and its diff to now is exact."""
    root, rm, *_ = history()
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    await store.put(rm, 1, origin="peer")
    assert await store.get_object("app", "doc") is None
    v2 = (await store.put(root, 1, origin="peer")).version  # the pending write folds in too
    v1 = "1-" + root.id[:24]
    now = await store.get_object("app", "doc")
    assert now is not None and now.version == v2 == "2-" + rm.id[:24]
    assert now is not None and now.value == {"items": [2, 3], "title": "t"} and now.count == 2
    old = await store.get_object("app", "doc", v1)
    assert old is not None and old.value == {"items": [1, 2, 3], "title": "t"}
    assert [c.id for c in await store.object_changes("app", "doc", v1)] == [rm.id]
    assert await store.drop(OID, [rm.id]) == 1
    back = await store.get_object("app", "doc")
    assert back is not None and back.version == v1
    await store.close()


async def test_schemas_tags_notes_do_not_depend_on_arrival(tmp_path: Path) -> None:
    """The latest (time, id) schema and note win, tags keep (time, id) order, whatever
    order the writes came in, tags and notes before their target included."""
    target = "message:order"
    sid = object_id("app", schema_object_name(target), REGTEST)

    def schema(t: int, minimum: int) -> Envelope:
        return build_envelope(A, receiver=sid, application="app", type="flocloud.schema",
                              payload={"target": target, "schema": {"minimum": minimum}},
                              time_ms=t)  # fmt: skip

    msg = build_envelope(A, receiver=B.address, payload="m", time_ms=1)

    def about(kind: str, value: str, t: int) -> Envelope:
        return build_envelope(A, receiver=B.address, type=f"flocloud.{kind}", time_ms=t,
                              payload={"id": msg.id, kind: value})  # fmt: skip

    writes = [schema(5, 1), schema(9, 2), schema(7, 3), about("tag", "x", 3),
              about("tag", "y", 2), about("note", "old", 2), about("note", "new", 4), msg]  # fmt: skip
    seen = set()
    for i, order in enumerate(itertools.islice(itertools.permutations(writes), 0, 40000, 9973)):
        store = await SqliteStore.open(tmp_path / f"p{i}.sqlite3")
        for e in order:
            await store.put(e, 1, origin="peer")
        rec = (await store.query(MessageFilter(B.address, ids=(msg.id,)))).records[0]
        seen.add(((await store.schemas("app"))[target]["minimum"], rec.tags, rec.note))
        await store.close()
    assert seen == {(2, ("y", "x"), "new")}


async def test_old_objects_migrate_and_fold_like_a_fresh_replica(tmp_path: Path) -> None:
    """A store of the integer-version era (migration 5, table ``objects``) opens with the
    same object value; a new replica that gets those old envelopes folds them the same."""
    from flocloud.protocol.fingerprint import id_parts
    from flocloud.storage.migrations import register_functions

    old = [
        build_envelope(A, receiver=OID, application="app", type="flocloud.object.reset",
                       payload={"name": "doc", "value": {"a": 1}}, time_ms=10),
        build_envelope(A, receiver=OID, application="app", type="flocloud.object.patch",
                       payload={"name": "doc", "patch": {"b": 2}, "expected_version": 1}, time_ms=20),
        build_envelope(A, receiver=OID, application="app", type="flocloud.object.patch",
                       payload={"name": "doc", "patch": {"a": None}, "expected_version": 2}, time_ms=30),
    ]  # fmt: skip
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    register_functions(db)
    for m in MIGRATIONS[:5]:
        for statement in m.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("PRAGMA user_version = 5")
    values = [{"a": 1}, {"a": 1, "b": 2}, {"b": 2}]
    for n, (e, value) in enumerate(zip(old, values, strict=True), start=1):
        p1, p2 = id_parts(e.id)
        db.execute(
            "INSERT INTO messages (id, receiver, sender, application, type, time, received_ms, "
            "body, pubkey, sign, size, kseq, fp1, fp2) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (e.id, OID, A.address, "app", e.body.type, e.body.time, 1, e.body_text,
             e.pubkey.hex(), e.signature.hex(), 10, n, p1, p2),
        )  # fmt: skip
        w = parse_write(e.body)
        db.execute(
            "INSERT INTO objects VALUES (?,?,?,?,?,?,?)",
            ("app", "doc", n, w.kind, json.dumps(w.change), json.dumps(value), e.id),  # type: ignore[union-attr]
        )
    db.close()
    store = await SqliteStore.open(path)
    migrated = await store.get_object("app", "doc")
    assert migrated is not None and migrated.value == {"b": 2} and migrated.count == 3
    await store.close()
    fresh = await SqliteStore.open(tmp_path / "fresh.sqlite3")
    for e in reversed(old):
        await fresh.put(e, 1, origin="peer")
    again = await fresh.get_object("app", "doc")
    assert again is not None and (again.version, again.value) == (migrated.version, {"b": 2})
    await fresh.close()


async def test_successor_says_which_write_follows_a_version(tmp_path: Path) -> None:
    """What a strict object's acceptor reads of its store (``objects.successor``): the
    write after each version in the fold, nothing after the newest, and "unknown" for a
    version the store does not hold yet (a lagging or replaced store abstains)."""
    from flocloud.storage import objects as objstore

    root = write("reset", {"value": 1}, [], 10)
    second = write("patch", {"patch": {"n": 2}}, [root], 20)
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    try:

        def after(version: str) -> Any:
            return store.read(lambda db: objstore.successor(db, "app", "doc", version))

        assert await after("0") == (True, None)  # an empty store knows "0", nothing after
        await store.put(root, 1, origin="peer")
        v1 = (await store.get_object("app", "doc")).version  # type: ignore[union-attr]
        assert await after("0") == (True, root.id)
        assert await after(v1) == (True, None)
        v2_unknown = f"2-{second.id[:24]}"
        assert await after(v2_unknown) == (False, None)
        await store.put(second, 1, origin="peer")
        assert await after(v1) == (True, second.id)
        assert await after(v2_unknown) == (True, None)
    finally:
        await store.close()


async def test_a_store_knows_when_it_was_created_and_what_it_recovered(tmp_path: Path) -> None:
    """Young stores (docs §5.6): a new store records its creation time once (reopening
    keeps it); a store that held writes before migration 11 counts as old (0). The mark
    of an instance the acceptor recovered is stored with its state and never taken back."""
    import time

    from flocloud.protocol.paxos import AcceptorState
    from flocloud.storage import objects as objstore

    before = int(time.time() * 1000)
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    created = store.created_ms
    assert before <= created <= int(time.time() * 1000)
    await store.put(write("reset", {"value": 1}, [], 10), 1, origin="peer")
    state = AcceptorState((2, "p"), (2, "p"), ("w", {"x": 1}))

    def recovered() -> Any:
        return store.read(lambda db: objstore.acceptor_recovered(db, "app", "doc", "0"))

    assert await recovered() is False
    await store.transact(lambda db: objstore.acceptor_save(db, "app", "doc", "0", state))
    assert await recovered() is False
    await store.transact(
        lambda db: objstore.acceptor_save(db, "app", "doc", "0", state, recovered=True)
    )
    await store.transact(lambda db: objstore.acceptor_save(db, "app", "doc", "0", state))
    assert await recovered() is True
    assert await store.read(lambda db: objstore.acceptor_load(db, "app", "doc", "0")) == state
    await store.close()
    again = await SqliteStore.open(tmp_path / "s.sqlite3")
    assert again.created_ms == created
    await again.close()
    # a store of schema 10 with writes in it, brought to 11: old
    db = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    db.execute("DELETE FROM meta WHERE key = 'created_ms'")
    for statement in MIGRATIONS[10].split(";"):  # migration 11 (the later ones are not
        if statement.strip():  # written to run twice)
            db.execute(statement)
    db.close()
    upgraded = await SqliteStore.open(tmp_path / "s.sqlite3")
    assert upgraded.created_ms == 0
    await upgraded.close()
