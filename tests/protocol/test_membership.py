"""Membership: replica sets, stand-ins, routes and exact neighbour sets (issue 10, finding 7).

The neighbour rule is proven two ways at 1,000 supernodes: one walk of the whole key space
(``pairs_sharing``) against random keys, and each node's own focused walk against that.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.keys import address_from_pubkey
from flocloud.protocol.membership import Membership, pairs_sharing
from flocloud.protocol.params import MAINNET
from flocloud.protocol.placement import Placement

_BITS = 160


def fake_ids(label: str, count: int) -> list[str]:
    """Uniformly spread IDs, cheaply (random-looking 33-byte public keys)."""
    return [
        address_from_pubkey(b"\x02" + hashlib.sha256(f"{label}{i}".encode()).digest(), MAINNET)
        for i in range(count)
    ]


def members(ids: list[str], n: int = 3, w: int = 2, v: int = 16) -> Membership:
    return Membership.build({i: (f"ws://{i}", "") for i in ids}, n, w, v)


@pytest.fixture(scope="module")
def thousand() -> tuple[Membership, set[tuple[str, str]]]:
    m = members(fake_ids("node", 1000), n=3, v=8)
    return m, set(pairs_sharing(m))


class TestNeighboursAtScale:
    def test_every_pair_that_shares_a_key_is_linked_both_ways(
        self, thousand: tuple[Membership, set[tuple[str, str]]]
    ) -> None:
        """3,000 random keys over 1,000 supernodes (N=3): every replica pair and every
        replica / stand-in candidate pair is in the neighbour relation, both directions
        (finding 7 found 185 of 9,000 replica pairs unlinked)."""
        m, pairs = thousand
        checked = 0
        for key in fake_ids("key", 3000):
            holders = m.holders(key)
            assert len(holders) == 6
            for a in holders[:3]:
                for b in holders:
                    if a != b:
                        assert (a, b) in pairs and (b, a) in pairs
                        checked += 1
        assert checked == 3000 * 3 * 5

    def test_each_nodes_own_walk_equals_the_whole_walk(
        self, thousand: tuple[Membership, set[tuple[str, str]]]
    ) -> None:
        """What a node computes for itself (focused walk) is exactly its row of the
        relation computed over the whole key space, and the relation is symmetric."""
        m, pairs = thousand
        for node in random.Random(7).sample(sorted(m.nodes), 10):
            mine = m.neighbours(node)
            assert mine == {b for a, b in pairs if a == node}
            assert all(node in m.neighbours(other) for other in list(mine)[:5])

    def test_neighbour_sets_are_far_smaller_than_the_network(
        self, thousand: tuple[Membership, set[tuple[str, str]]]
    ) -> None:
        """Exactness does not mean talking to everyone: about 2 x (N + D) x V peers."""
        m, pairs = thousand
        per_node = len(pairs) / len(m.nodes)
        assert 0 < per_node < 0.4 * len(m.nodes)


class TestWindows:
    @settings(max_examples=25, deadline=None)
    @given(
        count=st.integers(min_value=1, max_value=30),
        v=st.sampled_from([1, 2, 5]),
        cut=st.integers(min_value=0, max_value=3),
        extra=st.integers(min_value=0, max_value=3),
        seed=st.integers(min_value=0, max_value=2**32),
    )
    def test_windows_cover_the_key_space_and_agree_with_lookups(
        self, count: int, v: int, cut: int, extra: int, seed: int
    ) -> None:
        """Regions partition the key space (measures sum to 1) and, for random keys inside
        each region, the first ``cut`` and ``size`` nodes are the region's sets."""
        rng = random.Random(seed)
        p = Placement.build(fake_ids(f"w{seed}-", count), v)
        size = cut + extra
        total = 0.0
        for w in p.windows(cut, size):
            total += 2.0**-w.depth
            for _ in range(2):
                low = rng.getrandbits(_BITS - w.depth) if w.depth < _BITS else 0
                key = w.prefix << (_BITS - w.depth) | low
                got = [p.node_ids.index(i) for i in p.preference_of(key, size)]
                assert set(got[:cut]) == w.first
                assert set(got[cut:]) == w.rest
        assert total == pytest.approx(1.0)

    def test_focus_keeps_only_the_regions_of_that_node(self) -> None:
        p = Placement.build(fake_ids("f", 40), 4)
        every = list(p.windows(2, 4))
        mine = list(p.windows(2, 4, focus=5))
        assert mine == [w for w in every if 5 in w.first | w.rest]


class TestOneKey:
    def test_sloppy_quorum_takes_the_next_live_candidates(self) -> None:
        """Live replicas first; a down replica is replaced by the next live candidate; at
        most N + D nodes are ever looked at."""
        m = members(fake_ids("q", 20), n=3, v=4)
        key = fake_ids("qk", 1)[0]
        holders = m.holders(key)
        reps, cands = holders[:3], holders[3:]
        assert m.replicas(key) == reps and m.stand_in_candidates(key) == cands
        assert m.sloppy_quorum(key) == reps
        assert m.stand_ins(key) == ()
        down = {reps[1], cands[0]}
        assert m.sloppy_quorum(key, down) == (reps[0], reps[2], cands[1])
        assert m.stand_ins(key, down) == (cands[1],)
        # everything down but the last candidate: one node, never a node beyond N + D
        assert m.sloppy_quorum(key, set(holders[:-1])) == (holders[-1],)
        assert m.route(key) == list(holders)

    def test_small_networks_clamp_n_and_w(self) -> None:
        ids = fake_ids("s", 2)
        m = members(ids, n=3, w=3, v=4)
        assert (m.replication_factor, m.write_quorum, m.holders_count) == (2, 2, 2)
        assert m.neighbours(ids[0]) == {ids[1]}
        assert Membership.empty().route(ids[0]) == []

    def test_bad_values_are_protocol_errors(self) -> None:
        with pytest.raises(BadFormat):
            Membership.build({}, 0, 1)
        with pytest.raises(BadFormat):
            Membership.build({}, 1, 1, virtual_nodes=0)


class TestRebuild:
    def test_placement_is_rebuilt_only_when_the_node_set_or_v_changes(self) -> None:
        ids = fake_ids("r", 8)
        nodes = {i: (f"ws://{i}", "") for i in ids}
        first = Membership.build(nodes, 2, 1, 4, epoch=(1, "a"))
        assert Membership.build(dict(nodes), 2, 1, 4, epoch=(1, "a"), previous=first) is first
        moved = {**nodes, ids[0]: ("ws://elsewhere", "")}
        later = Membership.build(moved, 2, 2, 4, epoch=(2, "b"), previous=first)
        assert later is not first and later.placement is first.placement
        assert later.nodes[ids[0]][0] == "ws://elsewhere" and later.write_quorum == 2
        assert not later.layout_differs(first)
        grown = Membership.build({**nodes, **{i: ("u", "") for i in fake_ids("x", 1)}},
                                 2, 1, 4, previous=first)  # fmt: skip
        assert grown.placement is not first.placement and grown.layout_differs(first)
        assert Membership.build(nodes, 2, 1, 8, previous=first).placement is not first.placement


class TestVectors:
    """tests/vectors/membership.json: what another implementation must reproduce."""

    VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "membership.json").read_text())

    @pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"V={c['virtualNodes']}")
    def test_frozen_membership(self, case: dict[str, Any]) -> None:
        m = Membership.build(
            {i: (f"ws://{i}", "") for i in case["nodes"]},
            case["replicationFactor"],
            case["writeQuorum"],
            case["virtualNodes"],
        )
        for key, want in case["keys"].items():
            assert list(m.replicas(key)) == want["replicas"]
            assert list(m.holders(key)) == want["holders"]
            assert list(m.sloppy_quorum(key, set(want["down"]))) == want["sloppy_quorum"]
        for node, want in case["neighbours"].items():
            assert sorted(m.neighbours(node)) == want
