"""A seeded fault run on real processes: 5 supernodes (N=3, W=2), concurrent writers,
kill -9, restarts, replication partitions and cut client links; then heal and check.

Invariants owned here:
- Writers talk to nodes only through ``LinkProxy`` (one per node), so the harness can cut
  a client's link without touching the node. A writer sends one write at a time to a
  random node; on a timeout, a dropped link or an error (``unavailable`` below the
  quorum included) it sends the same envelope to the next node, as the SDK does. Only a
  reply ``"ok": true`` counts as acknowledged.
- The faults come from ``random.Random(seed)``: the same seed draws the same faults (the
  processes' timing still varies; the result checked does not depend on it).
- After the fault phase everything is healed and restarted, and the run waits until the
  replicas of every key written agree on their whole state (digests, then every record
  field: ``Network.wait_converged``); ``lost`` lists acknowledged writes missing from any
  replica of their key: it must be empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from flocloud.client.connection import NodeConnection
from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST

from .network import Network
from .proxy import LinkProxy

__all__ = ["FaultReport", "run_faults"]

log = logging.getLogger("flocloud.devnet.faults")


@dataclass
class FaultReport:
    seed: int
    seconds: float
    attempted: int = 0
    acked: int = 0
    lost: list[str] = field(default_factory=list)
    converge_seconds: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "fault_seconds": self.seconds, "writes_attempted": self.attempted,
            "writes_acked": self.acked, "acked_lost": len(self.lost),
            "converge_seconds": round(self.converge_seconds, 2), "faults": self.faults,
        }  # fmt: skip


def _key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"faults-script-" + label.encode()).digest(), REGTEST)


async def _put(session: aiohttp.ClientSession, url: str, env: Envelope) -> bool:
    conn = NodeConnection(url, session, timeout=3)
    try:
        await conn.connect()
        reply = await conn.request("put", envelope=env.to_wire())
        return reply.get("ok") is True
    finally:
        await conn.close()


async def _writer(
    rnd: random.Random,
    proxies: list[LinkProxy],
    receivers: list[str],
    report: FaultReport,
    acked: dict[str, str],
    stop: asyncio.Event,
    who: int,
) -> None:
    sender = _key(f"writer-{who}")
    n = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            n += 1
            receiver = rnd.choice(receivers)
            env = build_envelope(
                sender, receiver=receiver, payload={"w": who, "n": n},
                time_ms=int(time.time() * 1000), application="demo",
            )  # fmt: skip
            report.attempted += 1
            order = rnd.sample(range(len(proxies)), len(proxies))
            for attempt in range(2 * len(proxies)):
                if stop.is_set() and attempt > 0:
                    break
                try:
                    if await _put(session, proxies[order[attempt % len(order)]].url, env):
                        acked[env.id] = receiver
                        report.acked += 1
                        break
                except FlocloudError as exc:
                    log.debug("write %s refused: %s", env.id[:8], exc.code)
                await asyncio.sleep(0.05)


async def _faults(
    rnd: random.Random, net: Network, proxies: list[LinkProxy], report: FaultReport,
    stop: asyncio.Event,
) -> None:  # fmt: skip
    nodes = net.active
    while not stop.is_set():
        await asyncio.sleep(rnd.uniform(0.3, 1.0))
        kind = rnd.choice(["kill", "restart", "partition", "heal", "cut", "restore"])
        running = [n for n in nodes if n.running]
        dead = [n for n in nodes if not n.running]
        if kind == "kill" and len(running) > 3:
            rnd.choice(running).kill()
        elif kind == "restart" and dead:
            node = rnd.choice(dead)
            node.start()
            await node.wait_healthy(30)
        elif kind == "partition":
            cut = rnd.choice(nodes)
            net.partition([cut.index], [n.index for n in nodes if n is not cut])
        elif kind == "heal":
            net.heal()
        elif kind == "cut":
            rnd.choice(proxies).cut()
        elif kind == "restore":
            for p in proxies:
                p.restore()
        else:
            continue
        report.faults[kind] = report.faults.get(kind, 0) + 1


async def run_faults(
    base: Path, seed: int, seconds: float = 10.0, writers: int = 3, keys: int = 6
) -> FaultReport:
    """Start the devnet, run the faults for ``seconds``, heal, wait, check; stop it all."""
    rnd = random.Random(seed)
    report = FaultReport(seed, seconds)
    net = Network(base, nodes=5, block_interval=0.5, backup_depth=2, write_quorum=2, seed=seed)
    proxies: list[LinkProxy] = []
    try:
        await net.start()
        await net.wait_quorum()
        for node in net.active:
            proxy = LinkProxy(node.port)
            await proxy.start()
            proxies.append(proxy)
        receivers = [str(_key(f"key-{seed}-{i}").address) for i in range(keys)]
        acked: dict[str, str] = {}
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                _writer(random.Random(rnd.random()), proxies, receivers, report, acked, stop, i)
            )
            for i in range(writers)
        ]
        faults = asyncio.create_task(
            _faults(random.Random(rnd.random()), net, proxies, report, stop)
        )
        await asyncio.sleep(seconds)
        stop.set()
        await faults
        await asyncio.gather(*tasks)
        net.heal()
        for p in proxies:
            p.restore()
        for node in net.active:
            if not node.running:
                node.start()
                await node.wait_healthy(30)
        t0 = time.monotonic()
        await net.wait_converged(receivers, timeout=60)
        report.converge_seconds = time.monotonic() - t0
        held: dict[tuple[int, str], set[str]] = {}
        for msg_id, receiver in acked.items():
            for node in net.replicas(receiver):
                if (node.index, receiver) not in held:
                    held[node.index, receiver] = await net.ids_on(node, receiver)
                if msg_id not in held[node.index, receiver]:
                    report.lost.append(f"{msg_id} on {node.name}")
        return report
    finally:
        for p in proxies:
            with contextlib.suppress(Exception):
                await p.stop()
        net.stop()
