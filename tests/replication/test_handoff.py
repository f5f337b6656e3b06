"""Hand-off plans (``replication/handoff.py``): when a stand-in may drop a foreign key."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.replication.handoff import Confirmation, PeerCheck, due

REPS = ("r1", "r2", "r3")


def up(_: str) -> bool:
    return True


def test_due_only_after_the_grace_and_with_a_registry() -> None:
    assert not due(False, 100.0, 0.0, 10.0)
    assert not due(True, 5.0, 0.0, 10.0)
    assert due(True, 10.0, 0.0, 10.0)


def test_confirmed_when_every_replica_holds_everything_after_one_push() -> None:
    c = Confirmation.start(REPS, 3, up, ["a", "b"])
    assert c.targets() == list(REPS)
    assert c.on_compare("r1", [], True) == []
    assert c.on_compare("r2", ["b"], True) == ["b"]  # push, then compare again
    assert c.checks["r2"] is PeerCheck.PUSHED and not c.finished
    assert c.on_compare("r2", [], True) == []
    assert not c.confirmed
    c.on_compare("r3", [], True)
    assert c.finished and c.confirmed
    assert c.may_drop("me", REPS) and c.ids == ("a", "b")
    assert not c.may_drop("me", ("r1", "r2", "r4"))  # the view moved meanwhile
    assert not c.may_drop("r1", REPS)  # this node became a replica


def test_never_confirmed_with_a_replica_down_but_the_live_ones_are_pushed_to() -> None:
    c = Confirmation.start(REPS, 3, lambda p: p != "r2", ["a"])
    assert c.targets() == ["r1", "r3"]  # live replicas still get what they lack
    assert c.on_compare("r1", ["a"], True) == ["a"]
    c.on_compare("r1", [], True)
    c.on_compare("r3", [], True)
    assert c.finished and not c.confirmed and not c.may_drop("me", REPS)


def test_a_replica_that_still_lacks_writes_or_is_not_one_fails() -> None:
    c = Confirmation.start(REPS, 3, up)
    c.on_compare("r1", ["a"], True)
    assert c.on_compare("r1", ["a"], True) == []  # at most one push
    assert c.checks["r1"] is PeerCheck.FAILED
    c.on_compare("r2", [], False)  # says it is not a replica (its view differs)
    assert c.checks["r2"] is PeerCheck.FAILED
    c.on_failure("r3")
    assert c.finished and not c.confirmed
    assert c.on_compare("r3", [], True) == [] and c.checks["r3"] is PeerCheck.FAILED
    assert not Confirmation.start(("r1", "r2"), 3, up).confirmed  # fewer than N replicas


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32))
def test_confirmed_exactly_when_every_replica_was_live_and_ended_with_nothing_extra(
    seed: int,
) -> None:
    rnd = random.Random(seed)
    live = {p: rnd.random() < 0.85 for p in REPS}
    c = Confirmation.start(REPS, 3, live.__getitem__, ["x"])
    good = all(live.values())
    for p in c.targets():
        lacks = rnd.random() < 0.4
        replica = rnd.random() < 0.9
        if rnd.random() < 0.1:
            c.on_failure(p)
            good = False
            continue
        push = c.on_compare(p, ["x"] if lacks else [], replica)
        if push:
            stuck = rnd.random() < 0.2  # the push did not land
            c.on_compare(p, ["x"] if stuck else [], replica)
            good = good and not stuck
        good = good and replica
    assert c.finished
    assert c.confirmed == good
