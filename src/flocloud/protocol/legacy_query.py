"""Queries of the existing FLO cloud's client and the rows they answer
(shared/reference/flo-cloud-legacy.md §3). Pure.

Invariants owned here:
- A filter applies only when its value is truthy as JavaScript sees it; in a GET every
  value is a string, and ``""``, ``"0"``, ``"null"``, ``"undefined"``, ``"false"`` mean no
  filter. ``application`` always applies: a query without one matches nothing.
- Vector clock bounds are inclusive and compare as strings (the client's
  ``lastVectorClock + 1`` is string concatenation); ``afterTime`` is ``log_time >``.
- ``matches`` is the same predicate the store's SQL applies, so a live push never sends a
  row the query would not answer.
- A row has exactly the reference's 21 fields, in its order; unset ones are ``null``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import BadFormat, InvalidAddress
from .legacy import proxy_id

__all__ = ["ROW_FIELDS", "LegacyQuery", "parse_query"]

ROW_FIELDS = (
    "vectorClock", "senderID", "receiverID", "application", "type", "time", "pubKey",
    "message", "sign", "comment", "proxyID", "status_n", "log_time", "tag", "tag_time",
    "tag_key", "tag_sign", "note", "note_time", "note_key", "note_sign",
)  # fmt: skip
_FALSY_STRINGS = ("", "0", "null", "undefined", "false", "NaN")


def _truthy(value: Any, strings: bool) -> bool:
    if strings and isinstance(value, str):
        return value not in _FALSY_STRINGS
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "") and value != []


def _opt_str(doc: dict[str, Any], key: str, strings: bool) -> str | None:
    v = doc.get(key)
    if not _truthy(v, strings):
        return None
    if not isinstance(v, str):
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
        raise BadFormat(f"Invalid {key}")
    return v


@dataclass(frozen=True, slots=True)
class LegacyQuery:
    receiver: str  # the inbox (proxyID)
    application: str | None  # None matches nothing
    type: str | None = None
    senders: tuple[str, ...] | None = None
    comment: str | None = None
    lower_vc: str | None = None
    upper_vc: str | None = None
    at_vc: str | None = None
    after_time: float | None = None
    most_recent: bool = False

    @property
    def by_log_time(self) -> bool:
        return self.after_time is not None

    @property
    def live(self) -> bool:
        """Whether a websocket query gets pushes (``mostRecent`` ones do not)."""
        return not self.most_recent

    def matches(self, row: dict[str, Any]) -> bool:
        vc = row["vectorClock"]
        return (
            self.application is not None
            and row["proxyID"] == self.receiver
            and row["application"] == self.application
            and (self.type is None or row["type"] == self.type)
            and (self.senders is None or row["senderID"] in self.senders)
            and (self.comment is None or row["comment"] == self.comment)
            and (self.lower_vc is None or vc >= self.lower_vc)
            and (self.upper_vc is None or vc <= self.upper_vc)
            and (self.at_vc is None or vc == self.at_vc)
            and (self.after_time is None or row["log_time"] > self.after_time)
        )


def parse_query(doc: Any, *, strings: bool = False) -> LegacyQuery:
    """A query from a websocket frame, a POST's ``request`` or (``strings``) a GET."""
    if not isinstance(doc, dict):
        raise BadFormat("Invalid Data-format")
    try:
        receiver = proxy_id(doc.get("receiverID"))
    except InvalidAddress:
        raise InvalidAddress("Invalid receiverID") from None
    app = doc.get("application")
    if app is not None and not isinstance(app, str):
        raise BadFormat("Invalid application")
    senders: tuple[str, ...] | None = None
    raw = doc.get("senderID")
    if _truthy(raw, strings):
        if isinstance(raw, str):
            senders = tuple(s for s in raw.split(",") if s)
        elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
            senders = tuple(raw)
        else:
            raise BadFormat("Invalid senderID")
    after: float | None = None
    raw_after = doc.get("afterTime")
    if _truthy(raw_after, strings):
        try:
            after = float(raw_after)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadFormat("Invalid afterTime") from None
        if not math.isfinite(after):
            raise BadFormat("Invalid afterTime")
    return LegacyQuery(
        receiver=receiver,
        application=app,
        type=_opt_str(doc, "type", strings),
        senders=senders,
        comment=_opt_str(doc, "comment", strings),
        lower_vc=_opt_str(doc, "lowerVectorClock", strings),
        upper_vc=_opt_str(doc, "upperVectorClock", strings),
        at_vc=_opt_str(doc, "atVectorClock", strings),
        after_time=after,
        most_recent=_truthy(doc.get("mostRecent"), strings),
    )
