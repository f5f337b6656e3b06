"""node/catchup.py, the I/O shell of catch-up, over a fake link and store: it follows
``CatchUp``, pages while ``more``, saves positions only after the fetched writes are
stored, stores pipelined pages in page order, and serves only the keys the requester
replicates."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import pytest

from flocloud.node.catchup import CatchUpShell
from node_helpers import cancel_after


class Store:
    def __init__(self, rows: list[tuple[int, str, str, str | None]]) -> None:
        self.rows = rows
        self.saved: list[tuple[str, str, int]] = []
        self.held: set[str] = set()

    async def store_id(self) -> str:
        return "s1"

    async def top_seq(self) -> int:
        return self.rows[-1][0] if self.rows else 0

    async def log_since(self, after: int, limit: int) -> list[tuple[int, str, str, str | None]]:
        return [r for r in self.rows if r[0] > after][:limit]

    async def have(self, keys: list[tuple[str, str]]) -> set[str]:
        return {i for _, i in keys if i in self.held}

    async def peer_cursors(self) -> dict[str, tuple[str, int]]:
        return {}

    async def save_peer_cursor(self, peer: str, store_id: str, seq: int) -> None:
        self.saved.append((peer, store_id, seq))


class Node:
    def __init__(self, store: Store) -> None:
        self.service = type("Service", (), {"store": store})()


class Peers:
    """What the shell needs of ``Peers``: the peer's own store serves the link."""

    def __init__(self, me: str, store: Store, replicas: dict[str, tuple[str, ...]]) -> None:
        self.self_id = me
        self.node = Node(store)
        self.replicas = replicas
        self.serving: CatchUpShell | None = None  # the other side, answering the link

    def replica_set(self, key: str) -> tuple[str, ...]:
        return self.replicas.get(key, ())

    def clock(self) -> float:
        return time.monotonic()

    async def link(self, peer: str) -> Any:
        assert self.serving is not None
        serving = self.serving
        me = self.self_id

        class Conn:
            async def request(self, op: str, **kw: Any) -> dict[str, Any]:
                assert op == "peer.sync"
                return await serving.serve(
                    me, kw.get("after", 0), kw["limit"], kw.get("from_top", False)
                )

        return Conn()


REPLICAS = {"ka": ("me", "them"), "kb": ("them", "x")}  # "me" does not replicate kb


async def test_serving_leaves_out_keys_the_requester_does_not_replicate() -> None:
    rows = [(1, "a1", "ka", None), (2, "b1", "kb", None), (3, "a2", "ka", "me")]
    serving = CatchUpShell(Peers("them", Store(rows), REPLICAS), None, None, list)  # type: ignore[arg-type]
    page = await serving.serve("me", 0, 500)
    assert page["records"] == [{"id": "a1", "receiver": "ka"}]  # not kb, not its forward
    assert (page["next"], page["more"], page["store_id"]) == (3, False, "s1")
    top = await serving.serve("me", 0, 500, from_top=True)
    assert top == {"records": [], "next": 3, "more": False, "store_id": "s1"}


async def test_serving_leaves_out_what_the_requester_acknowledged() -> None:
    """Writes the requester answered as stored (``Peers.replicate`` records them) are not
    listed to it again, and are counted; other peers still get them."""
    rows = [(i, f"a{i}", "ka", None) for i in range(1, 6)]
    serving = CatchUpShell(
        Peers("them", Store(rows), {"ka": ("me", "them", "x")}), None, None, list
    )  # type: ignore[arg-type]
    serving.delivered.add("me", 2)
    serving.delivered.add("me", 4)
    page = await serving.serve("me", 0, 500)
    assert [r["id"] for r in page["records"]] == ["a1", "a3", "a5"]
    assert (page["next"], serving.left_out_delivered) == (5, 2)
    assert len((await serving.serve("x", 0, 500))["records"]) == 5
    await serving.serve("me", 5, 500)  # it moved past them: forgotten
    assert len(serving.delivered) == 0


async def test_pull_pages_and_saves_only_after_the_writes_are_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    theirs = Store([(i, f"w{i}", "ka" if i % 2 else "kb", None) for i in range(1, 8)])
    mine = Store([])
    fetched: list[list[str]] = []

    async def get(conn: Any, peer: str, keys: list[tuple[str, str]]) -> list[str]:
        # each id with the receiver its log row named (w8..w12 are all of ka)
        assert all(r == ("ka" if int(i[1:]) % 2 or int(i[1:]) > 7 else "kb") for r, i in keys)
        return [i for _, i in keys]

    async def store(ids: list[str], peer: str, turn: Any) -> int:
        if turn is not None:
            await turn
        assert mine.saved[-1][2] < int(ids[-1][1:])  # not saved past them yet
        fetched.append(ids)
        mine.held.update(ids)
        return len(ids)

    peers = Peers("me", mine, REPLICAS)
    peers.serving = CatchUpShell(Peers("them", theirs, REPLICAS), get, store, list)  # type: ignore[arg-type]
    shell = CatchUpShell(peers, get, store, list)  # type: ignore[arg-type]
    shell.state["them"] = shell.of("them")
    shell.state["them"].limit = 2
    assert await shell.pull("them") == 0  # first contact: from the top
    assert mine.saved == [("them", "s1", 7)]
    assert shell.last_pull is None  # it stored nothing
    theirs.rows += [(i, f"w{i}", "ka", None) for i in range(8, 13)]
    caplog.set_level("INFO", logger="flocloud.node.catchup")
    assert await shell.pull("them") == 5  # pages of two while more, kb left out
    last = shell.last_pull
    assert last is not None and (last["peer"], last["writes"], last["pages"]) == ("them", 5, 3)
    assert last["began_s"] >= 0 and 0 <= last["seconds"] < 5
    assert "caught up 5 writes from them" in caplog.text  # a backlog is logged
    assert [i for page in fetched for i in page] == [f"w{i}" for i in range(8, 13)]
    assert mine.saved[-1] == ("them", "s1", 12)
    assert shell.cursors == {"them": 12}
    assert not shell.busy and not shell.behind


@pytest.mark.parametrize("seed", range(5))
async def test_pipelined_pages_store_in_order_and_positions_follow_commits(seed: int) -> None:
    """Pages whose fetch finishes out of order (random delays) are still stored in page
    order (``w{k}`` needs ``w{k-1}`` stored first, as a tag needs its target), and every
    saved position covers only writes already committed; a failed fetch stops the pull
    with the position before its page, and the next pull resumes there."""
    rows = [(i, f"w{i}", "ka", None) for i in range(1, 41)]
    theirs, mine = Store(rows), Store([])
    rng = random.Random(seed)
    committed: list[int] = []
    fail_at = {17}
    in_flight = 0
    most = 0

    async def get(conn: Any, peer: str, keys: list[tuple[str, str]]) -> list[str]:
        ids = [i for _, i in keys]
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(rng.random() / 200)
        in_flight -= 1
        if fail_at & {int(i[1:]) for i in ids}:
            fail_at.clear()
            raise ConnectionError("link lost")
        return ids

    async def store(ids: list[str], peer: str, turn: Any) -> int:
        # node/replicas.py: verified at once (the delay), stored once the turn is done
        await asyncio.sleep(rng.random() / 500)
        if turn is not None:
            await turn
        for i in ids:
            n = int(i[1:])
            assert n == 1 or n - 1 in committed, f"{i} stored before w{n - 1}"
            await asyncio.sleep(rng.random() / 500)
            committed.append(n)
            mine.held.add(i)
        return len(ids)

    async def save(peer: str, store_id: str, seq: int) -> None:
        assert all(n in committed for n in range(1, seq + 1)), f"saved {seq} ahead"
        mine.saved.append((peer, store_id, seq))

    mine.save_peer_cursor = save  # type: ignore[method-assign]
    peers = Peers("me", mine, REPLICAS)
    peers.serving = CatchUpShell(Peers("them", theirs, REPLICAS), get, store, list)  # type: ignore[arg-type]
    shell = CatchUpShell(peers, get, store, list)  # type: ignore[arg-type]
    shell.state["them"] = shell.of("them")
    shell.state["them"].position = ("s1", 0)
    shell.state["them"].limit = 3
    with pytest.raises(ConnectionError):
        await shell.pull("them")
    assert mine.saved[-1][2] < 17  # the failed page's position was not saved
    assert not shell.busy and not shell.behind
    await asyncio.sleep(0.05)  # pages cancelled after the failure store nothing more
    after_failure = len(committed)
    assert after_failure == len(set(committed))
    # a restart resumes from the saved position and gets every write, in order
    resumed = CatchUpShell(peers, get, store, list)  # type: ignore[arg-type]
    resumed._saved = {"them": mine.saved[-1][1:]}  # type: ignore[dict-item]
    resumed.of("them").limit = 3
    await resumed.pull("them")
    assert sorted(set(committed)) == list(range(1, 41))
    assert mine.saved[-1] == ("them", "s1", 40)
    assert most > 1  # pages were fetched concurrently


async def test_serving_knows_who_pages_through_a_backlog() -> None:
    """Anti-entropy leaves out a peer paging through our log: ``paging`` names it while
    our last answer said ``more``, and forgets it on the last page."""
    rows = [(i, f"w{i}", "ka", None) for i in range(1, 6)]
    serving = CatchUpShell(Peers("them", Store(rows), REPLICAS), None, None, list)  # type: ignore[arg-type]
    assert (await serving.serve("me", 0, 2))["more"] is True
    assert serving.paging() == {"me"}
    assert (await serving.serve("me", 4, 2))["more"] is False
    assert serving.paging() == set()


class Rounds(Peers):
    """``Peers`` that counts catch-up rounds and knows no neighbour (as a restarted node
    before it has read the registry)."""

    def __init__(self) -> None:
        super().__init__("me", Store([]), REPLICAS)
        self.rounds = 0
        self.round_began = asyncio.Event()
        self.hold: asyncio.Event | None = None  # a round waits for it when set

    def refresh_faults(self) -> None:
        pass

    async def each_live_neighbour(self, work: Any, what: str) -> None:
        self.rounds += 1
        self.round_began.set()
        if self.hold is not None:
            await self.hold.wait()


async def test_a_wake_starts_a_round_now_not_at_the_intervals_end() -> None:
    peers = Rounds()
    shell = CatchUpShell(peers, get=None, store=None, on_reset=lambda: None)  # type: ignore[arg-type]
    task = asyncio.create_task(shell.run(interval=60))
    try:
        await asyncio.wait_for(peers.round_began.wait(), 5)
        assert peers.rounds == 1  # the first round, then a wait of 60 s
        await asyncio.sleep(0.05)
        assert peers.rounds == 1
        peers.round_began.clear()
        shell.wake()  # the registry gave a placement: every peer is due, now
        await asyncio.wait_for(peers.round_began.wait(), 5)
        assert peers.rounds == 2
        # a wake while a round runs starts the next one right after it
        peers.hold, peers.round_began = asyncio.Event(), asyncio.Event()
        shell.wake("them")
        await asyncio.wait_for(peers.round_began.wait(), 5)
        peers.round_began.clear()
        shell.wake("them")  # during round 3
        peers.hold.set()
        await asyncio.wait_for(peers.round_began.wait(), 5)
        assert peers.rounds == 4
        await asyncio.sleep(0.05)
        assert peers.rounds == 4  # and then the interval again
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("ticks", [0, 1, 2])
async def test_a_cancel_that_comes_with_a_wake_ends_the_loop(ticks: int) -> None:
    """A node stopped just after a wake (the registry's first placement wakes catch-up as
    the node starts) cancels the loop while it waits: on 3.11 ``asyncio.wait_for`` lost
    that cancel when the wake came in the same moment, and the node's stop hung."""
    peers = Rounds()
    shell = CatchUpShell(peers, get=None, store=None, on_reset=lambda: None)  # type: ignore[arg-type]
    task = asyncio.create_task(shell.run(interval=60))
    await asyncio.wait_for(peers.round_began.wait(), 5)
    await asyncio.sleep(0.01)
    shell.wake()
    assert await cancel_after(task, ticks)
