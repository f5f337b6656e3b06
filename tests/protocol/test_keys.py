"""Keys, WIF, addresses and Base58: the flo-chain.md vectors and round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given

from flocloud.protocol.base58 import b58check_decode, b58check_encode, b58decode, b58encode
from flocloud.protocol.errors import BadFormat, FlocloudError, InvalidKey, WrongNetwork
from flocloud.protocol.hashes import _ripemd160_pure, ripemd160
from flocloud.protocol.keys import (
    PrivateKey,
    address_from_pubkey,
    check_address,
    decode_address,
    parse_pubkey,
    pubkey_matches_address,
)
from flocloud.protocol.params import MAINNET, REGTEST, TESTNET, network_by_name
from strategies import keys as key_strategy

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "keys.json").read_text())


class TestVectors:
    @pytest.mark.parametrize("v", VECTORS["keys"], ids=lambda v: v["wif"][:10])
    def test_wif_vectors(self, v: dict[str, object]) -> None:
        """Each WIF decodes to its secret, key, ID and network, and encodes back."""
        key = PrivateKey.from_wif(str(v["wif"]))
        assert key.network.name == v["network"]
        assert key.compressed == v["compressed"]
        if "secret" in v:
            assert key.secret.hex() == v["secret"]
        if "pubKey" in v:
            assert key.pubkey_hex == v["pubKey"]
        if "floID" in v:
            assert key.address == v["floID"]
        assert key.to_wif() == v["wif"]

    @pytest.mark.parametrize("v", VECTORS["addresses"], ids=lambda v: v["address"][:8])
    def test_address_vectors(self, v: dict[str, str]) -> None:
        """Each address decodes to its hash160, network and kind."""
        info = decode_address(v["address"])
        assert (info.hash160.hex(), info.network.name, info.kind) == (
            v["hash160"],
            v["network"],
            v["kind"],
        )
        assert b58check_encode(bytes([info.version]) + info.hash160) == v["address"]

    @pytest.mark.parametrize("v", VECTORS["invalid_addresses"], ids=lambda v: v["why"])
    def test_invalid_addresses(self, v: dict[str, str]) -> None:
        """Invalid addresses fail with their stable code."""
        with pytest.raises(FlocloudError) as exc:
            decode_address(v["address"])
        assert exc.value.code == v["code"]

    @pytest.mark.parametrize("v", VECTORS["invalid_wifs"], ids=lambda v: v["why"])
    def test_invalid_wifs(self, v: dict[str, str]) -> None:
        """Invalid WIFs fail with invalid-key."""
        with pytest.raises(FlocloudError) as exc:
            PrivateKey.from_wif(v["wif"])
        assert exc.value.code == v["code"]

    def test_mainnet_accepts_second_wif_prefix(self) -> None:
        """Mainnet WIFs with prefix 0xb0 (SECRET_KEY2) decode to the same key."""
        key = PrivateKey.from_wif(VECTORS["keys"][0]["wif"])
        alt = b58check_encode(b"\xb0" + key.secret + b"\x01")
        again = PrivateKey.from_wif(alt)
        assert (again.secret, again.network) == (key.secret, MAINNET)

    def test_p2sh_both_versions(self) -> None:
        """Both mainnet P2SH versions (0x5e emitted, 0x08 legacy) are accepted."""
        assert decode_address("fCwCSKVVB2FQcdY4By5ixBhsfAfPeu5DWH").version == 0x5E
        assert decode_address("4bsKkyri7WQ4HMYc5tSKFQJDXnWGWbegcK").version == 0x08


class TestRoundTrips:
    @given(key_strategy)
    def test_wif_round_trip(self, key: PrivateKey) -> None:
        """key -> WIF -> key is the identity, for both encodings and networks."""
        assert PrivateKey.from_wif(key.to_wif()) == key

    @given(key_strategy)
    def test_address_round_trip(self, key: PrivateKey) -> None:
        """An ID decodes to the HASH160 of its public key, on its network."""
        info = decode_address(key.address, key.network)
        assert info.kind == "p2pkh"
        assert pubkey_matches_address(key.public_key, key.address)
        assert address_from_pubkey(key.public_key, key.network) == key.address

    def test_base58_leading_zeros(self) -> None:
        """Leading zero bytes become leading 1s and back."""
        for raw in (b"", b"\x00", b"\x00\x00\x01", b"\xff" * 5):
            assert b58decode(b58encode(raw)) == raw


class TestErrors:
    def test_wrong_network(self) -> None:
        """A testnet ID is refused where mainnet is required, and accepted on regtest."""
        tid = VECTORS["keys"][2]["floID"]
        with pytest.raises(WrongNetwork):
            check_address(tid, MAINNET)
        assert check_address(tid, REGTEST) == tid
        assert check_address(tid, TESTNET) == tid

    def test_script_address_is_not_an_id(self) -> None:
        """check_address refuses P2SH addresses as IDs."""
        with pytest.raises(FlocloudError):
            check_address("fCwCSKVVB2FQcdY4By5ixBhsfAfPeu5DWH", MAINNET)

    def test_bad_pubkeys(self) -> None:
        """Public keys must be hex, 33/65 bytes and on the curve."""
        for bad in ("zz", "02" + "00" * 32, "05" + "11" * 32, "04" + "11" * 20):
            with pytest.raises(InvalidKey):
                parse_pubkey(bad)

    def test_bad_secret(self) -> None:
        """Zero and the curve order are not private keys."""
        with pytest.raises(InvalidKey):
            PrivateKey(b"\x00" * 32)

    def test_base58_bad_char(self) -> None:
        """Characters outside the alphabet are bad-format."""
        with pytest.raises(BadFormat):
            b58check_decode("0OIl")

    def test_network_names(self) -> None:
        """Networks are looked up by name; unknown names are refused."""
        assert network_by_name("main") is MAINNET
        with pytest.raises(ValueError, match="unknown network"):
            network_by_name("bitcoin")

    def test_key_repr_hides_secret(self) -> None:
        """repr() of a key never shows the secret."""
        key = PrivateKey.from_wif(VECTORS["keys"][0]["wif"])
        assert key.secret.hex() not in repr(key)
        assert key.to_wif() not in repr(key)


def test_pure_ripemd160_matches_hashlib() -> None:
    """The pure-Python RIPEMD-160 fallback equals hashlib's on several lengths."""
    for n in (0, 1, 55, 56, 63, 64, 65, 200):
        data = bytes(range(256))[:n] * 2
        assert _ripemd160_pure(data) == ripemd160(data)
