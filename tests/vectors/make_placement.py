"""Regenerate tests/vectors/placement.json (run by hand; the test fails if the rule changes).

Usage: .venv/bin/python tests/vectors/make_placement.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import MAINNET, TESTNET
from flocloud.protocol.placement import Placement


def deterministic_id(label: str, network=MAINNET) -> str:  # type: ignore[no-untyped-def]
    return PrivateKey(hashlib.sha256(label.encode()).digest(), network).address


def build() -> dict[str, object]:
    nodes = [deterministic_id(f"node-{i}") for i in range(12)]
    keys = [deterministic_id(f"key-{i}") for i in range(16)]
    keys += [deterministic_id(f"tkey-{i}", TESTNET) for i in range(4)]
    cases = []
    for v in (1, 4, 16, 256):  # 256: the default virtualNodes
        placement = Placement.build(nodes, v)
        cases.append(
            {
                "virtualNodes": v,
                "preference": {k: placement.preference_list(k) for k in keys},
            }
        )
    return {
        "description": "Preference lists of keys over 12 supernodes (rule: protocol/placement.py)",
        "nodes": nodes,
        "keys": keys,
        "cases": cases,
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("placement.json")
    out.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {out}")
