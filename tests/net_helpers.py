"""Multi-process test networks: start one per module, always stop it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flocloud.devnet import Network


def running_network(base: Path, **kwargs: Any) -> Iterator[Network]:
    """Start a ``Network`` (stopping whatever started if that fails), yield it, stop it."""
    net = Network(base, **kwargs)
    try:
        asyncio.run(net.start())
    except BaseException:
        net.stop()
        raise
    yield net
    codes = net.stop()
    assert set(codes.values()) <= {0, None, -9}, codes
