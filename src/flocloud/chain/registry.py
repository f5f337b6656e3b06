"""The rules on chain: supernodes, network config and applications, folded from floData.

Format (the existing FLO cloud's ``SuperNodeStorage``; docs/protocol.md §10)::

    {"SuperNodeStorage": {
        "removeNodes": [floID, ...],
        "newNodes":    {floID: {"pubKey": hex, "uri": "host[:port][/path]",
                                "flocloud": "wss://host/ws"}},   # optional extension
        "updateNodes": {floID: uri},
        "config":      {key: value},
        "removeApps":  [name, ...],
        "addApps":     {name: adminID}}}

and, published by an application's admin ID from its own address::

    {"<app>": {"removeSubAdmin": [..], "addSubAdmin": [..],
               "removeTrustedID": [..], "addTrustedID": [..], "settings": {..}}}

Invariants owned here (all pure; the I/O is ``follower.py``'s):
- A transaction is an update when **any** of its inputs spends from the registry ID (as
  the existing cloud reads) and its floData is a JSON object with a ``SuperNodeStorage``
  object. Other floData of the registry ID (it also publishes an app's data) is not an
  update: it is only counted (``ignored``), never logged or listed one by one.
- Within an update the sections apply in the existing cloud's order: removeNodes,
  newNodes, updateNodes, config, removeApps, addApps. Each entry stands alone: a bad one
  (an ID that does not decode, a public key that does not hash to its ID, a config value
  outside its rule, an ``addApps`` value that is not a plain ID) is skipped and reported
  in ``skipped``, and the rest of the transaction still applies. ``skipped`` keeps the
  newest ``MAX_SKIPPED`` reports and a total count.
- A node's ``uri`` is what the existing cloud publishes: ``host[:port][/path]`` without a
  scheme, meaning TLS (``wss://<uri>/`` and ``https://<uri>``). flocloud's own websocket
  endpoint goes in the extra ``flocloud`` key of the same ``newNodes`` entry (the
  existing servers keep only ``pubKey`` and ``uri`` and ignore other keys); without it a
  flocloud client uses ``wss://<uri>/ws``. A ``uri`` with a ``ws(s)://`` or
  ``http(s)://`` scheme (older flocloud registrations) is taken as written.
- Admin updates apply oldest first, removals before additions, only for the apps whose
  registered admin sent them.
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

from .netconfig import RegistryConfig, check_config_value
from .reader import ChainTx
from .tx import MAX_FLO_DATA_SIZE

__all__ = [
    "ENDPOINT_KEY",
    "KEY",
    "AdminRecord",
    "AppInfo",
    "Epoch",
    "NetworkState",
    "SupernodeInfo",
    "apply_admin_update",
    "apply_update",
    "make_admin_update",
    "make_registry_update",
    "node_entry",
]

log = logging.getLogger("flocloud.chain.registry")
KEY = "SuperNodeStorage"
ENDPOINT_KEY = "flocloud"
MAX_SKIPPED = 32
_SCHEMES = ("ws://", "wss://", "http://", "https://")


@dataclass(frozen=True, slots=True, order=True)
class Epoch:
    """Where the registry state was last changed: the block of the last applied update."""

    height: int
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "hash": self.hash}

    @classmethod
    def from_json(cls, doc: Any) -> Epoch | None:
        if isinstance(doc, dict) and isinstance(doc.get("height"), int):
            return cls(int(doc["height"]), str(doc.get("hash", "")))
        return None


def node_entry(pubkey: str, endpoint: str) -> dict[str, str]:
    """The ``newNodes`` entry of a flocloud node whose websocket URL is ``endpoint``:
    the bare ``uri`` the existing cloud reads (scheme and ``/ws`` dropped) plus the
    ``flocloud`` key with the endpoint itself."""
    bare = endpoint.split("://", 1)[-1].rstrip("/")
    bare = bare[: -len("/ws")] if bare.endswith("/ws") else bare
    return {"pubKey": pubkey.upper(), "uri": bare, ENDPOINT_KEY: endpoint}  # upper: as real ones


def _ws_from(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        uri = "ws" + uri[len("http") :]
    if uri.startswith(("ws://", "wss://")):
        return uri
    return f"wss://{uri.rstrip('/')}/ws"


@dataclass(frozen=True, slots=True)
class SupernodeInfo:
    id: str
    pubkey: str
    uri: str
    endpoint: str = ""  # the ``flocloud`` extra key, when published

    @property
    def ws_url(self) -> str:
        """flocloud's websocket endpoint of this node."""
        return self.endpoint or _ws_from(self.uri)

    @property
    def legacy_urls(self) -> tuple[str, str]:
        """``(wss://<uri>/, https://<uri>)``: where the existing cloud's clients go."""
        if self.uri.startswith(_SCHEMES):
            return self.uri, self.uri
        bare = self.uri.rstrip("/")
        return f"wss://{bare}/", f"https://{bare}"

    def to_json(self) -> dict[str, Any]:
        doc = {"id": self.id, "pubKey": self.pubkey, "uri": self.uri, "ws": self.ws_url}
        return doc | ({ENDPOINT_KEY: self.endpoint} if self.endpoint else {})


@dataclass(frozen=True, slots=True)
class AppInfo:
    name: str
    admin: str
    sub_admins: tuple[str, ...] = ()
    trusted: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def strict(self) -> tuple[str, ...]:
        """The app's strict objects (docs/protocol.md §5): names, ``prefix*`` or ``*``, from
        the ``strictObjects`` setting its admin publishes (a list of strings)."""
        v = self.settings.get("strictObjects")
        return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()

    @property
    def writers(self) -> tuple[str, ...]:
        """IDs besides the admin that write the app's objects: sub-admins, trusted IDs."""
        return tuple(dict.fromkeys((*self.sub_admins, *self.trusted)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "admin": self.admin,
            "subAdmins": list(self.sub_admins),
            "trusted": list(self.trusted),
            "settings": dict(self.settings),
        }


@dataclass(frozen=True, slots=True)
class AdminRecord:
    """What an app's admin published for it from its own address."""

    sub_admins: tuple[str, ...] = ()
    trusted: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class NetworkState:
    """The registry at one epoch. Immutable; every consumer reads the same values."""

    network: Network
    registry_id: str
    nodes: tuple[SupernodeInfo, ...] = ()
    config: RegistryConfig = field(default_factory=RegistryConfig)
    apps: tuple[AppInfo, ...] = ()
    epoch: Epoch | None = None
    skipped: tuple[tuple[str, str], ...] = ()  # (txid, reason), newest MAX_SKIPPED
    skipped_total: int = 0
    ignored: int = 0  # transactions of the registry ID whose floData is not an update

    def node(self, node_id: str) -> SupernodeInfo | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def app(self, name: str) -> AppInfo | None:
        return next((a for a in self.apps if a.name == name), None)

    @property
    def backup_depth(self) -> int:
        return self.config.backup_depth

    @property
    def replication_factor(self) -> int:
        return self.config.replication_factor(len(self.nodes))

    @property
    def write_quorum(self) -> int:
        return self.config.write_quorum(len(self.nodes))

    @property
    def virtual_nodes(self) -> int:
        return self.config.virtual_nodes

    @property
    def max_skew_ms(self) -> int:
        return self.config.max_skew_ms

    def report(self, txid: str, reason: str) -> NetworkState:
        log.warning("registry tx %s: skipped %s", txid, reason)
        return replace(
            self,
            skipped=(*self.skipped, (txid, reason))[-MAX_SKIPPED:],
            skipped_total=self.skipped_total + 1,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network.name,
            "registry": self.registry_id,
            "epoch": self.epoch.to_json() if self.epoch else None,
            "nodes": [n.to_json() for n in self.nodes],
            "config": dict(self.config.raw),
            "replicationFactor": self.replication_factor,
            "writeQuorum": self.write_quorum,
            "virtualNodes": self.virtual_nodes,
            "apps": [a.to_json() for a in self.apps],
            "skipped": [{"txid": t, "reason": r} for t, r in self.skipped],
            "skippedTotal": self.skipped_total,
            "ignored": self.ignored,
        }


def _json_object(flo_data: str) -> dict[str, Any] | None:
    if not flo_data.startswith("{"):
        return None
    try:
        doc = orjson.loads(flo_data)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _why(exc: Exception) -> str:
    return str(exc.message) if isinstance(exc, FlocloudError) else str(exc)


def _node_entry(node_id: Any, info: Any, net: Network) -> SupernodeInfo:
    check_address(str(node_id), net)
    if not isinstance(info, dict):
        raise ValueError("entry must be {pubKey, uri}")
    pub = parse_pubkey(str(info.get("pubKey", "")))
    if not pubkey_matches_address(pub, str(node_id)):
        raise ValueError("pubKey does not hash to the ID")
    uri = info.get("uri")
    if not isinstance(uri, str) or not uri or any(c.isspace() for c in uri):
        raise ValueError("uri must be host[:port][/path]")
    endpoint = info.get(ENDPOINT_KEY, "")
    if not isinstance(endpoint, str) or (endpoint and not endpoint.startswith(("ws://", "wss://"))):
        raise ValueError(f"{ENDPOINT_KEY} must be a ws:// or wss:// URL")
    return SupernodeInfo(str(node_id), pub.hex(), uri, endpoint)


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
    """Apply one confirmed transaction of the registry ID (see the module rules)."""
    if not tx.sent_by(state.registry_id):
        return state  # a payment *to* the registry: not an update
    doc = _json_object(tx.flo_data)
    content = doc.get(KEY) if doc is not None else None
    if not isinstance(content, dict):
        return replace(state, ignored=state.ignored + 1)
    net = state.network
    nodes = {n.id: n for n in state.nodes}
    config = dict(state.config.raw)
    apps = {a.name: a for a in state.apps}
    problems: list[str] = []

    def section(name: str, kind: type) -> Any:
        value = content.get(name)
        if value is None:
            return kind()
        if not isinstance(value, kind):
            problems.append(f"{name} must be a JSON {'array' if kind is list else 'object'}")
            return kind()
        return value

    for node_id in section("removeNodes", list):
        nodes.pop(str(node_id), None)
    for node_id, info in section("newNodes", dict).items():
        try:
            nodes[str(node_id)] = _node_entry(node_id, info, net)
        except (FlocloudError, ValueError) as exc:
            problems.append(f"newNodes {node_id}: {_why(exc)}")
    for node_id, uri in section("updateNodes", dict).items():
        if not isinstance(uri, str) or not uri:
            problems.append(f"updateNodes {node_id}: uri must be a string")
        elif node_id not in nodes:
            problems.append(f"updateNodes {node_id}: not a registered node")
        else:
            nodes[node_id] = replace(nodes[node_id], uri=uri)
    for key, value in section("config", dict).items():
        try:
            config[str(key)] = check_config_value(str(key), value)
        except FlocloudError as exc:
            problems.append(exc.message)
    for name in section("removeApps", list):
        apps.pop(str(name), None)
    for name, admin in section("addApps", dict).items():
        if not isinstance(admin, str):
            problems.append(f"addApps {name}: the value must be the admin's FLO ID (a string)")
            continue
        try:
            check_address(admin, net)
        except FlocloudError as exc:
            problems.append(f"addApps {name}: {exc.message}")
            continue
        old = apps.get(name)
        apps[name] = old if old is not None and old.admin == admin else AppInfo(name, admin)
    new = replace(
        state,
        nodes=tuple(sorted(nodes.values(), key=lambda n: n.id)),
        config=RegistryConfig.build(config),
        apps=tuple(sorted(apps.values(), key=lambda a: a.name)),
    )
    if tx.block_height is not None and tx.block_hash:
        new = replace(new, epoch=Epoch(tx.block_height, tx.block_hash))
    for problem in problems:
        new = new.report(tx.txid, problem)
    return new


_ADMIN_KEYS = ("addSubAdmin", "removeSubAdmin", "addTrustedID", "removeTrustedID", "settings")


def apply_admin_update(
    records: Mapping[str, AdminRecord], apps: Iterable[str], tx: ChainTx, network: Network
) -> tuple[dict[str, AdminRecord], list[str]]:
    """Apply one transaction of an admin ID to the ``apps`` it administers.

    Returns the new records and the problems found (bad IDs, wrong types). floData that
    names none of ``apps`` with an admin object is not an admin update (no problem).
    """
    out = dict(records)
    problems: list[str] = []
    doc = _json_object(tx.flo_data)
    if doc is None:
        return out, problems
    for app in apps:
        body = doc.get(app)
        if not isinstance(body, dict) or not any(k in body for k in _ADMIN_KEYS):
            continue
        rec = out.get(app, AdminRecord())
        lists: dict[str, list[str]] = {}
        for k in _ADMIN_KEYS[:4]:
            ids = body.get(k) or []
            good: list[str] = []
            for i in ids if isinstance(ids, list) else [ids]:
                try:
                    good.append(str(check_address(str(i), network)))
                except FlocloudError as exc:
                    problems.append(f"{app} {k} {i!r}: {exc.message}")
            lists[k] = good
        subs = [s for s in rec.sub_admins if s not in lists["removeSubAdmin"]]
        trusted = [t for t in rec.trusted if t not in lists["removeTrustedID"]]
        subs += [s for s in lists["addSubAdmin"] if s not in subs]
        trusted += [t for t in lists["addTrustedID"] if t not in trusted]
        settings = dict(rec.settings)
        if isinstance(body.get("settings"), dict):
            settings.update(body["settings"])
        elif "settings" in body:
            problems.append(f"{app} settings must be a JSON object")
        out[app] = AdminRecord(tuple(subs), tuple(trusted), MappingProxyType(settings))
    return out, problems


def _encode(content: dict[str, Any], key: str = KEY) -> bytes:
    # ASCII only (\u escapes), as RanchiMall's tools require of floData
    return json.dumps({key: content}, separators=(",", ":"), ensure_ascii=True).encode()


def _split(entries: list[tuple[str, Any, Any]], key: str, limit: int) -> list[bytes]:
    """Pack ``(section, name or None for lists, value)`` entries into payloads <= limit."""
    out: list[bytes] = []
    current: dict[str, Any] = {}
    for section_name, name, value in entries:
        trial = json.loads(_encode(current, key))[key] if current else {}
        if name is None:
            trial.setdefault(section_name, []).append(value)
        else:
            trial.setdefault(section_name, {})[name] = value
        if len(_encode(trial, key)) <= limit:
            current = trial
            continue
        if not current:
            raise ValueError(f"one {section_name} entry is larger than {limit} bytes")
        out.append(_encode(current, key))
        current = {section_name: [value]} if name is None else {section_name: {name: value}}
        if len(_encode(current, key)) > limit:
            raise ValueError(f"one {section_name} entry is larger than {limit} bytes")
    if current:
        out.append(_encode(current, key))
    return out


def make_registry_update(
    *,
    add_nodes: Iterable[tuple[str, ...]] = (),
    remove_nodes: Iterable[str] = (),
    update_nodes: Iterable[tuple[str, str]] = (),
    config: Mapping[str, Any] | None = None,
    add_apps: Mapping[str, str] | None = None,
    remove_apps: Iterable[str] = (),
    limit: int = MAX_FLO_DATA_SIZE,
    legacy: bool = False,
) -> list[bytes]:
    """floData payloads (ASCII JSON, each <= ``limit`` bytes) that apply in order.

    ``add_nodes`` are ``(id, pubkey, uri)`` or ``(id, pubkey, uri, flocloud endpoint)``;
    ``add_apps`` maps a name to its admin ID (a plain string, as real servers store it).
    Config values are checked with the shared rules before anything is built. Removals
    go first; an update that does not fit in one transaction is split entry by entry.
    """
    for k, v in (config or {}).items():
        check_config_value(k, v)
    for name, admin in (add_apps or {}).items():
        if not isinstance(admin, str):
            raise ValueError(f"addApps {name}: the value must be the admin's FLO ID")
    nodes: list[tuple[str, Any, Any]] = []
    for entry in add_nodes:
        node_id, pub, uri, *rest = entry
        info = {"pubKey": pub.upper(), "uri": uri} | (
            {ENDPOINT_KEY: rest[0]} if rest and rest[0] else {}
        )
        nodes.append(("newNodes", node_id, info))
    entries: list[tuple[str, Any, Any]] = []
    entries += [("removeNodes", None, n) for n in remove_nodes]
    entries += nodes
    entries += [("updateNodes", i, u) for i, u in update_nodes]
    entries += [("config", k, v) for k, v in (config or {}).items()]
    entries += [("removeApps", None, a) for a in remove_apps]
    entries += [("addApps", k, v) for k, v in (add_apps or {}).items()]
    return _split(entries, KEY, limit)


def make_admin_update(
    app: str,
    *,
    add_sub_admins: Iterable[str] = (),
    remove_sub_admins: Iterable[str] = (),
    add_trusted: Iterable[str] = (),
    remove_trusted: Iterable[str] = (),
    settings: Mapping[str, Any] | None = None,
    limit: int = MAX_FLO_DATA_SIZE,
) -> list[bytes]:
    """floData an app's admin publishes from its own address (sub-admins, trusted IDs)."""
    entries: list[tuple[str, Any, Any]] = []
    entries += [("removeSubAdmin", None, i) for i in remove_sub_admins]
    entries += [("removeTrustedID", None, i) for i in remove_trusted]
    entries += [("addSubAdmin", None, i) for i in add_sub_admins]
    entries += [("addTrustedID", None, i) for i in add_trusted]
    entries += [("settings", k, v) for k, v in (settings or {}).items()]
    return _split(entries, app, limit)
