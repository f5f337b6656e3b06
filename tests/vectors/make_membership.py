"""Regenerate tests/vectors/membership.json (run by hand; the test fails if a rule changes).

Usage: .venv/bin/python tests/vectors/make_membership.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.membership import Membership
from flocloud.protocol.params import MAINNET
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES


def deterministic_id(label: str) -> str:
    return PrivateKey(hashlib.sha256(label.encode()).digest(), MAINNET).address


def case(
    nodes: list[str], keys: list[str], n: int, w: int, v: int, neighbours: bool = True
) -> dict[str, object]:
    m = Membership.build({i: (f"ws://{i}", "") for i in nodes}, n, w, v)
    per_key = {}
    for k in keys:
        holders = m.holders(k)
        down = [holders[0], holders[-1]]  # the home and the last candidate are down
        per_key[k] = {
            "replicas": list(m.replicas(k)),
            "holders": list(holders),
            "down": down,
            "sloppy_quorum": list(m.sloppy_quorum(k, set(down))),
        }
    return {
        "replicationFactor": n,
        "writeQuorum": w,
        "virtualNodes": v,
        "nodes": nodes,
        "keys": per_key,
        "neighbours": {i: sorted(m.neighbours(i)) for i in nodes} if neighbours else {},
    }


def build() -> dict[str, object]:
    keys = [deterministic_id(f"mkey-{i}") for i in range(12)]
    return {
        "description": "Replicas, holders, sloppy quorums and neighbour sets "
        "(rules: protocol/membership.py, docs/protocol.md 9.1)",
        "cases": [
            case([deterministic_id(f"mnode-{i}") for i in range(40)], keys, 2, 2, 4),
            case(
                [deterministic_id(f"mnode-{i}") for i in range(12)],
                keys,
                3,
                2,
                DEFAULT_VIRTUAL_NODES,
                neighbours=False,  # 6 holders of 12 nodes: everyone is a neighbour
            ),
        ],
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("membership.json")
    out.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {out}")
