"""Hand-off plans: when a node may give up writes of a key it does not replicate
(docs/protocol.md §9, "Hand-off").

The caller walks its foreign keys (``SharedDigests.next_foreign``), compares each with
the key's replicas (``peer.ids``, or any exchange giving what a replica lacks and whether
it says it replicates the key), pushes and drops; this module decides.

Invariants owned here:
- Hand-off runs only when the registry has been stable for ``grace`` (``due``) and the
  node knows a registry at all: keys move while views settle, and a replica-to-be may not
  know yet that it is one.
- The writes to drop are those read before the confirmation started: a write that
  arrives meanwhile stays until a later round confirms it too.
- A key is dropped only when every one of its ``N`` replicas (under this node's view) is
  live, says it is a replica under its own view, and holds every one of those writes
  (nothing extra is left here after at most one push); and only if the replicas are still
  the same when the confirmation ends, and this node is still not one of them.
- Live replicas are pushed to even when another replica is down (a write acked by a
  stand-in and a replica that then died may be on the stand-in alone); a replica is
  pushed to at most once per confirmation, then compared again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Confirmation", "PeerCheck", "due"]


def due(has_registry: bool, now: float, view_changed_at: float, grace: float) -> bool:
    """Whether hand-off may run now."""
    return has_registry and now - view_changed_at >= grace


class PeerCheck(enum.Enum):
    ASK = "ask"  # compare with the replica
    PUSHED = "pushed"  # pushed what it lacked: compare again
    CONFIRMED = "confirmed"
    FAILED = "failed"  # down, unreachable, lacks writes after a push, or not a replica


@dataclass
class Confirmation:
    """The confirmation of one foreign key with its replicas. ``ids``: its writes held
    here when the confirmation starts (what a successful one drops)."""

    replicas: tuple[str, ...]
    n: int
    ids: tuple[str, ...] = ()
    checks: dict[str, PeerCheck] = field(default_factory=dict)

    @classmethod
    def start(
        cls, replicas: Sequence[str], n: int, is_up: Callable[[str], bool], ids: Sequence[str] = ()
    ) -> Confirmation:
        c = cls(tuple(replicas), n, tuple(ids))
        for p in c.replicas:
            c.checks[p] = PeerCheck.ASK if is_up(p) else PeerCheck.FAILED
        return c

    def targets(self) -> list[str]:
        """The live replicas to compare with, in order."""
        return [p for p in self.replicas if self.checks[p] is PeerCheck.ASK]

    def on_compare(self, peer: str, extra: Sequence[str], replica: bool) -> list[str]:
        """A comparison with ``peer``: what it lacks (``extra``) and whether it says it is
        a replica. Returns the ids to push to it now (then compare again), or []."""
        state = self.checks.get(peer)
        if state not in (PeerCheck.ASK, PeerCheck.PUSHED):
            return []
        if extra and state is PeerCheck.ASK:
            self.checks[peer] = PeerCheck.PUSHED
            return list(extra)
        ok = replica and not extra
        self.checks[peer] = PeerCheck.CONFIRMED if ok else PeerCheck.FAILED
        return []

    def on_failure(self, peer: str) -> None:
        """A request to ``peer`` failed."""
        if peer in self.checks:
            self.checks[peer] = PeerCheck.FAILED

    @property
    def finished(self) -> bool:
        return all(s in (PeerCheck.CONFIRMED, PeerCheck.FAILED) for s in self.checks.values())

    @property
    def confirmed(self) -> bool:
        """Every one of the ``N`` replicas confirmed."""
        return len(self.replicas) >= self.n and all(
            s is PeerCheck.CONFIRMED for s in self.checks.values()
        )

    def may_drop(self, me: str, replicas_now: Sequence[str]) -> bool:
        """Whether the writes ``ids`` may be dropped here now: confirmed, with the same
        replicas under the current view, of which this node is not one."""
        return self.confirmed and tuple(replicas_now) == self.replicas and me not in replicas_now
