"""The reserved write types and their payloads. Pure.

A write is a signed envelope; its ``type`` says what it does:

=========================  ==============================================================
``flocloud.object.reset``  ``{"name", "value", "expected_version"?}``: replace an object
``flocloud.object.patch``  ``{"name", "patch", "expected_version"}``: RFC 7386 merge patch
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
- The permission rules are pure functions of the registry's application record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .envelope import Body
from .errors import BadFormat, Forbidden
from .keys import decode_address
from .objects import object_id

__all__ = [
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
_MSG_ID = re.compile(r"^[0-9a-f]{64}$")
_TARGET = re.compile(r"^(message|object):.{1,256}$", re.S)


@dataclass(frozen=True, slots=True)
class MessageWrite:
    pass


@dataclass(frozen=True, slots=True)
class ObjectWrite:
    name: str
    kind: str  # "reset" | "patch"
    change: Any
    expected_version: int | None


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


def _version(value: Any, required: bool) -> int | None:
    if value is None and not required:
        return None
    if type(value) is not int or value < 0:
        raise BadFormat("expected_version must be a non-negative integer")
    return int(value)


def parse_write(body: Body) -> Write:
    """What a write does, validated."""
    t = body.type
    if not t.startswith(RESERVED_PREFIX):
        return MessageWrite()
    p = _payload(body)
    if t in ("flocloud.object.reset", "flocloud.object.patch"):
        name = p.get("name")
        if not isinstance(name, str) or not name or name.startswith("$"):
            raise BadFormat("object name must be a non-empty string not starting with $")
        _expect_receiver(body, name)
        if t.endswith("reset"):
            if "value" not in p:
                raise BadFormat("object reset needs a value")
            return ObjectWrite(
                name, "reset", p["value"], _version(p.get("expected_version"), False)
            )
        if "patch" not in p:
            raise BadFormat("object patch needs a patch")
        return ObjectWrite(name, "patch", p["patch"], _version(p.get("expected_version"), True))
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
