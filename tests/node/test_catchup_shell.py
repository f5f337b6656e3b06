"""node/catchup.py, the I/O shell of catch-up, over a fake link and store: it follows
``CatchUp``, pages while ``more``, saves positions only after the fetched writes are
stored, and serves only the keys the requester replicates."""

from __future__ import annotations

from typing import Any

from flocloud.node.catchup import CatchUpShell


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

    async def have(self, ids: list[str]) -> set[str]:
        return {i for i in ids if i in self.held}

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
    serving = CatchUpShell(Peers("them", Store(rows), REPLICAS), fetch=None, on_reset=list)  # type: ignore[arg-type]
    page = await serving.serve("me", 0, 500)
    assert page["records"] == [{"id": "a1", "receiver": "ka"}]  # not kb, not its forward
    assert (page["next"], page["more"], page["store_id"]) == (3, False, "s1")
    top = await serving.serve("me", 0, 500, from_top=True)
    assert top == {"records": [], "next": 3, "more": False, "store_id": "s1"}


async def test_pull_pages_and_saves_only_after_the_writes_are_stored() -> None:
    theirs = Store([(i, f"w{i}", "ka" if i % 2 else "kb", None) for i in range(1, 8)])
    mine = Store([])
    fetched: list[list[str]] = []

    async def fetch(conn: Any, peer: str, ids: list[str]) -> int:
        assert mine.saved[-1][2] < int(ids[-1][1:])  # not saved past them yet
        fetched.append(ids)
        mine.held.update(ids)
        return len(ids)

    peers = Peers("me", mine, REPLICAS)
    peers.serving = CatchUpShell(Peers("them", theirs, REPLICAS), fetch, list)  # type: ignore[arg-type]
    shell = CatchUpShell(peers, fetch, list)  # type: ignore[arg-type]
    shell.state["them"] = shell.of("them")
    shell.state["them"].limit = 2
    assert await shell.pull("them") == 0  # first contact: from the top
    assert mine.saved == [("them", "s1", 7)]
    theirs.rows += [(i, f"w{i}", "ka", None) for i in range(8, 13)]
    assert await shell.pull("them") == 5  # pages of two while more, kb left out
    assert [i for page in fetched for i in page] == [f"w{i}" for i in range(8, 13)]
    assert mine.saved[-1] == ("them", "s1", 12)
    assert shell.cursors == {"them": 12}
    assert not shell.busy
