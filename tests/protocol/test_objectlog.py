"""The object fold: a function of the set of writes; versions; list ops; exact diffs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.objectlog import (
    EMPTY_VERSION,
    ObjectOp,
    apply_op,
    closure,
    fold,
    parse_version,
    version_of,
)
from flocloud.protocol.objects import canonical, merge_diff, merge_patch
from strategies import json_values

V = json.loads((Path(__file__).parents[1] / "vectors" / "objects.json").read_text())


def _id(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def op(label: str, time: int, parents: list[str], kind: str, change: Any) -> ObjectOp:
    return ObjectOp(_id(label), time, tuple(sorted(parents)), kind, change)


@st.composite
def histories(draw: st.DrawFn) -> list[ObjectOp]:
    """A random DAG of writes: each names some earlier writes as parents."""
    n = draw(st.integers(1, 12))
    ops: list[ObjectOp] = []
    for i in range(n):
        parents = draw(st.sets(st.sampled_from([o.id for o in ops]), max_size=3)) if ops else set()
        kind = draw(st.sampled_from(["reset", "patch", "list"]))
        if kind == "reset":
            change: Any = draw(json_values(6))
        elif kind == "patch":
            change = draw(st.dictionaries(st.sampled_from("abc"), json_values(4), max_size=3))
        else:
            change = {
                "op": draw(st.sampled_from(["append", "prepend", "remove"])),
                "path": draw(st.lists(st.sampled_from("ab"), max_size=2)),
                "item": draw(st.integers(0, 3)),
            }
        ops.append(
            op(
                f"w{i}-{draw(st.integers(0, 9))}",
                draw(st.integers(0, 5)),
                list(parents),
                kind,
                change,
            )
        )
    return ops


@settings(max_examples=100, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_fold_is_a_function_of_the_set(ops: list[ObjectOp], rnd: Any) -> None:
    """Any arrival order gives the same state, compared as canonical bytes."""
    a = fold(ops)
    shuffled = list(ops)
    rnd.shuffle(shuffled)
    b = fold(shuffled)
    assert (a.order, a.heads, a.version, a.pending) == (b.order, b.heads, b.version, b.pending)
    assert canonical(a.value) == canonical(b.value)


@settings(max_examples=100, deadline=None)
@given(histories())
def test_fold_respects_causality_and_prefixes_are_versions(ops: list[ObjectOp]) -> None:
    """Parents come before children; the version after each prefix folds (alone) to that
    prefix's value: an old version's value never changes when later writes arrive."""
    f = fold(ops)
    pos = {oid: i for i, oid in enumerate(f.order)}
    by_id = {o.id: o for o in ops}
    for oid in f.order:
        assert all(pos[p] < pos[oid] for p in by_id[oid].parents)
    value = None
    for i, oid in enumerate(f.order):
        value = apply_op(value, by_id[oid])
        if i % 3 == 0:
            _, prefixes = parse_version(f.versions[i])
            heads = [x for x in f.order[: i + 1] if x[:24] in prefixes]
            sub = fold(by_id[x] for x in closure(by_id, heads))
            assert sub.version == f.versions[i]
            assert canonical(sub.value) == canonical(value)


def test_missing_parent_waits() -> None:
    """A write whose parent is missing is pending, and so are its descendants; the state
    when the parent arrives is the state of the full set."""
    a = op("a", 1, [], "reset", {"x": 1})
    b = op("b", 2, [a.id], "patch", {"y": 2})
    c = op("c", 3, [b.id], "patch", {"z": 3})
    partial = fold([a, c])
    assert partial.order == (a.id,) and partial.pending == (c.id,)
    assert partial.value == {"x": 1}
    full = fold([c, a, b])
    assert full.value == {"x": 1, "y": 2, "z": 3} and full.heads == (c.id,)


def test_concurrent_patches_and_the_tie_break() -> None:
    """Concurrent patches to different fields both survive; to the same field the larger
    (time, id) is folded last and wins; the merged version names both heads."""
    root = op("root", 1, [], "reset", {"n": 0})
    p1 = op("p1", 5, [root.id], "patch", {"a": 1, "n": 1})
    p2 = op("p2", 4, [root.id], "patch", {"b": 2, "n": 2})
    f = fold([p1, root, p2])
    assert f.value == {"n": 1, "a": 1, "b": 2}  # p1 (time 5) after p2 (time 4)
    assert f.version == version_of([p1.id, p2.id], 3) and f.version.startswith("3-")


def test_two_users_edit_one_list() -> None:
    """The FLO cloud chimera: [1,2,3], one removes the first element, the other appends 4.
    With list writes both intents survive: [2, 3, 4] in any order of arrival."""
    root = op("root", 1, [], "reset", {"items": [1, 2, 3]})
    rm = op("rm", 2, [root.id], "list", {"op": "remove", "path": ["items"], "item": 1})
    add = op("add", 2, [root.id], "list", {"op": "append", "path": ["items"], "item": 4})
    assert fold([root, rm, add]).value == {"items": [2, 3, 4]}
    assert fold([add, rm, root]).value == {"items": [2, 3, 4]}
    # two concurrent appends both stay, in (time, id) order
    a1 = op("a1", 3, [root.id], "list", {"op": "append", "path": ["items"], "item": "x"})
    a2 = op("a2", 2, [root.id], "list", {"op": "append", "path": ["items"], "item": "y"})
    assert fold([a1, a2, root]).value == {"items": [1, 2, 3, "y", "x"]}
    # whole-array merge patches never mix indexes: one value or the other, never a chimera
    w1 = op("w1", 2, [root.id], "patch", {"items": [2, 3]})
    w2 = op("w2", 3, [root.id], "patch", {"items": [1, 2, 3, 4]})
    assert fold([w1, w2, root]).value == {"items": [1, 2, 3, 4]}


def test_list_ops_on_odd_values() -> None:
    """A list write through a non-object or onto a non-array changes nothing."""
    base = {"a": 1, "l": "text"}
    for path in (["a", "x"], ["l"]):
        o = op("o", 1, [], "list", {"op": "append", "path": path, "item": 1})
        assert apply_op(base, o) == base
    o = op("o", 1, [], "list", {"op": "append", "path": ["new", "list"], "item": 1})
    assert apply_op(None, o) == {"new": {"list": [1]}}
    rm = op("r", 1, [], "list", {"op": "remove", "path": [], "item": 1.0})
    assert apply_op([1, 1.0, True, 1.0], rm) == [1, True]


def test_versions() -> None:
    """Version strings: "0" for nothing, else count and sorted head prefixes; malformed
    ones are bad-format."""
    assert version_of([], 0) == EMPTY_VERSION
    assert parse_version("0") == (0, ())
    v = version_of([_id("b"), _id("a")], 7)
    assert parse_version(v) == (7, tuple(sorted([_id("a")[:24], _id("b")[:24]])))
    for bad in ("", "1", "x-" + "a" * 24, "1-" + "A" * 24, "01-" + "a" * 24, 3, None,
                "2-" + "b" * 24 + "-" + "a" * 24):  # fmt: skip
        with pytest.raises(BadFormat):
            parse_version(bad)


@pytest.mark.parametrize("v", V["fold"], ids=lambda v: v["name"])
def test_fold_vectors(v: dict[str, Any]) -> None:
    """Frozen fold vectors: order, heads, version and value of a set of writes."""
    ops = [
        ObjectOp(w["id"], w["time"], tuple(w["parents"]), w["kind"], w["change"])
        for w in v["writes"]
    ]
    f = fold(ops)
    assert list(f.order) == v["order"] and f.version == v["version"]
    assert canonical(f.value) == canonical(v["value"])


@pytest.mark.parametrize("v", V["exact_diff"], ids=lambda v: json.dumps(v["to"])[:30])
def test_exact_diff_vectors(v: dict[str, Any]) -> None:
    """Type changes (1, 1.0, true), nulls in arrays, deletions: frozen diffs."""
    patch = merge_diff(v["from"], v["to"])
    assert canonical(patch) == canonical(v["patch"])
    if patch is not None:
        assert canonical(merge_patch(v["from"], patch)) == canonical(v["to"])


@settings(max_examples=200)
@given(json_values(), json_values())
def test_diff_is_exact_in_canonical_bytes(a: Any, b: Any) -> None:
    """When a diff exists, applying it gives b byte for byte (not just ==); when it does
    not, b is null or has a null inside an object (then the whole value is sent)."""
    patch = merge_diff(a, b)
    if patch is None:
        assert b is None or (isinstance(b, dict) and b"null" in canonical(b))
    else:
        assert canonical(merge_patch(a, patch)) == canonical(b)
