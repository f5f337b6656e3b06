"""Benchmark: signed 1 KiB writes per second acknowledged after commit, 50 websocket clients.

Starts a real supernode process, pre-signs the messages, then 50 clients pipeline their
writes (up to 64 in flight each) and wait for every ack. Prints a table and writes
bench/results/node_ingest.json. Goal (issue 4): 15,000/s on the 2-core machine.
Usage: .venv/bin/python bench/node_ingest.py [--messages 30000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from flocloud.devnet.network import standalone_node
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from results_file import write_result


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


async def client(url: str, wires: list[bytes], inflight: int, latencies: list[float]) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(url, compress=0) as ws:
        sent: dict[int, float] = {}
        sem = asyncio.Semaphore(inflight)

        async def reader() -> None:
            for _ in range(len(wires)):
                msg = await ws.receive()
                frame = orjson.loads(msg.data)
                if not frame.get("ok"):
                    raise RuntimeError(frame)
                latencies.append(time.perf_counter() - sent.pop(frame["id"]))
                sem.release()

        task = asyncio.create_task(reader())
        for i, w in enumerate(wires):
            await sem.acquire()
            sent[i] = time.perf_counter()
            await ws.send_bytes(b'{"id":%d,"op":"put","envelope":' % i + w + b"}")
        await task


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=30_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--inflight", type=int, default=64)
    args = p.parse_args()
    limits = "rate_per_id = 1e9\nburst_per_id = 1000000000\nrate_per_connection = 1e9\nburst_per_connection = 1000000000\nmax_skew_ms = 3600000\n"
    # every client is on 127.0.0.1: lift the per-source and node budgets
    limits += "rate_per_source = 1e9\nburst_per_source = 1000000000\nrate_global = 1e9\nburst_global = 1000000000\n"
    limits += "bytes_per_source = 1e12\nburst_bytes_per_source = 1000000000000\nbytes_global = 1e12\nburst_bytes_global = 1000000000000"
    node = standalone_node(Path(tempfile.mkdtemp()), settings=f"[limits]\n{limits}")
    node.start()
    await node.wait_healthy(30)
    try:
        per = args.messages // args.clients
        senders = [key(f"bench-sender-{c}") for c in range(args.clients)]
        receiver = key("bench-receiver").address
        now = int(time.time() * 1000)
        print(f"pre-signing {per * args.clients} messages…", file=sys.stderr)
        batches = [
            [
                build_envelope(
                    senders[c], receiver=receiver, payload={"i": i, "pad": "x" * 860}, time_ms=now
                ).to_json()
                for i in range(per)
            ]
            for c in range(args.clients)
        ]
        size = len(orjson.loads(batches[0][0])["body"])
        latencies: list[float] = []
        t = time.perf_counter()
        await asyncio.gather(*(client(node.ws_url, b, args.inflight, latencies) for b in batches))
        elapsed = time.perf_counter() - t
    finally:
        node.stop()
    latencies.sort()
    total = per * args.clients
    result = {
        "messages": total,
        "clients": args.clients,
        "body_bytes": size,
        "seconds": elapsed,
        "acked_per_second": total / elapsed,
        "ack_latency_ms": {
            q: latencies[int(q / 100 * (len(latencies) - 1))] * 1000 for q in (50, 99)
        },
        "goal_per_second": 15000,
    }
    print(
        f"{total} signed {size}-byte writes, {args.clients} clients: {result['acked_per_second']:,.0f} acked/s "
        f"(p50 {result['ack_latency_ms'][50]:.1f} ms, p99 {result['ack_latency_ms'][99]:.1f} ms); goal 15,000/s"
    )
    write_result("node_ingest", result)


if __name__ == "__main__":
    asyncio.run(main())
