"""The reserved write types and their payloads. Pure.

A write is a signed envelope; its ``type`` says what it does:

=========================  ==============================================================
``flocloud.object.reset``  ``{"name", "value", "parents"?, "expected_version"?}``: replace
``flocloud.object.patch``  ``{"name", "patch", "parents"?, "expected_version"?}``: RFC 7386
``flocloud.object.list``   ``{"name", "op", "path", "item", "parents"?, "expected_version"?}``
``flocloud.schema``        ``{"target": "message:<type>" | "object:<name>", "schema"}``
``flocloud.delete``        ``{"id"}``: tombstone for a message (receiver or app admin)
``flocloud.tag``           ``{"id", "tag": str | null}`` (app admins)
``flocloud.note``          ``{"id", "note": str | null}`` (app admins)
anything else              an ordinary message
=========================  ==============================================================

Invariants owned here:
- Object and schema writes are addressed to the object's ID (``receiverID`` =
  ``object_id(application, name)``; a schema's name is ``"$schema:" + target``), so they
  are placed like any other key.
- ``parse_write`` raises ``BadFormat`` with a precise message for any malformed payload.
- Object writes name their causal parents (``parents``: sorted, distinct message ids, at
  most ``MAX_PARENTS``; ``objectlog`` folds them). ``expected_version`` (a version
  string, strict objects only) must be the version of exactly those parents. A stored
  write of the old protocol (integer ``expected_version``, no ``parents``) parses as a
  root (``legacy``), so old data folds the same on every replica; nodes refuse new ones.
- The permission rules are pure functions of the registry's application record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .envelope import Body
from .errors import BadFormat, Forbidden
from .keys import decode_address
from .objectlog import HEAD_PREFIX, LIST_OPS, parse_version
from .objects import object_id

__all__ = [
    "MAX_PARENTS",
    "OBJECT_TYPES",
    "RESERVED_PREFIX",
    "About",
    "MessageWrite",
    "ObjectWrite",
    "SchemaWrite",
    "Write",
    "check_about_permission",
    "check_object_permission",
    "check_schema_permission",
    "parse_write",
    "schema_object_name",
]

RESERVED_PREFIX = "flocloud."
MAX_PARENTS = 64
OBJECT_TYPES = {
    "flocloud.object.reset": "reset",
    "flocloud.object.patch": "patch",
    "flocloud.object.list": "list",
}
_MSG_ID = re.compile(r"^[0-9a-f]{64}$")
_TARGET = re.compile(r"^(message|object):.{1,256}$", re.S)


@dataclass(frozen=True, slots=True)
class MessageWrite:
    pass


@dataclass(frozen=True, slots=True)
class ObjectWrite:
    name: str
    kind: str  # "reset" | "patch" | "list"
    change: Any  # reset: the value; patch: the merge patch; list: {"op", "path", "item"}
    parents: tuple[str, ...] = ()
    expected_version: str | None = None  # compare-and-set (strict objects)
    legacy: bool = False  # an integer expected_version (protocol before issue 11)


@dataclass(frozen=True, slots=True)
class SchemaWrite:
    target: str
    schema: Any


@dataclass(frozen=True, slots=True)
class About:
    """delete / tag / note: a write about another message."""

    kind: str  # "delete" | "tag" | "note"
    target_id: str
    value: str | None = None


Write = MessageWrite | ObjectWrite | SchemaWrite | About


def schema_object_name(target: str) -> str:
    return "$schema:" + target


def _payload(body: Body) -> dict[str, Any]:
    if not isinstance(body.payload, dict):
        raise BadFormat(f"{body.type} payload must be an object")
    return body.payload


def _expect_receiver(body: Body, name: str) -> None:
    net = decode_address(body.senderID).network
    if body.receiverID != object_id(body.application, name, net):
        raise BadFormat(f"{body.type} must be addressed to object_id(application, {name!r})")


def _parents(p: dict[str, Any]) -> tuple[str, ...]:
    parents = p.get("parents", [])
    if (
        not isinstance(parents, list)
        or len(parents) > MAX_PARENTS
        or not all(isinstance(x, str) and _MSG_ID.match(x) for x in parents)
    ):
        raise BadFormat(f"parents must be a list of at most {MAX_PARENTS} message ids")
    if parents != sorted(set(parents)):
        raise BadFormat("parents must be sorted and distinct")
    return tuple(parents)


def _expected(p: dict[str, Any], parents: tuple[str, ...]) -> str | None:
    v = p.get("expected_version")
    if v is None or (type(v) is int and not parents and "parents" not in p):
        return None  # absent, or a stored write of the old integer versions (see legacy)
    _, prefixes = parse_version(v)
    if prefixes != tuple(sorted(x[:HEAD_PREFIX] for x in parents)):
        raise BadFormat("expected_version must be the version of the write's parents")
    return str(v)


def _object_change(kind: str, p: dict[str, Any]) -> Any:
    if kind == "reset":
        if "value" not in p:
            raise BadFormat("object reset needs a value")
        return p["value"]
    if kind == "patch":
        if "patch" not in p:
            raise BadFormat("object patch needs a patch")
        return p["patch"]
    op, path = p.get("op"), p.get("path", [])
    if op not in LIST_OPS:
        raise BadFormat(f"list op must be one of {', '.join(LIST_OPS)}")
    if not isinstance(path, list) or not all(isinstance(k, str) for k in path):
        raise BadFormat("path must be a list of object keys (strings)")
    if "item" not in p:
        raise BadFormat("a list write needs an item")
    return {"op": op, "path": path, "item": p["item"]}


def parse_write(body: Body) -> Write:
    """What a write does, validated."""
    t = body.type
    if not t.startswith(RESERVED_PREFIX):
        return MessageWrite()
    p = _payload(body)
    if t in OBJECT_TYPES:
        name = p.get("name")
        if not isinstance(name, str) or not name or name.startswith("$"):
            raise BadFormat("object name must be a non-empty string not starting with $")
        _expect_receiver(body, name)
        kind = OBJECT_TYPES[t]
        parents = _parents(p)
        legacy = type(p.get("expected_version")) is int and "parents" not in p
        change = _object_change(kind, p)
        return ObjectWrite(name, kind, change, parents, _expected(p, parents), legacy)
    if t == "flocloud.schema":
        target = p.get("target")
        if not isinstance(target, str) or not _TARGET.match(target):
            raise BadFormat('schema target must be "message:<type>" or "object:<name>"')
        if not isinstance(p.get("schema"), dict | bool):
            raise BadFormat("schema must be a JSON Schema (object or boolean)")
        _expect_receiver(body, schema_object_name(target))
        return SchemaWrite(target, p["schema"])
    if t in ("flocloud.delete", "flocloud.tag", "flocloud.note"):
        target_id = p.get("id")
        if not isinstance(target_id, str) or not _MSG_ID.match(target_id):
            raise BadFormat("id must be a message id (64 hex digits)")
        kind = t.rsplit(".", 1)[1]
        value = None
        if kind != "delete":
            value = p.get(kind)
            if value is not None and (not isinstance(value, str) or len(value) > 1024):
                raise BadFormat(f"{kind} must be a string of at most 1024 characters, or null")
        return About(kind, target_id, value)
    raise BadFormat(f"unknown reserved type {t!r}")


def _is_writer(sender: str, admin: str | None, trusted: tuple[str, ...]) -> bool:
    return sender == admin or sender in trusted


def check_object_permission(sender: str, admin: str | None, trusted: tuple[str, ...]) -> None:
    """Objects are written by the application's admin and trusted IDs."""
    if admin is None:
        raise Forbidden("the application is not registered: nobody may write its objects")
    if not _is_writer(sender, admin, trusted):
        raise Forbidden("only the application's admin and trusted IDs write its objects")


def check_schema_permission(sender: str, admin: str | None) -> None:
    """Schemas are published by the application's admin."""
    if admin is None or sender != admin:
        raise Forbidden("only the application's admin publishes its schemas")


def check_about_permission(kind: str, sender: str, target_receiver: str, admin: str | None) -> None:
    """delete: the target's receiver or the app admin; tag/note: the app admin."""
    if kind == "delete" and sender in (target_receiver, admin):
        return
    if kind != "delete" and admin is not None and sender == admin:
        return
    who = (
        "the receiver or the application's admin" if kind == "delete" else "the application's admin"
    )
    raise Forbidden(f"only {who} may {kind} this message")
