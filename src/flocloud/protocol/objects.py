"""Application objects: their IDs and JSON Merge Patch (RFC 7386). Pure.

Invariants owned here:
- An object is named by (application, name); its ID is an address of the FLO scheme,
  ``Base58Check(network.p2pkh || HASH160(utf8(application) || 0x00 || utf8(name)))``, so
  placement treats objects exactly like user IDs ("critical data pieces have
  blockchain-style IDs").
- ``merge_patch`` never mutates its inputs.
- ``merge_diff(a, b)`` returns a patch ``p`` with ``canonical(merge_patch(a, p)) ==
  canonical(b)`` (byte equality: ``1``, ``1.0`` and ``true`` differ, key order does not), or
  ``None`` when RFC 7386 cannot express the change (``b`` contains ``null`` inside an
  object, which a merge patch would read as "delete") or ``b`` is ``null``; callers then
  send the whole value.
- ``canonical(v)`` is the comparison form of a JSON value: sorted keys, no spaces, numbers
  as Python writes them (so an integer and a float of the same magnitude differ).
"""

from __future__ import annotations

import json
from typing import Any

from .base58 import b58check_encode
from .errors import BadFormat
from .hashes import hash160
from .params import Network

__all__ = ["MAX_NAME_BYTES", "canonical", "merge_diff", "merge_patch", "object_id", "same"]

MAX_NAME_BYTES = 256


def object_id(application: str, name: str, network: Network) -> str:
    """The ID of the object ``name`` of ``application``."""
    app_b, name_b = application.encode("utf-8"), name.encode("utf-8")
    if b"\x00" in app_b or not name_b or len(name_b) > MAX_NAME_BYTES:
        raise BadFormat(f"object names are 1..{MAX_NAME_BYTES} bytes, applications have no NUL")
    return b58check_encode(bytes([network.p2pkh]) + hash160(app_b + b"\x00" + name_b))


def canonical(value: Any) -> bytes:
    """The bytes two JSON values are compared by (see the module docstring)."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, types included (``1 != 1.0 != true``; ``[1] != [1.0]``)."""
    return a is b or canonical(a) == canonical(b)


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch; returns a new value."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _has_null_member(value: Any) -> bool:
    if isinstance(value, dict):
        return any(v is None or _has_null_member(v) for v in value.values())
    return False


def merge_diff(a: Any, b: Any) -> Any | None:
    """A merge patch taking ``a`` to ``b``, or ``None`` if RFC 7386 can't express it."""
    if not isinstance(b, dict):
        return b  # a non-object patch replaces the whole value (null included)
    if _has_null_member(b):
        return None
    if not isinstance(a, dict):
        return b
    patch: dict[str, Any] = {}
    for key in a.keys() - b.keys():
        patch[key] = None
    for key, value in b.items():
        if key not in a:
            patch[key] = value
        elif not same(a[key], value):
            sub = merge_diff(a[key], value)
            patch[key] = value if sub is None else sub
    return patch
