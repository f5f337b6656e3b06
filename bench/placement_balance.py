"""Benchmark: load balance and lookup cost of placement at thousands of supernodes.

Prints, for several virtualNodes values, the busiest node's share of keys relative to the
mean (1.0 = perfect) and the lookup cost; writes bench/results/placement_balance.json.
Usage: .venv/bin/python bench/placement_balance.py [--nodes 2000] [--keys 200000]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

from flocloud.protocol.keys import address_from_pubkey
from flocloud.protocol.params import MAINNET
from flocloud.protocol.placement import Placement
from results_file import write_result


def fake_ids(label: str, count: int) -> list[str]:
    # Random-looking 33-byte "pubkeys" give uniformly distributed IDs cheaply.
    return [
        address_from_pubkey(b"\x02" + hashlib.sha256(f"{label}{i}".encode()).digest(), MAINNET)
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=100_000)
    args = parser.parse_args()
    nodes, keys = fake_ids("node", args.nodes), fake_ids("key", args.keys)
    rows = []
    print(f"{args.nodes} nodes, {args.keys} keys, home node load / mean load")
    print(
        f"{'V':>4} {'max/mean':>9} {'p99/mean':>9} {'min/mean':>9} {'build s':>8} {'µs/lookup(N=3)':>15}"
    )
    for v in (1, 4, 16, 64):
        t0 = time.perf_counter()
        placement = Placement.build(nodes, v)
        build_s = time.perf_counter() - t0
        load = dict.fromkeys(nodes, 0)
        t0 = time.perf_counter()
        for k in keys:
            load[placement.preference_list(k, 3)[0]] += 1
        per_lookup = (time.perf_counter() - t0) / len(keys) * 1e6
        mean = len(keys) / len(nodes)
        loads = sorted(load.values())
        row = {
            "virtual_nodes": v,
            "max_over_mean": max(loads) / mean,
            "p99_over_mean": loads[int(0.99 * (len(loads) - 1))] / mean,
            "min_over_mean": min(loads) / mean,
            "stdev_over_mean": statistics.pstdev(loads) / mean,
            "build_seconds": build_s,
            "lookup_us": per_lookup,
        }
        rows.append(row)
        print(
            f"{v:>4} {row['max_over_mean']:>9.2f} {row['p99_over_mean']:>9.2f} "
            f"{row['min_over_mean']:>9.2f} {build_s:>8.2f} {per_lookup:>15.1f}"
        )
    write_result("placement_balance", {"nodes": args.nodes, "keys": args.keys, "rows": rows})


if __name__ == "__main__":
    main()
