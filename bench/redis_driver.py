"""Load driver for peer_redis.py, run by the peers venv's python (it needs redis-py).

``xadd``: ``--clients`` asyncio clients each send ``--messages / clients`` XADDs of a
``--payload``-byte field, ``--pipeline`` commands per round trip (the same in-flight depth
as node_ingest.py's 64), and the run's XADDs per second. ``xread``: fills a stream with
``--stored`` small entries, then times ``XREAD COUNT new STREAMS s <id>`` from the id that
leaves the newest ``--new`` (incremental_fetch.py's question). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import redis.asyncio as redis


async def xadd(r: redis.Redis, messages: int, clients: int, pipeline: int, payload: int) -> dict:
    per = messages // clients
    body = b"x" * payload
    latencies: list[float] = []

    async def client(c: int) -> None:
        for start in range(0, per, pipeline):
            p = r.pipeline(transaction=False)
            for i in range(start, min(per, start + pipeline)):
                p.xadd("ingest", {"c": c, "i": i, "body": body})
            t = time.perf_counter()
            await p.execute()
            latencies.append(time.perf_counter() - t)

    t = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - t
    latencies.sort()
    return {
        "messages": per * clients,
        "seconds": elapsed,
        "per_second": per * clients / elapsed,
        "round_trip_ms_p50": latencies[len(latencies) // 2] * 1000,
        "round_trip_ms_p99": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
    }


async def xread(r: redis.Redis, stored: int, new: int) -> dict:
    body = b'{"v":1,"type":"message","payload":{"i":0}}'
    t = time.perf_counter()
    for start in range(0, stored, 1000):
        p = r.pipeline(transaction=False)
        for i in range(start, min(stored, start + 1000)):
            p.xadd("fetch", {"i": i, "body": body}, id=f"{i + 1}-0")
        await p.execute()
    fill = time.perf_counter() - t
    after = f"{stored - new}-0"
    times = []
    for _ in range(20):
        t = time.perf_counter()
        reply = await r.xread({"fetch": after}, count=new)
        times.append(time.perf_counter() - t)
        got = len(reply[0][1]) if reply else 0
        if got != new:
            raise RuntimeError(f"XREAD returned {got} of {new}")
    return {"fill_seconds": fill, "ms_median": statistics.median(times) * 1000,
            "ms_min": min(times) * 1000, "ms_max": max(times) * 1000}  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["xadd", "xread"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--pipeline", type=int, default=64)
    p.add_argument("--payload", type=int, default=1024)
    p.add_argument("--stored", type=int, default=1_000_000)
    p.add_argument("--new", type=int, default=1000)
    a = p.parse_args()
    r = redis.Redis(host="127.0.0.1", port=a.port, max_connections=a.clients + 1)
    try:
        if a.mode == "xadd":
            out = await xadd(r, a.messages, a.clients, a.pipeline, a.payload)
        else:
            out = await xread(r, a.stored, a.new)
    finally:
        await r.aclose()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
