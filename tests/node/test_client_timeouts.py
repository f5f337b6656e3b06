"""The client against a supernode that accepts connections and never answers, and an
explorer that does the same: timeouts hold, the next node is tried, and a message too large
for the node's self-described limit is refused before it is sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flocloud.client import Client, NetworkView, NodeRef
from flocloud.client.discovery import load_network
from flocloud.devnet.network import NodeProcess, deterministic_key, free_port
from flocloud.protocol.errors import ExplorerError, TooLarge
from flocloud.protocol.placement import Placement
from node_helpers import ALICE, start_node


@pytest.fixture
async def blackhole() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says a word (a frozen process)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    port = free_port()
    server = await asyncio.start_server(accept, "127.0.0.1", port)
    yield port
    for w in held:
        w.close()
    server.close()


@pytest.fixture
async def real(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    proc = start_node(tmp_path / "n", wait=False)
    await proc.wait_healthy(30)
    yield proc
    proc.stop()


async def test_frozen_node_costs_the_hedge_not_the_timeout(
    blackhole: int, real: NodeProcess
) -> None:
    frozen = NodeRef(deterministic_key("frozen").address, f"ws://127.0.0.1:{blackhole}/ws")
    alive = NodeRef(real.id, real.ws_url)
    placement = Placement.build([frozen.id, alive.id])
    receiver = next(
        a
        for a in (deterministic_key(f"r{i}").address for i in range(1000))
        if placement.preference_list(a)[0] == frozen.id
    )
    notes: list[str] = []
    view = NetworkView.from_nodes([frozen, alive], replication_factor=1, clock=time.monotonic)
    async with Client(ALICE, view, timeout=10, hedge=0.5, on_notice=notes.append) as client:
        started = time.monotonic()
        await client.send(receiver, {"x": 1})
        assert time.monotonic() - started < 5  # not the 10 s timeout
        assert any("has not answered in 0.5 s; trying next" in n for n in notes), notes
        with pytest.raises(TooLarge, match="at most 65536 bytes"):
            await client.send(receiver, "a" * 200_000)  # refused before sending


async def test_silent_explorer_holds_the_timeout(blackhole: int) -> None:
    started = time.monotonic()
    with pytest.raises(ExplorerError, match="did not answer within 1 s"):
        await load_network([f"http://127.0.0.1:{blackhole}"], ALICE.address, ALICE, timeout=1.0)
    assert time.monotonic() - started < 2.5
