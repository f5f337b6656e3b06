"""Simulation of a large network, in-process, with the real membership and placement code
(issue 14: "10,000-supernode simulation"; issue 10 part C).

Prints tables and writes bench/results/membership_sim.json:

1. build and lookup cost (goal: <= 20 us per key; CPU time, and wall time on this machine);
2. load: the busiest node's share of the key space over the mean, for homes and for replica
   sets, computed exactly over all 2**160 keys (``Placement.windows``), not sampled; and the
   same from sampled keys, whose Poisson noise is shown (goal max/mean <= 1.25);
3. keys moved when one node is added or removed: exact (the node's share), and checked
   on sampled keys (goal <= 1.2/n);
4. neighbour sets: size, cost, and a check at full scale that every replica / stand-in
   pair met on keys near sampled nodes' positions is linked both ways;
5. traffic per node per day at a write rate (replication, catch-up polling, heartbeats,
   anti-entropy), from the node's intervals and the measured neighbour count;
6. the seed's economics: 10,000 supernodes at 40 USD a month with 160 GB each.

Timings on a loaded shared machine are indicative only. Exact load walks take minutes at
10,000 nodes and V=256; ``--quick`` runs 2,000 nodes.

Usage: .venv/bin/python bench/membership_sim.py [--nodes 10000] [--virtual-nodes 256]
       [--replication 3] [--writes-per-second 10000] [--quick] [--no-exact]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from flocloud.node.config import ReplicationConfig
from flocloud.protocol.fingerprint import Fingerprint
from flocloud.protocol.keys import address_from_pubkey
from flocloud.protocol.membership import Membership
from flocloud.protocol.params import MAINNET
from flocloud.protocol.placement import (
    DEFAULT_VIRTUAL_NODES,
    Placement,
    key_payload,
    node_positions,
)
from flocloud.replication import heartbeat, pace
from flocloud.replication.catchup import IDLE_ROUNDS
from results_file import write_result

DAY = 86_400
MONTH = 30 * DAY
GB = 10**9


def fake_ids(label: str, count: int) -> list[str]:
    """Uniformly spread IDs, cheaply (random-looking 33-byte public keys)."""
    return [
        address_from_pubkey(b"\x02" + hashlib.sha256(f"{label}{i}".encode()).digest(), MAINNET)
        for i in range(count)
    ]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def membership(ids: list[str], n: int, v: int) -> Membership:
    return Membership.build({i: (f"ws://{i[:8]}", "") for i in ids}, n, min(2, n), v)


def exact_shares(p: Placement, cut: int) -> list[float]:
    """Each node's share of the key space among the first ``cut`` of the preference list."""
    out = [0.0] * len(p.node_ids)
    for w in p.windows(cut, cut):
        m = 2.0**-w.depth
        for o in w.first:
            out[o] += m
    return out


def spread(values: list[float]) -> dict[str, float]:
    mean = statistics.fmean(values)
    return {
        "max_over_mean": max(values) / mean,
        "min_over_mean": min(values) / mean,
        "stdev_over_mean": statistics.pstdev(values) / mean,
    }


def lookups(m: Membership, keys: list[str], payloads: list[int]) -> dict[str, float]:
    p, n, h = m.placement, m.replication_factor, m.holders_count
    out: dict[str, float] = {}
    for name, fn in (
        ("replicas_us", lambda: [p.preference_of(k, n) for k in payloads]),
        ("holders_us", lambda: [p.preference_of(k, h) for k in payloads]),
        ("replicas_from_id_us", lambda: [m.replicas(k) for k in keys]),
    ):
        _, wall, cpu = timed(fn)
        out[name] = cpu / len(keys) * 1e6
        out[name.replace("_us", "_wall_us")] = wall / len(keys) * 1e6
    return out


def sampled_loads(m: Membership, payloads: list[int]) -> dict[str, Any]:
    p, n = m.placement, m.replication_factor
    homes = dict.fromkeys(p.node_ids, 0)
    sets = dict.fromkeys(p.node_ids, 0)
    for k in payloads:
        reps = p.preference_of(k, n)
        homes[reps[0]] += 1
        for r in reps:
            sets[r] += 1
    per_node = len(payloads) / len(p.node_ids)
    return {
        "keys": len(payloads),
        "homes": spread([float(x) for x in homes.values()]),
        "replica_sets": spread([float(x) for x in sets.values()]),
        # what pure sampling noise alone gives: about 1 + 3.9 / sqrt(keys per node)
        "poisson_floor_homes": 1 + 3.9 / per_node**0.5,
        "poisson_floor_sets": 1 + 3.9 / (n * per_node) ** 0.5,
    }


def share_of(p: Placement, node: str, cut: int) -> float:
    """Exact share of the key space where ``node`` is among the first ``cut``."""
    me = p.node_ids.index(node)
    return sum(2.0**-w.depth for w in p.windows(cut, cut, focus=me) if me in w.first)


def moved(before: Membership, after: Membership, payloads: list[int]) -> tuple[float, float]:
    """Fractions of sampled keys whose home / replica set changed."""
    n = before.replication_factor
    homes = sets = 0
    for k in payloads:
        a, b = before.placement.preference_of(k, n), after.placement.preference_of(k, n)
        homes += a[0] != b[0]
        sets += set(a) != set(b)
    return homes / len(payloads), sets / len(payloads)


def churn(m: Membership, ids: list[str], payloads: list[int], removes: int) -> dict[str, Any]:
    """Keys moved by one add (rebuild with one more node) and by removes (exact shares)."""
    n = len(ids)
    extra = fake_ids("added-node", 1)[0]
    grown, wall, _ = timed(lambda: membership([*ids, extra], m.replication_factor, m.virtual_nodes))
    add_home = share_of(grown.placement, extra, 1)
    add_sets = share_of(grown.placement, extra, m.replication_factor)
    s_home, s_sets = moved(m, grown, payloads)
    rows = []
    for node in random.Random(3).sample(ids, removes):
        rows.append(
            {
                "home_share_x_n": share_of(m.placement, node, 1) * n,
                "replica_share_x_n_over_N": share_of(m.placement, node, m.replication_factor)
                * n
                / m.replication_factor,
            }
        )
    return {
        "add": {
            # exact: a key's home moves iff the new node becomes its home
            "homes_moved_x_n": add_home * (n + 1),
            "replica_sets_changed_x_n_over_N": add_sets * (n + 1) / m.replication_factor,
            "sampled_homes_moved_x_n": s_home * (n + 1),
            "sampled_sets_changed_x_n_over_N": s_sets * (n + 1) / m.replication_factor,
            "rebuild_seconds": wall,
        },
        "remove": rows,
        "remove_worst_homes_x_n": max(r["home_share_x_n"] for r in rows),
        "remove_worst_sets_x_n_over_N": max(r["replica_share_x_n_over_N"] for r in rows),
    }


def neighbour_check(m: Membership, samples: int, keys_per_position: int) -> dict[str, Any]:
    """Neighbour sets of sampled nodes; keys placed near each of their positions must have
    every replica / holder pair that includes the node inside its set, both ways."""
    rng = random.Random(11)
    p = m.placement
    n = m.replication_factor
    sizes, seconds, pairs, missing, asym = [], [], 0, 0, 0
    for node in rng.sample(sorted(m.nodes), samples):
        nb, wall, _ = timed(lambda node=node: m.neighbours(node))
        sizes.append(len(nb))
        seconds.append(wall)
        for pos in node_positions(node, m.virtual_nodes):
            for _ in range(keys_per_position):
                key = pos ^ rng.getrandbits(rng.randrange(100, 150))
                holders = p.preference_of(key, m.holders_count)
                if node not in holders:
                    continue
                partners = holders if node in holders[:n] else holders[:n]
                for other in partners:
                    if other != node:
                        pairs += 1
                        missing += other not in nb
        for other in rng.sample(sorted(nb), min(3, len(nb))):
            asym += node not in m.neighbours(other)
    return {
        "sampled_nodes": samples,
        "mean_size": statistics.fmean(sizes),
        "max_size": max(sizes),
        "share_of_network": statistics.fmean(sizes) / len(m.nodes),
        "seconds_per_node_wall": statistics.fmean(seconds),
        "pairs_checked": pairs,
        "pairs_missing": missing,
        "asymmetric": asym,
    }


def traffic(
    nodes: int, n: int, neighbours: float, writes_per_second: float, message_bytes: int
) -> dict[str, float]:
    """Bytes per node per day (sent + received), from the node's current intervals, at
    steady state: replication forwards each write to N-1 replicas, so every catch-up pull
    stores nothing and each neighbour is pulled from once every ``IDLE_ROUNDS`` rounds of
    0.5 s (``replication/catchup.PollSchedule``); a pull carries the log rows of keys the
    two share (each write stored here comes once from each of the other N-1 nodes that
    store it), while the serving side reads every row of its log once per requester to
    filter it (rows read, not sent); heartbeats follow ``heartbeat.PingSchedule``
    (``heartbeat_pings``); anti-entropy exchanges one range per comparison of equal
    replicas, and compares with a neighbour as ``pace.ComparePace`` spaces it: at the
    round after their shared root moved, then ever more rarely (``ae_comparisons``)."""
    rc = ReplicationConfig()
    sync_interval = 0.5  # Peers(sync_interval=...)
    idle_pull = sync_interval * IDLE_ROUNDS  # seconds between two pulls from an idle peer
    per_node_writes = writes_per_second * n / nodes  # writes stored on each node per second
    # each figure counts both directions: the node asks its neighbours and they ask it
    replication = per_node_writes * (message_bytes + 200) * 2 * DAY
    log_entry = 120  # {"id": 64 hex, "receiver": 34 chars} in JSON
    catch_up_polls = neighbours / idle_pull * 2 * 250 * DAY  # request + empty reply
    shared_log = per_node_writes * (n - 1) * log_entry * 2 * DAY
    # anti-entropy: each write stored here moves the shared root of its N-1 other
    # replicas, so a neighbour's root moves this often a round (``ae_comparisons``)
    moves = per_node_writes * (n - 1) / max(neighbours, 1.0) * rc.anti_entropy_seconds
    compares = ae_comparisons(moves) / rc.anti_entropy_seconds  # per neighbour per second
    background = 1 / idle_pull + compares  # answered requests per neighbour/s
    pings = heartbeat_pings(neighbours, per_node_writes * (n - 1), background)
    heartbeats = pings * 2 * 120 * DAY
    anti_entropy = neighbours * compares * 2 * 300 * DAY
    total = replication + catch_up_polls + shared_log + heartbeats + anti_entropy
    return {
        "writes_stored_per_node_per_day": per_node_writes * DAY,
        "replication_gb": replication / GB,
        "catch_up_poll_gb": catch_up_polls / GB,
        "catch_up_log_gb": shared_log / GB,
        "log_rows_read_per_second": neighbours * per_node_writes,
        "heartbeat_gb": heartbeats / GB,
        "pings_per_second": pings,
        "pings_per_second_measured": heartbeat_run(
            round(neighbours), per_node_writes * (n - 1), background
        ),
        "pings_per_second_every_neighbour_every_round": neighbours / rc.heartbeat_seconds,
        "anti_entropy_gb": anti_entropy / GB,
        "anti_entropy_gb_every_neighbour_every_round": neighbours
        / rc.anti_entropy_seconds
        * 2
        * 300
        * DAY
        / GB,
        "ae_comparisons_per_neighbour_round": compares * rc.anti_entropy_seconds,
        "ae_comparisons_per_neighbour_round_measured": ae_run(moves),
        "total_gb": total / GB,
        "requests_per_second_background": 2 * neighbours * (1 / idle_pull + compares) + 2 * pings,
    }


def heartbeat_pings(neighbours: float, exchanges: float, background: float) -> float:
    """Pings a node sends per second under ``heartbeat.PingSchedule`` when no peer fails:
    each neighbour answers ``background`` requests a second (catch-up polls,
    anti-entropy) and its share of ``exchanges`` (the node's answered write requests a
    second, spread over its neighbours), a Poisson stream; a round pings a neighbour when
    ``IDLE_ROUNDS`` rounds passed without a ping or an answer (a renewal process: the
    count starts over at either)."""
    hb = ReplicationConfig().heartbeat_seconds
    rate = background + exchanges / max(neighbours, 1.0)
    q = 1 - math.exp(-rate * hb)  # a neighbour heard in a round
    k = heartbeat.IDLE_ROUNDS
    rounds_per_renewal = sum((1 - q) ** i for i in range(k))
    return neighbours * (1 - q) ** k / rounds_per_renewal / hb


def heartbeat_run(
    neighbours: int, exchanges: float, background: float, rounds: int = 400, seed: int = 1
) -> float:
    """``heartbeat_pings`` measured: the real ``PingSchedule`` over ``rounds`` rounds, with
    answers drawn as the model has them, every peer up; pings per second."""
    rng = random.Random(seed)
    hb = ReplicationConfig().heartbeat_seconds
    peers = [f"peer-{i}" for i in range(neighbours)]
    rate = background + exchanges / max(neighbours, 1)
    sched = heartbeat.PingSchedule(hb)
    sent = 0
    warm = 2 * heartbeat.IDLE_ROUNDS
    for r in range(1, rounds + 1):
        now = r * hb
        for p in peers:
            if rng.random() < 1 - math.exp(-rate * hb):  # heard at least once this round
                sched.heard(p, now - rng.random() * hb)
        ping, _ = sched.round(peers, now, lambda _p: True)
        if r > warm:
            sent += len(ping)
    return sent / ((rounds - warm) * hb)


def ae_comparisons(change_per_round: float) -> float:
    """Comparisons per round with one neighbour under ``pace.ComparePace`` when the root
    the two share moves ``change_per_round`` times a round (a Poisson stream: each write
    of a key they share, stored here) and every comparison finds them equal: after a move
    the next round compares, then rounds 2, 6, 14, ... after it (skips 1, 3, 7, then
    ``MAX_SKIP``), until the next move (a renewal process)."""
    q = 1 - math.exp(-change_per_round)  # a round with a move
    if q <= 0:  # the root never moves: once every MAX_SKIP + 1 rounds
        return 1 / (pace.MAX_SKIP + 1)
    horizon = 60 / q  # P(gap > horizon) = e^-60
    at, skip, schedule = 0, 1, [0]  # the rounds after a move that compare
    while at < horizon:
        at += min(skip, pace.MAX_SKIP) + 1
        skip = skip * 2 + 1
        schedule.append(at)
    # a gap of g rounds between moves (P = (1-q)^(g-1) q, mean 1/q) holds the schedule's
    # rounds below g: expected comparisons per gap are the sum of P(gap > t)
    return q * sum((1 - q) ** t for t in schedule)


def ae_run(change_per_round: float, rounds: int = 4000, seed: int = 1) -> float:
    """``ae_comparisons`` measured: the real ``ComparePace`` over ``rounds`` rounds with
    one neighbour, the root moved as the model has it; comparisons per round."""
    rng = random.Random(seed)
    p = pace.ComparePace()
    root, compared, warm = Fingerprint(), 0, 100
    for r in range(rounds):
        if rng.random() < 1 - math.exp(-change_per_round):
            root = root + Fingerprint(1, rng.getrandbits(60), rng.getrandbits(60))
        if p.due("peer", root):
            p.equal("peer", root)
            compared += r >= warm
    return compared / (rounds - warm)


def economics(
    nodes: int, n: int, writes_per_second: float, node_rate: float, message_bytes: int
) -> dict[str, float]:
    """10,000 supernodes at 40 USD a month with 160 GB each (the seed's figures)."""
    usd_month = nodes * 40.0
    usable_gb = nodes * 160.0 / n
    monthly = writes_per_second * MONTH
    capacity_rate = nodes * node_rate / n  # each write is stored on N nodes
    days_to_fill = 160 * GB / (writes_per_second * n / nodes * message_bytes * DAY)
    return {
        "usd_per_month": usd_month,
        "usable_tb": usable_gb / 1000,
        "usd_per_stored_gb_month": usd_month / usable_gb,
        "usd_per_million_stored_messages_month": usd_month / usable_gb * message_bytes / GB * 1e6,
        "usd_per_million_written_at_rate": usd_month / (monthly / 1e6),
        "network_capacity_writes_per_second": capacity_rate,
        "usd_per_million_written_at_capacity": usd_month / (capacity_rate * MONTH / 1e6),
        "days_until_full_at_rate": days_to_fill,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--virtual-nodes", type=int, default=DEFAULT_VIRTUAL_NODES)
    ap.add_argument("--compare-virtual-nodes", type=int, default=32)
    ap.add_argument("--replication", type=int, default=3)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--writes-per-second", type=float, default=10_000.0, help="network-wide")
    ap.add_argument("--message-bytes", type=int, default=1024)
    ap.add_argument(
        "--node-writes-per-second",
        type=float,
        default=3586.0,
        help="what one node stores per second (issue 14's measured single-node ingest)",
    )
    ap.add_argument("--quick", action="store_true", help="2,000 nodes, fewer samples")
    ap.add_argument("--no-exact", action="store_true", help="skip the exact load walks")
    args = ap.parse_args()
    if args.quick:
        args.nodes, args.keys = 2000, 40_000
    n_nodes, n, v = args.nodes, args.replication, args.virtual_nodes
    print(f"{n_nodes} supernodes, N={n}, V={v}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs: timings are indicative")  # fmt: skip
    ids = fake_ids("node", n_nodes)
    keys = fake_ids("key", args.keys)
    payloads = [key_payload(k) for k in keys]
    result: dict[str, Any] = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "parameters": vars(args),
    }

    m, wall, cpu = timed(lambda: membership(ids, n, v))
    p = m.placement
    size_mb = p.size_bytes / 1e6
    look = lookups(m, fake_ids("fresh-key", 20_000), payloads[:20_000])
    result["build"] = {"wall_seconds": wall, "cpu_seconds": cpu, "placement_mb": size_mb}
    result["lookup"] = look
    print("\n1. cost                         value       goal")
    print(f"   build placement        {cpu:8.1f} s CPU ({wall:.1f} s wall), {size_mb:.0f} MB")
    print(f"   replicas of a key      {look['replicas_us']:8.1f} µs   <= 20 µs "
          f"(wall {look['replicas_wall_us']:.1f})")  # fmt: skip
    print(f"   holders (N + D)        {look['holders_us']:8.1f} µs")
    print(f"   replicas from an ID    {look['replicas_from_id_us']:8.1f} µs   (Base58 decode)")

    print("\n2. load max/mean (min/mean)     homes          replica sets   goal <= 1.25")
    loads: dict[str, Any] = {"sampled": sampled_loads(m, payloads)}
    if not args.no_exact:
        for name, cut in (("homes", 1), ("replica_sets", n)):
            shares, wall, _ = timed(lambda cut=cut: exact_shares(p, cut))
            loads.setdefault("exact", {})[name] = {**spread(shares), "walk_seconds": wall}
        ex = loads["exact"]
        print(f"   exact (all keys)     {ex['homes']['max_over_mean']:6.3f} "
              f"({ex['homes']['min_over_mean']:.3f})  {ex['replica_sets']['max_over_mean']:6.3f} "
              f"({ex['replica_sets']['min_over_mean']:.3f})")  # fmt: skip
    sm = loads["sampled"]
    print(f"   {args.keys} sampled keys  {sm['homes']['max_over_mean']:6.3f}          "
          f"{sm['replica_sets']['max_over_mean']:6.3f}   (noise alone: "
          f"{sm['poisson_floor_homes']:.2f} / {sm['poisson_floor_sets']:.2f})")  # fmt: skip
    result["load"] = loads

    ch = churn(m, ids, payloads, removes=5 if args.quick else 8)
    result["keys_moved"] = ch
    add = ch["add"]
    print("\n3. keys moved, in units of 1/n (sets: N/n)   homes   replica sets   goal <= 1.2")
    print(f"   one node added (exact)                 {add['homes_moved_x_n']:6.3f}   "
          f"{add['replica_sets_changed_x_n_over_N']:6.3f}")  # fmt: skip
    print(f"   one node added ({args.keys} keys)       {add['sampled_homes_moved_x_n']:6.3f}   "
          f"{add['sampled_sets_changed_x_n_over_N']:6.3f}")  # fmt: skip
    print(
        f"   one node removed, worst of {len(ch['remove'])} (exact)   "
        f"{ch['remove_worst_homes_x_n']:6.3f}   {ch['remove_worst_sets_x_n_over_N']:6.3f}"
    )

    nb = neighbour_check(m, samples=4 if args.quick else 8, keys_per_position=4)
    other = membership(ids, n, args.compare_virtual_nodes)
    nb_other = neighbour_check(other, samples=4, keys_per_position=4)
    result["neighbours"] = {str(v): nb, str(args.compare_virtual_nodes): nb_other}
    print("\n4. neighbour sets          V     mean size  share    s/node  pairs checked  missing")
    for vv, row in ((v, nb), (args.compare_virtual_nodes, nb_other)):
        print(f"                      {vv:6} {row['mean_size']:12.0f} {row['share_of_network']:6.1%}"
              f" {row['seconds_per_node_wall']:8.2f} {row['pairs_checked']:14} "
              f"{row['pairs_missing'] + row['asymmetric']:8}")  # fmt: skip

    result["traffic"] = {}
    print(f"\n5. per node per day at {args.writes_per_second:.0f} writes/s network-wide "
          f"({args.message_bytes} B)")  # fmt: skip
    print(
        "   V     writes stored  replication  catch-up polls  catch-up log  heartbeats"
        "  anti-entropy  total GB  background req/s  log rows read/s  pings/s (model, run)"
        "  AE comparisons/round (model, run)"
    )
    for vv, row in ((v, nb), (args.compare_virtual_nodes, nb_other)):
        t = traffic(n_nodes, n, row["mean_size"], args.writes_per_second, args.message_bytes)
        result["traffic"][str(vv)] = t
        print(f"   {vv:<5} {t['writes_stored_per_node_per_day']:13.0f} {t['replication_gb']:12.2f} "
              f"{t['catch_up_poll_gb']:15.2f} {t['catch_up_log_gb']:13.2f} "
              f"{t['heartbeat_gb']:11.2f} {t['anti_entropy_gb']:13.2f} {t['total_gb']:9.2f} "
              f"{t['requests_per_second_background']:17.0f} "
              f"{t['log_rows_read_per_second']:16.0f} "
              f"{t['pings_per_second']:9.0f} {t['pings_per_second_measured']:5.0f} "
              f"{t['ae_comparisons_per_neighbour_round']:14.3f} "
              f"{t['ae_comparisons_per_neighbour_round_measured']:6.3f}")  # fmt: skip

    eco = economics(10_000, n, args.writes_per_second, args.node_writes_per_second,
                    args.message_bytes)  # fmt: skip
    result["economics"] = eco
    print(f"\n6. economics: 10,000 supernodes x 40 USD/month x 160 GB, N={n}, "
          f"{args.message_bytes} B messages")  # fmt: skip
    print(f"   cost                                  {eco['usd_per_month']:12,.0f} USD/month")
    print(f"   usable storage (raw / N)              {eco['usable_tb']:12,.0f} TB")
    print(f"   per stored GB-month                   {eco['usd_per_stored_gb_month']:12.3f} USD")
    print(f"   per million messages kept a month     "
          f"{eco['usd_per_million_stored_messages_month']:12.3f} USD")  # fmt: skip
    print(f"   per million written at {args.writes_per_second:.0f}/s         "
          f"{eco['usd_per_million_written_at_rate']:12.3f} USD")  # fmt: skip
    print(f"   network capacity ({args.node_writes_per_second:.0f}/s per node / N)  "
          f"{eco['network_capacity_writes_per_second']:12,.0f} writes/s")  # fmt: skip
    print(f"   per million written at capacity       "
          f"{eco['usd_per_million_written_at_capacity']:12.4f} USD")  # fmt: skip
    print(f"   days until 160 GB is full at the rate {eco['days_until_full_at_rate']:12.0f}")
    write_result("membership_sim", result)


if __name__ == "__main__":
    main()
