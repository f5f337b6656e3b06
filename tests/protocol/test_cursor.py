"""The cursor: frozen token vectors, decoding checks, and the exactly-once property against a
brute-force model of what a client has seen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.cursor import MAX_EXTRAS, Cursor, check_dot, parse_dots
from flocloud.protocol.errors import BadFormat

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "cursor.json").read_text())


def test_frozen_vectors() -> None:
    """Every implementation builds the same tokens and rejects the same bad ones."""
    cur = Cursor()
    for step in VECTORS["steps"]:
        if step["op"] == "add":
            cur = cur.add([(o, c) for o, c in step["arg"]])
        else:
            cur = cur.advance(step["arg"][0], step["arg"][1])
        assert cur.encode() == step["token"]
        assert [[o, f, list(x)] for o, f, x in cur.entries] == step["entries"]
        assert Cursor.decode(step["token"]) == cur
    for bad in VECTORS["invalid"]:
        with pytest.raises(BadFormat):
            Cursor.decode(bad)


@pytest.mark.parametrize(
    "bad",
    [5, [], {"a": 1}, "c1." + "A" * 9000, "c1.bm90IGpzb24", "c1.WzFd", "c1.W1siYSIsLTEsW11dXQ",
     "c1.W1siYSIsMSxbM10sMV1d", "c1.W1siYSIsMSxbNCwzXV1d"],
)  # fmt: skip
def test_decode_refuses_anything_else(bad: object) -> None:
    with pytest.raises(BadFormat):
        Cursor.decode(bad)


def test_empty_and_dots() -> None:
    assert Cursor.decode(None) == Cursor.decode("") == Cursor()
    assert Cursor().encode() == ""
    assert parse_dots([["ab", 2], ["ab", 2], ["a", 1]]) == (("a", 1), ("ab", 2))
    for bad in ([], [["a", 0]], [["a-b", 1]], [["a", True]], [["a", 2**53]], "x", [["a"]]):
        with pytest.raises(BadFormat):
            parse_dots(bad)
    with pytest.raises(BadFormat):
        check_dot("", 1)


ORIGINS = ["o1", "o2", "o3"]
dots = st.tuples(st.sampled_from(ORIGINS), st.integers(1, 30))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.lists(dots, min_size=1, max_size=5)), max_size=30))
def test_add_and_advance_cover_exactly_what_was_seen(
    ops: list[tuple[bool, list[tuple[str, int]]]],
) -> None:
    """A cursor covers exactly the dots added, plus counters ``advance`` was told the client
    has: never an unseen one (no loss), always a seen one (no repeat); tokens round-trip."""
    cur = Cursor()
    seen: set[tuple[str, int]] = set()
    for is_advance, batch in ops:
        if is_advance:
            origin = batch[0][0]
            present = [c for o, c in batch if o == origin]
            cur = cur.advance(origin, present)
            # advance covers the present counters contiguous from the frontier only
            f = 0
            have = {c for o, c in seen if o == origin} | set(present)
            while f + 1 in have:
                f += 1
            seen |= {(origin, c) for c in range(1, f + 1)}
        else:
            cur = cur.add(batch)
            seen |= set(batch)
        for o in ORIGINS:
            for c in range(1, 32):
                assert cur.covers((o, c)) == ((o, c) in seen), (o, c)
        assert Cursor.decode(cur.encode()) == cur


def test_merge_and_fold() -> None:
    a = Cursor().add([("x", 1), ("x", 3)])
    b = Cursor().add([("x", 2), ("y", 5)])
    m = a.merge(b)
    assert m.entries == (("x", 3, ()), ("y", 0, (5,)))
    many = Cursor().add([("z", c) for c in range(2, 2 * MAX_EXTRAS + 10, 2)])
    assert sum(len(x) for _, _, x in many.entries) <= MAX_EXTRAS
    assert Cursor.decode(many.encode()) == many


def _runs(dots: set[tuple[str, int]]) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for o, c in sorted(dots):
        r = out.setdefault(o, [])
        if r and r[-1][1] == c - 1:
            r[-1] = (r[-1][0], c)
        else:
            r.append((c, c))
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.sets(
        st.tuples(
            st.sampled_from([f"o{i}" for i in range(70)]) | st.sampled_from(["a", "b"]),
            st.integers(1, 1500),
        ),
        max_size=1200,
    )
)
def test_of_runs_is_add_of_every_dot(dots: set[tuple[str, int]]) -> None:
    """``of_runs`` (the held cursor from runs) equals adding every dot, folds included:
    many exceptions (sparse counters) and more than 64 origins."""
    assert Cursor.of_runs(_runs(dots)) == Cursor().add(dots)


def test_of_runs_folds_like_fold() -> None:
    dots = {("a", c) for c in range(3, 2000, 2)} | {("b", c) for c in range(5, 900, 3)}
    dots |= {(f"z{i}", 1) for i in range(80)}
    got = Cursor.of_runs(_runs(dots))
    assert got == Cursor().add(dots)
    assert sum(len(x) for _, _, x in got.entries) <= MAX_EXTRAS and len(got.entries) == 64
    assert Cursor.of_runs({"a": [(1, 3), (4, 6), (8, 8)], "b": []}) == Cursor().add(
        [("a", c) for c in (1, 2, 3, 4, 5, 6, 8)]
    )
