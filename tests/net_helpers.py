"""Multi-process test networks: start one per module, always stop it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from flocloud.client.connection import NodeConnection
from flocloud.devnet import Network
from flocloud.devnet.control import stop_started_elsewhere
from flocloud.devnet.network import NodeProcess


def running_network(base: Path, **kwargs: Any) -> Iterator[Network]:
    """Start a ``Network`` (stopping whatever started if that fails), yield it, stop it."""
    net = Network(base, **kwargs)
    stop_started_elsewhere(net)
    try:
        asyncio.run(net.start())
    except BaseException:
        net.stop()
        raise
    yield net
    codes = net.stop()
    assert set(codes.values()) <= {0, None, -9}, codes


async def authenticated_link(
    session: aiohttp.ClientSession, me: NodeProcess, them: NodeProcess, nonce: str = "33" * 32
) -> NodeConnection:
    """A replication link to ``them``, authenticated with ``me``'s supernode key."""
    from flocloud.protocol.peering import sign_transcript, transcript

    conn = NodeConnection(them.ws_url, session, timeout=5)
    await conn.connect()
    hello = await conn.request("peer.hello", node_id=me.id, nonce=nonce)
    digest = transcript("client", me.id, them.id, nonce, hello["nonce"])
    await conn.request("peer.auth", sign=sign_transcript(me.key, digest), store_id="test")
    return conn
