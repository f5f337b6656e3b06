"""Replication on real processes: quorum acks, kill -9 of the home node, convergence, peer auth."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from flocloud import Client
from flocloud.client.connection import NodeConnection
from flocloud.devnet import Network
from flocloud.devnet.network import NodeProcess
from flocloud.node.links import PROBE_BACKOFF
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from net_helpers import authenticated_link, running_network

pytestmark = pytest.mark.slow


class OftenCollected(Network):
    """Nodes whose cyclic collector runs a young pass every 5,000 net allocations (the
    default's 100,000 may not run one in a test's writes): a test sees what it frees."""

    def _write_node_config(self, node: NodeProcess) -> None:
        super()._write_node_config(node)
        path = self.base / f"node{node.index}" / "node.toml"
        path.write_text("gc_young = 5000\n" + path.read_text())  # top level: before tables


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(
        tmp_path_factory.mktemp("repl"),
        OftenCollected,
        nodes=3,
        block_interval=0.5,
        backup_depth=2,
        write_quorum=2,
    )


def user(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"repl-" + label.encode()).digest(), REGTEST)


async def test_replicated_writes_leave_no_cycles_for_the_collector(devnet: Network) -> None:
    """A replicated write is freed by reference counting once its sends land: the home's
    cyclic collector (``/api/stats`` ``gc``) frees almost nothing while thousands go by.
    (Its sends' callbacks were closures calling each other, a cycle holding the envelope:
    27 objects a write waited for the collector.)"""
    await devnet.wait_quorum()
    receiver = user("gus-cycles").address
    senders = [user(f"gus-cycles-{k}") for k in range(8)]  # each within its burst of 500
    clients = [
        await Client.from_chain(
            k, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=5
        )
        for k in senders
    ]
    home = next(n for n in devnet.nodes if n.id == clients[0].network.route(receiver)[0].id)

    async def collector() -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(home.url + "/api/stats") as r:
            return dict((await r.json())["gc"])

    async def write(client: Client, n: int) -> None:
        for start in range(0, n, 25):
            envs = [client.sign(receiver, {"i": i}) for i in range(start, start + 25)]
            acks = await asyncio.gather(*(client.put(e) for e in envs))
            assert all(a["replicas"] >= 2 for a in acks)

    per = 375
    before = await collector()
    try:
        await asyncio.gather(*(write(c, per) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    after = await collector()
    writes = per * len(clients)
    passes = [a - b for a, b in zip(after["passes"], before["passes"], strict=True)]
    assert passes[0] >= 10, passes  # the collector did run meanwhile
    collected = after["collected"] - before["collected"]
    # first in the module: the other tests' failovers leave garbage of their own (~1,200)
    assert collected < writes // 2, (collected, passes)
    assert after["seconds"] > before["seconds"]  # the passes' CPU is counted


async def test_quorum_kill_home_and_converge(devnet: Network) -> None:
    """Acks come after W=2 commits; kill -9 of the home node loses no acked write; it converges back."""
    await devnet.wait_quorum()
    dana = user("dana")
    client = await Client.from_chain(
        dana, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=2
    )
    acked: list[str] = []
    home_id = client.network.route(dana.address)[0].id
    home = next(n for n in devnet.nodes if n.id == home_id)
    try:
        for i in range(40):
            env = client.sign(dana.address, {"i": i})
            ack = await client.put(env)
            assert ack["replicas"] >= 2
            acked.append(env.id)
        home.kill()  # mid-stream: the client keeps writing through the backup
        for i in range(40, 80):
            env = client.sign(dana.address, {"i": i})
            try:
                await client.put(env)
            except FlocloudError:
                continue
            acked.append(env.id)
        assert len(acked) >= 70
        survivors = [n for n in devnet.nodes if n is not home]
        # W=2: every acknowledged write is on a survivor at once (none lost with the home)
        held = [await devnet.ids_on(n, dana.address) for n in survivors]
        lost = set(acked) - set().union(*held)
        assert not lost, f"{len(lost)} acked writes lost: {sorted(acked.index(i) for i in lost)}"
        await devnet.wait_converged([dana.address], timeout=30)
        for n in survivors:  # and on every surviving replica once they compared
            missing = set(acked) - await devnet.ids_on(n, dana.address)
            assert not missing, f"{n.name} misses {len(missing)} acked writes"
        got, _ = await client.fetch(dana.address, limit=1000)
        assert set(acked) <= {m.id for m in got}
    finally:
        await client.aclose()
    home.start()
    await home.wait_healthy(30)

    async def home_has_all() -> bool:
        return set(acked) <= await devnet.ids_on(home, dana.address)

    await devnet.wait_until(home_has_all, timeout=30, what="the restarted home node to catch up")


async def test_unregistered_process_cannot_replicate(devnet: Network) -> None:
    """A process that is not in the registry cannot join replication or read its streams."""
    stranger = user("stranger")
    async with aiohttp.ClientSession() as s:
        conn = NodeConnection(devnet.nodes[0].ws_url, s, timeout=5)
        await conn.connect()
        with pytest.raises(FlocloudError) as hello:
            await conn.request("peer.hello", node_id=stranger.address, nonce="00" * 32)
        assert hello.value.code == "forbidden"
        with pytest.raises(FlocloudError) as sync:
            await conn.request("peer.sync", after=0)
        assert sync.value.code == "forbidden"
        impostor = devnet.nodes[1].id  # claims a registered ID without its key
        reply = await conn.request("peer.hello", node_id=impostor, nonce="11" * 32)
        assert reply["node_id"] == devnet.nodes[0].id
        with pytest.raises(FlocloudError) as auth:
            await conn.request("peer.auth", sign="3006020101020101")
        assert auth.value.code == "invalid-signature"
        with pytest.raises(FlocloudError):
            await conn.request("peer.replicate", envelope={})
        # well-formed replication requests (a malformed one is bad-format before anything)
        r = stranger.address
        for op, fields in (
            ("peer.digest", {"ranges": []}),
            ("peer.ids", {"receiver": r, "ranges": []}),
            ("peer.get", {"keys": []}),
            ("peer.push", {"records": []}),
            ("peer.key", {"receiver": r}),
        ):
            with pytest.raises(FlocloudError) as refused:
                await conn.request(op, **fields)
            assert refused.value.code == "forbidden", op
        await conn.close()


async def test_anti_entropy_requests_are_checked(devnet: Network) -> None:
    """On an authenticated link, malformed anti-entropy requests get bad-format; a
    well-formed one gets the node's fingerprints of the ranges that differ."""
    me, them = devnet.nodes[1], devnet.nodes[0]
    async with aiohttp.ClientSession() as s:
        conn = await authenticated_link(s, me, them, "22" * 32)
        bad = [
            ("peer.digest", {"ranges": "x"}),
            ("peer.digest", {"ranges": [["", [1, 2]]]}),
            ("peer.ids", {"receiver": 5, "ranges": []}),
            ("peer.ids", {"receiver": me.id, "ranges": [], "max_time": 2**63 - 1}),
            ("peer.get", {"keys": "x"}),
            ("peer.get", {"keys": [[me.id]]}),  # a pair is [receiver, id]
            ("peer.get", {}),  # keys, or an older node's ids
            ("peer.get", {"ids": "x"}),
            ("peer.push", {"records": {}}),
        ]
        for op, args in bad:
            with pytest.raises(FlocloudError) as err:
                await conn.request(op, **args)
            assert err.value.code == "bad-format", (op, args)
        reply = await conn.request("peer.digest", ranges=[["", [0, 0, 0]], ["f", [0, 0, 0]]])
        assert all(r["prefix"] in ("", "f") and r["fp"][0] > 0 for r in reply["ranges"])
        assert reply["ranges"] and reply["ranges"][0]["prefix"] == ""
        assert (await conn.request("peer.get", keys=[[me.id, "0" * 64]]))["records"] == []
        await conn.close()


async def ids_after(node: NodeProcess, receiver: str, cursor: str) -> list[str]:
    """Message ids a node returns after ``cursor``, in its order."""
    async with aiohttp.ClientSession() as s:
        conn = NodeConnection(node.ws_url, s, timeout=5)
        await conn.connect()
        page = await conn.request(
            "query", filter={"receiver": receiver, "after": cursor, "limit": 1000}
        )
        await conn.close()
        return [m["id"] for m in page["messages"]]


async def test_cursor_stays_exact_across_failover(devnet: Network) -> None:
    """A cursor taken from the home node gives exactly the later writes, each once, from
    the stand-ins after a kill -9 (following the cursors), and from every replica once the
    home is back."""
    await devnet.wait_quorum()
    erin = user("erin")
    client = await Client.from_chain(
        erin, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=2
    )
    home = next(n for n in devnet.nodes if n.id == client.network.route(erin.address)[0].id)
    try:
        first = [await client.send(erin.address, {"i": i}) for i in range(10)]
        got, cursor = await client.fetch(erin.address)
        assert [m.id for m in got] == first and cursor is not None
        later = [await client.send(erin.address, {"i": i}) for i in range(10, 15)]
        home.kill()
        later += [await client.send(erin.address, {"i": i}) for i in range(15, 20)]
        # W=2 of N=3: a write the home acked may still be on its way to the replica that
        # answers; following the cursors brings each later write, never one twice
        seen: list[str] = []
        token: str | None = cursor
        deadline = asyncio.get_running_loop().time() + 30
        while sorted(set(seen)) != sorted(later):
            assert asyncio.get_running_loop().time() < deadline, (len(seen), len(later))
            after, token = await client.fetch(erin.address, after=token)
            seen += [m.id for m in after]
            await asyncio.sleep(0.2)
        assert sorted(seen) == sorted(later)  # no miss, no repeat
    finally:
        await client.aclose()
    home.start()
    await home.wait_healthy(30)
    await devnet.wait_converged([erin.address], timeout=30)
    for node in devnet.replicas(erin.address):
        got_there = await ids_after(node, erin.address, cursor)
        assert sorted(got_there) == sorted(later) and len(got_there) == len(later), node.name


async def test_a_node_older_than_schema_13_gets_writes_by_id(devnet: Network) -> None:
    """During a rolling upgrade an older node names writes by id alone (``peer.get
    {ids}``). The node places the ids it served the asker in ``peer.sync`` pages, or of a
    key the asker compared by ``peer.ids``, and answers them; an id it does not hold is
    left out, and a ``peer.get`` naming neither keys nor ids is bad-format."""
    await devnet.wait_quorum()
    erin = user("erin-old-peer")
    client = await Client.from_chain(
        erin, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=2
    )
    home_id = client.network.route(erin.address)[0].id
    home = next(n for n in devnet.nodes if n.id == home_id)
    pager, comparer = [n for n in devnet.nodes if n is not home]
    # the pager misses these writes: the home's pages list them to it (a page leaves out
    # the writes the asker acknowledged; test_catch_up_leaves_out_what_a_peer_acknowledged)
    async with aiohttp.ClientSession() as s:
        conn = await authenticated_link(s, pager, home, "66" * 32)
        top = (await conn.request("peer.sync", from_top=True))["next"]
        await conn.close()
    pager.stop()
    try:
        written = []
        for i in range(5):
            env = client.sign(erin.address, {"i": i})
            await client.put(env)
            written.append(env.id)
        await client.aclose()
        # the home's sends to the pager have failed by now (each waits a probe backoff):
        # one that took a failed send for an acknowledgement would leave them out below
        await asyncio.sleep(2 * PROBE_BACKOFF + 1.0)
        await _page_as_an_old_node(home, pager, comparer, erin.address, written, top)
    finally:
        pager.start()
        await pager.wait_healthy(30)


async def _page_as_an_old_node(
    home: NodeProcess,
    pager: NodeProcess,
    comparer: NodeProcess,
    key: str,
    written: list[str],
    top: int,
) -> None:
    async with aiohttp.ClientSession() as s:
        conn = await authenticated_link(s, pager, home, "44" * 32)
        page = await conn.request("peer.sync", after=top, limit=100)
        assert {r["id"] for r in page["records"]} >= set(written)
        got = await conn.request("peer.get", ids=[*written[-3:], "0" * 64])
        assert sorted(r["id"] for r in got["records"]) == sorted(written[-3:])
        assert all(r["receiver"] == key for r in got["records"])
        with pytest.raises(FlocloudError) as err:
            await conn.request("peer.get")
        assert err.value.code == "bad-format"
        await conn.close()
        # (the comparer's own catch-up pages the home too: placing by a compared key
        # alone is tests/node/test_compat.py's)
        conn = await authenticated_link(s, comparer, home, "55" * 32)
        await conn.request("peer.ids", receiver=key, ranges=[["", [0, 0, 0]]])
        got = await conn.request("peer.get", ids=written[:2])
        assert sorted(r["id"] for r in got["records"]) == sorted(written[:2])
        await conn.close()


async def test_catch_up_leaves_out_what_a_peer_acknowledged(devnet: Network) -> None:
    """Writes its replicas answered as stored are not listed to them again by the home's
    catch-up pages (``replication/catchup.Delivered``): its replicas' pulls find them left
    out, and every replica still holds every write."""
    await devnet.wait_quorum()
    fay = user("fay-delivered")
    client = await Client.from_chain(
        fay, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=2
    )
    home = next(n for n in devnet.nodes if n.id == client.network.route(fay.address)[0].id)

    async def stats() -> dict[str, int]:
        async with aiohttp.ClientSession() as s, s.get(home.url + "/api/stats") as r:
            doc = await r.json()
        return dict(doc["catch_up"])

    before = (await stats())["rows_left_out_delivered"]
    written = []
    try:
        for i in range(20):
            env = client.sign(fay.address, {"i": i})
            assert (await client.put(env))["replicas"] >= 2
            written.append(env.id)
    finally:
        await client.aclose()

    async def left_out() -> bool:  # both replicas pulled past them (idle pulls: up to 8 s)
        return (await stats())["rows_left_out_delivered"] >= before + len(written)

    await devnet.wait_until(left_out, timeout=30, what="the replicas' pulls to leave them out")
    for n in devnet.nodes:
        assert set(written) <= await devnet.ids_on(n, fay.address), n.name
