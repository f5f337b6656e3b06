"""Who is online, per supernode, for the existing FLO cloud's client (not replicated).

Invariants owned here:
- An ID is online in an application while at least one of its signed ``status: true``
  websockets to this node is open; IDs compare by payload (every form is one person).
- A tracker hears the status of each ID it tracks at once, then one ``{ID: 1|0}`` per
  change, in the order the changes happened on this node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flocloud.protocol.errors import InvalidAddress
from flocloud.protocol.legacy import proxy_id

__all__ = ["PresenceHub", "Tracker"]


def _pid(floid: str) -> str | None:
    try:
        return proxy_id(floid)
    except InvalidAddress:
        return None


@dataclass(eq=False)
class Tracker:
    application: str
    ids: tuple[str, ...]
    send: Callable[[dict[str, Any]], None]


class PresenceHub:
    def __init__(self) -> None:
        self.online: Counter[tuple[str, str]] = Counter()
        self.trackers: set[Tracker] = set()

    def join(self, application: str, floid: str) -> tuple[str, str] | None:
        pid = _pid(floid)
        if pid is None:
            return None
        key = (application, pid)
        self.online[key] += 1
        if self.online[key] == 1:
            self._announce(key, 1)
        return key

    def leave(self, key: tuple[str, str]) -> None:
        self.online[key] -= 1
        if self.online[key] <= 0:
            del self.online[key]
            self._announce(key, 0)

    def status(self, application: str, ids: tuple[str, ...]) -> dict[str, int]:
        return {i: 1 if self.online.get((application, _pid(i) or "")) else 0 for i in ids}

    def track(self, tracker: Tracker) -> dict[str, int]:
        self.trackers.add(tracker)
        return self.status(tracker.application, tracker.ids)

    def untrack(self, tracker: Tracker) -> None:
        self.trackers.discard(tracker)

    def _announce(self, key: tuple[str, str], status: int) -> None:
        app, pid = key
        for t in list(self.trackers):
            if t.application == app:
                for i in t.ids:
                    if _pid(i) == pid:
                        t.send({i: status})
