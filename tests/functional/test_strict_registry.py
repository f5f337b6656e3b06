"""Strict objects across a registry change on real processes (chain + 3 supernodes, N = 3,
then a fourth registered on chain while compare-and-set writers run): every object's
history stays linearizable, its replicas converge, and objects whose acceptors changed
take strict writes under the new registry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest
from test_objects_devnet import converged, obj_write

from flocloud.client.connection import NodeConnection
from flocloud.devnet import Network
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.objectlog import version_of
from flocloud.protocol.objects import object_id
from flocloud.protocol.params import REGTEST
from net_helpers import running_network
from sim.linearizability import Op, cas_register, check

pytestmark = pytest.mark.slow

NAMES = [f"strict/reg-{i}" for i in range(6)]


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(tmp_path_factory.mktemp("strictreg"), nodes=3, block_interval=0.5)


async def test_strict_writes_across_a_registry_change(devnet: Network) -> None:
    await devnet.wait_quorum()
    history: dict[str, list[Op]] = {n: [] for n in NAMES}
    after: dict[str, int] = dict.fromkeys(NAMES, 0)  # ok writes sent after the change
    changed = asyncio.Event()
    t0 = time.monotonic()

    async def one(conn: NodeConnection, name: str, tag: str) -> None:
        h = history[name]
        call = time.monotonic() - t0
        try:
            state = await conn.request("object.get", application="demo", name=name,
                                       consistent=True)  # fmt: skip
            base, heads, count = state["version"], state["heads"], state["count"]
        except FlocloudError as exc:
            if exc.code != "not-found":
                return
            base, heads, count = "0", [], 0
        h.append(Op(call, time.monotonic() - t0, ("read",), base))
        e = obj_write(devnet, name, "reset", {"value": tag, "parents": heads,
                                             "expected_version": base})  # fmt: skip
        new = version_of([e.id], count + 1)
        call = time.monotonic() - t0
        sent_after = changed.is_set()
        try:
            await conn.request("put", envelope=e.to_wire())
            h.append(Op(call, time.monotonic() - t0, ("cas", base, new), "ok"))
            after[name] += sent_after
        except FlocloudError as exc:
            if exc.code == "version-conflict":
                h.append(Op(call, time.monotonic() - t0, ("cas", base, new), "fail"))
            else:  # unavailable (stale epoch, no majority), a timeout: outcome unknown
                h.append(Op(call, None, ("cas", base, new)))

    async with aiohttp.ClientSession() as session:

        async def writer(w: int) -> None:
            for i in range(60):
                name = NAMES[(w + i) % len(NAMES)]
                if len(history[name]) >= 50 or (changed.is_set() and min(after.values()) > 0):
                    return
                nodes = devnet.active
                conn = NodeConnection(nodes[(w + i) % len(nodes)].ws_url, session, timeout=8)
                try:
                    await conn.connect()
                    await one(conn, name, f"w{w}-{i}")
                except FlocloudError:
                    pass  # a node not up yet: nothing sent
                finally:
                    await conn.close()
                await asyncio.sleep(0.05)

        async def change() -> None:
            await asyncio.sleep(1.0)
            await devnet.add_node()
            changed.set()

        await asyncio.gather(writer(0), writer(1), writer(2), change())

    new = devnet.active[-1]
    moved = [n for n in NAMES if new in devnet.replicas(object_id("demo", n, REGTEST))]
    assert moved, "with 4 nodes and N = 3 the new node is an acceptor of some object"
    for name in NAMES:
        final, _ = await converged(devnet, name)
        end = time.monotonic() - t0
        h = [*history[name], Op(end, end + 1, ("read",), final)]
        shown = "\n".join(
            f"{op.call:7.3f} {op.ret if op.ret is None else round(op.ret, 3)} {op.input} {op.output}"
            for op in h
        )
        assert check(cas_register("0"), h) is not None, f"{name}:\n{shown}"
    assert any(after[n] for n in moved), "strict writes under the new registry"
