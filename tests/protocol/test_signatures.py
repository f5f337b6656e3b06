"""Signatures: RFC 6979 low-S signing, strict DER, high-S acceptance, legacy floCrypto."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from flocloud.protocol import signatures
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.signatures import (
    is_strict_der,
    sign_data,
    sign_digest,
    verify_data,
    verify_digest,
    verify_flocrypto_legacy,
)
from strategies import CURVE_ORDER, mainnet_keys

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "keys.json").read_text())


def der_parts(sig: bytes) -> tuple[int, int]:
    len_r = sig[3]
    r = int.from_bytes(sig[4 : 4 + len_r], "big")
    s = int.from_bytes(sig[6 + len_r :], "big")
    return r, s


def der(r: int, s: int) -> bytes:
    def enc(x: int) -> bytes:
        b = x.to_bytes((x.bit_length() + 7) // 8, "big")
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b

    body = enc(r) + enc(s)
    return b"\x30" + bytes([len(body)]) + body


class TestSigning:
    @given(mainnet_keys, st.binary(max_size=200))
    def test_sign_verify_round_trip(self, key: PrivateKey, data: bytes) -> None:
        """A signature verifies on its data and not on other data; it is low-S strict DER."""
        sig = sign_data(key, data)
        assert is_strict_der(sig)
        assert der_parts(sig)[1] <= CURVE_ORDER // 2
        assert verify_data(key.public_key, sig, data)
        assert not verify_data(key.public_key, sig, data + b"x")

    @given(mainnet_keys, st.binary(min_size=32, max_size=32))
    def test_high_s_is_accepted(self, key: PrivateKey, digest: bytes) -> None:
        """The high-S twin of a valid signature still verifies (signers we don't control)."""
        r, s = der_parts(sign_digest(key, digest))
        assert verify_digest(key.public_key, der(r, CURVE_ORDER - s), digest)

    def test_deterministic(self) -> None:
        """RFC 6979: the same key and digest give the same signature."""
        key = PrivateKey.from_wif(VECTORS["keys"][0]["wif"])
        assert sign_digest(key, b"\x01" * 32) == sign_digest(key, b"\x01" * 32)

    def test_non_strict_der_is_rejected(self) -> None:
        """Padded, truncated or trailing-garbage DER never verifies."""
        key = PrivateKey.from_wif(VECTORS["keys"][0]["wif"])
        sig = sign_data(key, b"m")
        r, s = der_parts(sig)
        padded_r = b"\x02" + bytes([sig[3] + 1]) + b"\x00" + sig[4 : 4 + sig[3]]
        padded = b"\x30" + bytes([sig[1] + 1]) + padded_r + sig[4 + sig[3] :]
        for bad in (sig + b"\x00", sig[:-1], padded, b"", b"\x30\x00"):
            assert not is_strict_der(bad)
            assert not verify_data(key.public_key, bad, b"m")
        assert (r, s) == der_parts(sig)

    def test_parsed_keys_are_kept_and_still_checked(self) -> None:
        """A key is parsed once and verifies every signature of its own again; a key not on
        the curve fails every time, from the cache too; bytes-like keys are keys."""
        signatures._parsed_pubkey.cache_clear()
        key = PrivateKey.from_wif(VECTORS["keys"][0]["wif"])
        other = PrivateKey(hashlib.sha256(b"another key").digest())
        for i in range(3):
            data = b"m%d" % i
            assert verify_data(key.public_key, sign_data(key, data), data)
            assert not verify_data(key.public_key, sign_data(other, data), data)
        info = signatures._parsed_pubkey.cache_info()
        assert (info.misses, info.hits) == (1, 5)
        off_curve = b"\x02" + b"\xff" * 32  # x above the field's prime: no point
        for _ in range(2):
            assert not verify_data(off_curve, sign_data(key, b"m"), b"m")
        assert verify_data(bytearray(key.public_key), sign_data(key, b"m"), b"m")
        assert signatures._parsed_pubkey.cache_info().currsize == 2


class TestLegacy:
    def test_flocrypto_vector(self) -> None:
        """The pyflo README floCrypto signature (V7) verifies only with the legacy rule."""
        v = VECTORS["flocrypto_legacy"][0]
        pub, sig = bytes.fromhex(v["pubKey"]), bytes.fromhex(v["sign"])
        assert verify_flocrypto_legacy(pub, sig, v["message"])
        assert not verify_data(pub, sig, v["message"].encode())
        assert not verify_flocrypto_legacy(pub, sig, v["message"] + "!")
