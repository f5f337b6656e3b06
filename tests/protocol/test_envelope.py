"""Envelope v1: frozen vectors, build/parse round trips, and a parser fuzz."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.envelope import Limits, build_envelope, check_depth, parse_envelope
from flocloud.protocol.errors import FlocloudError, ProtocolViolation, TooDeep
from flocloud.protocol.keys import PrivateKey
from strategies import json_values, mainnet_keys

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "envelope.json").read_text())
T0 = VECTORS["now_ms"]
RECEIVER = "FTP7LL7QjhgKfqYX1pis18bCqEpZaGSRzZ"


class TestVectors:
    @pytest.mark.parametrize("v", VECTORS["valid"], ids=lambda v: v["name"])
    def test_valid(self, v: dict[str, Any]) -> None:
        """Each valid vector parses to its body and id."""
        env = parse_envelope(v["wire"], now_ms=T0)
        assert env.id == v["id"]
        assert env.body.to_dict() == v["body"]
        assert env.to_wire() == v["wire"]

    @pytest.mark.parametrize("v", VECTORS["invalid"], ids=lambda v: v["name"])
    def test_invalid(self, v: dict[str, Any]) -> None:
        """Each invalid vector is refused with its stable code."""
        limits = Limits(**v.get("limits", {}))
        with pytest.raises(ProtocolViolation) as exc:
            parse_envelope(v["wire"], now_ms=v.get("now_ms", T0), limits=limits)
        assert exc.value.code == v["code"]

    def test_wire_bytes_parse_like_dicts(self) -> None:
        """The JSON text of an envelope parses the same as the dict."""
        v = VECTORS["valid"][1]
        assert parse_envelope(orjson.dumps(v["wire"]), now_ms=T0).id == v["id"]


class TestRoundTrip:
    @settings(max_examples=60, deadline=None)
    @given(mainnet_keys, json_values(), st.text(max_size=20), st.none() | st.text(max_size=20))
    def test_build_parse(
        self, key: PrivateKey, payload: Any, app: str, comment: str | None
    ) -> None:
        """Whatever JSON a client signs (floats, non-ASCII) parses back identically."""
        env = build_envelope(
            key, receiver=RECEIVER, payload=payload, time_ms=T0, application=app, comment=comment
        )
        back = parse_envelope(orjson.loads(env.to_json()), now_ms=T0)
        assert back.id == env.id
        assert back.body == env.body
        assert back.body_text.encode() == env.body_text.encode()

    @settings(max_examples=40, deadline=None)
    @given(mainnet_keys, json_values())
    def test_signed_bytes_are_the_text_as_sent(self, key: PrivateKey, payload: Any) -> None:
        """A body serialized differently (here RFC 8785) but validly signed is accepted as is."""
        body = build_envelope(key, receiver=RECEIVER, payload=payload, time_ms=T0).body.to_dict()
        try:
            text = rfc8785.dumps(body).decode()
        except (rfc8785.IntegerDomainError, rfc8785.FloatDomainError):
            return
        from flocloud.protocol.signatures import sign_data

        wire = {"body": text, "pubKey": key.pubkey_hex, "sign": sign_data(key, text.encode()).hex()}
        assert parse_envelope(wire, now_ms=T0).body_text == text


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Arbitrary bytes give a protocol error, never another exception."""
        with pytest.raises(ProtocolViolation):
            parse_envelope(data, now_ms=T0)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(["body", "pubKey", "sign", "x"]), json_values(6)))
    def test_arbitrary_dicts(self, wire: dict[str, Any]) -> None:
        """Arbitrary envelope-shaped dicts give a protocol error, never a crash."""
        with pytest.raises(ProtocolViolation):
            parse_envelope(wire, now_ms=T0)

    @settings(max_examples=300, deadline=None)
    @given(st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=3))
    def test_mutated_valid_envelope(self, pos: int, junk: bytes) -> None:
        """Splicing bytes into a valid envelope gives it back or a flocloud error."""
        raw = orjson.dumps(VECTORS["valid"][1]["wire"])
        pos %= len(raw)
        mutated = raw[:pos] + junk + raw[pos + len(junk) :]
        try:
            parse_envelope(mutated, now_ms=T0)
        except FlocloudError:
            pass

    @settings(max_examples=200, deadline=None)
    @given(json_values(8))
    def test_arbitrary_bodies_signed_correctly(self, body: Any) -> None:
        """Well-signed bodies of any JSON shape are judged by the rules, never crash."""
        key = PrivateKey(b"\x11" * 32)
        from flocloud.protocol.signatures import sign_data

        text = orjson.dumps(body).decode()
        wire = {"body": text, "pubKey": key.pubkey_hex, "sign": sign_data(key, text.encode()).hex()}
        with pytest.raises(ProtocolViolation):
            parse_envelope(wire, now_ms=T0)


def test_depth_limit() -> None:
    """check_depth counts arrays and objects, not scalars."""
    check_depth([[1]], 2)
    with pytest.raises(TooDeep):
        check_depth([[[1]]], 2)
    check_depth("scalar", 0)


def test_no_clock_skips_time_check() -> None:
    """now_ms=None replays stored messages without a clock check."""
    v = VECTORS["valid"][0]
    assert parse_envelope(v["wire"], now_ms=None).id == v["id"]


def test_size_is_the_bodys_utf8_bytes() -> None:
    """``Envelope.size`` is what quotas and budgets charge: UTF-8 bytes, not characters,
    the same whether the envelope was built, parsed or made directly."""
    from flocloud.protocol.envelope import Envelope

    key = PrivateKey(b"\x12" * 32)
    built = build_envelope(key, receiver=RECEIVER, payload={"t": "é€😀"}, time_ms=T0)
    parsed = parse_envelope(built.to_wire(), now_ms=T0)
    expected = len(built.body_text.encode())
    assert expected > len(built.body_text)  # the body is not ASCII: bytes > characters
    assert built.size == parsed.size == expected
    direct = Envelope(parsed.body, parsed.body_text, parsed.pubkey, parsed.signature, parsed.id)
    assert direct.size == expected and direct == parsed
    ascii_text = parsed.body_text.encode("ascii", "backslashreplace").decode()
    again = dataclasses.replace(parsed, body_text=ascii_text)
    assert again.size == len(ascii_text) != expected  # derived from the new text
