"""Consistent reads of a node: none before it read its registry, none of a store that went
back while it caught up."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flocloud.node.config import AppConfig, ChainConfig, NodeConfig
from flocloud.node.objects import object_get
from flocloud.node.service import NodeService
from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from flocloud.storage.sqlite import SqliteStore

A = PrivateKey(hashlib.sha256(b"apps-read").digest(), REGTEST)


async def test_a_node_that_has_not_read_its_registry_serves_no_consistent_read(
    tmp_path: Path,
) -> None:
    """Until a node following a registry has read its applications it cannot tell a
    strict object from a merge one (``objects.is_strict`` says ``unavailable``): a
    consistent read, the mode of a plain read's reply and an object write a peer forwards
    are refused, never answered from its own empty state as if merged (a stale read); a
    plain read of nothing is this store's ``not-found``; after the first read of the
    registry the consistent read is answered."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    chain = ChainConfig(explorer="http://127.0.0.1:9", registry=A.address)
    svc = NodeService(NodeConfig(chain=chain, verify_threads=0, verify_processes=0), store)
    try:
        with pytest.raises(FlocloudError) as err:
            await object_get(svc, "demo", "doc", consistent=True)
        assert err.value.code == "unavailable" and "registry" in err.value.message
        with pytest.raises(FlocloudError) as err:  # a plain read is this store's state
            await object_get(svc, "demo", "doc")
        assert err.value.code == "not-found"
        svc.set_apps({"demo": AppConfig(A.address)})
        with pytest.raises(FlocloudError) as err:
            await object_get(svc, "demo", "doc", consistent=True)
        assert err.value.code == "not-found"  # a merge object nobody wrote: answered
    finally:
        await store.close()


async def test_a_consistent_read_never_answers_a_store_that_went_back(tmp_path: Path) -> None:
    """Seed 335533 of the simulator: a node no longer among a strict object's replicas
    caught up to its version 2, then its hand-off dropped the object before the read;
    the read answered "absent" after version 2 was acked. Now the read catches up again
    until the store holds at least what the catch-up confirmed (here: the writes come back
    as a catch-up would commit them), or answers ``unavailable`` after a few tries."""
    store = await SqliteStore.open(tmp_path / "s.sqlite3")
    svc = NodeService(NodeConfig(verify_threads=0, verify_processes=0), store)
    svc.set_apps({"demo": AppConfig(A.address, strict=("doc",))})
    oid = object_id("demo", "doc", REGTEST)

    def write(t: int, parents: list[str], n: int) -> Envelope:
        return build_envelope(
            A, receiver=oid, application="demo", type="flocloud.object.patch", time_ms=t,
            payload={"name": "doc", "patch": {"n": n}, "parents": parents},
        )  # fmt: skip

    first = write(10, [], 1)
    second = write(20, [first.id], 2)
    calls: list[int] = []

    async def drop_then_refill(app: str, name: str) -> int:
        """The store at version 2 is confirmed; the hand-off drops it at once; the next
        catch-up commits the chosen writes again."""
        calls.append(1)
        if len(calls) == 1:
            for e in (first, second):
                await store.put(e, 1, origin="peer")
            await store.drop(oid, [first.id, second.id])
        else:
            for e in (first, second):
                await store.put(e, 1, origin="peer")
        return 2

    async def always_drop(app: str, name: str) -> int:
        for e in (first, second):
            await store.put(e, 1, origin="peer")
        await store.drop(oid, [first.id, second.id])
        return 2

    try:
        svc.strict_sync = drop_then_refill
        got = await object_get(svc, "demo", "doc", consistent=True)
        assert got["count"] == 2 and got["value"] == {"n": 2} and len(calls) == 2
        svc.strict_sync = always_drop
        with pytest.raises(FlocloudError) as err:
            await object_get(svc, "demo", "doc", consistent=True)
        assert err.value.code == "unavailable"
    finally:
        await store.close()
