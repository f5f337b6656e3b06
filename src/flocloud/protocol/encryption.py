"""Encryption to a receiver's public key: flocloud ECIES, version 1.

Construction (documented with vectors in docs/protocol.md)::

    blob   = 0x01 || E (33, compressed ephemeral public key) || nonce (12) || ciphertext || tag (16)
    S      = compressed( receiver_pubkey * e )              (33 bytes, ECDH shared point)
    key    = HKDF-SHA256(ikm=S, salt=E || R, info="flocloud-ecies-v1", length=32)
             where R is the receiver's public key in compressed form
    aad    = "flocloud-ecies-v1" || u8 len || sender ID || u8 len || receiver ID   (UTF-8)
    ciphertext || tag = AES-256-GCM(key, nonce, plaintext, aad)

Invariants owned here:
- Randomness is an argument (``ephemeral_secret``, ``nonce``): callers use os.urandom;
  vectors use fixed values. A fresh ephemeral key per message makes key reuse impossible.
- The sender and receiver IDs are bound as associated data: a ciphertext moved into another
  sender's or receiver's message does not decrypt.
- Any failure to decrypt (wrong key, tampering, truncation, wrong IDs) raises
  ``DecryptionFailed``; an unknown version byte raises ``UnsupportedVersion``.
- In a message, an encrypted payload is ``{"enc": "flocloud-ecies-v1", "ct": base64(blob)}``
  and the plaintext is the UTF-8 JSON text of the original payload.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import coincurve
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import BadFormat, DecryptionFailed, InvalidKey, UnsupportedVersion
from .keys import PrivateKey, parse_pubkey

__all__ = ["ENC_NAME", "VERSION", "decrypt", "encrypt", "is_sealed", "open_json", "seal_json"]

VERSION = 0x01
ENC_NAME = "flocloud-ecies-v1"
_INFO = ENC_NAME.encode()
_HEADER = 1 + 33 + 12
_TAG = 16


def _aad(sender_id: str, receiver_id: str) -> bytes:
    s, r = sender_id.encode(), receiver_id.encode()
    if len(s) > 255 or len(r) > 255:
        raise BadFormat("IDs longer than 255 bytes")
    return _INFO + bytes([len(s)]) + s + bytes([len(r)]) + r


def _key(shared: bytes, epk: bytes, receiver_pub33: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + receiver_pub33, info=_INFO)
    return hkdf.derive(shared)


def encrypt(
    plaintext: bytes,
    receiver_pub: bytes,
    *,
    sender_id: str,
    receiver_id: str,
    ephemeral_secret: bytes,
    nonce: bytes,
) -> bytes:
    """Encrypt ``plaintext`` so that only the holder of ``receiver_pub``'s key can read it."""
    if len(nonce) != 12:
        raise ValueError("nonce must be 12 bytes")
    pub = coincurve.PublicKey(parse_pubkey(receiver_pub))
    try:
        eph = coincurve.PrivateKey(ephemeral_secret)
    except ValueError:
        raise InvalidKey("ephemeral secret is not a valid private key") from None
    epk = eph.public_key.format(compressed=True)
    shared = pub.multiply(ephemeral_secret).format(compressed=True)
    key = _key(shared, epk, pub.format(compressed=True))
    sealed = AESGCM(key).encrypt(nonce, plaintext, _aad(sender_id, receiver_id))
    return bytes([VERSION]) + epk + nonce + sealed


def decrypt(
    blob: bytes, key: PrivateKey, *, sender_id: str, receiver_id: str | None = None
) -> bytes:
    """Decrypt a blob made by ``encrypt`` for ``key`` (receiver ID defaults to key.address)."""
    if not blob:
        raise DecryptionFailed("empty ciphertext")
    if blob[0] != VERSION:
        raise UnsupportedVersion(f"encryption version {blob[0]} is not supported (this is 1)")
    if len(blob) < _HEADER + _TAG:
        raise DecryptionFailed("ciphertext is truncated")
    epk, nonce, sealed = blob[1:34], blob[34:46], blob[46:]
    try:
        eph_pub = coincurve.PublicKey(epk)
    except ValueError:
        raise DecryptionFailed("ephemeral key is not a point on secp256k1") from None
    shared = eph_pub.multiply(key.secret).format(compressed=True)
    own33 = coincurve.PrivateKey(key.secret).public_key.format(compressed=True)
    aes = AESGCM(_key(shared, epk, own33))
    try:
        return aes.decrypt(nonce, sealed, _aad(sender_id, receiver_id or key.address))
    except InvalidTag:
        raise DecryptionFailed(
            "cannot decrypt: wrong key, wrong sender/receiver IDs or tampered data"
        ) from None


def seal_json(
    value: Any,
    receiver_pub: bytes,
    *,
    sender_id: str,
    receiver_id: str,
    ephemeral_secret: bytes,
    nonce: bytes,
) -> dict[str, str]:
    """An encrypted message payload carrying ``value``."""
    blob = encrypt(
        orjson.dumps(value),
        receiver_pub,
        sender_id=sender_id,
        receiver_id=receiver_id,
        ephemeral_secret=ephemeral_secret,
        nonce=nonce,
    )
    return {"enc": ENC_NAME, "ct": base64.b64encode(blob).decode("ascii")}


def is_sealed(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("enc") == ENC_NAME


def open_json(
    payload: Any, key: PrivateKey, *, sender_id: str, receiver_id: str | None = None
) -> Any:
    """The value inside an encrypted payload made by ``seal_json``."""
    if not is_sealed(payload) or not isinstance(payload.get("ct"), str):
        raise BadFormat(f'not an encrypted payload ({{"enc": "{ENC_NAME}", "ct": ...}})')
    try:
        blob = base64.b64decode(payload["ct"], validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionFailed("ciphertext is not valid base64") from None
    plain = decrypt(blob, key, sender_id=sender_id, receiver_id=receiver_id)
    try:
        return orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise DecryptionFailed("decrypted payload is not JSON") from None
