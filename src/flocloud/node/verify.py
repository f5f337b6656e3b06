"""Signature checks in batches: in worker processes, or on threads; a small batch on the
event loop itself.

Invariants owned here:
- ``check`` returns only after the envelope's signature verified (``check_signature``), and
  raises exactly what ``check_signature`` raises (a worker process sends back the error's
  code and message, rebuilt here): batching changes where the work runs, never what is
  accepted.
- Requests arriving in one loop iteration are checked together (at most ``max_batch``;
  ``check_many`` hands a whole page of replicated writes over at once, in such batches):
  a batch of more than ``inline_max`` goes to a worker, so one hop costs per batch, not
  per write; a smaller one is checked on the event loop itself, because a hop to a worker
  (and back, and the threads that wake for it) costs more CPU than a few checks do. At a
  moderate rate batches are small and this cuts a third or more of a write's CPU
  (``bench/README.md``); under load they are large and the checks leave the loop.
- Worker processes (``processes > 0``, the default) each have their own interpreter: the
  checks hold no lock the event loop or the store writer wait for. (On threads,
  libsecp256k1 runs outside the GIL, but every call into it gives the GIL up and takes it
  back, and a busy event loop makes each retake wait.) A batch's items are the public
  key, the signature and the body's text; encoding and hashing run in the worker too.
- A worker that dies (killed, out of memory) costs no write: its batches are checked
  again on a thread and the processes are started anew, at most ``MAX_RESTARTS`` times;
  then the checks stay on the threads (a program that starts a node without an
  ``if __name__ == "__main__":`` guard cannot spawn workers: each would run it again).
- ``threads=0`` and ``processes=0`` check inline (tests, single-core machines).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence

from flocloud.protocol.envelope import Envelope, check_signature, check_signed_bytes
from flocloud.protocol.errors import FlocloudError, Unavailable, error_from_code

__all__ = ["MAX_RESTARTS", "BatchVerifier", "check_batch"]

log = logging.getLogger("flocloud.node")

MAX_RESTARTS = 3
Item = tuple[Envelope, "asyncio.Future[None]"]
Refusal = tuple[str, str] | None  # (code, message) of a refused signature, or None


def check_batch(items: Sequence[tuple[bytes, bytes, str]]) -> list[Refusal]:
    """In a worker process: each ``(pubkey, signature, body text)``'s check."""
    out: list[Refusal] = []
    for pub, sig, text in items:
        try:
            check_signed_bytes(pub, sig, text.encode("utf-8"))
            out.append(None)
        except FlocloudError as exc:
            out.append((exc.code, exc.message))
        except Exception as exc:  # a bug: refuse this write, never hang its caller
            out.append(("unavailable", f"signature check failed: {exc}"))
    return out


def _check_all(batch: Sequence[Item]) -> list[FlocloudError | None]:
    """Here (a thread, or the event loop for a small batch): each envelope's check."""
    results: list[FlocloudError | None] = []
    for env, _ in batch:
        try:
            check_signature(env)
            results.append(None)
        except FlocloudError as exc:
            results.append(exc)
        except Exception as exc:  # a bug: refuse this write, never hang its caller
            results.append(Unavailable(f"signature check failed: {exc}"))
    return results


def _worker_start(parent: int) -> None:
    """In a new worker process: die with the node, even when it is killed (``kill -9``
    leaves no worker behind), and leave Ctrl-C to the node."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # Linux: SIGKILL when the parent dies
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before that
        os._exit(0)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:  # elsewhere than Linux
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _warm() -> None:
    """Nothing: submitted at start so the worker processes are spawned before writes come."""


class BatchVerifier:
    def __init__(
        self, threads: int = 2, max_batch: int = 128, processes: int = 0, inline_max: int = 0
    ) -> None:
        self.threads = threads
        self.processes = processes
        self.max_batch = max_batch
        self.inline_max = inline_max
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(max(threads, 1), thread_name_prefix="verify")
            if threads > 0 or processes > 0
            else None
        )
        self._procs: concurrent.futures.ProcessPoolExecutor | None = None
        self._pending: list[Item] = []
        self._scheduled = False
        self.batches = 0
        self.checked = 0
        self.restarts = 0  # worker processes started again after one died
        self.inline = 0  # batches small enough to check on the event loop

    def start(self) -> None:
        """Spawn the worker processes now (in the background), if there are any."""
        if self.processes > 0 and self._procs is None:
            self._procs = concurrent.futures.ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
            for _ in range(self.processes):
                self._procs.submit(_warm)

    async def check(self, env: Envelope) -> None:
        if self._pool is None:
            check_signature(env)
            return
        await self._enqueue(asyncio.get_running_loop(), env)

    async def check_many(self, envs: Sequence[Envelope]) -> list[FlocloudError | None]:
        """``check`` of each envelope at once, in order: what each one's ``check`` would
        raise, or None. They join the pending batch (a full one goes to a worker at once),
        so a page of replicated writes costs a future each, not a task each."""
        if self._pool is None:
            return _check_all([(e, None) for e in envs])  # type: ignore[misc]
        loop = asyncio.get_running_loop()
        done = await asyncio.gather(*(self._enqueue(loop, e) for e in envs), return_exceptions=True)
        return [
            r
            if r is None or isinstance(r, FlocloudError)
            else Unavailable(f"signature check failed: {r!r}")
            for r in done
        ]

    def _enqueue(self, loop: asyncio.AbstractEventLoop, env: Envelope) -> asyncio.Future[None]:
        """Add ``env`` to the pending batch (sent at once when full, else at the end of
        this loop iteration); its future."""
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((env, fut))
        if len(self._pending) >= self.max_batch:
            self._flush(loop)
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if not batch or self._pool is None:
            return
        if len(batch) <= self.inline_max:
            self.inline += 1
            self._resolve(batch, _check_all(batch))
            return
        if self.processes > 0:
            self.start()
            assert self._procs is not None
            # the envelope's own objects (no copy of a body while the batch waits its turn;
            # it is pickled when it goes to a worker)
            items = [(e.pubkey, e.signature, e.body_text) for e, _ in batch]
            procs = self._procs
            try:
                done = loop.run_in_executor(procs, check_batch, items)
            except RuntimeError:  # the pool broke or is shutting down
                self._on_broken(loop, batch, procs)
                return
            done.add_done_callback(lambda f: self._from_worker(loop, batch, f, procs))
        else:
            self._pool.submit(self._run, loop, batch)

    def _from_worker(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[Item],
        done: asyncio.Future[list[Refusal]],
        procs: concurrent.futures.ProcessPoolExecutor,
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            self._on_broken(loop, batch, procs)
            return
        results = [None if r is None else error_from_code(r[0], r[1]) for r in done.result()]
        self._resolve(batch, results)

    def _on_broken(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[Item],
        procs: concurrent.futures.ProcessPoolExecutor,
    ) -> None:
        """A worker process of ``procs`` died: check this batch on a thread; start the
        processes anew (once per pool that broke: its other batches fail too)."""
        if self._procs is procs:
            self._procs.shutdown(wait=False, cancel_futures=True)
            self._procs = None
            self.restarts += 1
            if self.restarts >= MAX_RESTARTS:
                self.processes = 0
                log.warning("signature-check processes keep dying: checking on threads now")
            else:
                log.warning("a signature-check process died: starting them again")
        if self._pool is not None:
            self._pool.submit(self._run, loop, batch)

    def _run(self, loop: asyncio.AbstractEventLoop, batch: list[Item]) -> None:
        loop.call_soon_threadsafe(self._resolve, batch, _check_all(batch))

    def _resolve(self, batch: list[Item], results: Sequence[FlocloudError | None]) -> None:
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
        if self._procs is not None:
            self._procs.shutdown(wait=False, cancel_futures=True)
            self._procs = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
