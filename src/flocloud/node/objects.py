"""Object reads of a supernode: ``object.get`` and ``object.changes`` (wire forms in
docs/protocol.md §8.4).

Invariants owned here:
- Replies name versions as ``flocloud.protocol.objectlog`` defines them, the same on every
  replica holding the same writes, and carry the heads (the SDK bases writes on them).
- A consistent read (a strict object) answers a state holding at least every write its
  catch-up confirmed, never an older one (``_caught_up``).
- A version this replica does not know (the client saw it on another one) is pulled from
  the object's replicas first; if it is still unknown the reply is ``not-found``, never a
  guess.
- The diff of ``object.changes`` is exact: applied to the value at ``since_version`` it
  gives the current value byte for byte in canonical JSON (``merge_diff``), or it is a
  whole-value ``reset`` when RFC 7386 cannot express the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from flocloud.protocol.errors import BadFormat, NotFound, Unavailable
from flocloud.protocol.objectlog import EMPTY_VERSION, parse_version
from flocloud.protocol.objects import merge_diff, object_id
from flocloud.protocol.params import network_by_name
from flocloud.storage.sqlite import SqliteStore

from .config import AppConfig, NodeConfig

if TYPE_CHECKING:
    from flocloud.storage.objects import ObjectChange, ObjectState


class NodeService(Protocol):
    """What the object requests need of the node's service (``node/service.py``)."""

    store: SqliteStore
    config: NodeConfig
    apps: dict[str, AppConfig]
    strict_sync: Callable[[str, str], Awaitable[int]] | None

    def require_apps(self, what: str) -> None: ...

    async def catch_up_key(self, key: str) -> bool: ...


CONSISTENT_TRIES = 4  # catch-ups per consistent read (``_caught_up``)
MAX_CHANGES = 1000  # writes per object.changes reply; beyond, "more" (the diff mode has all)

__all__ = ["change_to_wire", "is_strict", "object_changes", "object_get", "state_to_wire"]


def is_strict(svc: NodeService, application: str, name: str) -> bool:
    """Is this a strict object? The app's ``strictObjects`` (registry) or ``strict`` (a
    node's ``[apps.*]``) lists names; an entry ending in ``*`` matches a name prefix.
    ``unavailable`` while the node has not read its application registry: it cannot tell
    (answering "merge" then let a consistent read serve an empty store)."""
    svc.require_apps(f"{application}/{name}")
    app = svc.apps.get(application)
    return app is not None and any(
        s == name or (s.endswith("*") and name.startswith(s[:-1])) for s in app.strict
    )


def _names(application: Any, name: Any) -> tuple[str, str]:
    if not isinstance(application, str) or not isinstance(name, str) or not name:
        raise BadFormat("application and name must be strings")
    return application, name


def _version_arg(version: Any, what: str) -> str:
    if type(version) is int:  # the old integer versions: say what changed
        raise BadFormat(f"{what} is a version string (as object.get returns it), not a number")
    parse_version(version)
    return str(version)


def state_to_wire(state: ObjectState) -> dict[str, Any]:
    return asdict(state)


def change_to_wire(c: ObjectChange) -> dict[str, Any]:
    wire = asdict(c)
    wire["msgId"] = wire.pop("id")
    return wire


async def pulled(svc: NodeService, key: str, call: Any) -> Any:
    """``call()``, and once more after fetching from ``key``'s replicas what they hold
    beyond this node's held cursor, if this replica does not know the version asked for
    or based on (``not-found``): one acked through another replica a moment ago may not
    have reached it yet. (The held cursor: a bogus version costs a round trip, not a copy
    of the object's writes.)"""
    try:
        return await call()
    except NotFound:
        if not await svc.catch_up_key(key):
            raise
    return await call()


def _key(svc: NodeService, application: str, name: str) -> str:
    return object_id(application, name, network_by_name(svc.config.network))


async def object_get(
    svc: NodeService, application: Any, name: Any, version: Any = None, consistent: Any = False
) -> dict[str, Any]:
    """``consistent`` (strict objects): catch up with the object's majority first, so the
    read is linearizable (docs/protocol.md §5.6); otherwise this replica's state."""
    app, obj = _names(application, name)
    ver = None if version is None else _version_arg(version, "version")
    caught_up: ObjectState | None = None
    if consistent is True and ver is None and is_strict(svc, app, obj) and svc.strict_sync:
        caught_up = await _caught_up(svc, svc.strict_sync, app, obj)

    async def call() -> ObjectState:
        state = caught_up or await svc.store.get_object(app, obj, ver)
        if state is None:
            raise NotFound(
                f"object {app}/{obj}" + (f" version {ver}" if ver else "") + " not found"
            )
        return state

    reply = state_to_wire(await pulled(svc, _key(svc, app, obj), call))
    reply["mode"] = "strict" if is_strict(svc, app, obj) else "merge"
    return reply


async def _caught_up(
    svc: NodeService, sync: Callable[[str, str], Awaitable[int]], app: str, obj: str
) -> ObjectState | None:
    """The store's state of a strict object once it holds at least the writes a catch-up
    confirmed (None: the object has none). A store can go back between the two: a hand-off
    drops an object from a node that no longer replicates it (found by the simulator's
    seed 335533), so the catch-up runs again, a few times, then ``unavailable``."""
    for _ in range(CONSISTENT_TRIES):
        reached = await sync(app, obj)
        state = await svc.store.get_object(app, obj)
        if (state.count if state is not None else 0) >= reached:
            return state
    raise Unavailable(f"{app}/{obj}: this node's copy moved while it caught up, try again")


async def object_changes(
    svc: NodeService, application: Any, name: Any, since_version: Any, mode: Any = "patches"
) -> dict[str, Any]:
    app, obj = _names(application, name)
    since = _version_arg(since_version, "since_version")
    if mode not in ("patches", "diff"):
        raise BadFormat('mode must be "patches" or "diff"')

    async def call() -> tuple[ObjectState, Any]:
        latest = await svc.store.get_object(app, obj)
        if latest is None:
            raise NotFound(f"object {app}/{obj} not found")
        if mode == "patches":
            return latest, await svc.store.object_changes(app, obj, since)
        base = await svc.store.get_object(app, obj, since) if since != EMPTY_VERSION else None
        return latest, base

    latest, extra = await pulled(svc, _key(svc, app, obj), call)
    head = {"version": latest.version, "heads": list(latest.heads), "count": latest.count}
    if mode == "patches":
        page = extra[:MAX_CHANGES]
        more = len(extra) > MAX_CHANGES
        return {**head, "changes": [change_to_wire(c) for c in page], "more": more}
    patch = merge_diff(extra.value, latest.value) if extra is not None else None
    if patch is None:
        return {**head, "kind": "reset", "value": latest.value}
    return {**head, "kind": "patch", "patch": patch}
