"""Epoch fencing of strict objects' rounds: joint majorities and the acceptor's fence."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.paxos import (
    AcceptorState,
    Promise,
    Proposer,
    Quorum,
    fence,
    on_accept,
    on_prepare,
)

OLD = ("a", "b", "c")  # an object's acceptors before a registry change
NEW = ("a", "b", "d")  # after it: d joined, c left the object's replica set


def test_a_quorum_without_change_is_one_majority() -> None:
    q = Quorum.of(OLD)
    assert not q.joint and q.members == OLD and q.current == OLD
    assert Quorum.of(OLD, OLD) == q and Quorum.of(OLD, ()) == q
    assert q.reached(frozenset("ab")) and not q.reached(frozenset("a"))
    assert q.out_of_reach(frozenset("bc")) and not q.out_of_reach(frozenset("c"))
    with pytest.raises(ValueError):
        Quorum.of(())


def test_a_joint_quorum_needs_a_majority_of_each_set() -> None:
    q = Quorum.of(NEW, OLD)
    assert q.joint and q.members == ("a", "b", "c", "d") and q.current == NEW
    assert q.reached(frozenset("ab"))  # a majority of both
    assert not q.reached(frozenset("ad"))  # of NEW only: the old majority {b, c} is missed
    assert not q.reached(frozenset("bc"))  # of OLD only
    assert q.reached(frozenset("acd"))
    assert q.out_of_reach(frozenset("bd")) and not q.out_of_reach(frozenset("d"))


def test_the_fence_refuses_another_epoch_or_other_acceptors() -> None:
    epoch = {"height": 7, "hash": "ab"}
    assert fence(epoch, NEW, dict(epoch), list(NEW)) is None
    assert fence(epoch, NEW, epoch, ["d", "b", "a"]) is None  # order does not matter
    assert "epoch" in str(fence(epoch, NEW, {"height": 6, "hash": "aa"}, list(NEW)))
    assert fence(epoch, NEW, None, list(NEW)) is not None  # a node of older code
    assert "acceptors" in str(fence(epoch, NEW, epoch, list(OLD)))
    assert fence(epoch, NEW, epoch, None) is not None
    assert fence(None, OLD, None, list(OLD)) is None  # standalone nodes: no epoch at all


def test_a_joint_proposer_is_chosen_only_with_both_majorities() -> None:
    q = Quorum.of(NEW, OLD)
    p = Proposer((1, "p"), ("v", None), 4, quorum=q)

    for who in "ad":
        p = p.on_promise(who, Promise(True, (1, "p")))
    assert p.phase == "prepare"  # NEW's majority, not OLD's
    p = p.on_promise("c", Promise(True, (1, "p"), (1, "old"), ("x", None)))
    assert p.phase == "accept" and p.proposal == ("x", None)  # what the old set accepted
    for who in "ad":
        p = p.on_accepted(who, True, (1, "p"))
    assert p.phase == "accept"
    p = p.on_accepted("b", True, (1, "p"))
    assert p.phase == "chosen"
    r = Proposer((1, "r"), ("v", None), 4, quorum=q)
    for who in "bc":
        r = r.on_promise(who, Promise(False, (9, "z")))
    assert r.phase == "rejected" and r.highest == (9, "z")  # OLD is out of reach


def _schedule(choices: list[int], joint: bool) -> set[str]:
    """Two proposers racing for one instance across a registry change: p1 on the old
    view (acceptors OLD), p2 on the new one (NEW, and OLD too when ``joint``). Fencing
    aside (acceptors here vote for both), which values get chosen?"""
    acc = {a: AcceptorState() for a in "abcd"}
    quorums = {"p1": Quorum.of(OLD), "p2": Quorum.of(NEW, OLD if joint else None)}
    props = {
        p: Proposer((i + 1, p), (f"value-{p}", None), len(q.members), quorum=q)
        for i, (p, q) in enumerate(quorums.items())
    }
    net: list[tuple[str, str, str, Any]] = [
        ("prepare", p, a, props[p].ballot) for p, q in quorums.items() for a in q.members
    ]
    chosen: set[str] = set()
    for c in choices:
        if not net:
            break
        kind, src, dst, body = net.pop(c % len(net))
        if c % 5 == 0:
            continue  # lost
        if kind == "prepare":
            acc[dst], promise = on_prepare(acc[dst], body)
            net.append(("promise", dst, src, promise))
        elif kind == "accept":
            acc[dst], ok, promised = on_accept(acc[dst], *body)
            net.append(("accepted", dst, src, (ok, promised)))
        else:
            prop, before = props[dst], props[dst].phase
            props[dst] = prop = (
                prop.on_promise(src, body) if kind == "promise" else prop.on_accepted(src, *body)
            )
            if before == "prepare" and prop.phase == "accept":
                net.extend(
                    ("accept", dst, a, (prop.ballot, prop.proposal)) for a in quorums[dst].members
                )
            if prop.phase == "chosen":
                chosen.add(prop.proposal[0])
    return chosen


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=200))
def test_joint_majorities_choose_one_value_across_a_registry_change(choices: list[int]) -> None:
    assert len(_schedule(choices, joint=True)) <= 1


def test_the_schedules_do_choose() -> None:
    """The property above is not vacuous: schedules without loss choose a value."""
    assert any(len(_schedule([1] * k, joint=True)) == 1 for k in range(10, 60))


def _run_p2_after_p1_chose(joint: bool) -> tuple[str, str]:
    """p1 (old view) is chosen by {b, c}; then p2 (new view) runs to the end, hearing from
    the acceptors in ``order`` (a and d first: the new ones). Returns both chosen values."""
    acc = {x: AcceptorState() for x in "abcd"}
    p1 = Proposer((1, "p1"), ("value-p1", None), 3, quorum=Quorum.of(OLD))
    for x in "bc":
        acc[x], promise = on_prepare(acc[x], p1.ballot)
        p1 = p1.on_promise(x, promise)
    for x in "bc":
        acc[x], ok, promised = on_accept(acc[x], p1.ballot, p1.proposal)
        p1 = p1.on_accepted(x, ok, promised)
    assert p1.phase == "chosen"
    q = Quorum.of(NEW, OLD if joint else None)
    p2 = Proposer((2, "p2"), ("value-p2", None), len(q.members), quorum=q)
    for x in "adbc":
        acc[x], promise = on_prepare(acc[x], p2.ballot)
        p2 = p2.on_promise(x, promise)
    assert p2.phase == "accept"
    for x in "adbc":
        acc[x], ok, promised = on_accept(acc[x], p2.ballot, p2.proposal)
        p2 = p2.on_accepted(x, ok, promised)
    assert p2.phase == "chosen"
    return p1.proposal[0], p2.proposal[0]


def test_without_joint_majorities_two_values_are_chosen() -> None:
    """The control: p2 wins {a, d} of NEW, disjoint from p1's {b, c} of OLD; with the
    joint rule p2 must hear b or c too, and proposes what they accepted."""
    assert _run_p2_after_p1_chose(joint=False) == ("value-p1", "value-p2")
    assert _run_p2_after_p1_chose(joint=True) == ("value-p1", "value-p1")
