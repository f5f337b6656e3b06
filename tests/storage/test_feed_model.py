"""The real ``SqliteStore`` against the reference model ``flocloud.replication.feed``.

The simulator (``tests/sim``) runs ``MemoryStore``; this test runs the same random
operation sequences on both (client puts, replica puts with given dots, out of order,
duplicates, second dots, deletes/tags/notes before and after their target, hand-off
drops) and asks both the same filtered, limited queries from the same cursors: the
answers (ids, ``more``, cursor token, the ``lacking`` dots) and every held field must be
equal, and so must the writes each serves for a set of lacking dots (``holding``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flocloud.protocol.cursor import Cursor, Dot
from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.replication.feed import Held, MemoryStore, Refused, Write
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter

SENDER = PrivateKey(hashlib.sha256(b"feed-model-sender").digest(), REGTEST)
RECEIVERS = [
    PrivateKey(hashlib.sha256(f"feed-r{i}".encode()).digest(), REGTEST).address for i in range(2)
]
APPS = ["a1", "a2"]
TYPES = ["t1", "t2"]
ORIGINS = ["aa", "bb"]  # other stores' ids (never this store's own)
N_MSG = 12


@functools.cache
def message(i: int) -> tuple[Envelope, Write]:
    r, app, typ = RECEIVERS[i % 2], APPS[(i // 2) % 2], TYPES[(i // 4) % 2]
    env = build_envelope(
        SENDER, receiver=r, payload={"i": i}, time_ms=1000 + i, application=app, type=typ
    )
    return env, Write(env.id, r, app, typ, time=1000 + i)


@functools.cache
def about(kind: str, target: int, value: str | None, receiver: int) -> tuple[Envelope, Write]:
    tid = message(target)[0].id
    payload: dict[str, Any] = {"id": tid}
    if kind != "delete":
        payload[kind] = value
    r = RECEIVERS[receiver]
    env = build_envelope(
        SENDER, receiver=r, payload=payload, time_ms=5000, application="a1", type=f"flocloud.{kind}"
    )
    return env, Write(env.id, r, "a1", f"flocloud.{kind}", kind, tid, value, time=5000)


dots_st = st.lists(st.tuples(st.sampled_from(ORIGINS), st.integers(1, 6)), min_size=1, max_size=2)
writes_st = st.one_of(
    st.integers(0, N_MSG - 1).map(message),
    st.integers(0, N_MSG - 1).map(message),
    st.builds(about, st.sampled_from(["delete", "tag", "note"]), st.integers(0, 3),
              st.sampled_from([None, "x", "y"]), st.integers(0, 1)),
)  # fmt: skip
put_st = st.tuples(st.just("put"), writes_st, st.one_of(st.none(), st.none(), dots_st))
query_st = st.tuples(
    st.just("query"),
    st.integers(0, 1),  # receiver
    st.none() | st.sampled_from(APPS),
    st.none() | st.sampled_from(TYPES),
    st.integers(1, 5),  # limit
    st.booleans(),  # include deleted
    st.sampled_from([0, 0, 1, 1, 2]),  # which cursor: a followed one, or made of random dots
    st.lists(st.tuples(st.sampled_from([*ORIGINS, "me"]), st.integers(1, 8)), max_size=4),
)
drop_st = st.tuples(
    st.just("drop"), st.integers(0, 1), st.lists(st.integers(0, N_MSG - 1), max_size=3)
)
ops_st = st.lists(
    st.integers(0, 9).flatmap(lambda k: put_st if k < 5 else query_st if k < 9 else drop_st),
    min_size=10,
    max_size=50,
)


def _real_state(rec: Any) -> tuple[str, tuple[Dot, ...], bool, tuple[str, ...], str | None]:
    return (rec.id, tuple(sorted(rec.dots)), rec.deleted, rec.tags, rec.note)


async def _run(ops: list[Any], tmp: Path) -> None:
    real = await SqliteStore.open(tmp / "s.sqlite3")
    sid = await real.store_id()
    model = MemoryStore(sid)
    cursors: dict[int, Cursor] = {0: Cursor(), 1: Cursor()}
    try:
        for op in ops:
            if op[0] == "put":
                _, (env, w), dots = op
                origin = None if dots is None else "peer"
                given = None if dots is None else tuple(sorted(set(dots)))
                try:
                    m = model.put(w, given, origin)
                except Refused as exc:
                    try:
                        await real.put(env, 7, origin=origin, dots=given)
                    except FlocloudError as err:
                        assert err.code == exc.code
                    else:
                        raise AssertionError(f"the store took what the model refused: {exc}")
                    continue
                r = await real.put(env, 7, origin=origin, dots=given)
                assert (tuple(sorted(r.dots)), r.duplicate) == (m.dots, m.duplicate)
            elif op[0] == "drop":
                _, ri, idx = op
                ids = [message(i)[0].id for i in idx]
                assert await real.drop(RECEIVERS[ri], ids) == model.drop(RECEIVERS[ri], ids)
            else:
                _, ri, app, typ, limit, incl, which, rdots = op
                if which < 2:
                    cur = cursors[which]
                else:
                    cur = Cursor().add((sid if o == "me" else o, c) for o, c in rdots)
                f = MessageFilter(
                    RECEIVERS[ri], application=app, type=typ, after=cur, limit=limit,
                    include_deleted=incl,
                )  # fmt: skip

                def match(h: Held, app: str | None = app, typ: str | None = typ) -> bool:
                    return (app is None or h.write.application == app) and (
                        typ is None or h.write.type == typ
                    )

                got = await real.query(f)
                want = model.query(RECEIVERS[ri], cur, limit, match, incl)
                assert [r.id for r in got.records] == [h.id for h in want.records]
                assert [_real_state(r) for r in got.records] == [h.state() for h in want.records]
                assert got.more == want.more
                assert got.cursor is not None and got.cursor.encode() == want.cursor.encode()
                assert got.lacking == want.lacking
                assert got.lacking == await real.lacking(RECEIVERS[ri], cur)
                ranges = [(sid if o == "me" else o, c, c + 2) for o, c in rdots]
                served = await real.holding(RECEIVERS[ri], ranges, 3)
                expect = model.holding(RECEIVERS[ri], ranges, 3)
                assert sorted(r.id for r in served) == sorted(h.id for h in expect)
                if which < 2 and app is None and typ is None:
                    cursors[which] = got.cursor
        for r in RECEIVERS:
            page = await real.query(MessageFilter(r, limit=1000, include_deleted=True))
            assert sorted(_real_state(x) for x in page.records) == model.state(r)
    finally:
        await real.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops_st)
def test_sqlite_store_answers_like_the_model(ops: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(ops, Path(tmp)))
