"""The convergence check of merge objects. Pure.

``check_convergence(replicas)`` takes, for each replica, the object it serves (version,
value) and the writes it reports in its history, and lists every problem: a replica whose
state is not the fold of its own writes (``flocloud.protocol.objectlog``), and replicas
that disagree once they hold the same set of writes (or at all, with ``settled``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flocloud.protocol.objectlog import ObjectOp, fold
from flocloud.protocol.objects import canonical

__all__ = ["ReplicaObject", "check_convergence", "replica_from_wire"]


@dataclass(frozen=True)
class ReplicaObject:
    version: str
    value: Any
    writes: tuple[ObjectOp, ...]


def replica_from_wire(state: dict[str, Any], changes: dict[str, Any]) -> ReplicaObject:
    """From an ``object.get`` reply and an ``object.changes since "0"`` reply."""
    ops = tuple(
        ObjectOp(c["msgId"], c["time"], tuple(c["parents"]), c["kind"], c["change"])
        for c in changes["changes"]
    )
    return ReplicaObject(state["version"], state["value"], ops)


def check_convergence(replicas: Mapping[str, ReplicaObject], *, settled: bool) -> list[str]:
    problems = []
    for name, r in replicas.items():
        f = fold(r.writes)
        if f.version != r.version or canonical(f.value) != canonical(r.value):
            problems.append(f"{name}: its state is not the fold of its writes")
    by_set: dict[frozenset[str], list[str]] = {}
    for name, r in replicas.items():
        by_set.setdefault(frozenset(op.id for op in r.writes), []).append(name)
    if settled and len(by_set) > 1:
        problems.append(f"replicas hold different writes: {sorted(by_set.values())}")
    for names in by_set.values():
        states = {(replicas[n].version, canonical(replicas[n].value)) for n in names}
        if len(states) > 1:
            problems.append(f"{names} hold the same writes but different states")
    return problems
