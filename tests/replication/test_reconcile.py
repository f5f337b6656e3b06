"""Reconciliation descent (``replication/reconcile.py``): two model replicas, the real
descent between them, against the true difference."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.fingerprint import Fingerprint, PrefixIndex, prefix_end, write_parts
from flocloud.replication.reconcile import (
    LIST_IDS,
    MAX_PREFIXES,
    IdDescent,
    KeyDescent,
    answer_digest,
    answer_ids,
    compare_items,
    parse_ranges,
    root_equal,
)

Dots = tuple[tuple[str, int], ...]


def kpos(receiver: str) -> str:
    return hashlib.sha1(receiver.encode()).hexdigest()  # 40 hex, like a key position


@dataclass
class Side:
    """One replica's writes: receiver -> id -> dots (what the store's queries answer)."""

    keys: dict[str, dict[str, Dots]] = field(default_factory=dict)

    def index(self) -> PrefixIndex:
        return PrefixIndex(
            [(kpos(r), Fingerprint.of_writes(items.items())) for r, items in self.keys.items()]
        )

    def keyed(self) -> PrefixIndex:  # by key position + receiver, as the node indexes
        return PrefixIndex(
            [(kpos(r) + r, Fingerprint.of_writes(it.items())) for r, it in self.keys.items()]
        )

    def items(self, receiver: str, prefix: str) -> dict[str, int]:
        return {
            i: write_parts(i, d)[0]
            for i, d in self.keys.get(receiver, {}).items()
            if prefix <= i < prefix_end(prefix)
        }

    def id_fps(self, receiver: str, prefixes: list[str]) -> list[Fingerprint]:
        out = []
        for p in prefixes:
            w = [(i, d) for i, d in self.keys.get(receiver, {}).items() if i.startswith(p)]
            out.append(Fingerprint.of_writes(w))
        return out


def serve_digest(side: Side, wire: list[list[object]]) -> dict[str, object]:
    return {"ranges": answer_digest(side.keyed(), parse_ranges(wire))}


def serve_ids(side: Side, receiver: str, wire: list[list[object]]) -> dict[str, object]:
    asked = parse_ranges(wire)
    out: list[dict[str, object]] = []
    for p, fp, listed in answer_ids(asked, side.id_fps(receiver, [p for p, _ in asked])):
        entry: dict[str, object] = {"prefix": p, "fp": fp.to_wire()}
        if listed:
            entry["ids"] = [[i, q] for i, q in sorted(side.items(receiver, p).items())]
        out.append(entry)
    return {"ranges": out, "replica": True}


def descend_keys(mine: Side, peer: Side) -> KeyDescent:
    d = KeyDescent(mine.keyed())
    while (wire := d.batch()) is not None:
        assert len(wire) <= MAX_PREFIXES
        d.on_reply(serve_digest(peer, wire)["ranges"])
    return d


def descend_ids(mine: Side, peer: Side, receiver: str) -> IdDescent:
    d = IdDescent()
    while (batch := d.batch()) is not None:
        wire = d.ask(batch, mine.id_fps(receiver, batch))
        for p in d.on_reply(serve_ids(peer, receiver, wire)):
            d.on_items(p, mine.items(receiver, p))
    return d


def hexid(rnd: random.Random) -> str:
    return f"{rnd.getrandbits(256):064x}"


def pair(seed: int, keys: int, ids: int, diff: float) -> tuple[Side, Side]:
    rnd = random.Random(seed)
    a, b = Side(), Side()
    for k in range(keys):
        r = f"key{k}"
        for _ in range(rnd.randint(0, ids)):
            i, dots = hexid(rnd), (("s", rnd.randint(1, 9)),)
            roll = rnd.random()
            if roll < diff / 3:
                a.keys.setdefault(r, {})[i] = dots
            elif roll < 2 * diff / 3:
                b.keys.setdefault(r, {})[i] = dots
            elif roll < diff:  # both hold it, under different dots
                a.keys.setdefault(r, {})[i] = dots
                b.keys.setdefault(r, {})[i] = (*dots, ("t", 1))
            else:
                a.keys.setdefault(r, {})[i] = dots
                b.keys.setdefault(r, {})[i] = dots
    return a, b


def test_equal_replicas_cost_one_range() -> None:
    a, b = pair(1, 30, 20, 0.0)
    d = descend_keys(a, b)
    assert d.differing == [] and d.asked == 1
    assert root_equal(
        parse_ranges([["", a.keyed().fingerprint("").to_wire()]]), b.keyed().fingerprint("")
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 60), st.integers(0, 150), st.floats(0, 0.3))
def test_the_descent_finds_exactly_the_difference(
    seed: int, keys: int, ids: int, diff: float
) -> None:
    a, b = pair(seed, keys, ids, diff)
    d = descend_keys(a, b)
    ai, bi = a.keyed(), b.keyed()
    truth = {
        r
        for r in b.keys
        if b.keys[r] and ai.fingerprint(kpos(r) + r) != bi.fingerprint(kpos(r) + r)
    }
    assert set(d.differing) == truth
    for r in truth:
        ids_d = descend_ids(a, b, r)
        there, here = b.keys.get(r, {}), a.keys.get(r, {})
        assert set(ids_d.missing) == {i for i in there if here.get(i) != there[i]}
        assert set(ids_d.extra) == {i for i in here if there.get(i) != here[i]}
        assert ids_d.replica


def test_a_large_key_descends_and_lists_small_ranges() -> None:
    a, b = pair(3, 1, 2000, 0.02)
    d = descend_ids(a, b, "key0")
    assert d.asked > 1 and d.listed <= sum(len(s.keys["key0"]) for s in (a, b))
    assert set(d.missing) == {i for i, q in b.keys["key0"].items() if a.keys["key0"].get(i) != q}


def test_replies_for_ranges_not_asked_or_malformed_are_ignored() -> None:
    a = Side({"k": {"0" * 64: (("s", 1),)}})
    d = KeyDescent(a.keyed())
    d.batch()
    d.on_reply([{"prefix": "f", "fp": [1, 1, 1]}, {"prefix": "", "fp": "x"}, "junk", {"keys": 1}])
    assert d.differing == [] and d.batch() is None
    ids = IdDescent()
    batch = ids.batch()
    assert batch == [""]
    ids.ask(batch, [Fingerprint()])
    listed = ids.on_reply(
        {"ranges": [{"prefix": "", "fp": [1, 2, 3], "ids": [["zz", 1], ["ab", "x"], 5]}]}
    )
    assert listed == [""]
    ids.on_items("", {})
    assert ids.missing == ["zz"] and not ids.replica  # only well-formed items count


def test_a_peer_that_never_lists_cannot_make_a_descent_endless() -> None:
    a = Side({"k": {"0" * 64: (("s", 1),)}})
    d = KeyDescent(a.keyed())
    rounds = 0
    while (wire := d.batch()) is not None and rounds < 1000:
        rounds += 1
        d.on_reply([{"prefix": wire[0][0], "fp": [9, 9, 9]}])  # never "keys"
    assert rounds <= 41  # one level per hex digit of a key position
    ids = IdDescent()
    rounds = 0
    while (batch := ids.batch()) is not None and rounds < 1000:
        rounds += 1
        ids.ask(batch, [Fingerprint()] * len(batch))
        ids.on_reply({"ranges": [{"prefix": p, "fp": [9, 9, 9]} for p in batch[:1]]})
    assert rounds <= 65


def test_parse_ranges_and_compare_items() -> None:
    assert parse_ranges([["ab", [1, 2, 3]]]) == [("ab", Fingerprint(1, 2, 3))]
    for bad in ("x", [["a"]], [[1, [1, 2, 3]]], [["a", [1, 2]]], [["a" * 201, [1, 2, 3]]]):
        with pytest.raises(BadFormat):
            parse_ranges(bad)
    with pytest.raises(BadFormat):
        parse_ranges([["", [0, 0, 0]]] * (MAX_PREFIXES + 1))
    assert compare_items({"a": 1, "b": 2}, {"b": 3, "c": 4}) == (["a", "b"], ["b", "c"])
    assert answer_ids([("", Fingerprint(1, 1, 1))], [Fingerprint(LIST_IDS + 1, 0, 0)]) == [
        ("", Fingerprint(LIST_IDS + 1, 0, 0), False)
    ]
