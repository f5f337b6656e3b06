"""A local network for the legacy gateway's tests: the dev chain and supernodes serving
HTTPS/WSS with a self-signed certificate (peers trust it through ``SSL_CERT_FILE``),
listed in the registry in the existing FLO cloud's format (bare ``uri``, flocloud's
endpoint in an extra key), as ``flocloud chain publish --endpoint`` writes them."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from flocloud.devnet import Network
from flocloud.devnet.network import CONFIRMATIONS, NodeProcess, timeout_factor
from net_helpers import self_signed

LEGACY_SETTINGS = "\n[legacy]\nmax_body_bytes = 2097152\nrate_per_id = 200.0\nburst_per_id = 400\n"


class LegacyNetwork(Network):
    def __init__(self, base_dir: Path, *, delay_delta: int = 60_000, **kwargs: Any) -> None:
        super().__init__(base_dir, **kwargs)
        self.base.mkdir(parents=True, exist_ok=True)
        self.cert, self.cert_key = self_signed(self.base)
        self.ssl = ssl.create_default_context(cafile=str(self.cert))
        self.delay_delta = delay_delta
        for n in self.nodes:
            n.health_url = n.health_url.replace("http://", "https://")

    @staticmethod
    def wss(node: NodeProcess) -> str:
        return f"wss://127.0.0.1:{node.port}/ws"

    @staticmethod
    def https(node: NodeProcess) -> str:
        return f"https://127.0.0.1:{node.port}"

    def _write_node_config(self, node: NodeProcess) -> None:
        super()._write_node_config(node)
        path = self.base / f"node{node.index}" / "node.toml"
        text = path.read_text().replace(node.ws_url, self.wss(node))
        text += f'\n[tls]\ncert = "{self.cert}"\nkey = "{self.cert_key}"\n' + LEGACY_SETTINGS
        path.write_text(text)

    async def _publish_registry(self) -> None:
        from flocloud.chain.blockbook import BlockbookV1Reader
        from flocloud.chain.publisher import Publisher
        from flocloud.chain.registry import make_registry_update

        async with aiohttp.ClientSession() as session:
            body = {"address": self.registry_key.address, "amount": "10", "mine": True}
            async with session.post(self.chain.url + "/api/faucet", json=body) as resp:
                assert resp.status == 200, await resp.text()
        updates = make_registry_update(
            # the existing cloud's entry: a bare host:port (TLS) and flocloud's own endpoint
            add_nodes=[
                (
                    n.id,
                    n.key.pubkey_hex,
                    self.wss(n).split("://", 1)[1].removesuffix("/ws"),
                    self.wss(n),
                )
                for n in self.nodes
            ],
            config={
                "backupDepth": self.backup_depth,
                "writeQuorum": self.write_quorum,
                "delayDelta": self.delay_delta,
            },
            add_apps={"demo": self.client_key.address},
        )
        async with BlockbookV1Reader(self.chain.url) as reader:
            await Publisher(reader, self.registry_key).publish_many(updates)
        await self.mine(CONFIRMATIONS)

    async def wait_tls_healthy(self, node: NodeProcess, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout * timeout_factor()
        async with aiohttp.ClientSession() as session:
            while True:
                if not node.running:
                    raise RuntimeError(f"{node.name} exited:\n{node.log_tail()}")
                try:
                    async with session.get(node.health_url, ssl=self.ssl) as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{node.name} not healthy:\n{node.log_tail()}")
                await asyncio.sleep(0.1)

    async def start(self) -> None:
        os.environ["SSL_CERT_FILE"] = str(self.cert)  # the nodes trust each other's cert
        self.chain.start()
        await self.chain.wait_healthy(30)
        await self._publish_registry()
        self._write_client_key()
        for node in self.nodes:
            self._write_node_config(node)
            node.start()
        for node in self.nodes:
            await self.wait_tls_healthy(node)
        self.save_state()

    async def restart(self, i: int) -> None:
        node = self.nodes[i]
        node.stop()
        old = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(self.cert)
        try:
            node.start()
        finally:
            if old is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = old
        await self.wait_tls_healthy(node)


def running_legacy_network(base: Path, **kwargs: Any) -> Iterator[LegacyNetwork]:
    net = LegacyNetwork(base, **kwargs)
    old = os.environ.get("SSL_CERT_FILE")
    try:
        asyncio.run(net.start())
    except BaseException:
        net.stop()
        raise
    finally:
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old
    yield net
    codes = net.stop()
    assert set(codes.values()) <= {0, None, -9}, codes
