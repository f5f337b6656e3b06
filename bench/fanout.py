"""Benchmarks of one supernode's connections: live fan-out and idle connection memory.

1. fan-out: S live subscriptions of one receiver (32 per websocket connection), then W
   writes to it; for each write, the time from sending it to the last subscriber's
   delivery (the subscribers are read by one client process, which bounds the figure),
   and the whole run's deliveries per second. Then the same write rate with S subscribers
   on *other* receivers, to show a commit does not cost more for them (subscribers are
   indexed by receiver).
2. memory: the node's RSS before and after opening C idle websocket connections, per 1,000.

Prints a table and writes bench/results/fanout.json.
Usage: .venv/bin/python bench/fanout.py [--subscribers 10000] [--writes 20] [--idle 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import statistics
import time

import aiohttp
import orjson

from flocloud.devnet.network import standalone_node
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from peers import rss_mib
from report import Report, scratch

PER_CONN = 32


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


async def subscribe_all(
    session: aiohttp.ClientSession, url: str, receivers: list[str]
) -> list[aiohttp.ClientWebSocketResponse]:
    conns = []
    for start in range(0, len(receivers), PER_CONN):
        ws = await session.ws_connect(url, compress=0, max_msg_size=0)
        chunk = receivers[start : start + PER_CONN]
        for i, r in enumerate(chunk):
            await ws.send_bytes(orjson.dumps({"id": i, "op": "subscribe", "sub": f"s{i}",
                                              "filter": {"receiver": r}}))  # fmt: skip
        acks = eose = 0
        while acks < len(chunk) or eose < len(chunk):
            frame = orjson.loads((await ws.receive(timeout=30)).data)
            acks += frame.get("ok") is True
            eose += frame.get("eose") is True
        conns.append(ws)
    return conns


async def fanout(url: str, subscribers: int, writes: int, same: bool) -> dict[str, float]:
    sender = key("fan-sender")
    target = key("fan-target").address
    receivers = (
        [target] * subscribers
        if same
        else [key(f"fan-other-{i}").address for i in range(subscribers)]
    )
    # no connection limit: the default (100) blocked the 101st websocket for good
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        conns = await subscribe_all(session, url, receivers)
        expected = subscribers if same else 0
        got: dict[int, int] = {}
        last: dict[int, float] = {}
        complete: dict[int, asyncio.Event] = {i: asyncio.Event() for i in range(writes)}

        async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                frame = orjson.loads(msg.data)
                ev = frame.get("event")
                if ev:
                    i = orjson.loads(ev["envelope"]["body"])["payload"]["i"]
                    got[i] = got.get(i, 0) + 1
                    last[i] = time.perf_counter()
                    if got[i] >= expected:
                        complete[i].set()

        readers = [asyncio.create_task(reader(ws)) for ws in conns]
        writer = await session.ws_connect(url, compress=0)
        lags = []
        t0 = time.perf_counter()
        for i in range(writes):
            env = build_envelope(
                sender, receiver=target, payload={"i": i}, time_ms=int(time.time() * 1000)
            )
            sent = time.perf_counter()
            await writer.send_bytes(orjson.dumps({"id": i, "op": "put", "envelope": env.to_wire()}))
            frame = orjson.loads((await writer.receive()).data)
            assert frame.get("ok"), frame
            if expected:
                try:
                    await asyncio.wait_for(complete[i].wait(), 30)
                except TimeoutError:
                    pass  # counted as lost below
            lags.append(((last.get(i, sent) - sent) if expected else 0.0) * 1000)
        elapsed = time.perf_counter() - t0
        for ws in [*conns, writer]:
            await ws.close()
        for t in readers:
            t.cancel()
    delivered = sum(got.values())
    return {
        "subscribers": subscribers,
        "same_receiver": same,
        "writes": writes,
        "delivered": delivered,
        "lost": writes * expected - delivered,
        "last_delivery_after_send_ms_median": statistics.median(lags),
        "last_delivery_after_send_ms_max": max(lags),
        "writes_per_second": writes / elapsed,
        "deliveries_per_second": delivered / elapsed,
    }


async def idle(url: str, pid: int, count: int) -> dict[str, float]:
    before = rss_mib(pid)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        conns = [await session.ws_connect(url, compress=0) for _ in range(count)]
        await asyncio.sleep(1)
        after = rss_mib(pid)
        for ws in conns:
            await ws.close()
    return {"connections": count, "rss_before_mib": before, "rss_after_mib": after,
            "mib_per_1000": (after - before) / count * 1000}  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--writes", type=int, default=20)
    p.add_argument("--idle", type=int, default=5000)
    args = p.parse_args()
    rep = Report("fanout", vars(args))
    # every client is on 127.0.0.1: lift the per-source connection bound (the default 64
    # is what one host gets on the internet) and the open-file limit the node inherits
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limits = (
        "rate_per_id = 1e9\nburst_per_id = 1000000000\nmax_subscriptions = 32\n"
        "max_connections = 100000\nmax_connections_per_source = 100000\n"
    )
    node = standalone_node(scratch(), settings=f"[limits]\n{limits}")
    node.start()
    try:
        await node.wait_healthy(30)
        pid = node.pid or 0
        same = await fanout(node.ws_url, args.subscribers, args.writes, True)
        other = await fanout(node.ws_url, args.subscribers, args.writes, False)
        mem = await idle(node.ws_url, pid, args.idle)
    finally:
        node.stop()
    result = {"fanout_same_receiver": same, "fanout_other_receivers": other, "idle": mem}
    print(
        f"{'case':<28} {'writes/s':>9} {'deliveries/s':>13} {'last after send ms':>19} {'lost':>5}"
    )
    for name, r in (("same receiver", same), ("other receivers", other)):
        print(f"{name + ' x' + str(r['subscribers']):<28} {r['writes_per_second']:>9.1f} "
              f"{r['deliveries_per_second']:>13,.0f} {r['last_delivery_after_send_ms_median']:>19.1f} {r['lost']:>5}")  # fmt: skip
    print(f"idle: {mem['connections']} websockets, RSS {mem['rss_before_mib']:.0f} -> "
          f"{mem['rss_after_mib']:.0f} MiB ({mem['mib_per_1000']:.1f} MiB per 1,000)")  # fmt: skip
    n = f"{args.subscribers:,}"
    rep.row(
        f"fan-out to {n} subscribers: last delivery",
        same["last_delivery_after_send_ms_median"],
        "ms",
    )
    rep.row(f"fan-out to {n} subscribers: deliveries", same["deliveries_per_second"], "/s")
    rep.row(f"fan-out to {n} subscribers: lost", same["lost"], "events", goal=0, goal_op="<=")
    rep.row(f"{n} subscribers of others: writes", other["writes_per_second"], "/s")
    rep.row("RSS per 1,000 idle websockets", mem["mib_per_1000"], "MiB")
    rep.finish(result)


if __name__ == "__main__":
    asyncio.run(main())
