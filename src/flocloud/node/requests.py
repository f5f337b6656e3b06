"""The request schema layer: one ``msgspec`` Struct per operation, websocket and HTTP.

Invariants owned here:
- Every request is decoded and validated in one pass before any work: field types,
  integer ranges (``0 <= n < 2**53``, what every JSON implementation holds exactly),
  string lengths, list lengths. Whatever does not fit is ``bad-format`` (nesting beyond
  the decoder's reach is ``too-deep``), so no malformed input reaches ``internal``.
- Client operations and filters refuse unknown fields (a typo is an error, not a silent
  no-op). Peer operations ignore unknown fields, so supernodes of neighbouring versions
  keep talking during a rolling upgrade.
- A request ``id`` is a short string or a small integer; a subscription name a string of
  1-64 characters. When a frame is refused, its ``id`` is still echoed if it is valid.

Adding or changing an operation is one Struct here (its ``tag`` is the ``op``) plus one
``case`` in the dispatcher of ``server.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec

from flocloud.protocol.errors import BadFormat, FlocloudError, TooDeep

__all__ = [
    "MAX_SAFE",
    "OPS",
    "ChangesQuery",
    "Filter",
    "Frame",
    "ObjectQuery",
    "PeerRequest",
    "Request",
    "UInt",
    "decode_frame",
    "decode_record",
    "frame_id",
    "from_query",
]

MAX_SAFE = 2**53  # integers on the wire are below this (exact in every JSON library)

UInt = Annotated[int, msgspec.Meta(ge=0, lt=MAX_SAFE)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1, lt=MAX_SAFE)]
ShortStr = Annotated[str, msgspec.Meta(max_length=64)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]  # apps, types, object names
Text = Annotated[str, msgspec.Meta(max_length=1024)]  # comments
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]  # FLO IDs, message ids
Hex = Annotated[str, msgspec.Meta(max_length=256)]  # nonces, signatures, public keys
# The message cursor: an opaque token (protocol/cursor.py checks its content).
Cursor = Annotated[str, msgspec.Meta(max_length=8192)]
# Object versions: opaque strings (protocol/objectlog.py checks their content).
Version = Annotated[str, msgspec.Meta(max_length=2048)]
ReqId = ShortStr | UInt | None
SubName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
AnyList = Annotated[list[Any], msgspec.Meta(max_length=1000)]
T = TypeVar("T")


class WireEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    """The shape of a signed envelope; its content is checked by ``parse_envelope``."""

    body: str
    pubKey: Hex
    sign: Hex

    def to_dict(self) -> dict[str, str]:
        return {"body": self.body, "pubKey": self.pubKey, "sign": self.sign}


class Filter(msgspec.Struct, forbid_unknown_fields=True):
    """A query or subscription filter (``docs/protocol.md`` §6)."""

    receiver: Key
    application: Name | None = None
    type: Name | None = None
    sender: Key | None = None
    comment: Text | None = None
    since: UInt | None = None
    until: UInt | None = None
    ids: Annotated[list[Key], msgspec.Meta(max_length=1000)] | None = None
    after: Cursor | None = None
    limit: PositiveInt | None = None
    order: Literal["asc", "desc"] = "asc"
    include_deleted: bool = False
    kind: Literal["legacy", "*"] | None = None  # records of another kind (docs/legacy.md)


class ObjectQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /api/objects/{app}/{name}?version=``"""

    version: Version | None = None
    consistent: bool = False


class ChangesQuery(msgspec.Struct, forbid_unknown_fields=True):
    """``GET /api/objects/{app}/{name}/changes?since=&mode=``"""

    since: Version = "0"
    mode: Literal["patches", "diff"] = "patches"


# -- websocket frames -------------------------------------------------------------------


class Frame(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, kw_only=True):
    """Every websocket request: ``{"id", "op", ...}``."""

    id: ReqId = None


class Request(Frame):
    """A client operation."""


class Put(Request, tag="put"):
    envelope: WireEnvelope
    restore: bool = False


class Query(Request, tag="query"):
    filter: Filter


class Subscribe(Request, tag="subscribe"):
    sub: SubName
    filter: Filter


class Unsubscribe(Request, tag="unsubscribe"):
    sub: SubName


class ObjectGet(Request, tag="object.get"):
    application: Name
    name: Name
    version: Version | None = None
    consistent: bool = False


class ObjectChanges(Request, tag="object.changes"):
    application: Name
    name: Name
    since_version: Version = "0"
    mode: Literal["patches", "diff"] = "patches"


class SchemaGet(Request, tag="schema.get"):
    application: Name


class Ping(Request, tag="ping"):
    pass


class PeerRequest(Frame, forbid_unknown_fields=False):
    """A replication operation between supernodes (``docs/protocol.md`` §9)."""


class PeerHello(PeerRequest, tag="peer.hello"):
    node_id: Key
    nonce: Hex


class PeerAuth(PeerRequest, tag="peer.auth"):
    sign: Hex
    store_id: ShortStr | None = None


class PeerKey(PeerRequest, tag="peer.key"):
    receiver: Key
    after: Cursor = ""
    # the dots a client's cursor covers that the asking node lacks (cursor.lacking):
    # when given, the answer is the writes held under them, not those after ``after``
    lacking: Annotated[list[Any], msgspec.Meta(max_length=64)] | None = None


# a replicated write's fields (``peer.replicate``, a record of ``peer.replicate.batch``):
# the envelope is a WireEnvelope, or a record of ``kind`` (its kind checks it); the dots
# are checked by cursor.parse_dots
ReplicaDots = Annotated[list[Any], msgspec.Meta(max_length=16)]
KindName = Annotated[str, msgspec.Meta(max_length=32)]


class ReplicaRecord(msgspec.Struct, forbid_unknown_fields=False):
    envelope: dict[str, Any]
    dots: ReplicaDots
    kind: KindName | None = None


class PeerReplicate(PeerRequest, tag="peer.replicate"):
    envelope: dict[str, Any]
    dots: ReplicaDots
    kind: KindName | None = None


class PeerReplicateBatch(PeerRequest, tag="peer.replicate.batch"):
    """Replicated writes in one frame: each record is decoded on its own
    (``decode_record``), so a malformed one fails alone; ``node/replicate.py`` bounds the
    count and bytes (``too-large``), this only what a frame can hold."""

    records: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=65536)]


class PeerForward(PeerRequest, tag="peer.forward"):
    """A client write a node that does not take its key hands to one that does."""

    envelope: WireEnvelope


class PeerPaxos(PeerRequest):
    """A strict object's majority round (``node/strict.py`` checks the content)."""

    application: Name
    name: Name
    instance: Version
    ballot: Annotated[list[Any], msgspec.Meta(max_length=2)]
    value: Any = None
    # the round's registry epoch and current acceptor set (``paxos.fence`` checks them)
    epoch: Any = None
    acceptors: Annotated[list[Key], msgspec.Meta(max_length=64)] | None = None


class PeerPaxosPrepare(PeerPaxos, tag="peer.paxos.prepare"):
    pass


class PeerPaxosAccept(PeerPaxos, tag="peer.paxos.accept"):
    pass


class PeerPaxosPeek(PeerPaxos, tag="peer.paxos.peek"):
    pass


class PeerPaxosRecover(PeerPaxos, tag="peer.paxos.recover"):
    """A young acceptor's read before its first vote in an instance (docs §5.6)."""


class PeerPaxosRead(PeerPaxos, tag="peer.paxos.read"):
    """A young acceptor's read for a ``peek`` (the peer's own state, docs §5.6)."""


class PeerLegacy(PeerRequest):
    """The legacy gateway's requests between supernodes (``node/legacy`` checks them)."""


class PeerLegacyAccept(PeerLegacy, tag="peer.legacy.accept"):
    request: Any = None


class PeerLegacyReplayed(PeerLegacy, tag="peer.legacy.replayed"):
    request: Any = None


class PeerLegacyQuery(PeerLegacy, tag="peer.legacy.query"):
    query: Any = None
    strings: bool = False


class PeerLegacyWatch(PeerLegacy, tag="peer.legacy.watch"):
    sub: ShortStr
    receiver: Key


class PeerLegacyUnwatch(PeerLegacy, tag="peer.legacy.unwatch"):
    sub: ShortStr


class PeerSync(PeerRequest, tag="peer.sync"):
    after: UInt = 0  # a position in the peer's log
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500
    from_top: bool = False


class PeerDigest(PeerRequest, tag="peer.digest"):
    ranges: (
        AnyList  # [[prefix, [count, s1, s2]], ...], checked by replication.reconcile.parse_ranges
    )


class PeerIds(PeerRequest, tag="peer.ids"):
    receiver: Key
    ranges: AnyList
    max_time: UInt | None = None


class PeerGet(PeerRequest, tag="peer.get"):
    keys: Annotated[list[tuple[Key, Key]], msgspec.Meta(max_length=500)] | None = None
    # a node older than schema 13 names ids alone (node/compat.py)
    ids: Annotated[list[Key], msgspec.Meta(max_length=500)] | None = None


class PeerPush(PeerRequest, tag="peer.push"):
    records: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=500)]


def _ops(base: type[Frame]) -> list[type[Frame]]:
    """The operations: every leaf Struct under ``Frame`` (its tag is the ``op``)."""
    subs = base.__subclasses__()
    return [op for sub in subs for op in _ops(sub)] if subs else [base]


_FRAME_TYPES: tuple[type[Frame], ...] = tuple(_ops(Frame))
OPS: frozenset[str] = frozenset(str(t.__struct_config__.tag) for t in _FRAME_TYPES)
_decoder: msgspec.json.Decoder[Frame] = msgspec.json.Decoder(type=Union[_FRAME_TYPES])  # noqa: UP007


class _IdOnly(msgspec.Struct):
    id: ReqId = None


_id_decoder = msgspec.json.Decoder(type=_IdOnly)


def _bad(exc: Exception) -> FlocloudError:
    if isinstance(exc, RecursionError):
        return TooDeep("request nests too deep")
    return BadFormat(str(exc))


def decode_frame(data: str | bytes) -> Frame:
    """One websocket frame, decoded and validated; raises ``bad-format``/``too-deep``."""
    try:
        frame: Frame = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise _bad(exc) from None
    return frame


_record_decoder = msgspec.json.Decoder(type=ReplicaRecord)


def decode_record(raw: msgspec.Raw) -> ReplicaRecord:
    """One record of a ``peer.replicate.batch``; raises ``bad-format``/``too-deep``."""
    try:
        return _record_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise _bad(exc) from None


def frame_id(data: str | bytes) -> Any:
    """The ``id`` of a frame that was refused, when it has a valid one (else ``None``)."""
    try:
        return _id_decoder.decode(data).id
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def from_query(params: dict[str, Any], cls: type[T]) -> T:
    """An HTTP query string as ``cls``: the same schema, numbers and booleans from text."""
    try:
        return msgspec.convert(params, cls, strict=False)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise _bad(exc) from None
