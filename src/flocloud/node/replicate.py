"""Replicated writes in batches per peer link: ``peer.replicate.batch`` (docs/protocol.md §9).

Invariants owned here:
- Sending (``ReplicaBatcher``): every write sent to a peer gets its own future, resolved
  ``True`` only when that peer answered that it committed (or already held) that write,
  ``False`` on any failure; a future is always resolved. Writes queued for one peer in one
  event-loop iteration leave together, in queue order, in frames of at most
  ``MAX_BATCH_RECORDS`` records and ``MAX_BATCH_BYTES`` bytes of records: batching waits
  for no timer (the flush runs in the next iteration), so it adds no latency of its own.
  A record larger than ``MAX_BATCH_BYTES`` goes alone as ``peer.replicate``.
- A peer that answers a whole batch frame ``bad-format`` does not know the op (a node
  older than it): the frame's records go again one by one as ``peer.replicate``, and so
  does every write to that peer for ``SINGLE_SECONDS``, after which a batch is tried again
  (an upgraded peer gets batches back without a restart of this node).
- Serving (``serve_batch``): a frame over the limits is refused as a whole, ``too-large``;
  otherwise each record is decoded, verified and stored on its own terms and answered in
  ``results`` at its position: ``{"duplicate": bool}`` or ``{"error": {code, message}}``.
  A bad record (malformed, a bad signature, dots that are not the sender's own, refused
  by permissions or the store) fails alone, with the code a single ``peer.replicate``
  would have got: a single one is a batch of one (``store_one``), both through
  ``_check_and_store``, which runs each check for the whole frame; its neighbours are
  stored. The frame's records go to the verifier at once
  (``NodeService.parse_replicas``) and to the store at once (``store_replicas``: the
  plain messages in frame order, then the others, which a permission check may make
  wait), so they share one signature batch and one writer transaction
  (``storage/batch.py`` applies runs of plain writes together).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import orjson

from flocloud.protocol.cursor import Dot, parse_dots
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import BadFormat, FlocloudError, Forbidden, TooLarge, Unavailable

from . import requests as rq
from .service import KindRecord, NodeService

__all__ = [
    "BATCH_OP",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "ReplicaBatcher",
    "serve_batch",
    "store_one",
]

log = logging.getLogger("flocloud.node.replicate")

BATCH_OP = "peer.replicate.batch"
MAX_BATCH_RECORDS = 256  # records per batch frame
MAX_BATCH_BYTES = 1024 * 1024  # bytes of the records' JSON per batch frame
SINGLE_SECONDS = 60.0  # a peer that does not know the batch op gets single frames this long

# (peer, op, fields) -> the reply; raises the reply's flocloud error
Request = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
_Item = tuple[dict[str, Any], bytes, "asyncio.Future[bool]"]


class ReplicaBatcher:
    """Writes to send, queued per peer and sent as batch frames (see the module doc)."""

    def __init__(
        self,
        request: Request,
        *,
        max_records: int = MAX_BATCH_RECORDS,
        max_bytes: int = MAX_BATCH_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = request
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.clock = clock
        self._queues: dict[str, list[_Item]] = {}
        self._scheduled = False
        self._single_until: dict[str, float] = {}  # peers that refused the batch op
        self._tasks: set[asyncio.Task[None]] = set()
        self.frames = 0  # batch frames sent (a figure for tests and metrics)

    def send(self, peer: str, record: dict[str, Any], data: bytes) -> asyncio.Future[bool]:
        """Queue ``record`` (``data``: its JSON) for ``peer``; the future says whether the
        peer committed it."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._queues.setdefault(peer, []).append((record, data, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        queues, self._queues = self._queues, {}
        for peer, items in queues.items():
            for chunk in self._chunks(items):
                task = asyncio.ensure_future(self._send_chunk(peer, chunk))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _chunks(self, items: list[_Item]) -> list[list[_Item]]:
        """Frames of at most ``max_records`` records and ``max_bytes`` bytes, in order; a
        record over ``max_bytes`` alone."""
        out: list[list[_Item]] = []
        cur: list[_Item] = []
        size = 0
        for item in items:
            n = len(item[1])
            if cur and (len(cur) >= self.max_records or size + n > self.max_bytes):
                out.append(cur)
                cur, size = [], 0
            cur.append(item)
            size += n
        if cur:
            out.append(cur)
        return out

    async def _send_chunk(self, peer: str, chunk: list[_Item]) -> None:
        outcomes: list[bool] = []
        try:
            single = self._single_until.get(peer, 0.0) > self.clock()
            if len(chunk) == 1 and (single or len(chunk[0][1]) > self.max_bytes):
                outcomes = [await self._one(peer, chunk[0][0])]
                return
            if not single:
                try:
                    outcomes = await self._batch(peer, chunk)
                    return
                except BadFormat:  # a peer that does not know the op: one by one
                    if self._single_until.get(peer, 0.0) <= self.clock():  # log it once
                        log.info("peer %s does not take %s: single frames", peer, BATCH_OP)
                    self._single_until[peer] = self.clock() + SINGLE_SECONDS
            for record, _, _ in chunk:
                outcomes.append(await self._one(peer, record))
        except FlocloudError as exc:
            log.debug("replicate to %s failed: %s", peer, exc.message)
        finally:
            outcomes += [False] * (len(chunk) - len(outcomes))
            for (_, _, fut), ok in zip(chunk, outcomes, strict=True):
                if not fut.done():
                    fut.set_result(ok)

    async def _batch(self, peer: str, chunk: list[_Item]) -> list[bool]:
        self.frames += 1
        reply = await self.request(
            peer, BATCH_OP, {"records": [orjson.Fragment(data) for _, data, _ in chunk]}
        )
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(chunk):
            log.debug("peer %s answered %s without one result per record", peer, BATCH_OP)
            return [False] * len(chunk)
        return [isinstance(r, dict) and "error" not in r for r in results]

    async def _one(self, peer: str, record: dict[str, Any]) -> bool:
        try:
            await self.request(peer, "peer.replicate", record)
            return True
        except FlocloudError as exc:
            log.debug("replicate to %s failed: %s", peer, exc.message)
            return False


async def store_one(
    svc: NodeService,
    peer: str,
    store_id: str | None,
    envelope: Any,
    kind: str | None,
    dots_wire: list[Any],
) -> dict[str, Any]:
    """One replicated record from ``peer`` (whose own store is ``store_id``), checked and
    stored as ``peer.replicate`` does: its answer, or the flocloud error that refuses it.
    It is a batch of one: the same checks as a record of ``peer.replicate.batch``."""
    (result,) = await _check_and_store(svc, peer, store_id, [(envelope, kind, dots_wire)])
    if isinstance(result, FlocloudError):
        raise result
    return result


async def serve_batch(
    svc: NodeService, peer: str, store_id: str | None, records: list[msgspec.Raw]
) -> dict[str, Any]:
    """A ``peer.replicate.batch`` from ``peer``: one result per record, in order."""
    if len(records) > MAX_BATCH_RECORDS:
        raise TooLarge(f"{BATCH_OP} carries at most {MAX_BATCH_RECORDS} records")
    if sum(len(r) for r in records) > MAX_BATCH_BYTES:
        raise TooLarge(f"{BATCH_OP} carries at most {MAX_BATCH_BYTES} bytes of records")
    out: list[dict[str, Any] | FlocloudError] = []
    items: list[tuple[Any, str | None, list[Any]]] = []
    at: list[int] = []
    for i, raw in enumerate(records):
        try:
            rec = rq.decode_record(raw)
        except FlocloudError as exc:
            out.append(exc)
            continue
        out.append({})
        items.append((rec.envelope, rec.kind, rec.dots))
        at.append(i)
    for i, result in zip(at, await _check_and_store(svc, peer, store_id, items), strict=True):
        out[i] = result
    for result in out:
        if isinstance(result, FlocloudError):
            svc.metrics.rejected[result.code] += 1
    return {"results": [r if isinstance(r, dict) else {"error": r.to_dict()} for r in out]}


async def _check_and_store(
    svc: NodeService,
    peer: str,
    store_id: str | None,
    items: list[tuple[Any, str | None, list[Any]]],
) -> list[dict[str, Any] | FlocloudError]:
    """Records (envelope, kind, dots) from ``peer``: each one's answer or the error that
    refuses it, in order. The checks run in one order, each step for all of them at once:
    the dots' form, the envelope and its signature (one signature batch), the dots being
    the sender's own, then the store (its queue in order: one writer transaction)."""
    out: list[dict[str, Any] | FlocloudError] = [Unavailable("not stored")] * len(items)
    decoded: list[tuple[int, dict[str, Any], tuple[Dot, ...]]] = []
    for i, (envelope, kind, dots_wire) in enumerate(items):
        try:
            dots = parse_dots(dots_wire) if dots_wire else ()
            decoded.append((i, {"envelope": envelope, "kind": kind}, dots))
        except FlocloudError as exc:
            out[i] = exc
    parsed = await svc.parse_replicas([r for _, r, _ in decoded])
    writes: list[tuple[Envelope | KindRecord, tuple[Dot, ...] | None]] = []
    at: list[int] = []
    for (i, _, dots), env in zip(decoded, parsed, strict=True):
        if isinstance(env, FlocloudError):
            out[i] = env
        elif any(o != store_id for o, _ in dots):
            out[i] = Forbidden("peer.replicate may carry only the sender's own dots")
        else:
            writes.append((env, dots or None))
            at.append(i)
    for i, result in zip(at, await svc.store_replicas(writes, peer), strict=True):
        out[i] = result if isinstance(result, FlocloudError) else {"duplicate": result.duplicate}
    return out
