"""The dev chain's state: blocks, transactions and the UTXO set in SQLite, with validation.

What is real: transactions are real signed FLO transactions; every input must spend an
unspent output (confirmed or in the mempool), P2PKH signatures are verified with the FLO
sighash (floData included, with Flo Core's 0x40 fallback), no double spends, inputs cover
outputs, the fee is at least the minimum relay fee (1000 sat/kB by default), floData is at
most 1040 bytes, versions 1-2, no dust outputs.

What is simplified (dev only): blocks carry no proof of work (the block hash is SHA256d of
a header-like record: height, previous hash, merkle root of txids, time, a random nonce);
coinbase outputs are spendable at once (no 100-block maturity); the subsidy is a flat 50
FLO.

Reorganisations (for testing readers): ``invalidate(height)`` disconnects the blocks from
``height`` to the tip, as Flo Core's ``invalidateblock`` does: their transactions go back
to the mempool (or, with ``drop=True``, are discarded with everything spending them), and
the next blocks mined form the competing branch, with new hashes.

Invariant: every state change happens in one SQLite transaction, so a crash never leaves a
half-applied block or a mempool entry without its spends.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from flocloud.protocol.hashes import sha256d
from flocloud.protocol.params import REGTEST

from ..script import address_from_script, push_data
from ..tx import MAX_FLO_DATA_SIZE, OutPoint, Transaction, TxIn, TxOut, verify_p2pkh_input

__all__ = ["SUBSIDY", "ChainState", "Rejected"]

SUBSIDY = 50 * 100_000_000
DUST = 546

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash TEXT UNIQUE NOT NULL,
    prev TEXT NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txs (txid TEXT PRIMARY KEY, raw BLOB NOT NULL,
    height INTEGER, pos INTEGER, seen INTEGER NOT NULL, fee INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outputs (txid TEXT NOT NULL, vout INTEGER NOT NULL,
    value INTEGER NOT NULL, script BLOB NOT NULL, address TEXT,
    spent_by TEXT, PRIMARY KEY (txid, vout));
CREATE TABLE IF NOT EXISTS addr_txs (address TEXT NOT NULL, txid TEXT NOT NULL,
    PRIMARY KEY (address, txid));
CREATE INDEX IF NOT EXISTS outputs_addr ON outputs(address, spent_by);
"""


class Rejected(Exception):
    """A transaction the dev chain refuses; the message is the reason."""


@dataclass(frozen=True, slots=True)
class BlockInfo:
    height: int
    hash: str
    prev: str
    time: int


class ChainState:
    """The dev chain's ledger. Not thread-safe: one owner (the event loop) uses it."""

    def __init__(self, path: Path, *, min_relay_fee_per_kb: int = 1000) -> None:
        self.path = path
        self.min_fee_per_kb = min_relay_fee_per_kb
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- reads --------------------------------------------------------------------------

    @property
    def height(self) -> int:
        row = self.db.execute("SELECT MAX(height) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def block(self, height: int) -> BlockInfo | None:
        row = self.db.execute(
            "SELECT height, hash, prev, time FROM blocks WHERE height=?", (height,)
        ).fetchone()
        return BlockInfo(*row) if row else None

    def block_by_hash(self, block_hash: str) -> BlockInfo | None:
        row = self.db.execute(
            "SELECT height, hash, prev, time FROM blocks WHERE hash=?", (block_hash,)
        ).fetchone()
        return BlockInfo(*row) if row else None

    def tx(self, txid: str) -> tuple[Transaction, int | None, int, int] | None:
        """(transaction, height or None in mempool, first-seen time, fee)."""
        row = self.db.execute(
            "SELECT raw, height, seen, fee FROM txs WHERE txid=?", (txid,)
        ).fetchone()
        if row is None:
            return None
        return Transaction.from_bytes(bytes(row[0])), row[1], int(row[2]), int(row[3])

    def output(self, txid: str, vout: int) -> tuple[int, bytes, str | None] | None:
        row = self.db.execute(
            "SELECT value, script, spent_by FROM outputs WHERE txid=? AND vout=?", (txid, vout)
        ).fetchone()
        return (int(row[0]), bytes(row[1]), row[2]) if row else None

    def block_txids(self, height: int) -> list[str]:
        rows = self.db.execute("SELECT txid FROM txs WHERE height=? ORDER BY pos", (height,))
        return [r[0] for r in rows]

    def mempool(self) -> list[str]:
        rows = self.db.execute("SELECT txid FROM txs WHERE height IS NULL ORDER BY seen, txid")
        return [r[0] for r in rows]

    def address_txids(self, address: str) -> list[str]:
        """Newest first: mempool, then by height and position, descending."""
        rows = self.db.execute(
            "SELECT t.txid FROM addr_txs a JOIN txs t ON t.txid = a.txid WHERE a.address=? "
            "ORDER BY t.height IS NOT NULL, t.height DESC, t.pos DESC, t.seen DESC",
            (address,),
        )
        return [r[0] for r in rows]

    def utxos(self, address: str) -> list[tuple[str, int, int, int | None]]:
        rows = self.db.execute(
            "SELECT o.txid, o.vout, o.value, t.height FROM outputs o JOIN txs t ON t.txid=o.txid "
            "WHERE o.address=? AND o.spent_by IS NULL ORDER BY t.height, o.txid, o.vout",
            (address,),
        )
        return [(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]

    def balance(self, address: str) -> tuple[int, int, int]:
        """(confirmed balance, unconfirmed delta, total received) in satoshi."""
        rows = self.db.execute(
            "SELECT o.value, t.height, o.spent_by, s.height FROM outputs o "
            "JOIN txs t ON t.txid=o.txid LEFT JOIN txs s ON s.txid=o.spent_by WHERE o.address=?",
            (address,),
        ).fetchall()
        confirmed = unconfirmed = received = 0
        for value, height, spent_by, spent_height in rows:
            if height is not None:
                received += value
                if spent_by is None or spent_height is None:
                    confirmed += value
                if spent_by is not None and spent_height is None:
                    unconfirmed -= value
            elif spent_by is None:
                unconfirmed += value
        return confirmed, unconfirmed, received

    # -- writes -------------------------------------------------------------------------

    def _index_tx(
        self, tx: Transaction, height: int | None, pos: int | None, now: int, fee: int
    ) -> None:
        self.db.execute(
            "INSERT INTO txs (txid, raw, height, pos, seen, fee) VALUES (?,?,?,?,?,?)",
            (tx.txid, tx.to_bytes(), height, pos, now, fee),
        )
        addresses: set[str] = set()
        for n, out in enumerate(tx.outputs):
            addr = address_from_script(out.script_pubkey, REGTEST)
            self.db.execute(
                "INSERT INTO outputs (txid, vout, value, script, address) VALUES (?,?,?,?,?)",
                (tx.txid, n, out.value, out.script_pubkey, addr),
            )
            if addr:
                addresses.add(addr)
        if not tx.is_coinbase:
            for txin in tx.inputs:
                prev = self.output(txin.prevout.txid, txin.prevout.index)
                self.db.execute(
                    "UPDATE outputs SET spent_by=? WHERE txid=? AND vout=?",
                    (tx.txid, txin.prevout.txid, txin.prevout.index),
                )
                if prev is not None:
                    addr = address_from_script(prev[1], REGTEST)
                    if addr:
                        addresses.add(addr)
        self.db.executemany(
            "INSERT OR IGNORE INTO addr_txs (address, txid) VALUES (?,?)",
            [(a, tx.txid) for a in addresses],
        )

    def check(self, tx: Transaction) -> int:
        """Validate ``tx`` against the UTXO set and policy; returns its fee."""
        if tx.is_coinbase:
            raise Rejected("coinbase transactions are only valid in blocks")
        if not 1 <= tx.version <= 2:
            raise Rejected("version must be 1 or 2")
        if not tx.inputs or not tx.outputs:
            raise Rejected("transaction has no inputs or no outputs")
        if len(tx.flo_data) > MAX_FLO_DATA_SIZE:
            raise Rejected("flo-data-too-large")
        if self.tx(tx.txid) is not None:
            raise Rejected("transaction already known")
        seen: set[tuple[str, int]] = set()
        value_in = 0
        for i, txin in enumerate(tx.inputs):
            key = (txin.prevout.txid, txin.prevout.index)
            if key in seen:
                raise Rejected("duplicate input")
            seen.add(key)
            prev = self.output(*key)
            if prev is None:
                raise Rejected(f"input {i} spends a missing output {key[0]}:{key[1]}")
            value, script, spent_by = prev
            if spent_by is not None:
                raise Rejected(f"input {i} double-spends {key[0]}:{key[1]} (spent by {spent_by})")
            if len(script) != 25 or script[:3] != b"\x76\xa9\x14":
                raise Rejected(f"input {i} spends a non-P2PKH output (unsupported here)")
            if not verify_p2pkh_input(tx, i, script):
                raise Rejected(f"input {i} has an invalid signature")
            value_in += value
        value_out = 0
        for n, out in enumerate(tx.outputs):
            if not 0 <= out.value <= 160_000_000 * 100_000_000:
                raise Rejected(f"output {n} value out of range")
            if out.value < DUST:
                raise Rejected(f"output {n} is dust ({out.value} sat < {DUST})")
            value_out += out.value
        fee = value_in - value_out
        if fee < 0:
            raise Rejected("outputs spend more than the inputs")
        min_fee = (tx.size * self.min_fee_per_kb + 999) // 1000
        if fee < min_fee:
            raise Rejected(f"min relay fee not met: {fee} < {min_fee} sat for {tx.size} bytes")
        return fee

    def accept(self, tx: Transaction, now: int) -> str:
        """Validate and add to the mempool; returns the txid."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            fee = self.check(tx)
            self._index_tx(tx, None, None, now, fee)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return tx.txid

    def _spenders(self, txid: str) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT spent_by FROM outputs WHERE txid=? AND spent_by IS NOT NULL", (txid,)
        )
        return [r[0] for r in rows]

    def _drop_tx(self, txid: str) -> None:
        """Remove ``txid`` and, first, every transaction spending its outputs."""
        for child in self._spenders(txid):
            self._drop_tx(child)
        self.db.execute("UPDATE outputs SET spent_by=NULL WHERE spent_by=?", (txid,))
        self.db.execute("DELETE FROM outputs WHERE txid=?", (txid,))
        self.db.execute("DELETE FROM addr_txs WHERE txid=?", (txid,))
        self.db.execute("DELETE FROM txs WHERE txid=?", (txid,))

    def invalidate(self, height: int, *, drop: bool = False) -> list[str]:
        """Disconnect blocks ``height``..tip (not the genesis); returns their hashes.

        Their coinbases vanish (with what spends them); their other transactions go back
        to the mempool, or are dropped with their descendants when ``drop``.
        """
        if not 1 <= height <= self.height:
            raise Rejected(f"height must be in 1..{self.height}")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            gone = []
            for h in range(self.height, height - 1, -1):
                block = self.block(h)
                assert block is not None
                gone.append(block.hash)
                txids = self.block_txids(h)
                for txid in reversed(txids):
                    if txid == txids[0] or drop:  # the coinbase is always first
                        if self.tx(txid) is not None:
                            self._drop_tx(txid)
                    else:
                        self.db.execute(
                            "UPDATE txs SET height=NULL, pos=NULL WHERE txid=?", (txid,)
                        )
                self.db.execute("DELETE FROM blocks WHERE height=?", (h,))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return gone

    def mine(self, coinbase_script: bytes, now: int) -> BlockInfo:
        """Mine one block: a coinbase plus the whole mempool, in arrival order."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            height = self.height + 1
            prev = self.block(height - 1)
            prev_hash = prev.hash if prev else "00" * 32
            pool = self.mempool()
            fees = sum(
                int(r[0])
                for r in self.db.execute("SELECT fee FROM txs WHERE height IS NULL").fetchall()
            )
            coinbase = Transaction(
                2,
                (TxIn(OutPoint("00" * 32, 0xFFFFFFFF), push_data(height.to_bytes(4, "little"))),),
                (TxOut(SUBSIDY + fees, coinbase_script),),
                0,
                b"flocloud devchain",
            )
            self._index_tx(coinbase, height, 0, now, 0)
            for pos, txid in enumerate(pool, start=1):
                self.db.execute("UPDATE txs SET height=?, pos=? WHERE txid=?", (height, pos, txid))
            txids = [coinbase.txid, *pool]
            merkle = sha256d("".join(txids).encode())
            header = height.to_bytes(4, "little") + bytes.fromhex(prev_hash) + merkle
            nonce = os.urandom(8)  # a competing branch never repeats a hash
            block_hash = sha256d(header + now.to_bytes(8, "little") + nonce)[::-1].hex()
            self.db.execute(
                "INSERT INTO blocks (height, hash, prev, time) VALUES (?,?,?,?)",
                (height, block_hash, prev_hash, now),
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return BlockInfo(height, block_hash, prev_hash, now)
