"""The replication core: the rules of replication as sans-I/O state machines.

Nothing here does I/O, awaits, reads a clock or draws randomness: callers feed in what
happened (a reply, a failure, a commit, the time) and get back what to do next. The
supernode (``flocloud.node``) drives these with asyncio; the deterministic simulator
(``tests/sim``) drives the same objects over a simulated network and clock.
"""

from .quorum import Decision, WriteQuorum
from .subscription import Subscription, SubscriptionPhase

__all__ = ["Decision", "Subscription", "SubscriptionPhase", "WriteQuorum"]
