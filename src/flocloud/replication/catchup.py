"""Catch-up paging: following a peer's log, one ``CatchUp`` per peer (docs/protocol.md §9).

Both sides of ``peer.sync`` are here; the caller does the requests, reads the store and
keeps positions on disk.

Invariants owned here:
- A position is ``(store id, seq)``: the last entry of that store's log whose writes are
  stored here. It only moves forward, and only once the writes it covers that this node
  wanted are stored (``stored``): a crash or a failed fetch between a page and its fetch
  asks for the same page again, never skips it. Pages may be pipelined (the next asked
  before this one is stored); positions still advance in page order.
- First contact (no position): ask for the top of the peer's log (``from_top``) and
  follow from there; the peer's past is anti-entropy's work, whose traffic grows with the
  difference.
- A replaced store (a reply under another store id while the position is past 0) drops
  the position: the old store's numbers mean nothing in the new one. The caller compares
  replicas by anti-entropy and the next pull starts as a first contact.
- A page with ``more`` is followed by the next one at once (``Step.again``), until a page
  without ``more``.
- Of a page, the requester wants the ids of the keys it replicates under its own view
  (``keep``); the others are neither fetched nor waited for.
- Which neighbours a round pulls from (``PollSchedule``): a pull that stored nothing new
  (no write of a key this node replicates that it lacked) doubles the rounds its peer is
  left out, up to ``IDLE_ROUNDS``; a pull that stored something makes the peer due every
  round again, as does the peer coming back up or a change of the view (``wake``). Writes
  reach replicas by their quorum's sends first; catch-up repairs what a send missed, and
  with thousands of neighbours most have nothing for this node most of the time. A pull
  that failed changes nothing (the peer stays due).
- The serving side (``serve_page``) sends its log after ``after`` as ids and receivers,
  leaving out the requester's own forwards (they are on the requester) and the rows of
  keys the requester does not replicate under the server's view. ``next`` and ``more``
  follow the rows scanned, not the rows sent, so a page of filtered rows still moves the
  requester on. Where the two views differ for a while (a registry change reaching one
  node first), a row left out here is found later by anti-entropy, which compares the
  keys both replicate once the views agree.
- It also leaves out the writes the requester acknowledged to this node (``Delivered``):
  a replicated send it answered, after its commit, by saying it holds the write. They are
  on the requester as surely as its own forwards are, and in steady state they are most
  of the log, so a page lists only what a send may have missed. What is known delivered
  lives in memory, per peer, bounded (``DELIVERED_PER_PEER``, ``DELIVERED_TOTAL``): a
  restart or an entry forgotten lists the write again, which costs only traffic; a
  requester moving past a seq (asking after it) drops what is known up to it.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Collection, Container, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DELIVERED_PER_PEER",
    "DELIVERED_TOTAL",
    "IDLE_ROUNDS",
    "Ask",
    "CatchUp",
    "Delivered",
    "Outcome",
    "Page",
    "PollSchedule",
    "Step",
    "serve_page",
]

LogRow = tuple[int, str, str, str | None]  # seq, id, receiver, origin (None: a client)


# log rows per ``peer.sync`` page: the most a node serves in one (``CatchUpShell.serve``).
# A page's writes go to the store as one transaction: 500 -> 1000 (with 8 pages in
# flight instead of 4) took recovery from ~5,800 to ~7,000 writes/s (bench/README.md)
PAGE = 1000


@dataclass(frozen=True, slots=True)
class Ask:
    """The next ``peer.sync`` to send."""

    after: int = 0
    from_top: bool = False
    limit: int = PAGE


@dataclass(frozen=True, slots=True)
class Page:
    """A ``peer.sync`` reply: ``rows`` are ``(id, receiver)``."""

    store_id: str
    rows: Sequence[tuple[str, str]]
    next: int
    more: bool = False


class Outcome(enum.Enum):
    FOLLOW = "follow"  # first contact: the position is the peer's top now
    RESET = "reset"  # the peer's store was replaced: position dropped, compare replicas
    FETCH = "fetch"  # fetch ``wanted`` (those not held), store them, then ``stored``


@dataclass(frozen=True, slots=True)
class Step:
    outcome: Outcome
    wanted: tuple[tuple[str, str], ...] = ()  # (receiver, id): how a store finds a write
    position: tuple[str, int] | None = None  # where ``stored`` moves to
    again: Ask | None = None  # the next page, to ask now (it may be pipelined)


@dataclass
class CatchUp:
    """One peer's catch-up. ``saved``: the position kept on disk, if any."""

    saved: tuple[str, int] | None = None
    limit: int = PAGE
    position: tuple[str, int] | None = field(init=False, default=None)
    _persisted: tuple[str, int] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.position = self.saved
        self._persisted = self.saved

    @property
    def seq(self) -> int | None:
        return self.position[1] if self.position else None

    def ask(self) -> Ask:
        """The first request of a pull: the top on first contact, else the page after
        the position."""
        if self.position is None:
            return Ask(from_top=True, limit=self.limit)
        return Ask(after=self.position[1], limit=self.limit)

    def on_page(self, page: Page, keep: Callable[[str], bool]) -> Step:
        """A reply came; ``keep(receiver)``: whether this node replicates the key."""
        if self.position is None:
            self.position = (page.store_id, page.next)
            return Step(Outcome.FOLLOW, position=self.position)
        known, at = self.position
        if page.store_id != known and at:
            self.position = None
            return Step(Outcome.RESET)
        again = Ask(after=page.next, limit=self.limit) if page.more else None
        wanted = tuple((receiver, i) for i, receiver in page.rows if keep(receiver))
        return Step(Outcome.FETCH, wanted, (page.store_id, page.next), again)

    def stored(self, step: Step) -> bool:
        """The writes ``step`` wanted are stored (or held already): the position may move.
        Returns whether it moved. A step of a store since replaced is ignored."""
        if step.outcome is not Outcome.FETCH or step.position is None or self.position is None:
            return False
        sid, seq = step.position
        known, at = self.position
        if sid == known and seq <= at:
            return False  # an older page, or one that moved nothing
        if sid != known and at:
            return False  # a page of a store replaced since
        self.position = (sid, seq)
        return True

    def to_save(self) -> tuple[str, int] | None:
        """The position to write to disk, when it moved since the last save."""
        if self.position is None or self.position == self._persisted:
            return None
        self._persisted = self.position
        return self.position


# the most rounds a peer whose pulls bring nothing is left out: 8 s at the node's 0.5 s
# (10,000 supernodes, ~1,930 neighbours each: ~240 polls/s per node instead of ~3,860)
IDLE_ROUNDS = 16


@dataclass
class PollSchedule:
    """Which neighbours a catch-up round pulls from (see the module docstring)."""

    round: int = 0
    _idle: dict[str, int] = field(default_factory=dict)  # pulls in a row that stored nothing
    _due: dict[str, int] = field(default_factory=dict)  # the round a peer is due again
    _wakes: int = 0  # wakes of every peer so far
    _woken: dict[str, int] = field(default_factory=dict)  # wakes of one peer so far

    def due(self, peer: str) -> bool:
        return self._due.get(peer, 0) <= self.round

    def begin(self, peer: str) -> tuple[int, int]:
        """A pull from ``peer`` starts: the token its ``pulled`` hands back (a wake while
        it runs outlives its outcome)."""
        return self._wakes, self._woken.get(peer, 0)

    def pulled(self, peer: str, stored: bool, token: tuple[int, int] | None = None) -> None:
        """A pull from ``peer`` (begun with ``token``) ended in this round; ``stored``: it
        stored something. One that stored nothing leaves the peer out for longer, unless
        the peer was woken while it ran (what woke it is newer than what it found)."""
        if stored:
            self.wake(peer)
            return
        if token is not None and token != self.begin(peer):
            return
        idle = self._idle.get(peer, 0) + 1
        self._idle[peer] = idle
        self._due[peer] = self.round + min(1 << idle, IDLE_ROUNDS)

    def next_round(self) -> None:
        self.round += 1

    def wake(self, peer: str | None = None) -> None:
        """``peer`` (every peer: None) is due again from this round on."""
        if peer is None:
            self._wakes += 1
            self._idle.clear()
            self._due.clear()
        else:
            self._woken[peer] = self._woken.get(peer, 0) + 1
            self._idle.pop(peer, None)
            self._due.pop(peer, None)


# what a node remembers of the writes its peers acknowledged (``Delivered``): at 5,000
# writes/s sent to two peers that poll every 0.5 s, a peer has ~2,500 entries at a time
DELIVERED_PER_PEER = 16_384
DELIVERED_TOTAL = 262_144


class Delivered:
    """The seqs of this node's log each peer acknowledged holding (see the module
    docstring): ``add`` when a peer answers a replicated send as stored, ``of(peer)`` to
    leave them out of its pages, ``passed(peer, after)`` when it asks after ``after``."""

    def __init__(self, per_peer: int = DELIVERED_PER_PEER, total: int = DELIVERED_TOTAL) -> None:
        self.per_peer, self.total = per_peer, total
        # per peer: the seqs in the order they were acknowledged (about seq order), and
        # the same seqs as a set; a deque, since a dict deleted from its front rescans
        # the deleted slots on every ``next(iter(...))`` until it resizes
        self._order: dict[str, deque[int]] = {}
        self._known: dict[str, set[int]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, peer: str, seq: int) -> None:
        known = self._known.get(peer)
        if known is None:
            known = self._known[peer] = set()
            self._order[peer] = deque()
        elif seq in known:
            return
        order = self._order[peer]
        known.add(seq)
        order.append(seq)
        self._count += 1
        if len(order) > self.per_peer:  # the oldest forgotten: listed again
            known.discard(order.popleft())
            self._count -= 1
        if self._count > self.total:  # a peer that stopped asking: forget it
            largest = max(self._order, key=lambda p: len(self._order[p]))
            self.forget(largest)

    def of(self, peer: str) -> Collection[int]:
        return self._known.get(peer, ())

    def passed(self, peer: str, after: int) -> None:
        """``peer`` asks for the log after ``after``: it holds what it wanted up to there."""
        order = self._order.get(peer)
        if not order:
            return
        known = self._known[peer]
        while order and order[0] <= after:  # from the oldest (acks land about in order)
            known.discard(order.popleft())
            self._count -= 1

    def forget(self, peer: str) -> None:
        self._count -= len(self._order.pop(peer, ()))
        self._known.pop(peer, None)

    def keep_only(self, peers: Container[str]) -> None:
        """Forget the peers not in ``peers`` (those a registry change removed)."""
        for p in [p for p in self._order if p not in peers]:
            self.forget(p)


def serve_page(
    rows: Sequence[LogRow],
    requester: str,
    after: int,
    limit: int,
    replicates: Callable[[str], bool],
    delivered: Container[int] = (),
) -> tuple[list[tuple[str, str]], int, bool]:
    """The serving side of one page: ``rows`` are up to ``limit`` log rows after ``after``
    (in seq order); ``replicates(receiver)``: whether the requester replicates the key,
    under this (the serving) node's view; ``delivered``: the seqs it acknowledged holding
    (``Delivered.of``). Returns ``(id, receiver)`` rows, ``next``, ``more``."""
    sent = [
        (i, r)
        for seq, i, r, origin in rows
        if origin != requester and seq not in delivered and replicates(r)
    ]
    return sent, rows[-1][0] if rows else after, len(rows) >= limit
