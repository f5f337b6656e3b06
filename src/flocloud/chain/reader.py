"""Reading the FLO chain through an explorer: one ``ChainReader`` interface.

Invariants owned here:
- Amounts are integers of satoshi; explorer floats are parsed through ``Decimal`` text,
  never float arithmetic.
- Every failure (network, HTTP status, malformed JSON, missing field) becomes an
  ``ExplorerError`` with the URL and the reason; nothing else escapes a reader.
- Retries with exponential backoff happen on connection errors, HTTP 5xx and 429 only;
  an error body that is plain text (Flosight's) is reported with its status and message.
- ``check_hex``: when an explorer gives a transaction's ``hex``, floData is taken from the
  bytes and the txid and P2PKH senders are checked against them, so floData is bound to
  the txid instead of trusted from an explorer field; a disagreement is recorded on the
  transaction (``mismatch``) for its user to refuse.
- ``history`` returns an address's transactions oldest first in block order (the order
  they apply in), from a resume height on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, Self

import aiohttp
import orjson

from flocloud.protocol.errors import ExplorerError, FlocloudError
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import decode_address

from .script import parse_p2pkh_script_sig
from .tx import Transaction

__all__ = [
    "ChainReader",
    "ChainStatus",
    "ChainTx",
    "HttpReader",
    "TxPage",
    "Utxo",
    "check_hex",
    "to_sat",
]


@dataclass(frozen=True, slots=True)
class ChainStatus:
    best_height: int
    in_sync: bool
    chain: str
    best_hash: str = ""


@dataclass(frozen=True, slots=True)
class ChainTx:
    """A transaction as an explorer reports it."""

    txid: str
    block_height: int | None
    confirmations: int
    time: int | None
    flo_data: str
    senders: tuple[str, ...]
    outputs: tuple[tuple[str | None, int], ...]
    hex: str | None = None
    block_hash: str | None = None
    mismatch: str | None = None  # how the explorer's view disagrees with ``hex`` (check_hex)

    @property
    def sender(self) -> str | None:
        """The first input's address (the FLO convention for "who sent this")."""
        return self.senders[0] if self.senders else None

    def sent_by(self, address: str) -> bool:
        """Whether any input spends from ``address`` (how the existing FLO cloud reads)."""
        return address in self.senders


def _hex_mismatch(tx: ChainTx, raw: Transaction, flo: str, flo_data_given: bool) -> str | None:
    if raw.txid != tx.txid:
        return f"tx {tx.txid}: its hex hashes to {raw.txid}"
    if flo_data_given and tx.flo_data != flo:
        return f"tx {tx.txid}: the explorer's floData differs from its hex"
    if raw.is_coinbase or len(tx.senders) != len(raw.inputs):
        return None
    for i, (txin, sender) in enumerate(zip(raw.inputs, tx.senders, strict=True)):
        parsed = parse_p2pkh_script_sig(txin.script_sig)
        if parsed is None:
            continue
        try:
            listed = decode_address(sender).hash160
        except FlocloudError:
            return f"tx {tx.txid}: input {i} sender {sender!r} is no address"
        if listed != hash160(parsed[1]):
            return f"tx {tx.txid}: input {i} is not signed by {sender}"
    return None


def check_hex(tx: ChainTx, flo_data_given: bool = True) -> ChainTx:
    """``tx`` with floData taken from its ``hex``, and what in the explorer's view
    disagrees with the bytes in ``mismatch``.

    The hex must hash to the txid; floData the explorer gave (``flo_data_given``) must
    equal the floData in the bytes; a sender the explorer lists for a P2PKH input must be
    the address of the public key in that input's scriptSig. Without hex, ``tx`` is
    returned as is. A reader never fails on a mismatch (the address may hold other
    transactions nobody reads); whoever uses the transaction refuses it
    (``RegistryFollower``: the explorer is in error, the next one is asked).
    """
    if not tx.hex:
        return tx
    try:
        raw = Transaction.from_hex(tx.hex)
    except FlocloudError as exc:
        return replace(tx, mismatch=f"tx {tx.txid}: its hex does not decode ({exc.message})")
    flo = raw.flo_data.decode("utf-8", errors="replace")
    why = _hex_mismatch(tx, raw, flo, flo_data_given)
    if why is not None and raw.txid != tx.txid:
        return replace(tx, mismatch=why)  # the bytes are not this transaction's
    return replace(tx, flo_data=flo, mismatch=why)


@dataclass(frozen=True, slots=True)
class TxPage:
    txs: tuple[ChainTx, ...]  # newest first
    page: int
    total_pages: int


@dataclass(frozen=True, slots=True)
class Utxo:
    txid: str
    vout: int
    value: int  # satoshi
    confirmations: int
    height: int | None = None


class ChainReader(Protocol):
    """What flocloud needs from a FLO explorer."""

    base_url: str

    async def status(self) -> ChainStatus: ...

    async def block_hash(self, height: int) -> str: ...

    async def raw_hex(self, txid: str) -> str | None: ...

    async def history(
        self, address: str, *, since_height: int = 0, after_txid: str | None = None
    ) -> list[ChainTx]:
        """Oldest first in block order, from block ``since_height`` (an explorer with a
        txid cursor may start after ``after_txid``, a transaction of that block)."""
        ...

    async def address_txs(self, address: str, page: int = 1, page_size: int = 50) -> TxPage: ...

    def iter_address_txs(
        self,
        address: str,
        *,
        oldest_first: bool = True,
        min_confirmations: int = 0,
        after_txid: str | None = None,
    ) -> AsyncIterator[ChainTx]: ...

    async def get_tx(self, txid: str) -> ChainTx: ...

    async def utxos(self, address: str, confirmed_only: bool = False) -> list[Utxo]: ...

    async def broadcast(self, raw_hex: str) -> str: ...

    async def aclose(self) -> None: ...


def to_sat(value: Any) -> int:
    """FLO amount (number or decimal string) to satoshi, exactly."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ExplorerError(f"not an amount: {value!r}") from None
    sat = d * 100_000_000
    if sat != sat.to_integral_value():
        raise ExplorerError(f"amount has more than 8 decimals: {value!r}")
    return int(sat)


class HttpReader:
    """Shared HTTP plumbing: session, timeout, retries with backoff, error mapping."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, data: Any = None
    ) -> Any:
        url = self.base_url + path
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                async with self._sess().request(method, url, params=params, data=data) as resp:
                    body = await resp.read()
                    if resp.status >= 500 or resp.status == 429:
                        last = f"HTTP {resp.status}"
                        continue
                    try:
                        doc = orjson.loads(body) if body else None
                    except orjson.JSONDecodeError:
                        if resp.status >= 400:  # Flosight answers errors in plain text
                            text = body.decode("utf-8", errors="replace").strip()[:300]
                            raise ExplorerError(f"{url}: HTTP {resp.status}: {text}") from None
                        raise ExplorerError(f"{url}: response is not JSON") from None
                    if resp.status >= 400 or (isinstance(doc, dict) and "error" in doc):
                        msg = doc.get("error") if isinstance(doc, dict) else None
                        if isinstance(msg, dict):
                            msg = msg.get("message", msg)
                        raise ExplorerError(f"{url}: {msg or f'HTTP {resp.status}'}")
                    return doc
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                last = str(exc) or type(exc).__name__
                if isinstance(exc, TimeoutError):
                    last = f"no answer within {self.timeout} s"
        raise ExplorerError(f"{url}: explorer unreachable after {self.retries + 1} tries ({last})")

    async def get(self, path: str, **params: Any) -> Any:
        return await self._request(
            "GET", path, params={k: v for k, v in params.items() if v is not None}
        )

    async def iter_address_txs(
        self,
        address: str,
        *,
        oldest_first: bool = True,
        min_confirmations: int = 0,
        after_txid: str | None = None,
    ) -> AsyncIterator[ChainTx]:
        """Transactions of ``address``; oldest first stops at (excludes) ``after_txid``."""
        collected: list[ChainTx] = []
        page, total = 1, 1
        found_after = False
        while page <= total:
            batch = await self.address_txs(address, page=page)  # type: ignore[attr-defined]
            total = batch.total_pages
            for tx in batch.txs:
                if after_txid is not None and tx.txid == after_txid:
                    found_after = True
                    break
                if tx.confirmations >= min_confirmations:
                    collected.append(tx)
            if found_after:
                break
            page += 1
        for tx in reversed(collected) if oldest_first else collected:
            yield tx

    async def history(
        self, address: str, *, since_height: int = 0, after_txid: str | None = None
    ) -> list[ChainTx]:
        """Transactions of ``address`` from block ``since_height`` on (and unconfirmed
        ones last), oldest first in block order; explorers list newest first, and within
        a block in reverse block order."""
        newest_first: list[ChainTx] = []
        page, total = 1, 1
        while page <= total:
            batch = await self.address_txs(  # type: ignore[attr-defined]
                address, page=page, page_size=1000, since_height=since_height
            )
            total = batch.total_pages
            older = False
            for tx in batch.txs:
                if tx.block_height is not None and tx.block_height < since_height:
                    older = True
                    break
                newest_first.append(tx)
            if older:
                break
            page += 1
        return newest_first[::-1]

    async def block_hash(self, height: int) -> str:
        doc = await self.get(f"/api/block-index/{height}")
        return str(_field(doc, "blockHash"))

    async def raw_hex(self, txid: str) -> str | None:
        """A transaction's hex when the explorer's views lack it (None: not available)."""
        return None


def _field(doc: Any, *path: str) -> Any:
    cur = doc
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            raise ExplorerError(f"explorer response lacks {'.'.join(path)}")
        cur = cur[key]
    return cur
