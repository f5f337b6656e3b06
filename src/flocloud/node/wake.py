"""Waiting for a wake-up or a timeout, without losing a cancel.

Invariant owned here: ``woken`` ends with ``CancelledError`` whenever the task waiting in
it is cancelled, even in the moment the event is set. ``asyncio.wait_for`` on Python 3.11
does not: when the awaitable completes as the cancel arrives, it returns the result and
the cancel is gone, so a loop that waits on a wake-up went on after its node's stop had
cancelled it, and the stop waited for it for good. ``asyncio.wait_for`` is banned from
``src`` (ruff's banned-api, ``pyproject.toml``); ``asyncio.timeout`` keeps the cancel.
"""

from __future__ import annotations

import asyncio

__all__ = ["woken"]


async def woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed; whether it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
