"""Flosight (an Insight API fork) reader. Shapes: flo-chain.md §4.2.

``floData`` is always present (``""`` when empty); the sender is ``vin[0].addr``; amounts
are FLO numbers or strings; history pages hold 10 transactions.
"""

from __future__ import annotations

from typing import Any

from flocloud.protocol.errors import ExplorerError

from .reader import ChainStatus, ChainTx, HttpReader, TxPage, Utxo, _field, to_sat

__all__ = ["FlosightReader"]


class FlosightReader(HttpReader):
    async def status(self) -> ChainStatus:
        doc = await self.get("/api/status", q="getInfo")
        info = _field(doc, "info")
        return ChainStatus(int(_field(info, "blocks")), True, str(info.get("network", "")))

    def _tx(self, doc: Any) -> ChainTx:
        if not isinstance(doc, dict) or "txid" not in doc:
            raise ExplorerError("explorer transaction lacks txid")
        senders = tuple(str(v["addr"]) for v in doc.get("vin", []) if v.get("addr"))
        outputs = tuple(
            (
                ((o.get("scriptPubKey") or {}).get("addresses") or [None])[0],
                to_sat(o.get("value", 0)),
            )
            for o in doc.get("vout", [])
        )
        height = doc.get("blockheight")
        return ChainTx(
            txid=str(doc["txid"]),
            block_height=int(height) if isinstance(height, int) and height >= 0 else None,
            confirmations=int(doc.get("confirmations", 0)),
            time=doc.get("blocktime") or doc.get("time"),
            flo_data=str(doc.get("floData", "")),
            senders=senders,
            outputs=outputs,
        )

    async def address_txs(self, address: str, page: int = 1, page_size: int = 10) -> TxPage:
        doc = await self.get("/api/txs", address=address, pageNum=page - 1)
        if not isinstance(doc, dict):
            raise ExplorerError("txs response is not a JSON object")
        txs = tuple(self._tx(t) for t in (doc.get("txs") or []))
        return TxPage(txs, page, int(doc.get("pagesTotal", 1) or 1))

    async def get_tx(self, txid: str) -> ChainTx:
        return self._tx(await self.get(f"/api/tx/{txid}"))

    async def utxos(self, address: str, confirmed_only: bool = False) -> list[Utxo]:
        doc = await self.get(f"/api/addr/{address}/utxo")
        if not isinstance(doc, list):
            raise ExplorerError("utxo response is not a list")
        out = [
            Utxo(
                txid=str(_field(u, "txid")),
                vout=int(_field(u, "vout")),
                value=int(u["satoshis"]) if "satoshis" in u else to_sat(_field(u, "amount")),
                confirmations=int(u.get("confirmations", 0)),
                height=u.get("height"),
            )
            for u in doc
        ]
        return [u for u in out if u.confirmations > 0] if confirmed_only else out

    async def broadcast(self, raw_hex: str) -> str:
        doc = await self._request("POST", "/api/tx/send", data={"rawtx": raw_hex})
        return str(_field(doc, "txid"))
