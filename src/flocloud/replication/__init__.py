"""The replication core: the rules of replication as sans-I/O state machines.

Nothing here does I/O, awaits, reads a clock or draws randomness: callers feed in what
happened (a reply, a failure, a commit, the time) and get back what to do next. The
supernode (``flocloud.node``) drives these with asyncio; the deterministic simulator
(``tests/sim``) drives the same objects over a simulated network and clock.

- ``handshake``: a link's states (the mutual challenge, membership on every request).
- ``routing``, ``quorum``: who takes a write, whom it is sent to, when ``ok`` is due.
- ``catchup``: following a peer's log page by page (both sides of ``peer.sync``).
- ``reconcile``: anti-entropy's descent over fingerprints (both sides of ``peer.digest``
  and ``peer.ids``); ``shared``: the roots that let equal replicas stop at one request.
- ``handoff``: when a stand-in may give a key's writes up.
- ``feed``, ``subscription``: answering a cursor, and a live subscription's phases.
"""

from .quorum import Decision, WriteQuorum
from .subscription import Subscription, SubscriptionPhase

__all__ = ["Decision", "Subscription", "SubscriptionPhase", "WriteQuorum"]
