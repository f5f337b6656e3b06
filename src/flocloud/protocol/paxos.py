"""Single-decree Paxos for strict objects: which write follows a version. Pure.

One Paxos instance per (object, version ``V``) decides the one write that follows ``V``
(the compare-and-set writes with ``expected_version = V`` compete for it). The acceptors
are the object's ``N`` replicas; a majority (``N // 2 + 1``) decides. This module holds
the two state machines and no I/O; ``flocloud.node.strict`` drives them.

Invariants owned here:
- A ballot is ``(round, proposer tag)``, compared as a tuple; ``NO_BALLOT`` is below all.
  Safety needs every ballot to be used with one value only: proposers make the tag unique
  per attempt (``flocloud.node.strict`` adds a fresh nonce).
- An acceptor promises a ballot only at least every ballot it promised (the same ballot
  again is answered again: a recovering acceptor's read, below, asks for it first),
  accepts a value only at a ballot at least its promise, and reports the value it
  accepted last (with its ballot) in each promise. Its new state must be durable before
  its reply is sent.
- A proposer that gathered a majority of promises proposes the value accepted at the
  highest ballot among them, or its own when there is none; a value accepted by a majority
  at one ballot is chosen, and no other value can be chosen in that instance.
- Values are opaque here: a value is ``(value id, payload)``; equality is by id.
- Epoch fencing (``Quorum``, ``fence``): a round is run under one registry epoch and must
  win a majority of *each* acceptor set of its ``Quorum``: the object's ``N`` replicas
  under that epoch and, when the node's previous epoch gave the object other replicas,
  those too (joint majorities, so a round under the new epoch meets every majority that
  could have chosen under the old one). An acceptor votes only for a round of its own
  epoch whose current acceptor set is the one it computes itself; anything else is
  refused (``fence``), so no round counts a vote cast under another registry view.
- Recovery of a forgetful acceptor (``recover``, ``Quorum.recovered``): a young store
  (its disk may have replaced one that voted) holds no state for an instance it never
  voted in *since its creation*, which says nothing of what the disk before it accepted.
  Before its first vote in such an instance at ballot ``b`` it asks the instance's other
  acceptors to promise ``b`` and report their state (a prepare at ``b`` that does not
  recover in turn), needs ``n - majority(n) + 1`` of the others of each acceptor set it
  belongs to, and adopts ``recover``: the highest promise and the value accepted at the
  highest ballot among them and its own state. A value chosen at a ballot below ``b`` by
  a majority that included the lost state is held by ``majority - 1`` of the others,
  which that many others meet, each before it promised ``b`` (after it, it refuses the
  lower accept); a value accepted by the lost state at a ballot ``b`` or above had a
  majority of promises of that ballot, so one of the others refuses ``b``, and so does
  the recovery. One lost state per instance at a time is what this tolerates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "NO_BALLOT",
    "STALE_EPOCH",
    "AcceptorState",
    "Ballot",
    "Promise",
    "Proposer",
    "Quorum",
    "fence",
    "majority",
    "on_accept",
    "on_prepare",
    "recover",
]

Ballot = tuple[int, str]
NO_BALLOT: Ballot = (0, "")
Value = tuple[str, Any]  # (id, payload)


def majority(n: int) -> int:
    return n // 2 + 1


STALE_EPOCH = "stale-epoch"  # the error code of a refused fence (protocol/errors.py)


@dataclass(frozen=True, slots=True)
class Quorum:
    """The acceptor sets one round must win, a majority of each (current set first)."""

    sets: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, current: Iterable[str], *previous: Iterable[str] | None) -> Quorum:
        """The current set, then each distinct non-empty earlier one."""
        cur = frozenset(current)
        if not cur:
            raise ValueError("a quorum needs acceptors")
        sets = [cur]
        for p in previous:
            s = frozenset(p) if p is not None else frozenset()
            if s and s not in sets:
                sets.append(s)
        return cls(tuple(sets))

    @property
    def current(self) -> tuple[str, ...]:
        return tuple(sorted(self.sets[0]))

    @property
    def members(self) -> tuple[str, ...]:
        """Every acceptor to ask, sorted."""
        return tuple(sorted(frozenset().union(*self.sets)))

    @property
    def joint(self) -> bool:
        return len(self.sets) > 1

    def reached(self, who: frozenset[str]) -> bool:
        return all(len(who & s) >= majority(len(s)) for s in self.sets)

    def out_of_reach(self, refused: frozenset[str]) -> bool:
        return any(len(s - refused) < majority(len(s)) for s in self.sets)

    def recovered(self, me: str, who: frozenset[str]) -> bool:
        """Whether the states ``who`` reported let acceptor ``me`` recover: ``n -
        majority(n) + 1`` of the *other* acceptors of each set ``me`` belongs to (they meet
        the ``majority - 1`` others of every majority that counted ``me``); none for a set
        of one (a lone acceptor has nobody to ask: its store is all there is)."""
        return all(
            len((who & s) - {me}) >= min(len(s) - majority(len(s)) + 1, len(s) - 1)
            for s in self.sets
            if me in s
        )


def fence(
    epoch_here: Any, current_here: Iterable[str], epoch_there: Any, current_there: Any
) -> str | None:
    """Whether an acceptor may vote in a round: None if so, else why not (the acceptor
    answers ``stale-epoch`` with its own epoch; the side on the older view refreshes).
    ``current_there`` is the round's current acceptor set as sent (a list of node IDs):
    at one epoch every node computes the same one, so a mismatch is refused too."""
    if epoch_there != epoch_here:
        return f"the round is at registry epoch {epoch_there}, this acceptor at {epoch_here}"
    if not isinstance(current_there, list | tuple) or sorted(map(str, current_there)) != sorted(
        current_here
    ):
        return "the round's acceptors are not this epoch's replicas of the object"
    return None


@dataclass(frozen=True, slots=True)
class AcceptorState:
    promised: Ballot = NO_BALLOT
    accepted: Ballot = NO_BALLOT
    value: Value | None = None


@dataclass(frozen=True, slots=True)
class Promise:
    ok: bool
    promised: Ballot  # the acceptor's promise after this request
    accepted: Ballot = NO_BALLOT
    value: Value | None = None


def on_prepare(state: AcceptorState, ballot: Ballot) -> tuple[AcceptorState, Promise]:
    """Phase 1b (a ballot equal to the promise is promised again: same proposer, same
    attempt, nothing accepted below it since)."""
    if ballot < state.promised:
        return state, Promise(False, state.promised)
    new = replace(state, promised=ballot)
    return new, Promise(True, ballot, state.accepted, state.value)


def on_accept(
    state: AcceptorState, ballot: Ballot, value: Value
) -> tuple[AcceptorState, bool, Ballot]:
    """Phase 2b: ``(state, accepted?, promise)``."""
    if ballot < state.promised:
        return state, False, state.promised
    return AcceptorState(ballot, ballot, value), True, ballot


def recover(own: AcceptorState, reports: Iterable[Promise]) -> AcceptorState:
    """A forgetful acceptor's state after it read the others' (see the module's
    invariants): the highest promise among its own and theirs, and the value accepted at
    the highest ballot. The caller checks it read enough of them (``Quorum.recovered``)
    and that each promised the ballot it is about to vote in."""
    promised, best = own.promised, (own.accepted, own.value) if own.value is not None else None
    for p in reports:
        promised = max(promised, p.promised)
        if p.value is not None and (best is None or p.accepted > best[0]):
            best = (p.accepted, p.value)
    if best is None:
        return AcceptorState(promised)
    return AcceptorState(promised, best[0], best[1])


@dataclass(frozen=True, slots=True)
class Proposer:
    """One proposer's attempt at one ballot. Feed it replies; read ``phase``:
    ``"prepare"`` → ``"accept"`` (send ``proposal`` to every acceptor) → ``"chosen"``;
    ``"rejected"`` when an acceptor promised a higher ballot (retry above ``highest``)."""

    ballot: Ballot
    own: Value
    n: int
    phase: str = "prepare"
    promised_by: frozenset[str] = frozenset()
    accepted_by: frozenset[str] = frozenset()
    best: tuple[Ballot, Value] | None = None
    highest: Ballot = NO_BALLOT
    refused_by: frozenset[str] = field(default_factory=frozenset)
    quorum: Quorum | None = None  # None: any majority of ``n`` (one acceptor set)

    def _won(self, who: frozenset[str]) -> bool:
        if self.quorum is not None:
            return self.quorum.reached(who)
        return len(who) >= majority(self.n)

    def _lost(self, refused: frozenset[str]) -> bool:
        if self.quorum is not None:
            return self.quorum.out_of_reach(refused)
        return self.n - len(refused) < majority(self.n)

    @property
    def proposal(self) -> Value:
        return self.best[1] if self.best is not None else self.own

    def _refused(self, who: str, promised: Ballot) -> Proposer:
        refused = self.refused_by | {who}
        phase = "rejected" if self._lost(refused) else self.phase
        return replace(self, refused_by=refused, highest=max(self.highest, promised), phase=phase)

    def on_promise(self, who: str, p: Promise) -> Proposer:
        if self.phase != "prepare":
            return self
        if not p.ok:
            return self._refused(who, p.promised)
        best = self.best
        if p.value is not None and (best is None or p.accepted > best[0]):
            best = (p.accepted, p.value)
        promised_by = self.promised_by | {who}
        phase = "accept" if self._won(promised_by) else "prepare"
        return replace(self, promised_by=promised_by, best=best, phase=phase)

    def on_accepted(self, who: str, ok: bool, promised: Ballot) -> Proposer:
        if self.phase != "accept":
            return self
        if not ok:
            return self._refused(who, promised)
        accepted_by = self.accepted_by | {who}
        phase = "chosen" if self._won(accepted_by) else "accept"
        return replace(self, accepted_by=accepted_by, phase=phase)
