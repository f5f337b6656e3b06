"""A replaced disk on real processes (finding O1 of issue 11; docs/protocol.md §5.6): a
node whose data directory is wiped comes back with a new, young store, which recovers a
strict object's Paxos instance from the other replicas before it votes in it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from test_objects_devnet import converged, obj_write

from flocloud.client.connection import NodeConnection
from flocloud.devnet import Network
from flocloud.protocol.errors import FlocloudError
from net_helpers import running_network

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(tmp_path_factory.mktemp("disknet"), nodes=3, block_interval=0.5)


async def test_a_replaced_disk_recovers_before_it_votes(devnet: Network) -> None:
    """Node 2's disk is replaced after a first strict write; anti-entropy brings its new
    store the object. With node 1 down, node 0 and the young node 2 are no majority for
    the next instance (node 2 cannot recover it from one other: it might have replaced a
    disk that accepted there), so the write is ``unavailable`` where a forgetful vote
    would have acknowledged it. With node 1 back, node 2 recovers the instance and the
    write is chosen, also through node 2, and a consistent read through node 2 sees it."""
    name = "strict/disk"
    async with aiohttp.ClientSession() as session:

        async def conn(i: int) -> NodeConnection:
            c = NodeConnection(devnet.nodes[i].ws_url, session, timeout=15)
            await c.connect()
            return c

        async def put(c: NodeConnection, env: Any) -> dict[str, Any]:
            for _ in range(30):  # links to a (re)started node come back
                try:
                    ack: dict[str, Any] = await c.request("put", envelope=env.to_wire())
                    return ack
                except FlocloudError as exc:
                    assert exc.code == "unavailable", exc
                    await asyncio.sleep(0.5)
            raise AssertionError("still unavailable")

        c0 = await conn(0)
        first = obj_write(devnet, name, "reset", {"value": 1, "parents": [],
                                                  "expected_version": "0"})  # fmt: skip
        await put(c0, first)
        await converged(devnet, name)
        devnet.kill(2)  # a new disk: an empty data directory, the same key and settings
        shutil.rmtree(devnet.base / "node2" / "data")
        toml = devnet.base / "node2" / "node.toml"
        toml.write_text(toml.read_text().replace("young_store_seconds = 0.0\n", ""))
        devnet.nodes[2].start()
        await devnet.nodes[2].wait_healthy(30)
        version, _ = await converged(devnet, name)  # node 2's new store has the object
        state = await c0.request("object.get", application="demo", name=name)
        assert state["version"] == version
        second = obj_write(devnet, name, "reset", {"value": 2, "parents": state["heads"],
                                                   "expected_version": version})  # fmt: skip
        # links to the new node 2 are up: a strict write of another object goes through
        other = obj_write(devnet, f"{name}-other", "reset", {"value": 0, "parents": [],
                                                             "expected_version": "0"})  # fmt: skip
        await put(c0, other)
        devnet.kill(1)
        try:
            with pytest.raises(FlocloudError) as refused:
                await c0.request("put", envelope=second.to_wire())
            assert refused.value.code == "unavailable", refused.value
        finally:
            devnet.nodes[1].start()
            await devnet.nodes[1].wait_healthy(30)
        c2 = await conn(2)
        ack = await put(c2, second)
        assert ack["msgId"] == second.id
        for attempt in range(20):  # node 1's links may take a moment after its restart
            try:
                read = await c2.request(
                    "object.get", application="demo", name=name, consistent=True
                )
                break
            except FlocloudError as exc:
                if exc.code != "unavailable" or attempt == 19:
                    raise
                await asyncio.sleep(0.5)
        assert read["version"] == ack["version"] != version
        for c in (c0, c2):
            await c.close()
