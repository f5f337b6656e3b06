"""``flocloud.Client``: the async SDK.

Invariants owned here:
- Every write is an envelope signed here with the client's key; the client never sends its
  key anywhere. Writes are idempotent by message id, so a retry after a timeout or a
  failover can never store a message twice (the node answers ``duplicate``).
- Routing comes from the chain registry (``NetworkView``): requests go to the first live
  holder of the key (its replicas, then stand-in candidates) and fail over to the next on
  refusal or timeout, without waiting for the chain.
- A client built ``from_chain`` keeps its ``RegistryFollower``: it refreshes its registry
  every ``registry_refresh`` seconds, and at once (at most once a second) when a node's
  reply carries a newer ``epoch`` than its own.
- Messages addressed to this client whose payload is encrypted are decrypted for it;
  anything that fails to decrypt is returned with ``encrypted=True`` and the payload as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import orjson

from flocloud.protocol.encryption import is_sealed, open_json, seal_json
from flocloud.protocol.envelope import Envelope, build_envelope, parse_envelope
from flocloud.protocol.errors import (
    DecryptionFailed,
    FlocloudError,
    NotFound,
    ProtocolViolation,
    RequestRejected,
    Unavailable,
    VersionConflict,
)
from flocloud.protocol.keys import PrivateKey, check_address, parse_pubkey
from flocloud.protocol.objects import object_id

from .connection import NodeConnection, SubQueue
from .network import NetworkView, NodeRef
from .objects import (
    ObjectChange,
    ObjectChanges,
    ObjectConflict,
    ObjectDiff,
    ObjectState,
    changes_from_wire,
    state_from_wire,
)

if TYPE_CHECKING:
    from flocloud.chain.follower import RegistryFollower

__all__ = ["Client", "Message"]

log = logging.getLogger("flocloud.client")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message as a client sees it."""

    id: str
    dots: tuple[tuple[str, int], ...]
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
    cursor: str | None = None  # on a live event: the cursor to resume after this message


def _short_json(value: Any, limit: int = 200) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= limit else text[:limit] + "…"


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
        self._set_pubkeys(network)
        self.follower: RegistryFollower | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_now: asyncio.Event | None = None

    def _set_pubkeys(self, network: NetworkView) -> None:
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
        min_confirmations: int = 6,
        request_timeout: float = 5.0,
        registry_refresh: float = 60.0,
        chain_timeout: float = 60.0,
    ) -> Client:
        """Read the registry from chain explorers (``explorer``: a URL, or ``kind=URL``
        items separated by commas, tried in turn) and connect; the client then follows
        the registry (see the module invariants)."""
        from flocloud.chain.explorers import make_reader
        from flocloud.chain.follower import RegistryFollower
        from flocloud.chain.networks import parse_explorers

        readers = [make_reader(k, u) for k, u in parse_explorers([explorer], explorer_kind)]
        follower = RegistryFollower(
            readers, registry, key.network, confirmations=min_confirmations, timeout=chain_timeout
        )
        try:
            state = await follower.load()
        except BaseException:
            await follower.aclose()
            raise
        if not state.nodes:
            await follower.aclose()
            raise Unavailable(f"the registry {registry} lists no supernodes")
        # placement of a large registry takes seconds: off the event loop
        view = await asyncio.to_thread(NetworkView.from_state, state, clock=time.monotonic)
        client = cls(key, view, timeout=request_timeout)
        client.follower = follower
        client._refresh_now = asyncio.Event()
        client._refresh_task = asyncio.create_task(client._follow(registry_refresh))
        return client

    async def _follow(self, every: float) -> None:
        """Refresh the registry every ``every`` s, or soon after a newer epoch is seen."""
        assert self._refresh_now is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._refresh_now.wait()
            self._refresh_now.clear()
            try:
                await self.refresh_registry()
            except FlocloudError as exc:
                log.warning("registry refresh failed: %s", exc.message)
            await asyncio.sleep(1.0)  # at most one refresh a second

    async def refresh_registry(self) -> None:
        """Re-read the registry now and route by it (keeps what it knows of failures)."""
        if self.follower is None:
            return
        state = await self.follower.refresh()
        if not state.nodes:
            return  # never route by an empty registry
        view = await asyncio.to_thread(NetworkView.from_state, state, clock=self.network.clock)
        view.down_for = self.network.down_for
        view._down_until = dict(self.network._down_until)
        self.network = view
        self._set_pubkeys(view)

    def _saw_epoch(self, reply: Any) -> None:
        if (
            self.follower is not None
            and self._refresh_now is not None
            and isinstance(reply, dict)
            and self.follower.is_newer(reply.get("epoch"))
        ):
            self._refresh_now.set()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
            self._refresh_task = None
        if self.follower is not None:
            await self.follower.aclose()
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
                # a write stored below its quorum: that node is up (it answered); the next
                # one may reach a quorum the first could not (a retry is idempotent)
                if "replicas" not in exc.details:
                    self.network.mark_down(node.id)
                last = exc
                continue
            self.network.mark_up(node.id)
            self._saw_epoch(result)
            return result, node
        raise Unavailable(f"no supernode answered for {key_id}: {last.message}", last.details)

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

    def _message(self, rec: dict[str, Any], cursor: str | None = None) -> Message:
        env = parse_envelope(rec["envelope"], now_ms=None)
        body = env.body
        self._pubkeys.setdefault(body.senderID, env.pubkey)
        payload, still_encrypted = self._open(body.payload, body.senderID, body.receiverID)
        return Message(
            id=env.id,
            dots=tuple((str(o), int(c)) for o, c in rec.get("dots") or ()),
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
            cursor=cursor,
        )

    async def fetch(
        self,
        receiver: str | None = None,
        *,
        after: str | None = None,
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
    ) -> tuple[list[Message], str | None]:
        """Messages for ``receiver`` (default: this client) that the ``after`` cursor (an
        opaque token from an earlier reply) does not cover.

        Returns the messages and the cursor to pass next time (``None`` for a
        newest-first query, which is a window, not a feed).
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
        return messages, (str(nxt) if nxt is not None else None)

    async def subscribe(
        self, receiver: str | None = None, **filters: Any
    ) -> AsyncIterator[Message]:
        """Stored matches, then live ones, until the caller stops iterating."""
        receiver = receiver or self.id
        if "app" in filters:  # the name ``fetch`` takes; the wire filter says application
            filters["application"] = filters.pop("app")
        filt = {"receiver": receiver, **{k: v for k, v in filters.items() if v is not None}}
        sub = f"s{next(self._subs)}"
        cursor: str | None = filt.get("after")
        while True:
            conn_node: tuple[NodeConnection, NodeRef] | None = None
            try:
                if cursor:
                    filt["after"] = cursor
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
                    if isinstance(item.get("cursor"), str):
                        cursor = item["cursor"]  # resume here after a reconnect
                    rec = item.get("event")
                    if isinstance(rec, dict) and "envelope" in rec:
                        yield self._message(rec, cursor)
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

    async def get(
        self, app: str, name: str, version: str | None = None, *, consistent: bool = False
    ) -> ObjectState:
        """The whole object now (or at a version it had): value, version, heads, mode.
        ``consistent``: for a strict object, a linearizable read (the node catches up with
        a majority of the object's replicas first); otherwise one replica's state."""
        fields: dict[str, Any] = {"application": app, "name": name}
        if version is not None:
            fields["version"] = version
        if consistent:
            fields["consistent"] = True
        reply = await self._request(self._object_key(app, name), "object.get", **fields)
        return state_from_wire(app, name, reply)

    async def _get_or_empty(self, app: str, name: str, version: str | None) -> ObjectState:
        try:
            return await self.get(app, name, version)
        except NotFound:
            if version not in (None, "0"):
                raise
            return ObjectState(app, name, "0", None)

    async def changes(
        self, app: str, name: str, since_version: str, *, mode: str = "patches"
    ) -> ObjectChanges | ObjectDiff:
        """What changed since ``since_version`` (``"0"``: since the start): the writes not
        in its history in fold order (``ObjectChanges``), or one ``ObjectDiff`` whose
        ``apply(value at since_version)`` is the current value."""
        reply = await self._request(
            self._object_key(app, name),
            "object.changes",
            application=app,
            name=name,
            since_version=since_version,
            mode=mode,
        )
        return changes_from_wire(reply)

    async def history(self, app: str, name: str) -> tuple[ObjectChange, ...]:
        """Every write of the object in fold order: who wrote what, the version after."""
        result = await self.changes(app, name, "0")
        assert isinstance(result, ObjectChanges)
        return result.changes

    async def reset(
        self, app: str, name: str, value: Any, *, expected_version: str | None = None
    ) -> str:
        """Replace the whole object; returns the version after the write."""
        return await self._object_write(
            app, name, "flocloud.object.reset", {"value": value}, expected_version
        )

    async def patch(
        self, app: str, name: str, patch: Any, *, expected_version: str | None = None
    ) -> str:
        """Apply an RFC 7386 merge patch; returns the version after the write."""
        return await self._object_write(
            app, name, "flocloud.object.patch", {"patch": patch}, expected_version
        )

    async def append(
        self,
        app: str,
        name: str,
        item: Any,
        *,
        path: tuple[str, ...] | list[str] = (),
        op: str = "append",
        expected_version: str | None = None,
    ) -> str:
        """Add ``item`` to the array at ``path`` (``op``: ``append``, ``prepend``, or
        ``remove`` every equal element). Concurrent list writes all apply."""
        body = {"op": op, "path": list(path), "item": item}
        return await self._object_write(app, name, "flocloud.object.list", body, expected_version)

    async def _object_write(
        self, app: str, name: str, type: str, body: dict[str, Any], expected: str | None
    ) -> str:
        """Sign a write based on ``expected`` (or the current version) and send it.

        Merge objects: the write names the heads it was based on and is never refused for
        concurrency. Strict objects: every write is a compare-and-set at the version of
        its parents (``expected``, or the version just read; then the SDK reads again and
        retries on conflict, so the write lands linearizably after the others).
        A lost compare-and-set raises ``ObjectConflict`` with the object as it is now."""
        for _ in range(10):
            base = await self._get_or_empty(app, name, expected)
            payload: dict[str, Any] = {"name": name, **body, "parents": sorted(base.heads)}
            if expected is not None:
                payload["expected_version"] = base.version
            env = self.sign(self._object_key(app, name), payload, app=app, type=type)
            try:
                reply = await self.put(env)
            except VersionConflict as exc:
                if expected is not None:
                    current = None
                    try:
                        current = await self.get(app, name)
                    except NotFound:
                        pass
                    now = "absent" if current is None else _short_json(current.value)
                    raise ObjectConflict(f"{exc.message}; it is now {now}", current) from None
                continue  # a strict object moved on: read it again
            return str(reply.get("version", "0"))
        raise Unavailable(f"{app}/{name}: too many concurrent writers, try again")

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
