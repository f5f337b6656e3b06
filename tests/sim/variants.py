"""Deliberately broken rules: the simulator's checkers must fail on each (issue 10).

Each variant puts one of the old bugs back into the model; ``test_sim.py`` runs seeds
against it and requires a checker to fail (a checker that cannot fail is a defect).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from flocloud.protocol.cursor import Cursor, Dot
from flocloud.protocol.objectlog import Folded, ObjectOp, apply_op, fold
from flocloud.protocol.paxos import AcceptorState, Ballot, Proposer
from flocloud.replication.feed import Answer, Held, MemoryStore
from flocloud.replication.quorum import WriteQuorum
from flocloud.replication.subscription import Subscription

from .node import Rules

T = TypeVar("T")


@dataclass
class SkipLowerSubscription(Subscription[T]):
    """Finding 5: live delivery skipped arrivals below the highest counter seen, and
    moved the cursor over them anyway."""

    def _take(self, item: T, dots: Sequence[Dot], matching: bool) -> T | None:
        if self.cursor.covers_any(dots):
            return None
        lower = any(c < self.cursor.top(o) for o, c in dots)
        self.cursor = self.cursor.add(dots)
        return item if matching and not lower else None


class GapStore(MemoryStore):
    """A cursor that advances over counters this store does not hold (a frontier set to
    the highest held counter): the client then never gets the writes in the gap."""

    def query(
        self,
        receiver: str,
        cursor: Cursor,
        limit: int,
        matches: Callable[[Held], bool] | None = None,
        include_deleted: bool = False,
    ) -> Answer[Held]:
        a = super().query(receiver, cursor, limit, matches, include_deleted)
        if a.more:
            return a
        out = a.cursor
        for origin in out.origins():
            out = out.add((origin, c) for c in range(out.frontier(origin) + 1, out.top(origin)))
        return Answer(a.records, a.more, out, a.lacking)


class LocalNumbers(MemoryStore):
    """Findings 1 and 4: every store numbers a receiver's writes from its own history
    (local max + 1) under one shared name, so numbers of different nodes collide."""

    def _assign(self, receiver: str) -> Dot:
        return "kseq", len(self.logs.get(receiver, [])) + 1


def below_w() -> Rules:
    """Finding 6: ``ok`` with any number of copies (need=0)."""
    return Rules(quorum=lambda c, width, need: WriteQuorum(c, width=width, need=0))


def arrival_fold(ops: list[ObjectOp]) -> Folded:
    """Issue 11's first finding: a replica applies object writes in the order they
    arrived (the applied set, heads and version are the real ones; the value is not)."""
    real = fold(ops)
    applied = set(real.order)
    value: Any = None
    for op in ops:
        if op.id in applied:
            value = apply_op(value, op)
    return replace(real, value=value)


def accept_below_promise(
    state: AcceptorState, ballot: Ballot, value: Any
) -> tuple[AcceptorState, bool, Ballot]:
    """An acceptor that accepts at any ballot, below its promise too."""
    return AcceptorState(max(state.promised, ballot), ballot, value), True, ballot


class IgnoringProposer(Proposer):
    """A proposer that proposes its own value even when a promise reports an accepted one."""

    @property
    def proposal(self) -> Any:
        return self.own


VARIANTS: dict[str, Callable[[], Rules]] = {
    "skip-lower": lambda: Rules(subscription=lambda c: SkipLowerSubscription(c, max_buffer=64)),
    "ok-below-w": below_w,
    "answer-behind": lambda: Rules(fetch_lacking=False),
    "cursor-gaps": lambda: Rules(store=GapStore),
    "local-numbers": lambda: Rules(store=LocalNumbers),
    "no-dot-check": lambda: Rules(check_dots=False),
    "no-member-check": lambda: Rules(check_member=False),
    # objects (issue 11)
    "arrival-fold": lambda: Rules(fold=arrival_fold),
    "accept-below-promise": lambda: Rules(on_accept=accept_below_promise),
    "acceptor-forgets": lambda: Rules(acceptors_durable=False),
    "proposer-ignores-accepted": lambda: Rules(
        proposer=lambda b, own, q: IgnoringProposer(b, own, len(q.members), quorum=q)
    ),
    "no-epoch-fence": lambda: Rules(epoch_fence=False),
    "young-votes": lambda: Rules(young_recovers=False),
}

# the runs a variant needs to show (``run`` keywords); the others run the default seeds.
# A forgetful acceptor shows under more contention and crashes; a missing fence under
# registry changes during strict writes
# (nodes added with old stores: a new store recovers from the old acceptors, which hides
# a missing fence; an old store that becomes an acceptor votes at once)
# (three nodes, four changes: 10 seeds of the first 100 when set; drawn sizes and three
# changes showed it in 2-3 of 100 once rounds ended with their exchanges and idle peers
# were pinged every few rounds, stop 24; 9 of 100 once anti-entropy paced equal peers,
# stop 25)
REGISTRY_CHANGES: dict[str, Any] = {
    "objects": True,
    "nodes": 3,
    "registry_changes": 4,
    "destructive": False,
    "added_young": False,
}
CONTENTION: dict[str, Any] = {
    "objects": True,
    "strict_clients": 6,
    "strict_ops": 6,
    "crashes": 25,
    "destructive": False,  # no replaced disks (a crash that forgets is what it tests)
}
# replaced disks under contention: a young store that votes without recovering (finding
# O1) shows here
# (three nodes and 25 crashes: 6 seeds of the first 100 when set; with 5 nodes drawn and
# 10 crashes it had shown in 3, then in none once refused replicates stopped marking down)
REPLACED: dict[str, Any] = {
    **CONTENTION,
    "nodes": 3,
    "crashes": 25,
    "disks": 4,
    "destructive": True,
}
# a forgetful acceptor shows when a crash hits an acceptor between its accept and the
# next proposer's round: three nodes (every node an acceptor) and many crashes make that
# likely enough: 9 seeds of its first 100 when it was set (CONTENTION alone, 1 in 100
# once the simulator stopped marking a peer down on a refused replicate)
FORGETFUL: dict[str, Any] = {**CONTENTION, "nodes": 3, "crashes": 40}
OBJECTS: dict[str, Any] = {"objects": True}  # (the default runs them in one seed of four)
# a node that answers a cursor ahead of it without fetching (finding E1) shows when
# writes are stored below quorum and retried elsewhere: more crashes make that common (15
# seeds of the first 100 when set; the default runs 3 in 400 since stop 24's rounds and
# heartbeats, 7 in 600 before; 18 of the first 100 with anti-entropy paced, stop 25)
BEHIND: dict[str, Any] = {"crashes": 20}
# a proposer that ignores accepted values shows when strict writes contend: 10-14 seeds
# of the first 100 (with OBJECTS alone 4-5 in 100, first at seed 29, stop 24; 13 of 100,
# first at seed 1, stop 25)
STRICT: dict[str, Any] = {"objects": True, "strict_clients": 6, "strict_ops": 6}
VARIANT_CONFIG: dict[str, dict[str, Any]] = {
    "answer-behind": BEHIND,
    "arrival-fold": OBJECTS,
    "accept-below-promise": OBJECTS,
    "proposer-ignores-accepted": STRICT,
    "acceptor-forgets": FORGETFUL,
    "no-epoch-fence": REGISTRY_CHANGES,
    "young-votes": REPLACED,
}
CONFIG_SEEDS = 25  # a variant with its own run config is caught within its first 25 seeds
SEEDS = {"acceptor-forgets": 100, "young-votes": 150}  # or within these (rare trajectories)


def variant_seeds(variant: str) -> int:
    """How many seeds (from 0) a variant is given to be caught in."""
    return SEEDS.get(variant, CONFIG_SEEDS if variant in VARIANT_CONFIG else 100)
