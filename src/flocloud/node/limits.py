"""Token buckets, write budgets, rate-limited logs and the node's Prometheus metrics.

Invariants:
- A bucket never holds more than ``burst`` tokens and refills at ``rate`` per second;
  ``take`` is O(1) and time is passed in (no clock inside a bucket). Idle keyed buckets
  are forgotten past ``max_keys``, so memory stays bounded whatever the keys.
- ``WriteBudget.take`` charges a write to its sender ID, its source and the node as a
  whole, in writes and in bytes, and only when all of them have room: a refused write
  costs nothing, and fresh IDs from one source share that source's budget.
- A rate-limited log writes at most one line per kind every ``interval`` seconds and says
  how many it left out, so a flood of bad connections cannot flood the log.
- ``/metrics`` is rendered by ``prometheus_client`` (names and label values escaped).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .config import Limits

__all__ = [
    "BucketMap",
    "ByteBudget",
    "Metrics",
    "RateLimitedLog",
    "TokenBucket",
    "WriteBudget",
    "source_key",
]


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def refill(self, now: float) -> float:
        """The tokens held at ``now`` (a clock read before an await may come late: the
        bucket never goes back in time)."""
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        elif now > self.stamp:
            tokens = self.tokens + (now - self.stamp) * self.rate
            self.tokens = tokens if tokens < self.burst else self.burst
            self.stamp = now
        return self.tokens

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.refill(now) >= cost:
            self.tokens -= cost
            return True
        return False


class BucketMap:
    """One bucket per key, least recently used ones dropped past ``max_keys``."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def get(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket


def _holds(bucket: TokenBucket, now: float, cost: float) -> bool:
    """Whether ``bucket`` holds ``cost`` (at most its burst: a larger write passes a full
    bucket) at ``now``; nothing taken."""
    return bucket.refill(now) >= (cost if cost < bucket.burst else bucket.burst)


def _charge(bucket: TokenBucket, cost: float) -> None:
    bucket.tokens -= cost if cost < bucket.burst else bucket.burst


@functools.lru_cache(maxsize=4096)
def source_key(ip: str) -> str:
    """Who a write or a connection is charged to: the IPv4 address, or the /64 of an IPv6
    address (one host usually holds a whole /64)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr.ipv4_mapped or addr) if isinstance(addr, ipaddress.IPv6Address) else ip


class WriteBudget:
    """Client writes per sender ID, per source and for the whole node, in writes and bytes.

    The per-ID bucket is what one identity may write; the per-source and global buckets
    are what fresh identities cannot multiply (``docs/howto.md``, running on the internet).
    """

    def __init__(self, lim: Limits) -> None:
        self.lim = lim
        self.ids = BucketMap(lim.rate_per_id, lim.burst_per_id)
        self.sources = BucketMap(lim.rate_per_source, lim.burst_per_source)
        self.source_bytes = BucketMap(lim.bytes_per_source, lim.burst_bytes_per_source)
        self.node = TokenBucket(lim.rate_global, lim.burst_global)
        self.node_bytes = TokenBucket(lim.bytes_global, lim.burst_bytes_global)

    def take(self, sender: str, source: str | None, size: int, now: float) -> str | None:
        """Charge a write to every budget, or to none; ``None`` when accepted, else why not.
        (This runs for every write: no list or text is built unless it is refused.)"""
        lim = self.lim
        per_id = self.ids.get(sender)
        if not _holds(per_id, now, 1.0):
            return f"{sender} is writing faster than {lim.rate_per_id:g}/s"
        nbytes = float(size)
        writes = data = None
        if source is not None:
            key = source_key(source)
            writes, data = self.sources.get(key), self.source_bytes.get(key)
            if not (_holds(writes, now, 1.0) & _holds(data, now, nbytes)):
                return (
                    f"source {key} is over its write budget ({lim.rate_per_source:g} writes/s, "
                    f"{lim.bytes_per_source:g} bytes/s)"
                )
        if not (_holds(self.node, now, 1.0) & _holds(self.node_bytes, now, nbytes)):
            return "this node is at its global write budget: try later or another replica"
        _charge(per_id, 1.0)
        if writes is not None and data is not None:
            _charge(writes, 1.0)
            _charge(data, nbytes)
        _charge(self.node, 1.0)
        _charge(self.node_bytes, nbytes)
        return None


class ByteBudget:
    """Bytes in use, at most ``cap`` (one item larger than ``cap`` alone still passes)."""

    def __init__(self, cap: int) -> None:
        self.cap, self.used = cap, 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, n: int) -> None:
        while self.used and self.used + n > self.cap:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut
        self.used += n

    def release(self, n: int) -> None:
        self.used -= n
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)


class RateLimitedLog:
    """At most one log line per ``kind`` every ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = defaultdict(int)

    def warning(self, kind: str, msg: str, *args: Any) -> None:
        now = self.clock()
        if now - self._last.get(kind, -self.interval) < self.interval:
            self._skipped[kind] += 1
            return
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        suffix = f" ({skipped} more like this in the last {self.interval:g} s)" if skipped else ""
        self.logger.warning(msg + suffix, *args)


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
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def render(self, stored: int, db_bytes: int, commits: int, writes: int) -> bytes:
        """The Prometheus text exposition of these counters and the store's figures."""
        # imported at the first scrape, not at every node's start (~30 ms)
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self, stored, db_bytes, commits, writes))
        return generate_latest(registry)


class _Collector:
    def __init__(self, m: Metrics, stored: int, db_bytes: int, commits: int, writes: int) -> None:
        self.m, self.stored, self.db_bytes, self.commits, self.writes = (
            m,
            stored,
            db_bytes,
            commits,
            writes,
        )

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m = self.m

        def labelled(name: str, doc: str, label: str, values: dict[str, int]) -> Metric:
            fam = CounterMetricFamily(name, doc, labels=[label])
            for key, n in sorted(values.items()):
                fam.add_metric([key], n)
            return fam

        yield GaugeMetricFamily(
            "flocloud_messages_stored", "Writes stored on this node.", value=self.stored
        )
        yield CounterMetricFamily(
            "flocloud_writes_accepted",
            "Writes accepted (acknowledged after commit).",
            value=m.accepted,
        )
        yield CounterMetricFamily(
            "flocloud_writes_duplicate", "Writes already stored.", value=m.duplicates
        )
        yield labelled(
            "flocloud_requests_rejected", "Rejected requests by error code.", "code", m.rejected
        )
        yield labelled("flocloud_requests", "Requests by operation.", "op", m.requests)
        yield GaugeMetricFamily("flocloud_connections", "Open websockets.", value=m.connections)
        yield GaugeMetricFamily(
            "flocloud_subscriptions", "Live subscriptions.", value=m.subscriptions
        )
        yield CounterMetricFamily(
            "flocloud_replicated",
            "Writes received from peers (forwarded or pulled).",
            value=m.replicated,
        )
        yield labelled(
            "flocloud_replication",
            "Anti-entropy, hand-off and heartbeat events.",
            "event",
            m.replication,
        )
        yield CounterMetricFamily(
            "flocloud_slow_consumers",
            "Subscriptions and connections cut off for not reading.",
            value=m.slow_consumers,
        )
        yield labelled(
            "flocloud_connections_refused",
            "TCP connections refused by a connection limit.",
            "reason",
            m.refused,
        )
        yield CounterMetricFamily(
            "flocloud_store_commits", "Store transactions.", value=self.commits
        )
        yield CounterMetricFamily("flocloud_store_writes", "Store writes.", value=self.writes)
        yield GaugeMetricFamily(
            "flocloud_database_bytes", "Size of the database files.", value=self.db_bytes
        )
