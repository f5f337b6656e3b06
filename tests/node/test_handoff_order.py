"""Hand-off walks foreign keys round-robin (issue 10, finding 7)."""

from __future__ import annotations

from flocloud.node.antientropy import handoff_batch


def test_batches_walk_every_key_round_robin() -> None:
    """Successive rounds cover all keys, wrapping around, even when the first keys can
    never be confirmed (the old code looked at the first 200 keys only, forever)."""
    keys = [f"k{i:03}" for i in range(450)]
    seen: list[str] = []
    after = None
    for _ in range(3):
        batch = handoff_batch(keys, after, 200)
        assert len(batch) == 200
        seen.extend(batch)
        after = batch[-1]
    assert set(seen) == set(keys)
    assert seen[400:450] == keys[400:] and seen[450:] == keys[:150]


def test_small_and_changing_key_sets() -> None:
    assert handoff_batch([], "k5", 10) == []
    assert handoff_batch(["a", "b", "c"], None, 10) == ["a", "b", "c"]
    assert handoff_batch(["a", "b", "c"], "b", 10) == ["c", "a", "b"]
    # the last key looked at was handed off meanwhile: go on after where it was
    assert handoff_batch(["a", "c", "d"], "b", 2) == ["c", "d"]
