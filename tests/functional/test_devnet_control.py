"""Driving a devnet from another terminal: where, stop/kill/start, logs, a partial fetch
that says so, add-node/remove-node through the registry, down twice, a devnet that is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flocloud.devnet import Network
from net_helpers import running_network

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_network(
        tmp_path_factory.mktemp("ctlnet") / ".devnet",
        nodes=3,
        block_interval=0.5,
        backup_depth=1,
        write_quorum=1,
    )


def run(
    devnet: Any, home: Path, *args: str, code: int | None = 0
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "flocloud.cli", *args],
        capture_output=True,
        text=True,
        cwd=devnet.base.parent,
        env={**os.environ, "FLOCLOUD_CONFIG_DIR": str(home)},
        timeout=60,
    )
    if code is not None:
        assert out.returncode == code, (out.stdout, out.stderr)
    return out


def test_where_stand_in_and_node_control(devnet: Network, tmp_path: Path) -> None:
    home = tmp_path / "home"
    me = json.loads(run(devnet, home, "id", "new", "--save", "--testnet", "--json").stdout)["floID"]
    where = json.loads(run(devnet, home, "where", me, "-o", "json").stdout)
    assert [r["role"] for r in where] == ["home", "replica", "stand-in"]
    assert all(r["up"] for r in where) and [r["serving"] for r in where] == [True, True, False]
    by_id = {n.id: n.index for n in devnet.nodes}
    home_i, replica_i, stand_in_i = (by_id[r["id"]] for r in where)
    for n in range(3):
        sent = json.loads(run(devnet, home, "send", me, json.dumps({"n": n}), "-o", "json").stdout)
        assert sent["replicas"] >= 1 and sent["dots"] and len(sent["id"]) == 64
    cut = run(devnet, home, "fetch", "--limit", "2", "-o", "json")
    page = json.loads(cut.stdout)
    assert len(page["messages"]) == 2 and page["more"] and not page["stand_in"]
    assert f"--after {page['cursor']}" in cut.stderr  # cut by --limit: it says so
    rest = json.loads(run(devnet, home, "fetch", "--after", page["cursor"], "-o", "json").stdout)
    assert [m["payload"] for m in rest["messages"]] == [{"n": 2}] and not rest["more"]

    # reading someone's public messages needs no key file
    nokey = run(devnet, tmp_path / "nokey", "fetch", me, "-o", "ndjson")
    assert len(nokey.stdout.splitlines()) == 3

    base = ["--dir", str(devnet.base)]
    run(devnet, home, "devnet", "kill", str(home_i), *base)
    run(devnet, home, "devnet", "stop", str(replica_i), *base)
    where = json.loads(run(devnet, home, "where", me, "-o", "json").stdout)
    assert [(r["up"], r["serving"]) for r in where] == [
        (False, False),
        (False, False),
        (True, True),
    ]
    status = run(devnet, home, "devnet", "status", *base, "--id", me, "-o", "json", code=7)
    states = {p["index"]: p["running"] for p in json.loads(status.stdout)["nodes"]}
    assert not states[home_i] and not states[replica_i] and states[stand_in_i]
    assert [r["up"] for r in json.loads(status.stdout)["where"]] == [False, False, True]
    partial = run(devnet, home, "fetch", "-o", "json")
    assert json.loads(partial.stdout)["stand_in"] and "stand-in" in partial.stderr
    assert "trying next" in partial.stderr

    run(devnet, home, "devnet", "start", str(home_i), *base)
    run(devnet, home, "devnet", "restart", str(replica_i), *base)
    run(devnet, home, "devnet", "status", *base)
    logs = run(devnet, home, "devnet", "logs", str(home_i), "-n", "50", *base).stdout
    assert "listed in registry" in logs

    # watch reconnects by itself when its node goes away, says so, and misses nothing
    run(devnet, home, "devnet", "status", *base)
    watch = subprocess.Popen(
        [sys.executable, "-m", "flocloud.cli", "watch", "-o", "ndjson"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=devnet.base.parent,
        env={**os.environ, "FLOCLOUD_CONFIG_DIR": str(home)},
    )
    try:
        assert watch.stdout is not None and watch.stderr is not None
        seen = [json.loads(watch.stdout.readline())["payload"] for _ in range(3)]
        assert seen == [{"n": 0}, {"n": 1}, {"n": 2}]
        run(devnet, home, "devnet", "kill", str(home_i), *base)
        assert "disconnected" in watch.stderr.readline()
        run(devnet, home, "send", me, '{"n": 3}')
        assert json.loads(watch.stdout.readline())["payload"] == {"n": 3}
    finally:
        watch.terminate()
        watch.communicate(timeout=10)
    run(devnet, home, "devnet", "start", str(home_i), *base)


def test_add_and_remove_a_node_through_the_registry(devnet: Network, tmp_path: Path) -> None:
    home = tmp_path / "home"
    base = ["--dir", str(devnet.base)]
    added = run(devnet, home, "devnet", "add-node", *base).stdout
    index = int(added.split()[1])
    new_id = added.split()[2]
    state = json.loads((devnet.base / "devnet.json").read_text())
    assert any(n["id"] == new_id for n in state["nodes"])
    run(devnet, home, "devnet", "remove-node", str(index), *base)
    st = json.loads(run(devnet, home, "devnet", "status", *base, "-o", "json").stdout)
    assert new_id not in {p["id"] for p in st["nodes"]}  # removed: not shown
    assert st["healthy"]


def _devnet_up(base: Path, *extra: str) -> subprocess.Popen[str]:
    args = f"devnet up --nodes 1 --block-interval 0.5 --dir {base}".split() + list(extra)
    up = subprocess.Popen(
        [sys.executable, "-m", "flocloud.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            state = json.loads((base / "devnet.json").read_text())
            if state["launcher_pid"] == up.pid:
                return up
        except (OSError, ValueError, KeyError):
            pass
        assert up.poll() is None, up.communicate()
        time.sleep(0.2)
    raise AssertionError("devnet up did not start")


def test_watch_follows_a_restarted_devnet_then_down_twice(tmp_path: Path) -> None:
    """`watch` across `devnet down` + `devnet up --base-port` (new ports): it says it is
    disconnected, reads the registry again from devnet.json and gets the new message. Then
    `down` twice, a stopped devnet, and a mainnet key on it blamed on the key."""
    from flocloud.devnet.network import free_port_run

    base = tmp_path / ".devnet"
    home = tmp_path / "home"
    net = type("N", (), {"base": base})()
    up = _devnet_up(base)
    me = json.loads(run(net, home, "id", "new", "--save", "--testnet", "-o", "json").stdout)
    run(net, home, "send", me["floID"], '"before"')
    watch = subprocess.Popen(
        [sys.executable, "-m", "flocloud.cli", "watch", "-o", "ndjson"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "FLOCLOUD_CONFIG_DIR": str(home)},
    )
    try:
        assert watch.stdout is not None and watch.stderr is not None
        assert json.loads(watch.stdout.readline())["payload"] == "before"
        assert "stopped" in run(net, home, "devnet", "down", "--dir", str(base)).stdout
        _, err = up.communicate(timeout=30)
        assert "dev chain up (pid" in err and "node 0 up (pid" in err  # progress as it starts
        assert "disconnected" in watch.stderr.readline()
        port = free_port_run(2)  # the chain and node 0
        up = _devnet_up(base, "--base-port", str(port))
        state = json.loads((base / "devnet.json").read_text())
        assert state["chain"]["url"].endswith(f":{port}")
        assert state["nodes"][0]["url"].endswith(f":{port + 1}")
        run(net, home, "send", me["floID"], '"after"')
        assert json.loads(watch.stdout.readline())["payload"] == "after"
    finally:
        watch.terminate()
        _, watch_err = watch.communicate(timeout=10)
    assert "reading the registry again" in watch_err
    assert "stopped" in run(net, home, "devnet", "down", "--dir", str(base)).stdout
    up.communicate(timeout=30)
    again = run(net, home, "devnet", "down", "--dir", str(base)).stdout
    assert "not running: nothing to stop" in again
    client = state["client"]["floID"]
    down = run(net, home, "fetch", client, code=7)
    assert "is not running; start it with ./scripts/devnet-up" in down.stderr
    mainnet_wif = "RA9Vx5thKESfP8vfw3LKuQGgQxVRA9FdsLHVW3T7LMRZQwemmpRv"
    wrong = run(net, home, "send", client, "1", "--wif", mainnet_wif, code=3)
    assert "mainnet key" in wrong.stderr and "wrong-network" in wrong.stderr


def test_an_unlisted_node_says_so_and_takes_no_writes(devnet: Network) -> None:
    """A node the registry does not list logs it, answers /healthz 503, refuses writes."""
    import asyncio

    import aiohttp

    from flocloud.client.connection import NodeConnection
    from flocloud.devnet.network import free_port, node_process, write_node_config
    from flocloud.protocol.envelope import build_envelope

    proc = node_process(devnet.base, 90, free_port())
    write_node_config(devnet.base, proc, devnet.chain.url, devnet.registry_key.address, 0.5)
    proc.start()

    async def check() -> None:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while "NOT listed" not in proc.log_tail(50):
                assert proc.running and time.monotonic() < deadline, proc.log_tail()
                await asyncio.sleep(0.1)
            async with session.get(proc.url + "/healthz") as resp:
                assert resp.status == 503 and (await resp.json())["listed"] is False
            conn = NodeConnection(proc.ws_url, session, timeout=5)
            await conn.connect()
            env = build_envelope(
                devnet.client_key,
                receiver=devnet.client_key.address,
                payload=1,
                time_ms=int(time.time() * 1000),
            )
            with pytest.raises(Exception) as refused:
                await conn.request("put", envelope=env.to_wire())
            assert getattr(refused.value, "code", None) == "not-listed"
            await conn.close()

    try:
        asyncio.run(check())
    finally:
        proc.stop()
