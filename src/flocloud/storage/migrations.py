"""SQLite schema migrations: an ordered, forward-only list applied by ``PRAGMA user_version``.

Invariant: migration N is applied exactly once, inside a transaction, and never edited
after release; a new change is a new entry at the end.
"""

from __future__ import annotations

import logging
import sqlite3

from flocloud.protocol.errors import FlocloudError
from flocloud.protocol.fingerprint import id_parts, key_position, write_parts

__all__ = ["MIGRATIONS", "identity", "migrate"]

log = logging.getLogger("flocloud.storage")

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
    # 6: dots (docs/protocol.md §8.2): each write's (origin, counter) pairs, unique per
    # receiver, and this store's per-receiver counters (never reused, not even after a
    # hand-off dropped the key). Writes stored before number under this store's own id, in
    # their order here. Fingerprint parts now cover the id and its dots.
    """
    CREATE TABLE dots (
        receiver TEXT NOT NULL, origin TEXT NOT NULL, counter INTEGER NOT NULL,
        id TEXT NOT NULL, PRIMARY KEY (receiver, origin, counter)
    ) WITHOUT ROWID;
    CREATE INDEX dots_id ON dots(id);
    CREATE TABLE dot_counters (receiver TEXT PRIMARY KEY, counter INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO dots (receiver, origin, counter, id)
        SELECT receiver, (SELECT value FROM meta WHERE key = 'store_id'),
               ROW_NUMBER() OVER (PARTITION BY receiver ORDER BY seq), id
        FROM messages;
    INSERT INTO dot_counters (receiver, counter)
        SELECT receiver, COUNT(*) FROM messages GROUP BY receiver;
    ALTER TABLE messages ADD COLUMN dots TEXT NOT NULL DEFAULT '[]';
    UPDATE messages SET dots = (
        SELECT json_group_array(json_array(d.origin, d.counter)) FROM dots d WHERE d.id = messages.id
    );
    UPDATE messages SET fp1 = fc_fp_part1(id, dots), fp2 = fc_fp_part2(id, dots);
    DELETE FROM key_digest;
    INSERT INTO key_digest (receiver, kpos, n, s1, s2)
        SELECT receiver, fc_key_position(receiver), COUNT(*), SUM(fp1), SUM(fp2)
        FROM messages GROUP BY receiver;
    DROP INDEX messages_receiver_kseq;
    CREATE INDEX messages_receiver_seq ON messages(receiver, seq);
    """,
    # 7: objects as the fold of their writes (causal parents, content-derived
    # versions, flocloud.protocol.objectlog); old writes become roots (no parents), as
    # parse_write reads their envelopes, so a replica that gets them later folds them the
    # same (by time: the order they were written in); folded when the store opens; Paxos
    # acceptor state of strict objects
    """
    CREATE TABLE object_writes (
        msg_id TEXT PRIMARY KEY, application TEXT NOT NULL, name TEXT NOT NULL,
        time INTEGER NOT NULL, sender TEXT NOT NULL, kind TEXT NOT NULL, change TEXT NOT NULL,
        parents TEXT NOT NULL, pos INTEGER
    );
    CREATE INDEX object_writes_object ON object_writes(application, name, pos);
    INSERT INTO object_writes (msg_id, application, name, time, sender, kind, change, parents)
        SELECT o.msg_id, o.application, o.name, m.time, m.sender, o.kind, o.change, '[]'
        FROM objects o JOIN messages m ON m.id = o.msg_id;
    CREATE TABLE object_state (
        application TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
        heads TEXT NOT NULL, value TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (application, name)
    );
    CREATE TABLE paxos (
        application TEXT NOT NULL, name TEXT NOT NULL, instance TEXT NOT NULL,
        promised_round INTEGER NOT NULL, promised_node TEXT NOT NULL,
        accepted_round INTEGER NOT NULL, accepted_node TEXT NOT NULL, value_id TEXT, value TEXT,
        PRIMARY KEY (application, name, instance)
    );
    DROP TABLE objects;
    """,
    # 8: anti-entropy settles a write by the earlier of its signed time and the
    # node's receive time (a client can date a write ahead, never its arrival): the
    # covering index holds both
    """
    CREATE INDEX messages_receiver_settle ON messages(receiver, id, time, received_ms, fp1, fp2);
    DROP INDEX messages_receiver_id;
    """,
    # 9: records of another kind (NULL: flocloud envelopes; 'legacy': requests of
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
    # 10: per (receiver, origin), the run of counters held from 1 (``storage/dots.py``):
    # what makes ``lacking`` (a client's cursor covers dots this store has not got) cheap
    """
    CREATE TABLE IF NOT EXISTS dot_contig (
        receiver TEXT NOT NULL, origin TEXT NOT NULL, upto INTEGER NOT NULL,
        PRIMARY KEY (receiver, origin)
    ) WITHOUT ROWID;
    DELETE FROM dot_contig;
    INSERT INTO dot_contig (receiver, origin, upto)
        SELECT d.receiver, d.origin, MIN(d.counter) FROM dots d
        WHERE NOT EXISTS (SELECT 1 FROM dots e WHERE e.receiver = d.receiver
                          AND e.origin = d.origin AND e.counter = d.counter + 1)
          AND EXISTS (SELECT 1 FROM dots s WHERE s.receiver = d.receiver
                      AND s.origin = d.origin AND s.counter = 1)
        GROUP BY d.receiver, d.origin;
    """,
    # 11: young stores recover Paxos instances before they vote (docs §5.6, finding O1):
    # when the store was created (``created_ms`` in ``meta``; a store that already holds
    # writes or acceptor state is old, 0; an empty one gets the time it is opened at, by
    # ``SqliteStore.start``), and the instances its acceptor recovered
    """
    CREATE TABLE IF NOT EXISTS paxos_recovered (
        application TEXT NOT NULL, name TEXT NOT NULL, instance TEXT NOT NULL,
        PRIMARY KEY (application, name, instance)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (key, value)
        SELECT 'created_ms', '0'
        WHERE EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1 FROM paxos);
    """,
    # 12: no index of dots by message id: every write paid a random insert into it, and
    # only a drop used it, which finds a write's dots from ``messages.dots`` instead
    """
    DROP INDEX IF EXISTS dots_id;
    """,
    # 13: one B-tree ordered by the random message id instead of two. Every reference
    # to a write by id names its receiver (an id is a hash of a body that names it, and
    # a delete/tag/note is addressed to its target's receiver), so anti-entropy's index
    # ``(receiver, id, …)`` answers those lookups and the table no longer keeps a
    # ``UNIQUE`` index of ``id`` alone: each write inserted into both at a random place,
    # a page of each dirtied per write once the store outgrows a commit. The table is
    # rebuilt to drop it (and the unused ``kseq`` and ``origin_seq``); the rowid sequence
    # carries over, so ``seq`` is still never reused. A schema keeps its write's signed
    # time, so the newest schema is found without a lookup by id alone. The new indexes
    # are built before the old table is dropped: built into its freed pages they would
    # all be journaled (names of their own, as the old ones hold theirs until the drop).
    """
    CREATE TABLE messages_new (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
        receiver TEXT NOT NULL, sender TEXT NOT NULL, application TEXT NOT NULL,
        type TEXT NOT NULL, comment TEXT, time INTEGER NOT NULL, received_ms INTEGER NOT NULL,
        body TEXT NOT NULL, pubkey TEXT NOT NULL, sign TEXT NOT NULL, size INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '[]', note TEXT,
        origin TEXT, target TEXT, fp1 INTEGER, fp2 INTEGER,
        dots TEXT NOT NULL DEFAULT '[]', kind TEXT
    );
    INSERT INTO messages_new (seq, id, receiver, sender, application, type, comment, time,
        received_ms, body, pubkey, sign, size, deleted, tags, note, origin, target, fp1, fp2,
        dots, kind)
        SELECT seq, id, receiver, sender, application, type, comment, time, received_ms, body,
               pubkey, sign, size, deleted, tags, note, origin, target, fp1, fp2, dots, kind
        FROM messages ORDER BY seq;
    DELETE FROM sqlite_sequence WHERE name = 'messages_new';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'messages_new', seq FROM sqlite_sequence WHERE name = 'messages';
    ALTER TABLE schemas ADD COLUMN time INTEGER NOT NULL DEFAULT 0;
    UPDATE schemas SET time = COALESCE((SELECT m.time FROM messages m WHERE m.id = schemas.msg_id), 0);
    CREATE INDEX messages_by_receiver_id
        ON messages_new(receiver, id, time, received_ms, fp1, fp2);
    CREATE INDEX messages_by_receiver_seq ON messages_new(receiver, seq);
    CREATE INDEX messages_by_target ON messages_new(target) WHERE target IS NOT NULL;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
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
    db.create_function("fc_fp_part1", 2, lambda i, d: _parts(i, d)[0], deterministic=True)
    db.create_function("fc_fp_part2", 2, lambda i, d: _parts(i, d)[1], deterministic=True)


def _parts(msg_id: str, dots_json: str) -> tuple[int, int]:
    import json

    return write_parts(msg_id, tuple((o, c) for o, c in json.loads(dots_json)))


def identity(db: sqlite3.Connection, now_ms: int) -> tuple[str, int]:
    """This store's id and creation time, the time recorded at its first open since it had
    one (``now_ms`` then): a new store is young for the hand-over window (docs §5.6)."""
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_ms', ?)", (str(now_ms),))
    rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('store_id', 'created_ms')"))
    return str(rows["store_id"]), int(rows["created_ms"])


def migrate(db: sqlite3.Connection) -> int:
    """Bring ``db`` to the latest schema; returns the version it is at."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema {current} is newer than this software ({len(MIGRATIONS)})"
        )
    register_functions(db)
    # A store made by an earlier release: some steps rebuild a table. They run under a
    # rollback journal, which keeps only the old pages a step changes, not under the WAL,
    # which would hold every page of the copy until the step commits (a store of 241 MB
    # peaked at 859 MB on disk under the WAL, 1.9x its size with the journal). The
    # store is not shared yet (it is being opened), as leaving WAL mode requires. The
    # old table's pages are freed without being zeroed (``secure_delete`` FAST; Debian's
    # SQLite zeroes them by default, which journals each one: another 0.9x of the store);
    # the copies of every write are kept, so nothing deleted stays readable.
    rebuild = 0 < current < len(MIGRATIONS)
    if rebuild:
        (secure,) = db.execute("PRAGMA secure_delete").fetchone()
        db.execute("PRAGMA secure_delete=FAST")
        try:
            db.execute("PRAGMA journal_mode=DELETE").fetchall()
        except sqlite3.OperationalError as exc:  # another process has it open: stay in WAL
            log.warning("store migration runs in WAL mode (%s): it needs more disk", exc)
    try:
        for version in range(current + 1, len(MIGRATIONS) + 1):
            if rebuild:
                log.info("store schema %d -> %d", version - 1, version)
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
    finally:
        if rebuild:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA secure_delete={int(secure)}")
    return len(MIGRATIONS)
