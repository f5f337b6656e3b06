"""Reconciliation descent: which ranges to compare next, which keys differ, which ids to
fetch or push (docs/protocol.md §9, "Anti-entropy").

Both sides of ``peer.digest`` (key ranges) and ``peer.ids`` (the ids of one key) are
here as pure functions and state machines over fingerprints; the caller does the
requests and reads the store.

Invariants owned here:
- Traffic grows with the difference: a descent asks only for ranges, at most
  ``MAX_PREFIXES`` per request, and descends (16 sub-ranges) only into ranges whose
  fingerprints differ; equal ranges are never asked again. A range of few keys
  (``LIST_KEYS``) or ids (``LIST_IDS``) is answered with its items, which ends the descent
  there; a key range is at most ``KEY_WIDTH`` hex digits and an id range ``ID_WIDTH``
  deep, so a descent ends even against a peer that never lists.
- A reply is judged against what was asked: an entry for a range not asked, or with a
  malformed fingerprint or item, is ignored (a peer cannot widen a descent).
- A key differs when the peer's fingerprint of it differs from this node's (or this node
  lacks it). An id is missing here when the peer holds it under another fingerprint part
  (other dots) or this node lacks it, and extra when this node holds it and the peer
  does not hold the same: an id held under different dots is both, so each side fetches
  the other's copy and keeps the union of the dots.
- A peer whose fingerprint of a range is empty holds nothing there: nothing to fetch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.fingerprint import Fingerprint, PrefixIndex, children

__all__ = [
    "ID_WIDTH",
    "KEY_WIDTH",
    "LIST_IDS",
    "LIST_KEYS",
    "MAX_PREFIXES",
    "IdDescent",
    "KeyDescent",
    "answer_digest",
    "answer_ids",
    "compare_items",
    "parse_ranges",
    "root_equal",
]

MAX_PREFIXES = 256  # ranges per request
LIST_KEYS = 16  # a key range this small is answered with its keys' fingerprints
LIST_IDS = 64  # an id range this small is answered with its ids
KEY_WIDTH = 40  # hex digits of a key position
ID_WIDTH = 64  # hex digits of a message id

T = TypeVar("T")
Range = tuple[str, Fingerprint]


def parse_ranges(value: Any) -> list[Range]:
    """``[[prefix, fingerprint], ...]`` from the wire: the requester's side of each range."""
    if not isinstance(value, list) or len(value) > MAX_PREFIXES:
        raise BadFormat(f"ranges must be a list of at most {MAX_PREFIXES} [prefix, fp] pairs")
    out = []
    for item in value:
        fp = Fingerprint.from_wire(item[1]) if isinstance(item, list) and len(item) == 2 else None
        if fp is None or not isinstance(item[0], str) or len(item[0]) > 200:
            raise BadFormat("a range is [prefix, [count, s1, s2]] with a short prefix")
        out.append((item[0], fp))
    return out


def compare_items(there: Mapping[str, T], here: Mapping[str, T]) -> tuple[list[str], list[str]]:
    """``(missing, extra)`` of two sides' ``id -> part`` (or ``id -> dots``): ids the peer
    holds and this node lacks or holds otherwise, and the converse; both sorted."""
    missing = sorted(i for i, q in there.items() if here.get(i) != q)
    extra = sorted(i for i, q in here.items() if there.get(i) != q)
    return missing, extra


# -- the serving side ------------------------------------------------------------------


def root_equal(asked: Sequence[Range], root: Fingerprint) -> bool:
    """Whether a ``peer.digest`` is the single root comparison and the roots are equal
    (the serving side then answers without a scan)."""
    return len(asked) == 1 and asked[0][0] == "" and asked[0][1] == root


def answer_digest(index: PrefixIndex, asked: Sequence[Range]) -> list[dict[str, Any]]:
    """``peer.digest``'s ranges: for each asked range whose fingerprint differs from ours
    (``index``: the keys both replicate, by ``key position + receiver``), ours, with its
    keys when few (or at full width)."""
    out = []
    for p, theirs in asked:
        fp = index.fingerprint(p)
        if fp == theirs:
            continue
        entry: dict[str, Any] = {"prefix": p, "fp": fp.to_wire()}
        under = index.under(p)
        if len(under) <= LIST_KEYS or len(p) >= KEY_WIDTH:
            entry["keys"] = [[k[KEY_WIDTH:], f.to_wire()] for k, f in under[:1000]]
        out.append(entry)
    return out


def answer_ids(
    asked: Sequence[Range], ours: Sequence[Fingerprint]
) -> list[tuple[str, Fingerprint, bool]]:
    """``peer.ids``: ``(prefix, our fingerprint, list its ids)`` for each asked range whose
    fingerprint differs from ours (``ours``: in the order asked)."""
    return [
        (p, fp, fp.count <= LIST_IDS)
        for (p, theirs), fp in zip(asked, ours, strict=True)
        if fp != theirs
    ]


# -- the asking side -------------------------------------------------------------------


@dataclass
class KeyDescent:
    """A descent over key ranges with one peer; ``mine``: the keys both replicate, by
    ``key position + receiver``. Ask ``batch()`` until it returns None; ``differing``
    then holds the receivers to compare by ids."""

    mine: PrefixIndex
    differing: list[str] = field(default_factory=list)
    asked: int = 0  # ranges asked, for the metrics
    listed: int = 0  # keys listed by the peer
    _todo: list[str] = field(default_factory=lambda: [""])
    _batch: list[str] = field(default_factory=list)

    def batch(self) -> list[list[Any]] | None:
        """The next ``peer.digest`` ranges (wire form), or None when the descent is over."""
        if not self._todo:
            return None
        self._batch, self._todo = self._todo[:MAX_PREFIXES], self._todo[MAX_PREFIXES:]
        self.asked += len(self._batch)
        return [[p, self.mine.fingerprint(p).to_wire()] for p in self._batch]

    def on_reply(self, entries: Any) -> None:
        asked = set(self._batch)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            p = entry.get("prefix")
            theirs = Fingerprint.from_wire(entry.get("fp"))
            if not isinstance(p, str) or p not in asked or theirs is None:
                continue
            if theirs == self.mine.fingerprint(p) or theirs.count == 0:
                continue
            keys = entry.get("keys")
            if isinstance(keys, list):
                self.listed += len(keys)
                have = {k[KEY_WIDTH:]: fp for k, fp in self.mine.under(p)}
                for item in keys:
                    if not (isinstance(item, list) and len(item) == 2):
                        continue
                    receiver, fp_wire = item
                    if isinstance(receiver, str) and have.get(receiver) != Fingerprint.from_wire(
                        fp_wire
                    ):
                        self.differing.append(receiver)
            elif len(p) < KEY_WIDTH:
                self._todo.extend(children(p))
        self._batch = []


@dataclass
class IdDescent:
    """A descent over the ids of one key with one peer. Loop: ``batch()`` gives the
    prefixes to ask (None: done); the caller reads this node's fingerprints of them and
    sends ``ask(fps)``; ``on_reply`` gives the prefixes the peer listed, whose items the
    caller reads here and hands to ``on_items``. Then ``missing``, ``extra`` and
    ``replica`` (the peer says it replicates the key) are the outcome."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    replica: bool = False
    asked: int = 0
    listed: int = 0
    _todo: list[str] = field(default_factory=lambda: [""])
    _mine: dict[str, Fingerprint] = field(default_factory=dict)
    _theirs: dict[str, dict[str, int]] = field(default_factory=dict)

    def batch(self) -> list[str] | None:
        if not self._todo:
            return None
        out, self._todo = self._todo[:MAX_PREFIXES], self._todo[MAX_PREFIXES:]
        self.asked += len(out)
        return out

    def ask(self, prefixes: Sequence[str], fps: Sequence[Fingerprint]) -> list[list[Any]]:
        """The ``peer.ids`` ranges (wire form) for ``prefixes`` with our ``fps``."""
        self._mine = dict(zip(prefixes, fps, strict=True))
        return [[p, fp.to_wire()] for p, fp in self._mine.items()]

    def on_reply(self, reply: Mapping[str, Any]) -> list[str]:
        """The peer's ranges; returns the prefixes whose items to read here."""
        self.replica = reply.get("replica") is True
        self._theirs = {}
        entries = reply.get("ranges")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            p = entry.get("prefix")
            theirs = Fingerprint.from_wire(entry.get("fp"))
            if not isinstance(p, str) or p not in self._mine or theirs is None:
                continue
            if theirs == self._mine[p]:
                continue
            ids = entry.get("ids")
            if isinstance(ids, list):
                self.listed += len(ids)
                self._theirs[p] = {
                    i[0]: i[1]
                    for i in ids
                    if isinstance(i, list) and len(i) == 2 and isinstance(i[0], str)
                    and i[0].startswith(p) and type(i[1]) is int
                }  # fmt: skip
            elif len(p) < ID_WIDTH:
                self._todo.extend(children(p))
        return list(self._theirs)

    def on_items(self, prefix: str, here: Mapping[str, int]) -> None:
        """This node's ``id -> part`` under ``prefix``, as ``on_reply`` asked."""
        missing, extra = compare_items(self._theirs.pop(prefix, {}), here)
        self.missing.extend(missing)
        self.extra.extend(extra)
