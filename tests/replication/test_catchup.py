"""Catch-up paging (``replication/catchup.py``), driven by hand and against a model log."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.replication.catchup import (
    IDLE_ROUNDS,
    Ask,
    CatchUp,
    Delivered,
    Outcome,
    Page,
    PollSchedule,
    serve_page,
)

ME = "me"


def keep_all(_: str) -> bool:
    return True


def test_first_contact_follows_from_the_top() -> None:
    cu = CatchUp()
    assert cu.ask() == Ask(from_top=True)
    step = cu.on_page(Page("s1", [], 40), keep_all)
    assert step.outcome is Outcome.FOLLOW and step.again is None
    assert cu.position == ("s1", 40)
    assert cu.to_save() == ("s1", 40)
    assert cu.to_save() is None  # saved once
    assert cu.ask() == Ask(after=40)


def test_the_position_moves_only_once_the_wanted_writes_are_stored() -> None:
    cu = CatchUp(("s1", 10), limit=2)
    assert cu.ask() == Ask(after=10, limit=2)
    assert cu.to_save() is None  # what is on disk already
    step = cu.on_page(Page("s1", [("a", "k1"), ("b", "k2")], 12, more=True), lambda r: r == "k1")
    assert step.outcome is Outcome.FETCH and step.wanted == (("k1", "a"),)
    assert step.again == Ask(after=12, limit=2)  # the next page may be asked at once
    assert cu.position == ("s1", 10) and cu.to_save() is None  # not stored yet
    assert cu.stored(step)
    assert cu.position == ("s1", 12) and cu.to_save() == ("s1", 12)


def test_pipelined_pages_advance_in_order_and_never_back() -> None:
    cu = CatchUp(("s1", 0))
    first = cu.on_page(Page("s1", [("a", "k")], 5, more=True), keep_all)
    second = cu.on_page(Page("s1", [("b", "k")], 9), keep_all)
    assert second.again is None
    assert cu.stored(second)
    assert not cu.stored(first)  # older: the position stays at 9
    assert cu.position == ("s1", 9)


def test_a_replaced_store_resets_the_position() -> None:
    cu = CatchUp(("old", 50))
    step = cu.on_page(Page("new", [("a", "k")], 3), keep_all)
    assert step.outcome is Outcome.RESET and step.wanted == ()
    assert cu.position is None
    assert cu.ask().from_top  # then followed as a first contact
    assert cu.on_page(Page("new", [], 3), keep_all).outcome is Outcome.FOLLOW
    assert cu.to_save() == ("new", 3)


def test_a_stale_step_of_a_replaced_store_moves_nothing() -> None:
    cu = CatchUp(("old", 5))
    step = cu.on_page(Page("old", [("a", "k")], 8, more=True), keep_all)
    cu.on_page(Page("new", [], 2), keep_all)  # reset
    cu.on_page(Page("new", [], 2), keep_all)  # follow the new store
    assert not cu.stored(step)
    assert cu.position == ("new", 2)


def test_at_position_zero_another_store_id_is_adopted() -> None:
    cu = CatchUp(("old", 0))
    step = cu.on_page(Page("new", [("a", "k")], 1), keep_all)
    assert step.outcome is Outcome.FETCH
    assert cu.stored(step) and cu.position == ("new", 1)


def test_serving_leaves_out_the_requesters_forwards_and_keys_it_does_not_replicate() -> None:
    rows = [(1, "a", "k1", None), (2, "b", "k1", ME), (3, "c", "k2", "x"), (4, "d", "k1", "x")]
    sent, nxt, more = serve_page(rows, ME, 0, 4, lambda r: r == "k1")
    assert sent == [("a", "k1"), ("d", "k1")]
    assert (nxt, more) == (4, True)  # next and more follow the rows scanned
    assert serve_page([], ME, 7, 4, keep_all) == ([], 7, False)
    # a page of rows all left out still moves the requester on
    assert serve_page(rows[1:3], ME, 1, 2, lambda r: r == "k1") == ([], 3, True)


def test_serving_leaves_out_what_the_requester_acknowledged() -> None:
    rows = [(1, "a", "k1", None), (2, "b", "k1", "x"), (3, "c", "k1", None), (4, "d", "k1", "x")]
    delivered = Delivered()
    delivered.add(ME, 2)
    delivered.add(ME, 3)
    delivered.add("other", 4)  # another peer's acknowledgement says nothing of this one
    sent, nxt, more = serve_page(rows, ME, 0, 4, keep_all, delivered.of(ME))
    assert sent == [("a", "k1"), ("d", "k1")]
    assert (nxt, more) == (4, True)  # rows left out still move the requester on
    assert serve_page(rows, "nobody", 0, 4, keep_all, delivered.of("nobody"))[0] == [
        (i, r) for _, i, r, _ in rows
    ]


def test_what_is_known_delivered_stays_bounded() -> None:
    d = Delivered(per_peer=3, total=5)
    for seq in range(1, 6):
        d.add("p", seq)
    assert [s for s in range(1, 6) if s in d.of("p")] == [3, 4, 5]  # the oldest forgotten
    assert len(d) == 3
    d.add("p", 5)  # again: counted once
    assert len(d) == 3
    d.add("q", 10)
    d.add("q", 11)
    assert len(d) == 5
    d.add("q", 12)  # over the total: the largest peer is forgotten (a tie: the first)
    assert len(d) == 3 and 4 not in d.of("p") and 12 in d.of("q")
    d.passed("q", 11)  # it asks after 11: what it acknowledged up to there is dropped
    assert [s for s in (10, 11, 12) if s in d.of("q")] == [12] and len(d) == 1
    d.add("r", 1)
    d.keep_only({"r"})  # a registry change removed q
    assert 12 not in d.of("q") and 1 in d.of("r") and len(d) == 1


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 6), st.floats(0, 0.5))
def test_following_a_growing_log_through_crashes_misses_nothing(
    seed: int, limit: int, crash: float
) -> None:
    """Against a log that grows meanwhile, with crashes between a page and its store
    (the position on disk survives, nothing else): once a pull ends on a page without
    ``more``, every write after the first contact that this node replicates, and did not
    forward itself, is stored here; a saved position never covers a write not stored."""
    rnd = random.Random(seed)
    log: list[tuple[int, str, str, str | None]] = []
    held: set[str] = set()
    delivered = Delivered(per_peer=rnd.choice([2, 1000]))  # forgetting lists them again

    def grow(n: int) -> None:
        for _ in range(n):
            seq = len(log) + 1
            log.append((seq, f"w{seq}", rnd.choice("ab"), rnd.choice([None, ME, "x"])))
            if rnd.random() < 0.4:  # sent here and acknowledged: it is held here
                held.add(f"w{seq}")
                delivered.add(ME, seq)

    def keep(r: str) -> bool:
        return r == "a"

    def serve(ask: Ask) -> Page:
        if ask.from_top:
            return Page("s", [], len(log))
        rows = [r for r in log if r[0] > ask.after][: ask.limit]
        delivered.passed(ME, ask.after)
        sent, nxt, more = serve_page(
            rows, ME, ask.after, ask.limit, lambda r: True, delivered.of(ME)
        )
        return Page("s", sent, nxt, more)

    grow(rnd.randint(0, 10))
    top = len(log)
    disk: tuple[str, int] | None = None
    cu = CatchUp(disk, limit=limit)

    def pull(crash: float, growth: int = 1) -> bool:
        """One pull; False if it crashed."""
        nonlocal cu, disk, top
        ask = cu.ask()
        while True:
            step = cu.on_page(serve(ask), keep)
            if step.outcome is Outcome.FOLLOW:  # catch-up answers for what follows
                assert step.position is not None
                top = step.position[1]
            if rnd.random() < crash:  # the fetch never happened
                cu = CatchUp(disk, limit=limit)
                return False
            held.update(i for _, i in step.wanted)
            cu.stored(step)
            if (pos := cu.to_save()) is not None:
                disk = pos
                covered = {i for s, i, r, o in log if top < s <= pos[1] and keep(r) and o != ME}
                assert covered <= held
            if step.again is None:
                return True
            ask = step.again
            grow(rnd.randint(0, growth))

    for _ in range(30):
        pull(crash)
        grow(rnd.randint(0, 3))
    for _ in range(len(log) + 10):  # each quiet pull pages on: bounded, never a hang
        if pull(0.0, growth=0) and cu.seq == len(log):
            break
    else:
        raise AssertionError(f"catch-up never reached the top: {cu.seq} of {len(log)}")
    want = {i for s, i, r, o in log if s > top and keep(r) and o != ME}
    assert want <= held
    assert cu.position == ("s", len(log))


def test_idle_peers_are_pulled_from_less_often_never_less_than_the_cap() -> None:
    """A pull that stores nothing doubles the rounds its peer is left out (2, 4, 8, 16,
    then 16 again); one that stores something, a wake of that peer or of all, makes it due
    every round again."""
    s = PollSchedule()
    pulled_at: list[int] = []
    for _ in range(80):
        if s.due("p"):
            pulled_at.append(s.round)
            s.pulled("p", stored=False)
        s.next_round()
    gaps = [b - a for a, b in itertools.pairwise(pulled_at)]
    assert gaps[:5] == [2, 4, 8, 16, 16] and max(gaps) == IDLE_ROUNDS
    s.pulled("p", stored=True)
    assert s.due("p")  # what it stored says more may come
    s.pulled("p", stored=False)
    assert not s.due("p") and s.due("q")  # another peer is due as ever
    s.wake("p")
    assert s.due("p")
    s.pulled("p", stored=False)
    s.wake()
    assert s.due("p")


@given(st.lists(st.sampled_from(["idle", "stored", "failed", "wake"]), max_size=120))
def test_a_peer_is_never_left_out_longer_than_the_cap(events: list[str]) -> None:
    s = PollSchedule()
    last = 0
    for ev in events:
        if s.due("p"):
            last = s.round
            if ev == "idle":
                s.pulled("p", stored=False)
            elif ev == "stored":
                s.pulled("p", stored=True)
                assert s.due("p")
            # "failed": the pull raised, nothing recorded
        if ev == "wake":
            s.wake("p")
            assert s.due("p")
        assert s.round - last <= IDLE_ROUNDS
        s.next_round()


def test_a_wake_while_a_pull_runs_outlives_what_the_pull_found() -> None:
    """The peer came back up (or placement moved) while a pull that will store nothing
    was running: the wake wins, the peer stays due."""
    for wake_all in (False, True):
        s = PollSchedule()
        s.pulled("p", stored=False)
        s.next_round()
        s.next_round()
        assert s.due("p")
        token = s.begin("p")
        s.wake(None if wake_all else "p")
        s.pulled("p", stored=False, token=token)
        assert s.due("p")
        s.pulled("p", stored=False, token=s.begin("p"))  # no wake meanwhile: left out
        assert not s.due("p")
