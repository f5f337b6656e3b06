"""Helpers of the browser tests: where chromium is, how it is launched, the vectors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flocloud import Client
from flocloud.devnet import Network
from flocloud.protocol.keys import PrivateKey

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "web" / "artifacts"
VECTORS = Path(__file__).parent / "vectors"

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (scripts/test installs it)",
)


def vectors() -> dict[str, Any]:
    names = ("keys", "envelope", "encryption", "placement", "objects")
    return {n: json.loads((VECTORS / f"{n}.json").read_text()) for n in names}


def off_machine_requests(page: Any) -> list[str]:
    """Collect every request of the page that leaves 127.0.0.1 (the pages must use no
    external network: no CDN, no web fonts)."""
    urls: list[str] = []

    def check(request: Any) -> None:
        url = str(request.url)
        if not url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:")):
            urls.append(url)

    page.on("request", check)
    return urls


def console_errors(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions (for assertions)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


async def py_client(net: Network, key: PrivateKey) -> Client:
    """The Python SDK on the network's registry (use ``async with``)."""
    return await Client.from_chain(key, explorer=net.chain.url, registry=net.registry_key.address)


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread: Playwright's sync
    API keeps a loop of its own in the test's thread, so ``asyncio.run`` cannot run there."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
