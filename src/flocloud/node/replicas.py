"""Pulled records in bulk: verify and store a page of them (catch-up, anti-entropy,
hand-off and a cursor ahead of this node all store what they pull through here, by
``Peers.store_batch``). Catch-up hands a ``turn`` (the earlier pages stored): the page's
records are parsed and their signatures checked at once, while the page before is still
being stored, and stored when their turn comes.

Invariants owned here:
- Every record is checked as one a peer forwarded (``NodeService.parse_replicas`` and
  ``store_replicas``, the bulk forms of a single ``peer.replicate``'s checks: one
  signature batch and one store hand-over per page, not a task per record): an
  envelope's format and signature, a record kind's own rules, the dots well-formed, then
  the permissions and the store's checks; dots are kept verbatim. A record that fails is
  skipped (logged), never stored, and never stops the others.
- Nothing of a page is stored before its ``turn`` is done, and a failed ``turn`` stores
  nothing of it and fails it too (catch-up's pages are stored in log order).
- Within a page the peer's order is kept where it matters: a record refused for what
  the rest of the page may bring (``not-found``: a legacy edit before the row it edits)
  or a passing store error (``unavailable``) is retried once, in order, after the rest of
  the page is stored; one refused for its signature, format or permissions is not (it
  would be refused again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from flocloud.protocol.cursor import Dot, parse_dots
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import FlocloudError, NotFound, Unavailable

if TYPE_CHECKING:
    from .service import KindRecord, NodeService

__all__ = ["store_records"]

log = logging.getLogger("flocloud.node.replicas")


async def store_records(
    service: NodeService,
    records: list[dict[str, Any]],
    peer: str,
    turn: Awaitable[Any] | None = None,
) -> int:
    """Verify ``records`` at once (their signatures in the verifier's batches), then, once
    ``turn`` is done, store them at once (the store commits them in a few batches);
    returns how many were new here."""
    gate: asyncio.Future[Any] | None = None
    if turn is not None:
        gate = asyncio.ensure_future(turn)
        gate.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen, if not here
    parsed = await service.parse_replicas(records)
    if gate is not None:  # a failed turn fails the page: nothing of it is stored
        await asyncio.shield(gate)  # (cancelling this page leaves the earlier alone)
    writes: list[tuple[Envelope | KindRecord, tuple[Dot, ...] | None]] = []
    at: list[int] = []
    for i, (rec, p) in enumerate(zip(records, parsed, strict=True)):
        if isinstance(p, FlocloudError):
            log.debug("skipping %s from %s: %s", rec.get("id"), peer, p.message)
            continue
        try:
            writes.append((p, parse_dots(rec.get("dots"))))
            at.append(i)
        except FlocloudError as exc:
            log.debug("skipping %s from %s: %s", rec.get("id"), peer, exc.message)
    results = await service.store_replicas(writes, peer)
    stored = sum(1 for r in results if not isinstance(r, FlocloudError) and not r.duplicate)
    # refused for something the rest of the page may bring or a moment may mend (a legacy
    # edit before the row it edits: not-found; a store error: unavailable): once more, in
    # order, after the rest is stored. A format or permission refusal would come again.
    for (env, dots), i, r in zip(writes, at, results, strict=True):
        if isinstance(r, NotFound | Unavailable):
            try:
                stored += 0 if (await service.store_replica(env, peer, dots)).duplicate else 1
            except FlocloudError as exc:
                log.debug("skipping %s from %s: %s", records[i].get("id"), peer, exc.message)
    return stored
