"""The layouts a node keeps joint with for strict objects (``Peers.previous_views``): every
earlier layout it saw replaced or read from the chain at start, for ``HANDOVER_SECONDS``."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

from flocloud.node.peers import HANDOVER_SECONDS, Peers
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.membership import Membership
from flocloud.protocol.params import REGTEST
from flocloud.protocol.paxos import Quorum


def _ids(n: int) -> list[str]:
    return [
        PrivateKey(hashlib.sha256(f"h{i}".encode()).digest(), REGTEST).address for i in range(n)
    ]


def _view(nodes: list[str], epoch: int) -> Membership:
    return Membership.build({n: (f"ws://{n}", "") for n in nodes}, 3, 2, 8, epoch=epoch)


def test_rounds_stay_joint_with_every_layout_of_the_window() -> None:
    ids = _ids(6)
    me = PrivateKey(hashlib.sha256(b"h0").digest(), REGTEST)
    now = [1000.0]
    peers = Peers(SimpleNamespace(key=me, config=None, service=None))  # type: ignore[arg-type]
    peers.clock = lambda: now[0]
    v3, v4, v5 = _view(ids[:3], 1), _view(ids[:4], 2), _view(ids[:5], 3)
    peers.update(v3)  # the first view: nothing earlier
    assert peers.previous_replica_sets("k") == [] and peers.epoch == 1
    peers.update(v4)
    peers.update(v5)
    key = next(  # an object whose acceptors changed at both registry changes
        k for k in (_ids(300)[i] for i in range(6, 300))
        if len({v.replicas(k) for v in (v3, v4, v5)}) == 3
    )  # fmt: skip
    assert peers.previous_replica_sets(key) == [v4.replicas(key), v3.replicas(key)]
    q = Quorum.of(peers.replica_set(key), *peers.previous_replica_sets(key))
    assert len(q.sets) == 3
    now[0] += HANDOVER_SECONDS + 1  # hand-off has long moved every chosen write
    assert peers.previous_replica_sets(key) == []


def test_a_starting_node_remembers_the_chain_layouts_once() -> None:
    ids = _ids(5)
    me = PrivateKey(hashlib.sha256(b"h4").digest(), REGTEST)
    peers = Peers(SimpleNamespace(key=me, config=None, service=None))  # type: ignore[arg-type]
    current = _view(ids, 3)
    peers.update(current)
    earlier = [_view(ids[:4], 2), _view(ids[:4], 2), _view(ids[:3], 1), _view([], 0), current]
    peers.remember_layouts(earlier)
    assert [sorted(v.nodes) for _, v in peers.previous_views] == [sorted(ids[:4]), sorted(ids[:3])]


def test_a_node_of_an_earlier_layout_is_still_reachable() -> None:
    """A node removed by the last registry change keeps its uri and key for the window:
    a strict round may still need its acceptor state (``Links.get`` connects by it)."""
    ids = _ids(4)
    me = PrivateKey(hashlib.sha256(b"h0").digest(), REGTEST)
    now = [1000.0]
    peers = Peers(SimpleNamespace(key=me, config=None, service=None))  # type: ignore[arg-type]
    peers.clock = lambda: now[0]
    peers.update(_view(ids, 1))
    peers.update(_view(ids[:3], 2))  # ids[3] removed
    assert peers.known_node(ids[0]) == (f"ws://{ids[0]}", "")
    assert peers.known_node(ids[3]) == (f"ws://{ids[3]}", "")
    assert peers.known_node(_ids(5)[4]) is None  # never listed
