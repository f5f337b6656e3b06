"""``node/wake.woken``: a wake, a timeout, and a cancel that comes with the wake, which
``asyncio.wait_for`` on 3.11 lost."""

from __future__ import annotations

import asyncio

import pytest

from flocloud.node.wake import woken


async def test_a_wake_and_a_timeout_are_told_apart() -> None:
    event = asyncio.Event()
    assert await woken(event, 0.01) is False
    event.set()
    assert await woken(event, 60) is True


@pytest.mark.parametrize("ticks", [0, 1])
async def test_a_cancel_that_comes_with_the_wake_is_kept(ticks: int) -> None:
    """Cancelled while it still runs, it ends cancelled (once it has returned, the cancel
    has nothing to stop)."""
    event = asyncio.Event()
    task = asyncio.create_task(woken(event, 60))
    await asyncio.sleep(0.01)
    event.set()
    for _ in range(ticks):
        await asyncio.sleep(0)
    running = not task.done()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert task in done and task.cancelled() == running
