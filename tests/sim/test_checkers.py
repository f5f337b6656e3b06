"""The linearizability checker finds real violations and accepts real linearizable
histories; single-decree Paxos never chooses two values under any delivery schedule."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.objectlog import ObjectOp, fold
from flocloud.protocol.paxos import AcceptorState, Proposer, majority, on_accept, on_prepare
from sim.convergence import ReplicaObject, check_convergence
from sim.linearizability import Op, cas_register, check


def test_checker_accepts_a_linearizable_history() -> None:
    """Overlapping CAS ops that can be ordered; a failed CAS that overlaps the winner."""
    h = [
        Op(0, 3, ("cas", "v0", "a"), "ok"),
        Op(1, 4, ("cas", "v0", "b"), "fail"),
        Op(5, 6, ("cas", "a", "c"), "ok"),
        Op(7, 8, ("read",), "c"),
    ]
    assert check(cas_register("v0"), h) == [0, 1, 2, 3]


def test_checker_finds_two_winners() -> None:
    """Two CAS at one version both ok: the issue's finding; not linearizable."""
    h = [Op(0, 3, ("cas", "v0", "a"), "ok"), Op(1, 4, ("cas", "v0", "b"), "ok")]
    assert check(cas_register("v0"), h) is None


def test_checker_respects_real_time() -> None:
    """A CAS that failed after the only other write returned... at the version it replaced:
    fine; a read of an old version after a newer write returned: a violation."""
    ok = [Op(0, 1, ("cas", "v0", "a"), "ok"), Op(2, 3, ("cas", "v0", "b"), "fail")]
    assert check(cas_register("v0"), ok) is not None
    stale = [Op(0, 1, ("cas", "v0", "a"), "ok"), Op(2, 3, ("read",), "v0")]
    assert check(cas_register("v0"), stale) is None
    # a failed CAS at the current version with nobody else writing: a violation
    assert check(cas_register("v0"), [Op(0, 1, ("cas", "v0", "a"), "fail")]) is None


def test_unknown_outcomes_may_or_may_not_apply() -> None:
    """An op that timed out may have taken effect (later ops build on it) or not."""
    applied = [Op(0, None, ("cas", "v0", "a")), Op(5, 6, ("cas", "a", "b"), "ok")]
    assert check(cas_register("v0"), applied) == [0, 1]
    not_applied = [Op(0, None, ("cas", "v0", "a")), Op(5, 6, ("cas", "v0", "b"), "ok")]
    assert check(cas_register("v0"), not_applied) == [1]


def _simulate(choices: list[int], n_acc: int, n_prop: int) -> set[str]:
    """Proposers and acceptors exchanging messages; ``choices`` picks, at each step, a
    message to deliver or drop, or a proposer to restart at a higher ballot. Returns every
    value a proposer saw chosen or a majority accepted at one ballot."""
    acc = {f"a{i}": AcceptorState() for i in range(n_acc)}
    rounds = {f"p{i}": 0 for i in range(n_prop)}
    props: dict[str, Proposer] = {}
    net: list[tuple[str, str, str, Any]] = []
    chosen: set[str] = set()
    accepted_at: dict[tuple[Any, str], set[str]] = {}

    def start(p: str) -> None:
        rounds[p] += 1
        props[p] = Proposer((rounds[p], p), (f"value-{p}-{rounds[p]}", None), n_acc)
        net.extend(("prepare", p, a, props[p].ballot) for a in acc)

    for p in rounds:
        start(p)
    for c in choices:
        if not net or c % 11 == 0:
            start(f"p{c % n_prop}")
            continue
        kind, src, dst, body = net.pop(c % len(net))
        if c % 7 == 0:
            continue  # lost
        if c % 13 == 0:
            net.append((kind, src, dst, body))  # duplicated
        if kind == "prepare":
            acc[dst], promise = on_prepare(acc[dst], body)
            net.append(("promise", dst, src, (body, promise)))
        elif kind == "accept":
            ballot, value = body
            acc[dst], ok, promised = on_accept(acc[dst], ballot, value)
            if ok:
                who = accepted_at.setdefault((ballot, value[0]), set())
                who.add(dst)
                if len(who) >= majority(n_acc):
                    chosen.add(value[0])
            net.append(("accepted", dst, src, (ballot, ok, promised)))
        else:
            prop = props[dst]
            if body[0] != prop.ballot:
                continue  # a reply to an older attempt
            before = prop.phase
            if kind == "promise":
                prop = prop.on_promise(src, body[1])
            else:
                prop = prop.on_accepted(src, body[1], body[2])
            props[dst] = prop
            if before == "prepare" and prop.phase == "accept":
                net.extend(("accept", dst, a, (prop.ballot, prop.proposal)) for a in acc)
            if prop.phase == "chosen":
                chosen.add(prop.proposal[0])
    return chosen


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), max_size=300), st.sampled_from([1, 3, 5]), st.integers(1, 3)
)
def test_paxos_chooses_at_most_one_value(choices: list[int], n_acc: int, n_prop: int) -> None:
    """Under loss, duplication, reordering and competing proposers: at most one value."""
    assert len(_simulate(choices, n_acc, n_prop)) <= 1


def test_paxos_without_faults_chooses() -> None:
    """The simulation can choose (so the property above is not vacuous)."""
    assert len(_simulate([1] * 50, 3, 1)) == 1


def test_convergence_check() -> None:
    """Replicas with the fold of their writes pass; a divergent one (the issue's finding:
    same writes, different value) is reported."""
    a = ObjectOp("a" * 64, 1, (), "reset", {"who": "R1"})
    b = ObjectOp("b" * 64, 1, (), "reset", {"who": "R2"})
    f = fold([a, b])
    good = ReplicaObject(f.version, f.value, (a, b))
    assert check_convergence({"n1": good, "n2": good}, settled=True) == []
    bad = ReplicaObject(f.version, {"who": "R1"}, (b, a))
    assert check_convergence({"n1": good, "n2": bad}, settled=True) != []
    lagging = ReplicaObject(fold([a]).version, {"who": "R1"}, (a,))
    assert check_convergence({"n1": good, "n2": lagging}, settled=False) == []
    assert check_convergence({"n1": good, "n2": lagging}, settled=True) != []
