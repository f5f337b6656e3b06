"""Pulled records in bulk: verify a page of them, then store it (catch-up, anti-entropy,
hand-off and a cursor ahead of this node all store what they pull through here, by
``Peers.store_batch``; catch-up runs the two halves apart, so a page is verified while
the one before it is stored).

Invariants owned here:
- Every record is checked as one a peer forwarded (``NodeService.parse_replica`` and
  ``store_replica``): an envelope's format and signature, a record kind's own rules, the
  dots well-formed, then the permissions and the store's checks; dots are kept verbatim.
  A page's signatures go to the verifier together (it batches them off the loop); bulk
  changes where the work runs, never what is accepted.
- A record that fails verification is skipped (logged), never stored, and never stops
  the others.
- Storing keeps the peer's order where it matters: a write that depends on an earlier
  one of the same batch (a patch, a tag) and was refused for it is retried once, in
  order, after the rest of the batch is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flocloud.protocol.cursor import Dot, parse_dots
from flocloud.protocol.envelope import Envelope, parse_unverified
from flocloud.protocol.errors import BadFormat, FlocloudError

if TYPE_CHECKING:
    from .service import KindRecord, NodeService

__all__ = ["Verified", "store_verified", "verify_records"]

log = logging.getLogger("flocloud.node.replicas")


@dataclass(frozen=True, slots=True)
class Verified:
    """A record whose signature (or kind's rules) and dots checked: ready to store."""

    wire: Mapping[str, Any]
    record: Envelope | KindRecord
    dots: tuple[Dot, ...]


def _parse(service: NodeService, rec: Mapping[str, Any]) -> tuple[Envelope | KindRecord, bool]:
    """The record parsed, and whether its envelope signature is still to be checked."""
    kind = rec.get("kind")
    if kind is None:
        env = parse_unverified(rec.get("envelope"), now_ms=None, limits=service.envelope_limits)
        return env, True
    handler = service.kinds.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise BadFormat(f"unknown record kind {str(kind)[:32]!r}")
    return handler.parse(rec.get("envelope")), False


async def verify_records(
    service: NodeService, records: list[dict[str, Any]], peer: str
) -> list[Verified]:
    """The records of ``records`` that pass verification, in their order."""
    parsed: list[tuple[dict[str, Any], Envelope | KindRecord, tuple[Dot, ...], int]] = []
    unchecked: list[Envelope] = []
    for rec in records:
        try:
            record, check = _parse(service, rec)
            dots = parse_dots(rec.get("dots"))
        except FlocloudError as exc:
            log.debug("skipping %s from %s: %s", rec.get("id"), peer, exc.message)
            continue
        if isinstance(record, Envelope) and check:
            parsed.append((rec, record, dots, len(unchecked)))
            unchecked.append(record)
        else:
            parsed.append((rec, record, dots, -1))
    # every signature of the page handed to the verifier at once: it batches them
    errors = await asyncio.gather(
        *(service.verifier.check(env) for env in unchecked), return_exceptions=True
    )
    out = []
    for rec, record, dots, k in parsed:
        err = errors[k] if k >= 0 else None
        if err is not None:  # a refusal, or a bug of the verifier: not stored either way
            log.debug("skipping %s from %s: %s", rec.get("id"), peer, err)
            continue
        out.append(Verified(rec, record, dots))
    return out


async def store_verified(service: NodeService, verified: list[Verified], peer: str) -> int:
    """Store ``verified`` concurrently, so the store commits them in a few batches; returns
    how many were new here."""

    async def one(v: Verified) -> bool:
        result = await service.store_replica(v.record, origin=peer, dots=v.dots)
        return not result.duplicate

    results = await asyncio.gather(*(one(v) for v in verified), return_exceptions=True)
    stored = sum(1 for r in results if r is True)
    retry = [v for v, r in zip(verified, results, strict=True) if isinstance(r, FlocloudError)]
    for v in retry:  # in order, after the batch: versions and targets exist now
        try:
            stored += await one(v)
        except FlocloudError as exc:
            log.debug("skipping %s from %s: %s", v.wire.get("id"), peer, exc.message)
    return stored
