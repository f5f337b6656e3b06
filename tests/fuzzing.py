"""Seeded inputs for fuzzing a live supernode, shared by the test suite and the long run of
``bench/fuzz_abuse.py``.

Structure-aware inputs come from the request schemas themselves (``flocloud.node.requests``,
read with ``msgspec.inspect``): each field gets a valid value, a boundary value (a length
or an integer at and past its limit) or a wrong one, fields go missing or unknown ones
appear; random inputs are arbitrary JSON, broken JSON and bytes. The same seed gives the
same inputs.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import orjson

from flocloud.node import requests as rq
from flocloud.protocol.errors import ERROR_CODES
from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import REGTEST

__all__ = [
    "Deep",
    "Fuzzer",
    "Tally",
    "check_http",
    "dumps",
    "fuzz_http",
    "fuzz_raw_http",
    "fuzz_websocket",
    "http_request",
    "is_closed",
    "raw_http",
    "raw_socket",
    "rss_mib",
    "ws_frames_raw",
    "ws_handshake",
]

INTS = [0, 1, 2, 100, 999, 1000, 1001, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64, 10**30]
INTS += [-1, -(2**63), -(2**64)]
STRINGS = ["", "a", "x" * 64, "x" * 65, "x" * 129, "x" * 3000, "é" * 40, "\u0000", "../../etc"]
STRINGS += ["oXUBUTzwhpGAYLyY6TJ9MEuVF5AvRppv6c", "1", "-1", "1e3", "true", "null", "%00", "0x10"]


@dataclass(frozen=True)
class Deep:
    """A value nested ``n`` deep (written as text: encoders refuse such depths)."""

    n: int
    kind: str

    @property
    def text(self) -> str:
        if self.kind == "l":
            return "[" * self.n + "1" + "]" * self.n
        return '{"k":' * self.n + "1" + "}" * self.n


def _deep(rng: random.Random, n: int) -> Deep:
    return Deep(n, rng.choice("ld"))


def dumps(v: Any) -> bytes:
    """JSON of ``v``, with integers of any size and ``Deep`` values."""
    try:
        return orjson.dumps(v)
    except TypeError:  # a Deep value or an integer past 64 bits
        return _text(v).encode("utf-8", "surrogatepass")


def _text(v: Any) -> str:
    if isinstance(v, Deep):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + _text(x) for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_text(x) for x in v) + "]"
    return json.dumps(v)


@dataclass
class Tally:
    """What a run tried and how the node answered."""

    inputs: int = 0
    replies: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)  # replies that break the contract

    def reply(self, doc: Any, what: str) -> None:
        """Check one websocket reply frame (or HTTP error body)."""
        self.replies += 1
        if not isinstance(doc, dict):
            self.bad.append(f"{what}: not an object: {doc!r:.200}")
            return
        err = doc.get("error")
        if doc.get("ok") is True or (err is None and "sub" in doc):
            self.codes["ok"] += 1
            return
        if not isinstance(err, dict) or set(err) != {"code", "message"}:
            self.bad.append(f"{what}: bad error shape {doc!r:.200}")
            return
        code = err["code"]
        self.codes[code] += 1
        if code not in ERROR_CODES or code == "internal":
            self.bad.append(f"{what}: code {code!r}: {err.get('message')!r:.200}")


class Fuzzer:
    """Inputs from one seed."""

    def __init__(self, seed: int, receiver: str = "", now_ms: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.key = PrivateKey(seed.to_bytes(8, "big").rjust(32, b"\x01"), REGTEST)
        self.receiver = receiver or self.key.address
        self.ops = sorted(rq.OPS)
        self._types = {
            t.__struct_config__.tag: msgspec.inspect.type_info(t) for t in rq._FRAME_TYPES
        }
        self._filter_fields = [f.encode_name for f in msgspec.inspect.type_info(rq.Filter).fields]  # type: ignore[attr-defined]
        self._scalar = msgspec.inspect.type_info(str | int | bool)  # type: ignore[arg-type]
        self._signed: list[dict[str, str]] = []

    # -- values from the schema ---------------------------------------------------------

    def value(self, depth: int = 0) -> Any:
        """Any JSON value, sometimes big or deep."""
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            return rng.choice(INTS)
        if r < 0.3:
            return rng.choice(STRINGS)
        if r < 0.4:
            return rng.choice([None, True, False, 0.5, -0.0, 1e308])
        if r < 0.45:
            return _deep(rng, rng.choice([20, 100, 300, 2000]))
        if r < 0.7 and depth < 3:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        if r < 0.9 and depth < 3:
            return {
                rng.choice(STRINGS[:6]): self.value(depth + 1) for _ in range(rng.randint(0, 3))
            }
        return rng.randint(-(10**6), 10**6)

    def typed(self, t: msgspec.inspect.Type, depth: int = 0) -> Any:
        """A value of schema type ``t``: valid, at a boundary, or past it."""
        rng, ti = self.rng, msgspec.inspect
        if rng.random() < 0.08:
            return self.value()
        if isinstance(t, ti.UnionType):
            return self.typed(rng.choice(t.types), depth)
        if isinstance(t, ti.NoneType):
            return None
        if isinstance(t, ti.BoolType):
            return rng.random() < 0.5
        if isinstance(t, ti.IntType):
            lo = t.ge if t.ge is not None else 0
            hi = t.lt if t.lt is not None else ((t.le + 1) if t.le is not None else 2**53)
            return rng.choice(
                [lo, lo - 1, hi - 1, hi, rng.randrange(lo, max(lo + 1, min(hi, 10**6)))]
            )
        if isinstance(t, ti.StrType):
            n = t.max_length if t.max_length is not None else 100
            length = rng.choice([0, 1, 34, min(n, 200), n, n + 1])
            if length == 34 or rng.random() < 0.3:
                return self.receiver if rng.random() < 0.7 else self.key.address
            return "k" * length
        if isinstance(t, ti.LiteralType):
            return rng.choice([*t.values, "nope"])
        if isinstance(t, ti.ListType):
            n = t.max_length if t.max_length is not None else 10
            length = rng.choice([0, 1, 3, n, n + 1]) if depth < 2 else 1
            if length > 3:  # a long list of one short item: the length is what is tested
                return [self.key.address] * length
            return [self.typed(t.item_type, depth + 1) for _ in range(length)]
        if isinstance(t, ti.DictType):
            return {"envelope": self.envelope(), "receiver": self.receiver, "x": self.value()}
        if isinstance(t, ti.StructType):
            if t.cls is rq.WireEnvelope and rng.random() < 0.6:
                return self.envelope()
            return self.struct(t, depth + 1)
        return self.value()

    def struct(self, t: msgspec.inspect.StructType, depth: int = 0) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {}
        for f in t.fields:
            if f.name == "id":
                continue
            if f.required or rng.random() < 0.5:
                out[f.encode_name] = self.typed(f.type, depth)
        for _ in range(rng.choice([0, 0, 0, 1, 2])):  # mutations
            m = rng.random()
            if m < 0.4 and out:
                del out[rng.choice(sorted(out))]
            elif m < 0.7:
                out[rng.choice(["bogus", "limit", "after", "receiver", "", "op"])] = self.value()
            elif out:
                out[rng.choice(sorted(out))] = self.value()
        return out

    def envelope(self) -> dict[str, Any]:
        """A signed envelope, correct or damaged."""
        from flocloud.protocol.envelope import build_envelope

        rng = self.rng
        if len(self._signed) < 50 or rng.random() < 0.05:
            now = self.now_ms
            t = rng.choice([now, now, now - 10**9, now + 10**9, 0])
            env = build_envelope(
                self.key,
                receiver=self.receiver,
                payload=rng.choice([{"n": rng.random()}, "x" * rng.choice([1, 500, 20000]), None]),
                time_ms=t,
                application=rng.choice(["chat", "demo"]),
            ).to_wire()
            self._signed.append(env)
        env = dict(rng.choice(self._signed))
        m = rng.random()
        if m < 0.2:
            env["sign"] = env["sign"][:-2] + "00"
        elif m < 0.3:
            env["body"] = env["body"].replace('"v":1', '"v":' + str(rng.choice(INTS)))
        elif m < 0.4:
            env[rng.choice(["body", "pubKey", "sign", "x"])] = self.value()
        return env

    def request_id(self) -> Any:
        r = self.rng.random()
        if r < 0.8:
            return self.rng.randrange(10**9)
        return self.rng.choice([*STRINGS, 2**63, -1, 1.5, [1], {"a": 1}, _deep(self.rng, 300)])

    # -- websocket frames ---------------------------------------------------------------

    def frame(self, max_bytes: int = 100_000) -> bytes:
        """One websocket frame: mostly schema-shaped, sometimes anything; at most
        ``max_bytes`` (a larger frame closes the websocket: 1009, message too big)."""
        while True:
            data = self._frame()
            if len(data) <= max_bytes:
                return data

    def _frame(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            return rng.randbytes(rng.randint(0, 200))
        if r < 0.1:
            good = orjson.dumps({"id": 1, "op": "ping"})
            return good[: rng.randint(0, len(good) - 1)]
        if r < 0.2:
            return dumps(self.value())
        op = rng.choice([*self.ops, "nope", "", "peer.nope"])
        doc: dict[str, Any] = {}
        t = self._types.get(op)
        if t is not None:
            doc = self.struct(t)  # type: ignore[arg-type]
        doc["op"] = op if rng.random() < 0.97 else self.value()
        doc["id"] = self.request_id()
        return dumps(doc)

    # -- HTTP ---------------------------------------------------------------------------

    def http(self) -> tuple[str, str, dict[str, str], bytes]:
        """``(method, path?query, headers, body)``."""
        rng = self.rng
        app, name = rng.choice(["demo", "chat", "x" * 200, "%2e%2e", "é"]), rng.choice(["b", "n"])
        path = rng.choice(
            [
                "/api/messages",
                "/api/messages",
                f"/api/objects/{app}/{name}",
                f"/api/objects/{app}/{name}/changes",
                f"/api/schemas/{app}",
                "/api/network",
                f"/api/digest/{self.receiver}",
                "/api",
                "/api/",
                "/api/nope",
                "/healthz",
                "/ws",
                "/nope",
            ]
        )
        params: dict[str, str] = {}
        for _ in range(rng.randint(0, 5)):
            k = rng.choice([*self._filter_fields, "version", "since", "mode", "bogus"])
            v = self.typed(self._scalar)
            params[k] = str(v).lower() if isinstance(v, bool) else str(v)
        if "receiver" not in params and rng.random() < 0.8:
            params["receiver"] = self.receiver
        if rng.random() < 0.1:
            params["ids"] = ",".join(["a" * 64] * rng.choice([1, 1000, 1001]))
        from urllib.parse import urlencode

        query = urlencode(params)
        method = rng.choice(["GET"] * 6 + ["POST"] * 3 + ["PUT", "DELETE", "OPTIONS", "HEAD"])
        headers: dict[str, str] = {}
        body = b""
        if method == "POST":
            path = "/api/messages" if rng.random() < 0.8 else path
            r = rng.random()
            body = (
                dumps(self.envelope())
                if r < 0.5
                else rng.randbytes(rng.randint(0, 300))
                if r < 0.7
                else b"x" * rng.choice([140_000, 300_000])
                if r < 0.75
                else dumps(self.value())
            )
            if rng.random() < 0.2:
                headers["Content-Encoding"] = rng.choice(["gzip", "deflate", "br", "bogus", "zstd"])
            if rng.random() < 0.1:
                headers["Content-Type"] = rng.choice(["text/plain", "application/json", "\x7f"])
        return method, path + ("?" + query if query else ""), headers, body

    def raw_http(self) -> bytes:
        """Malformed HTTP for a raw socket."""
        rng = self.rng
        target = "/api/messages?receiver=" + self.receiver
        return rng.choice(
            [
                b"GARBAGE\r\n\r\n",
                rng.randbytes(64) + b"\r\n\r\n",
                f"GET /{'a' * 80_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                f"GET {target} HTTP/1.1\r\nConnection: close\r\nX-Long: {'b' * 10_000}\r\n\r\n".encode(),
                f"GET {target} HTTP/9.9\r\nConnection: close\r\n\r\n".encode(),
                b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /api/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
                b"GET /api/messages HTTP/1.1\r\nConnection: close\r\n"
                + b"H: v\r\n" * 200
                + b"\r\n",
                b"GET /api HTTP/1.1\r\nConnection: close\r\n\r\n",
                b"GET \x00\x01 HTTP/1.1\r\n\r\n",
            ]
        )


# -- drivers against a live node (``NodeProcess``-like: ``url``, ``ws_url``, ``port``) ----


async def fuzz_websocket(node: Any, fz: Fuzzer, n: int, tally: Tally) -> None:
    """``n`` frames pipelined on one websocket; each must get exactly one reply."""
    answered = 0
    done = asyncio.Event()
    async with aiohttp.ClientSession() as session, session.ws_connect(node.ws_url) as ws:

        async def reader() -> None:
            nonlocal answered
            async for msg in ws:
                doc = orjson.loads(msg.data)
                tally.reply(doc, "ws")
                if "ok" in doc:
                    answered += 1
                    if answered >= n:
                        done.set()

        task = asyncio.create_task(reader())
        for _ in range(n):
            frame = fz.frame()
            tally.inputs += 1
            try:
                frame.decode()
                await ws.send_str(frame.decode())
            except UnicodeDecodeError:
                await ws.send_bytes(frame)
        try:
            await asyncio.wait_for(done.wait(), 60)
        finally:
            task.cancel()
    assert answered == n, f"{n - answered} of {n} frames got no reply"


async def fuzz_http(node: Any, fz: Fuzzer, n: int, tally: Tally) -> None:
    sem = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one(method: str, target: str, headers: dict[str, str], body: bytes) -> None:
            async with sem:
                try:
                    async with session.request(
                        method, node.url + target, headers=headers, data=body or None
                    ) as resp:
                        data = await resp.read()
                        status = resp.status
                except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                    tally.codes["closed"] += 1  # refused with a closed connection (413)
                    return
                except ValueError:  # the client library refused the input itself
                    return
                tally.inputs += 1
                check_http(tally, status, data, method, target)

        await asyncio.gather(*(one(*fz.http()) for _ in range(n)))


def check_http(tally: Tally, status: int, data: bytes, method: str, target: str) -> None:
    what = f"HTTP {method} {target[:80]} -> {status}"
    if status >= 500 and status != 503:
        tally.bad.append(f"{what}: {data[:200]!r}")
        return
    if status < 400:
        tally.codes["ok"] += 1
        return
    if method == "HEAD":
        tally.codes[f"http-{status}"] += 1
        return
    try:
        doc: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        tally.bad.append(f"{what}: not JSON: {data[:200]!r}")
        return
    tally.reply(doc, what)


async def fuzz_raw_http(node: Any, fz: Fuzzer, n: int, tally: Tally) -> None:
    for _ in range(n):
        data = fz.raw_http()
        tally.inputs += 1
        answer = await asyncio.to_thread(raw_http, node.port, data)
        status, body = http_request(answer)
        if status == 0:
            tally.bad.append(f"raw {data[:60]!r}: no HTTP answer: {answer[:100]!r}")
            continue
        check_http(tally, status, body, "RAW", repr(data[:60]))


def raw_http(port: int, data: bytes, source: str = "127.0.0.1", timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh TCP connection; the whole answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout, (source, 0)) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


def http_request(raw: bytes) -> tuple[int, bytes]:
    """Status and body of a raw HTTP/1.1 answer (``(0, b"")`` if there is none)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return 0, b""
    return int(parts[1]), body


def ws_frames_raw(payload: bytes, opcode: int = 1) -> bytes:
    """One masked client websocket frame (for raw sockets that never read)."""
    mask = b"\x11\x22\x33\x44"
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def raw_socket(port: int, source: str = "127.0.0.1", rcvbuf: int = 0) -> socket.socket:
    """A TCP connection to the node from ``source``; ``rcvbuf`` shrinks its receive buffer
    (set before connecting, so the kernel holds little for a client that never reads)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def ws_handshake(s: socket.socket) -> bool:
    """Upgrade a raw connection to a websocket; False if the node closed it instead."""
    s.sendall(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1024)
            if not chunk:
                return False
            head += chunk
    except OSError:
        return False
    return head.startswith(b"HTTP/1.1 101")


def is_closed(s: socket.socket) -> bool:
    """Whether the node closed this connection (what it sent before is read and dropped)."""
    s.setblocking(False)
    try:
        while True:
            if not s.recv(1 << 20):
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)
