"""The writer's batched path (``storage/batch.py``) against the per-write path.

Two stores with the same store id get the same concurrent batches (held back behind a
blocked writer so that each round is one batch): client writes of many receivers and
senders, duplicates within and across batches, writes over a sender's quota, replicated
writes with given dots (out of order, taken, a stored write given a new dot), schema,
delete, tag and note writes between them, tombstones before their target, hand-off drops
between rounds. Every result, every row of every table, every committed record handed
to subscribers and every held cursor must be the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from flocloud.protocol.cursor import Dot
from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from flocloud.protocol.writes import schema_object_name
from flocloud.storage import batch
from flocloud.storage.dots import held_cursor
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import Record


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


SENDERS = [key(f"batch-s{i}") for i in range(3)]
RECEIVERS = [key(f"batch-r{i}").address for i in range(8)]
QUOTA = 2500  # bytes more per round, for sender 0's client writes: it runs out mid-batch
SCHEMA_TARGET = "message:typed"
SCHEMA_RECEIVER = object_id("app", schema_object_name(SCHEMA_TARGET), REGTEST)

Op = tuple[Envelope, dict[str, Any]]  # the envelope and put's keyword arguments


class Gen:
    """Random rounds of writes; remembers what it sent to send it again."""

    def __init__(self, seed: int, sid: str) -> None:
        self.rng = random.Random(seed)
        self.sid = sid
        self.sent: list[tuple[Envelope, str]] = []  # (envelope, receiver) of messages
        self.n = 0
        self.rounds = 0

    def message(self, typ: str = "message", app: str = "app") -> Envelope:
        r = self.rng
        self.n += 1
        sender = r.choice(SENDERS)
        receiver = r.choice(RECEIVERS)
        payload: Any = {"i": self.n, "pad": "x" * r.choice([10, 200, 700])}
        if typ == "typed" and r.random() < 0.5:
            payload = {"n": self.n}  # matches the schema; the other shape does not
        env = build_envelope(
            sender, receiver=receiver, payload=payload, time_ms=1000 + self.n,
            application=app, type=typ,
        )  # fmt: skip
        self.sent.append((env, receiver))
        return env

    def about(self, kind: str, target: str, receiver: str) -> Envelope:
        self.n += 1
        payload: dict[str, Any] = {"id": target}
        if kind != "delete":
            payload[kind] = f"v{self.n}"
        return build_envelope(
            self.rng.choice(SENDERS), receiver=receiver, payload=payload,
            time_ms=5000 + self.n, application="app", type=f"flocloud.{kind}",
        )  # fmt: skip

    def dots(self) -> tuple[Dot, ...]:
        r = self.rng
        origin = r.choice(["o1", "o2"] * 4 + [self.sid])
        dots = list({(origin, r.randint(1, 40)) for _ in range(r.choice([1, 1, 2]))})
        r.shuffle(dots)
        return tuple(dots)

    def quota(self, env: Envelope) -> int | None:
        return QUOTA * self.rounds if env.body.senderID == SENDERS[0].address else None

    def round(self) -> list[Op]:
        r = self.rng
        self.rounds += 1
        ops: list[Op] = []
        later: list[Envelope] = []  # targets of tombstones sent first, in this round
        for _ in range(r.randint(20, 90)):
            k = r.random()
            if k < 0.45 or not self.sent:
                env = self.message()
                ops.append((env, {"quota_bytes": self.quota(env)}))
            elif k < 0.55:  # the same write again: a client's retry
                env, _ = r.choice(self.sent[-30:])
                ops.append((env, {"quota_bytes": self.quota(env)}))
            elif k < 0.7:  # a replica's copy, with dots given (maybe taken, maybe new)
                env = self.message() if r.random() < 0.6 else r.choice(self.sent)[0]
                ops.append((env, {"origin": "peer", "dots": self.dots()}))
                if r.random() < 0.3:  # and a client's retry of it in the same batch
                    ops.append((env, {"quota_bytes": self.quota(env)}))
            elif k < 0.75:
                env = self.message(typ="typed")
                ops.append((env, {"quota_bytes": self.quota(env)}))
            elif k < 0.8:  # about a stored (or not yet stored) write
                target, receiver = r.choice(self.sent)
                kind = r.choice(["delete", "tag", "note"])
                ops.append((self.about(kind, target.id, receiver), {}))
            elif k < 0.85:  # a tombstone or tag from a peer before its target
                target = self.message()
                self.sent.pop()
                later.append(target)
                kind = r.choice(["delete", "tag"])
                about = self.about(kind, target.id, target.body.receiverID)
                ops.append((about, {"origin": "peer", "dots": (("o2", 100 + self.n),)}))
            elif k < 0.88:
                schema: Any = {"type": "object", "required": ["n"]}
                env = build_envelope(
                    SENDERS[0], receiver=SCHEMA_RECEIVER, application="app",
                    type="flocloud.schema", time_ms=9000 + self.n,
                    payload={"target": SCHEMA_TARGET, "schema": schema},
                )  # fmt: skip
                self.n += 1
                ops.append((env, {}))
            elif later:
                env = later.pop()
                self.sent.append((env, env.body.receiverID))
                ops.append((env, {"quota_bytes": self.quota(env)}))
        return ops


async def _pair(tmp_path: Path) -> tuple[SqliteStore, SqliteStore]:
    batched = await SqliteStore.open(tmp_path / "batched.sqlite3")
    sid = await batched.store_id()
    one = await SqliteStore.open(tmp_path / "one.sqlite3", batch_writes=False)
    await one.close()
    db = sqlite3.connect(tmp_path / "one.sqlite3", isolation_level=None)
    db.execute("UPDATE meta SET value=? WHERE key='store_id'", (sid,))
    db.close()
    one = await SqliteStore.open(tmp_path / "one.sqlite3", batch_writes=False)
    assert await one.store_id() == sid
    return batched, one


async def _as_one_batch(store: SqliteStore, ops: list[Op]) -> list[Any]:
    """Queue every write behind a blocked writer, then let it go: one batch."""
    entered, gate = threading.Event(), threading.Event()

    def block(db: sqlite3.Connection) -> None:
        entered.set()
        gate.wait(10)

    blocker = asyncio.ensure_future(store.transact(block))
    await asyncio.to_thread(entered.wait, 10)
    puts = asyncio.gather(*(store.put(env, 7, **kw) for env, kw in ops), return_exceptions=True)
    for _ in range(3):
        await asyncio.sleep(0)
    assert sum(len(b) for b in list(store._queue.queue) if b) == len(ops)  # all queued
    gate.set()
    await blocker
    out = []
    for r in await puts:
        if isinstance(r, FlocloudError):
            out.append(("refused", r.code, str(r)))
        elif isinstance(r, BaseException):
            raise r
        else:
            out.append(("ok", r.seq, r.duplicate, r.dots, r.version))
    return out


def _tables(path: Path) -> dict[str, list[Any]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    names = [
        n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    ]
    out = {n: db.execute(f"SELECT * FROM {n}").fetchall() for n in names}
    out["meta"] = [r for r in out["meta"] if r[0] != "created_ms"]  # the opening time
    for n in out:
        out[n].sort(key=repr)
    db.close()
    return out


async def test_batched_writes_equal_one_at_a_time(tmp_path: Path) -> None:
    batched, one = await _pair(tmp_path)
    sid = await batched.store_id()
    seen: dict[str, list[tuple[Record, str | None]]] = {"b": [], "o": []}
    batched.on_commit = seen["b"].extend
    one.on_commit = seen["o"].extend
    refused = duplicates = 0
    try:
        for seed in range(3):
            gen = Gen(seed, sid)
            for n in range(8):
                ops = gen.round()
                got = await _as_one_batch(batched, ops)
                want = await _as_one_batch(one, ops)
                assert got == want, (seed, n)
                refused += sum(r[0] == "refused" for r in got)
                duplicates += sum(r[0] == "ok" and r[2] for r in got)
                if n % 3 == 2:  # a hand-off drops some of a receiver's writes
                    receiver = gen.rng.choice(RECEIVERS)
                    ids = [e.id for e, r in gen.sent if r == receiver][::2]
                    assert await batched.drop(receiver, ids) == await one.drop(receiver, ids)
                assert _tables(tmp_path / "batched.sqlite3") == _tables(tmp_path / "one.sqlite3")
                assert seen["b"] == seen["o"]
                for receiver in RECEIVERS:
                    assert await batched.held_cursor(receiver) == await one.held_cursor(receiver)
        db = sqlite3.connect(tmp_path / "batched.sqlite3")
        for receiver in RECEIVERS:
            assert await batched.held_cursor(receiver) == held_cursor(db, receiver)
        db.close()
        # both paths and every kind of outcome were exercised
        assert batched.batched > 500 and batched.fallbacks > 0 and one.batched == 0
        assert refused > 20 and duplicates > 20
        assert batched.commits < batched.writes / 10
    finally:
        await batched.close()
        await one.close()


async def test_an_error_in_the_batched_path_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure inside the batched path (here a bug while writing) undoes the run and
    the per-write path applies it: the same outcome, the writer goes on."""
    batched, one = await _pair(tmp_path)
    gen = Gen(7, await batched.store_id())
    ops = [(gen.message(), {}) for _ in range(30)]
    bad = ops[17][0].id
    real = batch.write_parts

    def broken(msg_id: str, dots: Any) -> tuple[int, int]:
        if msg_id == bad:
            raise RuntimeError("a bug")
        return real(msg_id, dots)

    monkeypatch.setattr(batch, "write_parts", broken)
    try:
        got = await _as_one_batch(batched, ops)
        assert got == await _as_one_batch(one, ops)
        assert all(r[0] == "ok" for r in got) and batched.fallbacks == 1
        assert _tables(tmp_path / "batched.sqlite3") == _tables(tmp_path / "one.sqlite3")
        again = [(gen.message(), {}) for _ in range(5)]
        assert await _as_one_batch(batched, again) == await _as_one_batch(one, again)
    finally:
        await batched.close()
        await one.close()


def test_statement_texts_are_kept_for_few_rows_only() -> None:
    """The texts of statements of up to ``_SQL_ROWS`` rows are built once and kept; longer
    ones are built each time, so what is kept stays bounded by the call sites."""
    batch._SQL.clear()
    head, tail = "INSERT INTO t (a, b)", "ON CONFLICT DO NOTHING"
    three = batch._text(batch._insert_text, head, tail, 2, 3)
    assert three == "INSERT INTO t (a, b) VALUES (?,?),(?,?),(?,?) ON CONFLICT DO NOTHING"
    assert batch._text(batch._insert_text, head, tail, 2, 3) is three
    assert batch._text(batch._in_text, "a", "FROM t WHERE a IN ({})", 4).endswith("IN (?,?,?,?)")
    assert batch._text(batch._keys_text, "id", 2).count("(?,?)") == 2
    n = batch._SQL_ROWS + 1
    assert batch._text(batch._insert_text, head, "", 2, n).count("(?,?)") == n
    assert batch._text(batch._in_text, "a", "FROM t WHERE a IN ({})", n).count("?") == n
    assert batch._text(batch._keys_text, "id", n).count("(?,?)") == n
    assert len(batch._SQL) == 3 and all(key[-1] <= batch._SQL_ROWS for key in batch._SQL)
