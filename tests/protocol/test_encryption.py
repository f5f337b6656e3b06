"""flocloud-ecies-v1: frozen vectors, round trips and every failure mode."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flocloud.protocol.encryption import decrypt, encrypt, open_json, seal_json
from flocloud.protocol.errors import BadFormat, DecryptionFailed, UnsupportedVersion
from flocloud.protocol.keys import PrivateKey
from strategies import json_values, secrets

V = json.loads((Path(__file__).parents[1] / "vectors" / "encryption.json").read_text())
RECEIVER = PrivateKey.from_wif(V["receiver_wif"])
SENDER = PrivateKey.from_wif(V["sender_wif"])


@pytest.mark.parametrize("case", V["cases"], ids=lambda c: f"{len(c['plaintext']) // 2}B")
def test_vectors(case: dict[str, str]) -> None:
    """Fixed ephemeral keys and nonces reproduce each blob; each blob decrypts."""
    blob = encrypt(
        bytes.fromhex(case["plaintext"]),
        RECEIVER.public_key,
        sender_id=case["sender_id"],
        receiver_id=case["receiver_id"],
        ephemeral_secret=bytes.fromhex(case["ephemeral_secret"]),
        nonce=bytes.fromhex(case["nonce"]),
    )
    assert blob.hex() == case["blob"]
    assert decrypt(blob, RECEIVER, sender_id=case["sender_id"]).hex() == case["plaintext"]


def test_json_vector() -> None:
    """The sealed JSON payload vector opens to its value."""
    j = V["json"]
    sealed = seal_json(
        j["value"],
        RECEIVER.public_key,
        sender_id=SENDER.address,
        receiver_id=RECEIVER.address,
        ephemeral_secret=bytes.fromhex(j["ephemeral_secret"]),
        nonce=bytes.fromhex(j["nonce"]),
    )
    assert sealed == j["payload"]
    assert open_json(j["payload"], RECEIVER, sender_id=SENDER.address) == j["value"]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300), secrets, st.binary(min_size=12, max_size=12))
def test_round_trip(plaintext: bytes, eph: bytes, nonce: bytes) -> None:
    """Any bytes come back exactly."""
    blob = encrypt(
        plaintext,
        RECEIVER.public_key,
        sender_id=SENDER.address,
        receiver_id=RECEIVER.address,
        ephemeral_secret=eph,
        nonce=nonce,
    )
    assert decrypt(blob, RECEIVER, sender_id=SENDER.address) == plaintext


@settings(max_examples=30, deadline=None)
@given(json_values())
def test_json_round_trip(value: Any) -> None:
    """Any JSON payload comes back equal."""
    sealed = seal_json(
        value,
        RECEIVER.public_key,
        sender_id=SENDER.address,
        receiver_id=RECEIVER.address,
        ephemeral_secret=b"\x05" * 32,
        nonce=b"\x06" * 12,
    )
    assert open_json(sealed, RECEIVER, sender_id=SENDER.address) == value


class TestFailures:
    blob = bytes.fromhex(V["cases"][1]["blob"])

    def test_wrong_key(self) -> None:
        """Another key cannot decrypt."""
        with pytest.raises(DecryptionFailed):
            decrypt(self.blob, SENDER, sender_id=SENDER.address, receiver_id=RECEIVER.address)

    def test_wrong_sender_bound(self) -> None:
        """A ciphertext moved to another sender's message does not decrypt."""
        with pytest.raises(DecryptionFailed):
            decrypt(self.blob, RECEIVER, sender_id=RECEIVER.address)

    @pytest.mark.parametrize("pos", [1, 20, 40, 50, -1])
    def test_tampered(self, pos: int) -> None:
        """Flipping any byte (key, nonce, ciphertext or tag) is detected."""
        b = bytearray(self.blob)
        b[pos] ^= 0x01
        with pytest.raises(DecryptionFailed):
            decrypt(bytes(b), RECEIVER, sender_id=SENDER.address)

    def test_truncated_and_unknown_version(self) -> None:
        """Short blobs and other versions give clear errors."""
        with pytest.raises(DecryptionFailed):
            decrypt(self.blob[:30], RECEIVER, sender_id=SENDER.address)
        with pytest.raises(DecryptionFailed):
            decrypt(b"", RECEIVER, sender_id=SENDER.address)
        with pytest.raises(UnsupportedVersion):
            decrypt(b"\x02" + self.blob[1:], RECEIVER, sender_id=SENDER.address)

    def test_bad_payloads(self) -> None:
        """Malformed encrypted payloads give flocloud errors."""
        with pytest.raises(BadFormat):
            open_json({"enc": "other"}, RECEIVER, sender_id="")
        with pytest.raises(DecryptionFailed):
            open_json({"enc": "flocloud-ecies-v1", "ct": "!!"}, RECEIVER, sender_id="")
        ct = base64.b64encode(self.blob).decode()
        with pytest.raises(DecryptionFailed):
            open_json({"enc": "flocloud-ecies-v1", "ct": ct}, RECEIVER, sender_id="")
