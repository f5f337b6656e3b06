"""The failure detector's rule (``replication/heartbeat.py``), which the node and the
simulator both run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flocloud.replication.heartbeat import FailureDetector


def test_refused_marks_down_at_once_and_an_answer_brings_it_back() -> None:
    d = FailureDetector(down_for=3.0)
    assert d.is_up("p", 0.0)
    assert d.failed("p", 10.0, slow=False)
    assert not d.is_up("p", 10.0) and not d.is_up("p", 12.9)
    assert d.is_up("p", 13.0)  # down_for after the failure that marked it
    assert d.failed("p", 20.0, slow=False)
    d.answered("p")  # before down_for ran out
    assert d.is_up("p", 20.1)
    assert d.is_up("q", 20.1)  # others untouched


def test_one_slow_answer_is_not_down_two_in_a_row_are() -> None:
    d = FailureDetector(down_for=3.0)
    assert not d.failed("p", 1.0, slow=True) and d.is_up("p", 1.0)
    assert d.failed("p", 2.0, slow=True) and not d.is_up("p", 2.0)
    d.answered("p")
    assert not d.failed("p", 3.0, slow=True) and d.is_up("p", 3.0)  # the count started over


@given(st.lists(st.sampled_from(["ok", "slow", "refused"]), max_size=30))
def test_down_exactly_as_the_rule_says(outcomes: list[str]) -> None:
    """Against a direct reading of the rule: after each outcome the peer is down iff the
    last outcome was a refusal, or a slow answer right after another failure."""
    d = FailureDetector(down_for=100.0)
    failures_in_a_row = 0
    down = False
    for t, outcome in enumerate(outcomes):
        if outcome == "ok":
            d.answered("p")
            failures_in_a_row, down = 0, False
        else:
            failures_in_a_row += 1
            marked = d.failed("p", float(t), slow=outcome == "slow")
            assert marked == (outcome == "refused" or failures_in_a_row >= 2)
            down = down or marked
        assert d.is_up("p", float(t)) is not down
