"""Mutual authentication of supernode links (pure).

Handshake over a websocket (the initiator is the "client" side)::

    client -> server  {"op": "peer.hello", "node_id": A, "nonce": na}
    server -> client  {"node_id": B, "nonce": nb, "sign": sig_B(transcript("server"))}
    client -> server  {"op": "peer.auth", "sign": sig_A(transcript("client"))}

    transcript(role) = SHA-256("flocloud-peer-v1" 0x00 role 0x00 A 0x00 B 0x00 na 0x00 nb)

Invariants owned here:
- Both nonces are fresh 32-byte values from each side, so a signature is bound to one
  session and one direction: it can be neither replayed nor reflected.
- A signature counts only with the public key the chain registry lists for that node ID;
  an ID that is not in the registry cannot authenticate, so it can neither replicate nor
  read replication streams.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from .errors import BadFormat, Forbidden, InvalidSignature
from .keys import PrivateKey
from .signatures import sign_digest, verify_digest

__all__ = ["check_peer", "sign_transcript", "transcript"]

_DOMAIN = b"flocloud-peer-v1"


def transcript(
    role: str, client_id: str, server_id: str, client_nonce: str, server_nonce: str
) -> bytes:
    if role not in ("client", "server"):
        raise ValueError("role is client or server")
    for nonce in (client_nonce, server_nonce):
        if not isinstance(nonce, str) or len(nonce) != 64:
            raise BadFormat("nonces are 32 bytes in hex")
    parts = [
        _DOMAIN,
        role.encode(),
        client_id.encode(),
        server_id.encode(),
        client_nonce.encode(),
        server_nonce.encode(),
    ]
    return hashlib.sha256(b"\x00".join(parts)).digest()


def sign_transcript(key: PrivateKey, digest: bytes) -> str:
    return sign_digest(key, digest).hex()


def check_peer(
    registry: Mapping[str, str], node_id: str, signature_hex: str, digest: bytes
) -> None:
    """Raise unless ``node_id`` is registered and signed ``digest`` with its registered key."""
    pub_hex = registry.get(node_id)
    if pub_hex is None:
        raise Forbidden(f"{node_id} is not a registered supernode")
    try:
        sig = bytes.fromhex(signature_hex)
    except (ValueError, TypeError):
        raise BadFormat("peer signature is not hex") from None
    if not verify_digest(bytes.fromhex(pub_hex), sig, digest):
        raise InvalidSignature(f"peer {node_id} did not prove its registered key")
