"""When anti-entropy waits for catch-up: sans-I/O, run by the node (``node/antientropy.py``)
and by the simulator alike.

Invariants owned here:
- A round waits while this node's catch-up pages through a backlog of some peer's log
  (``round_waits``): the writes a comparison would find missing are already on their way,
  and comparing them meanwhile fetches them twice. For the same reason a peer paging
  through our backlog is left out of rounds (``left_out``).
- Each wait lasts at most ``DEFER_ROUNDS`` rounds in a row (rounds in a row, per peer for
  ``left_out``): anti-entropy is the repair of last resort and is never put off for good.
  The caller counts the rounds and resets a count when the round it counts runs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

__all__ = ["DEFER_ROUNDS", "left_out", "round_waits"]

DEFER_ROUNDS = 30


def round_waits(paging_a_backlog: bool, waited: int) -> bool:
    """Whether this round waits; ``waited``: rounds in a row that waited already."""
    return paging_a_backlog and waited < DEFER_ROUNDS


def left_out(paging_us: Collection[str], waited: Mapping[str, int]) -> set[str]:
    """Which of the peers paging through our backlog this round leaves out; ``waited``:
    rounds in a row each was left out already."""
    return {p for p in paging_us if waited.get(p, 0) < DEFER_ROUNDS}
