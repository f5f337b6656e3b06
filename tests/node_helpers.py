"""Helpers for node tests: keys, envelopes, a real node process, a websocket wrapper."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from flocloud.client.connection import NodeConnection
from flocloud.devnet.network import NodeProcess, standalone_node
from flocloud.protocol.envelope import Envelope, build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"test-" + label.encode()).digest(), REGTEST)


ADMIN, TRUSTED, ALICE, BOB, EVE = (key(n) for n in ("admin", "trusted", "alice", "bob", "eve"))


def now_ms() -> int:
    return int(time.time() * 1000)


def env(sender: PrivateKey, receiver: str, payload: Any, **kw: Any) -> Envelope:
    return build_envelope(
        sender, receiver=receiver, payload=payload, time_ms=kw.pop("time_ms", now_ms()), **kw
    )


def start_node(tmp: Path, limits: str = "", *, wait: bool = True) -> NodeProcess:
    """Start a node process; ``wait=False`` in async tests (then await wait_healthy)."""
    settings = f'[limits]\n{limits}\n[apps.demo]\nadmin = "{ADMIN.address}"\ntrusted = ["{TRUSTED.address}"]\nstrict = ["counter"]\n'
    proc = standalone_node(tmp, settings=settings)
    proc.start()
    if wait:
        asyncio.run(proc.wait_healthy(30))
    return proc


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start_node(
        tmp_path_factory.mktemp("node"), "max_subscriptions = 3\nmax_skew_ms = 60000\nmax_depth = 8"
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def tight_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = start_node(
        tmp_path_factory.mktemp("tight"),
        "rate_per_id = 2.0\nburst_per_id = 5\nquota_bytes_per_id = 60000\nsubscription_queue = 20\nmax_message_bytes = 30000\nburst_bytes_per_source = 100000000",
    )
    yield proc
    proc.stop()


class Ws:
    """Our client connection, plus helpers to read subscription frames."""

    def __init__(self, conn: NodeConnection, session: aiohttp.ClientSession) -> None:
        self.conn, self.session = conn, session

    async def req(self, op: str, **fields: Any) -> dict[str, Any]:
        return await self.conn.request(op, **fields)

    async def put(self, e: Envelope) -> dict[str, Any]:
        return await self.conn.request("put", envelope=e.to_wire())


@pytest.fixture
async def ws(node: NodeProcess) -> AsyncIterator[Ws]:
    async with aiohttp.ClientSession() as session:
        conn = NodeConnection(node.ws_url, session, timeout=10)
        await conn.connect()
        yield Ws(conn, session)
        await conn.close()


async def cancel_after(task: asyncio.Task[Any], ticks: int) -> bool:
    """Cancel ``task`` after ``ticks`` turns of the event loop; whether it then ended
    cancelled within 2 s (one that lost the cancel is cancelled again, not left running)."""
    for _ in range(ticks):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    if not done:
        task.cancel()
    return task in done and task.cancelled()
