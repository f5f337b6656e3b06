"""The SDK's object methods (``Client`` inherits them): reads, merge and strict writes.

Invariants owned here:
- A write names the heads of the version it was based on as its parents (docs/protocol.md
  §5.1): the current version, or ``expected_version`` when given.
- Merge objects never refuse a write for concurrency; on a strict object every write is a
  compare-and-set: with ``expected_version`` a lost one raises ``ObjectConflict`` carrying
  the object as it is now; without it the SDK reads again and retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import NotFound, Unavailable, VersionConflict
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.objects import object_id

from .objects import (
    ObjectChange,
    ObjectChanges,
    ObjectConflict,
    ObjectDiff,
    ObjectState,
    changes_from_wire,
    state_from_wire,
)

__all__ = ["ObjectMethods"]


def _short_json(value: Any, limit: int = 200) -> str:
    import orjson

    text = orjson.dumps(value).decode()
    return text if len(text) <= limit else text[:limit] + "…"


class ObjectMethods:
    """Mixed into ``Client``, which provides the key, signing, routing and ``put``."""

    key: PrivateKey

    if TYPE_CHECKING:

        async def _request(self, key_id: str, op: str, **fields: Any) -> dict[str, Any]: ...

        def sign(self, receiver: str, payload: Any, *, app: str = "", type: str = "message",
                 comment: str | None = None) -> Envelope: ...  # fmt: skip

        async def put(
            self, envelope: Envelope, *, restore: bool = False, min_replicas: int | None = None
        ) -> dict[str, Any]: ...

    # -- objects ------------------------------------------------------------------------

    def _object_key(self, app: str, name: str) -> str:
        return object_id(app, name, self.key.network)

    async def get(
        self, app: str, name: str, version: str | None = None, *, consistent: bool = False
    ) -> ObjectState:
        """The whole object now (or at a version it had): value, version, heads, mode.
        ``consistent``: for a strict object, a linearizable read (the node catches up with
        a majority of the object's replicas first); otherwise one replica's state."""
        fields: dict[str, Any] = {"application": app, "name": name}
        if version is not None:
            fields["version"] = version
        if consistent:
            fields["consistent"] = True
        reply = await self._request(self._object_key(app, name), "object.get", **fields)
        return state_from_wire(app, name, reply)

    async def _get_or_empty(self, app: str, name: str, version: str | None) -> ObjectState:
        try:
            return await self.get(app, name, version)
        except NotFound:
            if version not in (None, "0"):
                raise
            return ObjectState(app, name, "0", None)

    async def changes(
        self, app: str, name: str, since_version: str, *, mode: str = "patches"
    ) -> ObjectChanges | ObjectDiff:
        """What changed since ``since_version`` (``"0"``: since the start): the writes not
        in its history in fold order (``ObjectChanges``), or one ``ObjectDiff`` whose
        ``apply(value at since_version)`` is the current value."""
        reply = await self._request(
            self._object_key(app, name),
            "object.changes",
            application=app,
            name=name,
            since_version=since_version,
            mode=mode,
        )
        return changes_from_wire(reply)

    async def history(self, app: str, name: str) -> tuple[ObjectChange, ...]:
        """Every write of the object in fold order: who wrote what, the version after."""
        result = await self.changes(app, name, "0")
        assert isinstance(result, ObjectChanges)
        return result.changes

    async def reset(
        self, app: str, name: str, value: Any, *, expected_version: str | None = None
    ) -> str:
        """Replace the whole object; returns the version after the write."""
        return await self._object_write(
            app, name, "flocloud.object.reset", {"value": value}, expected_version
        )

    async def patch(
        self, app: str, name: str, patch: Any, *, expected_version: str | None = None
    ) -> str:
        """Apply an RFC 7386 merge patch; returns the version after the write."""
        return await self._object_write(
            app, name, "flocloud.object.patch", {"patch": patch}, expected_version
        )

    async def append(
        self,
        app: str,
        name: str,
        item: Any,
        *,
        path: tuple[str, ...] | list[str] = (),
        op: str = "append",
        expected_version: str | None = None,
    ) -> str:
        """Add ``item`` to the array at ``path`` (``op``: ``append``, ``prepend``, or
        ``remove`` every equal element). Concurrent list writes all apply."""
        body = {"op": op, "path": list(path), "item": item}
        return await self._object_write(app, name, "flocloud.object.list", body, expected_version)

    async def _object_write(
        self, app: str, name: str, type: str, body: dict[str, Any], expected: str | None
    ) -> str:
        """Sign a write based on ``expected`` (or the current version) and send it.

        Merge objects: the write names the heads it was based on and is never refused for
        concurrency. Strict objects: every write is a compare-and-set at the version of
        its parents (``expected``, or the version just read; then the SDK reads again and
        retries on conflict, so the write lands linearizably after the others).
        A lost compare-and-set raises ``ObjectConflict`` with the object as it is now."""
        for _ in range(10):
            base = await self._get_or_empty(app, name, expected)
            payload: dict[str, Any] = {"name": name, **body, "parents": sorted(base.heads)}
            if expected is not None:
                payload["expected_version"] = base.version
            env = self.sign(self._object_key(app, name), payload, app=app, type=type)
            try:
                reply = await self.put(env)
            except VersionConflict as exc:
                if expected is not None:
                    current = None
                    try:
                        current = await self.get(app, name)
                    except NotFound:
                        pass
                    now = "absent" if current is None else _short_json(current.value)
                    raise ObjectConflict(f"{exc.message}; it is now {now}", current) from None
                continue  # a strict object moved on: read it again
            return str(reply.get("version", "0"))
        raise Unavailable(f"{app}/{name}: too many concurrent writers, try again")
