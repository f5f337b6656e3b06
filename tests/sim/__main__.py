"""Replay one seed: ``python -m tests.sim --seed 1234 --nodes 7`` (prints the violations)."""

from __future__ import annotations

import argparse
import sys

from .run import run
from .variants import VARIANTS


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--variant", choices=sorted(VARIANTS), help="run a deliberately broken rule")
    a = ap.parse_args()
    res = run(a.seed, a.nodes, VARIANTS[a.variant]() if a.variant else None)
    print(
        f"seed {a.seed}, {res.config.nodes} nodes: {res.acked} writes acked, "
        f"{res.events} events, {res.messages} messages"
    )
    for v in res.violations:
        print("  " + v)
    for v in res.known:
        print("  known open (second dot): " + v)
    print("ok" if res.ok else f"{len(res.violations)} violations")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
