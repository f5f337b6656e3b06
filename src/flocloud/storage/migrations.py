"""SQLite schema migrations: an ordered, forward-only list applied by ``PRAGMA user_version``.

Invariant: migration N is applied exactly once, inside a transaction, and never edited
after release; a new change is a new entry at the end.
"""

from __future__ import annotations

import sqlite3

from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.fingerprint import id_parts, key_position

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS: list[str] = [
    # 1: messages (every write), derived objects / schemas, quota accounting
    """
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        receiver TEXT NOT NULL, sender TEXT NOT NULL, application TEXT NOT NULL,
        type TEXT NOT NULL, comment TEXT, time INTEGER NOT NULL, received_ms INTEGER NOT NULL,
        body TEXT NOT NULL, pubkey TEXT NOT NULL, sign TEXT NOT NULL, size INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '[]', note TEXT,
        origin TEXT, origin_seq INTEGER
    );
    CREATE INDEX messages_receiver ON messages(receiver, seq);
    CREATE INDEX messages_app_type ON messages(application, type, seq);
    CREATE INDEX messages_sender ON messages(sender, seq);
    CREATE TABLE objects (
        application TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        kind TEXT NOT NULL, change TEXT NOT NULL, value TEXT NOT NULL, msg_id TEXT NOT NULL,
        PRIMARY KEY (application, name, version)
    );
    CREATE TABLE schemas (
        application TEXT NOT NULL, target TEXT NOT NULL, schema TEXT NOT NULL,
        msg_id TEXT NOT NULL, PRIMARY KEY (application, target)
    );
    CREATE TABLE quota (sender TEXT PRIMARY KEY, bytes INTEGER NOT NULL);
    """,
    # 2: the message a delete/tag/note is about, so a tombstone that arrives (by
    # replication) before its target still deletes the target when it comes
    """
    ALTER TABLE messages ADD COLUMN target TEXT;
    CREATE INDEX messages_target ON messages(target) WHERE target IS NOT NULL;
    """,
    # 3: this store's identity (random, made once) and replication positions in peers' logs
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
    CREATE TABLE peer_cursors (peer TEXT PRIMARY KEY, store_id TEXT NOT NULL, seq INTEGER NOT NULL);
    """,
    # 4: the per-receiver sequence (the clients' cursor), the same on every replica
    """
    ALTER TABLE messages ADD COLUMN kseq INTEGER;
    UPDATE messages SET kseq = seq WHERE kseq IS NULL;
    CREATE INDEX messages_receiver_kseq ON messages(receiver, kseq);
    """,
    # 5: anti-entropy: a fingerprint per key (receiver), kept by the writer, and the
    # fingerprint parts of each write with an index to sum id ranges of a key; indexes
    # no query uses any more (every query names its receiver) are dropped
    """
    CREATE TABLE key_digest (
        receiver TEXT PRIMARY KEY, kpos TEXT NOT NULL,
        n INTEGER NOT NULL, s1 INTEGER NOT NULL, s2 INTEGER NOT NULL
    );
    CREATE INDEX key_digest_kpos ON key_digest(kpos);
    INSERT INTO key_digest (receiver, kpos, n, s1, s2)
        SELECT receiver, fc_key_position(receiver), COUNT(*), SUM(fc_id_part1(id)),
               SUM(fc_id_part2(id))
        FROM messages GROUP BY receiver;
    ALTER TABLE messages ADD COLUMN fp1 INTEGER;
    ALTER TABLE messages ADD COLUMN fp2 INTEGER;
    UPDATE messages SET fp1 = fc_id_part1(id), fp2 = fc_id_part2(id);
    CREATE INDEX messages_receiver_id ON messages(receiver, id, time, fp1, fp2);
    DROP INDEX messages_receiver;
    DROP INDEX messages_app_type;
    DROP INDEX messages_sender;
    """,
    # legacy: 6: records of another kind (NULL: flocloud envelopes; 'legacy': requests of
    # the existing FLO cloud's client, flocloud.protocol.legacy) and the rows derived from
    # legacy records: one per stored write (a second assignment of one request is a shadow),
    # with the tag/note/edit state that its changes set; the change records by request id
    """
    ALTER TABLE messages ADD COLUMN kind TEXT;
    CREATE TABLE legacy_rows (
        msg_id TEXT PRIMARY KEY, rid TEXT NOT NULL, receiver TEXT NOT NULL, vc TEXT NOT NULL,
        shadow INTEGER NOT NULL DEFAULT 0, application TEXT, type TEXT, sender TEXT NOT NULL,
        comment TEXT, base_log INTEGER NOT NULL, log_time INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX legacy_rows_vc ON legacy_rows(receiver, vc);
    CREATE INDEX legacy_rows_log ON legacy_rows(receiver, log_time);
    CREATE INDEX legacy_rows_rid ON legacy_rows(rid);
    CREATE TABLE legacy_changes (
        msg_id TEXT PRIMARY KEY, rid TEXT NOT NULL, target TEXT NOT NULL
    );
    CREATE INDEX legacy_changes_rid ON legacy_changes(rid);
    """,
]


def _key_position(receiver: str) -> str:
    try:
        return key_position(receiver)
    except FlocloudError:  # never stored: receivers are validated before a write is accepted
        return ""


def register_functions(db: sqlite3.Connection) -> None:
    """The SQL functions the migrations use (fingerprint parts, key positions)."""
    db.create_function("fc_key_position", 1, _key_position, deterministic=True)
    db.create_function("fc_id_part1", 1, lambda i: id_parts(i)[0], deterministic=True)
    db.create_function("fc_id_part2", 1, lambda i: id_parts(i)[1], deterministic=True)


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` to the latest schema; returns the version it is at."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema {current} is newer than this software ({len(MIGRATIONS)})"
        )
    register_functions(db)
    for version in range(current + 1, len(MIGRATIONS) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return len(MIGRATIONS)
