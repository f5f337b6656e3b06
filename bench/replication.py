"""Benchmarks of the distributed cloud on a local network of real processes (3 supernodes,
N = 3, W = 2). Prints a table and writes bench/results/replication.json.

1. replicated write ack latency (after W commits) at fixed offered rates, lowest first
   (goal p99 <= 10 ms at 1,000/s);
2. sustained replicated ingest: node_ingest.py's load (50 clients pipelining signed 1 KiB
   writes) against one node, acked after W commits (goal >= 5,000/s);
3. client-observed gap after kill -9 of the home node (goal p99 <= 1 s);
4. recovery rate of a node that missed many messages (goal >= 20k messages/s), and the
   bytes it exchanged (``ss`` counters of its sockets, all opened after its restart)
   beside the wire size of the difference: traffic O(difference), not O(stored).

Usage: .venv/bin/python bench/replication.py [--rates 250,1000] [--seconds 5] [--trials 5]
       [--sustained 30000] [--missed 20000] [--baseline 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from flocloud import Client
from flocloud.devnet import Network
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from node_ingest import LIMITS, cpu_seconds, flocloud_ack, pipelined, presign, start_profiler
from report import Report, scratch


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"bench-" + label.encode()).digest(), REGTEST)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")


async def client(net: Network, label: str) -> Client:
    c = await Client.from_chain(
        key(label), explorer=net.chain.url, registry=net.registry_key.address, request_timeout=2
    )
    c.network.down_for = 2.0
    return c


async def ack_latency(net: Network, rate: int, seconds: float) -> dict[str, float]:
    senders = [await client(net, f"lat-{i}") for i in range(8)]
    receiver = key("lat-receiver").address
    latencies: list[float] = []
    quorum_misses = failures = 0

    async def one(c: Client, env: Envelope) -> None:
        nonlocal quorum_misses, failures
        t = time.perf_counter()
        try:
            ack = await c.put(env)
        except FlocloudError:
            failures += 1
            return
        latencies.append(time.perf_counter() - t)
        quorum_misses += ack.get("replicas", 0) < 2

    # signed before the clock starts, as the clients of other machines would have: the
    # cores of this one then measure the nodes (and the clients' sending, not signing)
    envs = [senders[i % len(senders)].sign(receiver, {"i": i}) for i in range(int(rate * seconds))]
    tasks = []
    gcs = [await collector(n.url) for n in net.nodes]
    cpu = [cpu_seconds(n.pid or 0) for n in net.nodes] + [time.process_time()]
    start = time.perf_counter()
    for i, env in enumerate(envs):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(senders[i % len(senders)], env)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    used = [
        b - a
        for a, b in zip(
            cpu, [cpu_seconds(n.pid or 0) for n in net.nodes] + [time.process_time()], strict=True
        )
    ]
    for c in senders:
        await c.aclose()
    gc = collector_since([await collector(n.url) for n in net.nodes], gcs)
    ms = [x * 1000 for x in latencies]
    n = max(1, len(ms))
    return {
        # each node's collector meanwhile: passes per generation and CPU seconds (a pass
        # holds the GIL: its length is a stall of every thread)
        "gc_passes": gc["passes"],
        "gc_seconds": [round(x, 4) for x in gc["seconds"]],
        # CPU of each node (with its signature workers) and of this load generator, per
        # acked write, and the cores they kept busy in all: the budget the tail lives in
        "cpu_us_per_write": [round(u / n * 1e6, 1) for u in used[:-1]],
        "load_generator_us_per_write": round(used[-1] / n * 1e6, 1),
        "cores_busy": round(sum(used) / wall, 3),
        "rate": rate,
        "failed": failures,
        "count": len(ms),
        "p50_ms": pct(ms, 50),
        "p99_ms": pct(ms, 99),
        "max_ms": max(ms),
        "below_quorum": quorum_misses,
    }


async def failover_gaps(net: Network, trials: int) -> dict[str, object]:
    """Write continuously; kill -9 the home node; the gap is the longest time between two
    successful acks in the 2 s after the kill."""
    gaps: list[float] = []
    for t in range(trials):
        c = await client(net, f"gap-{t}")
        home = next(n for n in net.nodes if n.id == c.network.route(c.id)[0].id)
        for _ in range(20):  # warm the connection
            await c.put(c.sign(c.id, {"warm": time.time()}))
        home.kill()
        killed = last_ok = time.perf_counter()
        worst = 0.0
        while time.perf_counter() - killed < 2.0:
            try:
                await c.put(c.sign(c.id, {"t": time.time()}))
            except FlocloudError:
                await asyncio.sleep(0.002)
                continue
            now = time.perf_counter()
            worst, last_ok = max(worst, now - last_ok), now
        gaps.append(worst)
        await c.aclose()
        home.start()
        await home.wait_healthy(30)
    ms = [g * 1000 for g in gaps]
    return {"trials": trials, "gaps_ms": ms, "p99_ms": pct(ms, 99), "max_ms": max(ms)}


async def stored(url: str) -> int:
    """A node's ``writes_replicated`` (writes it got from peers) from ``/api/stats``, an
    in-memory counter (``/metrics`` counts the messages table on every scrape, O(stored),
    which polled every 50 ms competed with the recovery being measured)."""
    async with aiohttp.ClientSession() as s, s.get(url + "/api/stats") as r:
        return int((await r.json())["writes_replicated"])


async def collector(url: str) -> dict[str, Any]:
    """A node's cyclic garbage collector counters (``/api/stats`` ``gc``; zeros from a
    node older than them, for paired runs against earlier code)."""
    async with aiohttp.ClientSession() as s, s.get(url + "/api/stats") as r:
        doc = await r.json()
    return dict(doc.get("gc") or {"passes": [0, 0, 0], "collected": 0, "seconds": 0.0})


def collector_since(after: list[dict[str, Any]], before: list[dict[str, Any]]) -> dict[str, Any]:
    """Each node's collector between two ``collector`` readings: passes per generation,
    CPU seconds and objects freed."""
    pairs = list(zip(after, before, strict=True))
    return {
        "passes": [
            [x - y for x, y in zip(a["passes"], b["passes"], strict=True)] for a, b in pairs
        ],
        "seconds": [a["seconds"] - b["seconds"] for a, b in pairs],
        "collected": [a["collected"] - b["collected"] for a, b in pairs],
    }


class BenchNetwork(Network):
    """The local network with the benchmark's limits (the defaults throttle one sender at
    100 writes/s, which would measure the limiter)."""

    def _write_node_config(self, node):  # type: ignore[no-untyped-def]
        super()._write_node_config(node)
        path = self.base / f"node{node.index}" / "node.toml"
        # the devnet's config ends with its own [limits]: one table, the bench's keys first
        head, _, tail = path.read_text().partition("\n[limits]\n")
        assert "[" not in tail, "[limits] is no longer the config's last table"
        ours = {line.split("=")[0].strip() for line in LIMITS.splitlines()[1:]}
        kept = [x for x in tail.splitlines() if x.strip() and x.split("=")[0].strip() not in ours]
        path.write_text(head + "\n" + LIMITS + "\n" + "\n".join(kept) + "\n")


def bench_network() -> BenchNetwork:
    """The benchmarks' network: 3 supernodes, N = 3, W = 2."""
    return BenchNetwork(scratch(), nodes=3, block_interval=1.0, backup_depth=2, write_quorum=2)


async def warm_up(net: Network) -> None:
    """Start the network and wait until a write reaches W."""
    await net.start()
    warm = await client(net, "warm")
    for _ in range(100):
        if (await warm.put(warm.sign(warm.id, 1))).get("replicas", 0) >= 2:
            break
        await asyncio.sleep(0.2)
    await warm.aclose()


def socket_bytes(pid: int, by_socket: list[tuple[str, str, int, int]] | None = None) -> int:
    """Bytes sent and received on the TCP sockets of ``pid`` (``ss -tinp``); each socket's
    ``(local, remote, sent, received)`` appended to ``by_socket`` when given."""
    out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True, timeout=10).stdout
    total = 0
    lines = out.splitlines()
    for head, info in zip(lines[::2], lines[1::2], strict=False):
        if f"pid={pid}," in head:
            sent, received = (
                int(m.group(1)) if (m := re.search(field + r":(\d+)", info)) else 0
                for field in ("bytes_acked", "bytes_received")
            )
            total += sent + received
            if by_socket is not None:
                local, remote = head.split()[3:5]
                by_socket.append((local, remote, sent, received))
    return total


async def requests_by_op(url: str) -> dict[str, float]:
    """A node's requests served so far by op (``flocloud_requests_total``), peer ops only."""
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as r:
        text = await r.text()
    found = re.findall(r'^flocloud_requests_total\{op="(peer\.[^"]+)"\} (\S+)$', text, re.M)
    return {op: float(n) for op, n in found}


def stop_profiler(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.send_signal(2)  # SIGINT: py-spy writes what it has
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def sustained(
    net: Network, messages: int, profile: Path | None, gil: bool = False
) -> dict[str, float]:
    clients = 50
    batches, size = presign(clients, messages // clients)
    latencies: list[float] = []
    below_quorum = 0

    def ack(data: bytes) -> int:
        # below W the node answers ``unavailable`` (stored, not acked): counted, not fatal
        nonlocal below_quorum
        frame = orjson.loads(data)
        if not frame.get("ok") and frame.get("error", {}).get("code") == "unavailable":
            below_quorum += 1
            return int(frame["id"])
        return flocloud_ack(data)

    # node 0 takes every client write; node 1 is one of the replicas it sends them to
    spies = (
        [start_profiler(n.pid or 0, profile / f"sustained-node{n.index}.raw", 600, gil)
         for n in net.nodes[:2]]
        if profile
        else []
    )  # fmt: skip
    cpu = [cpu_seconds(n.pid or 0) for n in net.nodes]
    gcs = [await collector(n.url) for n in net.nodes]
    t = time.perf_counter()
    url = net.nodes[0].ws_url
    try:
        await asyncio.wait_for(
            asyncio.gather(*(pipelined(url, b, 64, latencies, ack) for b in batches)),
            timeout=max(120, messages / 50),
        )
    finally:
        elapsed = time.perf_counter() - t
        for spy in spies:
            stop_profiler(spy)
    latencies.sort()
    total = sum(len(b) for b in batches)
    # CPU per write, each node (the third copies land after the acks: a second to settle);
    # unlike the rate, it hardly depends on what else the shared machine runs
    await asyncio.sleep(1.0)
    replica = await requests_by_op(net.nodes[1].url)
    cpu_us = [
        (cpu_seconds(n.pid or 0) - c) / total * 1e6 for n, c in zip(net.nodes, cpu, strict=True)
    ]
    gc = collector_since([await collector(n.url) for n in net.nodes], gcs)
    return {"messages": total, "body_bytes": size, "seconds": elapsed, "below_quorum": below_quorum,
            "acked_per_second": (total - below_quorum) / elapsed,
            "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
            "cpu_us_per_write": cpu_us, "cpu_us_per_write_total": sum(cpu_us),
            "gc_cpu_us_per_write": [x / total * 1e6 for x in gc["seconds"]],
            "gc_freed_per_write": [x / total for x in gc["collected"]],
            "gc_passes": gc["passes"],
            "node1_requests": replica}  # fmt: skip


async def pump_writes(net: Network, label: str, count: int) -> int:
    """``count`` writes to 64 receivers from 16 SDK clients; returns one envelope's size."""
    writers = [await client(net, f"{label}-{i}") for i in range(16)]
    receivers = [key(f"rec-r{i}").address for i in range(64)]

    async def pump(c: Client, n: int, offset: int) -> None:
        for i in range(n):
            await c.put(
                c.sign(receivers[(offset + i) % len(receivers)], {"i": i, "pad": "r" * 200})
            )

    per = count // len(writers)
    await asyncio.gather(*(pump(c, per, k * 7) for k, c in enumerate(writers)))
    size = len(writers[0].sign(receivers[0], {"i": 0, "pad": "r" * 200}).to_json())
    for c in writers:
        await c.aclose()
    return size


async def recovery_rate(
    net: Network, missed: int, baseline: int, profile: Path | None, gil: bool = False
) -> dict[str, float]:
    victim = net.nodes[2]
    receivers = [
        r for r in (key(f"rec-r{i}").address for i in range(64)) if victim in net.replicas(r)
    ]

    async def held_by_others() -> int:
        return sum([len(await net.ids_on(net.nodes[0], r)) for r in receivers])

    if baseline:
        await pump_writes(net, "base", baseline)  # held by the victim too
    held = await held_by_others()
    deadline = time.perf_counter() + 120
    while sum([len(await net.ids_on(victim, r)) for r in receivers]) < held:
        if time.perf_counter() > deadline:
            raise TimeoutError("the victim did not get the baseline writes in 120 s")
        await asyncio.sleep(0.5)
    victim.stop()
    envelope_bytes = await pump_writes(net, "rec", missed)
    difference = await held_by_others() - held
    others = [n for n in net.nodes if n is not victim]
    others_cpu = [cpu_seconds(n.pid or 0) for n in others]
    t = time.perf_counter()
    victim.start()
    spy = None
    if profile:  # py-spy cannot attach before the interpreter is up
        await asyncio.sleep(0.3)
        spy = start_profiler(victim.pid or 0, profile / "recovery-victim.raw", 600, gil)
    await victim.wait_healthy(30)
    healthy = time.perf_counter()
    # progress comes from the node's own counter (it starts at 0 with the process), not
    # from reading its data back, which would compete with the recovery being measured
    while await stored(victim.url) < difference:
        if time.perf_counter() - t > 600:
            raise TimeoutError("the restarted node did not recover in 600 s")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t
    from_healthy = time.perf_counter() - healthy
    cpu = {"victim": cpu_seconds(victim.pid or 0)} | {
        f"node{n.index}": cpu_seconds(n.pid or 0) - c
        for n, c in zip(others, others_cpu, strict=True)
    }
    sockets: list[tuple[str, str, int, int]] = []
    exchanged = socket_bytes(victim.pid or 0, sockets)
    ports = {str(n.port): f"node{n.index}" for n in net.nodes}
    sockets = [  # the remote side named when it is a node's listening port
        (loc, ports.get(rem.rsplit(":", 1)[1], rem), s, r) for loc, rem, s, r in sockets
    ]
    stop_profiler(spy)
    async with aiohttp.ClientSession() as s, s.get(victim.url + "/api/stats") as r:
        last_pull = (await r.json()).get("catch_up", {}).get("last_pull")  # older nodes: none
    return {"missed": difference, "held_before": held, "seconds": elapsed,
            "catch_up_last_pull": last_pull,
            "messages_per_second": difference / elapsed, "bytes_exchanged": exchanged,
            "seconds_to_healthy": healthy - t,
            "messages_per_second_from_healthy": difference / from_healthy,
            "envelope_bytes": envelope_bytes, "sockets": sockets, "cpu_seconds": cpu,
            "cpu_us_per_write": {k: v / max(1, difference) * 1e6 for k, v in cpu.items()},
            "bytes_over_difference_wire": exchanged / max(1, difference * envelope_bytes)}  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rates", default="250,1000", help="offered rates, comma separated")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--sustained", type=int, default=30000)
    p.add_argument("--missed", type=int, default=20000)
    p.add_argument("--baseline", type=int, default=20000)
    p.add_argument("--profile", type=Path, help="a folder for py-spy raw stacks of the nodes")
    p.add_argument("--gil", action="store_true", help="profile only the thread holding the GIL")
    p.add_argument("--skip", default="", help="parts left out: failover,recovery (comma separated)")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rep = Report("replication", vars(args) | {"profile": str(args.profile)})
    rates = sorted(int(r) for r in args.rates.split(","))
    net = bench_network()
    try:
        await warm_up(net)
        result: dict[str, object] = {
            # lowest rate first: a higher rate's backlog would spill into the next
            "ack_latency": [await ack_latency(net, rate, args.seconds) for rate in rates],
            "sustained": await sustained(net, args.sustained, args.profile, args.gil),
        }
        if "failover" not in skip:
            result["failover"] = await failover_gaps(net, args.trials)
        if "recovery" not in skip:
            result["recovery"] = await recovery_rate(
                net, args.missed, args.baseline, args.profile, args.gil
            )
    finally:
        net.stop()
    for a in result["ack_latency"]:  # type: ignore[attr-defined]
        rep.row(f"replicated ack p99 at {a['rate']:,}/s offered", a["p99_ms"], "ms",
                goal=10 if a["rate"] >= 1000 else None, goal_op="<=")  # fmt: skip
        rep.row(f"  cores busy at {a['rate']:,}/s (3 nodes and the load)", a["cores_busy"], "cores")
    s = result["sustained"]
    rep.row("replicated ingest sustained, 50 clients, W=2", s["acked_per_second"], "/s",  # type: ignore[index]
            goal=5000, ceiling="verify")  # fmt: skip
    rep.row("CPU per replicated write, 3 nodes together", s["cpu_us_per_write_total"], "µs")  # type: ignore[index]
    rep.row("  of it the home's garbage collector", s["gc_cpu_us_per_write"][0], "µs")  # type: ignore[index]
    if "failover" in result:
        f = result["failover"]
        rep.row("failover gap after kill -9 of the home, p99", f["p99_ms"], "ms",  # type: ignore[index]
                goal=1000, goal_op="<=")  # fmt: skip
    if "recovery" in result:
        r = result["recovery"]
        rep.row(f"recovery of {r['missed']:,} missed writes", r["messages_per_second"], "/s",  # type: ignore[index]
                goal=20000, ceiling="sqlite")  # fmt: skip
        rep.row(
            "recovery bytes / wire size of the difference", r["bytes_over_difference_wire"], "x"
        )  # type: ignore[index]
    rep.finish(result)


if __name__ == "__main__":
    asyncio.run(main())
