"""Benchmark: what one unbatched replicated write costs at least on this machine.

At a moderate rate (the 1,000/s of the ack-latency goal) writes arrive one at a time, so
nothing is shared between them: each pays its own websocket round trips, its own commit on
every replica and its own signature checks. This script measures those pieces alone:

1. a websocket round trip between two processes on loopback (aiohttp on uvloop, both
   sides, 1 KiB each way, one at a time): wall time and the CPU of both processes;
2. a commit of one write alone (``SqliteStore.put``, one write at a time, in process):
   CPU and wall time per write, and the WAL frames (pages) each commit writes;
3. a signature check (the ceilings' one-thread rate).

and adds them up for N = 3 (client -> home, home -> two replicas: three round trips, three
commits, three checks), beside the machine's two cores at the offered rate. Prints a table
and writes bench/results/hop_cost.json.

Usage: .venv/bin/python bench/hop_cost.py [--trips 3000] [--writes 2000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import aiohttp
from aiohttp import web

from flocloud.node import runtime
from flocloud.protocol.envelope import build_envelope, parse_unverified
from flocloud.storage.sqlite import SqliteStore
from node_ingest import cpu_seconds, key
from report import Report, scratch

FRAME_BYTES = 1024
WAL_FRAME = 4096 + 24  # a page and its frame header (the store's page size is SQLite's 4 KiB)


async def _echo_server(ready: int) -> None:
    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(compress=False, max_msg_size=0)
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_bytes(msg.data)
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    os.write(ready, b"%d\n" % port)
    os.close(ready)
    await asyncio.Event().wait()


def _run(coro: Any) -> Any:
    return runtime.run(coro)  # the node's event loop


def round_trips(trips: int) -> dict[str, float]:
    """Sequential websocket echo round trips to a forked server process."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the echo server; killed below
        os.close(rfd)
        try:
            _run(_echo_server(wfd))
        finally:
            os._exit(0)
    os.close(wfd)
    port = int(os.read(rfd, 64))
    os.close(rfd)

    async def client() -> dict[str, float]:
        url = f"http://127.0.0.1:{port}/ws"
        async with aiohttp.ClientSession() as s, s.ws_connect(url, compress=0) as sock:
            msg = b"x" * FRAME_BYTES
            for _ in range(200):  # warm
                await sock.send_bytes(msg)
                await sock.receive()
            cpu0 = cpu_seconds(os.getpid(), children=False) + cpu_seconds(pid)
            t0 = time.perf_counter()
            for _ in range(trips):
                await sock.send_bytes(msg)
                await sock.receive()
            wall = time.perf_counter() - t0
            cpu = cpu_seconds(os.getpid(), children=False) + cpu_seconds(pid) - cpu0
        return {"trips": trips, "wall_us": wall / trips * 1e6, "cpu_us": cpu / trips * 1e6}

    try:
        return _run(client())  # type: ignore[no-any-return]
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def single_commits(writes: int) -> dict[str, float]:
    """``writes`` puts of 1 KiB writes, one at a time, after as many to warm the store."""

    async def run() -> dict[str, float]:
        store = await SqliteStore.open(scratch() / "store.sqlite3")
        store.checkpointer.close()  # the WAL keeps every frame: they are counted
        now = int(time.time() * 1000)
        senders = [key(f"hop-sender-{i}") for i in range(20)]
        receivers = [key(f"hop-receiver-{i}").address for i in range(5)]
        envs = [
            parse_unverified(
                build_envelope(senders[i % 20], receiver=receivers[i % 5],
                               payload={"i": i, "pad": "x" * 860}, time_ms=now).to_wire(),
                now_ms=None,
            )
            for i in range(2 * writes)
        ]  # fmt: skip
        for e in envs[:writes]:
            await store.put(e, now, quota_bytes=10**12)
        wal = store.path.with_name(store.path.name + "-wal")
        size0, cpu0, t0 = wal.stat().st_size, time.process_time(), time.perf_counter()
        for e in envs[writes:]:
            await store.put(e, now, quota_bytes=10**12)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        frames = (wal.stat().st_size - size0) / WAL_FRAME / writes
        await store.close()
        return {"writes": writes, "wall_us": wall / writes * 1e6, "cpu_us": cpu / writes * 1e6,
                "wal_frames_per_commit": frames}  # fmt: skip

    return _run(run())  # type: ignore[no-any-return]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trips", type=int, default=3000)
    p.add_argument("--writes", type=int, default=2000)
    p.add_argument("--rate", type=int, default=1000, help="offered writes/s to set beside")
    p.add_argument("--copies", type=int, default=3, help="N: supernodes that store a write")
    args = p.parse_args()
    rep = Report("hop_cost", vars(args))
    trip = round_trips(args.trips)
    commit = single_commits(args.writes)
    check_us = 1e6 / rep.ceilings["verify_per_s_1_thread"]
    n = args.copies
    floor = n * (trip["cpu_us"] + commit["cpu_us"] + check_us)
    cores = floor * args.rate / 1e6
    rep.row("websocket round trip between processes, wall", trip["wall_us"], "us")
    rep.row("  CPU of both processes", trip["cpu_us"], "us")
    rep.row("commit of one write alone, CPU", commit["cpu_us"], "us")
    rep.row("  WAL pages it writes", commit["wal_frames_per_commit"], "pages")
    rep.row("signature check (1-thread ceiling)", check_us, "us")
    rep.row(f"one unbatched write, N={n} (x{n} each)", floor, "us")
    rep.row(f"  cores at {args.rate:,}/s offered", cores, "cores")
    rep.finish({"round_trip": trip, "commit": commit, "check_us": check_us,
                "unbatched_write_cpu_us": floor, "cores_at_rate": cores})  # fmt: skip


if __name__ == "__main__":
    main()
