"""A TCP proxy on 127.0.0.1 that a fault harness controls: cut a client's link to a node.

Invariants owned here:
- While ``cut``, every connection through the proxy is closed at once and new ones are
  closed as soon as they are accepted: the client sees a dropped link, the node stays up.
- ``restore`` lets connections through again; bytes are copied unchanged both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["LinkProxy"]


class LinkProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = 0
        self.is_cut = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Cut every link and wait until their copying tasks are over."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def cut(self) -> None:
        self.is_cut = True
        for w in list(self._links):
            w.close()
        self._links.clear()

    def restore(self) -> None:
        self.is_cut = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            up_r, up_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self._links.update((writer, up_w))
        try:
            await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
        finally:
            for w in (writer, up_w):
                self._links.discard(w)
                w.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
            while not self.is_cut:
                data = await src.read(65536)
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        dst.close()
