"""Signature checks off the event loop, in batches, on a small thread pool.

Invariants owned here:
- ``check`` returns only after the envelope's signature verified (``check_signature``), and
  raises exactly what ``check_signature`` raises: batching changes where the work runs,
  never what is accepted.
- The event loop never runs a signature check when the pool is on: requests arriving in one
  loop iteration go to a worker thread together (at most ``max_batch``), so one hop costs
  per batch, not per write. libsecp256k1 is called through cffi, which releases the GIL, so
  the checks run on the other cores while the loop parses, routes and answers.
- ``threads=0`` checks inline (tests, single-core machines).
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from flocloud.protocol.envelope import Envelope, check_signature
from flocloud.protocol.errors import FlocloudError, Unavailable

__all__ = ["BatchVerifier"]


class BatchVerifier:
    def __init__(self, threads: int = 2, max_batch: int = 128) -> None:
        self.threads = threads
        self.max_batch = max_batch
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="verify")
            if threads > 0
            else None
        )
        self._pending: list[tuple[Envelope, asyncio.Future[None]]] = []
        self._scheduled = False
        self.batches = 0
        self.checked = 0

    async def check(self, env: Envelope) -> None:
        if self._pool is None:
            check_signature(env)
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((env, fut))
        if len(self._pending) >= self.max_batch:
            self._flush(loop)
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        await fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if batch and self._pool is not None:
            self._pool.submit(self._run, loop, batch)

    def _run(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Envelope, asyncio.Future[None]]]
    ) -> None:
        results: list[FlocloudError | None] = []
        for env, _ in batch:
            try:
                check_signature(env)
                results.append(None)
            except FlocloudError as exc:
                results.append(exc)
            except Exception as exc:  # a bug: refuse this write, never hang its caller
                results.append(Unavailable(f"signature check failed: {exc}"))
        loop.call_soon_threadsafe(self._resolve, batch, results)

    def _resolve(
        self,
        batch: list[tuple[Envelope, asyncio.Future[None]]],
        results: list[FlocloudError | None],
    ) -> None:
        self.batches += 1
        self.checked += len(batch)
        for (_, fut), err in zip(batch, results, strict=True):
            if fut.done():
                continue
            if err is None:
                fut.set_result(None)
            else:
                fut.set_exception(err)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
