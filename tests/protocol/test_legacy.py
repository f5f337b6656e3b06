"""The existing FLO cloud's requests: JavaScript string rules, receiver forms, the check
order and messages, request identities, records, permissions, queries."""

from __future__ import annotations

import base64
from typing import Any

import bech32
import pytest

from flocloud.protocol.errors import (
    BadFormat,
    FlocloudError,
    IdMismatch,
    InvalidAddress,
    InvalidSignature,
    StaleTime,
)
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.legacy import (
    change_permitted,
    js_join,
    js_string,
    make_record,
    parse_presence,
    parse_record,
    parse_write,
    proxy_id,
    request_id,
    store_string,
)
from flocloud.protocol.legacy_query import parse_query
from flocloud.protocol.params import TESTNET
from legacy_client import sign_data, store_fields

A = PrivateKey.from_secret(bytes([7] * 32))
B = PrivateKey.from_secret(bytes([8] * 32))
NOW = 1_700_000_000_000


def store_doc(key: PrivateKey = A, receiver: str = B.address, **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"application": "app", "type": None, "comment": "", **over}
    msg = base64.b64encode(b'{"x":1}').decode()
    return store_fields(key, receiver, NOW, msg, **fields)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""), (True, "true"), (0, "0"), (1.0, "1"), (0.1, "0.1"), (1e21, "1e+21"),
        (1e20, "100000000000000000000"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"), (-3.25, "-3.25"), (2**60, "1152921504606847000"),
        (5e-324, "5e-324"), ([1, None, "a"], "1,,a"), ({"a": 1}, "[object Object]"),
    ],
)  # fmt: skip
def test_js_string(value: Any, text: str) -> None:
    """Array.join prints elements as JavaScript does."""
    assert js_string(value) == text


def test_js_join_of_a_store() -> None:
    assert (
        js_join(["F1", NOW, "app", None, "bWVzc2FnZQ==", ""])
        == "F1|1700000000000|app||bWVzc2FnZQ==|"
    )


def test_every_receiver_form_maps_to_one_inbox() -> None:
    payload = hash160(B.public_key)
    forms = [
        B.address,
        PrivateKey.from_secret(B.secret, TESTNET).address,
        B.pubkey_hex,
        B.pubkey_hex.upper(),
        "0x" + payload.hex(),
        bech32.encode("bc", 0, payload),
    ]
    assert {proxy_id(f) for f in forms} == {B.address}  # B is a mainnet key: its own ID
    for bad in ("", "F" * 34, "0x12", 12, None, bech32.encode("bc", 0, bytes(32))):
        with pytest.raises(InvalidAddress, match="Invalid receiverID"):
            proxy_id(bad)


def test_a_store_verifies_and_high_s_is_accepted() -> None:
    for high in (True, False):
        doc = store_doc()
        text = store_string(doc, doc["comment"])
        doc["sign"] = sign_data(A, text, high_s=high)
        req = parse_write(doc, NOW + 1000, 60_000)
        assert req.receiver == B.address and req.sender == A.address


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: [1], BadFormat, "Invalid Data-format"),
        (lambda d: {**d, "time": NOW - 61_000, "message": None}, StaleTime, "Invalid Time"),
        (lambda d: {**d, "time": "soon"}, StaleTime, "Invalid Time"),
        (lambda d: {k: v for k, v in d.items() if k != "message"}, BadFormat, "Invalid Data-format"),
        (lambda d: {**d, "receiverID": "nobody"}, InvalidAddress, "Invalid receiverID"),
        (lambda d: {**d, "senderID": "nobody"}, InvalidAddress, "Invalid senderID"),
        (lambda d: {**d, "senderID": B.address}, IdMismatch, "Invalid pubKey"),
        (lambda d: {**d, "pubKey": "02" + "00" * 32}, IdMismatch, "Invalid pubKey"),
        (lambda d: {**d, "comment": "changed"}, InvalidSignature, "Invalid signature"),
        (lambda d: {**d, "sign": "zz"}, InvalidSignature, "Invalid signature"),
        (lambda d: {**d, "message": 5}, BadFormat, "Invalid message"),
    ],
)  # fmt: skip
def test_checks_in_the_reference_order(
    change: Any, error: type[FlocloudError], message: str
) -> None:
    with pytest.raises(error) as exc:
        parse_write(change(store_doc()), NOW, 60_000)
    assert exc.value.message == message


def test_request_ids_records_and_replays() -> None:
    """The high-S twin of a signature is the same request; a fresh signature is another;
    two assignments of one request are two records; records re-verify."""
    doc = store_doc()
    req = parse_write(doc, NOW, 60_000)
    text = store_string(doc, doc["comment"])
    high, low = sign_data(A, text, high_s=True), sign_data(A, text, high_s=False)
    assert high != low  # one signature, both S halves (the signer's nonce is RFC 6979 here)
    twin_a = parse_write({**doc, "sign": high}, NOW, 60_000)
    twin_b = parse_write({**doc, "sign": low}, NOW, 60_000)
    assert request_id(twin_a) == request_id(twin_b)
    assert request_id(req) != request_id(parse_write(store_doc(comment="again"), NOW, 60_000))
    one = make_record(req, NOW + 5, vector_clock=f"{NOW + 5:013d}_{A.address}")
    two = make_record(req, NOW + 9, vector_clock=f"{NOW + 9:013d}_{A.address}")
    assert one.rid == two.rid and one.id != two.id
    back = parse_record(one.to_wire(), 1 << 20)
    assert back == one
    for bad in (
        {**one.to_wire(), "vectorClock": f"{NOW + 5:013d}_{B.address}"},
        {**one.to_wire(), "log_time": NOW + 6},
        {**one.to_wire(), "op": "tag"},
    ):
        with pytest.raises(BadFormat):
            parse_record(bad, 1 << 20)
    forged = one.to_wire()
    forged["request"] = {**forged["request"], "application": "other"}
    with pytest.raises(InvalidSignature):
        parse_record(forged, 1 << 20)


def test_change_permissions() -> None:
    admin, sub, trusted, sender, receiver, other = (f"F{i}" for i in range(6))
    ids = {x: PrivateKey.from_secret(bytes([40 + i] * 32)).address for i, x in enumerate((admin, sub, trusted, sender, receiver, other))}  # fmt: skip
    ad, su, tr, se, re, ot = ids.values()

    def ok(op: str, who: str, row_receiver: str = re) -> bool:
        return change_permitted(op, who, se, row_receiver, ad, (su,), (tr,))

    assert [ok("tag", w) for w in (ad, su, tr, se, re, ot)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert [ok("note", w) for w in (ad, su, se, re)] == [False, False, False, True]
    assert ok("note", su, row_receiver=ad) and not ok("note", ot, row_receiver=ad)
    assert [ok("edit", w) for w in (ad, se, re)] == [False, True, False]


def test_presence_is_signed() -> None:
    doc = {"floID": A.address, "application": "app", "time": NOW, "status": True,
           "pubKey": A.pubkey_hex.upper()}  # fmt: skip
    doc["sign"] = sign_data(A, f"{NOW}|app|{A.address}")
    assert parse_presence(doc, NOW, 1000).online == A.address
    with pytest.raises(InvalidSignature):
        parse_presence({**doc, "application": "x"}, NOW, 1000)
    track = parse_presence(
        {"status": False, "application": "app", "trackList": [A.address]}, NOW, 0
    )
    assert track.track == (A.address,)


def test_query_truthiness_and_matching() -> None:
    q = parse_query({"receiverID": B.pubkey_hex, "application": "app", "type": "0",
                     "senderID": "a,b", "afterTime": "5", "mostRecent": "false"}, strings=True)  # fmt: skip
    assert (q.receiver, q.type, q.senders, q.after_time, q.most_recent) == (
        B.address,
        None,
        ("a", "b"),
        5.0,
        False,
    )
    assert parse_query({"receiverID": B.address, "type": "0"}).type == "0"  # JSON "0" is truthy
    assert parse_query({"receiverID": B.address, "senderID": ["a"]}).senders == ("a",)
    row = {"vectorClock": "1700000000005_a", "proxyID": B.address, "application": "app",
           "type": None, "senderID": "a", "comment": "", "log_time": 6}  # fmt: skip
    assert q.matches(row)
    assert not parse_query({"receiverID": B.address}).matches(row)  # no application
    low = parse_query(
        {"receiverID": B.address, "application": "app", "lowerVectorClock": "1700000000005_a1"}
    )
    assert not low.matches(row)
    with pytest.raises(BadFormat, match="Invalid afterTime"):
        parse_query({"receiverID": B.address, "afterTime": "soon"}, strings=True)
