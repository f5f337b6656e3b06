"""The failure detector's rule and whom a heartbeat round pings
(``replication/heartbeat.py``), which the node and the simulator both run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flocloud.replication.heartbeat import (
    IDLE_ROUNDS,
    FailureDetector,
    PingSchedule,
)


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


def _up(_: str) -> bool:
    return True


def test_a_down_peer_is_pinged_every_round_and_traffic_stands_for_a_ping() -> None:
    s = PingSchedule(interval=1.0)
    s.round(["busy", "dead"], 0.0, _up)
    s.heard("busy", 0.5)
    ping, heard = s.round(["busy", "dead"], 1.0, lambda p: p != "dead")
    assert ping == ["dead"] and heard == ["busy"]  # answered traffic this round: its heartbeat
    ping, heard = s.round(["busy", "dead"], 2.0, lambda p: p != "dead")
    assert ping == ["dead"] and heard == []  # busy was heard a round ago: not due yet


def test_a_request_left_unanswered_makes_the_peer_due_next_round() -> None:
    s = PingSchedule(interval=1.0)
    s.round(["p"], 0.0, _up)
    s.heard("p", 0.2)
    s.failed("p", 0.4)  # after its last answer: suspect
    assert s.round(["p"], 1.0, _up) == (["p"], [])
    assert s.round(["p"], 2.0, _up) == ([], [])  # the ping judged it: idle again
    s.failed("p", 2.1)
    s.heard("p", 2.3)  # answered after the failure: a heartbeat, not a suspect
    assert s.round(["p"], 3.0, _up) == ([], ["p"])


def test_idle_peers_are_pinged_every_few_rounds_each_at_a_round_of_its_own() -> None:
    s = PingSchedule(interval=1.0)
    peers = [f"peer-{i}" for i in range(40)]
    counts = dict.fromkeys(peers, 0)
    rounds: list[list[str]] = []
    for r in range(1, 4 * IDLE_ROUNDS + 1):
        ping, heard = s.round(peers, float(r), _up)
        assert heard == []
        rounds.append(ping)
        for p in ping:
            counts[p] += 1
    assert set(counts.values()) == {4}  # each once every IDLE_ROUNDS rounds
    assert all(rounds[:IDLE_ROUNDS])  # spread: no round of the first cycle is empty
    assert max(len(r) for r in rounds) < len(peers)  # nor all in one round


def test_a_heartbeat_heard_starts_the_idle_count_over() -> None:
    s = PingSchedule(interval=1.0)
    r = 0
    while not s.round(["p"], float(r), _up)[0]:  # up to its first ping
        r += 1
    pinged, heard = [], []
    for k in range(1, 5 * IDLE_ROUNDS):
        if k % (IDLE_ROUNDS - 1) == 0:
            s.heard("p", r + k - 0.5)  # traffic answered every IDLE_ROUNDS - 1 rounds
        ping, got = s.round(["p"], float(r + k), _up)
        pinged += ping
        heard += got
    assert pinged == [] and len(heard) == (5 * IDLE_ROUNDS - 1) // (IDLE_ROUNDS - 1)


def test_peers_no_longer_listed_are_forgotten() -> None:
    s = PingSchedule(interval=1.0)
    s.heard("gone", 0.5)
    s.failed("gone", 0.6)
    s.round(["gone", "kept"], 1.0, _up)
    s.round(["kept"], 2.0, _up)
    assert all("gone" not in t for t in (s._heard, s._failed, s._pinged))


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("-hfd")), max_size=80))
def test_every_peer_is_judged_within_the_idle_rounds_and_a_suspect_at_once(
    events: list[tuple[int, str]],
) -> None:
    """Whatever the traffic and the failures, every peer is pinged, or was heard, at least
    once in any IDLE_ROUNDS rounds in a row; a down one, and one whose request failed
    since its last answer, in the next round."""
    s = PingSchedule(interval=1.0)
    peers = ["a", "b", "c", "d"]
    last = dict.fromkeys(peers, 0)
    for r, (who, what) in enumerate(events, start=1):
        target = peers[who]
        if what == "h":
            s.heard(target, r - 0.5)
        elif what == "f":
            s.failed(target, r - 0.5)
        ping, heard = s.round(
            peers, float(r), lambda p, t=target, w=what: not (w == "d" and p == t)
        )
        for p in [*ping, *heard]:
            last[p] = r
        if what in "fd" and what != "-":
            assert target in ping
        for p in peers:
            assert r - last[p] < IDLE_ROUNDS, (p, r, last)
