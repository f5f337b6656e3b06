"""Seeded faults on 5 real supernodes (N=3, W=2): concurrent writers, kill -9, restarts,
replication partitions and cut client links (``flocloud.devnet.faults``).

    python bench/faults.py [--seed N] [--seconds 20] [--writers 3]

Prints writes acked, acked writes lost (must be 0) and the time to converge after the
heal; writes ``bench/results/faults.json``. Timing figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from flocloud.devnet.faults import run_faults
from results_file import write_result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=random.randrange(2**31))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--writers", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="flocloud-faults-") as tmp:
        report = asyncio.run(run_faults(Path(tmp), a.seed, a.seconds, a.writers))
    print(
        f"seed {a.seed}: {report.acked} of {report.attempted} writes acked, "
        f"{len(report.lost)} acked writes lost, converged {report.converge_seconds:.1f} s "
        f"after the heal; faults {report.faults}"
    )
    for line in report.lost[:20]:
        print("  lost", line)
    write_result("faults", report.to_json())
    return 1 if report.lost else 0


if __name__ == "__main__":
    sys.exit(main())
