"""A client's cursor ahead of this node: whom to ask for the dots it lacks, and when the
answers settle it (docs/protocol.md §8.2, "Behind").

A replica that lacks a dot the client's cursor covers cannot tell whether a write it
holds under another dot is that very write (a retry accepted by two nodes, E1 of issue
10): it must fetch the writes held under the lacking dots first, or refuse to answer.

Invariants owned here:
- ``ask``: the key's replicas and every member this node knows to run an origin store of
  the lacking dots, each once, this node left out.
- ``settled``: the answers settle the question only when every node asked answered, and
  every origin is accounted for: a member known to run it was asked, or the origin is
  this node's own store, or this node knows the store of each of the key's holders
  (replicas and stand-ins), none runs it, and it has been so for long enough (``gone``:
  the origin's store is gone, a replaced disk or a removed node). Otherwise an unknown
  member may still hold the dot, and the node must not answer yet. "Long enough" is
  longer than registry views lag behind one another: a node whose view does not list a
  member added a moment ago knows every holder of its own view, and would take that
  member's store for gone (simulator seed 110296: the write read from the new member
  was answered again). Sans-I/O: the caller passes what it knows of its peers' stores,
  the time, and its map of when each origin was first found unaccounted for
  (``unknown_since``, which ``settled`` adds to).
- ``after_round``: a fetch round that leaves nothing lacking answers; one that made no
  progress answers only if it settled the question (else refuses); one that brought some
  goes again, for at most ``ROUNDS`` rounds, then refuses.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, MutableMapping, Sequence

from flocloud.protocol.cursor import Range

__all__ = ["ROUNDS", "Next", "after_round", "ask", "settled"]

ROUNDS = 4  # fetch rounds before a node that still lacks dots gives up


class Next(enum.Enum):
    ANSWER = "answer"  # serve the cursor
    REFUSE = "refuse"  # unavailable, behind
    AGAIN = "again"  # fetch what is lacking now


def after_round(
    before: tuple[Range, ...], now: tuple[Range, ...], is_settled: bool, round_no: int
) -> Next:
    """What follows fetch round ``round_no`` (1-based), which asked for ``before`` and
    left ``now`` lacking; ``is_settled``: ``settled`` of its answers."""
    if not now:
        return Next.ANSWER
    if now == before:
        return Next.ANSWER if is_settled else Next.REFUSE
    return Next.AGAIN if round_no < ROUNDS else Next.REFUSE


def _origins(ranges: Sequence[Range]) -> set[str]:
    return {o for o, _, _ in ranges}


def ask(
    ranges: Sequence[Range],
    replicas: Sequence[str],
    store_of: Mapping[str, str],
    members: Collection[str],
    me: str,
) -> list[str]:
    origins = _origins(ranges)
    runs = sorted(p for p, sid in store_of.items() if sid in origins and p in members)
    return [p for p in dict.fromkeys([*replicas, *runs]) if p != me]


def settled(
    ranges: Sequence[Range],
    all_answered: bool,
    store_of: Mapping[str, str],
    members: Collection[str],
    holders: Sequence[str],
    me: str,
    my_store: str,
    unknown_since: MutableMapping[str, float] | None = None,
    now: float = 0.0,
    gone_after: float = 0.0,
) -> bool:
    """``unknown_since``: since when each origin has been held by none of the holders
    this node knows, without a break (kept here: an origin accounted for again, or judged
    while not every holder is known, starts over; one still unaccounted for moves to the
    end, so a caller bounding the map drops the least recently seen first); an origin
    counts as gone only ``gone_after`` later, every origin's wait running at once. Without
    it, at once."""
    if not all_answered:
        return False
    known = {sid for p, sid in store_of.items() if p in members}
    every_holder_known = all(p == me or p in store_of for p in holders)
    origins = _origins(ranges)
    unaccounted = {o for o in origins if o not in known and o != my_store}
    if unknown_since is not None:
        for o in origins:
            since = unknown_since.pop(o, now)
            if every_holder_known and o in unaccounted:
                unknown_since[o] = since
    if not unaccounted:
        return True
    if not every_holder_known:
        return False
    if unknown_since is None:
        return True
    return all(now - unknown_since[o] >= gone_after for o in unaccounted)
