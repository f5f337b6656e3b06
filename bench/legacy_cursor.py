"""Benchmark: the held cursor a legacy query or write asks the inbox's other replicas with,
before (a scan of the inbox's dots per request) and after (from memory, ``storage/held.py``).

Fills a real SQLite store (the node's schema) with N writes of one inbox, bulk inserted in
SQL (synthetic rows: the cursor only reads dots), in two layouts: ``dense`` (one origin,
counters 1..N) and ``lost dot`` (counter 2 missing everywhere, as when the only node that
took it lost its disk: every later counter is an exception and the cursor folds). Times
per request: the scan (``dots.held_cursor``, what every legacy query and write paid), the
cursor from memory, the first build after a restart or an eviction, and the cursor right
after a new write (recomputed from the runs). Also the store's batched ingest of
replicated writes with and without the dots log the memory is kept by. Prints a table and
writes bench/results/legacy_cursor.json; timings depend on the machine's load.
Usage: .venv/bin/python bench/legacy_cursor.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from flocloud.protocol.cursor import Cursor
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.fingerprint import write_parts
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.storage.dots import dots_text, held_cursor
from flocloud.storage.sqlite import SqliteStore
from report import Report, scratch

RECEIVER = "oVqas4vrwUT64rJjF9adr5LfNmX2Q45Udj"
SENDER = "oLVaLTxXMpoHgny9H8JtwycWxDmNy7d6Ly"
ORIGIN = "a1b2c3d4e5f60718"


def fill(path: Path, n: int, lost: bool) -> None:
    db = sqlite3.connect(path)
    db.execute("BEGIN")
    for i in range(n):
        counter = i + 1 + (1 if lost and i >= 1 else 0)  # lost: 1, 3, 4, 5, ...
        msg_id = hashlib.sha256(b"m%d" % i).hexdigest()
        dots = ((ORIGIN, counter),)
        p1, p2 = write_parts(msg_id, dots)
        body = '{"i":' + str(i) + "}"
        db.execute(
            "INSERT INTO messages (id, receiver, sender, application, type, time, received_ms, "
            "body, pubkey, sign, size, dots, fp1, fp2, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (msg_id, RECEIVER, SENDER, "app", "", i, i, body, "02" * 33, "30" * 70,
             len(body), dots_text(dots), p1, p2, "legacy"),
        )  # fmt: skip
        db.execute(
            "INSERT INTO dots (receiver, origin, counter, id) VALUES (?,?,?,?)",
            (RECEIVER, ORIGIN, counter, msg_id),
        )
    db.execute("COMMIT")
    db.close()


async def timed(fn: Callable[[], Awaitable[Any]], budget_s: float = 1.0, most: int = 200) -> float:
    """Median ms of ``fn`` over repetitions within about ``budget_s`` (at least 3)."""
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < 3 or (len(out) < most and time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


async def one(n: int, lost: bool) -> dict[str, float]:
    base = scratch()
    path = base / "store.sqlite3"
    store = await SqliteStore.open(path)  # the schema
    await store.close()
    fill(path, n, lost)
    store = await SqliteStore.open(path)
    key = PrivateKey(hashlib.sha256(b"bench").digest(), REGTEST)

    async def scan() -> Cursor:
        c: Cursor = await store.read(lambda db: held_cursor(db, RECEIVER))
        return c

    async def cold() -> Cursor:
        store.held.clear()
        return await store.held_cursor(RECEIVER)

    writes = iter(range(10**6))

    async def after_write() -> Cursor:
        i = next(writes)
        env = build_envelope(key, receiver=RECEIVER, payload={"w": i}, time_ms=i)
        await store.put(env, 5, origin="peer", dots=(("peer0", i + 1),))
        t = time.perf_counter()
        c = await store.held_cursor(RECEIVER)
        after_ms.append((time.perf_counter() - t) * 1000)
        return c

    after_ms: list[float] = []
    assert await store.held_cursor(RECEIVER) == await scan()
    out = {
        "scan_ms": await timed(scan, budget_s=2.0, most=20),
        "cold_ms": await timed(cold, budget_s=2.0, most=20),
        "memory_ms": await timed(lambda: store.held_cursor(RECEIVER)),
    }
    for _ in range(50):
        await after_write()
    out["after_write_ms"] = statistics.median(after_ms)
    assert await store.held_cursor(RECEIVER) == await scan()
    await store.close()
    return out


async def ingest(n: int, log: bool) -> tuple[float, float]:
    """Replicated writes per second, 64 in flight, with or without the dots log, and the
    process's CPU time per write (µs: less sensitive to other processes' load)."""
    key = PrivateKey(hashlib.sha256(b"ingest").digest(), REGTEST)
    envs = [build_envelope(key, receiver=RECEIVER, payload={"i": i}, time_ms=i) for i in range(n)]
    store = await SqliteStore.open(scratch() / "store.sqlite3")
    if not log:

        def drop(db: sqlite3.Connection) -> None:
            for t in ("insert", "delete", "update"):
                db.execute(f"DROP TRIGGER temp.dot_log_{t}")

        await store.transact(drop)
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(0, n, 64):
        await asyncio.gather(
            *(
                store.put(e, 5, origin="peer", dots=(("o", i + k + 1),))
                for k, e in enumerate(envs[i : i + 64])
            )
        )
    rate, cpu_us = n / (time.perf_counter() - t), (time.process_time() - cpu) / n * 1e6
    await store.close()
    return rate, cpu_us


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--ingest", type=int, default=8000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rep = Report("legacy_cursor", vars(args))
    results: dict[str, Any] = {}
    for lost in (False, True):
        layout = "lost dot" if lost else "dense"
        for n in sizes:
            r = await one(n, lost)
            results[f"{layout} {n}"] = r
            for what, k in (("scan, before", "scan_ms"), ("memory", "memory_ms"),
                            ("first build", "cold_ms"), ("after a write", "after_write_ms")):  # fmt: skip
                rep.row(f"held cursor {n:,} {layout}: {what}", r[k], "ms", goal_op="<=")
    for log in (False, True, False, True):  # twice each, interleaved: the better of two
        rate, cpu_us = await ingest(args.ingest, log)
        name = f"ingest {'with' if log else 'without'} the dots log"
        best = results.get(name, {"per_s": 0.0, "cpu_us_per_write": float("inf")})
        results[name] = {"per_s": max(rate, best["per_s"]),
                         "cpu_us_per_write": min(cpu_us, best["cpu_us_per_write"])}  # fmt: skip
    for log in (False, True):
        r = results[f"ingest {'with' if log else 'without'} the dots log"]
        name = f"replicated ingest, {'with' if log else 'without'} the dots log"
        rep.row(name, r["per_s"], "w/s")
        rep.row(name + ", CPU", r["cpu_us_per_write"], "µs/w", goal_op="<=")
    rep.finish(results)


if __name__ == "__main__":
    asyncio.run(main())
