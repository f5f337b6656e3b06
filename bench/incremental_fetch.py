"""Benchmark: incremental fetch of the 1,000 newest writes of a receiver among 1,000,000 stored.

Fills a real SQLite store (the node's own schema) with N writes of one receiver, bulk
inserted in SQL (synthetic rows of the real shape: a read benchmark need not verify
signatures), takes the cursor that covers the first N - 1,000, and times
``SqliteStore.query(after=cursor, limit=1000)`` (the same call the node makes). Also
times the same fetch split over two origins (a failover in the middle). Prints a table and
writes bench/results/incremental_fetch.json. Goal (issue 14): <= 20 ms.
Usage: .venv/bin/python bench/incremental_fetch.py [--stored 1000000] [--new 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import statistics
import time
from pathlib import Path

from flocloud.protocol.cursor import Cursor
from flocloud.protocol.fingerprint import write_parts
from flocloud.storage.dots import dots_text
from flocloud.storage.sqlite import SqliteStore
from flocloud.storage.store import MessageFilter
from report import Report, scratch

RECEIVER = "oVqas4vrwUT64rJjF9adr5LfNmX2Q45Udj"
SENDER = "oLVaLTxXMpoHgny9H8JtwycWxDmNy7d6Ly"


def fill(path: Path, stored: int, origins: list[str]) -> None:
    db = sqlite3.connect(path)
    db.execute("BEGIN")
    half = stored // 2
    for i in range(stored):
        origin = origins[0] if len(origins) == 1 or i < half else origins[1]
        counter = i + 1 if origin == origins[0] else i - half + 1
        msg_id = hashlib.sha256(b"m%d" % i).hexdigest()
        dots = ((origin, counter),)
        p1, p2 = write_parts(msg_id, dots)
        body = '{"v":1,"type":"message","payload":{"i":' + str(i) + "}}"
        db.execute(
            "INSERT INTO messages (id, receiver, sender, application, type, time, received_ms, "
            "body, pubkey, sign, size, dots, fp1, fp2) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (msg_id, RECEIVER, SENDER, "bench", "message", i, i, body, "02" * 33, "30" * 70,
             len(body), dots_text(dots), p1, p2),
        )  # fmt: skip
        db.execute(
            "INSERT INTO dots (receiver, origin, counter, id) VALUES (?,?,?,?)",
            (RECEIVER, origin, counter, msg_id),
        )
    db.execute("COMMIT")
    db.close()


async def run(stored: int, new: int, origins: list[str]) -> dict[str, float]:
    base = scratch()
    path = base / "store.sqlite3"
    store = await SqliteStore.open(path)  # creates the schema
    await store.close()
    t = time.perf_counter()
    fill(path, stored, origins)
    fill_s = time.perf_counter() - t
    store = await SqliteStore.open(path)
    # the client has everything but the newest ``new`` writes
    cursor = Cursor()
    if len(origins) == 1:
        cursor = cursor.advance(origins[0], range(1, stored - new + 1))
    else:
        half = stored // 2
        cursor = cursor.advance(origins[0], range(1, half + 1))
        cursor = cursor.advance(origins[1], range(1, stored - half - new + 1))
    times = []
    for _ in range(20):
        t = time.perf_counter()
        page = await store.query(MessageFilter(RECEIVER, after=cursor, limit=new))
        times.append(time.perf_counter() - t)
        assert len(page.records) == new and not page.more, (len(page.records), page.more)
    await store.close()
    return {
        "fill_seconds": fill_s,
        "fetch_ms_median": statistics.median(times) * 1000,
        "fetch_ms_min": min(times) * 1000,
        "fetch_ms_max": max(times) * 1000,
    }


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stored", type=int, default=1_000_000)
    p.add_argument("--new", type=int, default=1000)
    args = p.parse_args()
    rep = Report("incremental_fetch", vars(args))
    one = await run(args.stored, args.new, ["a" * 32])
    two = await run(args.stored, args.new, ["a" * 32, "b" * 32])
    result = {"stored": args.stored, "new": args.new, "one_origin": one, "two_origins": two}
    print(f"incremental fetch of {args.new:,} new among {args.stored:,} stored")
    print(f"{'origins':>8} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, r in (("1", one), ("2", two)):
        print(
            f"{name:>8} {r['fetch_ms_median']:>10.1f} {r['fetch_ms_min']:>8.1f} {r['fetch_ms_max']:>8.1f}"
        )
    for name, r in (("one origin", one), ("two origins", two)):
        rep.row(f"incremental fetch {args.new:,} new of {args.stored:,}, {name}",
                r["fetch_ms_median"], "ms", goal=20, goal_op="<=")  # fmt: skip
    rep.finish(result)


if __name__ == "__main__":
    asyncio.run(main())
