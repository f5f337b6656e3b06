"""The SDK's object types: states, typed changes and diffs, the conflict error.

Invariants owned here:
- Versions are opaque strings (``flocloud.protocol.objectlog``); the SDK never computes
  one, it passes back what a node returned.
- ``ObjectDiff.apply(base)`` turns the value at the diff's base version into the value at
  ``version`` exactly (a merge patch, or the whole value when a patch cannot say it).
- ``ObjectConflict`` carries what the object is now (``current``), read after the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flocloud.protocol.errors import VersionConflict
from flocloud.protocol.objects import merge_patch

__all__ = [
    "ObjectChange",
    "ObjectChanges",
    "ObjectConflict",
    "ObjectDiff",
    "ObjectState",
    "change_from_wire",
    "state_from_wire",
]


@dataclass(frozen=True, slots=True)
class ObjectState:
    """An application object at one version."""

    application: str
    name: str
    version: str
    value: Any
    heads: tuple[str, ...] = ()
    count: int = 0
    mode: str = "merge"  # "merge" | "strict"


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One write of the object's history: who wrote what, and the version after it."""

    id: str
    kind: str  # "reset" | "patch" | "list"
    change: Any
    parents: tuple[str, ...]
    sender: str
    time: int
    version: str


@dataclass(frozen=True, slots=True)
class ObjectChanges:
    """``changes(mode="patches")``: the writes not in the base version's history."""

    version: str
    heads: tuple[str, ...]
    changes: tuple[ObjectChange, ...]
    more: bool = False  # over 1,000 writes: the first ones only (the diff mode has all)


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    """``changes(mode="diff")``: one change from the base version to ``version``."""

    version: str
    heads: tuple[str, ...]
    kind: str  # "patch" | "reset"
    patch: Any = None
    value: Any = None

    def apply(self, base: Any) -> Any:
        return merge_patch(base, self.patch) if self.kind == "patch" else self.value


class ObjectConflict(VersionConflict):
    """A compare-and-set lost: ``current`` is the object as it is now (None if absent)."""

    def __init__(self, message: str, current: ObjectState | None) -> None:
        super().__init__(message)
        self.current = current


def state_from_wire(app: str, name: str, reply: dict[str, Any]) -> ObjectState:
    return ObjectState(
        app,
        name,
        str(reply.get("version", "0")),
        reply.get("value"),
        tuple(reply.get("heads", ())),
        int(reply.get("count", 0)),
        str(reply.get("mode", "merge")),
    )


def change_from_wire(c: dict[str, Any]) -> ObjectChange:
    return ObjectChange(
        str(c.get("msgId")),
        str(c.get("kind")),
        c.get("change"),
        tuple(c.get("parents", ())),
        str(c.get("sender")),
        int(c.get("time", 0)),
        str(c.get("version")),
    )


def changes_from_wire(reply: dict[str, Any]) -> ObjectChanges | ObjectDiff:
    version, heads = str(reply.get("version")), tuple(reply.get("heads", ()))
    if "changes" in reply:
        changes = tuple(change_from_wire(c) for c in reply["changes"])
        return ObjectChanges(version, heads, changes, bool(reply.get("more", False)))
    return ObjectDiff(
        version, heads, str(reply.get("kind")), reply.get("patch"), reply.get("value")
    )
