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
       [--replica K] (a replica's side: serve_batch of peer.replicate.batch frames of K
       records, with the sending peer's dots; e.g. --replica 25 --clients 4 --inflight 1)
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

import msgspec
import orjson

from flocloud.devnet.network import standalone_node
from flocloud.node import runtime
from flocloud.node.config import load_config
from flocloud.node.replicate import serve_batch
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
        if args.replica:  # batch frames from a peer, as serve_batch gets them
            envs = replica_frames(wires, args.replica)  # type: ignore[assignment]
            put = lambda frame: serve_batch(svc, "peer", PEER_STORE, frame)  # noqa: E731
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
    st = node.service.store if node is not None else store
    assert st is not None
    commits = st.commits
    if node is not None:
        await node.stop()
    if store is not None:
        await store.close()
    total = per * clients if not args.replica else sum(len(f) for c in envs for f in c)
    cpu = {k: (after[k] - before.get(k, 0.0)) / total * 1e6 for k in after}
    return {"writes": total, "seconds": elapsed, "per_second": total / elapsed,
            "cpu_us_per_write": {k: v for k, v in cpu.items() if v >= 0.5},
            "store_commits": commits, "writes_per_commit": st.writes / max(1, commits)}  # fmt: skip


PEER_STORE = "f" * 32  # the sending peer's store id: the dots it numbered


def replica_frames(clients: list[list[Any]], size: int) -> list[list[list[msgspec.Raw]]]:
    """Each client's writes as ``peer.replicate.batch`` records of ``size`` per frame,
    with the sending peer's own dots (one counter for the receiver, in order)."""
    counter = 0
    out = []
    for wires in clients:
        frames = []
        for i in range(0, len(wires), size):
            frame = []
            for w in wires[i : i + size]:
                counter += 1
                data = orjson.dumps({"envelope": w, "dots": [[PEER_STORE, counter]]})
                frame.append(msgspec.Raw(data))
            frames.append(frame)
        out.append(frames)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--inflight", type=int, default=64, help="writes in flight per client")
    p.add_argument("--store-only", action="store_true")
    p.add_argument("--stored", type=int, default=0, help="writes stored first, untimed")
    p.add_argument("--default-gc", action="store_true")
    p.add_argument(
        "--replica", type=int, default=0, metavar="K",
        help="a replica's side instead: peer.replicate.batch frames of K records "
        "(serve_batch); --clients frames in flight, --inflight per client",
    )  # fmt: skip
    args = p.parse_args()
    rep = Report("put_path", vars(args))
    res = runtime.run(run(args))  # the node's own event loop (config event_loop = "uvloop")
    what = "SqliteStore.put" if args.store_only else "NodeService.put"
    what = f"serve_batch of {args.replica}" if args.replica else what
    held = f" ({args.stored:,} held)" if args.stored else ""
    rep.row(f"in-process {what}: writes{held}", res["per_second"], "/s", ceiling="sqlite")
    for name, us in sorted(res["cpu_us_per_write"].items(), key=lambda kv: -kv[1]):
        rep.row(f"  CPU per write: {name}", us, "us")
    rep.row("  CPU per write: all", sum(res["cpu_us_per_write"].values()), "us")
    rep.row("  writes per store commit", res["writes_per_commit"], "")
    rep.finish(res)


if __name__ == "__main__":  # the signature workers are spawned: they import this module
    sys.exit(main())
