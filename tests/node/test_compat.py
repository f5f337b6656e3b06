"""``OldGets``: placing the ids of an older node's ``peer.get`` (node/compat.py)."""

from __future__ import annotations

from flocloud.node.compat import KEYS, PAGES, OldGets
from flocloud.replication.catchup import PAGE


class Log:
    """A store's log: ``log_since`` as the store answers it (seq, id, receiver, origin)."""

    def __init__(self, rows: list[tuple[int, str, str, str | None]]) -> None:
        self.rows = rows
        self.asked: list[tuple[int, int]] = []

    async def log_since(self, after: int, limit: int) -> list[tuple[int, str, str, str | None]]:
        self.asked.append((after, limit))
        return [r for r in self.rows if r[0] > after][:limit]


async def test_ids_are_placed_by_the_pages_served_then_by_the_keys_compared() -> None:
    log = Log([(i, f"id{i}", "ka" if i % 2 else "kb", None) for i in range(1, 21)])
    g = OldGets()
    assert await g.keys(log, "p", ["id5"]) == []  # nothing read here yet: not placed
    g.paged("p", 10)
    g.paged("p", 14)
    assert await g.keys(log, "p", ["id12", "id17", "id3", "nope"]) == [
        ("kb", "id12"),
        ("ka", "id17"),
    ]  # rows after the earliest page start; id3 lies before it
    assert log.asked[-1] == (10, PAGES * PAGE)
    g.compared("p", "kc")
    g.compared("p", "kc")
    assert await g.keys(log, "p", ["id3", "x"]) == [("kc", "id3"), ("kc", "x")]
    assert await g.keys(log, "q", ["id12"]) == []  # per peer
    g.paged("q", -1)  # not a position
    assert await g.keys(log, "q", ["id12"]) == []


async def test_what_is_kept_per_peer_is_bounded() -> None:
    log = Log([])
    g = OldGets()
    for n in range(3 * PAGES):
        g.paged("p", 100 + n)
    for n in range(3 * KEYS):
        g.compared("p", f"k{n}")
    await g.keys(log, "p", ["a"])
    assert log.asked == [(100 + 2 * PAGES, PAGES * PAGE)]  # the last PAGES starts
    placed = await g.keys(log, "p", ["a"])
    assert [r for r, _ in placed] == [f"k{n}" for n in range(2 * KEYS, 3 * KEYS)]


async def test_an_older_peer_is_asked_by_ids_when_it_refuses_keys() -> None:
    from typing import Any

    import pytest

    from flocloud.node.compat import fetch_records
    from flocloud.protocol.errors import BadFormat, Unavailable

    class Conn:
        def __init__(self, old: bool, fail: Exception | None = None) -> None:
            self.old, self.fail, self.sent = old, fail, []  # type: ignore[var-annotated]

        async def request(self, op: str, **fields: Any) -> Any:
            self.sent.append((op, fields))
            if self.fail is not None:
                raise self.fail
            if self.old and "keys" in fields:
                raise BadFormat("Object missing required field `ids`")
            return {
                "records": [{"id": i} for i in fields.get("ids") or [k[1] for k in fields["keys"]]]
            }

    keys = [("ka", "i1"), ("kb", "i2")]
    new, old = Conn(old=False), Conn(old=True)
    assert await fetch_records(new, keys) == {"records": [{"id": "i1"}, {"id": "i2"}]}  # type: ignore[arg-type]
    assert new.sent == [("peer.get", {"keys": [["ka", "i1"], ["kb", "i2"]]})]
    assert await fetch_records(old, keys) == {"records": [{"id": "i1"}, {"id": "i2"}]}  # type: ignore[arg-type]
    assert old.sent[-1] == ("peer.get", {"ids": ["i1", "i2"]})
    down = Conn(old=False, fail=Unavailable("link lost"))
    with pytest.raises(Unavailable):  # other refusals are not retried
        await fetch_records(down, keys)  # type: ignore[arg-type]
    assert len(down.sent) == 1


async def test_peers_the_registry_removes_are_forgotten() -> None:
    log = Log([(i, f"id{i}", "ka", None) for i in range(1, 6)])
    g = OldGets()
    for peer in ("p", "q", "r"):
        g.paged(peer, 0)
        g.compared(peer, "kb")
    g.compared("s", "kb")
    g.forget({"q": ("pub", "uri"), "x": ("pub", "uri")})  # the view's nodes
    assert g.peers() == {"q"}
    assert await g.keys(log, "p", ["id2"]) == []  # gone: neither page starts nor keys
    assert await g.keys(log, "q", ["id2", "z"]) == [("ka", "id2"), ("kb", "z")]
    g.forget({})
    assert g.peers() == set()


def test_a_view_change_forgets_the_peers_it_removes() -> None:
    import hashlib
    from types import SimpleNamespace

    from flocloud.node.peers import Peers
    from flocloud.protocol.keys import PrivateKey
    from flocloud.protocol.membership import Membership
    from flocloud.protocol.params import REGTEST

    keys = [PrivateKey(hashlib.sha256(f"c{i}".encode()).digest(), REGTEST) for i in range(4)]
    ids = [k.address for k in keys]
    peers = Peers(SimpleNamespace(key=keys[0], config=None, service=None))  # type: ignore[arg-type]

    def view(nodes: list[str], epoch: int) -> Membership:
        return Membership.build({n: (f"ws://{n}", "") for n in nodes}, 3, 2, 8, epoch=epoch)

    peers.update(view(ids, 1))
    old_gets = peers.antientropy.old_gets
    for p in ids[1:]:
        old_gets.paged(p, 7)
    peers.update(view(ids[:3], 2))  # ids[3] removed
    assert old_gets.peers() == set(ids[1:3])
