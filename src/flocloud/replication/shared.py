"""What this node shares with each peer, kept up to date write by write, so that an
anti-entropy round between equal replicas costs one comparison, not a scan of every key.

Invariants owned here:
- ``root(peer)`` is the sum of the fingerprints of the keys this node holds and both it and
  ``peer`` replicate (under this node's view): the value a full scan would compute. It is
  rebuilt from a scan of the key digests (``rebuild``: at start, after a registry change,
  and every ``exact_every`` rounds), and moved by each committed write and each drop in
  between (``add``). Writes that change a fingerprint without a commit event (a write
  learning a second dot) are caught by the next rebuild: until then the root only differs
  from the peer's, which costs a descent, never a missed difference that stays hidden.
- ``foreign`` holds the keys this node stores but does not replicate (hand-off's work
  list), kept the same way; hand-off walks it round-robin (``next_foreign``), so keys that
  cannot be confirmed yet never starve the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flocloud.protocol.fingerprint import Fingerprint

__all__ = ["SharedDigests"]

Replicas = Callable[[str], tuple[str, ...]]


def _minus(a: Fingerprint, b: Fingerprint) -> Fingerprint:
    return Fingerprint(a.count - b.count, a.s1 - b.s1, a.s2 - b.s2)


@dataclass
class SharedDigests:
    me: str
    exact_every: int = 10
    _roots: dict[str, Fingerprint] = field(default_factory=dict)
    foreign: set[str] = field(default_factory=set)
    _ring: list[str] = field(default_factory=list)
    _rounds: int = 0
    built: bool = False

    def rebuild(self, digests: Iterable[tuple[str, Fingerprint]], replicas: Replicas) -> None:
        """Exact roots and foreign keys from a scan of ``(receiver, fingerprint)``."""
        roots: dict[str, Fingerprint] = {}
        foreign: set[str] = set()
        for receiver, fp in digests:
            reps = replicas(receiver)
            if self.me not in reps:
                foreign.add(receiver)
                continue
            for p in reps:
                if p != self.me:
                    roots[p] = roots.get(p, Fingerprint()) + fp
        self._roots, self.foreign = roots, foreign
        self._ring = sorted(foreign)
        self._rounds = 0
        self.built = True

    def add(
        self, receiver: str, delta: Fingerprint, replicas: Replicas, *, gone: bool = False
    ) -> None:
        """A write of ``receiver`` moved its fingerprint by ``delta`` (a drop: negative,
        ``gone`` when nothing of the key is left here)."""
        if not self.built:
            return
        reps = replicas(receiver)
        if self.me not in reps:
            if gone:
                self.foreign.discard(receiver)
            elif receiver not in self.foreign:
                self.foreign.add(receiver)
                self._ring.append(receiver)
            return
        for p in reps:
            if p != self.me:
                self._roots[p] = self._roots.get(p, Fingerprint()) + delta

    def drop(self, receiver: str, removed: Fingerprint, replicas: Replicas, *, gone: bool) -> None:
        self.add(receiver, _minus(Fingerprint(), removed), replicas, gone=gone)

    def root(self, peer: str) -> Fingerprint:
        return self._roots.get(peer, Fingerprint())

    def round(self) -> bool:
        """A round starts: True when the roots should be rebuilt exactly first."""
        self._rounds += 1
        return not self.built or self._rounds >= self.exact_every

    def next_foreign(self, n: int) -> list[str]:
        """Up to ``n`` foreign keys, continuing where the last call stopped."""
        out: list[str] = []
        for _ in range(len(self._ring)):
            if len(out) >= n:
                break
            key = self._ring.pop(0)
            if key in self.foreign:  # keys handed off meanwhile leave the ring
                out.append(key)
                self._ring.append(key)
        return out
