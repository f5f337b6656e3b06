"""Anti-entropy's waits for catch-up (``replication/deferral.py``), the rule the node and
the simulator both hold one ``Deferral`` of."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flocloud.replication.deferral import DEFER_ROUNDS, Deferral


def test_rounds_wait_a_bounded_number_of_times_then_one_runs_to_its_end() -> None:
    d = Deferral()
    assert [d.begin_round(True, ()) for _ in range(DEFER_ROUNDS)] == [None] * DEFER_ROUNDS
    assert d.begin_round(True, ()) == set()  # forced: it runs
    assert not d.waits(True)  # a peer's comparison is answered meanwhile
    assert not d.cut_short(True, "p", ())  # the backlog was there when it began
    d.end_round()
    assert d.waits(True) and d.begin_round(True, ()) is None  # waits again, counted anew
    assert d.begin_round(False, ()) == set() and not d.waits(False)


def test_a_round_is_cut_short_only_by_what_began_since() -> None:
    d = Deferral()
    assert d.begin_round(False, {"a"}) == {"a"}
    assert not d.cut_short(False, "b", {"a"})
    assert d.cut_short(True, "b", {"a"})  # catch-up began on a backlog since
    assert d.cut_short(False, "b", {"a", "b"})  # b began paging through ours since
    d.end_round()


def test_a_peer_that_stops_paging_starts_a_new_count() -> None:
    d = Deferral()
    for _ in range(DEFER_ROUNDS - 1):
        assert d.begin_round(False, {"a"}) == {"a"}
        d.end_round()
    assert d.begin_round(False, ()) == set()  # a stopped paging: forgotten
    d.end_round()
    for _ in range(DEFER_ROUNDS):
        assert d.begin_round(False, {"a"}) == {"a"}
        d.end_round()
    assert d.begin_round(False, {"a"}) == set()  # then it is compared with anyway


@given(st.lists(st.tuples(st.booleans(), st.sets(st.sampled_from("abc"))), max_size=200))
def test_no_wait_and_no_leaving_out_lasts_beyond_the_bound(
    rounds: list[tuple[bool, set[str]]],
) -> None:
    """Against the rule read directly: whatever catch-up does, never more than
    ``DEFER_ROUNDS`` rounds in a row wait, and a peer paging through our backlog all
    along is never left out of more than ``DEFER_ROUNDS`` rounds that run in a row."""
    d = Deferral()
    waits_in_a_row = 0
    left_in_a_row: dict[str, int] = {}
    for behind, paging in rounds:
        skip = d.begin_round(behind, paging)
        if skip is None:
            waits_in_a_row += 1
            assert behind and waits_in_a_row <= DEFER_ROUNDS
            continue
        assert not behind or waits_in_a_row == DEFER_ROUNDS  # runs only when forced
        waits_in_a_row = 0
        assert skip <= paging
        for p in "abc":
            if p in paging and p not in skip:  # compared with: only when forced
                assert left_in_a_row.get(p, 0) == DEFER_ROUNDS
            left_in_a_row[p] = left_in_a_row.get(p, 0) + 1 if p in skip else 0
            assert left_in_a_row[p] <= DEFER_ROUNDS
        d.end_round()


def test_rounds_cut_short_again_and_again_end_in_one_that_runs_to_its_end() -> None:
    """A backlog that starts during every round cuts each short; those count as waits,
    so after ``DEFER_ROUNDS`` of them a round runs whatever starts meanwhile."""
    d = Deferral()
    for _ in range(DEFER_ROUNDS):
        assert d.begin_round(False, ()) == set()
        assert d.cut_short(True, "p", ())
        d.end_round()
    assert d.waited == DEFER_ROUNDS
    assert d.begin_round(False, ()) == set()
    assert not d.cut_short(True, "p", ()) and not d.cut_short(False, "p", {"p"})
    d.end_round()
    assert d.waited == 0
