"""Reading the FLO chain through an explorer: one ``ChainReader`` interface.

Invariants owned here:
- Amounts are integers of satoshi; explorer floats are parsed through ``Decimal`` text,
  never float arithmetic.
- Every failure (network, HTTP status, malformed JSON, missing field) becomes an
  ``ExplorerError`` with the URL and the reason; nothing else escapes a reader.
- Retries with exponential backoff happen on connection errors, HTTP 5xx and 429 only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, Self

import aiohttp
import orjson

from flocloud.protocol.errors import ExplorerError

__all__ = [
    "ChainReader",
    "ChainStatus",
    "ChainTx",
    "HttpReader",
    "TxPage",
    "Utxo",
    "make_reader",
    "to_sat",
]


@dataclass(frozen=True, slots=True)
class ChainStatus:
    best_height: int
    in_sync: bool
    chain: str


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

    @property
    def sender(self) -> str | None:
        """The first input's address (the FLO convention for "who sent this")."""
        return self.senders[0] if self.senders else None


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

    async def status(self) -> ChainStatus: ...

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
                        raise ExplorerError(f"{url}: response is not JSON") from None
                    if resp.status >= 400 or (isinstance(doc, dict) and "error" in doc):
                        msg = doc.get("error") if isinstance(doc, dict) else None
                        if isinstance(msg, dict):
                            msg = msg.get("message", msg)
                        raise ExplorerError(f"{url}: {msg or f'HTTP {resp.status}'}")
                    return doc
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                last = str(exc) or type(exc).__name__
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


def _field(doc: Any, *path: str) -> Any:
    cur = doc
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            raise ExplorerError(f"explorer response lacks {'.'.join(path)}")
        cur = cur[key]
    return cur


def make_reader(kind: str, base_url: str, **kw: Any) -> Any:
    """``blockbook`` (v1, default), ``blockbook-v2`` or ``flosight``."""
    from .blockbook import BlockbookV1Reader, BlockbookV2Reader
    from .flosight import FlosightReader

    classes = {
        "blockbook": BlockbookV1Reader,
        "blockbook-v1": BlockbookV1Reader,
        "blockbook-v2": BlockbookV2Reader,
        "flosight": FlosightReader,
    }
    try:
        return classes[kind](base_url, **kw)
    except KeyError:
        raise ExplorerError(f"unknown explorer kind {kind!r}: {', '.join(classes)}") from None
