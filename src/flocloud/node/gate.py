"""The door of a supernode: which TCP connections get in, and how HTTP-level errors look.

Invariants owned here:
- At most ``max_connections`` TCP connections are open, kept ``FD_RESERVE`` below the
  process's open-file limit (whose soft value is raised to the hard one at start), so ``accept``
  never runs out of descriptors and store files and peer links always find one; at most
  ``max_connections_per_source`` come from one client IP (one IPv6 /64). Trusted proxies
  are exempt from the per-source cap (they carry many clients). A refused connection is
  closed at once, counted, and logged at most once per interval.
- A request head must arrive within ``header_timeout_seconds`` of the connection or of
  the previous response (aiohttp's keep-alive timer closes a connection still waiting
  for one: slowloris).
- Errors aiohttp answers itself (a malformed request, a request line or header too long)
  are the JSON error shape ``{"error": {"code", "message"}}`` like every other error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
from collections import Counter
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from .limits import RateLimitedLog, source_key

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest

    from .config import NodeConfig
    from .limits import Metrics

__all__ = ["BACKLOG", "FD_RESERVE", "Gate", "GuardedRunner", "error_body", "raise_file_limit"]

log = logging.getLogger("flocloud.node.gate")

BACKLOG = 128  # the listen backlog: asyncio accepts up to this many at once
# descriptors kept free: a burst of accepts (closed at once when over a limit, but open for
# a moment), the store's files, logs, peer links and the listening socket
FD_RESERVE = BACKLOG + 64
CODE_BY_STATUS = {
    400: "bad-format",
    404: "not-found",
    413: "too-large",
    414: "too-large",
    431: "too-large",
}


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def raise_file_limit() -> int:
    """Raise the soft open-file limit to the hard one; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class Gate:
    """Counts open connections, in total and per source, and refuses those over a limit."""

    def __init__(self, config: NodeConfig, metrics: Metrics, rlog: RateLimitedLog) -> None:
        lim = config.limits
        soft = raise_file_limit()
        self.max_total = max(1, min(lim.max_connections, soft - FD_RESERVE))
        if self.max_total < lim.max_connections:
            log.warning(
                "open-file limit %d: at most %d connections (max_connections = %d)",
                soft,
                self.max_total,
                lim.max_connections,
            )
        self.max_per_source = lim.max_connections_per_source
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies]
        self.metrics, self.rlog = metrics, rlog
        self.total = 0
        self.per_source: Counter[str] = Counter()

    def _is_proxy(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def admit(self, transport: asyncio.BaseTransport) -> str | None:
        """The source key the connection is counted under, or ``None`` if refused."""
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        key = "" if self._is_proxy(ip) else source_key(ip)
        reason = None
        if self.total >= self.max_total:
            reason = "total"
        elif key and self.per_source[key] >= self.max_per_source:
            reason = "per-source"
        if reason is not None:
            self.metrics.refused[reason] += 1
            self.rlog.warning(
                f"refused-{reason}",
                "refusing connections: %s limit reached (%d open, %d from %s)",
                reason,
                self.total,
                self.per_source[key],
                ip,
            )
            return None
        self.total += 1
        if key:
            self.per_source[key] += 1
        return key

    def release(self, key: str) -> None:
        self.total -= 1
        if key:
            self.per_source[key] -= 1
            if self.per_source[key] <= 0:
                del self.per_source[key]


class _Handler(RequestHandler):
    """aiohttp's protocol with the gate at ``connection_made`` and JSON error pages."""

    gate: Gate
    _source: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._source = self.gate.admit(transport)
        if self._source is None:
            cast(asyncio.Transport, transport).abort()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._source is None:
            return  # refused: aiohttp never saw it
        self.gate.release(self._source)
        self._source = None
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A client's broken request body (bad Content-Encoding, broken chunks) found while
        skipping it is the client's error: a rate-limited line, not a traceback."""
        exc = kw.get("exc_info")
        if isinstance(exc, RequestPayloadError | HttpProcessingError):
            self.gate.rlog.warning("bad-body", "bad request body: %s", _one_line(str(exc)))
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, LineTooLong):  # args: (the data, the limit, its size)
            data, limit = exc.args[0], exc.args[1]
            url = bytes(data[:1]) == b"/" if isinstance(data, bytes | bytearray) else False
            status = 414 if url else 431
            message = f"{'request line' if url else 'header'} longer than {limit} bytes"
        code = CODE_BY_STATUS.get(status, "bad-format" if status < 500 else "internal")
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
            text = "internal error"
        else:
            self.gate.rlog.warning(
                "bad-http", "bad HTTP request from %s: %s", request.remote, message or exc
            )
            text = _one_line(message or (str(exc) if exc else HTTPStatus(status).phrase))
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        self.gate.metrics.rejected[code] += 1
        resp = web.Response(
            status=status, body=error_body(code, text), content_type="application/json"
        )
        resp.force_close()
        return resp


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


class _Server(web.Server):
    def __init__(self, gate: Gate, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self._handler_cls = type("GatedHandler", (_Handler,), {"gate": gate})
        self._handler_kwargs = kwargs
        for k in ("request_factory", "handler_cancellation", "loop"):
            self._handler_kwargs.pop(k, None)

    def __call__(self) -> RequestHandler:
        handler: RequestHandler = self._handler_cls(
            self, loop=asyncio.get_running_loop(), **self._handler_kwargs
        )
        return handler


class GuardedRunner(web.AppRunner):
    """An ``AppRunner`` whose protocol is gated (connection caps) and answers JSON errors."""

    def __init__(self, app: web.Application, gate: Gate, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.gate = gate
        self._handler_options = {k: v for k, v in kwargs.items() if k != "handle_signals"}

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _Server(
            self.gate,
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            **self._handler_options,
        )
