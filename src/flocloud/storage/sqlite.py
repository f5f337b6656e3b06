"""``SqliteStore``: the embedded default store.

Data directory layout: ``<data_dir>/store.sqlite3`` (plus SQLite's ``-wal``/``-shm``).

Invariants owned here:
- One write connection, used by one thread at a time. Writes queue up and are applied in
  batches ("group commit"): one ``BEGIN IMMEDIATE``, a ``SAVEPOINT`` per write so a refused
  write does not disturb its neighbours, one ``COMMIT``; only then are the writers'
  futures resolved. Runs of plain message writes take the batched path instead
  (``storage/batch.py``: a few statements per run, checks made before anything is
  written, the same outcome as one write at a time); ``batch_writes=False`` turns it off
  (and the inline commits below with it). An acknowledged write is therefore committed (WAL; ``synchronous``
  NORMAL by default survives process crashes, FULL also power loss).
- Batches apply, and resolve, in the order they were handed over: by the writer thread,
  or on the event loop for a batch of at most ``inline_max`` plain message writes when
  every batch handed to the writer is applied and resolved (``_sent == _done``) and a
  commit does not sync (``synchronous`` OFF or NORMAL). One write alone costs less than
  the hop to the writer and back; under load batches are large and go to the writer.
  A batch opened by a write a client handed this node may wait ``commit_linger`` for
  company first (``storage/linger.py``: only while such writes come that often); it
  still applies in its turn, so the order above holds.
- ``seq`` is SQLite's AUTOINCREMENT rowid: strictly increasing, never reused, assigned
  inside the committing transaction: the local log that catch-up follows.
- A write is looked up by ``(receiver, id)``, on anti-entropy's covering index: the
  only index keyed by the random message id (migration 13), so a write dirties one
  random page, not two, once the store outgrows a commit.
- Dots are assigned and merged inside the write's transaction (``storage/dots.py``); a
  write's fingerprint parts cover its id and its dots.
- Quotas, schema checks and the derived state (objects folded from their writes,
  schemas, tags, notes: ``storage/objects.py``) run inside the batch's transaction, on
  the one write connection, so concurrent writers cannot both win and the derived state
  matches the stored writes.
- Each key's (receiver's) anti-entropy fingerprint in ``key_digest`` is updated in the
  transaction that stores or drops one of its writes, so it always equals the
  fingerprint of the stored ids (``flocloud.protocol.fingerprint``).
- Reads use separate read-only connections in a small thread pool; they never block the
  event loop and see only committed data.
- sqlite3 errors are mapped to flocloud errors here (``Unavailable``), never leaked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from flocloud.protocol.cursor import Cursor, Dot, Range
from flocloud.protocol.envelope import Envelope
from flocloud.protocol.errors import (
    FlocloudError,
    Unavailable,
)
from flocloud.protocol.fingerprint import Fingerprint, prefix_end
from flocloud.protocol.writes import (
    MessageWrite,
    Write,
    parse_write,
)

from . import objects
from .batch import Plain, put_run
from .checkpoint import Checkpointer
from .dots import (
    holding,
    lacking_dots,
)
from .held import LOG_SQL, HeldCursors, take_log
from .inserts import drop_messages, key_position_of, put_write
from .linger import CommitLinger
from .migrations import identity, migrate
from .objects import ObjectChange, ObjectState
from .query import COLUMNS, keys_in, query_page, record_of_row, time_bound
from .schemas import SchemaChecks
from .store import MessageFilter, PutResult, QueryPage, Record, StoreStats

__all__ = ["SqliteStore"]

log = logging.getLogger("flocloud.storage")

_MAX_BATCH = 1024  # writes per transaction at most (256: writer CPU per write 48-56 us, 1024: 38)

# a queued write: what runs it alone, its future, and its arguments when it is a plain
# message write (the batched path, storage/batch.py)
_Item = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], Plain | None]


class SqliteStore:
    """See the module docstring. Create with ``await SqliteStore.open(path)``."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "NORMAL",
        batch_writes: bool = True,
        inline_max: int = 4,
        commit_linger: float = 0.0,
    ) -> None:
        self.path = Path(path)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        self.synchronous = synchronous.upper()
        self.batch_writes = batch_writes  # plain message writes take storage/batch.py
        # the writer's input: lists of writes, one list per event-loop iteration (one
        # hand-off and one wake-up of the writer thread per iteration, not per write)
        self._queue: queue.Queue[list[_Item] | None] = queue.Queue()
        self._pending: list[_Item] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None  # the write connection
        # small batches on the event loop (module docstring); both counters move on it
        self.inline_max = inline_max if self.synchronous in ("OFF", "NORMAL") else 0
        self._sent = 0  # batches handed to the writer thread
        self._done = 0  # ... and applied by it, as the event loop learns (``_resolved``)
        self.inline = 0  # batches applied on the event loop
        self.linger = CommitLinger(commit_linger)  # accepted writes wait for company
        self._readers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="store-read")
        self._local = threading.local()
        self._reader_dbs: list[sqlite3.Connection] = []  # closed by ``close``
        self._schema_checks = SchemaChecks()
        self.commits = 0
        self.writes = 0
        self.batched = 0  # writes settled by the batched path (storage/batch.py)
        self.fallbacks = 0  # runs it rolled back and left to the per-write path
        self.on_commit: Callable[[list[tuple[Record, str | None]]], None] | None = None
        self._store_id: str | None = None
        self.created_ms = 0  # when the store was created (0: before it was recorded)
        self.held = HeldCursors()  # the dots held per inbox (legacy catch-up's cursor)
        self.checkpointer = Checkpointer(self._connect)  # WAL checkpoints, off the writer

    @classmethod
    async def open(cls, path: Path, **options: Any) -> SqliteStore:
        """A started ``SqliteStore(path, **options)``."""
        store = cls(path, **options)
        await store.start()
        return store

    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        uri = f"file:{self.path}{'?mode=ro' if readonly else ''}"
        db = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30
        )
        db.execute("PRAGMA journal_mode=WAL" if not readonly else "PRAGMA query_only=1")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        # page cache (KiB): random-id index inserts slow down a lot once the indexes
        # outgrow SQLite's 2 MiB default
        db.execute(f"PRAGMA cache_size=-{16384 if readonly else 65536}")
        return db

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        try:
            db = self._connect()
            migrate(db)
            self._store_id, self.created_ms = identity(db, int(time.time() * 1000))
            db.execute("BEGIN IMMEDIATE")
            objects.refold_unfolded(db)
            db.execute("COMMIT")
            # the dots log (storage/held.py) is a temp table written by every insert: in
            # memory, not a temp file (writer CPU per write 65-69 -> 50-56 us, put_path.py)
            db.execute("PRAGMA temp_store=MEMORY")
            db.executescript(LOG_SQL)
            db.execute("PRAGMA wal_autocheckpoint=0")  # storage/checkpoint.py does it
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the store {self.path}: {exc}") from None
        self._db = db
        self._writer = threading.Thread(
            target=self._write_loop, args=(db,), name="store-writer", daemon=True
        )
        self._writer.start()
        self.checkpointer.start()

    async def close(self) -> None:
        self.checkpointer.close()
        if self._writer is not None:
            if self._pending:  # to the writer, never inline: no listener runs in close
                self._hand_over()
            self._db = None  # the writer thread closes it: nothing is applied here now
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        self._readers.shutdown(wait=True)
        for db in self._reader_dbs:  # not left to the collector: a store opened again
            db.close()  # (a migration leaving WAL mode) must find the file unshared
        self._reader_dbs.clear()
        self.held.clear()

    # -- the writer ---------------------------------------------------------------------

    def _write_loop(self, db: sqlite3.Connection) -> None:
        assert self._loop is not None
        running = True
        backlog: list[_Item] = []
        taken = 0  # batches taken from the queue
        while running or backlog:
            if not backlog:
                first = self._queue.get()
                if first is None:
                    running = False
                else:
                    backlog.extend(first)
                    taken += 1
            while running and len(backlog) < _MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    running = False
                    break
                backlog.extend(more)
                taken += 1
            if backlog:
                batch, backlog = backlog[:_MAX_BATCH], backlog[_MAX_BATCH:]
                resolve = self._apply(db, batch)
                # with the last of what it took: every batch taken so far is applied, and
                # this thread uses the connection again only for a batch handed after it
                self._loop.call_soon_threadsafe(self._resolved, resolve, None if backlog else taken)
        db.close()

    def _resolved(self, resolve: Callable[[], None], taken: int | None) -> None:
        """On the event loop: the writer applied a batch (``taken``: all it took so far).
        ``_done`` moves here, before the futures resolve, so a batch applied inline later
        also resolves later: writes resolve in the order they commit."""
        if taken is not None:
            self._done = taken
        resolve()

    def _one(
        self,
        db: sqlite3.Connection,
        item: _Item,
        results: list[tuple[asyncio.Future[Any], bool, Any]],
    ) -> None:
        """The per-write path: one write in its own savepoint; a write rolled back leaves
        nothing in the batch's ``_committed`` either (its listeners never hear of it)."""
        op, fut, _ = item
        told = len(self._committed)
        db.execute("SAVEPOINT w")
        try:
            value = op(db)
            db.execute("RELEASE w")
        except Exception as exc:  # refused, a bug or a SQLite error: this write only
            del self._committed[told:]
            db.execute("ROLLBACK TO w")
            db.execute("RELEASE w")
            err = exc if isinstance(exc, FlocloudError) else Unavailable(f"store error: {exc}")
            results.append((fut, False, err))
        else:
            results.append((fut, True, value))

    def _run(
        self,
        db: sqlite3.Connection,
        run: list[_Item],
        results: list[tuple[asyncio.Future[Any], bool, Any]],
    ) -> None:
        """Consecutive plain writes: batched prefixes (``storage/batch.py``), each write
        they stop at alone, the whole run alone if the batched path fell back."""
        i = 0
        while i < len(run):
            try:
                outcomes, done = put_run(
                    db, [p for _, _, p in run[i:] if p is not None], self._sid,
                    functools.partial(self._schema_checks.check_message, db), key_position_of, self._committed,
                )  # fmt: skip
            except Exception:  # Fallback, or an error before anything was written
                self.fallbacks += 1
                for item in run[i:]:
                    self._one(db, item, results)
                return
            for (_, fut, _), (ok, value) in zip(run[i : i + done], outcomes, strict=True):
                results.append((fut, ok, value))
            self.batched += done
            i += done
            if i < len(run):
                self._one(db, run[i], results)
                i += 1

    def _apply(self, db: sqlite3.Connection, batch: list[_Item]) -> Callable[[], None]:
        """Apply and commit ``batch``; returns what resolves its futures, to be run on the
        event loop."""
        results: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._committed: list[tuple[Record, str | None]] = []
        done = False  # COMMIT returned: the batch is stored, whatever fails after
        try:
            db.execute("BEGIN IMMEDIATE")
            i = 0
            while i < len(batch):
                if batch[i][2] is None:
                    self._one(db, batch[i], results)
                    i += 1
                    continue
                j = i
                while j < len(batch) and batch[j][2] is not None:
                    j += 1
                self._schema_checks.new_run()
                self._run(db, batch[i:j], results)
                i = j
            changes = take_log(db)  # the dots this batch moved (storage/held.py)
            db.execute("COMMIT")
            done = True
            if changes:
                self.held.committed(changes)
            self.checkpointer.committed()
            self.commits += 1
            self.writes += len(batch)
        except Exception as exc:  # a SQLite error, or a bug: never a writer left waiting
            if not done:  # not committed (SQLite may have rolled back by itself): nothing stored
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                what = "store commit failed" if isinstance(exc, sqlite3.Error) else "store error"
                err = Unavailable(f"{what}: {exc}")
                results = [(fut, False, err) for _, fut, _ in batch]
                self._committed = []
            else:  # committed, then the held dots' bookkeeping failed: the writes stand,
                log.exception("after a commit")  # and the held entries are built anew
                self.held.clear()
        committed = self._committed

        def resolve() -> None:
            for fut, ok, value in results:
                if fut.done():
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
            if committed and self.on_commit is not None:
                self.on_commit(committed)

        return resolve

    def _enqueue(
        self, op: Callable[[sqlite3.Connection], Any], plain: Plain | None, linger: bool = False
    ) -> Any:
        """Queue a write for this loop iteration's batch (or, ``linger``: a write a client
        handed this node, for the batch that waits for company, ``storage/linger.py``);
        its future."""
        if self._writer is None:
            raise Unavailable("the store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if linger:
            self.linger.arrived(loop.time())
        if not self._pending:
            wait = self.linger.wait() if linger else 0.0
            if wait:
                loop.call_later(wait, self._flush)
            else:
                loop.call_soon(self._flush)
        self._pending.append((op, fut, plain))
        return fut

    async def _write(
        self,
        op: Callable[[sqlite3.Connection], Any],
        plain: Plain | None = None,
        linger: bool = False,
    ) -> Any:
        return await self._enqueue(op, plain, linger)

    def _flush(self) -> None:
        """Hand the writes of this loop iteration to the writer thread, in order; or apply
        them here when they are few and nothing is ahead of them (module docstring)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        db = self._db
        if (
            len(batch) <= self.inline_max
            and db is not None
            and all(plain is not None for _, _, plain in batch)
            and self._sent == self._done  # the writer has nothing left: it waits for more
            and not self.checkpointer.restarting.is_set()  # (storage/checkpoint.py)
        ):
            self.inline += 1
            self._apply(db, batch)()
            return
        self._hand_over(batch)

    def _hand_over(self, batch: list[_Item] | None = None) -> None:
        """To the writer thread: ``batch``, or every write pending."""
        if batch is None:
            batch, self._pending = self._pending, []
        self._sent += 1
        self._queue.put(batch)

    # -- writes -------------------------------------------------------------------------

    async def put(
        self,
        env: Envelope,
        received_ms: int,
        *,
        quota_bytes: int | None = None,
        origin: str | None = None,
        dots: tuple[Dot, ...] | None = None,
        write: Write | None = None,
        decided: bool = False,
    ) -> PutResult:
        """Store one validated envelope (permissions are the caller's business).

        ``dots``: the dots a replica was given (merged into a stored copy's); when None
        this store numbers the write with its own next dot. ``origin``: the peer that
        forwarded it. ``write``: the envelope's ``parse_write``, when the caller already has
        it. Writes from peers (``origin``) and ``decided`` ones (chosen by a strict object's
        majority round) were accepted by a node already: schema and causal-parent checks
        are that node's, not repeated here.
        """
        if write is None:
            write = parse_write(env.body)
        accepting = origin is None and not decided
        plain = self._plain(env, write, received_ms, quota_bytes, origin, dots, accepting)
        result: PutResult = await self._write(
            lambda db: self._put_alone(
                env, write, received_ms, quota_bytes, origin, dots, db, decided
            ),
            plain,
            accepting,
        )
        return result

    async def put_replicas(
        self,
        writes: Sequence[tuple[Envelope, Write, tuple[Dot, ...] | None]],
        received_ms: int,
        origin: str,
    ) -> list[PutResult | FlocloudError]:
        """``put`` of each ``(envelope, its parse_write, dots)`` a peer (``origin``) sent,
        queued at once and in order (one transaction for a page of them, when it fits):
        each one's result, or the error that refused it."""
        futs = [
            self._enqueue(
                functools.partial(self._put_alone, env, write, received_ms, None, origin, dots),
                self._plain(env, write, received_ms, None, origin, dots, False),
            )
            for env, write, dots in writes
        ]
        done = await asyncio.gather(*futs, return_exceptions=True)
        return [
            r if isinstance(r, PutResult | FlocloudError) else Unavailable(f"store error: {r!r}")
            for r in done
        ]

    def _plain(
        self, env: Envelope, write: Write, received_ms: int, quota_bytes: int | None,
        origin: str | None, dots: tuple[Dot, ...] | None, accepting: bool,
    ) -> Plain | None:  # fmt: skip
        """A plain message write's arguments for the batched path, else None."""
        if self.batch_writes and type(write) is MessageWrite:
            return Plain(env, received_ms, quota_bytes, origin, dots, accepting)
        return None

    def _put_alone(
        self, env: Envelope, write: Write, received_ms: int, quota_bytes: int | None,
        origin: str | None, dots: tuple[Dot, ...] | None, db: sqlite3.Connection,
        decided: bool = False,
    ) -> PutResult:  # fmt: skip
        """One write alone (``inserts.put_write``), the batch's ``_committed`` read when it
        runs (``_apply`` starts a new one per batch)."""
        return put_write(
            db, env, write, received_ms, quota_bytes, origin, dots, decided,
            store_id=self._sid, schema_checks=self._schema_checks, committed=self._committed,
        )  # fmt: skip

    async def check_schema(self, application: str, target: str, value: Any) -> None:
        """``schema-mismatch`` if ``value`` breaks the application's schema for ``target``."""
        await self._read(lambda db: self._schema_checks.check(db, application, target, value))

    @property
    def _sid(self) -> str:
        assert self._store_id is not None
        return self._store_id

    async def drop(self, receiver: str, ids: list[str]) -> int:
        """Remove stored writes of ``receiver`` (a node that is no longer one of its
        replicas, once the replicas confirmed they hold them), with what was derived from
        them: object versions, schemas, quota, the key's fingerprint. Returns how many."""

        result: int = await self._write(lambda db: drop_messages(db, receiver, ids))
        return result

    # -- reads --------------------------------------------------------------------------

    def _reader_db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect(readonly=True)
            self._local.db = db
            self._reader_dbs.append(db)
        return db

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def run() -> Any:
            try:
                return fn(self._reader_db())
            except sqlite3.Error as exc:
                raise Unavailable(f"store read failed: {exc}") from None

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    async def query(self, f: MessageFilter) -> QueryPage:
        """The receiver's matching writes the filter's cursor does not cover, in local
        order, with the cursor after them (``storage/query.py``); newest first: no cursor."""

        def run(db: sqlite3.Connection) -> QueryPage:
            return query_page(db, f, COLUMNS, record_of_row)

        result: QueryPage = await self._read(run)
        return result

    async def log_since(self, after: int, limit: int) -> list[tuple[int, str, str, str | None]]:
        """``(seq, id, receiver, origin)`` of the writes with ``seq > after``, in seq order:
        the log without the envelopes (replication asks for those it lacks)."""

        def run(db: sqlite3.Connection) -> list[tuple[int, str, str, str | None]]:
            sql = (
                "SELECT seq, id, receiver, origin FROM messages WHERE seq > ? ORDER BY seq LIMIT ?"
            )
            return db.execute(sql, (after, limit)).fetchall()  # seq is the INTEGER PRIMARY KEY

        result: list[tuple[int, str, str, str | None]] = await self._read(run)
        return result

    async def top_seq(self) -> int:
        """The highest ``seq`` stored (0 if empty): where a new follower of the log starts."""

        def run(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT MAX(seq) FROM messages").fetchone()[0] or 0)

        result: int = await self._read(run)
        return result

    async def key_digests(self, prefix: str = "") -> list[tuple[str, str, Fingerprint]]:
        """``(receiver, key position, fingerprint)`` of every key whose position starts
        with ``prefix`` (anti-entropy), in position order."""

        def run(db: sqlite3.Connection) -> list[tuple[str, str, Fingerprint]]:
            rows = db.execute(
                "SELECT receiver, kpos, n, s1, s2 FROM key_digest WHERE kpos >= ? AND kpos < ? "
                "ORDER BY kpos, receiver",
                (prefix, prefix_end(prefix)),
            )
            return [(r, k, Fingerprint(n, a, b)) for r, k, n, a, b in rows]

        result: list[tuple[str, str, Fingerprint]] = await self._read(run)
        return result

    async def key_digest(self, receiver: str) -> Fingerprint:
        """The fingerprint of every write stored for ``receiver`` (empty if none)."""

        def run(db: sqlite3.Connection) -> Fingerprint:
            row = db.execute(
                "SELECT n, s1, s2 FROM key_digest WHERE receiver=?", (receiver,)
            ).fetchone()
            return Fingerprint(*row) if row else Fingerprint()

        result: Fingerprint = await self._read(run)
        return result

    async def receiver_ids(
        self, receiver: str, prefix: str = "", max_time: int | None = None
    ) -> list[str]:
        """The ids stored for ``receiver`` that start with ``prefix`` (and settled at
        ``max_time``: signed or received here by then, whichever is earlier), sorted."""

        def run(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT id FROM messages WHERE receiver=? AND id >= ? AND id < ? "
                "AND MIN(time, received_ms) <= ? "
                "ORDER BY id",
                (receiver, prefix, prefix_end(prefix), time_bound(max_time)),
            )
            return [r[0] for r in rows]

        result: list[str] = await self._read(run)
        return result

    async def held_cursor(self, receiver: str) -> Cursor:
        """A cursor covering every dot of ``receiver`` held here (``storage/held.py``)."""
        return await self.held.cursor(receiver, self._read)

    async def receiver_items(
        self, receiver: str, prefix: str = "", max_time: int | None = None
    ) -> list[tuple[str, int]]:
        """Like ``receiver_ids``, with each write's first fingerprint part (it covers the
        write's dots): two replicas that list the same id with different parts hold it
        under different dots."""

        def run(db: sqlite3.Connection) -> list[tuple[str, int]]:
            rows = db.execute(
                "SELECT id, fp1 FROM messages WHERE receiver=? AND id >= ? AND id < ? "
                "AND MIN(time, received_ms) <= ? ORDER BY id",
                (receiver, prefix, prefix_end(prefix), time_bound(max_time)),
            )
            return [(r[0], int(r[1])) for r in rows]

        result: list[tuple[str, int]] = await self._read(run)
        return result

    async def id_fingerprints(
        self, receiver: str, prefixes: list[str], max_time: int | None = None
    ) -> list[Fingerprint]:
        """For each id prefix, the fingerprint of ``receiver``'s ids under it (settled at
        ``max_time``, as in ``receiver_ids``): sums over the covering index, no rows leave
        SQLite."""

        def run(db: sqlite3.Connection) -> list[Fingerprint]:
            out = []
            bound = time_bound(max_time)
            for p in prefixes:
                n, a, b = db.execute(
                    "SELECT COUNT(*), COALESCE(SUM(fp1),0), COALESCE(SUM(fp2),0) FROM messages "
                    "WHERE receiver=? AND id >= ? AND id < ? AND MIN(time, received_ms) <= ?",
                    (receiver, p, prefix_end(p), bound),
                ).fetchone()
                out.append(Fingerprint(int(n), int(a), int(b)))
            return out

        result: list[Fingerprint] = await self._read(run)
        return result

    async def records(self, keys: Sequence[tuple[str, str]]) -> list[Record]:
        """The stored writes of ``keys``, (receiver, id) pairs, in ``seq`` order."""
        if not keys:
            return []

        def run(db: sqlite3.Connection) -> list[Record]:
            out: list[Record] = []
            for i in range(0, len(keys), 250):
                chunk = keys[i : i + 250]
                sql = f"SELECT {COLUMNS} FROM messages WHERE " + keys_in(len(chunk))
                out.extend(record_of_row(r) for r in db.execute(sql, [v for k in chunk for v in k]))
            return sorted(out, key=lambda r: r.seq)

        result: list[Record] = await self._read(run)
        return result

    async def lacking(self, receiver: str, cursor: Cursor) -> tuple[Range, ...]:
        """The dots ``cursor`` covers that this store does not hold (``dots.lacking_dots``)."""
        if cursor.is_empty():
            return ()
        result: tuple[Range, ...] = await self._read(lambda db: lacking_dots(db, receiver, cursor))
        return result

    async def holding(self, receiver: str, ranges: Sequence[Range], limit: int) -> list[Record]:
        """``receiver``'s writes held under a dot in ``ranges`` (``dots.holding``), at most
        ``limit``: what a replica that lacks them asks for (``peer.key``)."""
        ids: list[str] = await self._read(lambda db: holding(db, receiver, ranges, limit))
        return await self.records([(receiver, i) for i in ids])

    async def have(self, keys: Sequence[tuple[str, str]]) -> set[str]:
        """The ids of ``keys``, (receiver, id) pairs, that are stored (indexed reads)."""
        if not keys:
            return set()

        def run(db: sqlite3.Connection) -> set[str]:
            out: set[str] = set()
            for i in range(0, len(keys), 250):
                chunk = keys[i : i + 250]
                sql = "SELECT id FROM messages WHERE " + keys_in(len(chunk))
                out.update(r[0] for r in db.execute(sql, [v for k in chunk for v in k]))
            return out

        result: set[str] = await self._read(run)
        return result

    async def store_id(self) -> str:
        """This store's random identity: a peer's ``seq`` positions are only valid with it.
        Made once when the database is created, so it is read once."""
        if self._store_id is None:

            def run(db: sqlite3.Connection) -> str:
                row = db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
                return str(row[0])

            self._store_id = await self._read(run)
        return self._store_id

    async def peer_cursors(self) -> dict[str, tuple[str, int]]:
        def run(db: sqlite3.Connection) -> dict[str, tuple[str, int]]:
            return {
                p: (s, int(q))
                for p, s, q in db.execute("SELECT peer, store_id, seq FROM peer_cursors")
            }

        result: dict[str, tuple[str, int]] = await self._read(run)
        return result

    async def save_peer_cursor(self, peer: str, store_id: str, seq: int) -> None:
        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO peer_cursors (peer, store_id, seq) VALUES (?,?,?) "
                "ON CONFLICT(peer) DO UPDATE SET store_id=excluded.store_id, seq=excluded.seq",
                (peer, store_id, seq),
            )

        await self._write(op)

    async def message(self, receiver: str, msg_id: str) -> Record | None:
        """``receiver``'s write ``msg_id``, if stored."""

        def run(db: sqlite3.Connection) -> Record | None:
            row = db.execute(
                f"SELECT {COLUMNS} FROM messages WHERE receiver=? AND id=?", (receiver, msg_id)
            ).fetchone()
            return record_of_row(row) if row else None

        result: Record | None = await self._read(run)
        return result

    async def transact(self, op: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``op(db)`` in the writer (committed before this returns); strict objects'
        acceptor state (``storage/objects.py``)."""
        return await self._write(op)

    async def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(db)`` on a read-only connection (``storage/objects.py`` readers)."""
        return await self._read(fn)

    async def get_object(
        self, application: str, name: str, version: str | None = None
    ) -> ObjectState | None:
        """The object now, or at ``version`` (``not-found`` if that version is unknown)."""

        def run(db: sqlite3.Connection) -> ObjectState | None:
            if version is None:
                return objects.object_state(db, application, name)
            return objects.object_version(db, application, name, version)

        result: ObjectState | None = await self._read(run)
        return result

    async def object_changes(
        self, application: str, name: str, since_version: str
    ) -> list[ObjectChange]:
        """The writes not in ``since_version``'s history, in fold order."""
        result: list[ObjectChange] = await self._read(
            lambda db: objects.object_changes(db, application, name, since_version)
        )
        return result

    async def schemas(self, application: str) -> dict[str, Any]:
        def run(db: sqlite3.Connection) -> dict[str, Any]:
            rows = db.execute(
                "SELECT target, schema FROM schemas WHERE application=?", (application,)
            )
            return {t: orjson.loads(s) for t, s in rows}

        result: dict[str, Any] = await self._read(run)
        return result

    async def counters(self) -> tuple[int, int]:
        """Cheap figures for dashboards: the writes held (summed from the per-key
        fingerprints, one row per key) and the log position (the highest ``seq``)."""

        def run(db: sqlite3.Connection) -> tuple[int, int]:
            held = db.execute("SELECT COALESCE(SUM(n), 0) FROM key_digest").fetchone()[0]
            top = db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()[0]
            return int(held), int(top)

        result: tuple[int, int] = await self._read(run)
        return result

    async def stats(self) -> StoreStats:
        def run(db: sqlite3.Connection) -> StoreStats:  # O(keys + senders), not O(writes):
            # the per-key counts and per-sender bytes the writer keeps (``/metrics`` asks)
            (messages,) = db.execute("SELECT COALESCE(SUM(n),0) FROM key_digest").fetchone()
            (size,) = db.execute("SELECT COALESCE(SUM(bytes),0) FROM quota").fetchone()
            objects = db.execute("SELECT COUNT(*) FROM object_state").fetchone()[0]
            db_bytes = sum(
                p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists()
            )
            return StoreStats(
                int(messages), int(objects), int(size), db_bytes, self.commits, self.writes
            )

        result: StoreStats = await self._read(run)
        return result
