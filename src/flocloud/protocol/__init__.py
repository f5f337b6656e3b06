"""flocloud.protocol: the sans-I/O, consensus-critical core.

Pure functions and frozen dataclasses only: no asyncio, sockets, sqlite, clock or
randomness (callers pass time and random bytes in). Every node and client must compute
what is here identically; ``tests/vectors/`` freezes it.
"""

from .envelope import (
    PROTOCOL_VERSION,
    Body,
    Envelope,
    Limits,
    build_envelope,
    message_id,
    parse_envelope,
)
from .errors import ERROR_CODES, FlocloudError, error_from_code
from .keys import (
    Address,
    AddressInfo,
    PrivateKey,
    address_from_pubkey,
    check_address,
    decode_address,
    parse_pubkey,
    pubkey_matches_address,
)
from .params import MAINNET, NETWORKS, REGTEST, TESTNET, Network, network_by_name
from .signatures import (
    sign_data,
    sign_digest,
    verify_data,
    verify_digest,
    verify_flocrypto_legacy,
)

__all__ = [
    "ERROR_CODES",
    "MAINNET",
    "NETWORKS",
    "PROTOCOL_VERSION",
    "REGTEST",
    "TESTNET",
    "Address",
    "AddressInfo",
    "Body",
    "Envelope",
    "FlocloudError",
    "Limits",
    "Network",
    "PrivateKey",
    "address_from_pubkey",
    "build_envelope",
    "check_address",
    "decode_address",
    "error_from_code",
    "message_id",
    "network_by_name",
    "parse_envelope",
    "parse_pubkey",
    "pubkey_matches_address",
    "sign_data",
    "sign_digest",
    "verify_data",
    "verify_digest",
    "verify_flocrypto_legacy",
]
