"""Token buckets and Prometheus-style counters. Time is passed in (no clock inside).

Invariant: a bucket never holds more than ``burst`` tokens and refills at ``rate`` per
second; ``take`` is O(1); idle per-ID buckets are forgotten so memory stays bounded.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

__all__ = ["BucketMap", "Metrics", "TokenBucket"]


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


class BucketMap:
    """One bucket per key, least recently used ones dropped past ``max_keys``."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)


@dataclass
class Metrics:
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    connections: int = 0
    subscriptions: int = 0
    slow_consumers: int = 0
    replicated: int = 0
    # anti-entropy, hand-off and heartbeat events (ranges compared, records pulled, ...)
    replication: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def render(self, stored: int, db_bytes: int, commits: int, writes: int) -> str:
        lines = [
            "# HELP flocloud_messages_stored Writes stored on this node.",
            "# TYPE flocloud_messages_stored gauge",
            f"flocloud_messages_stored {stored}",
            "# HELP flocloud_writes_accepted_total Writes accepted (acknowledged after commit).",
            "# TYPE flocloud_writes_accepted_total counter",
            f"flocloud_writes_accepted_total {self.accepted}",
            "# TYPE flocloud_writes_duplicate_total counter",
            f"flocloud_writes_duplicate_total {self.duplicates}",
            "# HELP flocloud_requests_rejected_total Rejected requests by error code.",
            "# TYPE flocloud_requests_rejected_total counter",
        ]
        lines += [
            f'flocloud_requests_rejected_total{{code="{c}"}} {n}'
            for c, n in sorted(self.rejected.items())
        ]
        lines += ["# TYPE flocloud_requests_total counter"]
        lines += [
            f'flocloud_requests_total{{op="{o}"}} {n}' for o, n in sorted(self.requests.items())
        ]
        lines += [
            "# TYPE flocloud_connections gauge",
            f"flocloud_connections {self.connections}",
            "# TYPE flocloud_subscriptions gauge",
            f"flocloud_subscriptions {self.subscriptions}",
            "# HELP flocloud_replicated_total Writes received from peers (forwarded or pulled).",
            "# TYPE flocloud_replicated_total counter",
            f"flocloud_replicated_total {self.replicated}",
            "# HELP flocloud_replication_total Anti-entropy, hand-off and heartbeat events.",
            "# TYPE flocloud_replication_total counter",
            *(
                f'flocloud_replication_total{{event="{e}"}} {n}'
                for e, n in sorted(self.replication.items())
            ),
            "# TYPE flocloud_slow_consumers_total counter",
            f"flocloud_slow_consumers_total {self.slow_consumers}",
            "# TYPE flocloud_store_commits_total counter",
            f"flocloud_store_commits_total {commits}",
            "# TYPE flocloud_store_writes_total counter",
            f"flocloud_store_writes_total {writes}",
            "# HELP flocloud_database_bytes Size of the database files.",
            "# TYPE flocloud_database_bytes gauge",
            f"flocloud_database_bytes {db_bytes}",
        ]
        return "\n".join(lines) + "\n"
