"""``flocloud.Client``: the async SDK.

Invariants owned here:
- Every write is an envelope signed here with the client's key; the client never sends its
  key anywhere. Writes are idempotent by message id, so a retry after a timeout or a
  failover can never store a message twice (the node answers ``duplicate``).
- Routing comes from the chain registry (``NetworkView``): requests go to the first live
  holder of the key (its replicas, then stand-in candidates) and fail over to the next on
  refusal or timeout, without waiting for the chain.
- Messages addressed to this client whose payload is encrypted are decrypted for it;
  anything that fails to decrypt is returned with ``encrypted=True`` and the payload as is.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from flocloud.protocol.encryption import is_sealed, open_json, seal_json
from flocloud.protocol.envelope import Envelope, build_envelope, parse_envelope
from flocloud.protocol.errors import (
    DecryptionFailed,
    FlocloudError,
    NotFound,
    ProtocolViolation,
    RequestRejected,
    Unavailable,
)
from flocloud.protocol.keys import PrivateKey, check_address, parse_pubkey
from flocloud.protocol.objects import object_id

from .connection import NodeConnection, SubQueue
from .network import NetworkView, NodeRef

__all__ = ["Client", "Message", "ObjectState"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message as a client sees it."""

    id: str
    seq: int
    sender: str
    receiver: str
    application: str
    type: str
    comment: str | None
    time: int
    payload: Any
    encrypted: bool = False
    deleted: bool = False
    tags: tuple[str, ...] = ()
    note: str | None = None
    received_ms: int | None = None
    envelope: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectState:
    """An application object at one version."""

    application: str
    name: str
    version: int
    value: Any


class Client:
    """Async client of the flocloud network. Use ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        key: PrivateKey,
        network: NetworkView,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.key = key
        self.network = network
        self.timeout = timeout
        self._clock = clock
        self._session = session
        self._own_session = session is None
        self._conns: dict[str, NodeConnection] = {}
        self._conn_locks: dict[str, asyncio.Lock] = {}
        self._pubkeys: dict[str, bytes] = {key.address: key.public_key}
        self._subs = itertools.count(1)
        self._registry_pubkeys: dict[str, bytes] = {}
        for node in network.nodes.values():
            if node.pubkey:
                self._registry_pubkeys[node.id] = bytes.fromhex(node.pubkey)

    # -- construction -------------------------------------------------------------------

    @classmethod
    async def from_chain(
        cls,
        key: PrivateKey,
        *,
        explorer: str,
        registry: str,
        explorer_kind: str = "blockbook",
        min_confirmations: int = 1,
        request_timeout: float = 5.0,
    ) -> Client:
        """Read the registry from a chain explorer (or the local dev chain) and connect."""
        from flocloud.chain.reader import make_reader
        from flocloud.chain.registry import RegistryReader

        reader = make_reader(explorer_kind, explorer)
        try:
            state = await RegistryReader(
                reader, registry, key.network, min_confirmations=min_confirmations
            ).load()
        finally:
            await reader.aclose()
        if not state.nodes:
            raise Unavailable(f"the registry {registry} lists no supernodes")
        # placement of a large registry takes seconds: off the event loop
        view = await asyncio.to_thread(NetworkView.from_state, state, clock=time.monotonic)
        return cls(key, view, timeout=request_timeout)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for conn in list(self._conns.values()):
            await conn.close()
        self._conns.clear()
        if self._own_session and self._session is not None:
            await self._session.close()

    @property
    def id(self) -> str:
        return self.key.address

    # -- connections and failover -------------------------------------------------------

    async def _connection(self, node: NodeRef) -> NodeConnection:
        conn = self._conns.get(node.id)
        if conn is not None and not conn.closed:
            return conn
        lock = self._conn_locks.setdefault(node.id, asyncio.Lock())
        async with lock:
            conn = self._conns.get(node.id)
            if conn is not None and not conn.closed:
                return conn
            if self._session is None:
                self._session = aiohttp.ClientSession()
            conn = NodeConnection(node.ws_url, self._session, timeout=self.timeout)
            await conn.connect()
            self._conns[node.id] = conn
            return conn

    async def _on_route(
        self, key_id: str, call: Callable[[NodeConnection], Awaitable[T]]
    ) -> tuple[T, NodeRef]:
        """Run ``call`` on the first node of ``key_id``'s route that answers."""
        last: FlocloudError = Unavailable("no supernode is registered")
        for node in self.network.route(key_id):
            try:
                conn = await self._connection(node)
                result = await call(conn)
            except Unavailable as exc:
                self.network.mark_down(node.id)
                last = exc
                continue
            self.network.mark_up(node.id)
            return result, node
        raise Unavailable(f"no supernode answered for {key_id}: {last.message}")

    async def _request(self, key_id: str, op: str, **fields: Any) -> dict[str, Any]:
        reply, _ = await self._on_route(key_id, lambda c: c.request(op, **fields))
        return reply

    # -- messages -----------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def sign(
        self,
        receiver: str,
        payload: Any,
        *,
        app: str = "",
        type: str = "message",
        comment: str | None = None,
    ) -> Envelope:
        """Build and sign an envelope from this client (no network)."""
        check_address(receiver, self.key.network)
        return build_envelope(
            self.key,
            receiver=receiver,
            payload=payload,
            time_ms=self._now_ms(),
            application=app,
            type=type,
            comment=comment,
        )

    async def put(
        self, envelope: Envelope, *, restore: bool = False, min_replicas: int | None = None
    ) -> dict[str, Any]:
        """Store a signed envelope on its home node (retries elsewhere are idempotent).

        The ack says on how many supernodes the write was committed (``replicas``): the
        write quorum, unless too few replicas answered in time. With ``min_replicas``, fewer
        raise ``Unavailable`` (the write is stored where it was acknowledged, and sending it
        again is safe). ``restore=True`` re-stores an exported message whose time is old
        (no clock check).
        """
        fields: dict[str, Any] = {"envelope": envelope.to_wire()}
        if restore:
            fields["restore"] = True
        ack = await self._request(envelope.body.receiverID, "put", **fields)
        got = ack.get("replicas", 1)
        if min_replicas is not None and isinstance(got, int) and got < min_replicas:
            raise Unavailable(
                f"write {envelope.id} is on {got} supernode(s), fewer than the "
                f"{min_replicas} asked; sending it again is safe"
            )
        return ack

    async def send(
        self,
        receiver: str,
        data: Any,
        *,
        app: str = "",
        type: str = "message",
        comment: str | None = None,
        encrypt: bool = False,
        min_replicas: int | None = None,
    ) -> str:
        """Send ``data`` to ``receiver``; returns the message id (``min_replicas``: see
        ``put``)."""
        payload = data
        if encrypt:
            pub = await self.resolve_pubkey(receiver)
            payload = self._seal(data, pub, receiver)
        env = self.sign(receiver, payload, app=app, type=type, comment=comment)
        await self.put(env, min_replicas=min_replicas)
        return env.id

    def _seal(self, data: Any, pub: bytes, receiver: str) -> Any:
        return seal_json(
            data,
            pub,
            sender_id=self.id,
            receiver_id=receiver,
            ephemeral_secret=os.urandom(32),
            nonce=os.urandom(12),
        )

    def _open(self, payload: Any, sender: str, receiver: str) -> tuple[Any, bool]:
        if not is_sealed(payload):
            return payload, False
        if receiver != self.id:
            return payload, True
        try:
            return open_json(payload, self.key, sender_id=sender, receiver_id=receiver), False
        except (DecryptionFailed, ProtocolViolation):
            return payload, True

    def _message(self, rec: dict[str, Any]) -> Message:
        env = parse_envelope(rec["envelope"], now_ms=None)
        body = env.body
        self._pubkeys.setdefault(body.senderID, env.pubkey)
        payload, still_encrypted = self._open(body.payload, body.senderID, body.receiverID)
        return Message(
            id=env.id,
            seq=int(rec.get("seq", 0)),
            sender=body.senderID,
            receiver=body.receiverID,
            application=body.application,
            type=body.type,
            comment=body.comment,
            time=body.time,
            payload=payload,
            encrypted=still_encrypted,
            deleted=bool(rec.get("deleted", False)),
            tags=tuple(rec.get("tags") or ()),
            note=rec.get("note"),
            received_ms=rec.get("received_ms"),
            envelope=rec["envelope"],
        )

    async def fetch(
        self,
        receiver: str | None = None,
        *,
        after: int | None = None,
        app: str | None = None,
        type: str | None = None,
        sender: str | None = None,
        comment: str | None = None,
        since: int | None = None,
        until: int | None = None,
        ids: list[str] | None = None,
        limit: int = 100,
        newest_first: bool = False,
        include_deleted: bool = False,
    ) -> tuple[list[Message], int | None]:
        """Messages for ``receiver`` (default: this client) after the ``after`` cursor.

        Returns the messages and the cursor to pass next time.
        """
        receiver = receiver or self.id
        filt: dict[str, Any] = {"receiver": receiver, "limit": limit}
        for name, value in (
            ("after", after),
            ("application", app),
            ("type", type),
            ("sender", sender),
            ("comment", comment),
            ("since", since),
            ("until", until),
            ("ids", ids),
        ):
            if value is not None:
                filt[name] = value
        if newest_first:
            filt["order"] = "desc"
        if include_deleted:
            filt["include_deleted"] = True
        reply = await self._request(receiver, "query", filter=filt)
        messages = [self._message(r) for r in reply.get("messages", [])]
        nxt = reply.get("next")
        return messages, (int(nxt) if nxt is not None else after)

    async def subscribe(
        self, receiver: str | None = None, **filters: Any
    ) -> AsyncIterator[Message]:
        """Stored matches, then live ones, until the caller stops iterating."""
        receiver = receiver or self.id
        filt = {"receiver": receiver, **{k: v for k, v in filters.items() if v is not None}}
        sub = f"s{next(self._subs)}"
        last_seq: int | None = None
        while True:
            conn_node: tuple[NodeConnection, NodeRef] | None = None
            try:
                if last_seq is not None:
                    filt["after"] = last_seq
                opened, node = await self._on_route(receiver, self._open_sub(sub, filt))
                conn, queue = opened
                conn_node = (conn, node)
                while True:
                    item = await queue.get()
                    if isinstance(item, FlocloudError):
                        raise item
                    if "error" in item and "event" not in item:
                        err = item["error"]
                        raise Unavailable(f"subscription ended: {err.get('message', err)}")
                    rec = item.get("event") or item.get("message")
                    if isinstance(rec, dict) and "envelope" in rec:
                        msg = self._message(rec)
                        last_seq = msg.seq if last_seq is None else max(last_seq, msg.seq)
                        yield msg
            except Unavailable:
                if conn_node is not None:
                    conn_node[0].close_subscription(sub)
                    self.network.mark_down(conn_node[1].id)
                await asyncio.sleep(0.2)  # then resubscribe on the next live node
            finally:
                if conn_node is not None and not conn_node[0].closed:
                    conn_node[0].close_subscription(sub)

    def _open_sub(
        self, sub: str, filt: dict[str, Any]
    ) -> Callable[[NodeConnection], Awaitable[tuple[NodeConnection, SubQueue]]]:
        async def call(conn: NodeConnection) -> tuple[NodeConnection, SubQueue]:
            queue = conn.open_subscription(sub)
            try:
                await conn.request("subscribe", sub=sub, filter=dict(filt))
            except FlocloudError:
                conn.close_subscription(sub)
                raise
            return conn, queue

        return call

    # -- objects ------------------------------------------------------------------------

    def _object_key(self, app: str, name: str) -> str:
        return object_id(app, name, self.key.network)

    async def get(self, app: str, name: str, version: int | None = None) -> ObjectState:
        """The whole object at its latest (or a given) version."""
        fields: dict[str, Any] = {"application": app, "name": name}
        if version is not None:
            fields["version"] = version
        reply = await self._request(self._object_key(app, name), "object.get", **fields)
        return ObjectState(app, name, int(reply.get("version", 0)), reply.get("value"))

    async def changes(
        self, app: str, name: str, since_version: int, *, mode: str = "patches"
    ) -> dict[str, Any]:
        """What changed since ``since_version``: the patches, or one diff (``mode="diff"``)."""
        return await self._request(
            self._object_key(app, name),
            "object.changes",
            application=app,
            name=name,
            since_version=since_version,
            mode=mode,
        )

    async def reset(
        self, app: str, name: str, value: Any, *, expected_version: int | None = None
    ) -> int:
        """Replace the whole object; returns the new version."""
        payload: dict[str, Any] = {"name": name, "value": value}
        if expected_version is not None:
            payload["expected_version"] = expected_version
        return await self._object_write(app, name, "flocloud.object.reset", payload)

    async def patch(self, app: str, name: str, patch: Any, *, expected_version: int) -> int:
        """Apply an RFC 7386 merge patch if the object is still at ``expected_version``."""
        payload = {"name": name, "patch": patch, "expected_version": expected_version}
        return await self._object_write(app, name, "flocloud.object.patch", payload)

    async def _object_write(self, app: str, name: str, type: str, payload: Any) -> int:
        env = self.sign(self._object_key(app, name), payload, app=app, type=type)
        reply = await self.put(env)
        return int(reply.get("version", 0))

    # -- delete / tag / note ------------------------------------------------------------

    async def _about(self, message_id: str, receiver: str, type: str, payload: Any) -> str:
        env = self.sign(receiver, payload, app=await self._app_of(message_id, receiver), type=type)
        await self.put(env)
        return env.id

    async def _app_of(self, message_id: str, receiver: str) -> str:
        found, _ = await self.fetch(receiver, ids=[message_id], include_deleted=True, limit=1)
        if not found:
            raise NotFound(f"message {message_id} not found for {receiver}")
        return found[0].application

    async def delete(self, message_id: str, *, receiver: str | None = None) -> str:
        """Delete a message (its receiver or an app admin); returns the tombstone's id."""
        receiver = receiver or self.id
        return await self._about(message_id, receiver, "flocloud.delete", {"id": message_id})

    async def tag(self, message_id: str, tag: str | None, *, receiver: str) -> str:
        """Tag a message (app admins)."""
        payload = {"id": message_id, "tag": tag}
        return await self._about(message_id, receiver, "flocloud.tag", payload)

    async def note(self, message_id: str, note: str | None, *, receiver: str) -> str:
        """Attach a note to a message (app admins)."""
        payload = {"id": message_id, "note": note}
        return await self._about(message_id, receiver, "flocloud.note", payload)

    # -- public keys --------------------------------------------------------------------

    async def resolve_pubkey(self, flo_id: str) -> bytes:
        """The public key of ``flo_id``: known, from the registry, or from a message it signed."""
        check_address(flo_id, self.key.network)
        for known in (self._pubkeys, self._registry_pubkeys):
            if flo_id in known:
                return known[flo_id]
        for receiver in (self.id, flo_id):
            try:
                found, _ = await self.fetch(receiver, sender=flo_id, limit=1)
            except RequestRejected:
                continue
            if found:
                pub = parse_pubkey(found[0].envelope["pubKey"])
                self._pubkeys[flo_id] = pub
                return pub
        raise NotFound(f"no public key known for {flo_id}: it has signed nothing we can see")
