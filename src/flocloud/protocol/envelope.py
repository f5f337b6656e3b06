"""The signed message envelope, protocol version 1.

Wire form (a JSON object)::

    {"body": "<JSON text of the body>", "pubKey": "<hex>", "sign": "<hex DER>"}

Invariants owned here (consensus-critical; see docs/protocol.md):
- The signature covers exactly ``body.encode("utf-8")``: the body's JSON text as
  transmitted (JWS-style). No canonicalization: a browser signs
  ``new TextEncoder().encode(JSON.stringify(body))`` and any float, key order or
  non-ASCII text is signed as written. Relays store and forward the text verbatim.
- ``sign`` is DER over SHA-256(body bytes); ``pubKey`` (33 or 65 bytes) must hash to
  ``senderID``; ``receiverID`` must be a P2PKH ID of the same network as ``senderID``.
- Message id = hex SHA-256 of the signed bytes, so a replayed message is a duplicate.
- Body fields are exactly: ``v`` (1), ``type``, ``senderID``, ``receiverID``,
  ``application``, ``time`` (client ms), ``payload`` (any JSON), optional ``comment``.
  Unknown fields are rejected so that version 1 stays unambiguous.
- Validation is pure: the caller passes the current time and the limits.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import (
    BadFormat,
    IdMismatch,
    InvalidKey,
    InvalidSignature,
    StaleTime,
    TooDeep,
    TooLarge,
    UnsupportedVersion,
    WrongNetwork,
)
from .frozen import fast_init
from .hashes import hash160
from .keys import PrivateKey, decode_address, parse_pubkey
from .signatures import sign_data, verify_data

__all__ = [
    "PROTOCOL_VERSION",
    "Body",
    "Envelope",
    "Limits",
    "build_envelope",
    "check_depth",
    "check_signature",
    "message_id",
    "parse_envelope",
    "parse_unverified",
    "utf8_size",
]

PROTOCOL_VERSION = 1
_BODY_FIELDS = frozenset(
    {"v", "type", "senderID", "receiverID", "application", "time", "payload", "comment"}
)
_REQUIRED = _BODY_FIELDS - {"comment"}
_MAX_NAME = 128  # type and application names
_MAX_COMMENT = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Validation limits; nodes take them from the chain config and their own config."""

    max_body_bytes: int = 64 * 1024
    max_depth: int = 32
    max_skew_ms: int = 5 * 60 * 1000  # |client time - node time| allowed


@fast_init
@dataclass(frozen=True, slots=True)
class Body:
    """The signed part of a message."""

    type: str
    senderID: str
    receiverID: str
    application: str
    time: int
    payload: Any
    comment: str | None = None
    v: int = PROTOCOL_VERSION

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "v": self.v,
            "type": self.type,
            "senderID": self.senderID,
            "receiverID": self.receiverID,
            "application": self.application,
            "time": self.time,
            "payload": self.payload,
        }
        if self.comment is not None:
            d["comment"] = self.comment
        return d


def utf8_size(text: str) -> int:
    """``text``'s length in UTF-8 bytes (for ASCII, the usual case, without a copy)."""
    return len(text) if text.isascii() else len(text.encode())


@fast_init
@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed, signature-checked message. ``body_text`` is what was signed; ``size`` its
    length in UTF-8 bytes (what quotas and write budgets charge), always derived from it
    (so ``dataclasses.replace`` of the text cannot leave it stale)."""

    body: Body
    body_text: str
    pubkey: bytes
    signature: bytes
    id: str = field(default="")
    size: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", utf8_size(self.body_text))

    def to_wire(self) -> dict[str, str]:
        return {"body": self.body_text, "pubKey": self.pubkey.hex(), "sign": self.signature.hex()}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_wire())


def message_id(body_bytes: bytes) -> str:
    """The message id: hex SHA-256 of the signed bytes."""
    return hashlib.sha256(body_bytes).hexdigest()


def check_depth(value: Any, max_depth: int) -> None:
    """Raise ``TooDeep`` when arrays/objects nest deeper than ``max_depth`` (the outermost
    array or object is at depth 1). Walks one level at a time, containers only: every
    payload passes here."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:
        if depth > max_depth:
            raise TooDeep(f"nesting deeper than {max_depth}")
        below = []
        for item in level:
            for c in item.values() if isinstance(item, dict) else item:
                if isinstance(c, dict | list):
                    below.append(c)
        level = below
        depth += 1


def build_envelope(
    key: PrivateKey,
    *,
    receiver: str,
    payload: Any,
    time_ms: int,
    application: str = "",
    type: str = "message",
    comment: str | None = None,
) -> Envelope:
    """Build and sign a message from ``key`` (the caller supplies the time)."""
    body = Body(
        type=type,
        senderID=key.address,
        receiverID=receiver,
        application=application,
        time=time_ms,
        payload=payload,
        comment=comment,
    )
    try:
        text = orjson.dumps(body.to_dict()).decode("utf-8")
    except TypeError as exc:
        raise BadFormat(f"payload is not JSON: {exc}") from None
    _check_body(body, key.public_key)
    raw = text.encode("utf-8")
    return Envelope(body, text, key.public_key, sign_data(key, raw), message_id(raw))


def _str_field(d: dict[str, Any], name: str, max_len: int) -> str:
    value = d.get(name)
    if not isinstance(value, str):
        raise BadFormat(f"body.{name} must be a string")
    if len(value) > max_len:
        raise TooLarge(f"body.{name} longer than {max_len} characters")
    return value


@functools.lru_cache(maxsize=8192)
def _key_id(pub: bytes) -> bytes:
    """HASH160 of a public key (senders write again and again: one hash each)."""
    return hash160(pub)


def _check_body(body: Body, pub: bytes) -> None:
    sender = decode_address(body.senderID)
    if sender.kind != "p2pkh":
        raise BadFormat("senderID must be a P2PKH FLO ID")
    receiver = decode_address(body.receiverID)
    if receiver.kind != "p2pkh":
        raise BadFormat("receiverID must be a P2PKH FLO ID")
    if receiver.network is not sender.network:
        raise WrongNetwork("receiverID and senderID are on different networks")
    if _key_id(pub) != sender.hash160:
        raise IdMismatch("pubKey does not hash to senderID")


def parse_envelope(
    wire: Any,
    *,
    now_ms: int | None,
    limits: Limits = Limits(),
) -> Envelope:
    """Validate a wire envelope (a dict, or its JSON bytes/str) and return it parsed.

    ``now_ms=None`` skips the clock check (for replaying stored messages).
    Raises only ``ProtocolViolation`` subclasses.
    """
    env = parse_unverified(wire, now_ms=now_ms, limits=limits)
    check_signature(env)
    return env


def check_signature(env: Envelope) -> None:
    """Step 8 of §3.3: the signature over the body's bytes (``InvalidSignature``; a key
    that is not on the curve is ``BadFormat``)."""
    check_signed_bytes(env.pubkey, env.signature, env.body_text.encode("utf-8"))


def check_signed_bytes(pubkey: bytes, signature: bytes, raw: bytes) -> None:
    """``check_signature`` of an envelope's parts: ``raw`` is its body's UTF-8 bytes."""
    if not verify_data(pubkey, signature, raw):
        try:  # the curve check is costly, so it runs only on the failure path
            parse_pubkey(pubkey)
        except InvalidKey as exc:
            raise BadFormat(f"pubKey: {exc.message}") from None
        raise InvalidSignature("signature does not match body and pubKey")


def parse_unverified(
    wire: Any,
    *,
    now_ms: int | None,
    limits: Limits = Limits(),
) -> Envelope:
    """Steps 1-7 of §3.3 without the signature check: the caller must still call
    ``check_signature`` (a node does it in batches off its event loop) before trusting it."""
    if isinstance(wire, bytes | bytearray | memoryview | str):
        if len(wire) > limits.max_body_bytes * 2 + 1024:
            raise TooLarge("envelope too large")
        try:
            wire = orjson.loads(wire)
        except orjson.JSONDecodeError:
            raise BadFormat("envelope is not valid JSON") from None
    if not isinstance(wire, dict):
        raise BadFormat("envelope must be a JSON object")
    if set(wire) != {"body", "pubKey", "sign"}:
        raise BadFormat("envelope must have exactly body, pubKey and sign")
    text, pub_hex, sig_hex = wire["body"], wire["pubKey"], wire["sign"]
    if not isinstance(text, str) or not isinstance(pub_hex, str) or not isinstance(sig_hex, str):
        raise BadFormat("body, pubKey and sign must be strings")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadFormat("body is not valid Unicode (lone surrogate)") from None
    if len(raw) > limits.max_body_bytes:
        raise TooLarge(f"body larger than {limits.max_body_bytes} bytes")
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadFormat("body is not valid JSON") from None
    if not isinstance(d, dict):
        raise BadFormat("body must be a JSON object")
    keys = set(d)
    if not keys >= _REQUIRED or not keys <= _BODY_FIELDS:
        missing, extra = sorted(_REQUIRED - keys), sorted(keys - _BODY_FIELDS)
        raise BadFormat(f"body fields: missing {missing}, unknown {extra}")
    v = d["v"]
    if type(v) is not int:
        raise BadFormat("body.v must be an integer")
    if v != PROTOCOL_VERSION:
        raise UnsupportedVersion(f"protocol version {v} is not supported (this is 1)")
    time_ms = d["time"]
    if type(time_ms) is not int or not 0 <= time_ms < 2**53:
        raise BadFormat("body.time must be an integer number of milliseconds")
    comment = d.get("comment")
    if comment is not None:
        comment = _str_field(d, "comment", _MAX_COMMENT)
    check_depth(d["payload"], limits.max_depth)
    body = Body(
        type=_str_field(d, "type", _MAX_NAME),
        senderID=_str_field(d, "senderID", 40),
        receiverID=_str_field(d, "receiverID", 40),
        application=_str_field(d, "application", _MAX_NAME),
        time=time_ms,
        payload=d["payload"],
        comment=comment,
    )
    try:
        pub = bytes.fromhex(pub_hex)
    except ValueError:
        raise BadFormat("pubKey is not hex") from None
    if len(pub) not in (33, 65):
        raise BadFormat("pubKey must be 33 or 65 bytes")
    try:
        sig = bytes.fromhex(sig_hex)
    except ValueError:
        raise BadFormat("sign is not hex") from None
    _check_body(body, pub)
    if now_ms is not None and abs(now_ms - time_ms) > limits.max_skew_ms:
        raise StaleTime(f"message time is more than {limits.max_skew_ms} ms from node time")
    return Envelope(body, text, pub, sig, message_id(raw))
