"""The rules on chain: supernodes, network config and applications, read from floData.

Format (RanchiMall SuperNodeStorage, flo-chain.md §7; read as it is on the real chain)::

    {"SuperNodeStorage": {
        "newNodes":    {floID: {"pubKey": hex, "uri": str[, "flocloud": str]}},
        "removeNodes": [floID, ...],
        "updateNodes": {floID: uri},
        "config":      {key: value},
        "addApps":     {name: adminID | {"admin": adminID, "trusted": [IDs]}},
        "removeApps":  [name, ...]}}

Invariants owned here:
- Only transactions *sent by* the registry ID (first input's address) count, applied
  oldest first, each at least ``min_confirmations`` deep. The result is a delta log, not a
  snapshot: the state is the fold of every accepted update.
- A transaction from another sender, floData that is not such JSON, a node whose public
  key does not hash to its ID, or an invalid ID is skipped with a logged reason; reading
  never crashes on chain data.
- ``apply_update`` is pure; ``RegistryReader`` does the I/O through a ``ChainReader``.
- A node's flocloud endpoint is its entry's ``flocloud`` key when present (entries in the
  existing cloud's format keep a bare ``uri`` for its clients), else ``uri``; a bare
  ``host[:port]`` means ``wss://host[:port]/ws``.

Config keys we understand (others are kept as given): ``backupDepth`` (default 1; the
replication factor is backupDepth + 1), ``writeQuorum`` (default min(2, N)),
``virtualNodes`` (placement positions per node), ``maxMessageBytes``, ``maxSkewMs``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import orjson

from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.keys import check_address, parse_pubkey, pubkey_matches_address
from flocloud.protocol.params import Network

from .reader import ChainReader, ChainTx
from .tx import MAX_FLO_DATA_SIZE

__all__ = [
    "AppInfo",
    "NetworkState",
    "RegistryReader",
    "SupernodeInfo",
    "apply_update",
    "flocloud_uri",
    "legacy_node_entry",
    "make_registry_update",
]

log = logging.getLogger("flocloud.chain.registry")
KEY = "SuperNodeStorage"


@dataclass(frozen=True, slots=True)
class SupernodeInfo:
    id: str
    pubkey: str
    uri: str


@dataclass(frozen=True, slots=True)
class AppInfo:
    name: str
    admin: str
    trusted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkState:
    """The registry at one epoch (the last applied txid and its height)."""

    network: Network
    registry_id: str
    nodes: tuple[SupernodeInfo, ...] = ()
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    apps: tuple[AppInfo, ...] = ()
    last_txid: str | None = None
    height: int | None = None
    skipped: tuple[tuple[str, str], ...] = ()  # (txid, reason)

    def node(self, node_id: str) -> SupernodeInfo | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def app(self, name: str) -> AppInfo | None:
        return next((a for a in self.apps if a.name == name), None)

    @property
    def backup_depth(self) -> int:
        value = self.config.get("backupDepth", 1)
        return value if isinstance(value, int) and value >= 0 else 1

    @property
    def replication_factor(self) -> int:
        return max(1, min(self.backup_depth + 1, len(self.nodes) or 1))

    @property
    def write_quorum(self) -> int:
        value = self.config.get("writeQuorum")
        n = self.replication_factor
        if isinstance(value, int) and value >= 1:
            return min(value, n)
        return min(2, n)

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network.name,
            "registry": self.registry_id,
            "nodes": [{"id": n.id, "pubKey": n.pubkey, "uri": n.uri} for n in self.nodes],
            "config": dict(self.config),
            "apps": [
                {"name": a.name, "admin": a.admin, "trusted": list(a.trusted)} for a in self.apps
            ],
            "epoch": {"txid": self.last_txid, "height": self.height},
            "skipped": [{"txid": t, "reason": r} for t, r in self.skipped],
        }


def _app_from(name: str, value: Any, network: Network) -> AppInfo:
    trusted: list[str]
    if isinstance(value, str):
        admin, trusted = value, []
    elif isinstance(value, dict) and isinstance(value.get("admin"), str):
        admin, trusted = value["admin"], value.get("trusted") or []
        if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
            raise ValueError(f"app {name}: trusted must be a list of IDs")
    else:
        raise ValueError(f"app {name}: value must be an admin ID or {{admin, trusted}}")
    check_address(admin, network)
    for t in trusted:
        check_address(t, network)
    return AppInfo(name, admin, tuple(trusted))


def flocloud_uri(uri: str) -> str:
    """A node's flocloud endpoint: the entry's ``flocloud`` key or ``uri`` as given, or for
    the existing cloud's bare ``host[:port][/path]`` (TLS, path ``/``) its ``/ws`` there."""
    if not uri or "://" in uri:
        return uri
    return f"wss://{uri.rstrip('/')}/ws"


def legacy_node_entry(pubkey: str, uri: str) -> dict[str, str]:
    """A ``newNodes`` value in the existing cloud's format for a flocloud endpoint
    ``wss://host[:port][/path]/ws``: upper-case key, bare ``uri`` (where its clients find
    the gateway), the endpoint itself under ``flocloud`` (ignored by the existing cloud)."""
    if not uri.startswith("wss://") or not uri.endswith("/ws"):
        raise ValueError(f"a node listed for the existing cloud needs a wss://…/ws URI, not {uri}")
    return {"pubKey": pubkey.upper(), "uri": uri[len("wss://") : -len("/ws")], "flocloud": uri}


def apply_update(state: NetworkState, tx: ChainTx) -> NetworkState:
    """Apply one registry transaction; a bad one leaves the state and records why."""

    def skip(reason: str) -> NetworkState:
        log.warning("registry tx %s skipped: %s", tx.txid, reason)
        return replace(
            state,
            last_txid=tx.txid,
            height=tx.block_height or state.height,
            skipped=(*state.skipped, (tx.txid, reason)),
        )

    if tx.sender != state.registry_id:
        return skip(f"sent by {tx.sender}, not the registry")
    try:
        doc = orjson.loads(tx.flo_data)
    except orjson.JSONDecodeError:
        return skip("floData is not JSON")
    content = doc.get(KEY) if isinstance(doc, dict) else None
    if not isinstance(content, dict):
        return skip(f"floData has no {KEY} object")
    nodes = {n.id: n for n in state.nodes}
    config = dict(state.config)
    apps = {a.name: a for a in state.apps}
    net = state.network
    try:
        for node_id in content.get("removeNodes") or []:
            nodes.pop(str(node_id), None)
        for node_id, info in (content.get("newNodes") or {}).items():
            check_address(node_id, net)
            if not isinstance(info, dict):
                raise ValueError(f"node {node_id}: entry must be {{pubKey, uri}}")
            pub = parse_pubkey(str(info.get("pubKey", "")))
            if not pubkey_matches_address(pub, node_id):
                raise ValueError(f"node {node_id}: pubKey does not hash to the ID")
            uri = info.get("flocloud") or info.get("uri", "")
            nodes[node_id] = SupernodeInfo(node_id, pub.hex(), flocloud_uri(str(uri)))
        for node_id, uri in (content.get("updateNodes") or {}).items():
            if node_id in nodes:
                nodes[node_id] = replace(nodes[node_id], uri=flocloud_uri(str(uri)))
        config.update(content.get("config") or {})
        for name in content.get("removeApps") or []:
            apps.pop(str(name), None)
        for name, value in (content.get("addApps") or {}).items():
            apps[str(name)] = _app_from(str(name), value, net)
    except (FlocloudError, ValueError, AttributeError, TypeError) as exc:
        return skip(str(getattr(exc, "message", exc)))
    return replace(
        state,
        nodes=tuple(sorted(nodes.values(), key=lambda n: n.id)),
        config=MappingProxyType(config),
        apps=tuple(sorted(apps.values(), key=lambda a: a.name)),
        last_txid=tx.txid,
        height=tx.block_height or state.height,
    )


class RegistryReader:
    """Reads the registry's transactions from a ``ChainReader`` and folds them."""

    def __init__(
        self, reader: ChainReader, registry_id: str, network: Network, *, min_confirmations: int = 1
    ) -> None:
        self.reader = reader
        self.registry_id = check_address(registry_id, network)
        self.network = network
        self.min_confirmations = min_confirmations

    async def load(self) -> NetworkState:
        return await self.refresh(NetworkState(self.network, self.registry_id))

    async def refresh(self, state: NetworkState) -> NetworkState:
        """Apply every confirmed registry transaction after ``state.last_txid``."""
        async for tx in self.reader.iter_address_txs(
            self.registry_id,
            oldest_first=True,
            min_confirmations=self.min_confirmations,
            after_txid=state.last_txid,
        ):
            if tx.sender != self.registry_id:
                continue  # payments *to* the registry are not updates; not worth a warning
            state = apply_update(state, tx)
        return state


def make_registry_update(
    *,
    add_nodes: Iterable[tuple[str, str, str]] = (),
    remove_nodes: Iterable[str] = (),
    update_nodes: Iterable[tuple[str, str]] = (),
    config: Mapping[str, Any] | None = None,
    add_apps: Mapping[str, Any] | None = None,
    remove_apps: Iterable[str] = (),
    limit: int = MAX_FLO_DATA_SIZE,
    legacy: bool = False,
) -> list[bytes]:
    """floData payloads (ASCII JSON, each <= ``limit`` bytes) that apply in order.

    Removals go first, then additions, updates, config and apps; an update that does not
    fit in one transaction is split entry by entry. ``legacy``: node entries in the
    existing cloud's format (``legacy_node_entry``), so its clients can use the nodes.
    """
    entries: list[tuple[str, Any, Any]] = []
    entries += [("removeNodes", None, n) for n in remove_nodes]
    entries += [("removeApps", None, a) for a in remove_apps]
    entries += [
        ("newNodes", i, legacy_node_entry(p, u) if legacy else {"pubKey": p, "uri": u})
        for i, p, u in add_nodes
    ]
    entries += [("updateNodes", i, u) for i, u in update_nodes]
    entries += [("config", k, v) for k, v in (config or {}).items()]
    entries += [("addApps", k, v) for k, v in (add_apps or {}).items()]

    def encode(content: dict[str, Any]) -> bytes:
        # ASCII only (\u escapes), as RanchiMall's tools require of floData
        return json.dumps({KEY: content}, separators=(",", ":"), ensure_ascii=True).encode()

    out: list[bytes] = []
    current: dict[str, Any] = {}
    for section, key, value in entries:
        trial = json.loads(encode(current))[KEY] if current else {}
        if key is None:
            trial.setdefault(section, []).append(value)
        else:
            trial.setdefault(section, {})[key] = value
        if len(encode(trial)) <= limit:
            current = trial
            continue
        if not current:
            raise ValueError(f"one {section} entry is larger than {limit} bytes")
        out.append(encode(current))
        current = {section: [value]} if key is None else {section: {key: value}}
        if len(encode(current)) > limit:
            raise ValueError(f"one {section} entry is larger than {limit} bytes")
    if current:
        out.append(encode(current))
    return out
