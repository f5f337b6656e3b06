"""FLO keys and IDs: private keys and WIF, public keys, P2PKH/P2SH addresses.

Invariants owned here:
- A FLO ID is the P2PKH address of a public key: Base58Check(version || HASH160(pubkey)).
  The ID depends on the key's encoding: compressed (33 bytes) and uncompressed (65 bytes)
  forms of one key are different IDs, exactly as in Flo Core.
- WIF = Base58Check(prefix || secret32 [|| 0x01 if compressed]). We emit the network's first
  prefix and accept all of them on decode (mainnet: 0xa3 and 0xb0).
- Testnet and regtest share version bytes, so an ``o…`` address decodes as "testnet"
  and is equally valid on regtest.
- Nothing here draws randomness: a new key is made from 32 bytes the caller supplies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, NewType

import coincurve

from .base58 import b58check_decode, b58check_encode
from .errors import BadFormat, InvalidAddress, InvalidKey, WrongNetwork
from .hashes import hash160
from .params import MAINNET, TESTNET, Network

__all__ = [
    "Address",
    "AddressInfo",
    "PrivateKey",
    "address_from_pubkey",
    "check_address",
    "decode_address",
    "parse_pubkey",
    "pubkey_matches_address",
]

Address = NewType("Address", str)
"""A FLO address (the ID of a user, application, node or data piece)."""

_CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A secp256k1 private key with the network and encoding (compressed or not) of its ID."""

    secret: bytes
    network: Network = MAINNET
    compressed: bool = True

    def __post_init__(self) -> None:
        if len(self.secret) != 32 or not 0 < int.from_bytes(self.secret, "big") < _CURVE_ORDER:
            raise InvalidKey("a private key is 32 bytes in 1..n-1")

    @classmethod
    def from_secret(
        cls, secret: bytes, network: Network = MAINNET, *, compressed: bool = True
    ) -> PrivateKey:
        return cls(bytes(secret), network, compressed)

    @classmethod
    def from_wif(cls, wif: str, network: Network | None = None) -> PrivateKey:
        """Decode a WIF; the network is detected from the prefix unless one is given."""
        try:
            raw = b58check_decode(wif.strip())
        except BadFormat as exc:
            raise InvalidKey(f"invalid WIF: {exc.message}") from None
        if len(raw) == 33:
            compressed = False
        elif len(raw) == 34 and raw[33] == 0x01:
            compressed = True
        else:
            raise InvalidKey("invalid WIF: wrong length or compression flag")
        prefix = raw[0]
        candidates = [network] if network else [MAINNET, TESTNET]
        for net in candidates:
            if prefix in net.wif:
                return cls(raw[1:33], net, compressed)
        if network is not None:
            raise WrongNetwork(f"WIF prefix 0x{prefix:02x} is not a {network.name} key")
        raise InvalidKey(f"invalid WIF: unknown prefix 0x{prefix:02x}")

    def to_wif(self) -> str:
        payload = bytes([self.network.wif[0]]) + self.secret
        return b58check_encode(payload + (b"\x01" if self.compressed else b""))

    @property
    def public_key(self) -> bytes:
        """The public key in the encoding this key's ID uses (33 or 65 bytes)."""
        return _public_key(self.secret, self.compressed)

    @property
    def pubkey_hex(self) -> str:
        return self.public_key.hex()

    @property
    def address(self) -> Address:
        return _address(self.public_key, self.network.p2pkh)

    def __repr__(self) -> str:  # never leak the secret into logs
        return f"PrivateKey(address={self.address}, network={self.network.name})"


@functools.lru_cache(maxsize=1024)
def _public_key(secret: bytes, compressed: bool) -> bytes:
    # A pure function of its arguments: caching it is safe and saves ~40 µs per use.
    return bytes(coincurve.PrivateKey(secret).public_key.format(compressed=compressed))


@functools.lru_cache(maxsize=4096)
def _address(pub: bytes, version: int) -> Address:
    return Address(b58check_encode(bytes([version]) + hash160(pub)))


def parse_pubkey(pub: bytes | str) -> bytes:
    """Validate a public key (hex or bytes, 33 or 65 bytes, on the curve); returns bytes."""
    if isinstance(pub, str):
        try:
            pub = bytes.fromhex(pub)
        except ValueError:
            raise InvalidKey("public key is not hex") from None
    if len(pub) not in (33, 65) or pub[0] not in ((2, 3) if len(pub) == 33 else (4,)):
        raise InvalidKey("public key must be 33 (compressed) or 65 (uncompressed) bytes")
    try:
        coincurve.PublicKey(pub)
    except (ValueError, TypeError):
        raise InvalidKey("public key is not a point on secp256k1") from None
    return pub


def address_from_pubkey(pub: bytes, network: Network = MAINNET) -> Address:
    """The P2PKH address (FLO ID) of a public key, in the key's own encoding."""
    return _address(bytes(pub), network.p2pkh)


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """What an address decodes to."""

    address: str
    network: Network  # testnet for o… (regtest shares the version bytes)
    kind: Literal["p2pkh", "p2sh"]
    hash160: bytes
    version: int

    def valid_on(self, network: Network) -> bool:
        if self.kind == "p2pkh":
            return self.version == network.p2pkh
        return self.version in network.p2sh


def decode_address(address: str, network: Network | None = None) -> AddressInfo:
    """Decode and validate an address (checksum, length, version byte, optional network)."""
    if not isinstance(address, str):
        raise InvalidAddress("an address is a 25-36 character Base58Check string")
    info = _decode_address(address)
    if network is not None and not info.valid_on(network):
        raise WrongNetwork(f"{address} is a {info.network.name} address, not {network.name}")
    return info


@functools.lru_cache(maxsize=8192)
def _decode_address(address: str) -> AddressInfo:
    # pure: the same string always decodes the same way (errors are not cached)
    if not 25 <= len(address) <= 36:
        raise InvalidAddress("an address is a 25-36 character Base58Check string")
    try:
        raw = b58check_decode(address)
    except BadFormat as exc:
        raise InvalidAddress(f"invalid address: {exc.message}") from None
    if len(raw) != 21:
        raise InvalidAddress("invalid address: payload is not 21 bytes")
    version, h = raw[0], raw[1:]
    for net in (MAINNET, TESTNET):
        kind: Literal["p2pkh", "p2sh"] | None = (
            "p2pkh" if version == net.p2pkh else "p2sh" if version in net.p2sh else None
        )
        if kind is not None:
            return AddressInfo(address, net, kind, h, version)
    raise InvalidAddress(f"invalid address: unknown version byte 0x{version:02x}")


def check_address(address: str, network: Network, *, p2pkh_only: bool = True) -> Address:
    """Validate an ID for ``network`` (P2PKH only by default); returns it typed."""
    info = decode_address(address, network)
    if p2pkh_only and info.kind != "p2pkh":
        raise InvalidAddress(f"{address} is a script address, not a FLO ID")
    return Address(address)


def pubkey_matches_address(pub: bytes, address: str) -> bool:
    """True when HASH160(pub) is the payload of ``address`` (P2PKH of any network)."""
    try:
        info = decode_address(address)
    except InvalidAddress:
        return False
    return info.kind == "p2pkh" and info.hash160 == hash160(pub)
