"""``LinkProxy``: bytes pass through; a cut drops open links and refuses new ones."""

from __future__ import annotations

import asyncio

from flocloud.devnet.proxy import LinkProxy


async def test_cut_and_restore() -> None:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(100):
            w.write(data)
            await w.drain()
        w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = LinkProxy(server.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        w.write(b"ping")
        assert await r.read(4) == b"ping"
        proxy.cut()
        assert await asyncio.wait_for(r.read(4), 5) == b""  # the open link is dropped
        w.close()
        r2, w2 = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(r2.read(4), 5) == b""  # and a new one is refused
        w2.close()
        proxy.restore()
        r3, w3 = await asyncio.open_connection("127.0.0.1", proxy.port)
        w3.write(b"back")
        assert await asyncio.wait_for(r3.read(4), 5) == b"back"
        w3.close()
        assert await asyncio.wait_for(r3.read(4), 5) == b""
    finally:
        await proxy.stop()
        server.close()
        await server.wait_closed()
