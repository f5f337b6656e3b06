"""Supernode configuration: defaults, TOML loading, command-line overrides.

Invariant: every setting has a default here and is documented in ``config.example.toml``
(a test checks the two agree); unknown keys in a config file are an error, not ignored.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import network_by_name

from .runtime import YOUNG

KEY_ENV = "FLOCLOUD_NODE_WIF"  # the node key as WIF, instead of key_file

__all__ = [
    "KEY_ENV",
    "AppConfig",
    "ChainConfig",
    "LegacyConfig",
    "Limits",
    "NodeConfig",
    "ReplicationConfig",
    "load_config",
]


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 64 * 1024
    max_depth: int = 32
    max_skew_ms: int = 5 * 60 * 1000
    rate_per_id: float = 100.0  # writes per second per sender ID
    burst_per_id: int = 500
    rate_per_connection: float = 2000.0  # requests per second per connection
    burst_per_connection: int = 5000
    max_subscriptions: int = 32  # per connection
    subscription_queue: int = 1000  # frames waiting for a slow reader before it is cut off
    quota_bytes_per_id: int = 50 * 1024 * 1024
    query_max_limit: int = 1000
    max_inflight_per_connection: int = 512
    # -- running on the internet (docs/howto.md): bytes, connections, time, budgets ------
    max_inflight_bytes: int = 4 * 1024 * 1024  # request frames being handled, per connection
    max_reply_bytes: int = 4 * 1024 * 1024  # a query page stops here (more: true)
    max_inflight_queries: int = 4  # queries and subscription backlogs running, per connection
    max_queries_total: int = 16  # pages being read from the store at once, whole node
    max_outgoing_bytes: int = 16 * 1024 * 1024  # replies queued for one websocket
    max_outgoing_bytes_total: int = 256 * 1024 * 1024  # ... for all of them together
    write_timeout_seconds: float = 10.0  # a reply that cannot be queued/sent this long: cut
    max_connections: int = 4096  # TCP connections (also kept below the open-file limit)
    max_connections_per_source: int = 64  # per client IP (IPv6: per /64); proxies exempt
    header_timeout_seconds: float = 10.0  # to send a request head (also the keep-alive idle)
    request_timeout_seconds: float = 30.0  # HTTP: body read, handling and response write
    max_url_bytes: int = 72 * 1024  # request line (GET /api/messages?ids= of 1000 ids)
    rate_per_source: float = 500.0  # writes per second per source (client IP or /64)
    burst_per_source: int = 5000
    bytes_per_source: float = 1024 * 1024  # bytes of writes per second per source
    burst_bytes_per_source: int = 16 * 1024 * 1024
    rate_global: float = 20000.0  # client writes per second for the whole node
    burst_global: int = 100000
    bytes_global: float = 32 * 1024 * 1024  # bytes of client writes per second, whole node
    burst_bytes_global: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class ChainConfig:
    explorer: str = ""  # empty: no chain; apps come from [apps]
    explorer_kind: str = "blockbook"
    registry: str = ""
    min_confirmations: int = 6  # blocks deep before a registry update applies
    refresh_seconds: float = 10.0


@dataclass(frozen=True)
class ReplicationConfig:
    anti_entropy_seconds: float = 5.0  # how often replicas compare range fingerprints
    # anti-entropy leaves out writes signed and received less than this long ago (in flight)
    settle_seconds: float = 10.0
    heartbeat_seconds: float = 1.0  # a heartbeat round (replication/heartbeat.PingSchedule)
    # a node hands off and deletes keys it no longer replicates only after the registry
    # has been stable this long and every replica confirmed it holds them
    handoff_grace_seconds: float = 30.0
    # a store younger than this recovers a strict object's Paxos instance from the other
    # acceptors before it votes in it (it may have replaced a disk that voted; docs
    # §5.6): the hand-over window. 0 only where every store is as new as its node (a
    # devnet, a network's first start), never for a replaced disk
    young_store_seconds: float = 3600.0


@dataclass(frozen=True)
class LegacyConfig:
    """The gateway for the existing FLO cloud's client (node/legacy, docs/legacy.md)."""

    enabled: bool = True
    max_body_bytes: int = 16 * 1024 * 1024  # one POST or websocket frame (base64 uploads)
    rate_per_id: float = 20.0  # writes per second per sender ID
    burst_per_id: int = 100
    delay_delta_ms: int = 5 * 60 * 1000  # clock skew when the registry sets no delayDelta
    query_max_rows: int = 100_000  # rows one query answers at most
    max_sockets_per_ip: int = 256  # live queries and presence sockets from one address


@dataclass(frozen=True)
class AppConfig:
    admin: str
    trusted: tuple[str, ...] = ()
    # strict objects (linearizable compare-and-set through a majority round): names, or "*"
    strict: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeConfig:
    network: str = "regtest"
    host: str = "127.0.0.1"
    port: int = 7400
    data_dir: str = "data"
    key_file: str = "node.key"
    public_url: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    trusted_proxies: tuple[str, ...] = ()
    synchronous: str = "NORMAL"
    inline_writes: int = 4  # [storage]: a batch this small is committed on the event loop
    commit_linger_ms: float = 2.0  # [storage]: client writes wait this long for company
    log_level: str = "info"
    log_format: str = "text"  # text | json
    fault_file: str = ""  # test/dev only: JSON {"partition": [peer IDs]} to cut links
    verify_threads: int = 2  # signature checks off the event loop (0: inline)
    verify_processes: int = 2  # ... in worker processes (node/verify.py; 0: on the threads)
    verify_inline_max: int = 4  # a batch this small is checked on the event loop
    event_loop: str = "uvloop"  # uvloop (when installed) | asyncio
    gc_young: int = YOUNG  # net allocations between the cyclic collector's young passes
    limits: Limits = field(default_factory=Limits)
    chain: ChainConfig = field(default_factory=ChainConfig)
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)
    legacy: LegacyConfig = field(default_factory=LegacyConfig)
    apps: dict[str, AppConfig] = field(default_factory=dict)
    base_dir: str = "."  # where relative paths are resolved (the config file's folder)

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def key(self) -> PrivateKey:
        """The node key: ``$FLOCLOUD_NODE_WIF``, else the WIF in ``key_file``. Never from a
        command-line argument (``ps`` shows those to every user of the machine)."""
        net = network_by_name(self.network)
        wif = os.environ.get(KEY_ENV, "").strip()
        if wif:
            return PrivateKey.from_wif(wif, net)
        path = self.path(self.key_file)
        try:
            return PrivateKey.from_wif(path.read_text().strip(), net)
        except FileNotFoundError:
            raise BadFormat(
                f"no node key: set {KEY_ENV} or create {path} (flocloud node init)"
            ) from None


MIN_GC_YOUNG, MAX_GC_YOUNG = 700, 10_000_000  # CPython's default, and far above a node's need
MAX_LINGER_MS = 50  # a wait for company longer than this would be most of a write's time


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``[name]`` table of the config file (empty when absent); anything else there
    is refused."""
    table = data.pop(name, {})
    if not isinstance(table, dict):
        raise BadFormat(f"{name} in the config file must be a table ([{name}]), not {table!r}")
    return table


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise BadFormat(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")
    out = {}
    for name, value in data.items():
        if isinstance(value, list):
            value = tuple(value)
        out[name] = _checked(known[name], value, where)
    return cls(**out)


def _checked(f: Any, value: Any, where: str) -> Any:
    """A setting of the type of its default (an int is a float too, a whole float such as
    TOML's ``1e9`` an int; a bool is neither): a wrong one is refused here, not found
    later inside a write."""
    if f.default is MISSING:
        return value
    want = float if f.type in ("float", float) else type(f.default)  # 1024 * 1024 is a rate
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if want is float:
        ok = number
    elif want is int:
        ok = number and float(value).is_integer()
        value = int(value) if ok else value
    elif want in (bool, str, tuple):
        ok = isinstance(value, want)
    else:
        return value
    if not ok:
        raise BadFormat(
            f"{f.name} in {where} must be {want.__name__.replace('tuple', 'a list')}, not {value!r}"
        )
    return value


def load_config(path: Path | None, **overrides: Any) -> NodeConfig:
    """Defaults, then the TOML file, then non-None ``overrides``."""
    data: dict[str, Any] = {}
    base = "."
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BadFormat(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise BadFormat(f"config file {path} is not valid TOML: {exc}") from None
        base = str(Path(path).resolve().parent)
    limits = _build(Limits, _table(data, "limits"), "[limits]")
    chain = _build(ChainConfig, _table(data, "chain"), "[chain]")
    replication = _build(ReplicationConfig, _table(data, "replication"), "[replication]")
    legacy = _build(LegacyConfig, _table(data, "legacy"), "[legacy]")
    apps_table = _table(data, "apps")
    apps = {
        name: _build(AppConfig, _table(apps_table, name), f"[apps.{name}]")
        for name in list(apps_table)
    }
    tls = _table(data, "tls")
    data["tls_cert"], data["tls_key"] = tls.get("cert", ""), tls.get("key", "")
    storage = _table(data, "storage")
    unknown = set(storage) - {"synchronous", "inline_writes", "commit_linger_ms"}
    if unknown:
        raise BadFormat(f"unknown setting(s) in [storage]: {', '.join(sorted(unknown))}")
    data.update(storage)
    linger = storage.get("commit_linger_ms", 0)
    if isinstance(linger, int | float) and not 0 <= linger <= MAX_LINGER_MS:
        raise BadFormat(
            f"commit_linger_ms in [storage] must be 0 to {MAX_LINGER_MS}, not {linger!r}"
        )
    young = data.get("gc_young", YOUNG)
    if isinstance(young, int | float) and not MIN_GC_YOUNG <= young <= MAX_GC_YOUNG:
        raise BadFormat(
            f"gc_young in the config file must be {MIN_GC_YOUNG:,} to {MAX_GC_YOUNG:,}, "
            f"not {young!r}"
        )
    log = _table(data, "log")
    data["log_level"], data["log_format"] = log.get("level", "info"), log.get("format", "text")
    cfg: NodeConfig = _build(NodeConfig, data, "the config file")
    cfg = replace(
        cfg,
        limits=limits,
        chain=chain,
        replication=replication,
        legacy=legacy,
        apps=apps,
        base_dir=base,
    )
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
