"""TLS served directly, JSON logs, and the per-connection rate limit, on real node processes."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp

from flocloud.devnet.network import NodeProcess, free_port, standalone_node
from net_helpers import self_signed


async def test_tls_and_json_logs(tmp_path: Path) -> None:
    """With [tls] the node serves HTTPS and WSS itself; with [log] format=json each line is JSON."""
    cert, key = self_signed(tmp_path)
    node = standalone_node(
        tmp_path / "n", settings=f'[tls]\ncert = "{cert}"\nkey = "{key}"\n[log]\nformat = "json"\n'
    )
    node.health_url = node.health_url.replace("http://", "https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    node.start()
    try:
        # wait_healthy speaks plain HTTP; poll over TLS here instead
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                try:
                    async with s.get(f"https://127.0.0.1:{node.port}/healthz", ssl=ctx) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            async with s.get(f"https://127.0.0.1:{node.port}/healthz", ssl=ctx) as r:
                assert (await r.json())["node_id"] == node.id
            async with s.ws_connect(f"wss://127.0.0.1:{node.port}/ws", ssl=ctx) as ws:
                await ws.send_json({"id": 1, "op": "ping"})
                assert (await ws.receive_json())["ok"] is True
            try:
                async with s.get(f"http://127.0.0.1:{node.port}/healthz") as r:
                    plain_ok = r.status == 200
            except aiohttp.ClientError:
                plain_ok = False
            assert not plain_ok
    finally:
        node.stop()
    lines = [line for line in node.log_path.read_text().splitlines() if line.startswith("{")]
    assert lines and all("level" in json.loads(line) for line in lines)
    assert any("listening on https://" in json.loads(line)["msg"] for line in lines)


async def test_per_connection_rate_limit(tmp_path: Path) -> None:
    """A connection over its request budget gets rate-limited; a new connection is fine."""
    node: NodeProcess = standalone_node(
        tmp_path, settings="[limits]\nrate_per_connection = 5.0\nburst_per_connection = 10\n"
    )
    node.start()
    await node.wait_healthy(30)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(node.ws_url) as ws:
                for i in range(30):
                    await ws.send_json({"id": i, "op": "ping"})
                replies = [await ws.receive_json() for _ in range(30)]
            codes = [r.get("error", {}).get("code") for r in replies]
            assert codes.count(None) <= 12 and "rate-limited" in codes
            async with s.ws_connect(node.ws_url) as fresh:
                await fresh.send_json({"id": 1, "op": "ping"})
                assert (await fresh.receive_json())["ok"] is True
    finally:
        node.stop()


async def test_forwarded_header_only_from_trusted_proxies(tmp_path: Path) -> None:
    """X-Forwarded-For is believed from a configured proxy and ignored from anyone else."""
    trusting = standalone_node(tmp_path / "a", settings='trusted_proxies = ["127.0.0.0/8"]')
    plain = standalone_node(tmp_path / "b")
    for n in (trusting, plain):
        n.start()
    try:
        seen = []
        for n in (trusting, plain):
            await n.wait_healthy(30)
            async with (
                aiohttp.ClientSession() as s,
                s.ws_connect(n.ws_url, headers={"X-Forwarded-For": "203.0.113.7"}) as ws,
            ):
                await ws.send_json({"id": 1, "op": "ping"})
                seen.append((await ws.receive_json())["client"])
        assert seen == ["203.0.113.7", "127.0.0.1"]
    finally:
        for n in (trusting, plain):
            n.stop()


def test_port_in_use_and_locked_data_dir_are_one_line_errors(tmp_path: Path) -> None:
    """A second node on a port in use, or on a data directory in use, exits 7 with one line."""
    import subprocess
    import sys

    from node_helpers import start_node

    first = start_node(tmp_path / "a")
    try:
        for args in (
            ["--config", str(tmp_path / "a" / "node.toml"), "--port", str(free_port())],
            ["--config", str(tmp_path / "a" / "node.toml"), "--data-dir", str(tmp_path / "b")],
        ):
            out = subprocess.run(
                [sys.executable, "-m", "flocloud.cli", "node", "run", *args],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert out.returncode == 7 and "Traceback" not in out.stderr, out.stderr
            assert "in use" in out.stderr
    finally:
        first.stop()
