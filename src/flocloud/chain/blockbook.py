"""Blockbook readers: v1 (``/api/...``, what FLO wallets use) and v2 (``/api/v2/...``).

Shapes: flo-chain.md §4.1. RanchiMall's fork: v1 omits ``floData`` when it is empty and
gives amounts as FLO numbers; v2 gives amounts as satoshi strings and floData under
``coinSpecificData``. Upstream Blockbook has no ``floData`` field in v1 and fills
``coinSpecificData`` only for mempool transactions: there floData is read from ``hex``.
Whenever ``hex`` is given, the transaction is checked against it (``check_hex``).
"""

from __future__ import annotations

from typing import Any

from flocloud.protocol.errors import ExplorerError

from .reader import ChainStatus, ChainTx, HttpReader, TxPage, Utxo, _field, check_hex, to_sat

__all__ = ["BlockbookV1Reader", "BlockbookV2Reader"]


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ExplorerError(f"not an integer: {value!r}") from None


class BlockbookV1Reader(HttpReader):
    """Blockbook's legacy v1 API (``/api/<x>`` = ``/api/v1/<x>``)."""

    prefix = "/api"
    txs_key = "txs"  # where the address object lists its transactions

    async def status(self) -> ChainStatus:
        doc = await self.get(f"{self.prefix}/")
        bb = _field(doc, "blockbook")
        backend = doc.get("backend", {}) if isinstance(doc, dict) else {}
        return ChainStatus(
            best_height=int(_field(bb, "bestHeight")),
            in_sync=bool(bb.get("inSync", True)),
            chain=str(backend.get("chain", "")),
            best_hash=str(backend.get("bestBlockHash", "")),
        )

    async def block_hash(self, height: int) -> str:
        return str(_field(await self.get(f"{self.prefix}/block-index/{height}"), "blockHash"))

    def _tx(self, doc: Any) -> ChainTx:
        if not isinstance(doc, dict) or "txid" not in doc:
            raise ExplorerError("explorer transaction lacks txid")
        senders = tuple(
            (vin.get("addresses") or [None])[0] or ""
            for vin in doc.get("vin", [])
            if isinstance(vin, dict)
        )
        outputs = tuple(
            (
                ((vout.get("scriptPubKey") or {}).get("addresses") or [None])[0],
                to_sat(vout.get("value", 0)),
            )
            for vout in doc.get("vout", [])
            if isinstance(vout, dict)
        )
        height = _int(doc.get("blockheight"))
        tx = ChainTx(
            txid=str(doc["txid"]),
            block_height=height if height is not None and height > 0 else None,
            confirmations=_int(doc.get("confirmations"), 0) or 0,
            time=_int(doc.get("blocktime") or doc.get("time")),
            flo_data=str(doc.get("floData", "")),
            senders=tuple(s for s in senders if s),
            outputs=outputs,
            hex=doc.get("hex") or None,
            block_hash=doc.get("blockhash") or None,
        )
        return check_hex(tx, flo_data_given="floData" in doc)

    async def address_txs(
        self, address: str, page: int = 1, page_size: int = 50, since_height: int = 0
    ) -> TxPage:
        doc = await self.get(
            f"{self.prefix}/address/{address}",
            details="txs",
            page=page,
            pageSize=page_size,
            **({"from": since_height} if since_height > 0 else {}),
        )
        if not isinstance(doc, dict):
            raise ExplorerError("address response is not a JSON object")
        txs = tuple(self._tx(t) for t in (doc.get(self.txs_key) or []))
        return TxPage(txs, int(doc.get("page", page)), int(doc.get("totalPages", 1) or 1))

    async def get_tx(self, txid: str) -> ChainTx:
        return self._tx(await self.get(f"{self.prefix}/tx/{txid}"))

    async def utxos(self, address: str, confirmed_only: bool = False) -> list[Utxo]:
        doc = await self.get(
            f"{self.prefix}/utxo/{address}", confirmed="true" if confirmed_only else None
        )
        if not isinstance(doc, list):
            raise ExplorerError("utxo response is not a list")
        out = []
        for u in doc:
            value = u["satoshis"] if "satoshis" in u else to_sat(_field(u, "amount"))
            out.append(
                Utxo(
                    txid=str(_field(u, "txid")),
                    vout=int(_field(u, "vout")),
                    value=int(value),
                    confirmations=int(u.get("confirmations", 0)),
                    height=_int(u.get("height")),
                )
            )
        return out

    async def broadcast(self, raw_hex: str) -> str:
        doc = await self._request("POST", f"{self.prefix}/sendtx/", data=raw_hex)
        return str(_field(doc, "result"))


class BlockbookV2Reader(BlockbookV1Reader):
    """Blockbook v2: satoshi strings, floData under ``coinSpecificData``."""

    prefix = "/api/v2"
    txs_key = "transactions"

    def _tx(self, doc: Any) -> ChainTx:
        if not isinstance(doc, dict) or "txid" not in doc:
            raise ExplorerError("explorer transaction lacks txid")
        specific = doc.get("coinSpecificData") or {}
        senders = tuple((vin.get("addresses") or [""])[0] for vin in doc.get("vin", []))
        outputs = tuple(
            ((vout.get("addresses") or [None])[0], int(vout.get("value", "0")))
            for vout in doc.get("vout", [])
        )
        height = _int(doc.get("blockHeight"))
        given = isinstance(specific, dict) and "floData" in specific
        tx = ChainTx(
            txid=str(doc["txid"]),
            block_height=height if height is not None and height > 0 else None,
            confirmations=_int(doc.get("confirmations"), 0) or 0,
            time=_int(doc.get("blockTime")),
            flo_data=str(specific["floData"]) if given else "",
            senders=tuple(s for s in senders if s),
            outputs=outputs,
            hex=doc.get("hex") or None,
            block_hash=doc.get("blockHash") or None,
        )
        return check_hex(tx, flo_data_given=given)

    async def utxos(self, address: str, confirmed_only: bool = False) -> list[Utxo]:
        doc = await self.get(
            f"{self.prefix}/utxo/{address}", confirmed="true" if confirmed_only else None
        )
        if not isinstance(doc, list):
            raise ExplorerError("utxo response is not a list")
        return [
            Utxo(
                txid=str(_field(u, "txid")),
                vout=int(_field(u, "vout")),
                value=int(_field(u, "value")),
                confirmations=int(u.get("confirmations", 0)),
                height=_int(u.get("height")),
            )
            for u in doc
        ]
