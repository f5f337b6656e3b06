"""Flosight (RanchiMall's Insight API fork) reader. Shapes: flo-chain.md §4.2.

``floData`` is always present (``""`` when empty); senders are ``vin[].addr``; amounts
are FLO numbers or strings. Errors are plain text (``<message>. Code:<n>``, HTTP 400;
503 while syncing); ``HttpReader`` reports their status and message.

History (``history``) uses the cursor route ``/api/addrs/<addr>/txs?after=<txid>``: it
streams an address's transactions oldest first from the cursor (``mempool=false``: confirmed
only), answers at most a chunk
(newest first, sorted by height then **txid**), sets ``incomplete`` when there are more
and names the newest confirmed one in ``lastItem``, the next cursor. The older
``/api/txs?address=`` route stops at an address's newest 1,000 transactions and is not
used for history. Because a chunk orders one block's transactions by txid, a block
holding more than one of them is read (``/api/block/<hash>``, its ``tx`` list is in block
order) to put them back in the order they were mined.
"""

from __future__ import annotations

from typing import Any

from flocloud.protocol.errors import ExplorerError

from .reader import ChainStatus, ChainTx, HttpReader, TxPage, Utxo, _field, to_sat

__all__ = ["FlosightReader"]


class FlosightReader(HttpReader):
    async def block_hash(self, height: int) -> str:
        return str(_field(await self.get(f"/api/block-index/{height}"), "blockHash"))

    async def block_txids(self, block_hash: str) -> list[str]:
        doc = await self.get(f"/api/block/{block_hash}")
        txids = _field(doc, "tx")
        if not isinstance(txids, list):
            raise ExplorerError("block response: tx is not a list")
        return [str(t) for t in txids]

    async def history(
        self, address: str, *, since_height: int = 0, after_txid: str | None = None
    ) -> list[ChainTx]:
        seen: dict[str, ChainTx] = {}
        cursor = after_txid
        for _ in range(100_000):  # bounded: each round moves the cursor forward
            doc = await self.get(f"/api/addrs/{address}/txs", after=cursor, mempool="false")
            items = _field(doc, "items")
            if not isinstance(items, list):
                raise ExplorerError("addrs/txs response: items is not a list")
            for item in items:
                tx = self._tx(item)
                if tx.block_height is None or tx.block_height >= since_height:
                    seen[tx.txid] = tx
            last = doc.get("lastItem")
            if not doc.get("incomplete") or not last or last == cursor:
                break
            cursor = str(last)
        return await self._block_order(list(seen.values()))

    async def _block_order(self, txs: list[ChainTx]) -> list[ChainTx]:
        """Oldest first; one block's transactions in the order the block lists them."""
        by_height: dict[int, list[ChainTx]] = {}
        for tx in txs:
            if tx.block_height is not None:
                by_height.setdefault(tx.block_height, []).append(tx)
        for group in by_height.values():
            if len(group) > 1 and group[0].block_hash:
                order = {t: i for i, t in enumerate(await self.block_txids(group[0].block_hash))}
                group.sort(key=lambda t: order.get(t.txid, len(order)))
        out = [t for h in sorted(by_height) for t in by_height[h]]
        return out + [t for t in txs if t.block_height is None]

    async def raw_hex(self, txid: str) -> str | None:
        """The transaction's bytes (``/api/rawtx``): Flosight's tx view carries no hex."""
        return str(_field(await self.get(f"/api/rawtx/{txid}"), "rawtx"))

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
            block_height=int(height) if isinstance(height, int) and height > 0 else None,
            confirmations=int(doc.get("confirmations", 0)),
            time=doc.get("blocktime") or doc.get("time"),
            flo_data=str(doc.get("floData", "")),
            senders=senders,
            outputs=outputs,
            block_hash=doc.get("blockhash") or None,
        )

    async def address_txs(
        self, address: str, page: int = 1, page_size: int = 10, since_height: int = 0
    ) -> TxPage:
        """A page of the newest 1,000 transactions (``/api/txs``); ``history`` reads all."""
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
