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
- Messages addressed to this client whose payload is encrypted are decrypted for it
  (``decrypt=False`` keeps the ciphertext). ``Message.encrypted`` says truthfully whether
  the stored payload was sealed and ``Message.decrypted`` whether this client opened it.
- No call waits longer than its timeout on one node: a connection that does not open
  within ``hedge`` seconds has the next node of the route tried alongside it, and every
  failover is reported to ``on_notice`` ("trying next").
- Bad input is refused before anything is sent: a body larger than the node's
  self-described ``max_message_bytes`` is ``too-large``; ``limit < 1`` and a
  ``min_replicas`` above the replication factor are ``bad-format``.
- Cursors are opaque tokens: the ``next`` of a query (``cursor`` of an event) is passed
  back as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from flocloud.protocol.encryption import is_sealed, open_json, seal_json
from flocloud.protocol.envelope import Envelope, build_envelope, parse_envelope
from flocloud.protocol.errors import (
    BadFormat,
    DecryptionFailed,
    FlocloudError,
    NotFound,
    ProtocolViolation,
    RequestRejected,
    TooLarge,
    Unavailable,
)
from flocloud.protocol.keys import PrivateKey, check_address, parse_pubkey

from .connection import NodeConnection, SubQueue
from .network import NetworkView, NodeRef
from .objects_api import ObjectMethods

if TYPE_CHECKING:
    from flocloud.chain.follower import RegistryFollower

__all__ = ["Client", "Cursor", "Message", "Page"]

log = logging.getLogger("flocloud.client")

T = TypeVar("T")
Cursor = str  # opaque: pass back what the node gave


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
    encrypted: bool = False  # the stored payload is sealed to the receiver
    decrypted: bool = False  # ... and this client opened it: ``payload`` is the plaintext
    deleted: bool = False
    tags: tuple[str, ...] = ()
    note: str | None = None
    received_ms: int | None = None
    envelope: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None  # on a live event: the cursor to resume after this message


@dataclass(frozen=True, slots=True)
class Page:
    """One query reply: the messages, the cursor to pass next, and how complete it is.
    It unpacks as ``messages, cursor``."""

    messages: list[Message]
    cursor: Cursor | None
    more: bool  # the node holds more matches than ``limit``: fetch again from ``cursor``
    served_by: str  # the supernode that answered
    stand_in: bool  # ... and it is not a replica of the receiver (they were down)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.messages, self.cursor))


class Client(ObjectMethods):
    """Async client of the flocloud network. Use ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        key: PrivateKey,
        network: NetworkView,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
        on_notice: Callable[[str], None] | None = None,
        hedge: float = 1.0,
    ) -> None:
        self.key = key
        self.network = network
        self.timeout = timeout
        self.hedge = min(hedge, timeout)
        self.on_notice = on_notice or (lambda _msg: None)
        # re-reads the registry when every node has been unreachable for a while (a
        # subscription follows a restarted network); ``from_chain`` sets it
        self.network_loader: Callable[[], Awaitable[NetworkView]] | None = None
        self._limits: dict[str, int] = {}
        self.ephemeral_key = False  # a throw-away key: this client reads public data only
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
        explorer: str | Sequence[str],
        registry: str,
        explorer_kind: str = "blockbook",
        min_confirmations: int = 6,
        request_timeout: float = 5.0,
        registry_refresh: float = 60.0,
        chain_timeout: float = 60.0,
        on_notice: Callable[[str], None] | None = None,
    ) -> Client:
        """Read the registry from chain explorers (``explorer``: a URL, or ``kind=URL``
        items separated by commas, tried in turn) and connect; the client then follows
        the registry (see the module invariants)."""
        from flocloud.chain.explorers import make_reader
        from flocloud.chain.follower import RegistryFollower
        from flocloud.chain.networks import parse_explorers

        urls = [explorer] if isinstance(explorer, str) else list(explorer)
        readers = [make_reader(k, u) for k, u in parse_explorers(urls, explorer_kind)]
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
        client = cls(key, view, timeout=request_timeout, on_notice=on_notice)
        client.follower = follower
        client.network_loader = client._reload
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

    async def _reload(self) -> NetworkView:
        await self.refresh_registry()
        return self.network

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

    def _live(self, node_id: str) -> NodeConnection | None:
        """The open connection to ``node_id``, if there is one."""
        conn = self._conns.get(node_id)
        return conn if conn is not None and not conn.closed else None

    async def _connection(self, node: NodeRef) -> NodeConnection:
        conn = self._live(node.id)
        if conn is not None:
            return conn
        lock = self._conn_locks.setdefault(node.id, asyncio.Lock())
        async with lock:
            conn = self._live(node.id)
            if conn is not None:
                return conn
            if self._session is None:
                self._session = aiohttp.ClientSession()
            conn = NodeConnection(node.ws_url, self._session, timeout=self.timeout)
            await conn.connect()
            self._conns[node.id] = conn
            return conn

    async def _first_connection(
        self, route: list[NodeRef], notice: Callable[[str], None]
    ) -> tuple[NodeConnection, NodeRef, list[NodeRef]]:
        """Connect along ``route``: a node that has not connected after ``hedge`` seconds
        gets the next one tried alongside it (a frozen node costs ``hedge``, not the whole
        timeout). Returns the connection, its node, and the nodes not yet tried."""
        conn = self._live(route[0].id) if route else None
        if conn is not None:  # the usual case: the first node's connection is open
            return conn, route[0], route[1:]
        pending: dict[asyncio.Task[NodeConnection], NodeRef] = {}
        rest = list(route)
        last: FlocloudError = Unavailable("no supernode is registered")
        try:
            while rest or pending:
                if rest:
                    node = rest.pop(0)
                    pending[asyncio.create_task(self._connection(node))] = node
                wait = self.hedge if rest else None
                done, _ = await asyncio.wait(
                    pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    slow = ", ".join(n.uri for n in pending.values())
                    notice(f"{slow} has not answered in {self.hedge:g} s; trying next")
                    continue
                for task in sorted(done, key=lambda t: route.index(pending[t])):
                    node = pending.pop(task)
                    exc = task.exception()
                    if exc is None:  # the ones still connecting are cancelled: retry later
                        untried = [n for n in route if n in pending.values()]
                        return task.result(), node, untried + rest
                    if not isinstance(exc, Unavailable):
                        raise exc
                    self.network.mark_down(node.id)
                    last = exc
                    if rest or pending:
                        notice(f"{exc.message}; trying next")
            raise last
        finally:
            for task in pending:
                task.cancel()
                task.add_done_callback(_drain)

    async def _on_route(
        self,
        key_id: str,
        call: Callable[[NodeConnection], Awaitable[T]],
        notice: Callable[[str], None] | None = None,
    ) -> tuple[T, NodeRef]:
        """Run ``call`` on the first node of ``key_id``'s route that answers."""
        notice = notice or self.on_notice
        rest = self.network.route(key_id)
        while rest:
            try:
                conn, node, rest = await self._first_connection(rest, notice)
            except Unavailable as exc:
                raise Unavailable(f"no supernode answered for {key_id}: {exc.message}") from None
            try:
                result = await call(conn)
            except Unavailable as exc:
                # a write stored below its quorum, or a node behind the cursor: that node
                # is up (it answered); the next one may reach a quorum the first could
                # not (a retry is idempotent), or hold what the cursor has seen
                if "replicas" not in exc.details and not exc.details.get("behind"):
                    self.network.mark_down(node.id)
                if not rest:
                    raise Unavailable(
                        f"no supernode answered for {key_id}: {exc.message}", exc.details
                    ) from None
                notice(f"{exc.message}; trying next")
                continue
            self.network.mark_up(node.id)
            self._saw_epoch(result)
            return result, node
        raise Unavailable(f"no supernode is registered to serve {key_id}")

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
        self._check_replicas(min_replicas)
        receiver = envelope.body.receiverID
        await self._check_size(receiver, envelope)
        fields: dict[str, Any] = {"envelope": envelope.to_wire()}
        if restore:
            fields["restore"] = True
        ack, node = await self._on_route(receiver, lambda c: c.request("put", **fields))
        ack["_node"] = node.id
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
        ack = await self.send_ack(
            receiver,
            data,
            app=app,
            type=type,
            comment=comment,
            encrypt=encrypt,
            min_replicas=min_replicas,
        )
        return str(ack["id"])

    async def send_ack(
        self,
        receiver: str,
        data: Any,
        *,
        app: str = "",
        type: str = "message",
        comment: str | None = None,
        encrypt: bool = False,
        min_replicas: int | None = None,
    ) -> dict[str, Any]:
        """As ``send``; returns ``{"id", "dots", "replicas", "duplicate", "node"}``: the
        message id, its dots (docs/protocol.md §8.1), on how many supernodes it is
        committed, whether it was already stored, and the node that acknowledged it."""
        self._check_replicas(min_replicas)
        payload = data
        if encrypt:
            pub = await self.resolve_pubkey(receiver)
            payload = self._seal(data, pub, receiver)
        env = self.sign(receiver, payload, app=app, type=type, comment=comment)
        ack = await self.put(env, min_replicas=min_replicas)
        return {
            "id": env.id,
            "dots": ack.get("dots", []),
            "replicas": ack.get("replicas", 1),
            "duplicate": bool(ack.get("duplicate")),
            "node": ack.get("_node"),
        }

    def _check_replicas(self, min_replicas: int | None) -> None:
        rf = self.network.replication_factor
        if min_replicas is not None and not 1 <= min_replicas <= rf:
            raise BadFormat(
                f"min_replicas must be 1 to {rf}: the registry keeps {rf} replica(s) of an ID"
            )

    async def node_limits(self, key_id: str) -> dict[str, int]:
        """The limits of ``key_id``'s home node, from its self-description (cached; empty
        when no node describes itself in time)."""
        if self._limits:
            return self._limits
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for node in self.network.route(key_id)[:2]:
            try:
                async with self._session.get(
                    node.http_url,
                    headers={"Accept": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=min(self.timeout, 2.0)),
                ) as resp:
                    doc = await resp.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                continue
            limits = doc.get("limits") if isinstance(doc, dict) else None
            if isinstance(limits, dict):
                self._limits = {k: v for k, v in limits.items() if type(v) is int}
                return self._limits
        return {}

    async def _check_size(self, key_id: str, envelope: Envelope) -> None:
        size = envelope.size
        if size <= 60 * 1024:  # below every node's minimum: no need to ask
            return
        most = (await self.node_limits(key_id)).get("max_message_bytes")
        if most is not None and size > most:
            raise TooLarge(
                f"the message is {size} bytes; supernodes take at most {most} bytes per message"
            )

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
        """The payload and whether it was decrypted here."""
        if receiver != self.id:
            return payload, False
        try:
            return open_json(payload, self.key, sender_id=sender, receiver_id=receiver), True
        except (DecryptionFailed, ProtocolViolation):
            return payload, False

    def _message(
        self, rec: dict[str, Any], cursor: str | None = None, *, decrypt: bool = True
    ) -> Message:
        env = parse_envelope(rec["envelope"], now_ms=None)
        body = env.body
        self._pubkeys.setdefault(body.senderID, env.pubkey)
        sealed = is_sealed(body.payload)
        payload, opened = body.payload, False
        if sealed and decrypt:
            payload, opened = self._open(body.payload, body.senderID, body.receiverID)
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
            encrypted=sealed,
            decrypted=opened,
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
        **filters: Any,
    ) -> tuple[list[Message], Cursor | None]:
        """Messages for ``receiver`` (default: this client) after the ``after`` cursor.

        Returns the messages and the cursor to pass next time (``fetch_page`` also says
        whether the reply is complete).
        """
        page = await self.fetch_page(receiver, **filters)
        return page.messages, page.cursor

    async def fetch_page(
        self,
        receiver: str | None = None,
        *,
        after: Cursor | None = None,
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
        decrypt: bool = True,
    ) -> Page:
        """One page of messages for ``receiver``, with whether more are left (``more``) and
        whether a stand-in answered for replicas that were down (``stand_in``)."""
        receiver = receiver or self.id
        check_address(receiver, self.key.network)
        if type_is_not_int(limit) or limit < 1:
            raise BadFormat("limit must be a positive integer")
        filt: dict[str, Any] = {"receiver": receiver, "limit": limit}
        for name, value in (
            ("after", after or None),
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
        reply, node = await self._on_route(receiver, lambda c: c.request("query", filter=filt))
        messages = [self._message(r, decrypt=decrypt) for r in reply.get("messages", [])]
        nxt = reply.get("next")
        return Page(
            messages,
            nxt if nxt is not None else after,
            bool(reply.get("more")),
            node.id,
            not self.is_replica(node.id, receiver),
        )

    async def where(self, key_id: str) -> list[dict[str, Any]]:
        """Which supernodes hold ``key_id``: its home, the other replicas, and the stand-ins
        that take its writes while replicas are down, each checked up or down now (its
        ``/healthz`` within the timeout). ``serving`` marks the nodes a write goes to now."""
        from .discovery import locate

        check_address(key_id, self.key.network)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await locate(self.network, self._session, key_id, min(self.timeout, 2.0))

    def is_replica(self, node_id: str, key_id: str) -> bool:
        """Whether ``node_id`` is one of the ``replication_factor`` replicas of ``key_id``."""
        rf = self.network.replication_factor
        return node_id in self.network.membership.replicas(key_id)[:rf]

    async def subscribe(
        self, receiver: str | None = None, *, app: str | None = None, **filters: Any
    ) -> AsyncIterator[Message]:
        """Stored matches, then live ones, until the caller stops iterating.

        The filter takes the names of ``fetch`` (``app``, ``type``, ``sender``, ``comment``,
        ``after``). When the node goes away the subscription resumes on the next live one
        from the last cursor seen (``on_notice`` says so); after every node has been
        unreachable for a while the registry is read again (``network_loader``).
        """
        receiver = receiver or self.id
        check_address(receiver, self.key.network)
        if "application" in filters:
            raise BadFormat("subscribe takes app=, as fetch does")
        named = {"application": app, **filters}
        filt = {"receiver": receiver, **{k: v for k, v in named.items() if v is not None}}
        if not filt.get("after"):
            filt.pop("after", None)
        sub = f"s{next(self._subs)}"
        cursor: Cursor | None = filt.get("after")
        failures = 0
        while True:
            conn_node: tuple[NodeConnection, NodeRef] | None = None
            try:
                if cursor is not None:
                    filt["after"] = cursor
                # while reconnecting, one notice said so: no per-node notices
                quiet = (lambda _msg: None) if failures else None
                opened, node = await self._on_route(
                    receiver, self._open_sub(sub, filt), notice=quiet
                )
                conn, queue = opened
                conn_node = (conn, node)
                if failures:
                    self.on_notice(f"reconnected to {node.uri}; resuming after cursor {cursor}")
                failures = 0
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
                        if isinstance(item.get("cursor"), str):
                            cursor = item["cursor"]  # resume here after a reconnect
                        yield self._message(rec, cursor)
            except Unavailable as exc:
                if conn_node is not None:
                    conn_node[0].close_subscription(sub)
                    self.network.mark_down(conn_node[1].id)
                failures += 1
                if failures == 1:
                    self.on_notice(f"disconnected: {exc.message}; reconnecting")
                if failures % 10 == 0 and self.network_loader is not None:
                    self.on_notice(
                        f"still disconnected after {failures} attempts; reading the registry again"
                    )
                    with contextlib.suppress(FlocloudError):
                        self.network = await self.network_loader()
                        await self._drop_connections()
                await asyncio.sleep(min(0.2 * failures, 2.0))  # then resubscribe
            finally:
                if conn_node is not None and not conn_node[0].closed:
                    conn_node[0].close_subscription(sub)

    async def _drop_connections(self) -> None:
        for conn in list(self._conns.values()):
            await conn.close()
        self._conns.clear()
        self._limits.clear()

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


def type_is_not_int(value: Any) -> bool:
    return type(value) is not int


def _drain(task: asyncio.Task[Any]) -> None:
    """Retrieve a cancelled or failed task's outcome (no "exception never retrieved")."""
    if not task.cancelled():
        task.exception()
