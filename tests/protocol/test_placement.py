"""Placement: frozen vectors, agreement with a brute-force reading of the rule, balance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.errors import BadFormat, InvalidAddress
from flocloud.protocol.keys import PrivateKey, address_from_pubkey
from flocloud.protocol.params import MAINNET, TESTNET
from flocloud.protocol.placement import Placement, key_payload, node_positions

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "placement.json").read_text())

secrets = st.binary(min_size=32, max_size=32).filter(
    lambda b: 0 < int.from_bytes(b, "big") < 2**256 - 2**129
)
ids = secrets.map(lambda s: PrivateKey(s, MAINNET).address)


def brute_force(nodes: list[str], key: str, v: int) -> list[str]:
    """The rule as written in the docstring, by exhaustive comparison."""
    k = key_payload(key)
    return sorted(
        set(nodes), key=lambda n: (min(p ^ k for p in node_positions(n, v)), key_payload(n))
    )


class TestVectors:
    @pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"V={c['virtualNodes']}")
    def test_frozen_preference_lists(self, case: dict[str, object]) -> None:
        """Every frozen preference list is reproduced exactly."""
        placement = Placement.build(VECTORS["nodes"], int(str(case["virtualNodes"])))
        pref = case["preference"]
        assert isinstance(pref, dict)
        for key, expected in pref.items():
            assert expected == placement.preference_list(key)

    def test_vectors_match_brute_force(self) -> None:
        """The frozen vectors themselves follow the written rule."""
        for case in VECTORS["cases"]:
            for key, expected in case["preference"].items():
                assert expected == brute_force(VECTORS["nodes"], key, case["virtualNodes"])


class TestRule:
    @settings(max_examples=60, deadline=None)
    @given(
        nodes=st.lists(ids, min_size=1, max_size=40, unique=True),
        key=ids,
        v=st.sampled_from([1, 2, 8]),
    )
    def test_trie_walk_equals_brute_force(self, nodes: list[str], key: str, v: int) -> None:
        """The fast walk gives exactly the exhaustive order."""
        assert brute_force(nodes, key, v) == Placement.build(nodes, v).preference_list(key)

    def test_one_position_is_plain_xor_of_ids(self) -> None:
        """With virtualNodes=1 the order is XOR distance of the decoded IDs (FLO cloud rule)."""
        nodes = [PrivateKey(bytes([i + 1]) * 32, MAINNET).address for i in range(10)]
        key = PrivateKey(b"\x77" * 32, MAINNET).address
        k = key_payload(key)
        assert sorted(nodes, key=lambda n: key_payload(n) ^ k) == Placement.build(
            nodes, 1
        ).preference_list(key)

    def test_network_does_not_matter(self) -> None:
        """A testnet ID and a mainnet ID with the same payload place identically."""
        nodes = [PrivateKey(bytes([i + 1]) * 32, MAINNET).address for i in range(6)]
        pub = PrivateKey(b"\x42" * 32, MAINNET).public_key
        placement = Placement.build(nodes, 4)
        assert placement.preference_list(address_from_pubkey(pub, MAINNET)) == (
            placement.preference_list(address_from_pubkey(pub, TESTNET))
        )

    def test_replicas_are_distinct_and_bounded(self) -> None:
        """replicas(n) gives n distinct nodes, or all of them when there are fewer."""
        nodes = [PrivateKey(bytes([i + 1]) * 32, MAINNET).address for i in range(5)]
        placement = Placement.build(nodes, 16)
        key = PrivateKey(b"\x09" * 32, MAINNET).address
        assert len(set(placement.replicas(key, 3))) == 3
        assert sorted(placement.replicas(key, 9)) == sorted(nodes)

    def test_bad_inputs(self) -> None:
        """Bad IDs and virtual node counts are protocol errors."""
        with pytest.raises(InvalidAddress):
            Placement.build(["not-an-id"], 1)
        with pytest.raises(BadFormat):
            node_positions(VECTORS["nodes"][0], 0)

    def test_load_spread_shrinks_with_positions(self) -> None:
        """Several positions per node spread 4,000 keys more evenly than one position."""
        nodes = [PrivateKey(bytes([i + 1]) * 32, MAINNET).address for i in range(40)]
        keys = [PrivateKey((i + 1).to_bytes(32, "big"), MAINNET).address for i in range(4000)]

        def max_share(v: int) -> int:
            placement = Placement.build(nodes, v)
            load: dict[str, int] = dict.fromkeys(nodes, 0)
            for k in keys:
                load[placement.preference_list(k, 1)[0]] += 1
            return max(load.values())

        assert max_share(32) < max_share(1)


def test_hash160_with_prefix_is_hash160_of_the_concatenation() -> None:
    """The prefix-sharing hash used to build positions is plain HASH160, with or without
    hashlib's RIPEMD-160."""
    from flocloud.protocol import hashes

    suffixes = [i.to_bytes(2, "big") for i in range(300)]
    want = [hashes.hash160(b"flocloud-position" + s) for s in suffixes]
    assert list(hashes.hash160_with_prefix(b"flocloud-position", suffixes)) == want
    saved = hashes._HAVE_HASHLIB_RIPEMD
    try:
        hashes._HAVE_HASHLIB_RIPEMD = False
        got = list(hashes.hash160_with_prefix(b"flocloud-position", suffixes[:3]))
    finally:
        hashes._HAVE_HASHLIB_RIPEMD = saved
    assert got == want[:3]
