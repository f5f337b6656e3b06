"""Objects, schemas, tags and notes derived from stored writes, inside the writer's
transaction; Paxos acceptor state of strict objects. Called by ``SqliteStore``.

Invariants owned here:
- An object's row in ``object_state`` (version, heads, value) is always
  ``objectlog.fold`` of its rows in ``object_writes``, and ``object_writes.pos`` is each
  write's place in the fold order (NULL while an ancestor is missing). Both are updated in
  the transaction that stores or drops a write, so replicas with the same writes have the
  same state whatever order the writes came in.
- A schema of (application, target) is the schema write with the largest
  ``(time, id)``; a message's note is the note write about it with the largest
  ``(time, id)``; its tags are the distinct tags of the tag writes about it in
  ``(time, id)`` order. None depends on arrival order.
- A Paxos acceptor's state is written in the transaction that answers the request, so it
  is on disk before the reply leaves. An instance a young store's acceptor recovered
  (``paxos_recovered``) stays recovered; the state and the mark are written together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import NotFound
from flocloud.protocol.fingerprint import prefix_end
from flocloud.protocol.objectlog import (
    EMPTY_VERSION,
    Folded,
    ObjectOp,
    apply_op,
    closure,
    fold,
    parse_version,
    version_of,
)
from flocloud.protocol.paxos import AcceptorState
from flocloud.protocol.writes import ObjectWrite

__all__ = [
    "ObjectChange",
    "ObjectState",
    "acceptor_load",
    "acceptor_recovered",
    "acceptor_save",
    "apply_object_write",
    "apply_schema",
    "derive_about",
    "drop_object_writes",
    "object_changes",
    "object_state",
    "object_version",
    "version_of_parents",
]


@dataclass(frozen=True, slots=True)
class ObjectState:
    application: str
    name: str
    version: str
    heads: tuple[str, ...]
    value: Any
    count: int


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One write of an object's history, in fold order."""

    id: str
    kind: str
    change: Any
    parents: tuple[str, ...]
    sender: str
    time: int
    version: str  # the object's version once this write is applied (in fold order)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_loads = json.loads


def _ops(db: sqlite3.Connection, app: str, name: str) -> list[tuple[ObjectOp, str]]:
    rows = db.execute(
        "SELECT msg_id, time, parents, kind, change, sender FROM object_writes "
        "WHERE application=? AND name=?",
        (app, name),
    )
    return [(ObjectOp(i, int(t), tuple(_loads(p)), k, _loads(c)), s) for i, t, p, k, c, s in rows]


def object_state(db: sqlite3.Connection, app: str, name: str) -> ObjectState | None:
    row = db.execute(
        "SELECT version, heads, value, count FROM object_state WHERE application=? AND name=?",
        (app, name),
    ).fetchone()
    if row is None or row[0] == EMPTY_VERSION:
        return None
    return ObjectState(app, name, row[0], tuple(_loads(row[1])), _loads(row[2]), int(row[3]))


def _save_state(db: sqlite3.Connection, app: str, name: str, f: Folded, count: int) -> None:
    db.execute(
        "INSERT INTO object_state (application, name, version, heads, value, count) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT(application, name) DO UPDATE SET "
        "version=excluded.version, heads=excluded.heads, value=excluded.value, count=excluded.count",
        (app, name, f.version, _json_text(list(f.heads)), _json_text(f.value), count),
    )


def refold(db: sqlite3.Connection, app: str, name: str) -> Folded:
    """Recompute an object's state from all its writes (a write landed out of order)."""
    f = fold(op for op, _ in _ops(db, app, name))
    db.execute("UPDATE object_writes SET pos=NULL WHERE application=? AND name=?", (app, name))
    db.executemany(
        "UPDATE object_writes SET pos=? WHERE msg_id=?", [(i, oid) for i, oid in enumerate(f.order)]
    )
    _save_state(db, app, name, f, len(f.order))
    return f


def apply_object_write(
    db: sqlite3.Connection,
    env: Envelope,
    write: ObjectWrite,
    *,
    check: Callable[[Any], None] | None,
    need_parents: bool,
) -> str:
    """Fold a just-stored object write in; returns the object's version after it.

    ``need_parents``: refuse (``not-found``) a write whose parents are not all applied
    here (a node accepting a client's write; replicas keep such a write pending).
    ``check``: called with the new value (the accepting node's schema check)."""
    body = env.body
    app, name = body.application, write.name
    if need_parents and write.parents:
        marks = ",".join("?" * len(write.parents))
        known = db.execute(
            f"SELECT COUNT(*) FROM object_writes WHERE application=? AND name=? "
            f"AND pos IS NOT NULL AND msg_id IN ({marks})",
            (app, name, *write.parents),
        ).fetchone()[0]
        if known != len(write.parents):
            raise NotFound(
                f"object {app}/{name}: the version this write is based on is not known here"
            )
    db.execute(
        "INSERT INTO object_writes (msg_id, application, name, time, sender, kind, change, "
        "parents) VALUES (?,?,?,?,?,?,?,?)",
        (env.id, app, name, body.time, body.senderID, write.kind, _json_text(write.change),
         _json_text(list(write.parents))),
    )  # fmt: skip
    state = object_state(db, app, name)
    heads = state.heads if state is not None else ()
    pending = db.execute(
        "SELECT 1 FROM object_writes WHERE application=? AND name=? AND pos IS NULL "
        "AND msg_id != ? LIMIT 1",
        (app, name, env.id),
    ).fetchone()
    if pending is None and write.parents == heads:
        # the common case: based on the current state, so it folds in last
        count = (state.count if state is not None else 0) + 1
        op = ObjectOp(env.id, body.time, write.parents, write.kind, write.change)
        value = apply_op(state.value if state is not None else None, op)
        folded = Folded((env.id,), (), (env.id,), value, version_of([env.id], count), ())
        db.execute("UPDATE object_writes SET pos=? WHERE msg_id=?", (count - 1, env.id))
        _save_state(db, app, name, folded, count)
    else:
        folded = refold(db, app, name)
    if check is not None and env.id not in folded.pending:
        check(folded.value)
    return folded.version


def drop_object_writes(db: sqlite3.Connection, ids: list[str]) -> None:
    """Forget dropped writes and refold the objects they belonged to."""
    touched: set[tuple[str, str]] = set()
    for msg_id in ids:
        row = db.execute(
            "SELECT application, name FROM object_writes WHERE msg_id=?", (msg_id,)
        ).fetchone()
        if row is not None:
            touched.add((row[0], row[1]))
            db.execute("DELETE FROM object_writes WHERE msg_id=?", (msg_id,))
    for app, name in touched:
        refold(db, app, name)


def _resolve(db: sqlite3.Connection, app: str, name: str, version: str) -> tuple[str, ...]:
    """The head ids of ``version``; ``not-found`` when this replica lacks one of them."""
    _, prefixes = parse_version(version)
    heads = []
    for p in prefixes:
        rows = db.execute(
            "SELECT msg_id FROM object_writes WHERE application=? AND name=? AND msg_id >= ? "
            "AND msg_id < ? AND pos IS NOT NULL LIMIT 2",
            (app, name, p, prefix_end(p)),
        ).fetchall()
        if len(rows) != 1:
            raise NotFound(f"version {version} of {app}/{name} is not known here")
        heads.append(rows[0][0])
    return tuple(heads)


def object_version(db: sqlite3.Connection, app: str, name: str, version: str) -> ObjectState | None:
    """The object at ``version`` (the fold of that version's history)."""
    current = object_state(db, app, name)
    if version == EMPTY_VERSION:
        return None
    if current is not None and current.version == version:
        return current
    heads = _resolve(db, app, name, version)
    ops = {op.id: op for op, _ in _ops(db, app, name)}
    history = closure(ops, heads)
    f = fold(ops[i] for i in history)
    if f.version != version:
        raise NotFound(f"version {version} of {app}/{name} is not known here")
    return ObjectState(app, name, version, f.heads, f.value, len(f.order))


def version_of_parents(
    db: sqlite3.Connection, app: str, name: str, parents: tuple[str, ...]
) -> str | None:
    """The version whose heads are ``parents`` (None if one is not applied here)."""
    if not parents:
        return EMPTY_VERSION
    ops = {op.id: op for op, _ in _ops(db, app, name)}
    if any(p not in ops for p in parents):
        return None
    applied = db.execute(
        f"SELECT COUNT(*) FROM object_writes WHERE pos IS NOT NULL AND msg_id IN "
        f"({','.join('?' * len(parents))})",
        parents,
    ).fetchone()[0]
    if applied != len(parents):
        return None
    return version_of(parents, len(closure(ops, parents)))


def object_changes(db: sqlite3.Connection, app: str, name: str, since: str) -> list[ObjectChange]:
    """The applied writes not in the history of ``since``, in fold order."""
    heads = _resolve(db, app, name, since) if since != EMPTY_VERSION else ()
    rows = _ops(db, app, name)
    ops = {op.id: op for op, _ in rows}
    senders = {op.id: s for op, s in rows}
    seen = closure(ops, heads)
    f = fold(ops.values())
    return [
        ObjectChange(
            oid, ops[oid].kind, ops[oid].change, ops[oid].parents, senders[oid], ops[oid].time, v
        )
        for oid, v in zip(f.order, f.versions, strict=True)
        if oid not in seen
    ]


# -- schemas, tags, notes -----------------------------------------------------------------


def apply_schema(
    db: sqlite3.Connection, app: str, target: str, schema: Any, msg_id: str, time: int
) -> None:
    """Keep the schema write with the largest ``(time, id)``."""
    row = db.execute(
        "SELECT time, msg_id FROM schemas WHERE application=? AND target=?", (app, target)
    ).fetchone()
    if row is not None and (int(row[0]), row[1]) > (time, msg_id):
        return
    db.execute(
        "INSERT INTO schemas (application, target, schema, msg_id, time) VALUES (?,?,?,?,?) "
        "ON CONFLICT(application, target) DO UPDATE SET schema=excluded.schema, "
        "msg_id=excluded.msg_id, time=excluded.time",
        (app, target, _json_text(schema), msg_id, time),
    )


def derive_about(db: sqlite3.Connection, receiver: str, target_id: str) -> None:
    """A message's tags and note from every tag/note write about it (its receiver's)."""
    rows = db.execute(
        "SELECT type, body FROM messages WHERE target=? AND type IN ('flocloud.tag', "
        "'flocloud.note') AND +receiver=? ORDER BY time, id",  # by the target index
        (target_id, receiver),
    ).fetchall()
    tags: list[str] = []
    note = None
    for t, body in rows:
        payload = _loads(body).get("payload", {})
        if t == "flocloud.tag":
            tag = payload.get("tag")
            if isinstance(tag, str) and tag not in tags:
                tags.append(tag)
        else:
            note = payload.get("note")
    db.execute(
        "UPDATE messages SET tags=?, note=? WHERE receiver=? AND id=?",
        (_json_text(tags), note, receiver, target_id),
    )


# -- Paxos acceptor state -------------------------------------------------------------------


def successor(db: sqlite3.Connection, app: str, name: str, version: str) -> tuple[bool, str | None]:
    """Whether this store knows ``version`` of the object, and the id of the applied write
    that follows it in the fold (None when ``version`` is the newest here). For a strict
    object that write was chosen in the instance ``version`` (stored means decided)."""
    f = fold(op for op, _ in _ops(db, app, name))
    if version == EMPTY_VERSION:
        at = 0
    elif version in f.versions:
        at = f.versions.index(version) + 1
    else:
        return False, None
    return True, f.order[at] if at < len(f.order) else None


def acceptor_load(db: sqlite3.Connection, app: str, name: str, instance: str) -> AcceptorState:
    row = db.execute(
        "SELECT promised_round, promised_node, accepted_round, accepted_node, value_id, value "
        "FROM paxos WHERE application=? AND name=? AND instance=?",
        (app, name, instance),
    ).fetchone()
    if row is None:
        return AcceptorState()
    value = (row[4], _loads(row[5])) if row[4] is not None else None
    return AcceptorState((int(row[0]), row[1]), (int(row[2]), row[3]), value)


def acceptor_recovered(db: sqlite3.Connection, app: str, name: str, instance: str) -> bool:
    """Whether this store's acceptor recovered the instance (a young store, docs §5.6)."""
    row = db.execute(
        "SELECT 1 FROM paxos_recovered WHERE application=? AND name=? AND instance=?",
        (app, name, instance),
    ).fetchone()
    return row is not None


def acceptor_save(
    db: sqlite3.Connection,
    app: str,
    name: str,
    instance: str,
    s: AcceptorState,
    recovered: bool = False,
) -> None:
    """Store the acceptor's state of the instance (and, with ``recovered``, mark it
    recovered: a mark is never taken back)."""
    if recovered:
        db.execute(
            "INSERT OR IGNORE INTO paxos_recovered (application, name, instance) VALUES (?,?,?)",
            (app, name, instance),
        )
    value_id, value = (s.value[0], _json_text(s.value[1])) if s.value is not None else (None, None)
    db.execute(
        "INSERT INTO paxos (application, name, instance, promised_round, promised_node, "
        "accepted_round, accepted_node, value_id, value) VALUES (?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(application, name, instance) DO UPDATE SET "
        "promised_round=excluded.promised_round, promised_node=excluded.promised_node, "
        "accepted_round=excluded.accepted_round, accepted_node=excluded.accepted_node, "
        "value_id=excluded.value_id, value=excluded.value",
        (app, name, instance, *s.promised, *s.accepted, value_id, value),
    )


def refold_unfolded(db: sqlite3.Connection) -> int:
    """Fold the objects that have writes but no state (after migration 6)."""
    rows = db.execute(
        "SELECT DISTINCT w.application, w.name FROM object_writes w LEFT JOIN object_state s "
        "ON s.application = w.application AND s.name = w.name WHERE s.version IS NULL"
    ).fetchall()
    for app, name in rows:
        refold(db, app, name)
    return len(rows)
