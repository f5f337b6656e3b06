"""``replication.lacking``: whom a node behind a client's cursor asks, when the answers
settle it, and what follows a fetch round."""

from __future__ import annotations

from flocloud.replication.lacking import ROUNDS, Next, after_round, ask, settled

A = (("sa", 3, 5),)
TWO = (("sa", 3, 5), ("sb", 1, 1))


def test_ask_the_replicas_and_the_members_running_an_origin_once() -> None:
    stores = {"n1": "sa", "n4": "sb", "gone": "sa", "n2": "s2"}
    members = {"me", "n1", "n2", "n3", "n4"}
    assert ask(TWO, ["me", "n2", "n1"], stores, members, "me") == ["n2", "n1", "n4"]
    assert ask(A, ["me"], {}, members, "me") == []


def test_settled_only_when_all_answered_and_each_origin_is_accounted_for() -> None:
    members = {"me", "n1", "n2"}
    holders = ["me", "n1", "n2"]
    known = {"n1": "sa", "n2": "s2"}
    assert settled(A, True, known, members, holders, "me", "smine")  # its node was asked
    assert not settled(A, False, known, members, holders, "me", "smine")
    # an origin nobody is known to run: settled only if every holder's store is known
    assert settled(TWO, True, known, members, holders, "me", "smine")
    assert not settled(TWO, True, {"n1": "sa"}, members, holders, "me", "smine")
    # its own store's dots it lacks (dropped by a hand-off): the replicas were asked
    assert settled((("smine", 1, 2),), True, {}, members, ["me"], "me", "smine")
    # a store of a removed node does not count as run by a member
    assert not settled(A, True, {"gone": "sa"}, members, ["me", "n1"], "me", "x")


def test_an_unknown_store_is_gone_only_after_views_had_time_to_agree() -> None:
    """Seed 110296: a node whose view lags knows every holder of its own view and none runs
    the new member's store; taking it for gone at once answered a write a second time."""
    members = {"me", "n1", "n2"}
    holders = ["me", "n1", "n2"]
    known = {"n1": "s1", "n2": "s2"}  # nobody known runs "sa"
    since: dict[str, float] = {}
    assert not settled(A, True, known, members, holders, "me", "smine", since, 100.0, 3.0)
    assert since == {"sa": 100.0}  # first found unaccounted for now
    assert not settled(A, True, known, members, holders, "me", "smine", since, 102.9, 3.0)
    assert settled(A, True, known, members, holders, "me", "smine", since, 103.0, 3.0)
    # the view caught up and lists the member running it: settled by asking it, not gone
    assert settled(A, True, {**known, "n3": "sa"}, members | {"n3"}, holders, "me", "x", {}, 0, 3)
    # not all answered, or a holder unknown: never gone, however long
    assert not settled(A, False, known, members, holders, "me", "smine", since, 1e9, 3.0)
    assert not settled(A, True, {"n1": "s1"}, members, holders, "me", "smine", since, 1e9, 3.0)
    assert since == {}  # judged with a holder unknown: its wait starts over


def test_the_waits_of_several_unknown_stores_run_at_once_and_start_over() -> None:
    """Two stores nobody known runs: both are gone ``gone_after`` after they were first
    found so (not one wait after the other); one that a member runs meanwhile is dropped,
    and found unaccounted for again it waits anew."""
    members = {"me", "n1"}
    holders = ["me", "n1"]
    known = {"n1": "s1"}
    since: dict[str, float] = {}
    assert not settled(TWO, True, known, members, holders, "me", "smine", since, 0.0, 3.0)
    assert since == {"sa": 0.0, "sb": 0.0}
    assert settled(TWO, True, known, members, holders, "me", "smine", since, 3.0, 3.0)
    runs_sb = {"n1": "s1", "n2": "sb"}
    assert settled(TWO, True, runs_sb, members | {"n2"}, holders, "me", "x", since, 4.0, 3.0)
    assert since == {"sa": 0.0}  # sb is accounted for: no longer waiting
    assert not settled(TWO, True, known, members, holders, "me", "smine", since, 5.0, 3.0)
    assert since == {"sa": 0.0, "sb": 5.0}  # sb unaccounted for again: a new wait


def test_after_round() -> None:
    assert after_round(A, (), False, 1) is Next.ANSWER
    assert after_round(A, A, True, 1) is Next.ANSWER  # no holder has them
    assert after_round(A, A, False, 1) is Next.REFUSE  # someone did not answer
    fewer = (("sa", 4, 5),)
    assert after_round(A, fewer, False, 1) is Next.AGAIN
    assert after_round(A, fewer, True, ROUNDS) is Next.REFUSE  # still coming: not now
