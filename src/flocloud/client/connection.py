"""One websocket connection from a client to one supernode.

Invariants owned here:
- Every request frame carries a fresh ``id``; the reply with the same ``id`` resolves it.
  A reply with ``ok: false`` becomes the flocloud exception of its ``error.code``.
- Subscription frames (``event`` / ``eose`` / subscription errors) are routed to the queue of
  their ``sub`` id; a queue is bounded so a slow reader can't grow memory without bound.
- When the socket closes, every pending request fails with ``Unavailable`` and every
  subscription queue receives the failure, so callers fail over instead of hanging.
- ``heard``: when a request other than ``ping`` last got its reply (an error reply too),
  ``unanswered``: when one last got none (not connected, timed out, the connection lost)
  or the connection was lost under it, on the ``clock`` given (``time.monotonic`` by
  default): a supernode's link to a peer tells its heartbeat schedule
  (``replication/heartbeat.PingSchedule``) with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from flocloud.protocol.errors import FlocloudError, Unavailable, error_from_code

__all__ = ["NodeConnection", "SubQueue"]

_SUB_QUEUE = 10_000
SubQueue = asyncio.Queue[dict[str, Any] | FlocloudError]


class NodeConnection:
    """A request/response + subscription multiplexer over one ``/ws`` websocket."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._clock = clock
        self._session = session
        self._timeout = timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._subs: dict[str, SubQueue] = {}
        self.closed = False
        self.heard = -math.inf  # when a request that is not a ping last got its reply
        self.unanswered = -math.inf  # ... or one got none, or the connection was lost

    async def connect(self) -> None:
        try:
            # asyncio.timeout, not wait_for: on 3.11 a wait_for cancelled just as the
            # handshake completes drops the open websocket it got (never closed: an
            # unclosed-socket warning), as a hedged connect that lost its race is cancelled
            async with asyncio.timeout(self._timeout):
                self._ws = await self._session.ws_connect(
                    self.url, compress=0, max_msg_size=0, heartbeat=20
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.errno:
                reason = os.strerror(exc.os_error.errno).lower()  # "connection refused"
            elif isinstance(exc, TimeoutError):
                reason = f"no answer within {self._timeout:g} s"
            raise Unavailable(f"cannot connect to {self.url}: {reason}") from None
        self._reader = asyncio.create_task(self._read_loop(), name=f"ws-reader {self.url}")

    async def _read_loop(self) -> None:
        assert self._ws is not None
        reason: FlocloudError = Unavailable(f"connection to {self.url} closed")
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if msg.type == aiohttp.WSMsgType.ERROR:
                        break
                    continue
                try:
                    frame = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(frame, dict):
                    self._dispatch(frame)
        except (aiohttp.ClientError, OSError) as exc:
            reason = Unavailable(f"connection to {self.url} failed: {exc}")
        finally:
            if not self.closed:  # lost, not closed here
                self.unanswered = self._clock()
            self.closed = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(reason)
            self._pending.clear()
            for queue in self._subs.values():
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(reason)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        sub = frame.get("sub")
        rid = frame.get("id")
        if rid is not None and str(rid) in self._pending and ("ok" in frame or "error" in frame):
            fut = self._pending.pop(str(rid))
            if not fut.done():
                fut.set_result(frame)
            return
        if sub is not None and str(sub) in self._subs:
            queue = self._subs[str(sub)]
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                queue.get_nowait()  # drop the oldest and report the overflow in its place
                queue.put_nowait(Unavailable("subscription overflowed on the client side"))

    async def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply; raises the reply's flocloud error."""
        if self._ws is None or self.closed:
            self._no_answer(op)
            raise Unavailable(f"not connected to {self.url}")
        rid = str(next(self._ids))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send_bytes(orjson.dumps({"id": rid, "op": op, **fields}))
            async with asyncio.timeout(self._timeout):  # not wait_for (node/wake.py)
                reply = await fut
        except TimeoutError:
            self._no_answer(op)
            raise Unavailable(f"{self.url} did not answer {op} within {self._timeout} s") from None
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            self._no_answer(op)
            raise Unavailable(f"{self.url}: {exc}") from None
        except FlocloudError:  # the read loop failed it: the connection was lost
            self._no_answer(op)
            raise
        finally:
            self._pending.pop(rid, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: the read loop may have failed it meanwhile
        if op != "ping":
            self.heard = self._clock()
        if reply.get("ok") is False or "error" in reply:
            err = reply.get("error")
            err = err if isinstance(err, dict) else {}
            details = {k: v for k, v in err.items() if k not in ("code", "message")}
            raise error_from_code(
                str(err.get("code", "internal")), str(err.get("message", "")), details
            )
        return reply

    def _no_answer(self, op: str) -> None:
        if op != "ping":
            self.unanswered = self._clock()

    def open_subscription(self, sub: str) -> SubQueue:
        queue: SubQueue = asyncio.Queue(_SUB_QUEUE)
        self._subs[sub] = queue
        return queue

    def close_subscription(self, sub: str) -> None:
        self._subs.pop(sub, None)

    async def close(self) -> None:
        self.closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
