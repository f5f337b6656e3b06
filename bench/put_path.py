"""Benchmark: where a write's CPU goes, thread by thread, without the websocket.

Runs a supernode in this process (the real ``Node``: store, verifier, replication shell,
GC settings of ``node/runtime.py``) and calls ``NodeService.put`` for pre-signed 1 KiB
writes, 50 senders with 64 in flight each (node_ingest's load shape; ``--clients 1
--inflight 1``: one write at a time, what each write costs alone); or, with
``--store-only``, ``SqliteStore.put`` alone for pre-parsed envelopes. Prints the rate and
the CPU per write of each thread of this process (the event loop, the store writer, the
checkpointer, signature threads) and of the signature-check worker processes, from
/proc. What node_ingest adds on top of this is the websocket (frames in and out).
Writes bench/results/put_path.json.

Usage: .venv/bin/python bench/put_path.py [--messages 20000] [--clients 50] [--inflight 64]
       [--store-only] [--stored N]
       (--stored: N writes of the same receiver stored first, untimed: the cost of a write
       grows with the store, as an index ordered by the random message id outgrows a
       commit: two of them until migration 13, one since)
       [--default-gc] (CPython's own collector thresholds, for comparison)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flocloud.devnet.network import standalone_node
from flocloud.node import runtime
from flocloud.node.config import load_config
from flocloud.node.server import Node
from flocloud.protocol.envelope import build_envelope
from flocloud.storage.sqlite import SqliteStore
from node_ingest import LIMITS, cpu_seconds, key
from report import Report, scratch


def per_thread() -> dict[str, float]:
    """CPU seconds of each thread of this process, by name, and of its children."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        name = names.get(int(tid), f"thread {tid}")
        name = "verify threads" if name.startswith("verify") else name
        out[name] = out.get(name, 0.0) + cpu_seconds(os.getpid(), int(tid))
    with contextlib.suppress(OSError):
        kids = Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()
        out["signature workers (processes)"] = sum(cpu_seconds(int(k)) for k in kids)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    receiver = key("put-path-receiver").address
    now = int(time.time() * 1000)
    clients, inflight = args.clients, args.inflight
    senders = [key(f"put-path-{c}") for c in range(clients)]
    per = args.messages // clients
    envs = [
        [build_envelope(senders[c], receiver=receiver, payload={"i": i, "pad": "x" * 860},
                        time_ms=now) for i in range(per)]
        for c in range(clients)
    ]  # fmt: skip
    prefill = [
        build_envelope(senders[i % clients], receiver=receiver,
                       payload={"pre": i, "pad": "x" * 860}, time_ms=now)
        for i in range(args.stored)
    ]  # fmt: skip
    directory = scratch()
    node: Node | None = None
    store: SqliteStore | None = None
    if not args.default_gc:
        runtime.before_start()
    if args.store_only:
        store = await SqliteStore.open(directory / "store.sqlite3")
        put = lambda e: store.put(e, now, quota_bytes=10**12)  # noqa: E731
    else:
        standalone_node(directory, settings=LIMITS)
        node = Node(load_config(directory / "node.toml"))
        await node.start()
        await asyncio.sleep(1.0)  # the signature workers are up
        wires = [[e.to_wire() for e in c] for c in envs]
        envs = wires  # type: ignore[assignment]
        svc = node.service
        put = lambda w: svc.put(w, source="127.0.0.1")  # noqa: E731
    for i in range(0, len(prefill), 2000):  # untimed, in concurrent runs (batched commits)
        chunk = prefill[i : i + 2000]  # (a sender's quota, 50 MiB: ~2.6M writes in all)
        await asyncio.gather(*(put(e if store is not None else e.to_wire()) for e in chunk))
    del prefill
    if not args.default_gc:
        runtime.after_start()  # (freezes what is alive now: the prefill is gone)

    async def client(items: list[Any]) -> None:
        sem = asyncio.Semaphore(inflight)

        async def one(item: Any) -> None:
            async with sem:
                await put(item)

        await asyncio.gather(*(one(i) for i in items))

    before, t0 = per_thread(), time.perf_counter()
    await asyncio.gather(*(client(c) for c in envs))
    elapsed, after = time.perf_counter() - t0, per_thread()
    if node is not None:
        await node.stop()
    if store is not None:
        await store.close()
    total = per * clients
    cpu = {k: (after[k] - before.get(k, 0.0)) / total * 1e6 for k in after}
    return {"writes": total, "seconds": elapsed, "per_second": total / elapsed,
            "cpu_us_per_write": {k: v for k, v in cpu.items() if v >= 0.5}}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--inflight", type=int, default=64, help="writes in flight per client")
    p.add_argument("--store-only", action="store_true")
    p.add_argument("--stored", type=int, default=0, help="writes stored first, untimed")
    p.add_argument("--default-gc", action="store_true")
    args = p.parse_args()
    rep = Report("put_path", vars(args))
    res = runtime.run(run(args))  # the node's own event loop (config event_loop = "uvloop")
    what = "SqliteStore.put" if args.store_only else "NodeService.put"
    held = f" ({args.stored:,} held)" if args.stored else ""
    rep.row(f"in-process {what}: writes{held}", res["per_second"], "/s", ceiling="sqlite")
    for name, us in sorted(res["cpu_us_per_write"].items(), key=lambda kv: -kv[1]):
        rep.row(f"  CPU per write: {name}", us, "us")
    rep.row("  CPU per write: all", sum(res["cpu_us_per_write"].values()), "us")
    rep.finish(res)


if __name__ == "__main__":  # the signature workers are spawned: they import this module
    sys.exit(main())
