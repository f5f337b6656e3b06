"""A web app on another origin talks to the legacy gateway from a real browser (Debian's
chromium through Playwright) the way floCloudAPI.js does: a text/plain POST (no
preflight), a GET query, and a websocket live query that hears a later write. The
writes are signed here with the legacy rule; the browser does the transport."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from flocloud.devnet.network import NodeProcess, standalone_node
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST
from legacy_client import store_fields
from web_helpers import ARGS, CHROMIUM, needs_chromium

pytestmark = needs_chromium


def key(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"web-" + label.encode()).digest(), REGTEST)


SENDER, RECEIVER = key("legacy-sender"), key("legacy-receiver")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    proc = standalone_node(tmp_path, settings=f'[apps.demo]\nadmin = "{SENDER.address}"\n')
    proc.start()
    await proc.wait_healthy(30)
    yield proc
    proc.stop()


def write(n: int) -> dict[str, object]:
    message = base64.b64encode(json.dumps({"n": n}).encode()).decode()
    return store_fields(SENDER, RECEIVER.address, int(time.time() * 1000), message,
                        application="demo", type="chat")  # fmt: skip


JS = """async ([gateway, doc, receiver]) => {
  const row = await (await fetch(gateway + "/", {method: "POST", body: JSON.stringify(doc)})).json();
  const q = new URLSearchParams({receiverID: receiver, application: "demo"});
  const rows = await (await fetch(gateway + "/?" + q)).json();
  window.pushed = [];
  await new Promise((resolve, reject) => {
    const ws = new WebSocket(gateway.replace("http", "ws") + "/");
    ws.onopen = () => ws.send(JSON.stringify({receiverID: receiver, application: "demo"}));
    ws.onmessage = (e) => { const d = JSON.parse(e.data); if (Array.isArray(d)) resolve(d); else window.pushed.push(d); };
    ws.onerror = reject;
  });
  return {row, rows};
}"""


async def test_a_web_app_on_another_origin(node: NodeProcess) -> None:
    from playwright.async_api import async_playwright

    async def page_of_the_app(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>app</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page_of_the_app)
    async with TestServer(app, host="127.0.0.1") as origin, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(str(origin.make_url("/")))
            first = write(1)
            got = await page.evaluate(JS, [node.url, first, RECEIVER.address])
            assert got["row"]["sign"] == first["sign"] and got["row"]["proxyID"]
            assert [r["vectorClock"] for r in got["rows"]] == [got["row"]["vectorClock"]]
            async with (
                aiohttp.ClientSession() as s,
                s.post(node.url + "/", data=json.dumps(write(2))) as r,
            ):
                assert r.status == 200
            await page.wait_for_function("window.pushed.length === 1", timeout=10_000)
            pushed = await page.evaluate("window.pushed[0]")
            assert json.loads(base64.b64decode(pushed["message"])) == {"n": 2}
            async with aiohttp.ClientSession() as s, s.get(node.url + "/metrics") as r:
                metrics = await r.text()
            assert 'op="legacy.store"} 2' in metrics  # both writes reached the gateway
            assert "legacy.preflight" not in metrics  # text/plain: simple requests, no preflight
        finally:
            await browser.close()
