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
    recover,
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


def _promise(acc: dict[str, AcceptorState], p: Proposer, who: str) -> Proposer:
    """Phase 1 of ``p`` at the acceptors ``who``, in order."""
    for x in who:
        acc[x], promise = on_prepare(acc[x], p.ballot)
        p = p.on_promise(x, promise)
    return p


def _accept(acc: dict[str, AcceptorState], p: Proposer, who: str) -> Proposer:
    """Phase 2 of ``p`` at the acceptors ``who``, in order."""
    for x in who:
        acc[x], ok, promised = on_accept(acc[x], p.ballot, p.proposal)
        p = p.on_accepted(x, ok, promised)
    return p


def _run_p2_after_p1_chose(joint: bool) -> tuple[str, str]:
    """p1 (old view) is chosen by {b, c}; then p2 (new view) runs to the end, hearing from
    the acceptors in ``order`` (a and d first: the new ones). Returns both chosen values."""
    acc = {x: AcceptorState() for x in "abcd"}
    p1 = Proposer((1, "p1"), ("value-p1", None), 3, quorum=Quorum.of(OLD))
    p1 = _accept(acc, _promise(acc, p1, "bc"), "bc")
    assert p1.phase == "chosen"
    q = Quorum.of(NEW, OLD if joint else None)
    p2 = Proposer((2, "p2"), ("value-p2", None), len(q.members), quorum=q)
    p2 = _promise(acc, p2, "adbc")
    assert p2.phase == "accept"
    p2 = _accept(acc, p2, "adbc")
    assert p2.phase == "chosen"
    return p1.proposal[0], p2.proposal[0]


def test_without_joint_majorities_two_values_are_chosen() -> None:
    """The control: p2 wins {a, d} of NEW, disjoint from p1's {b, c} of OLD; with the
    joint rule p2 must hear b or c too, and proposes what they accepted."""
    assert _run_p2_after_p1_chose(joint=False) == ("value-p1", "value-p2")
    assert _run_p2_after_p1_chose(joint=True) == ("value-p1", "value-p1")


# -- a forgetful acceptor (finding O1): a young store recovers before it votes -------------

ACC = ("a", "b", "c")


def _forgetful_schedule(choices: list[int], wipe_at: int, who: int, recovers: bool) -> set[str]:
    """Three proposers race for one instance over acceptors a, b, c (messages reorder and
    get lost), and a fourth starts when the state is lost. After ``wipe_at`` deliveries acceptor ``who`` loses its state (a replaced
    disk) and is young: with ``recovers``, each prepare or accept it gets before it
    recovered first sends a recover request (a prepare at that ballot) to both others,
    and only with both promising adopts ``recover`` of their states and answers (else it
    refuses: one promised higher). A rejected proposer retries higher, thrice. Which values
    get chosen?"""
    q = Quorum.of(ACC)
    acc = {x: AcceptorState() for x in ACC}
    young: set[str] = set()
    pending: dict[int, tuple[str, str, str, Any, dict[str, Promise]]] = {}
    props: dict[str, Proposer] = {}
    net: list[tuple[str, str, str, Any]] = []
    chosen: set[str] = set()

    def start(p: str, rnd: int) -> None:
        props[p] = Proposer((rnd, p), (f"value-{p}", None), 3, quorum=q)
        net.extend(("prepare", p, x, props[p].ballot) for x in ACC)

    def vote(kind: str, src: str, dst: str, body: Any) -> None:
        if kind == "prepare":  # (replies name their round: a proposer drops older ones)
            acc[dst], promise = on_prepare(acc[dst], body)
            net.append(("promise", dst, src, (body, promise)))
        else:
            acc[dst], ok, promised = on_accept(acc[dst], *body)
            net.append(("accepted", dst, src, (body[0], (ok, promised))))

    for p, rnd in (("p1", 1), ("p2", 2), ("p3", 3)):
        start(p, rnd)
    retried: dict[str, int] = {}
    for step, c in enumerate(choices):
        if step == wipe_at:
            victim = ACC[who % 3]
            acc[victim] = AcceptorState()
            if recovers:
                young.add(victim)
            start("p4", 10)  # a proposer that starts after the loss
        if not net:
            break
        kind, src, dst, body = net.pop(c % len(net))
        if c % 13 == 0:
            continue  # lost
        if kind in ("prepare", "accept"):
            if dst in young:
                rid = len(pending)
                ballot = body if kind == "prepare" else body[0]
                pending[rid] = (kind, src, dst, body, {})
                net.extend(("recover", f"{dst}#{rid}", x, ballot) for x in ACC if x != dst)
            else:
                vote(kind, src, dst, body)
        elif kind == "recover":  # a prepare that never recovers in turn
            acc[dst], promise = on_prepare(acc[dst], body)
            net.append(("recovered", dst, src, promise))
        elif kind == "recovered":
            rid = int(dst.split("#")[1])
            rkind, rsrc, rdst, rbody, reports = pending[rid]
            reports[src] = body
            if len(reports) < 2 or rdst not in young:
                if rdst not in young and len(reports) == 2:
                    vote(rkind, rsrc, rdst, rbody)
                continue
            if q.recovered(rdst, frozenset(w for w, r in reports.items() if r.ok)):
                acc[rdst] = recover(acc[rdst], reports.values())
                young.discard(rdst)
                vote(rkind, rsrc, rdst, rbody)
            else:  # one promised higher: refuse
                higher = max(r.promised for r in reports.values())
                net.append(
                    ("promise", rdst, rsrc, (rbody, Promise(False, higher)))
                    if rkind == "prepare"
                    else ("accepted", rdst, rsrc, (rbody[0], (False, higher)))
                )
        else:
            prop, before = props[dst], props[dst].phase
            ballot, reply = body
            if ballot != prop.ballot:
                continue
            props[dst] = prop = (
                prop.on_promise(src, reply) if kind == "promise" else prop.on_accepted(src, *reply)
            )
            if before == "prepare" and prop.phase == "accept":
                net.extend(("accept", dst, x, (prop.ballot, prop.proposal)) for x in ACC)
            if prop.phase == "chosen" and before != "chosen":
                chosen.add(prop.proposal[0])
            if prop.phase == "rejected" and retried.get(dst, 0) < 3:
                retried[dst] = retried.get(dst, 0) + 1
                start(dst, prop.highest[0] + 1)
    return chosen


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), min_size=150, max_size=300),
    st.integers(3, 60),
    st.integers(0, 2),
)
def test_a_chosen_value_survives_a_forgetful_acceptor_that_recovers(
    choices: list[int], wipe_at: int, who: int
) -> None:
    """Any one acceptor may lose its state at any point of the race; when it recovers
    before it votes again, at most one value is ever chosen."""
    assert len(_forgetful_schedule(choices, wipe_at, who, recovers=True)) <= 1


def test_the_forgetful_schedules_do_choose() -> None:
    """Not vacuous: schedules with a wiped acceptor that recovers do choose a value."""
    assert any(len(_forgetful_schedule([1] * k, 12, 0, recovers=True)) == 1 for k in range(20, 120))


def _in_flight(promise_on_read: bool) -> tuple[str, str]:
    """p1 is chosen by {a, c}: a accepted, then lost its disk; c's accept is still in
    flight. The new a recovers reading b and c (which promised p2's ballot, or, without
    ``promise_on_read``, were only read), then p2 runs over {a, b}; c's accept lands."""
    acc = {x: AcceptorState() for x in ACC}
    p1 = Proposer((1, "p1"), ("value-p1", None), 3)
    p1 = _promise(acc, p1, "ab")
    acc["a"], ok, promised = on_accept(acc["a"], p1.ballot, p1.proposal)
    p1 = p1.on_accepted("a", ok, promised)
    acc["a"] = AcceptorState()  # a replaced disk
    p2 = Proposer((2, "p2"), ("value-p2", None), 3)
    reports = []
    for x in "bc":
        if promise_on_read:
            acc[x], r = on_prepare(acc[x], p2.ballot)
        else:
            r = Promise(True, acc[x].promised, acc[x].accepted, acc[x].value)
        reports.append(r)
    assert Quorum.of(ACC).recovered("a", frozenset("bc"))
    acc["a"] = recover(acc["a"], reports)
    p2 = _accept(acc, _promise(acc, p2, "ab"), "ab")
    assert p2.phase == "chosen"
    acc["c"], ok, promised = on_accept(acc["c"], p1.ballot, p1.proposal)  # late
    p1 = p1.on_accepted("c", ok, promised)
    return ("value-p1" if p1.phase == "chosen" else ""), p2.proposal[0]


def test_recovery_must_fence_accepts_in_flight() -> None:
    """Why the recovery read is a prepare at the ballot about to be voted in: reading the
    others' state and adopting the highest promise is not enough, since an accept of the
    lost disk's ballot can still land on another acceptor after the read."""
    assert _in_flight(promise_on_read=False) == ("value-p1", "value-p2")  # two chosen
    assert _in_flight(promise_on_read=True) == ("", "value-p2")


def test_recover_adopts_the_highest_promise_and_accepted_value() -> None:
    own = AcceptorState((1, "x"))
    got = recover(own, [Promise(True, (3, "p"), (2, "q"), ("v", 1)), Promise(True, (3, "p"))])
    assert got == AcceptorState((3, "p"), (2, "q"), ("v", 1))
    assert recover(AcceptorState(), []) == AcceptorState()
    assert on_prepare(got, (3, "p"))[1].ok  # the same ballot again: promised again
    q = Quorum.of(ACC)
    assert not q.recovered("a", frozenset("b")) and q.recovered("d", frozenset())
    assert Quorum.of(["a"]).recovered("a", frozenset())  # nobody to ask


def test_without_recovery_a_forgetful_acceptor_lets_two_values_be_chosen() -> None:
    """The control, over 3000 seeded random schedules: with recovery none chooses two
    values (and most choose one); with the wiped acceptor voting at once, some do."""
    import random

    rnd = random.Random(11)
    twice, once = [0, 0], 0
    for _ in range(3000):
        choices = [rnd.randint(0, 10_000) for _ in range(200)]
        wipe_at, who = rnd.randint(3, 60), rnd.randint(0, 2)
        for recovers in (False, True):
            chosen = _forgetful_schedule(choices, wipe_at, who, recovers)
            twice[recovers] += len(chosen) > 1
            once += recovers and len(chosen) == 1
    assert twice[True] == 0 and twice[False] > 0 and once > 2500, (twice, once)
