"""The SDK against a real local network: chain + 3 supernodes as processes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flocloud import Client, SyncClient
from flocloud.client import ObjectConflict, ObjectDiff
from flocloud.devnet import Network
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from net_helpers import running_network

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(tmp_path_factory.mktemp("devnet"), nodes=3, block_interval=0.5)


def user(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"sdk-" + label.encode()).digest(), REGTEST)


@pytest.fixture
async def alice(devnet: Network) -> AsyncIterator[Client]:
    client = await Client.from_chain(
        user("alice"),
        explorer=devnet.chain.url,
        registry=devnet.registry_key.address,
        request_timeout=3,
    )
    yield client
    await client.aclose()


@pytest.fixture
async def admin(devnet: Network) -> AsyncIterator[Client]:
    client = await Client.from_chain(
        devnet.client_key,
        explorer=devnet.chain.url,
        registry=devnet.registry_key.address,
        request_timeout=3,
    )
    yield client
    await client.aclose()


async def test_registry_and_routing(alice: Client, devnet: Network) -> None:
    """The client learns all supernodes from the chain and routes by placement."""
    assert set(alice.network.nodes) == {n.id for n in devnet.nodes}
    assert alice.network.replication_factor == 3
    route = alice.network.route(alice.id)
    # the holders (N replicas + N stand-in candidates): every node of this small network
    assert [n.id for n in route] == alice.network.placement.preference_list(alice.id, 6)
    assert len(route) == min(6, len(devnet.nodes))


async def test_send_fetch_cursor_subscribe(alice: Client, admin: Client) -> None:
    """send, fetch with a cursor (no misses, no repeats), and subscribe (stored then live)."""
    first = [await admin.send(alice.id, {"n": i}, app="chat") for i in range(5)]
    got, cursor = await alice.fetch(app="chat")
    assert [m.id for m in got][-5:] == first and all(m.sender == admin.id for m in got[-5:])
    more = [await admin.send(alice.id, {"n": i}, app="chat") for i in range(5, 8)]
    got2, cursor2 = await alice.fetch(app="chat", after=cursor)
    assert [m.id for m in got2] == more and cursor2 is not None and cursor2 > (cursor or 0)
    stream = alice.subscribe(app="chat")
    seen = [await asyncio.wait_for(stream.__anext__(), 10) for _ in range(8)]
    assert {m.id for m in seen} >= set(first + more)
    live = await admin.send(alice.id, {"live": True}, app="chat")
    nxt = await asyncio.wait_for(stream.__anext__(), 10)
    while nxt.id != live:
        nxt = await asyncio.wait_for(stream.__anext__(), 10)
    assert nxt.payload == {"live": True}
    await stream.aclose()


async def test_objects_and_permissions(admin: Client, alice: Client) -> None:
    """The app admin writes objects (merge, and compare-and-set on a strict one); others
    may read but not write; changes are typed; a lost CAS says what the object is now."""
    v1 = await admin.reset("demo", "board", {"title": "t", "items": []})
    v2 = await admin.patch("demo", "board", {"title": "T"})
    await admin.append("demo", "board", "milk", path=["items"])
    state = await alice.get("demo", "board")
    assert state.value == {"title": "T", "items": ["milk"]} and state.mode == "merge"
    diff = await alice.changes("demo", "board", v1, mode="diff")
    assert isinstance(diff, ObjectDiff) and diff.apply({"title": "t", "items": []}) == state.value
    history = await alice.history("demo", "board")
    assert [c.version for c in history][:2] == [v1, v2]
    assert {c.sender for c in history} == {admin.id}
    s1 = await admin.reset("demo", "strict/board", {"title": "t"})
    s2 = await admin.patch("demo", "strict/board", {"title": "T"}, expected_version=s1)
    with pytest.raises(ObjectConflict) as conflict:
        await admin.patch("demo", "strict/board", {"title": "X"}, expected_version=s1)
    assert conflict.value.code == "version-conflict"
    assert conflict.value.current is not None and conflict.value.current.version == s2
    assert conflict.value.current.value == {"title": "T"}
    with pytest.raises(FlocloudError) as denied:
        await alice.reset("demo", "board", {})
    assert denied.value.code == "forbidden"


async def test_encryption_between_two_ids(alice: Client, admin: Client, devnet: Network) -> None:
    """encrypt=True needs only the receiver's ID; only the receiver reads the payload."""
    await alice.send(alice.id, {"hello": "me"})  # alice has signed something: her key is findable
    msg_id = await admin.send(alice.id, {"secret": 42}, encrypt=True)
    (mine,), _ = await alice.fetch(ids=[msg_id])
    # it was encrypted, and alice decrypted it
    assert (mine.payload, mine.encrypted, mine.decrypted) == ({"secret": 42}, True, True)
    (theirs,), _ = await admin.fetch(alice.id, ids=[msg_id])
    assert theirs.encrypted and not theirs.decrypted
    assert theirs.payload["enc"] == "flocloud-ecies-v1"
    kept = await alice.fetch_page(ids=[msg_id], decrypt=False)  # export's default
    assert (kept.messages[0].encrypted, kept.messages[0].decrypted) == (True, False)
    assert kept.messages[0].payload["enc"] == "flocloud-ecies-v1"


def test_sync_client(devnet: Network) -> None:
    """SyncClient is the same client, blocking."""
    bob = user("bob")
    with SyncClient.from_chain(
        bob, explorer=devnet.chain.url, registry=devnet.registry_key.address
    ) as c:
        mid = c.send(c.id, {"sync": True})
        msgs, _ = c.fetch(ids=[mid])
        assert [m.payload for m in msgs] == [{"sync": True}]


async def test_failover_when_closest_node_is_killed(devnet: Network) -> None:
    """kill -9 the closest supernode: the client fails over on its own and keeps writing."""
    carol = user("carol")
    client = await Client.from_chain(
        carol, explorer=devnet.chain.url, registry=devnet.registry_key.address, request_timeout=2
    )
    home = client.network.route(carol.address)[0].id
    victim = next(n for n in devnet.nodes if n.id == home)
    try:
        await client.send(carol.address, {"before": True})
        victim.kill()
        # how long this takes is measured by bench/replication.py (failover gap)
        after = await client.send(carol.address, {"after": True})
        got, _ = await client.fetch(ids=[after])
        assert [m.payload for m in got] == [{"after": True}]
        assert client.network.route(carol.address)[0].id != home  # the dead node is skipped
    finally:
        await client.aclose()
        await devnet.restart(victim.index)


def test_devnet_cli_up_status_down(tmp_path: Path) -> None:
    """`flocloud devnet up` starts a network; `status` sees it; Ctrl-C stops it cleanly."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flocloud.cli",
            "devnet",
            "up",
            "--nodes",
            "2",
            "--dir",
            str(tmp_path / "net"),
            "--block-interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            status = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "flocloud.cli",
                    "devnet",
                    "status",
                    "--dir",
                    str(tmp_path / "net"),
                    "--json",
                ],
                capture_output=True,
                text=True,
            )
            if status.returncode == 0:
                break
            time.sleep(0.5)
        assert status is not None and status.returncode == 0, status.stderr if status else ""
        state = json.loads(status.stdout)
        assert state["healthy"] and len(state["nodes"]) == 2
        pids = [n["pid"] for n in state["nodes"]] + [state["chain"]["pid"]]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped cleanly" in err
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
        )
    assert "dashboard:" in out and "sample client" in out
