"""Pulled records in bulk: verify and store a page of them (catch-up, anti-entropy,
hand-off and a cursor ahead of this node all store what they pull through here, by
``Peers.store_batch``). Catch-up hands a ``turn`` (the earlier pages stored): the page's
records are parsed and their signatures checked at once, while the page before is still
being stored, and stored when their turn comes.

Invariants owned here:
- Every record is checked as one a peer forwarded (``NodeService.parse_replica`` and
  ``store_replica``): an envelope's format and signature, a record kind's own rules, the
  dots well-formed, then the permissions and the store's checks; dots are kept verbatim.
  A record that fails is skipped (logged), never stored, and never stops the others.
- Nothing of a page is stored before its ``turn`` is done, and a failed ``turn`` stores
  nothing of it and fails it too (catch-up's pages are stored in log order).
- Within a page the peer's order is kept where it matters: a write that depends on an
  earlier one (a patch, a tag) and was refused for it is retried once, in order, after the
  rest of the page is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from flocloud.protocol.cursor import parse_dots
from flocloud.protocol.errors import FlocloudError

if TYPE_CHECKING:
    from .service import NodeService

__all__ = ["store_records"]

log = logging.getLogger("flocloud.node.replicas")


async def store_records(
    service: NodeService,
    records: list[dict[str, Any]],
    peer: str,
    turn: Awaitable[Any] | None = None,
) -> int:
    """Verify ``records`` concurrently (the verifier batches them), then, once ``turn``
    is done, store them concurrently (the store commits them in a few batches); returns
    how many were new here."""
    gate: asyncio.Future[Any] | None = asyncio.ensure_future(turn) if turn is not None else None

    async def one(rec: dict[str, Any]) -> bool:
        env = await service.parse_replica(rec)
        dots = parse_dots(rec.get("dots"))
        if gate is not None:  # a failed turn fails every record: nothing is stored
            await asyncio.shield(gate)  # (cancelling this page leaves the earlier alone)
        return not (await service.store_replica(env, origin=peer, dots=dots)).duplicate

    results = await asyncio.gather(*(one(r) for r in records), return_exceptions=True)
    if gate is not None:
        await gate  # the turn failed: so does this page (nothing of it was stored)
    stored = sum(1 for r in results if r is True)
    retry = [rec for rec, r in zip(records, results, strict=True) if isinstance(r, FlocloudError)]
    for rec in retry:  # in order, after the batch: versions and targets exist now
        try:
            stored += await one(rec)
        except FlocloudError as exc:
            log.debug("skipping %s from %s: %s", rec.get("id"), peer, exc.message)
    return stored
