"""Crash safety and shutdown of a real node process; `node init`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp

from flocloud.client.connection import NodeConnection
from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.fingerprint import Fingerprint
from node_helpers import ALICE, env, key, start_node


async def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """kill -9 during a stream of writes: every acked write is there after restart, none half-written."""
    node = start_node(tmp_path, wait=False)
    await node.wait_healthy(30)
    acked: list[str] = []
    enough = asyncio.Event()
    receiver = key("crash-inbox").address
    async with aiohttp.ClientSession() as session:
        conn = NodeConnection(node.ws_url, session, timeout=5)
        await conn.connect()

        async def writer(w: int) -> None:
            for i in range(10_000):
                e = env(key(f"crash-writer-{w}"), receiver, {"w": w, "i": i, "pad": "z" * 200})
                try:
                    await conn.request("put", envelope=e.to_wire())
                except FlocloudError:
                    return
                acked.append(e.id)
                if len(acked) >= 300:
                    enough.set()

        tasks = [asyncio.create_task(writer(w)) for w in range(8)]
        await asyncio.wait_for(enough.wait(), 60)
        node.kill()
        await asyncio.gather(*tasks)
        await conn.close()
    assert len(acked) >= 300
    db = sqlite3.connect(tmp_path / "data" / "store.sqlite3")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the per-key fingerprint was committed with the writes: it matches them after a kill
    rows = db.execute("SELECT id, dots FROM messages WHERE receiver=?", (receiver,)).fetchall()
    writes = [(i, [tuple(d) for d in json.loads(dots)]) for i, dots in rows]
    digest = db.execute("SELECT n, s1, s2 FROM key_digest WHERE receiver=?", (receiver,)).fetchone()
    assert list(digest) == Fingerprint.of_writes(writes).to_wire()
    db.close()
    node.start()
    await node.wait_healthy(30)
    try:
        async with aiohttp.ClientSession() as session:
            conn = NodeConnection(node.ws_url, session, timeout=10)
            await conn.connect()
            stored: set[str] = set()
            after = ""
            while True:
                page = await conn.request(
                    "query", filter={"receiver": receiver, "after": after, "limit": 1000}
                )
                for m in page["messages"]:
                    assert m["id"] not in stored
                    stored.add(m["id"])
                    body = json.loads(m["envelope"]["body"])
                    assert body["payload"]["pad"] == "z" * 200  # whole, not half-written
                if not page["more"]:
                    break
                after = page["next"]
            await conn.close()
    finally:
        node.stop()
    assert set(acked) <= stored


async def test_sigterm_is_graceful(tmp_path: Path) -> None:
    """SIGTERM: open websockets are closed with 1001 and the process exits 0."""
    node = start_node(tmp_path, wait=False)
    await node.wait_healthy(30)
    async with aiohttp.ClientSession() as session, session.ws_connect(node.ws_url) as ws:
        await ws.send_json(
            {"id": 1, "op": "put", "envelope": env(ALICE, key("x").address, 1).to_wire()}
        )
        assert (await ws.receive_json())["ok"] is True
        code = await asyncio.to_thread(node.stop)
        msg = await ws.receive()
        assert msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
    assert code == 0
    assert "stopped" in node.log_tail()


def test_node_init(tmp_path: Path) -> None:
    """node init writes a 0600 key and a config, and prints the registry entry."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flocloud.cli",
            "node",
            "init",
            str(tmp_path / "n"),
            "--port",
            "7555",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    assert oct((tmp_path / "n" / "node.key").stat().st_mode & 0o777) == "0o600"
    entry = info["registryEntry"]["SuperNodeStorage"]["newNodes"][info["floID"]]
    # the bare URI the existing cloud reads, flocloud's endpoint in the extra key
    assert entry == {
        "pubKey": info["pubKey"].upper(),
        "uri": "127.0.0.1:7555",
        "flocloud": "ws://127.0.0.1:7555/ws",
    }
    assert "--add-node " + info["floID"] in info["publishCommand"]
    again = subprocess.run(
        [sys.executable, "-m", "flocloud.cli", "node", "init", str(tmp_path / "n")],
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "already" in again.stderr
