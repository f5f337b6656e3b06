"""The dashboard page in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from flocloud.devnet.network import NodeProcess, standalone_node
from flocloud.protocol.envelope import build_envelope
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (scripts/test installs it)",
)


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"web-" + label.encode()).digest(), REGTEST)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    proc = standalone_node(tmp_path)
    proc.start()
    await proc.wait_healthy(30)
    yield proc
    proc.stop()


async def test_dashboard_shows_node_and_live_messages(node: NodeProcess) -> None:
    """The page shows the node's ID and counters, and a message sent now appears live."""
    from playwright.async_api import async_playwright

    receiver = key("receiver").address
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = await browser.new_page()
            await page.goto(node.url + "/")
            await page.wait_for_function(
                "document.querySelector('#node-id').textContent.startsWith('o')"
            )
            assert await page.inner_text("#node-id") == node.id
            assert await page.inner_text("#node-status") == "online"
            assert "messages stored" in await page.inner_text("#stats")
            await page.fill("#watch-receiver", receiver)
            await page.click("#watch-button")
            await page.wait_for_function(
                "document.querySelector('#watch-status').textContent === 'live'"
            )
            env = build_envelope(
                key("sender"),
                receiver=receiver,
                payload={"hello": "browser"},
                time_ms=int(time.time() * 1000),
                application="web",
            )
            async with (
                aiohttp.ClientSession() as s,
                s.post(node.url + "/api/messages", data=env.to_json()) as r,
            ):
                assert r.status == 200
            row = page.locator("#feed tr.msg").first
            await row.wait_for(timeout=10_000)
            text = await row.inner_text()
            assert '{"hello":"browser"}' in text and key("sender").address in text
            await page.wait_for_function(
                "Number(document.querySelector('#stats b').textContent) >= 1", timeout=10_000
            )
        finally:
            await browser.close()
