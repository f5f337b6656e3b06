"""An object's state as a function of the set of its writes: the fold and versions. Pure.

Every object write names its causal parents (``parents``: the ids of the writes that
were the heads of the version it was based on). The state of an object is defined from
the *set* of its writes alone, so two replicas holding the same writes hold the same
state whatever order the writes arrived in:

- **Applied writes**: a write is applied when each of its parents is an applied write of
  the same object; a write with a missing ancestor waits (it is kept, not applied) until
  the ancestor arrives. Roots (``parents == []``) are applied.
- **Fold order**: the applied writes in the one topological order that, whenever several
  writes are ready (all parents taken), takes the smallest ``(time, id)`` (signed client
  time in ms, then the message id as hex). It respects causality; concurrent writes are
  ordered by that tie-break. Every prefix of the order is closed under ancestry, and the
  fold order of a closed subset is the restriction of the fold order (so the value of
  an old version never changes when later writes arrive).
- **Value**: the ops applied in fold order to "no value" (``None``), see ``apply_op``.
- **Heads**: the applied writes that no applied write names as a parent.
- **Version**: ``"0"`` for no writes, else ``"<n>-<h1>[-<h2>...]"`` with ``n`` the number
  of writes in the closure of the heads and ``h`` the first 24 hex digits of each head id,
  sorted. Content-derived, the same on every replica; any replica holding the heads
  resolves a version back to them (``parse_version``).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadFormat
from .objects import canonical, merge_patch

__all__ = [
    "EMPTY_VERSION",
    "HEAD_PREFIX",
    "Folded",
    "ObjectOp",
    "apply_op",
    "closure",
    "fold",
    "parse_version",
    "version_of",
]

EMPTY_VERSION = "0"
HEAD_PREFIX = 24  # hex digits of a head id in a version string
_VERSION = re.compile(r"^([1-9][0-9]{0,15})((?:-[0-9a-f]{24}){1,64})$")
LIST_OPS = ("append", "prepend", "remove")


@dataclass(frozen=True, slots=True)
class ObjectOp:
    """One object write as the fold sees it."""

    id: str
    time: int
    parents: tuple[str, ...]
    kind: str  # "reset" | "patch" | "list"
    change: Any  # reset: the value; patch: the merge patch; list: {"op", "path", "item"}


@dataclass(frozen=True, slots=True)
class Folded:
    order: tuple[str, ...]  # applied writes in fold order
    pending: tuple[str, ...]  # writes waiting for an ancestor, sorted
    heads: tuple[str, ...]  # sorted
    value: Any
    version: str
    versions: tuple[str, ...]  # the version after each write of ``order``


def version_of(heads: Iterable[str], count: int) -> str:
    hs = sorted(h[:HEAD_PREFIX] for h in heads)
    if not hs:
        return EMPTY_VERSION
    return f"{count}-" + "-".join(hs)


def parse_version(version: Any) -> tuple[int, tuple[str, ...]]:
    """``(count, head id prefixes)`` of a version string; ``bad-format`` if malformed."""
    if version == EMPTY_VERSION:
        return 0, ()
    m = _VERSION.match(version) if isinstance(version, str) else None
    if m is None:
        raise BadFormat('a version is "0" or "<count>-<24 hex digits per head>"')
    prefixes = tuple(m.group(2)[1:].split("-"))
    if list(prefixes) != sorted(set(prefixes)):
        raise BadFormat("a version lists its heads once each, sorted")
    return int(m.group(1)), prefixes


def _at_path(value: Any, path: tuple[str, ...], fn: Any) -> Any:
    """``value`` with ``fn(old)`` at ``path``; missing objects on the way are created, a
    non-object on the way leaves ``value`` unchanged (``fn`` returns a sentinel to skip)."""
    if not path:
        return fn(value)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return _SKIP
    inner = _at_path(value.get(path[0]), path[1:], fn)
    if inner is _SKIP:
        return _SKIP
    out = dict(value)
    out[path[0]] = inner
    return out


_SKIP = object()


def _list_op(op: str, item: Any) -> Any:
    def fn(current: Any) -> Any:
        if current is None:
            return [item] if op != "remove" else _SKIP
        if not isinstance(current, list):
            return _SKIP
        if op == "append":
            return [*current, item]
        if op == "prepend":
            return [item, *current]
        key = canonical(item)
        return [x for x in current if canonical(x) != key]

    return fn


def apply_op(value: Any, op: ObjectOp) -> Any:
    """The value after one write (inputs are never mutated).

    - ``reset``: the new value, whole.
    - ``patch``: RFC 7386 merge patch (arrays are replaced whole, never merged by index).
    - ``list`` ``{"op": "append" | "prepend" | "remove", "path": [keys], "item"}``: append
      or prepend ``item`` to the array at ``path`` (created when missing), or remove every
      element equal to ``item`` (canonical JSON equality). When the path crosses a value
      that is not an object, or ends at one that is not an array, the write changes nothing
      (it stays in the history).
    """
    if op.kind == "reset":
        return op.change
    if op.kind == "patch":
        return merge_patch(value, op.change)
    c = op.change
    out = _at_path(value, tuple(c["path"]), _list_op(c["op"], c["item"]))
    return value if out is _SKIP else out


def closure(ops: Mapping[str, ObjectOp], heads: Iterable[str]) -> set[str]:
    """The heads and all their ancestors present in ``ops``."""
    seen: set[str] = set()
    stack = [h for h in heads if h in ops]
    while stack:
        h = stack.pop()
        if h in seen:
            continue
        seen.add(h)
        stack.extend(p for p in ops[h].parents if p in ops and p not in seen)
    return seen


def fold(ops: Iterable[ObjectOp]) -> Folded:
    """The state defined by a set of writes (see the module docstring)."""
    by_id = {op.id: op for op in ops}
    children: dict[str, list[str]] = {}
    waiting: dict[str, int] = {}
    ready: list[tuple[int, str]] = []
    for op in by_id.values():
        parents = set(op.parents)
        waiting[op.id] = len(parents)
        for p in parents:
            children.setdefault(p, []).append(op.id)
        if not parents:
            heapq.heappush(ready, (op.time, op.id))
    order: list[str] = []
    versions: list[str] = []
    heads: set[str] = set()
    value: Any = None
    while ready:
        _, oid = heapq.heappop(ready)
        op = by_id[oid]
        order.append(oid)
        value = apply_op(value, op)
        heads.difference_update(op.parents)
        heads.add(oid)
        versions.append(version_of(heads, len(order)))
        for child in children.get(oid, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (by_id[child].time, child))
    applied = set(order)
    pending = tuple(sorted(i for i in by_id if i not in applied))
    return Folded(
        tuple(order),
        pending,
        tuple(sorted(heads)),
        value,
        versions[-1] if versions else EMPTY_VERSION,
        tuple(versions),
    )
