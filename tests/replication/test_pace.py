"""ComparePace (replication/pace.py): when anti-entropy compares with a peer."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.fingerprint import Fingerprint
from flocloud.replication.pace import MAX_SKIP, ComparePace

A = Fingerprint(3, 11, 12)
B = Fingerprint(4, 21, 22)


def rounds_compared(pace: ComparePace, peer: str, root: Fingerprint, n: int) -> list[int]:
    """Run ``n`` rounds in which every comparison finds ``peer`` equal; which compared."""
    out = []
    for r in range(n):
        if pace.due(peer, root):
            out.append(r)
            pace.equal(peer, root)
    return out


def test_a_new_peer_is_due_every_round_until_found_equal():
    pace = ComparePace()
    assert all(pace.due("p", A) for _ in range(5))


def test_equal_peers_back_off_doubling_to_the_cap():
    got = rounds_compared(ComparePace(), "p", A, 200)
    gaps = [b - a for a, b in itertools.pairwise(got)]
    assert gaps[:4] == [2, 4, 8, 16]
    assert set(gaps[4:]) == {MAX_SKIP + 1}


def test_a_moved_root_makes_the_peer_due_at_once():
    pace = ComparePace()
    rounds_compared(pace, "p", A, 100)
    assert not pace.due("p", A)
    assert pace.due("p", B)  # a shared write stored here, a drop, a rebuild
    pace.equal("p", B)
    assert not pace.due("p", B)  # the streak starts over: one round left out
    assert pace.due("p", B)


def test_a_difference_or_a_request_with_another_root_makes_it_due():
    pace = ComparePace()
    rounds_compared(pace, "p", A, 100)
    assert not pace.due("p", A)
    pace.differ("p")
    assert pace.due("p", A) and pace.due("p", A)


def test_peers_are_paced_apart_and_forgotten():
    pace = ComparePace()
    rounds_compared(pace, "p", A, 50)
    assert pace.due("q", A)
    assert not pace.due("p", A)  # backing off (its last comparison was 4 rounds ago)
    pace.forget({"q"})
    assert pace.due("p", A)


events = st.lists(
    st.sampled_from(["equal", "differ", "moved", "asked", "none"]), min_size=1, max_size=300
)


@settings(max_examples=200, deadline=None)
@given(events)
def test_every_peer_is_compared_within_the_bound_and_at_once_after_a_change(seq):
    """Whatever the comparisons find: a peer is never left out more than MAX_SKIP rounds
    in a row, and never at the round after its root moved or a difference was seen."""
    pace = ComparePace()
    root, version, left_out, must = A, 0, 0, False
    for ev in seq:
        if ev == "moved":
            version += 1
            root = Fingerprint(version, version, version)
            must = True
        elif ev == "asked":
            pace.differ("p")
            must = True
        due = pace.due("p", root)
        assert due or not must
        left_out = 0 if due else left_out + 1
        assert left_out <= MAX_SKIP
        if due:
            must = False
            if ev in ("equal", "none", "moved"):
                pace.equal("p", root)
            else:
                pace.differ("p")
                must = True
