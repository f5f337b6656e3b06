"""Recovery alone: the last phase of ``replication.py`` (a node that missed ``--missed``
writes restarts and catches up from its two peers), without the ack-latency, sustained and
failover phases, so paired A/B runs of two trees take a minute each. Prints a table and
writes bench/results/recovery.json: writes/s from the restart (as ``replication.py``) and
from the moment the node answered ``/healthz``, bytes exchanged over the wire size of the
difference, the node's own account of its last catch-up pull (``/api/stats``
``catch_up.last_pull``: when it began after the node's start, the writes it stored, its
rate while it ran), and the restarted node's replication counters (anti-entropy rounds, ranges and
writes pulled) that tell catch-up's traffic from anti-entropy's.

Usage: .venv/bin/python bench/recovery.py [--missed 20000] [--baseline 20000] [--profile DIR]
       [--gil]
(``PYTHONPATH=<tree>/src`` runs another tree's node with this script.)
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

import aiohttp

from replication import bench_network, recovery_rate, requests_by_op, warm_up
from report import Report


async def replication_counters(url: str) -> dict[str, int]:
    """``flocloud_replication{event=...}`` of a node's ``/metrics``."""
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as r:
        text = await r.text()
    return {
        m.group(1): int(float(m.group(2)))
        for m in re.finditer(
            r'flocloud_replication(?:_total)?\{[^}]*event="([^"]+)"[^}]*\} (\S+)', text
        )
    }


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--missed", type=int, default=20000)
    p.add_argument("--baseline", type=int, default=20000)
    p.add_argument("--profile", type=Path, help="a folder for py-spy raw stacks of the node")
    p.add_argument("--gil", action="store_true", help="profile only the thread holding the GIL")
    args = p.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rep = Report("recovery", vars(args) | {"profile": str(args.profile)})
    net = bench_network()
    try:
        await warm_up(net)
        r = await recovery_rate(net, args.missed, args.baseline, args.profile, args.gil)
        r["victim_replication"] = await replication_counters(net.nodes[2].url)
        r["others_replication"] = [await replication_counters(n.url) for n in net.nodes[:2]]
        r["victim_served"] = await requests_by_op(net.nodes[2].url)  # peer requests, by op
    finally:
        net.stop()
    rep.row(f"recovery of {r['missed']:,} missed writes", r["messages_per_second"], "/s",
            goal=20000, ceiling="sqlite")  # fmt: skip
    rep.row("recovery from healthy", r["messages_per_second_from_healthy"], "/s")
    rep.row("recovery bytes / wire size of the difference", r["bytes_over_difference_wire"], "x")
    if last := r.get("catch_up_last_pull"):  # the node's own account of its pull
        rep.row("catch-up's pull began, after the node's start", last["began_s"], "s")
        rep.row("catch-up's pull: writes it stored", last["writes"], "writes")
        rep.row("catch-up's pull: rate while it ran", last["writes"] / max(last["seconds"], 1e-3),
                "/s")  # fmt: skip
    print(
        {k: r[k] for k in ("seconds", "seconds_to_healthy", "bytes_exchanged", "cpu_us_per_write")}
    )
    print(r["victim_replication"], r["others_replication"], r["victim_served"])
    rep.finish({"recovery": r})


if __name__ == "__main__":
    asyncio.run(main())
