"""Browser tests: Debian's chromium driven by Playwright (sync API), real local networks.

One browser and one network of 3 supernodes per module (CPU is scarce); screenshots go
to ``tests/web/artifacts/`` (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flocloud.devnet import Network
from net_helpers import running_network
from web_helpers import ARGS, ARTIFACTS, CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Chain + 3 supernodes. Tests ask for it before ``browser`` (asyncio.run starts it)."""
    yield from running_network(tmp_path_factory.mktemp("webnet"), nodes=3, block_interval=0.5)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
