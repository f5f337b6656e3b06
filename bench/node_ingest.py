"""Benchmark: signed 1 KiB writes per second acknowledged after commit, 50 websocket clients,
then a query of the receiver's newest 1,000 over the same websocket protocol.

Starts a real supernode process, pre-signs the messages, then 50 clients pipeline their
writes (up to 64 in flight each) and wait for every ack; then times ``query`` with
``order: desc, limit: 1000`` (what ``peer_nostr.py`` asks the nostr relay). Reports the
rate beside the ceilings measured in the same run (signature verification on all cores,
SQLite batched inserts). Writes bench/results/node_ingest.json. Goal (issue 14):
>= 15,000/s and >= 0.4 of the verification ceiling.
Usage: .venv/bin/python bench/node_ingest.py [--messages 30000] [--clients 50]
       [--profile OUT] (py-spy of the node under load, from the peers venv; see README)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from flocloud.devnet.network import standalone_node
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from report import Report, scratch

LIMITS = (
    "[limits]\nrate_per_id = 1e9\nburst_per_id = 1000000000\nrate_per_connection = 1e9\n"
    "burst_per_connection = 1000000000\nmax_skew_ms = 3600000\n"
    # every client is on 127.0.0.1: lift the per-source and node budgets
    "rate_per_source = 1e9\nburst_per_source = 1000000000\nrate_global = 1e9\n"
    "burst_global = 1000000000\nbytes_per_source = 1e12\nburst_bytes_per_source = 1000000000000\n"
    "bytes_global = 1e12\nburst_bytes_global = 1000000000000"
)
RECEIVER_LABEL = "bench-receiver"


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


def percentiles(latencies: list[float]) -> dict[str, float]:
    s = sorted(latencies)
    return {f"p{q}": s[int(q / 100 * (len(s) - 1))] * 1000 for q in (50, 99)} if s else {}


async def pipelined(
    url: str,
    frames: list[bytes],
    inflight: int,
    latencies: list[float],
    ack_id: Callable[[bytes], Any],
    *,
    text: bool = False,
) -> None:
    """One client: send ``frames`` with at most ``inflight`` unanswered; ``ack_id`` turns a
    reply into the key of the frame it acknowledges (raising on a refusal); ``text`` sends
    text frames (nostr relays read only those)."""
    async with aiohttp.ClientSession() as s, s.ws_connect(url, compress=0, max_msg_size=0) as ws:
        sent: dict[Any, float] = {}
        sem = asyncio.Semaphore(inflight)

        async def reader() -> None:
            for _ in range(len(frames)):
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT and msg.type != aiohttp.WSMsgType.BINARY:
                    raise RuntimeError(f"connection ended: {msg.type} {msg.data!r}")
                k = ack_id(msg.data if isinstance(msg.data, bytes) else msg.data.encode())
                latencies.append(time.perf_counter() - sent.pop(k))
                sem.release()

        task = asyncio.create_task(reader())
        for i, f in enumerate(frames):
            await sem.acquire()
            if task.done():
                break
            sent[i] = time.perf_counter()
            await (ws.send_str(f.decode()) if text else ws.send_bytes(f))
        await task


async def node_batching(url: str) -> dict[str, float]:
    """The node's batching counters (``/api/stats``), with the mean sizes; empty from a
    node older than them (a run of an older tree through ``PYTHONPATH``)."""
    async with aiohttp.ClientSession() as s, s.get(url + "/api/stats") as r:
        b: dict[str, float] = (await r.json()).get("batching", {})
    if not b:
        return b
    b["writes_per_commit"] = b["store_writes"] / max(1, b["store_commits"])
    b["checks_per_batch"] = b["signatures_checked"] / max(1, b["signature_batches"])
    return b


def flocloud_ack(data: bytes) -> int:
    frame = orjson.loads(data)
    if not frame.get("ok"):
        raise RuntimeError(frame)
    return int(frame["id"])


def presign(clients: int, per: int) -> tuple[list[list[bytes]], int]:
    senders = [key(f"bench-sender-{c}") for c in range(clients)]
    receiver = key(RECEIVER_LABEL).address
    now = int(time.time() * 1000)
    batches = []
    for c in range(clients):
        frames = []
        for i in range(per):
            wire = build_envelope(
                senders[c], receiver=receiver, payload={"i": i, "pad": "x" * 860}, time_ms=now
            ).to_json()
            frames.append(b'{"id":%d,"op":"put","envelope":' % i + wire + b"}")
        batches.append(frames)
    body = orjson.loads(batches[0][0])["envelope"]["body"]
    return batches, len(body.encode())


async def query_newest(url: str, limit: int, repeats: int) -> list[float]:
    frame = orjson.dumps({"id": 1, "op": "query", "filter": {
        "receiver": key(RECEIVER_LABEL).address, "order": "desc", "limit": limit}})  # fmt: skip
    times = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url, compress=0, max_msg_size=0) as ws:
        for _ in range(repeats):
            t = time.perf_counter()
            await ws.send_bytes(frame)
            reply = orjson.loads((await ws.receive()).data)
            times.append(time.perf_counter() - t)
            if not reply.get("ok") or len(reply["messages"]) != limit:
                raise RuntimeError(f"query: {str(reply)[:200]}")
    return times


def cpu_seconds(pid: int, tid: int | None = None, *, children: bool = True) -> float:
    """User + system CPU time of a process (all its threads) and of the processes it
    started and still runs (the node's signature-check workers; not with ``children``
    false), or of one of its threads, from /proc (the thread whose id is the process's is
    its main thread: the event loop)."""
    if tid is not None:
        return _cpu(f"/proc/{pid}/task/{tid}/stat")
    total = _cpu(f"/proc/{pid}/stat")
    if not children:
        return total
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    total += cpu_seconds(int(child))
    return total


def _cpu(stat: str) -> float:
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_profiler(
    pid: int, out: Path, seconds: float, gil: bool = False
) -> subprocess.Popen[bytes]:
    from peers import peers_python

    spy = Path(peers_python()).parent / "py-spy"
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--threads", *(["--gil"] if gil else []), "--duration", str(int(seconds)), "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=30_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--inflight", type=int, default=64)
    p.add_argument("--query-limit", type=int, default=1000)
    p.add_argument("--profile", type=Path, help="py-spy raw stacks of the node under load")
    p.add_argument("--gil", action="store_true", help="profile only the thread holding the GIL")
    args = p.parse_args()
    rep = Report("node_ingest", vars(args) | {"profile": str(args.profile)})
    per = args.messages // args.clients
    total = per * args.clients
    print(f"pre-signing {total} messages…", file=sys.stderr)
    batches, size = presign(args.clients, per)
    node = standalone_node(scratch(), settings=LIMITS)
    node.start()
    profiler = None
    try:
        await node.wait_healthy(30)
        if args.profile:
            profiler = start_profiler(node.pid or 0, args.profile, 600, args.gil)
            await asyncio.sleep(1.5)
        latencies: list[float] = []
        node_cpu = cpu_seconds(node.pid or 0)
        loop_cpu = cpu_seconds(node.pid or 0, node.pid)
        me = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    pipelined(node.ws_url, b, args.inflight, latencies, flocloud_ack)
                    for b in batches
                )
            ),
            timeout=max(120, total / 50),
        )
        elapsed = time.perf_counter() - t
        node_cpu = cpu_seconds(node.pid or 0) - node_cpu
        loop_cpu = cpu_seconds(node.pid or 0, node.pid) - loop_cpu
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = after.ru_utime + after.ru_stime - me.ru_utime - me.ru_stime
        if profiler:
            profiler.send_signal(2)  # SIGINT: py-spy writes what it has
            profiler.wait(30)
        batching = await node_batching(node.url)
        q = await query_newest(node.ws_url, min(args.query_limit, total), 5)
    finally:
        if profiler and profiler.poll() is None:
            profiler.kill()
        node.stop()
    rate = total / elapsed
    results = {
        "messages": total,
        "body_bytes": size,
        "seconds": elapsed,
        "acked_per_second": rate,
        "ack_latency_ms": percentiles(latencies),
        # where the machine's CPU went: the node (all threads) and this load generator
        "node_cpu_us_per_write": node_cpu / total * 1e6,
        "node_loop_cpu_us_per_write": loop_cpu / total * 1e6,  # its event-loop thread
        "client_cpu_us_per_write": client_cpu / total * 1e6,
        "cores_busy": (node_cpu + client_cpu) / elapsed,
        "batching": batching,  # the node's counters (/api/stats), warm-up writes included
        "query_newest": {
            "limit": min(args.query_limit, total),
            "ms_median": statistics.median(q) * 1000,
            "ms_all": [x * 1000 for x in q],
        },
    }
    print(
        f"{total} signed {size}-byte writes, {args.clients} clients, {args.inflight} in flight each"
    )
    rep.row("single node: signed 1 KiB writes acked", rate, "/s", goal=15000, ceiling="verify")
    rep.row("single node: same, of the SQLite insert ceiling", rate, "/s", ceiling="sqlite")
    rep.row("single node: node CPU per write", results["node_cpu_us_per_write"], "us")
    rep.row(
        "single node: of which the event-loop thread", results["node_loop_cpu_us_per_write"], "us"
    )
    rep.row("single node: load generator CPU per write", results["client_cpu_us_per_write"], "us")
    rep.row("single node: ack latency p99", results["ack_latency_ms"]["p99"], "ms")
    if batching:
        rep.row("single node: writes per commit", batching["writes_per_commit"], "writes")
        rep.row("single node: checks per signature batch", batching["checks_per_batch"], "checks")
    rep.row(f"single node: query newest {results['query_newest']['limit']} (ws)",
            results["query_newest"]["ms_median"], "ms")  # fmt: skip
    rep.finish(results)


if __name__ == "__main__":
    asyncio.run(main())
