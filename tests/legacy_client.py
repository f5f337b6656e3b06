"""A client of the existing FLO cloud, written from shared/reference/flo-cloud-legacy.md
(what ``floCloudAPI.js`` + ``floCrypto.js`` do), to drive flocloud's gateway as those
web apps would: registry from Blockbook v1, XOR placement and the ring failover, the
legacy signing rule (random nonce, S not normalised), text/plain POSTs, GET queries,
one websocket per live query, presence, and the RESET/UPDATE object convention.

It reuses nothing of the gateway: only the protocol's key, hash and legacy-digest
primitives (the signing rule itself is the reference's, implemented here).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import coincurve

from flocloud.protocol.base58 import b58check_decode
from flocloud.protocol.hashes import hash160
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.signatures import flocrypto_legacy_digest

_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class LegacyHTTPError(Exception):
    """A final answer (400 or 500): the client does not fail over."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status} {text}")
        self.status, self.text = status, text


class AllNodesDown(Exception):
    pass


def _der(r: int, s: int) -> bytes:
    def enc(x: int) -> bytes:
        b = x.to_bytes((x.bit_length() + 7) // 8 or 1, "big")
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b

    body = enc(r) + enc(s)
    return b"\x30" + bytes([len(body)]) + body


def sign_data(key: PrivateKey, text: str, *, high_s: bool | None = None) -> str:
    """floCrypto.signData: ECDSA over the SHA-256 hex digest read as decimal digits, a
    random nonce (we randomise the S half instead: half of the signatures are high-S)."""
    sig = coincurve.PrivateKey(key.secret).sign(flocrypto_legacy_digest(text), hasher=None)
    r_len = sig[3]
    r = int.from_bytes(sig[4 : 4 + r_len], "big")
    s = int.from_bytes(sig[6 + r_len :], "big")
    if high_s if high_s is not None else os.urandom(1)[0] & 1:
        s = _N - s
    return _der(r, s).hex()


def js_join(values: list[Any]) -> str:
    def one(v: Any) -> str:
        return "" if v is None else str(v)

    return "|".join(one(v) for v in values)


def payload(floid: str) -> int:
    """The 20-byte payload of a receiver in any form (reference §2)."""
    if floid.startswith("0x") and len(floid) == 42:
        return int(floid[2:], 16)
    if len(floid) in (66, 130):
        return int.from_bytes(hash160(bytes.fromhex(floid)), "big")
    return int.from_bytes(b58check_decode(floid)[1:], "big")


def store_fields(
    key: PrivateKey, receiver: str, t: int, message: str, *, application: str | None,
    type: str | None = None, comment: str | None = "",
) -> dict[str, Any]:  # fmt: skip
    """A signed write as the client builds it (``message`` already base64)."""
    data: dict[str, Any] = {
        "senderID": key.address, "receiverID": receiver, "pubKey": key.pubkey_hex.upper(),
        "message": message, "time": t, "application": application, "type": type,
        "comment": comment,
    }  # fmt: skip
    keys = ("receiverID", "time", "application", "type", "message", "comment")
    data["sign"] = sign_data(key, js_join([data[k] for k in keys]))
    return data


@dataclass
class Registry:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    apps: dict[str, str] = field(default_factory=dict)


async def read_registry(
    session: aiohttp.ClientSession, explorer: str, registry_id: str
) -> Registry:
    """The client's one read per page load: every confirmed tx of the registry ID."""
    txs: list[dict[str, Any]] = []
    page, total = 1, 1
    while page <= total:
        url = f"{explorer}/api/address/{registry_id}?details=txs&confirmed=true&page={page}"
        async with session.get(url) as resp:
            assert resp.headers.get("Access-Control-Allow-Origin") == "*"
            doc = await resp.json()
        total = int(doc["totalPages"])
        txs.extend(doc.get("txs", []))
        page += 1
    reg = Registry()
    for tx in reversed(txs):  # newest first on the wire; applied oldest first
        if tx.get("confirmations", 0) < 1:
            continue
        if not any(registry_id in (v.get("addresses") or []) for v in tx.get("vin", [])):
            continue
        try:
            content = json.loads(tx.get("floData", ""))["SuperNodeStorage"]
        except (ValueError, KeyError, TypeError):
            continue
        # removeNodes: the browser library's for...in over the array deletes indexes, so
        # clients never drop removed nodes (reference §1); we keep that quirk
        for node_id, entry in (content.get("newNodes") or {}).items():
            reg.nodes[node_id] = dict(entry)
        for node_id, uri in (content.get("updateNodes") or {}).items():
            if node_id in reg.nodes:
                reg.nodes[node_id]["uri"] = uri
        reg.config.update(content.get("config") or {})
        for app in content.get("removeApps") or []:
            reg.apps.pop(app, None)
        reg.apps.update(content.get("addApps") or {})
    return reg


class LegacyClient:
    def __init__(
        self, session: aiohttp.ClientSession, registry: Registry, registry_id: str, app: str,
        ssl_ctx: ssl.SSLContext,
    ) -> None:  # fmt: skip
        self.session, self.reg, self.app, self.ssl = session, registry, app, ssl_ctx
        self.inactive: set[str] = set()
        ref = payload(registry_id)
        self.ring = sorted(registry.nodes, key=lambda n: payload(n) ^ ref)
        self.clock_offset = 0  # ms added to our clock (to test "Invalid Time")

    def now(self) -> int:
        return int(time.time() * 1000) + self.clock_offset

    # -- placement --------------------------------------------------------------------

    def closest(self, receiver: str) -> str:
        key = payload(receiver)
        return min(self.reg.nodes, key=lambda n: payload(n) ^ key)

    def order(self, receiver: str) -> list[str]:
        """The receiver's node, then the ring forward, without inactive nodes."""
        i = self.ring.index(self.closest(receiver))
        walk = self.ring[i:] + self.ring[:i]
        return [n for n in walk if n not in self.inactive]

    def url(self, node: str) -> str:
        return "https://" + self.reg.nodes[node]["uri"]

    # -- transport --------------------------------------------------------------------

    async def _http(self, receiver: str, method: str, query: str = "", body: str = "") -> Any:
        for node in self.order(receiver):
            try:
                async with self.session.request(
                    method, self.url(node) + "/" + (("?" + query) if query else ""),
                    data=io.BytesIO(body.encode()) if method == "POST" else None,
                    headers={"Content-Type": "text/plain"} if method == "POST" else None,
                    ssl=self.ssl, timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:  # fmt: skip
                    text = await resp.text()
                    assert resp.headers.get("Access-Control-Allow-Origin") == "*"
                    if 200 <= resp.status < 300:
                        return json.loads(text)
                    if resp.status in (400, 500):
                        raise LegacyHTTPError(resp.status, text)
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            self.inactive.add(node)  # for the life of the page
        raise AllNodesDown(receiver)

    async def post(self, receiver: str, doc: dict[str, Any]) -> Any:
        return await self._http(receiver, "POST", body=json.dumps(doc))

    async def get(self, query: dict[str, Any]) -> Any:
        fields = {k: ",".join(v) if isinstance(v, list) else v for k, v in query.items()}
        q = urlencode({k: ("" if v is None else v) for k, v in fields.items()})
        return await self._http(query["receiverID"], "GET", query=q)

    async def post_query(self, query: dict[str, Any]) -> Any:
        return await self.post(query["receiverID"], {"time": self.now(), "request": query})

    # -- writes -----------------------------------------------------------------------

    def store_doc(
        self, key: PrivateKey, receiver: str, message: Any, *, type: str | None = None,
        comment: str = "", app: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        message_b64 = base64.b64encode(json.dumps(message).encode()).decode()
        return store_fields(key, receiver, self.now(), message_b64, application=app or self.app,
                            type=type, comment=comment)  # fmt: skip

    async def send(self, key: PrivateKey, receiver: str, message: Any, **kw: Any) -> dict[str, Any]:
        row: dict[str, Any] = await self.post(
            receiver, self.store_doc(key, receiver, message, **kw)
        )
        return row

    def change_doc(
        self, key: PrivateKey, op: str, row: dict[str, Any], value: str
    ) -> dict[str, Any]:
        t = self.now()
        data: dict[str, Any] = {
            "receiverID": row["receiverID"], "requestorID": key.address,
            "pubKey": key.pubkey_hex.upper(), "time": t, "vectorClock": row["vectorClock"], op: value,
        }  # fmt: skip
        parts: list[Any] = [t, row["vectorClock"], value]
        if op == "edit":
            store = [
                row["receiverID"],
                row["time"],
                row["application"],
                row["type"],
                row["message"],
                value,
            ]
            data["re_sign"] = sign_data(key, js_join(store))
            parts.append(data["re_sign"])
        data["sign"] = sign_data(key, js_join(parts))
        return data

    async def change(self, key: PrivateKey, op: str, row: dict[str, Any], value: str) -> Any:
        return await self.post(row["receiverID"], self.change_doc(key, op, row, value))

    # -- live and presence ------------------------------------------------------------

    async def live(self, query: dict[str, Any]) -> LiveQuery:
        for node in self.order(query["receiverID"]):
            try:
                ws = await self.session.ws_connect(
                    "wss://" + self.reg.nodes[node]["uri"] + "/",
                    ssl=self.ssl,
                    timeout=aiohttp.ClientWSTimeout(ws_close=10),
                )
            except (aiohttp.ClientError, OSError, TimeoutError):
                self.inactive.add(node)
                continue
            lq = LiveQuery(ws, node)
            await ws.send_str(json.dumps(query))
            lq.initial = await lq.next(10)
            return lq
        raise AllNodesDown(query["receiverID"])

    async def socket(self, node: str) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(
            "wss://" + self.reg.nodes[node]["uri"] + "/",
            ssl=self.ssl,
            timeout=aiohttp.ClientWSTimeout(ws_close=10),
        )

    def presence_doc(self, key: PrivateKey, app: str) -> dict[str, Any]:
        t = self.now()
        return {"floID": key.address, "application": app, "time": t, "status": True,
                "pubKey": key.pubkey_hex.upper(), "sign": sign_data(key, js_join([t, app, key.address]))}  # fmt: skip

    # -- objects (reference §5) -------------------------------------------------------

    async def reset_object(self, key: PrivateKey, admin: str, name: str, value: Any) -> Any:
        return await self.send(key, admin, {"reset": value}, type=name, comment="RESET")

    async def update_object(
        self, key: PrivateKey, admin: str, name: str, old: Any, new: Any
    ) -> Any:
        return await self.send(
            key, admin, {"diff": detailed_diff(old, new)}, type=name, comment="UPDATE"
        )

    async def read_object(self, admin: str, name: str, sub_admins: list[str]) -> Any:
        base = {"receiverID": admin, "application": self.app, "type": name, "senderID": sub_admins}
        last = await self.get({**base, "comment": "RESET", "mostRecent": "true"})
        if not last:
            return None
        value = decode(last[0])["reset"]
        later = await self.get({**base, "lowerVectorClock": last[0]["vectorClock"] + "1"})
        for row in later:  # in vectorClock order
            msg = decode(row)
            value = msg["reset"] if "reset" in msg else apply_diff(value, msg["diff"])
        return value


class LiveQuery:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, node: str) -> None:
        self.ws, self.node = ws, node
        self.initial: Any = None

    async def next(self, timeout: float = 10) -> Any:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type}")
        try:
            return json.loads(msg.data)
        except ValueError:
            return msg.data  # an error text

    async def close(self) -> None:
        await self.ws.close()


def decode(row: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(row["message"]))


# deep-object-diff's detailedDiff and its application, as the client uses them


def detailed_diff(old: Any, new: Any) -> dict[str, Any]:
    def obj(v: Any) -> dict[str, Any] | None:
        if isinstance(v, dict):
            return v
        if isinstance(v, list):
            return {str(i): x for i, x in enumerate(v)}
        return None

    def added(a: Any, b: Any) -> dict[str, Any]:
        oa, ob = obj(a) or {}, obj(b) or {}
        out: dict[str, Any] = {}
        for k, v in ob.items():
            if k not in oa:
                out[k] = v
            elif obj(oa[k]) is not None and obj(v) is not None:
                sub = added(oa[k], v)
                if sub:
                    out[k] = sub
        return out

    def deleted(a: Any, b: Any) -> dict[str, Any]:
        oa, ob = obj(a) or {}, obj(b) or {}
        out: dict[str, Any] = {}
        for k, v in oa.items():
            if k not in ob:
                out[k] = None
            elif obj(v) is not None and obj(ob[k]) is not None:
                sub = deleted(v, ob[k])
                if sub:
                    out[k] = sub
        return out

    def updated(a: Any, b: Any) -> dict[str, Any]:
        oa, ob = obj(a) or {}, obj(b) or {}
        out: dict[str, Any] = {}
        for k, v in ob.items():
            if k in oa:
                if obj(oa[k]) is not None and obj(v) is not None:
                    sub = updated(oa[k], v)
                    if sub:
                        out[k] = sub
                elif oa[k] != v:
                    out[k] = v
        return out

    return {"added": added(old, new), "deleted": deleted(old, new), "updated": updated(old, new)}


def apply_diff(value: Any, diff: dict[str, Any]) -> Any:
    def merge(target: Any, patch: dict[str, Any], remove: bool) -> Any:
        is_list = isinstance(target, list)
        d = {str(i): x for i, x in enumerate(target)} if is_list else dict(target or {})
        for k, v in patch.items():
            if isinstance(v, dict) and isinstance(d.get(k), dict | list):
                d[k] = merge(d[k], v, remove)
            elif remove and v is None:
                d.pop(k, None)
            elif not remove:
                d[k] = v
        if is_list:
            top = max((int(k) for k in d), default=-1)
            return [d.get(str(i)) for i in range(top + 1)]
        return d

    value = merge(value, diff.get("deleted", {}), True)
    value = merge(value, diff.get("added", {}), False)
    return merge(value, diff.get("updated", {}), False)
