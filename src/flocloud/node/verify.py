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
- Each worker has a socket of its own to the event loop (``_Link``): a batch is one
  length-prefixed frame out, its answers one frame back, in order; the loop writes and
  reads without blocking (its own reader and writer callbacks), and no other thread is
  involved. (``concurrent.futures.ProcessPoolExecutor`` runs a manager and a feeder
  thread and wakes them for every batch: three times this hop's CPU in the node's
  process, all of it under the GIL; ``bench/README.md``.) A batch goes to the worker with
  the fewest batches in flight.
- A worker takes batches once it says it is ready (an empty frame, sent when its
  interpreter has started and imported the checks); until one is, batches are checked on
  the threads, so a node that has just started (or restarted its workers) does not hold
  its first checks for the workers' start (a few hundred ms on a busy machine).
- A worker that dies (killed, out of memory) costs no write: the batches in flight on
  any worker of its pool are checked again on a thread and the pool is started anew, at
  most ``MAX_RESTARTS`` times; then the checks stay on the threads (a program that starts
  a node without an ``if __name__ == "__main__":`` guard cannot spawn workers: each
  would run it again).
- ``threads=0`` and ``processes=0`` check inline (tests, single-core machines).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

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


def _serve(sock: socket.socket, parent: int) -> None:
    """A worker process: each batch frame from ``sock`` answered with its checks, until
    the node closes its end (or dies)."""
    _worker_start(parent)
    conn = multiprocessing.connection.Connection(sock.detach())  # 4-byte length frames
    conn.send_bytes(b"")  # ready: batches may come to this worker now
    while True:
        try:
            items = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        conn.send_bytes(pickle.dumps(check_batch(items), pickle.HIGHEST_PROTOCOL))


class _Link:
    """The event loop's end of one worker's socket: batch frames out (buffered, written
    when the socket takes them), answer frames in, matched to the batches in order."""

    def __init__(self, pool: _Pool, sock: socket.socket) -> None:
        self.pool, self.sock = pool, sock
        self.inflight: deque[list[Item]] = deque()
        self.ready = False  # the worker's empty first frame came: it takes batches
        self._out = bytearray()
        self._in = bytearray()
        sock.setblocking(False)
        pool.loop.add_reader(sock.fileno(), self._readable)

    def send(self, batch: list[Item], items: list[tuple[bytes, bytes, str]]) -> None:
        payload = pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
        data = len(payload).to_bytes(4, "big") + payload
        self.inflight.append(batch)
        if self._out:
            self._out += data
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.pool.broken()
            return
        if sent < len(data):
            self._out += data[sent:]
            self.pool.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self.pool.broken()
            return
        del self._out[:sent]
        if not self._out:
            self.pool.loop.remove_writer(self.sock.fileno())

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the worker died (or was closed)
            self.pool.broken()
            return
        self._in += data
        while len(self._in) >= 4:
            n = int.from_bytes(self._in[:4], "big")
            if len(self._in) < 4 + n:
                return
            if not self.ready:  # the first frame: the worker is up
                if n != 0:
                    log.error("a signature-check process did not start as expected")
                    self.pool.broken()
                    return
                self.ready = True
                del self._in[:4]
                continue
            try:
                answers = pickle.loads(self._in[4 : 4 + n])
                if not isinstance(answers, list) or len(answers) != len(self.inflight[0]):
                    raise ValueError("not one answer per check")
                results = [None if r is None else error_from_code(r[0], r[1]) for r in answers]
            except Exception:  # a worker's bug: its batches are checked again elsewhere
                log.exception("a signature-check process answered out of turn")
                self.pool.broken()
                return
            del self._in[: 4 + n]
            self.pool.owner._resolve(self.inflight.popleft(), results)

    def close(self) -> None:
        for remove in (self.pool.loop.remove_reader, self.pool.loop.remove_writer):
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                remove(self.sock.fileno())
        self.sock.close()


class _Pool:
    """One generation of worker processes, each with its ``_Link``."""

    def __init__(self, owner: BatchVerifier, processes: int, loop: asyncio.AbstractEventLoop):
        self.owner, self.loop = owner, loop
        self.procs: list[Any] = []
        self.links: list[_Link] = []
        self.closed = False
        ctx = multiprocessing.get_context("spawn")
        try:
            for _ in range(processes):
                ours, theirs = socket.socketpair()
                proc = ctx.Process(
                    target=_serve, args=(theirs, os.getpid()), daemon=True, name="flocloud-verify"
                )
                try:
                    proc.start()
                    self.procs.append(proc)
                    self.links.append(_Link(self, ours))
                except BaseException:
                    ours.close()
                    raise
                finally:
                    theirs.close()
        except BaseException:
            self.close()
            raise

    def send(self, batch: list[Item]) -> bool:
        """``batch`` to the ready worker with the fewest batches in flight; False when no
        worker is ready yet."""
        link = min((k for k in self.links if k.ready), key=lambda k: len(k.inflight), default=None)
        if link is None:
            return False
        link.send(batch, [(e.pubkey, e.signature, e.body_text) for e, _ in batch])
        return True

    def ready(self) -> int:
        return sum(k.ready for k in self.links)

    def broken(self) -> None:
        if not self.closed:
            self.owner._on_broken(self)

    def close(self) -> list[list[Item]]:
        """Stop the workers; the batches that were in flight on them."""
        self.closed = True
        left = [batch for link in self.links for batch in link.inflight]
        for link in self.links:
            link.inflight.clear()
            link.close()  # a worker reads the end of its socket and exits
        for proc in self.procs:
            with contextlib.suppress(OSError, ValueError):
                if proc.is_alive():
                    proc.kill()
        multiprocessing.active_children()  # reaps the exited ones (never blocks)
        return left


class BatchVerifier:
    def __init__(
        self, threads: int = 2, max_batch: int = 128, processes: int = 0, inline_max: int = 0
    ) -> None:
        self.threads = threads
        self.processes = processes
        self.max_batch = max_batch
        self.inline_max = inline_max
        self._threads = (
            concurrent.futures.ThreadPoolExecutor(max(threads, 1), thread_name_prefix="verify")
            if threads > 0 or processes > 0
            else None
        )
        self._workers: _Pool | None = None
        self._queued: dict[int, list[Item]] = {}  # handed to a thread, not answered yet
        self._closed = False
        self._pending: list[Item] = []
        self._scheduled = False
        self.batches = 0
        self.checked = 0
        self.restarts = 0  # worker processes started again after one died
        self.inline = 0  # batches small enough to check on the event loop
        self.early = 0  # batches checked on a thread because no worker was ready yet

    def start(self) -> None:
        """Spawn the worker processes now, if there are any (on the running event loop:
        their answers come back through it)."""
        if self.processes > 0 and self._workers is None and not self._closed:
            try:
                self._workers = _Pool(self, self.processes, asyncio.get_running_loop())
            except OSError as exc:  # no processes here: threads for good (a RuntimeError
                # is a worker's own bootstrap re-running a main module without a guard:
                # it must fail there, as that worker's death tells the node)
                log.warning("cannot start signature-check processes (%s): on threads", exc)
                self.processes = 0

    def workers_ready(self) -> int:
        """How many worker processes take batches now (tests, diagnostics)."""
        return self._workers.ready() if self._workers is not None else 0

    def worker_pids(self) -> list[int]:
        """The worker processes running now (tests, diagnostics)."""
        pool = self._workers
        return [p.pid for p in pool.procs] if pool is not None else []

    async def check(self, env: Envelope) -> None:
        if self._threads is None:
            check_signature(env)
            return
        await self._enqueue(asyncio.get_running_loop(), env)

    async def check_many(self, envs: Sequence[Envelope]) -> list[FlocloudError | None]:
        """``check`` of each envelope at once, in order: what each one's ``check`` would
        raise, or None. They join the pending batch (a full one goes to a worker at once),
        so a page of replicated writes costs a future each, not a task each."""
        if self._threads is None:
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
        if not batch or self._threads is None:
            return
        if len(batch) <= self.inline_max:
            self.inline += 1
            self._resolve(batch, _check_all(batch))
            return
        if self._closed:
            self._resolve(batch, [Unavailable("the node is stopping")] * len(batch))
            return
        try:
            if self.processes > 0:
                self.start()
            if self._workers is not None:
                if self._workers.send(batch):
                    return
                self.early += 1
        except Exception:  # a bug, or no room: the batch is checked on a thread instead
            log.exception("signature-check processes: checking a batch on a thread")
        self._on_threads(loop, batch)

    def _on_threads(self, loop: asyncio.AbstractEventLoop, batch: list[Item]) -> None:
        self._queued[id(batch)] = batch  # answered at close() if the thread never ran it
        self._threads.submit(self._run, loop, batch)  # type: ignore[union-attr]

    def _on_broken(self, workers: _Pool) -> None:
        """A worker process of ``workers`` died: the batches in flight on any of them are
        checked on a thread; the processes start anew with the next batch."""
        if self._workers is workers:
            self._workers = None
            self.restarts += 1
            if self.restarts >= MAX_RESTARTS:
                self.processes = 0
                log.warning("signature-check processes keep dying: checking on threads now")
            else:
                log.warning("a signature-check process died: starting them again")
        left = workers.close()
        loop = workers.loop
        for batch in left:
            if self._threads is not None and not self._closed:
                self._on_threads(loop, batch)
            else:  # stopping (a pool of workers comes with threads)
                self._resolve(batch, [Unavailable("the node is stopping")] * len(batch))

    def _run(self, loop: asyncio.AbstractEventLoop, batch: list[Item]) -> None:
        loop.call_soon_threadsafe(self._resolve, batch, _check_all(batch))

    def _resolve(self, batch: list[Item], results: Sequence[FlocloudError | None]) -> None:
        self._queued.pop(id(batch), None)
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
        """Stop for good: every check pending or in flight is answered ``unavailable``
        (a later ``check`` too), no worker starts again."""
        self._closed = True
        stopping = Unavailable("the node is stopping")
        left = [*self._queued.values(), self._pending]
        if self._workers is not None:
            left += self._workers.close()
            self._workers = None
        self._queued, self._pending = {}, []
        for batch in left:
            self._resolve(batch, [stopping] * len(batch))
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
