"""Replies written together are byte for byte aiohttp's frames, one by one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp._websocket.writer import WebSocketWriter

from flocloud.node.frames import BIG, send_text_frames


class _Transport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    def write(self, b: bytes) -> None:
        self.data += b
        self.writes += 1

    def is_closing(self) -> bool:
        return False


class _Protocol:
    _paused = False

    async def _drain_helper(self) -> None:  # pragma: no cover - never paused here
        pass


class _Ws:
    """What send_text_frames uses of a WebSocketResponse: its writer and send_frame."""

    def __init__(self, **kw: Any) -> None:
        self.transport = _Transport()
        self._writer = WebSocketWriter(_Protocol(), self.transport, **kw)  # type: ignore[arg-type]

    async def send_frame(self, data: bytes, opcode: WSMsgType) -> None:
        await self._writer.send_frame(data, opcode)


SIZES = [0, 1, 125, 126, 127, 65535, 300, 2, BIG - 1]


@pytest.mark.parametrize("sizes", [SIZES, [5], [BIG, 3], [3, BIG + 10, 7]])
async def test_the_bytes_are_aiohttps(sizes: list[int]) -> None:
    frames = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    one_by_one, together = _Ws(), _Ws()
    for f in frames:
        await one_by_one.send_frame(f, WSMsgType.TEXT)
    await send_text_frames(together, frames)  # type: ignore[arg-type]
    assert bytes(together.transport.data) == bytes(one_by_one.transport.data)
    if all(len(f) < BIG for f in frames):
        assert together.transport.writes == 1  # one write when it may
    else:
        assert together.transport.writes == one_by_one.transport.writes  # aiohttp's own


async def test_a_compressing_writer_gets_frames_one_by_one() -> None:
    ws = _Ws(compress=15)
    frames = [b"x" * 10, b"y" * 20]
    await send_text_frames(ws, frames)  # type: ignore[arg-type]
    assert ws.transport.writes == 2  # aiohttp's own path (compressed frames)
    await asyncio.sleep(0)
