"""Which nodes take a key's writes: the sloppy quorum's candidates and who accepts.

Invariants owned here (docs/protocol.md §9, "Writes"):
- ``candidates``: a key's first ``2N`` supernodes in preference order, the accepting node
  left out: its ``N`` replicas, then as many again to stand in for replicas that fail.
- ``accepts``: a node takes a client write of a key when it is one of the key's ``N``
  replicas, or when fewer than ``N`` nodes before it in the preference list are live (it
  stands in for dead ones); any other node forwards the write. Pure: the caller passes
  its own liveness marks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["accepts", "candidates"]


def candidates(preference: Sequence[str], n: int, me: str) -> list[str]:
    return [p for p in preference[: 2 * n] if p != me]


def accepts(preference: Sequence[str], n: int, me: str, is_up: Callable[[str], bool]) -> bool:
    if not preference or me in preference[:n]:
        return True
    live = 0
    for p in preference[: 2 * n]:
        if p == me:
            return live < n
        live += is_up(p)
    return False
