"""``peer.replicate.batch`` on real processes (3 supernodes, N=3, W=2): each record of a batch
answered on its own, a bad one refused alone with its code, an over-limit batch refused
as a whole, and client writes reaching the replicas in batch frames."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator

import aiohttp
import pytest

from flocloud import Client
from flocloud.devnet import Network
from flocloud.devnet.network import NodeProcess
from flocloud.node.replicate import BATCH_OP, MAX_BATCH_BYTES, MAX_BATCH_RECORDS
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from net_helpers import authenticated_link, running_network
from node_helpers import now_ms

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(
        tmp_path_factory.mktemp("batch"), nodes=3, block_interval=0.5, backup_depth=2,
        write_quorum=2,
    )  # fmt: skip


def user(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"batch-" + label.encode()).digest(), REGTEST)


def sign(sender: PrivateKey, payload: object) -> dict[str, str]:
    env = build_envelope(sender, receiver=sender.address, payload=payload, time_ms=now_ms())
    return env.to_wire()


def msg_id(wire: dict[str, str]) -> str:
    from flocloud.protocol.envelope import message_id

    return message_id(wire["body"].encode())


async def requests_of(node: NodeProcess, op: str) -> int:
    """``flocloud_requests_total{op=...}`` from the node's /metrics."""
    async with aiohttp.ClientSession() as s, s.get(node.url + "/metrics") as r:
        text = await r.text()
    m = re.search(r'^flocloud_requests_total\{op="' + re.escape(op) + r'"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


async def test_each_record_is_answered_on_its_own(devnet: Network) -> None:
    """Good records are stored; a forged signature, another store's dots and malformed
    records are refused each with its own code; sent again, the good ones are duplicates."""
    await devnet.wait_quorum()
    me, them = devnet.nodes[1], devnet.nodes[0]
    alice = user("alice")
    good = [sign(alice, {"i": i}) for i in range(3)]
    forged = {**sign(alice, {"forged": True}), "sign": good[0]["sign"]}
    records: list[object] = [
        {"envelope": good[0], "dots": [["test", 1]]},  # the link's own store ("test")
        {"envelope": forged, "dots": []},
        {"envelope": good[1], "dots": [["anotherstore", 7]]},
        5,
        {"envelope": {"body": 1}, "dots": []},
        {"envelope": good[2], "dots": []},
    ]
    async with aiohttp.ClientSession() as s:
        conn = await authenticated_link(s, me, them, "44" * 32)
        reply = await conn.request(BATCH_OP, records=records)
        results = reply["results"]
        assert [r.get("error", {}).get("code") for r in results] == [
            None, "invalid-signature", "forbidden", "bad-format", "bad-format", None,
        ]  # fmt: skip
        assert results[0] == results[5] == {"duplicate": False}
        held = await devnet.ids_on(them, alice.address)
        assert {msg_id(good[0]), msg_id(good[2])} <= held
        assert not {msg_id(good[1]), msg_id(forged)} & held
        again = await conn.request(BATCH_OP, records=[records[0], records[5]])
        assert again["results"] == [{"duplicate": True}, {"duplicate": True}]
        # the single op still works beside it (older senders)
        single = sign(alice, {"single": True})
        assert (await conn.request("peer.replicate", envelope=single, dots=[]))[
            "duplicate"
        ] is False
        assert msg_id(single) in await devnet.ids_on(them, alice.address)
        await conn.close()


async def test_an_over_limit_batch_is_refused_whole(devnet: Network) -> None:
    me, them = devnet.nodes[2], devnet.nodes[0]
    bob = user("bob")
    wire = sign(bob, {"kept": False})
    record = {"envelope": wire, "dots": []}
    async with aiohttp.ClientSession() as s:
        conn = await authenticated_link(s, me, them, "55" * 32)
        for records in (
            [record] * (MAX_BATCH_RECORDS + 1),
            [record, {"envelope": {"pad": "x" * MAX_BATCH_BYTES}, "dots": []}],
        ):
            with pytest.raises(FlocloudError) as refused:
                await conn.request(BATCH_OP, records=records)
            assert refused.value.code == "too-large"
        assert msg_id(wire) not in await devnet.ids_on(them, bob.address)
        # at the limit it is taken: one store, the rest duplicates
        reply = await conn.request(BATCH_OP, records=[record] * MAX_BATCH_RECORDS)
        assert len(reply["results"]) == MAX_BATCH_RECORDS
        assert sum(r == {"duplicate": False} for r in reply["results"]) == 1
        assert all("error" not in r for r in reply["results"])
        await conn.close()


async def test_client_writes_reach_the_replicas_in_batch_frames(devnet: Network) -> None:
    """Concurrent client writes: every ack means W=2 commits, and the replicas got them in
    fewer batch frames than writes, with no single peer.replicate frame."""
    await devnet.wait_quorum()
    carol = user("carol")
    client = await Client.from_chain(
        carol, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=5
    )
    home = next(n for n in devnet.nodes if n.id == client.network.route(carol.address)[0].id)
    others = [n for n in devnet.nodes if n is not home]
    before = [
        (await requests_of(n, BATCH_OP), await requests_of(n, "peer.replicate")) for n in others
    ]
    writes = 300
    try:
        envs = [client.sign(carol.address, {"i": i}) for i in range(writes)]
        acks = await asyncio.gather(*(client.put(e) for e in envs))
    finally:
        await client.aclose()
    assert all(a["replicas"] >= 2 for a in acks)
    frames = 0
    for n, (batches, singles) in zip(others, before, strict=True):
        frames += await requests_of(n, BATCH_OP) - batches
        assert await requests_of(n, "peer.replicate") == singles, n.name
    assert 0 < frames < writes  # each write went to at least one of them, batched
    await devnet.wait_converged([carol.address], timeout=30)
    for n in devnet.nodes:
        assert {e.id for e in envs} <= await devnet.ids_on(n, carol.address), n.name


async def replication_event(node: NodeProcess, event: str, required: bool = False) -> int:
    """``flocloud_replication_total{event=...}`` from the node's /metrics (0: none yet;
    ``required``: the node must export it)."""
    async with aiohttp.ClientSession() as s, s.get(node.url + "/metrics") as r:
        text = await r.text()
    pattern = r'^flocloud_replication_total\{event="' + re.escape(event) + r'"\} (\S+)$'
    m = re.search(pattern, text, re.M)
    assert m or not required, f"no {event} in /metrics"
    return int(float(m.group(1))) if m else 0


async def heartbeats_sent(node: NodeProcess) -> int:
    return await replication_event(node, "heartbeats_sent", required=True)


async def test_neighbours_that_answer_other_traffic_are_not_pinged(devnet: Network) -> None:
    """A heartbeat round pings a neighbour only when it is down, suspect, or idle for a
    few rounds (``replication/heartbeat.PingSchedule``): here anti-entropy (every second
    on a devnet) and the writes' replication answer on the links, so a node of three
    sends almost no pings in eight rounds: pinging each idle neighbour every fourth round
    would send about 4, pinging every neighbour every round 16. Both peers stay up."""
    await devnet.wait_quorum()
    node = devnet.nodes[0]
    dave = user("dave")
    client = await Client.from_chain(
        dave, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=5
    )
    try:  # a few writes, so the links carry replication too
        for i in range(3):
            await client.send(dave.address, {"i": i})
    finally:
        await client.aclose()
    before = await heartbeats_sent(node)
    await asyncio.sleep(8.0)  # eight heartbeat rounds (heartbeat_seconds = 1)
    sent = await heartbeats_sent(node) - before
    assert sent <= 1, f"{sent} pings in 8 rounds to 2 neighbours that answer traffic"
    async with aiohttp.ClientSession() as s, s.get(node.url + "/api/network") as r:
        network = await r.json()
    assert all(n["status"] == "up" for n in network["nodes"] if n["id"] != node.id)


async def test_equal_replicas_are_compared_less_often_until_a_write(devnet: Network) -> None:
    """Anti-entropy compares a neighbour found equal again only after rounds skipped that
    double (1, 3, 7, ...: ``replication/pace.py``), until a write of a key the two share
    moves the root. On an idle network of three (a round every second) a node compares
    with its 2 neighbours a few times in ten rounds, not 20 times; a write makes both due
    at once, and the write is everywhere."""
    await devnet.wait_quorum()
    node = devnet.nodes[0]
    erin = user("erin")
    client = await Client.from_chain(
        erin, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=5
    )
    try:
        await client.send(erin.address, {"first": True})
        await devnet.wait_converged([erin.address], timeout=30)
        await asyncio.sleep(6.0)  # settled (2 s), then found equal: backing off
        before = await replication_event(node, "ae_ranges")
        paced_before = await replication_event(node, "ae_paced")
        await asyncio.sleep(10.0)  # ten rounds
        compared = await replication_event(node, "ae_ranges") - before
        paced = await replication_event(node, "ae_paced") - paced_before
        assert compared <= 8, f"{compared} comparisons in 10 rounds with 2 equal neighbours"
        assert paced >= 10, f"only {paced} comparisons left out in 10 rounds"
        before = await replication_event(node, "ae_rounds")  # one per comparison
        sent = await client.send(erin.address, {"second": True})
        await asyncio.sleep(2.5)  # the roots moved: both compared in the next rounds
        assert await replication_event(node, "ae_rounds") - before >= 2
    finally:
        await client.aclose()
    await devnet.wait_converged([erin.address], timeout=30)
    for n in devnet.nodes:
        assert sent in await devnet.ids_on(n, erin.address), n.name
