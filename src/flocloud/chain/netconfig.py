"""The network rules the registry publishes in ``config``: one rule set, typed fields.

Invariants owned here:
- Every config value is checked by ``check_config_value``, the one rule set node, client,
  CLI and dashboard share; a value outside its range is refused with a message naming
  the key, the range and the value (the registry fold skips that entry and reports it,
  keeping the previous value). Nothing else parses raw config dicts.
- ``RegistryConfig`` holds only checked values. Keys flocloud does not know are kept as
  given in ``extra`` (the existing cloud's servers ignore keys they do not know, and so
  does flocloud).
- Pure: no I/O.

Keys (``config`` of a ``SuperNodeStorage`` update; the first group is the existing
cloud's, read with its meaning):

=================  =======================================  ==========================
key                meaning                                  rule
=================  =======================================  ==========================
backupDepth        replicas besides a key's home            integer 0..15 (default 1)
delayDelta         allowed clock skew of a request, ms      integer 1000..86400000
refreshDelay       writes between registry re-reads         integer >= 0
deleteDelay        ms before deleted data is purged         integer >= 0
blockInterval      ms between the chain's blocks            integer >= 0
errorFeedback      servers report errors to clients         boolean
writeQuorum        nodes that commit before an ack (W)      integer 1..16 (default
                                                            min(2, replication factor))
virtualNodes       placement positions per supernode        integer 1..1024 (default 256)
maxMessageBytes    largest message a node accepts           integer 1024..16777216
maxSkewMs          flocloud's name for delayDelta           as delayDelta (wins)
=================  =======================================  ==========================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from flocloud.protocol.errors import BadFormat
from flocloud.protocol.placement import DEFAULT_VIRTUAL_NODES, MAX_VIRTUAL_NODES

__all__ = ["MAX_BACKUP_DEPTH", "RegistryConfig", "check_config_value"]

MAX_BACKUP_DEPTH = 15
MAX_WRITE_QUORUM = MAX_BACKUP_DEPTH + 1
DEFAULT_SKEW_MS = 5 * 60 * 1000

_INT_RULES: dict[str, tuple[int, int | None]] = {
    "backupDepth": (0, MAX_BACKUP_DEPTH),
    "writeQuorum": (1, MAX_WRITE_QUORUM),
    "virtualNodes": (1, MAX_VIRTUAL_NODES),
    "delayDelta": (1000, 86_400_000),
    "maxSkewMs": (1000, 86_400_000),
    "maxMessageBytes": (1024, 16 * 1024 * 1024),
    "refreshDelay": (0, None),
    "deleteDelay": (0, None),
    "blockInterval": (0, None),
}
_BOOL_RULES = {"errorFeedback"}


def check_config_value(key: str, value: Any) -> Any:
    """``value`` if it is valid for ``key``; raises ``BadFormat`` saying why not.

    Unknown keys are accepted as given (they are kept, never interpreted).
    """
    if key in _INT_RULES:
        lo, hi = _INT_RULES[key]
        where = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadFormat(f"config {key} must be an integer {where}, got {value!r}")
        if value < lo or (hi is not None and value > hi):
            raise BadFormat(f"config {key} must be in {where}, got {value}")
        return value
    if key in _BOOL_RULES:
        if not isinstance(value, bool):
            raise BadFormat(f"config {key} must be true or false, got {value!r}")
        return value
    return value


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """The checked network rules (raw keys in ``raw``, unknown ones also in ``extra``)."""

    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> RegistryConfig:
        """From values already checked one by one; checks them again (cheap, one rule)."""
        checked = {k: check_config_value(k, v) for k, v in values.items()}
        return cls(MappingProxyType(checked))

    def _int(self, key: str, default: int) -> int:
        value = self.raw.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    @property
    def backup_depth(self) -> int:
        return self._int("backupDepth", 1)

    @property
    def virtual_nodes(self) -> int:
        return self._int("virtualNodes", DEFAULT_VIRTUAL_NODES)

    @property
    def write_quorum_setting(self) -> int | None:
        return self._int("writeQuorum", 0) or None

    @property
    def max_skew_ms(self) -> int:
        """Allowed clock skew: ``maxSkewMs``, else the existing cloud's ``delayDelta``."""
        return self._int("maxSkewMs", self._int("delayDelta", DEFAULT_SKEW_MS))

    @property
    def max_message_bytes(self) -> int | None:
        return self._int("maxMessageBytes", 0) or None

    @property
    def refresh_delay(self) -> int | None:
        return self._int("refreshDelay", -1) if "refreshDelay" in self.raw else None

    @property
    def delete_delay_ms(self) -> int | None:
        return self._int("deleteDelay", -1) if "deleteDelay" in self.raw else None

    @property
    def block_interval_ms(self) -> int | None:
        return self._int("blockInterval", -1) if "blockInterval" in self.raw else None

    @property
    def error_feedback(self) -> bool:
        return self.raw.get("errorFeedback") is True

    @property
    def extra(self) -> dict[str, Any]:
        known = set(_INT_RULES) | _BOOL_RULES
        return {k: v for k, v in self.raw.items() if k not in known}

    def replication_factor(self, nodes: int) -> int:
        """``backupDepth + 1``, at most the number of nodes, at least 1."""
        return max(1, min(self.backup_depth + 1, nodes or 1))

    def write_quorum(self, nodes: int) -> int:
        """``writeQuorum`` (default 2), at most the replication factor."""
        rf = self.replication_factor(nodes)
        return min(self.write_quorum_setting or 2, rf)
