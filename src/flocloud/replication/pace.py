"""How often anti-entropy compares with each peer: sans-I/O, run by the node
(``node/antientropy.py``) and by the simulator alike, each holding one ``ComparePace``.

A comparison of equal replicas finds nothing, and at 10,000 supernodes a node has ~1,930
neighbours: one comparison with each every round was most of its background traffic. So
a peer found equal is compared again only after rounds skipped that double with each equal
comparison in a row (1, 3, 7, then ``MAX_SKIP``), unless what the two share moved.

Invariants owned here:
- A peer is due (``due``) at once, whatever its backoff, when
  - it was never found equal, or the last comparison found a difference or failed
    (``differ``);
  - this node's root for it (the fingerprint of everything the two share, under this
    node's view: ``replication/shared.py``) is not the root it was found equal at: a
    write of a key the two share was stored or dropped here, the view moved, or a
    rebuild corrected the root;
  - it asked for a comparison with a root that is not ours (``differ``, called by the
    side that answers): it holds what we lack or lacks what we hold, and each side pulls
    only what it lacks, so both must compare.
- Otherwise a peer found equal ``k`` times in a row is compared again after
  ``min(2**k - 1, MAX_SKIP)`` rounds without it: every peer at least once in
  ``MAX_SKIP + 1`` rounds, so a difference no write announced (a store that lost data
  behind its peers' backs) is still found, later.
- A difference between two replicas moves at least one side's root or shows in the
  other's request: the side holding the write that the other lacks stored it (its root
  moved), and its comparison shows the other a root that differs. So backing off never
  hides a difference that a write made; it only spaces the comparisons of replicas that
  are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flocloud.protocol.fingerprint import Fingerprint

__all__ = ["MAX_SKIP", "ComparePace"]

MAX_SKIP = 15  # at most, between two comparisons of equal replicas


@dataclass
class _Equal:
    root: Fingerprint  # this node's root for the peer when the two were found equal
    streak: int  # comparisons in a row that found them equal
    skipped: int = 0  # rounds left out since


@dataclass
class ComparePace:
    max_skip: int = MAX_SKIP
    _equal: dict[str, _Equal] = field(default_factory=dict)

    def due(self, peer: str, root: Fingerprint) -> bool:
        """Whether this round compares with ``peer`` (``root``: our root for it now). A
        round calls it once per peer it could compare with; a peer left out counts a
        round skipped."""
        e = self._equal.get(peer)
        if e is None:
            return True
        if e.root != root:
            del self._equal[peer]
            return True
        if e.skipped >= min(2**e.streak - 1, self.max_skip):
            return True
        e.skipped += 1
        return False

    def equal(self, peer: str, root: Fingerprint) -> None:
        """A comparison found ``peer`` equal to us at our root ``root``."""
        e = self._equal.get(peer)
        streak = e.streak + 1 if e is not None and e.root == root else 1
        self._equal[peer] = _Equal(root, min(streak, 32))

    def differ(self, peer: str) -> None:
        """A comparison with ``peer`` found a difference or failed, or ``peer`` asked
        with a root that is not ours: compare at the next round."""
        self._equal.pop(peer, None)

    def forget(self, keep: set[str]) -> None:
        """Drop the state of peers no longer neighbours."""
        for p in [p for p in self._equal if p not in keep]:
            del self._equal[p]
