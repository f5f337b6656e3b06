"""ECDSA over secp256k1: signing, strict-DER verification, and the legacy floCrypto form.

Invariants owned here:
- We sign SHA-256 digests with RFC 6979 nonces (libsecp256k1 via coincurve) and always
  emit low-S, strict-DER signatures (BIP 66 encoding, no hash-type byte).
- Verification demands strict DER but accepts high S: it normalizes S first, because
  signers outside our control (OpenSSL, old JS wallets) emit high-S signatures.
- ``verify_flocrypto_legacy`` is the only verifier for RanchiMall floCrypto.signData
  signatures (flo-chain.md V7), whose "digest" is the SHA-256 hex string read as decimal
  digits. It is separate and explicitly named so it is never used by accident.
- A public key is parsed (decompressed and checked on the curve, ~6 µs, an eighth of a
  check) once per distinct key bytes among the last ``PARSED_KEYS``: senders write
  again and again. The parsed point is only read by the verifier, never changed.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import coincurve
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from .keys import PrivateKey

__all__ = [
    "flocrypto_legacy_digest",
    "is_strict_der",
    "low_s_der",
    "sign_data",
    "sign_digest",
    "verify_data",
    "verify_digest",
    "verify_flocrypto_legacy",
]


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """DER signature (low S, RFC 6979) of a 32-byte digest."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    sig: bytes = _signer(key.secret).sign(digest, hasher=None)
    return sig


@functools.lru_cache(maxsize=256)
def _signer(secret: bytes) -> coincurve.PrivateKey:
    return coincurve.PrivateKey(secret)


def sign_data(key: PrivateKey, data: bytes) -> bytes:
    """DER signature of SHA-256(data)."""
    return sign_digest(key, hashlib.sha256(data).digest())


def is_strict_der(sig: bytes) -> bool:
    """BIP 66 ``IsValidSignatureEncoding`` for a signature without the hash-type byte."""
    n = len(sig)
    if n < 8 or n > 72 or sig[0] != 0x30 or sig[1] != n - 2 or sig[2] != 0x02:
        return False
    len_r = sig[3]
    if len_r == 0 or 5 + len_r >= n or sig[4 + len_r] != 0x02:
        return False
    len_s = sig[5 + len_r]
    if len_s == 0 or len_r + len_s + 6 != n:
        return False
    r0, s0 = 4, 6 + len_r
    for start, length in ((r0, len_r), (s0, len_s)):
        if sig[start] & 0x80:  # negative
            return False
        if length > 1 and sig[start] == 0 and not sig[start + 1] & 0x80:  # padded
            return False
    return True


PARSED_KEYS = 8192  # distinct public keys kept parsed (~100 bytes each)


@functools.lru_cache(maxsize=PARSED_KEYS)
def _parsed_pubkey(pub: bytes) -> Any:
    """The parsed point of ``pub``, or None when it is not a key on the curve (pure: the
    same bytes always parse the same way)."""
    pk = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(GLOBAL_CONTEXT.ctx, pk, pub, len(pub)):
        return None
    return pk


def verify_digest(pub: bytes, sig: bytes, digest: bytes) -> bool:
    """True when ``sig`` (strict DER, any S) signs ``digest`` under ``pub``. Never raises."""
    if len(digest) != 32 or not is_strict_der(sig):
        return False
    ctx = GLOBAL_CONTEXT.ctx
    parsed = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_der(ctx, parsed, sig, len(sig)):
        return False
    norm = ffi.new("secp256k1_ecdsa_signature *")
    lib.secp256k1_ecdsa_signature_normalize(ctx, norm, parsed)
    pk = _parsed_pubkey(pub if type(pub) is bytes else bytes(pub))  # a key of the cache
    if pk is None:
        return False
    return bool(lib.secp256k1_ecdsa_verify(ctx, norm, digest, pk) == 1)


def low_s_der(sig: bytes) -> bytes:
    """The low-S strict-DER form of a DER signature (a signature and its high-S twin give
    the same bytes); ``sig`` itself when it does not parse."""
    ctx = GLOBAL_CONTEXT.ctx
    parsed = ffi.new("secp256k1_ecdsa_signature *")
    if not is_strict_der(sig) or not lib.secp256k1_ecdsa_signature_parse_der(
        ctx, parsed, sig, len(sig)
    ):
        return sig
    lib.secp256k1_ecdsa_signature_normalize(ctx, parsed, parsed)
    out = ffi.new("unsigned char[72]")
    size = ffi.new("size_t *", 72)
    lib.secp256k1_ecdsa_signature_serialize_der(ctx, out, size, parsed)
    return bytes(ffi.buffer(out, size[0]))


def verify_data(pub: bytes, sig: bytes, data: bytes) -> bool:
    """True when ``sig`` signs SHA-256(data) under ``pub``."""
    return verify_digest(pub, sig, hashlib.sha256(data).digest())


def flocrypto_legacy_digest(message: str) -> bytes:
    """The integer floCrypto.signData really signs: SHA-256 hex digits read as decimal."""
    hexdigest = hashlib.sha256(message.encode("utf-8")).hexdigest()
    e = 0
    for ch in hexdigest:
        e = e * 10 + int(ch, 16)
    return e.to_bytes(32, "big")  # e < 16 * 10**63 < n, so no reduction happens


def verify_flocrypto_legacy(pub: bytes, sig: bytes, message: str) -> bool:
    """Verify a RanchiMall ``floCrypto.signData`` signature (flo-chain.md V7)."""
    return verify_digest(pub, sig, flocrypto_legacy_digest(message))
