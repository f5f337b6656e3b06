"""Range fingerprints: frozen values, additivity, and prefix sums against brute force."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.fingerprint import (
    Fingerprint,
    PrefixIndex,
    children,
    id_parts,
    key_position,
    write_parts,
)
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import MAINNET, TESTNET
from flocloud.protocol.placement import key_payload

hex_ids = st.binary(min_size=32, max_size=32).map(lambda b: hashlib.sha256(b).hexdigest())


def test_frozen_values() -> None:
    """The parts are the first two 32-bit words of the id with the top bit cleared; a
    key's position is its HASH160 payload in hex, the same on every network."""
    i = "ffffffff80000001" + "0" * 48
    assert id_parts(i) == (0x7FFFFFFF, 1)
    assert Fingerprint.of([i, i]).to_wire() == [2, 2 * 0x7FFFFFFF, 2]
    k = PrivateKey(b"\x01" * 32, MAINNET)
    t = PrivateKey(b"\x01" * 32, TESTNET)
    assert key_position(k.address) == key_position(t.address) == hash160(k.public_key).hex()
    assert int(key_position(k.address), 16) == key_payload(k.address)
    assert children("a") == [f"a{c}" for c in "0123456789abcdef"]


@settings(max_examples=60, deadline=None)
@given(st.lists(hex_ids, max_size=60, unique=True), st.text("0123456789abcdef", max_size=2))
def test_prefix_sums_match_brute_force(ids: list[str], prefix: str) -> None:
    index = PrefixIndex([(i, Fingerprint.of([i])) for i in ids])
    under = sorted(i for i in ids if i.startswith(prefix))
    assert index.fingerprint(prefix) == Fingerprint.of(under)
    assert [k for k, _ in index.under(prefix)] == under
    # additive: a range is the sum of its 16 children
    total = Fingerprint()
    for c in children(prefix):
        total = total + index.fingerprint(c)
    assert total == index.fingerprint(prefix)


@given(st.lists(hex_ids, min_size=1, max_size=20, unique=True), st.data())
def test_any_missing_id_changes_the_fingerprint(ids: list[str], data: st.DataObject) -> None:
    gone = data.draw(st.sampled_from(ids))
    assert Fingerprint.of(ids) != Fingerprint.of([i for i in ids if i != gone])


def test_wire_rejects_bad_shapes() -> None:
    assert Fingerprint.from_wire([1, 2, 3]) == Fingerprint(1, 2, 3)
    for bad in (None, [1, 2], [1, 2, -3], [1, 2, "3"], [True, 1, 1], "x"):
        assert Fingerprint.from_wire(bad) is None


def test_frozen_vectors() -> None:
    """Every node computes the same parts, range fingerprints and key positions."""
    import json
    from pathlib import Path

    v = json.loads((Path(__file__).parents[1] / "vectors" / "fingerprint.json").read_text())
    assert [list(id_parts(i)) for i in v["ids"]] == v["parts"]
    for w in v["write_parts"]:  # a stored write counts its id and its dots
        assert list(write_parts(w["id"], [tuple(d) for d in w["dots"]])) == w["parts"]
    index = PrefixIndex([(i, Fingerprint.of([i])) for i in v["ids"]])
    for r in v["ranges"]:
        assert index.fingerprint(r["prefix"]).to_wire() == r["fp"]
    for k in v["key_positions"]:
        assert key_position(k["key"]) == k["position"]
