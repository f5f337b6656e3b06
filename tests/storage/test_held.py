"""The held cursor kept in memory (``storage/held.py``) equals the scan of ``dots``
(``dots.held_cursor``) after random writes, replicated arrivals, second dots, legacy
records, refused writes, drops and evictions, on a real store."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.cursor import Cursor
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.errors import BadFormat
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.legacy import make_record, parse_write, vector_clock
from flocloud.protocol.params import REGTEST, TESTNET
from flocloud.storage.dots import held_cursor, merge_dots
from flocloud.storage.held import HeldCursors, Runs, runs_of
from flocloud.storage.legacy import LegacyStore
from flocloud.storage.sqlite import SqliteStore
from legacy_client import store_fields

NOW = 1_700_000_000_000


def key(label: str, params: Any = REGTEST) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), params)


SENDER = key("sender")
LEGACY_SENDER = key("sender", TESTNET)
RECEIVERS = [key(f"r{i}", TESTNET).address for i in range(4)]
ORIGINS = ["o1", "o2", "o3"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=120))
def test_runs_follow_a_set(ops: list[tuple[bool, int]]) -> None:
    r, held, n = Runs(), set(), 0
    for gone, c in ops:
        n += r.remove(c) if gone else r.add(c)
        (held.discard if gone else held.add)(c)
        assert [c for a, b in r.pairs() for c in range(a, b + 1)] == sorted(held)
        assert n == len(r.starts) and all(
            a > b + 1 for (a, _), (_, b) in zip(r.pairs()[1:], r.pairs()[:-1], strict=True)
        )
    by, m = runs_of(("o", c) for c in sorted(held))
    assert m == n and (by["o"].pairs() if held else []) == r.pairs()


async def fresh(store: SqliteStore, receiver: str) -> Cursor:
    result: Cursor = await store.read(lambda db: held_cursor(db, receiver))
    return result


async def check_all(store: SqliteStore) -> None:
    for r in RECEIVERS:
        assert await store.held_cursor(r) == await fresh(store, r), r


def legacy_request(receiver: str, i: int) -> Any:
    doc = store_fields(LEGACY_SENDER, receiver, NOW, base64.b64encode(str(i).encode()).decode(),
                       application="app", comment=str(i))  # fmt: skip
    return parse_write(doc, NOW, 60_000)


def allow(*_: Any) -> None:
    return None


async def random_step(rnd: random.Random, store: SqliteStore, legacy: LegacyStore, n: int) -> None:
    r = rnd.choice(RECEIVERS)
    what = rnd.choice(["client", "replica", "replica", "second", "legacy", "legacy-replica",
                       "refused", "drop", "concurrent"])  # fmt: skip
    env = build_envelope(SENDER, receiver=r, payload={"n": n}, time_ms=n)
    if what == "client":
        await store.put(env, 5)
    elif what == "replica":  # a peer's dots, gaps and taken dots included
        dots = tuple({(rnd.choice(ORIGINS), rnd.randint(1, 60)) for _ in range(rnd.randint(1, 2))})
        await store.put(env, 5, origin="peer", dots=dots)
    elif what == "second":  # a stored write learns another dot
        ids = await store.receiver_ids(r)
        if ids:
            rec = (await store.records([(r, rnd.choice(ids))]))[0]
            if rec.kind is None:
                extra = (rnd.choice(ORIGINS), rnd.randint(1, 60))
                [old] = [e for e in ENVS if e.id == rec.id]
                await store.put(old, 5, origin="peer", dots=(*rec.dots, extra))
    elif what == "legacy":
        await legacy.accept(legacy_request(r, n), NOW + n, quota_bytes=None, check=allow)
    elif what == "legacy-replica":
        rec = make_record(legacy_request(r, n), NOW + n, vector_clock=vector_clock(NOW + n, "x"))
        dots = ((rnd.choice(ORIGINS), rnd.randint(1, 60)),) if rnd.random() < 0.7 else None
        await legacy.store_replica(rec, 5, origin="peer", dots=dots, check=allow)
    elif what == "refused":  # dots inserted, then the write is refused: rolled back
        counter = rnd.randint(1, 9)

        def op(db: sqlite3.Connection) -> None:
            merge_dots(db, r, "f" * 64, [("o9", counter)])
            raise BadFormat("refused")

        with pytest.raises(BadFormat):
            await store.transact(op)
        held = await store.read(
            lambda db: db.execute(
                "SELECT id FROM dots WHERE receiver=? AND origin='o9' AND counter=?", (r, counter)
            ).fetchall()
        )
        assert ("f" * 64,) not in held  # rolled back
    elif what == "drop":  # hand-off: some or all of the key's writes
        ids = await store.receiver_ids(r)
        await store.drop(r, rnd.sample(ids, rnd.randint(0, len(ids))))
    else:  # a batch of several writes, read while they commit
        envs = [build_envelope(SENDER, receiver=rr, payload={"n": n, "k": k}, time_ms=n)
                for k, rr in enumerate(rnd.choices(RECEIVERS, k=6))]  # fmt: skip
        ENVS.extend(envs)
        puts = [store.put(e, 5, origin="peer", dots=((rnd.choice(ORIGINS), rnd.randint(1, 80)),))
                for e in envs]  # fmt: skip
        await asyncio.gather(*puts, *(store.held_cursor(x) for x in RECEIVERS))
    ENVS.append(env)


ENVS: list[Any] = []


async def test_held_cursor_equals_a_fresh_scan(tmp_path: Path) -> None:
    """Seeded random sequences; a small cache (evictions) and the default one."""
    for seed, small in ((1, True), (2, False), (3, True)):
        ENVS.clear()
        rnd = random.Random(seed)
        store = await SqliteStore.open(tmp_path / f"{seed}.sqlite3")
        if small:
            store.held = HeldCursors(
                max_inboxes=2, max_runs=12, max_entry_runs=8, max_batch_changes=3
            )
        legacy = LegacyStore(store)
        for n in range(150):
            await random_step(rnd, store, legacy, n)
            await check_all(store)
            assert len(store.held) <= store.held.max_inboxes
            assert store.held.runs <= store.held.max_runs
        assert store.held.hits > 0
        await store.close()
        # a replaced store object (a restart) starts empty and builds the same
        again = await SqliteStore.open(tmp_path / f"{seed}.sqlite3")
        assert len(again.held) == 0
        await check_all(again)
        await again.close()


async def test_sparse_and_folded_cursor(tmp_path: Path) -> None:
    """Many exceptions (a lost dot below them) fold the same way from memory."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    r = RECEIVERS[0]
    assert await store.held_cursor(r) == Cursor()  # built empty, then kept up to date
    envs = [build_envelope(SENDER, receiver=r, payload={"i": i}, time_ms=i) for i in range(700)]
    await asyncio.gather(
        *(store.put(e, 5, origin="p", dots=(("o1", 2 + i),)) for i, e in enumerate(envs))
    )
    got = await store.held_cursor(r)
    assert got == await fresh(store, r) and got.entries[0][1] > 0  # folded
    await store.drop(r, [envs[i].id for i in range(0, 700, 7)])
    assert await store.held_cursor(r) == await fresh(store, r)
    await store.drop(r, await store.receiver_ids(r))
    assert await store.held_cursor(r) == Cursor() == await fresh(store, r)
    await store.close()
