"""Legacy records in the SQLite store: accepted or replicated, and the rows they answer.

Invariants owned here:
- A legacy record is a write of kind ``legacy`` in ``messages`` (its record text
  verbatim), so it is counted in its inbox's fingerprint, logged, pulled, pushed and
  handed off like any write; ``legacy_rows`` / ``legacy_changes`` are derived from the
  records in the same transaction.
- The accepting node assigns inside the writer: a request already stored (same ``rid``)
  is a duplicate that returns the stored row; otherwise ``t = max(now, the inbox's
  highest log_time + 1)`` is the new ``log_time`` (and, for a store, the vectorClock's
  milliseconds), so the vectorClocks and log times of one inbox are unique and increase
  in the order this node accepts.
- Every replica derives the same rows from the same set of records, whatever their
  order: of two assignments of one request the smaller ``(vectorClock, id)`` is the row
  and the other a shadow; a tag, note or edit is last-writer-wins by ``(log_time, id)``
  and applies to every assignment of its row.
- A change is checked against its row (vectorClock, inbox, permission) on every replica;
  without its row it is refused (``not-found``) and retried by replication.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from flocloud.protocol.cursor import Dot
from flocloud.protocol.errors import NotFound
from flocloud.protocol.legacy import (
    ChangeRequest,
    LegacyRecord,
    Request,
    StoreRequest,
    check_re_sign,
    make_record,
    parse_record,
    request_id,
    vector_clock,
)
from flocloud.protocol.legacy_query import LegacyQuery

from .dots import parse_dots_text
from .inserts import check_quota, insert_message
from .sqlite import SqliteStore

__all__ = ["Accepted", "LegacyStore", "PermissionCheck"]

# (op, requestor, row senderID, row receiverID, row application) -> raises Forbidden
PermissionCheck = Callable[[str, str, str, str, str | None], None]

_ROW_SQL = (
    "SELECT r.vc, r.receiver, r.comment, r.log_time, r.state, m.body, r.rid FROM legacy_rows r "
    "JOIN messages m ON m.receiver = r.receiver AND m.id = r.msg_id "
)


@dataclass(frozen=True, slots=True)
class Accepted:
    record: LegacyRecord
    row: dict[str, Any]
    duplicate: bool
    dots: tuple[Dot, ...]


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    vc, receiver, comment, log_time, state_text, body, _ = r
    f = orjson.loads(body)["request"]
    st = orjson.loads(state_text)
    return {
        "vectorClock": vc, "senderID": f.get("senderID"), "receiverID": f.get("receiverID"),
        "application": f.get("application"), "type": f.get("type"), "time": f.get("time"),
        "pubKey": f.get("pubKey"), "message": f.get("message"), "sign": st.get("sign", f.get("sign")),
        "comment": comment, "proxyID": receiver, "status_n": 1, "log_time": log_time,
        "tag": st.get("tag"), "tag_time": st.get("tag_time"), "tag_key": st.get("tag_key"),
        "tag_sign": st.get("tag_sign"), "note": st.get("note"), "note_time": st.get("note_time"),
        "note_key": st.get("note_key"), "note_sign": st.get("note_sign"),
    }  # fmt: skip


def _main_row(db: sqlite3.Connection, rid: str) -> dict[str, Any] | None:
    r = db.execute(_ROW_SQL + "WHERE r.rid=? AND r.shadow=0", (rid,)).fetchone()
    return _row(r) if r else None


class LegacyStore:
    """Legacy records on top of a ``SqliteStore`` (its writer, readers and tables)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    # -- writes -------------------------------------------------------------------------

    async def accept(
        self, req: Request, now_ms: int, *, quota_bytes: int | None, check: PermissionCheck
    ) -> Accepted:
        """Store a request this node accepts, assigning its vectorClock / log time."""

        def op(db: sqlite3.Connection) -> Accepted:
            rid = request_id(req)
            receiver = req.receiver
            if isinstance(req, StoreRequest):
                row = _main_row(db, rid)
                if row is not None:
                    return self._duplicate(db, receiver, rid, row)
            else:
                seen = db.execute("SELECT msg_id, target FROM legacy_changes WHERE rid=?", (rid,))
                first = seen.fetchone()
                if first is not None:
                    row = _main_row(db, first[1])
                    if row is not None:
                        return self._duplicate(db, receiver, first[0], row)
            top = db.execute(
                "SELECT MAX(log_time) FROM legacy_rows WHERE receiver=?", (receiver,)
            ).fetchone()[0]
            t = max(now_ms, int(top or 0) + 1)
            if isinstance(req, StoreRequest):
                rec = make_record(req, t, vector_clock=vector_clock(t, req.sender))
            else:
                target = db.execute(
                    "SELECT rid FROM legacy_rows WHERE receiver=? AND vc=? ORDER BY shadow LIMIT 1",
                    (receiver, req.fields["vectorClock"]),
                ).fetchone()
                if target is None:
                    raise NotFound("Invalid vectorClock")
                rec = make_record(req, t, target=target[0])
            dots, changed = self._insert(db, rec, now_ms, None, None, quota_bytes, check)
            row = changed or _main_row(db, rec.target or rec.rid)
            assert row is not None
            return Accepted(rec, row, False, dots)

        result: Accepted = await self.store._write(op)
        return result

    @staticmethod
    def _duplicate(
        db: sqlite3.Connection, receiver: str, msg_id: str, row: dict[str, Any]
    ) -> Accepted:
        got = db.execute(
            "SELECT body, dots FROM messages WHERE receiver=? AND id=?", (receiver, msg_id)
        ).fetchone()
        if got is None:  # the row's own record: msg_id is the rid's main record
            got = db.execute(
                "SELECT m.body, m.dots FROM legacy_rows r "
                "JOIN messages m ON m.receiver = r.receiver AND m.id = r.msg_id "
                "WHERE r.rid=? AND r.shadow=0",
                (msg_id,),
            ).fetchone()
        rec = parse_record(orjson.loads(got[0]), 1 << 31)
        return Accepted(rec, row, True, parse_dots_text(got[1]))

    async def store_replica(
        self,
        rec: LegacyRecord,
        received_ms: int,
        *,
        origin: str | None,
        dots: tuple[Dot, ...] | None,
        check: PermissionCheck,
    ) -> tuple[bool, tuple[Dot, ...], dict[str, Any] | None]:
        """Store a record another supernode accepted: ``(duplicate, its dots, the row it
        changed or None)``."""

        def op(db: sqlite3.Connection) -> tuple[bool, tuple[Dot, ...], dict[str, Any] | None]:
            have = db.execute(
                "SELECT dots FROM messages WHERE receiver=? AND id=?", (rec.receiver, rec.id)
            ).fetchone()
            if have is not None:
                return True, parse_dots_text(have[0]), None
            n, row = self._insert(db, rec, received_ms, origin, dots, None, check)
            return False, n, row

        result: tuple[bool, tuple[Dot, ...], dict[str, Any] | None] = await self.store._write(op)
        return result

    def _insert(
        self,
        db: sqlite3.Connection,
        rec: LegacyRecord,
        received_ms: int,
        origin: str | None,
        dots: tuple[Dot, ...] | None,
        quota_bytes: int | None,
        check: PermissionCheck,
    ) -> tuple[tuple[Dot, ...], dict[str, Any] | None]:
        """Insert a new record and derive its row; returns its dots and the row as clients
        now see it when it changed (None when it only added a shadow)."""
        req = rec.request
        f = req.fields
        body = orjson.dumps(rec.to_wire()).decode()
        check_quota(db, req.sender, len(body), quota_bytes)
        receiver = rec.receiver
        if isinstance(req, ChangeRequest):
            return self._insert_change(db, rec, req, body, received_ms, origin, dots, check)
        _, n = insert_message(
            db, rec.id, receiver, req.sender, application=str(f.get("application") or ""),
            type=str(f.get("type") or ""), comment=f.get("comment"), time=int(rec.time),
            received_ms=received_ms, body=body, pubkey=str(f["pubKey"]), sign=str(f["sign"]),
            origin=origin, dots=dots, store_id=self.store._sid, kind="legacy",
        )  # fmt: skip
        assert rec.vector_clock is not None
        peers = db.execute(
            "SELECT vc, msg_id, state, comment, log_time - base_log FROM legacy_rows WHERE rid=? "
            "ORDER BY vc, msg_id",
            (rec.rid,),
        ).fetchall()
        state, comment, bump = "{}", f.get("comment"), 0
        if peers:  # another assignment of the same request: share its state
            state, comment = peers[0][2], peers[0][3]
            bump = max(0, int(orjson.loads(state).get("change_log", 0)) - rec.log_time)
        shadow = 1 if peers and (peers[0][0], peers[0][1]) < (rec.vector_clock, rec.id) else 0
        db.execute(
            "INSERT INTO legacy_rows (msg_id, rid, receiver, vc, shadow, application, type, sender, "
            "comment, base_log, log_time, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.id, rec.rid, receiver, rec.vector_clock, shadow, f.get("application"),
             f.get("type"), req.sender, comment, rec.log_time, rec.log_time + bump, state),
        )  # fmt: skip
        if shadow:
            return n, None
        db.execute("UPDATE legacy_rows SET shadow=1 WHERE rid=? AND msg_id<>?", (rec.rid, rec.id))
        return n, _main_row(db, rec.rid)

    def _insert_change(
        self,
        db: sqlite3.Connection,
        rec: LegacyRecord,
        req: ChangeRequest,
        body: str,
        received_ms: int,
        origin: str | None,
        dots: tuple[Dot, ...] | None,
        check: PermissionCheck,
    ) -> tuple[tuple[Dot, ...], dict[str, Any] | None]:
        f = req.fields
        rows = db.execute(
            "SELECT r.vc, r.receiver, m.body FROM legacy_rows r "
            "JOIN messages m ON m.receiver = r.receiver AND m.id = r.msg_id WHERE r.rid=?",
            (rec.target,),
        ).fetchall()
        if not rows:
            raise NotFound("Invalid vectorClock")
        if f["vectorClock"] not in {r[0] for r in rows} or rows[0][1] != rec.receiver:
            raise NotFound("Invalid vectorClock")
        target = orjson.loads(rows[0][2])["request"]
        check(req.op, req.sender, str(target.get("senderID")), str(target.get("receiverID")),
              target.get("application"))  # fmt: skip
        if req.op == "edit":
            check_re_sign(target, req)
        _, n = insert_message(
            db, rec.id, rec.receiver, req.sender, application="", type="", comment=None,
            time=int(rec.time), received_ms=received_ms, body=body, pubkey=str(f["pubKey"]),
            sign=str(f["sign"]), origin=origin, dots=dots, store_id=self.store._sid,
            kind="legacy", target=rec.target,
        )  # fmt: skip
        db.execute(
            "INSERT INTO legacy_changes (msg_id, rid, target) VALUES (?,?,?)",
            (rec.id, rec.rid, rec.target),
        )
        at = f"{rec.log_time:013d}:{rec.id}"
        state = orjson.loads(
            db.execute(
                "SELECT state FROM legacy_rows WHERE rid=? LIMIT 1", (rec.target,)
            ).fetchone()[0]
        )
        comment: Any = ...
        if state.get(f"{req.op}_at", "") < at:  # last writer wins, the same on every replica
            state[f"{req.op}_at"] = at
            if req.op == "edit":
                state["sign"], comment = f.get("re_sign"), f.get("edit")
            else:
                state.update({req.op: f.get(req.op), f"{req.op}_time": f.get("time"),
                              f"{req.op}_key": f.get("pubKey"), f"{req.op}_sign": f.get("sign")})  # fmt: skip
        state["change_log"] = max(int(state.get("change_log", 0)), rec.log_time)
        db.execute(
            "UPDATE legacy_rows SET state=?, log_time=MAX(log_time, ?) WHERE rid=?",
            (orjson.dumps(state).decode(), rec.log_time, rec.target),
        )
        if comment is not ...:
            db.execute("UPDATE legacy_rows SET comment=? WHERE rid=?", (comment, rec.target))
        return n, _main_row(db, str(rec.target))

    # -- reads --------------------------------------------------------------------------

    async def stored_row(self, req: Request) -> dict[str, Any] | None:
        """The row a request already stored here made or changed (a replay), if any."""
        rid = request_id(req)

        def run(db: sqlite3.Connection) -> dict[str, Any] | None:
            if isinstance(req, ChangeRequest):
                hit = db.execute("SELECT target FROM legacy_changes WHERE rid=?", (rid,)).fetchone()
                return _main_row(db, hit[0]) if hit else None
            return _main_row(db, rid)

        result: dict[str, Any] | None = await self.store._read(run)
        return result

    async def query(self, q: LegacyQuery, max_rows: int) -> list[dict[str, Any]]:
        """The rows a query answers, in the reference's order."""
        if q.application is None:
            return []
        where = ["r.receiver=?", "r.shadow=0", "r.application=?"]
        args: list[Any] = [q.receiver, q.application]
        for cond, value in (
            ("r.type=?", q.type),
            ("r.comment=?", q.comment),
            ("r.vc>=?", q.lower_vc),
            ("r.vc<=?", q.upper_vc),
            ("r.vc=?", q.at_vc),
            ("r.log_time>?", q.after_time),
        ):
            if value is not None:
                where.append(cond)
                args.append(value)
        if q.senders is not None:
            where.append(f"r.sender IN ({','.join('?' * len(q.senders))})")
            args.extend(q.senders)
        key = "r.log_time" if q.by_log_time else "r.vc"
        order = (
            f"{key} DESC, r.msg_id DESC LIMIT 1" if q.most_recent else f"{key}, r.msg_id LIMIT ?"
        )
        if not q.most_recent:
            args.append(max_rows)
        sql = _ROW_SQL + "WHERE " + " AND ".join(where) + " ORDER BY " + order

        def run(db: sqlite3.Connection) -> list[dict[str, Any]]:
            return [_row(r) for r in db.execute(sql, args)]

        result: list[dict[str, Any]] = await self.store._read(run)
        return result
