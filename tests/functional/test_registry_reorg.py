"""A reorganisation of the dev chain, seen by real supernode processes and a client:
the running node, a freshly started node and the long-lived client end on one registry
state at one epoch (carried by ``GET /``, acks and query replies)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from flocloud import Client
from flocloud.chain import BlockbookV1Reader, Publisher, make_registry_update
from flocloud.devnet import Network
from flocloud.devnet.network import CONFIRMATIONS
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from net_helpers import running_network

pytestmark = pytest.mark.slow


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"reorg-" + label.encode()).digest(), REGTEST)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(
        tmp_path_factory.mktemp("reorg"), nodes=2, block_interval=0, registry_refresh=0.3
    )


async def get(url: str) -> Any:
    async with (
        aiohttp.ClientSession() as s,
        s.get(url, headers={"Accept": "application/json"}) as resp,
    ):
        return await resp.json()


async def view(devnet: Network, i: int) -> tuple[Any, list[str], int]:
    """(epoch of GET /, registered node IDs, replication factor) as node ``i`` sees them."""
    me = await get(devnet.nodes[i].url + "/")
    net = await get(devnet.nodes[i].url + "/api/network")
    return me["epoch"], sorted(n["id"] for n in net["nodes"]), net.get("replication_factor", 0)


async def publish(devnet: Network, **update: Any) -> None:
    async with BlockbookV1Reader(devnet.chain.url) as reader:
        await Publisher(reader, devnet.registry_key).publish_many(make_registry_update(**update))


async def chain_post(devnet: Network, path: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as s, s.post(devnet.chain.url + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_running_and_fresh_nodes_and_client_agree_after_a_reorg(devnet: Network) -> None:
    x, y = key("x"), key("y")
    client = await Client.from_chain(
        key("client"), explorer=devnet.chain.url, registry=devnet.registry_key.address,
        request_timeout=3, registry_refresh=3600,  # only an epoch in a reply makes it refresh
    )  # fmt: skip
    try:
        base = sorted(n.id for n in devnet.nodes)
        # add X at h, add Y at h+1, both buried CONFIRMATIONS deep
        await publish(devnet, add_nodes=[(x.address, x.pubkey_hex, "x.example")])
        h = (await chain_post(devnet, "/api/mine", {"blocks": 1}))["height"]
        await publish(devnet, add_nodes=[(y.address, y.pubkey_hex, "y.example")])
        await chain_post(devnet, "/api/mine", {"blocks": CONFIRMATIONS})
        with_y = sorted([*base, x.address, y.address])

        async def sees(i: int, ids: list[str]) -> bool:
            return (await view(devnet, i))[1] == ids

        await devnet.wait_until(lambda: sees(0, with_y), 20, what="node 0 to apply X and Y")
        await devnet.wait_until(lambda: sees(1, with_y), 20, what="node 1 to apply X and Y")
        before = (await view(devnet, 0))[0]
        assert before["height"] == h + 1
        await client.refresh_registry()
        assert sorted(client.network.nodes) == with_y

        # node 1 goes away; the chain drops block h+1 (and Y with it) for a branch that
        # carries a config change instead
        devnet.nodes[1].stop()
        await chain_post(devnet, "/api/invalidate", {"height": h + 1, "drop": True})
        await publish(devnet, config={"backupDepth": 0})
        await chain_post(devnet, "/api/mine", {"blocks": CONFIRMATIONS + 1})
        with_x = sorted([*base, x.address])

        async def reorganised() -> bool:
            epoch, ids, rf = await view(devnet, 0)
            return ids == with_x and rf == 1 and epoch != before

        await devnet.wait_until(reorganised, 20, what="the running node to follow the reorg")
        devnet.nodes[1].start()  # a fresh node: it reads the registry from scratch
        await devnet.nodes[1].wait_healthy(30)
        await devnet.wait_until(lambda: sees(1, with_x), 20, what="the fresh node's registry")
        running, fresh = await view(devnet, 0), await view(devnet, 1)
        assert running == fresh
        assert running[0]["height"] == h + 1 and running[0]["hash"] != before["hash"]

        # the client still routes by the old registry until a reply shows a newer epoch
        assert client.follower is not None and client.follower.state.epoch is not None
        assert client.follower.state.epoch.to_json() == before
        ack = await client.put(client.sign(client.id, "hello"))
        assert ack["epoch"] == running[0]
        await devnet.wait_until(
            lambda: (
                client.follower is not None
                and client.follower.state.epoch is not None
                and client.follower.state.epoch.to_json() == running[0]
            ),
            20,
            what="the client to refresh on the newer epoch",
        )
        assert sorted(client.network.nodes) == with_x
        reply = await client._request(client.id, "query", filter={"receiver": client.id})
        assert reply["epoch"] == running[0]
    finally:
        await client.aclose()
