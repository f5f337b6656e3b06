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
    ap.add_argument("--objects", action=argparse.BooleanOptionalAction, default=None)
    for name in ("strict-clients", "strict-ops", "registry-changes", "crashes", "disks"):
        ap.add_argument(f"--{name}", type=int)
    ap.add_argument("--destructive-off", action="store_true", help="no replaced disks or removals")
    ap.add_argument("--added-young-off", action="store_true", help="added nodes' stores are old")
    a = ap.parse_args()
    kw: dict[str, object] = {
        k: v
        for k, v in {
            "objects": a.objects,
            "strict_clients": a.strict_clients,
            "strict_ops": a.strict_ops,
            "registry_changes": a.registry_changes,
            "crashes": a.crashes,
            "disks": a.disks,
        }.items()
        if v is not None
    }
    if a.destructive_off:
        kw["destructive"] = False
    if a.added_young_off:
        kw["added_young"] = False
    res = run(a.seed, a.nodes, VARIANTS[a.variant]() if a.variant else None, **kw)
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
