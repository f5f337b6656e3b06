"""Requests of the existing FLO cloud's client (shared/reference/flo-cloud-legacy.md §3-4):
receiver forms, the signing rule, identities and the records that replicate. Pure.

Invariants owned here:
- Checks run in the reference's order (JSON, time, dispatch on the key present, receiver,
  sender, ``HASH160(pubKey)`` = the sender's payload, signature); the first failure is a
  flocloud error whose message is the text the existing client shows (``Invalid Time``…).
- Signed strings are the reference's fields joined with ``|`` under JavaScript's
  ``Array.join`` rules (``js_join``); signatures are checked with
  ``verify_flocrypto_legacy`` only, and nothing here ever signs for a client.
- ``proxy_id`` maps every receiver form (Base58 of any version, bech32, ``0x`` + 40 hex, a
  66/130-hex public key) to the FLO mainnet address of its 20-byte payload: one inbox.
- A request's identity ``rid`` covers what the client signed (operation, inbox, public
  key, the low-S form of the signature, the signed string): the same signed request sent
  again (a replay, a retry after a failover) has the same ``rid``; a second signature of
  the same content (fresh nonce) is a new write.
- A ``LegacyRecord`` is what replicates: the client's fields verbatim plus the accepting
  node's assignment (``vectorClock`` and ``log_time`` of a store; ``target`` and
  ``log_time`` of a tag/note/edit). Its ``id`` covers ``rid`` and the assignment, so two
  nodes that accepted one request (a failover) give two records that every replica keeps
  and orders the same way. ``parse_record`` re-verifies the client's signature.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import bech32

from .base58 import b58check_decode, b58check_encode
from .errors import (
    BadFormat,
    IdMismatch,
    InvalidAddress,
    InvalidSignature,
    StaleTime,
    TooLarge,
)
from .hashes import hash160
from .keys import parse_pubkey
from .params import MAINNET
from .signatures import low_s_der, verify_flocrypto_legacy

__all__ = [
    "CHANGE_OPS",
    "ChangeRequest",
    "LegacyRecord",
    "Presence",
    "StoreRequest",
    "change_permitted",
    "check_re_sign",
    "js_join",
    "js_string",
    "make_record",
    "parse_presence",
    "parse_record",
    "parse_write",
    "payload_of",
    "proxy_id",
    "signed_string",
    "store_string",
    "vector_clock",
]

CHANGE_OPS: tuple[Literal["tag", "note", "edit"], ...] = ("tag", "note", "edit")
Op = Literal["store", "tag", "note", "edit"]
MAX_TEXT = 1 << 20  # one field of a tag/note/edit or a type/application name
_VC = re.compile(r"^[0-9]{13}_(.+)$")
_HEX40 = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEXKEY = re.compile(r"^([0-9a-fA-F]{66}|[0-9a-fA-F]{130})$")


# -- JavaScript string rules -----------------------------------------------------------


def _js_number(x: float) -> str:
    """``Number.prototype.toString()`` of a double (ECMAScript Number::toString)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mant, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mant.partition(".")
    frac = frac.rstrip("0")
    raw = (whole + frac).lstrip("0")
    digits = raw.rstrip("0")
    # value = int(digits) * 10^(n - k): n is where the decimal point goes
    n = len(digits) + int(exp or 0) - len(frac) + (len(raw) - len(digits))
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + out


def js_string(value: Any) -> str:
    """A JSON value as ``Array.join`` prints one element (``null`` is empty)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value) if abs(value) <= 2**53 else _js_number(float(value))
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return js_join(value, ",")
    return "[object Object]"


def js_join(values: list[Any], sep: str = "|") -> str:
    return sep.join(js_string(v) for v in values)


# -- receivers ---------------------------------------------------------------------------


def payload_of(receiver: Any) -> bytes:
    """The 20-byte payload of any receiver form (``InvalidAddress`` otherwise)."""
    if not isinstance(receiver, str) or not 20 <= len(receiver) <= 130:
        raise InvalidAddress("Invalid receiverID")
    if _HEX40.match(receiver):
        return bytes.fromhex(receiver[2:])
    if _HEXKEY.match(receiver):
        try:
            return hash160(parse_pubkey(receiver))
        except Exception:
            raise InvalidAddress("Invalid receiverID") from None
    hrp, _ = bech32.bech32_decode(receiver)
    if hrp is not None:  # a segwit v0 key hash (``bc1q…``, ``flo1…``)
        _, prog = bech32.decode(hrp, receiver)
        if prog is None or len(prog) != 20:
            raise InvalidAddress("Invalid receiverID")
        return bytes(prog)
    try:
        raw = b58check_decode(receiver)
    except BadFormat:
        raise InvalidAddress("Invalid receiverID") from None
    if len(raw) != 21:
        raise InvalidAddress("Invalid receiverID")
    return raw[1:]


def proxy_id(receiver: Any) -> str:
    """The inbox of a receiver: the FLO mainnet address of its payload."""
    return b58check_encode(bytes([MAINNET.p2pkh]) + payload_of(receiver))


# -- requests ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """A write (``message`` present): the client's fields, verbatim."""

    fields: dict[str, Any]  # senderID receiverID pubKey message time application type comment sign

    @property
    def sender(self) -> str:
        return str(self.fields["senderID"])

    @property
    def receiver(self) -> str:
        return proxy_id(self.fields["receiverID"])


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """A tag, note or edit of a stored row (by its ``vectorClock``)."""

    op: Literal["tag", "note", "edit"]
    fields: dict[str, Any]  # receiverID requestorID pubKey time vectorClock <op> [re_sign] sign

    @property
    def sender(self) -> str:
        return str(self.fields["requestorID"])

    @property
    def receiver(self) -> str:
        return proxy_id(self.fields["receiverID"])

    @property
    def value(self) -> Any:
        return self.fields[self.op]


Request = StoreRequest | ChangeRequest
_STORE_KEYS = ("senderID", "receiverID", "pubKey", "message", "time", "application", "type",
               "comment", "sign")  # fmt: skip
_CHANGE_KEYS = ("receiverID", "requestorID", "pubKey", "time", "vectorClock", "sign")


def store_string(f: dict[str, Any], comment: Any) -> str:
    return js_join(
        [f.get("receiverID"), f.get("time"), f.get("application"), f.get("type"),
         f.get("message"), comment]
    )  # fmt: skip


def signed_string(req: Request) -> str:
    f = req.fields
    if isinstance(req, StoreRequest):
        return store_string(f, f.get("comment"))
    parts = [f.get("time"), f.get("vectorClock"), f.get(req.op)]
    if req.op == "edit":
        parts.append(f.get("re_sign"))
    return js_join(parts)


def _check_time(value: Any, now_ms: int | None, delay_delta: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StaleTime("Invalid Time")
    if now_ms is not None and abs(now_ms - value) > delay_delta:
        raise StaleTime("Invalid Time")


def _text(f: dict[str, Any], key: str, *, required: bool = False, limit: int = MAX_TEXT) -> None:
    v = f.get(key)
    if v is None and not required:
        return
    if not isinstance(v, str) or len(v) > limit:
        raise BadFormat(f"Invalid {key}")


def _check_signer(f: dict[str, Any], id_key: str, sign: str) -> tuple[bytes, bytes]:
    try:
        payload = payload_of(f.get(id_key))
    except InvalidAddress:
        raise InvalidAddress(f"Invalid {id_key}") from None
    try:
        pub = parse_pubkey(str(f.get("pubKey", "")))
    except Exception:
        raise IdMismatch("Invalid pubKey") from None
    if hash160(pub) != payload:
        raise IdMismatch("Invalid pubKey")
    try:
        sig = bytes.fromhex(sign)
    except ValueError:
        raise InvalidSignature("Invalid signature") from None
    return pub, sig


def parse_write(doc: Any, now_ms: int | None, delay_delta: int) -> Request:
    """A store/tag/note/edit request, checked in the reference's order (``now_ms`` None:
    no clock check, for records already accepted by a supernode)."""
    if not isinstance(doc, dict):
        raise BadFormat("Invalid Data-format")
    _check_time(doc.get("time"), now_ms, delay_delta)
    req: Request
    if "message" in doc:
        req = StoreRequest({k: doc.get(k) for k in _STORE_KEYS})
        _text(req.fields, "message", required=True, limit=1 << 31)
        for key in ("application", "type", "comment"):
            _text(req.fields, key)
        signer_key = "senderID"
    else:
        op = next((o for o in CHANGE_OPS if o in doc), None)
        if op is None:
            raise BadFormat("Invalid Data-format")
        keys = (*_CHANGE_KEYS, op, *(("re_sign",) if op == "edit" else ()))
        req = ChangeRequest(op, {k: doc.get(k) for k in keys})
        _text(req.fields, op)
        if not isinstance(doc.get("vectorClock"), str):
            raise BadFormat("Invalid vectorClock")
        if op == "edit":
            _text(req.fields, "re_sign", required=True)
        signer_key = "requestorID"
    req.receiver  # noqa: B018 - raises "Invalid receiverID"
    sign = req.fields.get("sign")
    if not isinstance(sign, str):
        raise InvalidSignature("Invalid signature")
    pub, sig = _check_signer(req.fields, signer_key, sign)
    if not verify_flocrypto_legacy(pub, sig, signed_string(req)):
        raise InvalidSignature("Invalid signature")
    return req


def request_id(req: Request) -> str:
    """The identity of a signed request (replays have the same one)."""
    op = req.op if isinstance(req, ChangeRequest) else "store"
    pub = parse_pubkey(str(req.fields["pubKey"])).hex()
    sig = low_s_der(bytes.fromhex(str(req.fields["sign"]))).hex()
    text = "\0".join(("flocloud-legacy-v1", op, req.receiver, pub, sig, signed_string(req)))
    return hashlib.sha256(text.encode()).hexdigest()


def vector_clock(ms: int, sender: str) -> str:
    return f"{ms:013d}_{sender}"


# -- records (what replicates) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegacyRecord:
    """A legacy request with the accepting node's assignment; ``kind`` is its record kind."""

    request: Request
    rid: str
    id: str
    log_time: int
    vector_clock: str | None = None  # a store's
    target: str | None = None  # a change's: the rid of the row it changes
    kind: str = "legacy"

    @property
    def op(self) -> Op:
        return self.request.op if isinstance(self.request, ChangeRequest) else "store"

    @property
    def receiver(self) -> str:
        return self.request.receiver

    @property
    def sender(self) -> str:
        return self.request.sender

    @property
    def time(self) -> int:
        return int(self.request.fields["time"])

    def to_wire(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"op": self.op, "request": self.request.fields}
        doc["log_time"] = self.log_time
        if self.vector_clock is not None:
            doc["vectorClock"] = self.vector_clock
        if self.target is not None:
            doc["target"] = self.target
        return doc


def _record_id(rid: str, assigned: str, log_time: int) -> str:
    text = f"flocloud-legacy-record-v1\0{rid}\0{assigned}\0{log_time}"
    return hashlib.sha256(text.encode()).hexdigest()


def make_record(
    req: Request, log_time: int, *, vector_clock: str | None = None, target: str | None = None
) -> LegacyRecord:
    """The record of a request this node accepts, with its assignment."""
    rid = request_id(req)
    assigned = vector_clock if isinstance(req, StoreRequest) else target
    if not isinstance(assigned, str):
        raise BadFormat("a store needs a vectorClock, a change its target row")
    return LegacyRecord(req, rid, _record_id(rid, assigned, log_time), log_time,
                        vector_clock if isinstance(req, StoreRequest) else None,
                        target if isinstance(req, ChangeRequest) else None)  # fmt: skip


def parse_record(wire: Any, max_bytes: int) -> LegacyRecord:
    """A replicated record, re-verified: the client's signature, the assignment's form."""
    if not isinstance(wire, dict) or not isinstance(wire.get("request"), dict):
        raise BadFormat("a legacy record is {op, request, log_time, vectorClock|target}")
    if len(str(wire["request"].get("message", ""))) > max_bytes:
        raise TooLarge("Too large")
    req = parse_write(wire["request"], None, 0)
    op = req.op if isinstance(req, ChangeRequest) else "store"
    log_time = wire.get("log_time")
    if wire.get("op") != op or type(log_time) is not int or not 0 <= log_time < 10**13:
        raise BadFormat("a legacy record's op or log_time is wrong")
    vc = wire.get("vectorClock")
    if isinstance(req, StoreRequest):
        m = _VC.match(vc) if isinstance(vc, str) else None
        if m is None or m.group(1) != req.sender or int(m.group(0)[:13]) != log_time:
            raise BadFormat("a legacy store's vectorClock must be <13-digit ms>_<senderID>")
    target = wire.get("target")
    if isinstance(req, ChangeRequest) and not (isinstance(target, str) and len(target) == 64):
        raise BadFormat("a legacy change names its target row")
    return make_record(req, log_time, vector_clock=vc, target=target)


def check_re_sign(row: dict[str, Any], edit: ChangeRequest) -> None:
    """An edit's ``re_sign`` must sign the row's store string with the new comment, by the
    row's key: the edited row verifies end to end like the original."""
    try:
        pub = parse_pubkey(str(row.get("pubKey", "")))
        sig = bytes.fromhex(str(edit.fields.get("re_sign")))
    except Exception:
        raise InvalidSignature("Invalid re_sign") from None
    if not verify_flocrypto_legacy(pub, sig, store_string(row, edit.fields.get("edit"))):
        raise InvalidSignature("Invalid re_sign")


# -- permissions -------------------------------------------------------------------------


def change_permitted(
    op: str,
    requestor: str,
    row_sender: str,
    row_receiver: str,
    admin: str | None,
    sub_admins: tuple[str, ...],
    trusted: tuple[str, ...],
) -> bool:
    """Tags by the app's sub-admins or trusted IDs (and its admin); notes by the row's
    receiver (and the sub-admins when the receiver is the admin); edits by the sender.
    IDs compare by payload, so every form of one ID is the same person."""

    def same(a: str | None, b: str) -> bool:
        try:
            return a is not None and payload_of(a) == payload_of(b)
        except InvalidAddress:
            return False

    if op == "tag":
        return any(same(a, requestor) for a in (admin, *sub_admins, *trusted))
    if op == "note":
        if same(row_receiver, requestor):
            return True
        return same(admin, row_receiver) and any(same(a, requestor) for a in sub_admins)
    return op == "edit" and same(row_sender, requestor)


# -- presence ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presence:
    """``status: true`` marks ``floID`` online in ``application``; ``status: false`` tracks."""

    application: str
    online: str | None = None
    track: tuple[str, ...] = ()


def parse_presence(doc: dict[str, Any], now_ms: int, delay_delta: int) -> Presence:
    app = doc.get("application")
    if not isinstance(app, str):
        raise BadFormat("Invalid application")
    if doc.get("status") is True:
        _check_time(doc.get("time"), now_ms, delay_delta)
        sign = doc.get("sign")
        if not isinstance(sign, str):
            raise InvalidSignature("Invalid signature")
        pub, sig = _check_signer(doc, "floID", sign)
        text = js_join([doc.get("time"), app, doc.get("floID")])
        if not verify_flocrypto_legacy(pub, sig, text):
            raise InvalidSignature("Invalid signature")
        return Presence(app, online=str(doc["floID"]))
    track = doc.get("trackList")
    if not isinstance(track, list) or not all(isinstance(t, str) for t in track):
        raise BadFormat("Invalid trackList")
    return Presence(app, track=tuple(track[:1000]))
