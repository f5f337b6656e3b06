"""Server text frames written together: the replies queued for one websocket in one go.

A reply to every pipelined write is a frame of its own; aiohttp writes each with a
``transport.write`` (a ``send`` each on uvloop). The frames a connection has queued when
its writer runs leave here as one write.

Invariants owned here:
- The bytes on the wire are exactly aiohttp's for the same frames: unmasked (a server),
  uncompressed text frames, FIN set, in queue order, each with the shortest length form
  (RFC 6455 §5.2).
- Flow control is aiohttp's: the written bytes count towards the writer's output limit,
  and past it the writer waits while the transport is paused, as ``send_frame`` does.
- Anything else goes through ``send_frame`` one frame at a time: a single frame, a
  frame of ``BIG`` bytes or more (no copy of a large page), a writer that compresses or
  masks, a closing one, or an aiohttp whose writer lacks what this relies on.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["BIG", "frame_header", "send_text_frames"]

BIG = 64 * 1024


def frame_header(n: int) -> bytes:
    """The header of an unmasked final text frame of ``n`` payload bytes."""
    if n < 126:
        return struct.pack("!BB", 0x81, n)
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n)
    return struct.pack("!BBQ", 0x81, 127, n)


def _writer(ws: web.WebSocketResponse) -> Any:
    w = getattr(ws, "_writer", None)
    ok = (
        w is not None
        and not getattr(w, "compress", 1)
        and not getattr(w, "use_mask", True)
        and getattr(w, "_closing", True) is False
        and all(hasattr(w, a) for a in ("transport", "_limit", "_output_size", "protocol"))
        and hasattr(w.protocol, "_paused")
        and hasattr(w.protocol, "_drain_helper")
    )
    return w if ok else None


async def send_text_frames(ws: web.WebSocketResponse, frames: Sequence[bytes]) -> None:
    """Send ``frames`` (JSON bytes) as text frames, in order; raises what ``send_frame``
    raises on a closed connection."""
    w = _writer(ws) if len(frames) > 1 else None
    if w is None or any(len(f) >= BIG for f in frames):
        for f in frames:
            await ws.send_frame(f, WSMsgType.TEXT)
        return
    if w.transport is None or w.transport.is_closing():
        raise ConnectionResetError("Cannot write to closing transport")
    data = b"".join(b for f in frames for b in (frame_header(len(f)), f))
    w.transport.write(data)
    w._output_size += len(data)
    if w._output_size > w._limit:
        w._output_size = 0
        if w.protocol._paused:
            await w.protocol._drain_helper()
