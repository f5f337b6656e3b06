"""Soak the replication simulator: many seeds, larger networks; prints a summary.

    python bench/sim_soak.py --seeds 5000 --start 100000 [--nodes 50] [--variant NAME]

Each failing seed prints the one-line command that replays it. Writes
``bench/results/sim_soak.json`` (seeds run, failures, events and time per seed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).parent)]

from tests.sim.run import run  # noqa: E402
from tests.sim.variants import VARIANTS  # noqa: E402

from results_file import write_result  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2000)
    ap.add_argument("--start", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, help="fixed network size (default: varies, 3-50)")
    ap.add_argument("--variant", choices=sorted(VARIANTS))
    ap.add_argument("--no-json", action="store_true")
    a = ap.parse_args()
    failed: list[int] = []
    events = acked = 0
    known: list[int] = []  # seeds with the open two-dot duplicate (tests/sim/__init__.py)
    t0 = time.perf_counter()
    for seed in range(a.start, a.start + a.seeds):
        nodes = a.nodes or [3, 4, 5, 7, 10, 16, 25, 50][seed % 8]
        res = run(seed, nodes, VARIANTS[a.variant]() if a.variant else None)
        events += res.events
        acked += res.acked
        if res.known:
            known.append(seed)
        if not res.ok:
            failed.append(seed)
            print(f"FAIL {res.config.replay()}: {res.violations[0]}")
    took = time.perf_counter() - t0
    print(
        f"{a.seeds} seeds, {len(failed)} failed, {len(known)} with the open two-dot "
        f"duplicate, {acked} writes acked, {events} events, "
        f"{took:.1f} s ({took / a.seeds * 1000:.0f} ms per seed; machine load not controlled)"
    )
    if not a.no_json:
        write_result(
            "sim_soak",
            {"seeds": a.seeds, "start": a.start, "failed": failed, "known": known, "acked": acked,
             "events": events, "seconds": took, "variant": a.variant},
        )  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
