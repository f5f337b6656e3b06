"""node/replicas.py: a page's records are verified before its turn is done and stored only
after it; a failed turn stores nothing of the page and fails it; a record that depends on
one later in the page is retried in order."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flocloud.node.config import NodeConfig
from flocloud.node.replicas import store_records
from flocloud.node.service import NodeService
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.errors import BadFormat, Forbidden, NotFound
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from flocloud.storage.sqlite import SqliteStore

DOTS = [["oX86gpbJLhgxRzNVUczLgELBZx3kkkY71W", 1]]
KEY = PrivateKey(hashlib.sha256(b"replicas-page").digest(), REGTEST)


class Service:
    def __init__(self, needs: dict[str, str] | None = None) -> None:
        self.verified: list[str] = []
        self.stored: list[str] = []
        self.needs = needs or {}  # id -> the id it depends on
        self.tries: dict[str, int] = {}  # id -> store attempts

    async def parse_replicas(self, recs: list[dict[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for rec in recs:
            if rec["id"] == "bad":
                out.append(BadFormat("bad signature"))
                continue
            self.verified.append(rec["id"])
            out.append(SimpleNamespace(id=rec["id"]))
        await asyncio.sleep(0)
        return out

    async def store_replicas(self, writes: list[tuple[Any, Any]], origin: str) -> list[Any]:
        out = []
        for env, dots in writes:
            try:
                out.append(await self.store_replica(env, origin, dots))
            except (NotFound, Forbidden) as exc:
                out.append(exc)
        return out

    async def store_replica(self, env: Any, origin: str, dots: Any) -> Any:
        await asyncio.sleep(0)
        self.tries[env.id] = self.tries.get(env.id, 0) + 1
        if env.id == "nope":
            raise Forbidden("not allowed")
        if self.needs.get(env.id, env.id) not in [*self.stored, env.id]:
            raise NotFound("target not here yet")
        self.stored.append(env.id)
        return SimpleNamespace(duplicate=False)


def recs(*ids: str) -> list[dict[str, Any]]:
    return [{"id": i, "envelope": {}, "dots": DOTS} for i in ids]


async def test_verified_before_the_turn_stored_after_it() -> None:
    svc = Service()
    turn: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(store_records(svc, recs("a", "b", "bad"), "p", turn))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert svc.verified == ["a", "b"] and svc.stored == []  # verified, waiting its turn
    turn.set_result(0)
    assert await task == 2
    assert sorted(svc.stored) == ["a", "b"]


async def test_a_failed_turn_stores_nothing_and_fails_the_page() -> None:
    svc = Service()
    turn: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(store_records(svc, recs("a", "b"), "p", turn))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    turn.set_exception(ConnectionError("page before failed"))
    with pytest.raises(ConnectionError):
        await task
    await asyncio.sleep(0.01)
    assert svc.stored == []


async def test_a_dependent_write_is_retried_in_order() -> None:
    svc = Service(needs={"tag": "target"})
    assert await store_records(svc, recs("tag", "target"), "p") == 2  # type: ignore[arg-type]
    assert svc.stored == ["target", "tag"]


async def test_a_record_refused_for_its_signature_or_permissions_is_not_tried_again() -> None:
    svc = Service()
    assert await store_records(svc, recs("bad", "nope", "a"), "p") == 1  # type: ignore[arg-type]
    assert svc.stored == ["a"]
    assert svc.tries == {"nope": 1, "a": 1}  # "bad" never reached the store


async def test_a_real_page_refuses_each_bad_record_alone(tmp_path: Path) -> None:
    """The bulk path on a real service and store: a page with a plain message, an object
    write whose body breaks the object rules (parse_write refuses it), a forged signature
    and malformed dots stores the message alone; each bad record is skipped, none fails
    the page."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    svc = NodeService(NodeConfig(verify_threads=0, verify_processes=0), store)
    try:
        now = int(time.time() * 1000)
        good = build_envelope(KEY, receiver=KEY.address, payload={"n": 1}, time_ms=now)
        wrong = build_envelope(  # an object write not addressed to its object's id
            KEY, receiver=KEY.address, payload={"value": {}}, time_ms=now,
            application="demo", type="flocloud.object.reset", comment="doc",
        )  # fmt: skip
        forged = {**good.to_wire(), "sign": wrong.to_wire()["sign"]}
        other = build_envelope(KEY, receiver=KEY.address, payload={"n": 2}, time_ms=now)
        page = [
            {"id": good.id, "envelope": good.to_wire(), "dots": DOTS},
            {"id": wrong.id, "envelope": wrong.to_wire(), "dots": DOTS},
            {"id": "forged", "envelope": forged, "dots": DOTS},
            {"id": other.id, "envelope": other.to_wire(), "dots": [["not-a-store", -1]]},
        ]
        assert await store_records(svc, page, "oPeer") == 1
        keys = [(e.body.receiverID, e.id) for e in (good, wrong, other)]
        assert await store.have(keys) == {good.id}
    finally:
        await store.close()
