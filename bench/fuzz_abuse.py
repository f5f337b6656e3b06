"""The long fuzz and abuse run against one live supernode (the test suite runs a short one).

Seeded fuzz over websockets, HTTP and raw malformed HTTP (inputs from the request schemas
and at random, ``tests/fuzzing.py``), then waves of abuse: websockets and HTTP clients that
never read, a connection flood, slowloris, Sybil writes from fresh IDs. A well-behaved
client on 127.0.0.2 is checked between waves. Prints inputs tried, replies by error code,
contract violations (an ``internal``, a plain-text error, a request with no reply) and the
node's RSS before, at its peak and after; writes bench/results/fuzz_abuse.json.
Usage: .venv/bin/python bench/fuzz_abuse.py [--seed 1] [--ws 200000] [--http 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from flocloud.devnet.network import NodeProcess, standalone_node
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from fuzzing import (
    Fuzzer,
    Tally,
    fuzz_http,
    fuzz_raw_http,
    fuzz_websocket,
    is_closed,
    raw_socket,
    rss_mib,
    ws_frames_raw,
    ws_handshake,
)
from report import scratch
from results_file import write_result

LIMITS = """rate_per_connection = 1e9
burst_per_connection = 1000000000
write_timeout_seconds = 3.0
request_timeout_seconds = 5.0
header_timeout_seconds = 3.0
"""


def key(label: str) -> PrivateKey:
    import hashlib

    return PrivateKey(hashlib.sha256(label.encode()).digest(), REGTEST)


def env(sender: PrivateKey, receiver: str, payload: object) -> dict[str, str]:
    now = int(time.time() * 1000)
    return build_envelope(sender, receiver=receiver, payload=payload, time_ms=now).to_wire()


class Watch:
    """The node's RSS over the run, and the well-behaved client's checks."""

    def __init__(self, node: NodeProcess) -> None:
        assert node.pid
        self.node, self.pid = node, node.pid
        self.before = self.peak = rss_mib(self.pid)
        self.good_ok = self.good_failed = 0

    def sample(self) -> None:
        self.peak = max(self.peak, rss_mib(self.pid))

    async def good(self) -> None:
        self.sample()
        conn = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0), force_close=True)
        try:
            async with (
                aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=10)) as s,
                s.ws_connect(self.node.ws_url) as ws,
            ):
                e = env(key("good"), key("good-inbox").address, {"t": time.time()})
                await ws.send_bytes(orjson.dumps({"id": 1, "op": "put", "envelope": e}))
                reply = orjson.loads((await ws.receive()).data)
                ok = reply.get("ok") is True
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        self.good_ok += ok
        self.good_failed += not ok


async def seed(node: NodeProcess, inbox: str, n: int) -> None:
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=conn) as s, s.ws_connect(node.ws_url) as ws:
        for i in range(n):
            e = env(key(f"seeder{i % 10}"), inbox, "s" * 60_000)
            await ws.send_bytes(orjson.dumps({"id": i, "op": "put", "envelope": e}))
        for _ in range(n):
            await ws.receive()


async def slow_readers(node: NodeProcess, inbox: str, watch: Watch, n: int) -> dict[str, int]:
    """``n`` websockets and ``n`` HTTP clients asking for big pages and never reading."""
    socks = []
    q = {"op": "query", "filter": {"receiver": inbox, "limit": 1000}}
    for i in range(n):
        s = raw_socket(node.port, f"127.0.1.{i % 200 + 1}", rcvbuf=4096)
        if ws_handshake(s):
            for j in range(20):
                s.sendall(ws_frames_raw(orjson.dumps({**q, "id": j})))
        socks.append(s)
        h = raw_socket(node.port, f"127.0.2.{i % 200 + 1}", rcvbuf=4096)
        h.sendall(f"GET /api/messages?receiver={inbox}&limit=1000 HTTP/1.1\r\n\r\n".encode())
        socks.append(h)
    for _ in range(20):
        await asyncio.sleep(0.5)
        watch.sample()
    await watch.good()
    closed = sum(is_closed(s) for s in socks)
    for s in socks:
        s.close()
    return {"slow_clients": len(socks), "dropped_by_node": closed}


async def flood(node: NodeProcess, watch: Watch, n: int) -> dict[str, int]:
    def run() -> tuple[int, int]:
        socks = []
        for i in range(n):
            try:
                socks.append(raw_socket(node.port, f"127.0.3.{i % 50 + 1}"))
            except OSError:
                break
        held = sum(1 for s in socks if ws_handshake(s))
        for s in socks:
            s.close()
        return len(socks), held

    tried, held = await asyncio.to_thread(run)
    await watch.good()
    return {"flood_connections": tried, "flood_held": held}


async def slowloris(node: NodeProcess, watch: Watch, n: int) -> dict[str, int]:
    socks = [raw_socket(node.port, f"127.0.4.{i % 50 + 1}") for i in range(n)]
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    for _ in range(12):
        await asyncio.sleep(0.5)
        for s in socks:
            try:
                s.sendall(b"X-a: b\r\n")
            except OSError:
                pass
        watch.sample()
    await watch.good()
    closed = sum(is_closed(s) for s in socks)
    for s in socks:
        s.close()
    return {"slowloris": n, "slowloris_closed": closed}


async def sybil(node: NodeProcess, watch: Watch, n: int) -> dict[str, int]:
    ids = [key(f"sybil{i}") for i in range(200)]
    accepted = refused = 0
    async with aiohttp.ClientSession() as s, s.ws_connect(node.ws_url) as ws:
        for i in range(n):
            e = env(ids[i % 200], key(f"sybil-inbox{i % 7}").address, "y" * 30_000)
            await ws.send_bytes(orjson.dumps({"id": i, "op": "put", "envelope": e}))
        for _ in range(n):
            reply = orjson.loads((await ws.receive()).data)
            accepted += reply.get("ok") is True
            refused += reply.get("ok") is False
    await watch.good()
    return {"sybil_writes": n, "sybil_accepted": accepted, "sybil_refused": refused}


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ws", type=int, default=200_000)
    p.add_argument("--http", type=int, default=20_000)
    p.add_argument("--raw", type=int, default=1_000)
    p.add_argument("--slow", type=int, default=50)
    p.add_argument("--flood", type=int, default=3_000)
    p.add_argument("--slowloris", type=int, default=500)
    p.add_argument("--sybil", type=int, default=4_000)
    args = p.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    node = standalone_node(scratch(), settings=f"[limits]\n{LIMITS}")
    node.start()
    await node.wait_healthy(30)
    inbox = key("fuzz-abuse-inbox").address
    tally = Tally()
    result: dict[str, object] = {"seed": args.seed}
    try:
        await seed(node, inbox, 200)
        watch = Watch(node)
        fz = Fuzzer(args.seed)
        t = time.perf_counter()
        for name, run, n in (
            ("websocket", fuzz_websocket, args.ws),
            ("http", fuzz_http, args.http),
            ("raw http", fuzz_raw_http, args.raw),
        ):
            chunk = 20_000 if name == "websocket" else n
            for start in range(0, n, chunk):
                await run(node, fz, min(chunk, n - start), tally)
                await watch.good()
            print(f"{name}: {n} inputs, {time.perf_counter() - t:.0f} s", file=sys.stderr)
        result.update(await slow_readers(node, inbox, watch, args.slow))
        result.update(await flood(node, watch, args.flood))
        result.update(await slowloris(node, watch, args.slowloris))
        result.update(await sybil(node, watch, args.sybil))
        watch.sample()
        after = rss_mib(watch.pid)
        log = node.log_path.read_text(errors="replace")
    finally:
        node.stop()
    result.update(
        {
            "inputs": tally.inputs,
            "replies_by_code": dict(tally.codes.most_common()),
            "violations": tally.bad[:50],
            "violation_count": len(tally.bad),
            "tracebacks_in_log": log.count("Traceback"),
            "log_bytes": len(log),
            "rss_mib": {"before": watch.before, "peak": watch.peak, "after": after},
            "good_client": {"ok": watch.good_ok, "failed": watch.good_failed},
        }
    )
    print(f"inputs tried        {tally.inputs:,}")
    print("replies by code     " + ", ".join(f"{c} {n:,}" for c, n in tally.codes.most_common()))
    print(
        f"contract violations {len(tally.bad)}; tracebacks in the node log {result['tracebacks_in_log']}"
    )
    for line in tally.bad[:10]:
        print("   ", line)
    for k in ("slow_clients", "dropped_by_node", "flood_connections", "flood_held"):
        print(f"{k:<20}{result[k]}")
    for k in ("slowloris", "slowloris_closed", "sybil_writes", "sybil_accepted", "sybil_refused"):
        print(f"{k:<20}{result[k]}")
    print(
        f"node RSS            before {watch.before:.0f} MiB, peak {watch.peak:.0f} MiB, "
        f"after {after:.0f} MiB"
    )
    print(f"well-behaved client {watch.good_ok} ok, {watch.good_failed} failed (from 127.0.0.2)")
    write_result("fuzz_abuse", result)


if __name__ == "__main__":
    asyncio.run(main())
