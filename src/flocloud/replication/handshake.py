"""The state of one supernode link: the mutual challenge, then membership on every request.

The messages and the transcript are ``flocloud.protocol.peering``'s; this module keeps the
state of each side and checks the order. Nonces come from the caller (fresh 32 random
bytes each), and so do signing (``Sign``: this node's key) and checking (``Verify``: a
node ID, a signature and a digest, against the key the registry lists for the ID).

Invariants owned here:
- States: ``NEW`` -> ``HELLO_SENT`` (initiator) or ``CHALLENGED`` (responder) ->
  ``AUTHENTICATED`` -> ``CLOSED``. No replication request is served, and no link is used,
  before ``AUTHENTICATED``; nothing at all after ``CLOSED``.
- The responder answers ``peer.hello`` only for a registered supernode; it authenticates
  the initiator only with that node's signature over the transcript of both nonces, and
  only with the sender's store id (its dot origin on the write path).
- The initiator accepts the link only if the responder is the node it meant to reach and
  signed the transcript of both nonces with its registered key.
- Every request on an authenticated link re-checks that the sender is still registered
  (``on_request``); a node the registry no longer lists closes the link at once and for
  good (``CLOSED``), and the caller closes the socket.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flocloud.protocol.errors import BadFormat, Forbidden, Unavailable
from flocloud.protocol.peering import transcript

__all__ = ["Initiator", "LinkState", "Responder", "Sign", "Verify"]

Sign = Callable[[bytes], str]  # digest -> this node's signature (hex)
Verify = Callable[[str, str, bytes], None]  # node id, signature hex, digest; raises if bad


class LinkState(enum.Enum):
    NEW = "new"
    HELLO_SENT = "hello-sent"  # initiator: peer.hello sent
    CHALLENGED = "challenged"  # responder: peer.hello answered, waiting for peer.auth
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


@dataclass
class Initiator:
    """The side that opens a link to ``peer``; ``nonce``: 64 hex digits, fresh."""

    me: str
    peer: str
    nonce: str
    state: LinkState = LinkState.NEW

    def hello(self) -> dict[str, Any]:
        """The ``peer.hello`` to send."""
        if self.state is not LinkState.NEW:
            raise BadFormat(f"peer.hello in state {self.state.value}")
        self.state = LinkState.HELLO_SENT
        return {"node_id": self.me, "nonce": self.nonce}

    def on_hello(self, reply: Mapping[str, Any], verify: Verify, sign: Sign) -> dict[str, Any]:
        """The responder's answer: checked; returns the ``peer.auth`` arguments (without
        the store id, which the caller adds). The link is authenticated once that
        ``peer.auth`` is answered: the responder checks it before any other request."""
        if self.state is not LinkState.HELLO_SENT:
            raise BadFormat(f"peer.hello answer in state {self.state.value}")
        try:
            if reply.get("node_id") != self.peer:
                raise Unavailable(f"the node there is {reply.get('node_id')}, not {self.peer}")
            nb = str(reply.get("nonce"))
            verify(
                self.peer,
                str(reply.get("sign")),
                transcript("server", self.me, self.peer, self.nonce, nb),
            )
        except Exception:
            self.state = LinkState.CLOSED
            raise
        self.state = LinkState.AUTHENTICATED
        return {"sign": sign(transcript("client", self.me, self.peer, self.nonce, nb))}


@dataclass
class Responder:
    """One inbound connection, as the node that answers ``peer.hello`` sees it."""

    me: str
    state: LinkState = LinkState.NEW
    peer: str | None = None  # set once authenticated
    store_id: str | None = None
    _pending: str | None = None
    _na: str = ""
    _nb: str = ""

    def on_hello(
        self, node_id: Any, nonce: Any, my_nonce: str, is_member: bool, sign: Sign
    ) -> dict[str, Any]:
        """``peer.hello``: ``is_member`` whether ``node_id`` is registered. Another hello
        starts over (the link is not authenticated until its ``peer.auth``)."""
        if self.state is LinkState.CLOSED:
            raise Forbidden("this link is closed")
        if not isinstance(node_id, str) or not is_member:
            raise Forbidden(f"{str(node_id)[:64]} is not a registered supernode")
        digest = transcript("server", node_id, self.me, str(nonce), my_nonce)
        self.state, self.peer, self.store_id = LinkState.CHALLENGED, None, None
        self._pending, self._na, self._nb = node_id, str(nonce), my_nonce
        return {"node_id": self.me, "nonce": my_nonce, "sign": sign(digest)}

    def on_auth(self, sign: Any, store_id: Any, verify: Verify) -> dict[str, Any]:
        """``peer.auth``: the initiator's signature, and its store id."""
        if self.state is not LinkState.CHALLENGED or self._pending is None:
            raise BadFormat("peer.auth without peer.hello")
        peer = self._pending
        verify(peer, str(sign), transcript("client", peer, self.me, self._na, self._nb))
        if not isinstance(store_id, str) or not 1 <= len(store_id) <= 64:
            raise BadFormat("peer.auth needs the sender's store_id")
        self.state, self.peer, self.store_id = LinkState.AUTHENTICATED, peer, store_id
        return {"peer": peer}

    def on_request(self, is_member: Callable[[str], bool]) -> str:
        """Any other peer request: returns the authenticated sender, if it is still a
        registered supernode; a removed one closes the link (``Forbidden``)."""
        if self.state is not LinkState.AUTHENTICATED or self.peer is None:
            raise Forbidden("replication requests need an authenticated supernode link")
        if not is_member(self.peer):
            peer = self.peer
            self.close()
            raise Forbidden(f"{peer} is no longer a registered supernode")
        return self.peer

    @property
    def authenticated(self) -> str | None:
        """The authenticated peer, if any."""
        return self.peer if self.state is LinkState.AUTHENTICATED else None

    def close(self) -> None:
        self.state, self.peer, self.store_id, self._pending = LinkState.CLOSED, None, None, None
