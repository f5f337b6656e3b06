"""The sans-I/O replication core, driven by hand: quorum decisions, subscription phases,
shared roots. No sockets, no clock."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.cursor import Cursor
from flocloud.protocol.fingerprint import Fingerprint
from flocloud.replication.quorum import Decision, WriteQuorum
from flocloud.replication.shared import SharedDigests
from flocloud.replication.subscription import Subscription, SubscriptionPhase


def test_quorum_answers_ok_only_at_w_and_brings_in_stand_ins() -> None:
    q = WriteQuorum(["r2", "r3", "s1", "s2"], width=2, need=1)
    assert q.start(down={"r2"}) == ["r3", "s1"]  # a stand-in for the replica marked down
    assert q.decision is Decision.PENDING
    assert q.on_result("r3", False, down={"r2"}) == ["s2"]  # a failure brings the next up
    assert q.on_result("s2", False, down={"r2"}) == ["r2"]  # then the stale-marked one
    assert q.decision is Decision.PENDING
    assert q.on_result("r2", True) == []
    assert q.decision is Decision.OK and q.copies == 2
    assert not q.finished
    q.on_result("s1", True)
    assert q.finished and q.copies == 3


def test_quorum_is_short_when_every_candidate_failed_or_time_is_up() -> None:
    q = WriteQuorum(["a", "b"], width=2, need=1)
    q.start()
    q.on_result("a", False)
    assert q.decision is Decision.PENDING
    q.on_result("b", False)
    assert q.decision is Decision.SHORT and q.copies == 1
    late = WriteQuorum(["a", "b", "c"], width=2, need=2)
    late.start()
    late.on_result("a", True)
    late.give_up()
    assert late.decision is Decision.SHORT
    assert late.on_result("b", False) == []  # no new sends after the deadline


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 5), st.integers(0, 4))
def test_quorum_never_ok_below_w(seed: int, n: int, extra: int) -> None:
    """Whatever the outcomes, OK means W-1 peers acked, SHORT means fewer, and each
    candidate is sent to at most once."""
    rnd = random.Random(seed)
    cands = [f"p{i}" for i in range(n - 1 + extra)]
    w = rnd.randint(1, n)
    q = WriteQuorum(cands, width=n - 1, need=w - 1)
    inflight = list(q.start({c for c in cands if rnd.random() < 0.3}))
    sent = list(inflight)
    while inflight:
        p = inflight.pop(rnd.randrange(len(inflight)))
        nxt = q.on_result(p, rnd.random() < 0.6)
        inflight += nxt
        sent += nxt
    assert len(sent) == len(set(sent))
    if q.decision is Decision.OK:
        assert len(q.acked) >= w - 1
    else:
        assert q.decision is Decision.SHORT and len(q.acked) < w - 1


class _Asked(set[str]):
    """A set of down peers that counts how often each is asked about."""

    def __init__(self, down: set[str]) -> None:
        super().__init__(down)
        self.asked: list[str] = []

    def __contains__(self, peer: object) -> bool:
        self.asked.append(str(peer))
        return super().__contains__(peer)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.integers(0, 6), st.integers(1, 6), st.sets(st.integers(0, 11)))
def test_quorum_start_sends_the_first_up_then_the_marked(
    width: int, extra: int, need: int, down_at: set[int]
) -> None:
    """The first sends are the first ``max(width, need)`` candidates marked up, then the
    marked ones in preference order; each candidate's mark is asked at most once, and
    none after enough were found up."""
    cands = [f"p{i}" for i in range(width + extra)]
    down = _Asked({cands[i] for i in down_at if i < len(cands)})
    first = WriteQuorum(cands, width=width, need=need).start(down)
    wanted = max(width, need)
    up = [c for c in cands if not set.__contains__(down, c)]
    marked = [c for c in cands if set.__contains__(down, c)]
    assert first == (up + marked)[:wanted]
    assert len(down.asked) == len(set(down.asked))
    if len(up) >= wanted:  # the scan stopped at the last of them
        assert down.asked == cands[: cands.index(up[wanted - 1]) + 1]


def test_subscription_delivers_each_write_once_in_any_order() -> None:
    sub: Subscription[str] = Subscription(Cursor().add([("o", 1)]), max_buffer=10)
    assert sub.on_commit("w3", [("o", 3)], True) is None  # stored phase: buffered
    assert sub.on_commit("w1", [("o", 1)], True) is None
    sub.stored_page(Cursor().add([("o", 1), ("o", 2)]))
    assert sub.on_commit("w4", [("o", 4)], True) is None
    pushed = sub.end_stored()  # w1 was covered already
    assert [w for w, _ in pushed] == ["w3", "w4"]
    # each carries the cursor just after it: resuming from w3's does not skip w4
    assert pushed[0][1].covers(("o", 3)) and not pushed[0][1].covers(("o", 4))
    assert sub.phase is SubscriptionPhase.LIVE
    assert sub.on_commit("w0", [("p", 1)], True) == "w0"  # a lower, later arrival: pushed
    assert sub.on_commit("w0", [("p", 1)], True) is None  # once
    assert sub.on_commit("x", [("o", 5)], False) is None  # not matching, but covered now
    assert sub.cursor.entries == (("o", 5, ()), ("p", 1, ()))


def test_subscription_closes_instead_of_growing() -> None:
    sub: Subscription[int] = Subscription(Cursor(), max_buffer=3)
    for i in range(4):
        sub.on_commit(i, [("o", i + 1)], True)
    assert sub.phase is SubscriptionPhase.CLOSED
    assert sub.end_stored() == []


def test_shared_roots_follow_writes_and_drops() -> None:
    """The incremental roots equal a rebuild from scratch; foreign keys come round-robin."""
    place = {"k1": ("me", "a"), "k2": ("me", "b"), "k3": ("a", "b"), "k4": ("me", "a", "b")}
    fps = {k: Fingerprint(1, i, 2 * i) for i, k in enumerate(place, 1)}
    s = SharedDigests("me")
    s.rebuild([("k1", fps["k1"])], place.__getitem__)
    for k in ("k2", "k3", "k4"):
        s.add(k, fps[k], place.__getitem__)
    exact = SharedDigests("me")
    exact.rebuild(fps.items(), place.__getitem__)
    assert all(s.root(p) == exact.root(p) for p in "ab")
    assert s.root("a") == fps["k1"] + fps["k4"] and s.foreign == {"k3"}
    s.drop("k4", fps["k4"], place.__getitem__, gone=True)
    assert s.root("a") == fps["k1"]
    s.add("k5", Fingerprint(1, 1, 1), lambda k: ("x",))
    assert s.next_foreign(1) == ["k3"] and s.next_foreign(1) == ["k5"]
    assert s.next_foreign(5) == ["k3", "k5"]
    assert [s.round() for _ in range(10)][-1] is True  # an exact rebuild every 10 rounds
