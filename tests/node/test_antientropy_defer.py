"""node/antientropy.py while catch-up pages through a backlog: a node behind answers
``peer.digest`` with ``later`` (no ranges) and its own rounds wait, a peer paging through
our log is left out of our rounds, each at most ``DEFER_ROUNDS`` rounds in a row, and a
requester stops its comparison at a ``later`` answer."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from flocloud.node.antientropy import AntiEntropy
from flocloud.node.limits import Metrics
from flocloud.protocol.fingerprint import Fingerprint
from flocloud.replication.deferral import DEFER_ROUNDS
from node_helpers import cancel_after


class Store:
    async def key_digests(self) -> list[Any]:
        return []


class Peers:
    """What anti-entropy's round loop needs of ``Peers``; ``each_live_neighbour`` records
    which peers a round compares with instead of reconciling."""

    def __init__(self) -> None:
        self.self_id = "me"
        self.catchup_behind: set[str] = set()
        self.catching_up: set[str] = set()
        self.paging: set[str] = set()
        self.rounds: list[set[str]] = []
        self.view = SimpleNamespace(nodes={})
        self.view_changed_at = 0.0
        self.node = SimpleNamespace(service=SimpleNamespace(metrics=Metrics(), store=Store()))

    def clock(self) -> float:
        return 0.0

    def paging_us(self) -> set[str]:
        return set(self.paging)

    def neighbours(self) -> set[str]:
        return {"a", "b"}

    def is_up(self, peer: str) -> bool:
        return True

    async def each_live_neighbour(self, work: Any, what: str, skip: Any = ()) -> None:
        self.rounds.append({p for p in ("a", "b") if p not in skip})

    def replica_set(self, key: str) -> tuple[str, ...]:
        return ("me", "a", "b")


def anti_entropy(peers: Peers) -> AntiEntropy:
    ae = AntiEntropy(peers)  # type: ignore[arg-type]
    ae.shared.built = True  # no rebuild: the rounds' comparisons are what is checked
    ae.shared.round = lambda: False  # type: ignore[method-assign]
    return ae


async def rounds(ae: AntiEntropy, n: int) -> None:
    task = asyncio.create_task(ae.run(interval=0.001, grace=1e9))
    peers: Peers = ae.peers  # type: ignore[assignment]
    for _ in range(20_000):  # bounded: a loop that stopped running fails the test
        if len(peers.rounds) + peers.node.service.metrics.replication["ae_deferred"] >= n:
            break
        await asyncio.sleep(0.001)
    task.cancel()


async def test_a_node_behind_answers_later_and_waits_a_bounded_number_of_rounds() -> None:
    peers = Peers()
    ae = anti_entropy(peers)
    root = [["", Fingerprint(1, 2, 3).to_wire()]]
    peers.catchup_behind.add("a")
    assert await ae.serve_digest("b", root) == {"ranges": [], "later": True}
    await rounds(ae, DEFER_ROUNDS + 1)
    # DEFER_ROUNDS rounds waited, then one compared with every peer anyway
    assert peers.rounds[:1] == [{"a", "b"}]
    assert ae.peers.node.service.metrics.replication["ae_deferred"] == DEFER_ROUNDS
    peers.catchup_behind.clear()  # caught up: digests are answered again
    assert (await ae.serve_digest("b", root)).get("later") is None


async def test_a_peer_paging_our_log_is_left_out_for_a_bounded_number_of_rounds() -> None:
    peers = Peers()
    ae = anti_entropy(peers)
    peers.paging.add("a")
    await rounds(ae, DEFER_ROUNDS + 2)
    assert peers.rounds[:DEFER_ROUNDS] == [{"b"}] * DEFER_ROUNDS
    assert peers.rounds[DEFER_ROUNDS] == {"a", "b"}  # not starved
    assert peers.rounds[DEFER_ROUNDS + 1] == {"b"}  # then left out again while it pages


async def test_a_later_answer_ends_the_comparison() -> None:
    peers = Peers()
    ae = anti_entropy(peers)
    asked: list[str] = []

    class Conn:
        async def request(self, op: str, **kw: Any) -> dict[str, Any]:
            asked.append(op)
            return {"ranges": [], "later": True}

    async def link(peer: str) -> Conn:
        return Conn()

    peers.link = link  # type: ignore[attr-defined]
    assert await ae.reconcile("a") == 0
    assert asked == ["peer.digest"]
    assert ae.peers.node.service.metrics.replication["ae_deferred"] == 1


@pytest.mark.parametrize("ticks", [0, 1, 2])
async def test_a_cancel_that_comes_with_a_wake_ends_the_rounds(ticks: int) -> None:
    """A node stopped just after a wake (a peer back, a placement change) cancels the
    round loop while it waits: on 3.11 ``asyncio.wait_for`` lost that cancel when the wake
    came in the same moment, and the node's stop hung."""
    ae = anti_entropy(Peers())
    task = asyncio.create_task(ae.run(interval=60, grace=1e9))
    await asyncio.sleep(0.01)  # the first wait of 60 s
    ae.wake.set()
    assert await cancel_after(task, ticks)
