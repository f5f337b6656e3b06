"""HTTP routes of a supernode: self-description, dashboard, metrics, read APIs.

Invariants: every error is JSON ``{"error": {"code", "message"}}`` with a 4xx status (5xx
only for ``internal``/``unavailable``), aiohttp's own included (404, 405, 413, a payload
that does not decode); query parameters go through the request schemas of
``requests.py``; a request (body read, handling, response write) that takes longer than
``request_timeout_seconds`` is dropped, so a client that does not read cannot hold a
reply in memory. Every route, writes included, allows any origin (CORS,
``flocloud.web.routes``): all data served is public and every write signed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from flocloud.protocol.errors import BadFormat, FlocloudError, NotFound, Unavailable

from .gate import CODE_BY_STATUS, error_body
from .limits import source_key
from .requests import ChangesQuery, Filter, ObjectQuery, from_query
from .shape import HttpNode as Node

__all__ = ["add_routes"]

log = logging.getLogger("flocloud.node.http")
_STATUS = {
    "not-found": 404,
    "forbidden": 403,
    "rate-limited": 429,
    "too-large": 413,
    "version-conflict": 409,
    "unavailable": 503,
    "internal": 500,
}


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(doc),
        status=status,
        content_type="application/json",
        headers={"Access-Control-Allow-Origin": "*"},
    )


def _error(exc: FlocloudError) -> web.Response:
    return _json({"error": exc.to_dict()}, _STATUS.get(exc.code, 400))


def add_routes(app: web.Application, node: Node) -> None:
    lim = node.config.limits

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
            if request.path == "/ws" or (request.path == "/" and upgrade):
                # a websocket (/ws, or the legacy one at /) bounds itself: its handler
                # runs for the connection's life, not one request's
                ws: web.StreamResponse = await handler(request)
                return ws
            try:
                async with asyncio.timeout(lim.request_timeout_seconds):
                    response: web.StreamResponse = await handler(request)
                    if isinstance(response, web.Response) and not response.prepared:
                        await write(request, response)
                    return response
            except TimeoutError:
                if request.transport is not None:
                    request.transport.abort()
                node.resource_log.warning(
                    "http-timeout", "dropped a request from %s: too slow", request.remote
                )
                raise Unavailable(
                    f"request not done within {lim.request_timeout_seconds:g} s"
                ) from None
        except FlocloudError as exc:
            node.service.metrics.rejected[exc.code] += 1
            return _error(exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = CODE_BY_STATUS.get(exc.status, "bad-format")
            node.service.metrics.rejected[code] += 1
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return web.Response(
                status=exc.status,
                body=error_body(code, exc.text or exc.reason),
                content_type="application/json",
                headers={"Access-Control-Allow-Origin": "*", **headers},
            )
        except (HttpProcessingError, RequestPayloadError) as exc:
            # a body that does not decode (bad Content-Encoding, broken chunks): answer,
            # skip the rest of it and close (the stream cannot be trusted past it)
            node.service.metrics.rejected["bad-format"] += 1
            message = " ".join((getattr(exc, "message", "") or str(exc)).split())
            request.content.feed_eof()
            resp = _error(BadFormat(f"request body: {message}"))
            resp.force_close()
            return resp
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            return _json({"error": {"code": "internal", "message": "internal error"}}, 500)

    from flocloud.web.routes import add_static_routes, cors_middleware

    from .stats import add_stats_route

    pending: Counter[str] = Counter()  # bytes of HTTP responses being written, by source

    async def write(request: web.Request, response: web.Response) -> None:
        """Send a response, counted in the node's outgoing bytes: a source whose earlier
        replies are still unread (over ``max_outgoing_bytes``), or a node over
        ``max_outgoing_bytes_total``, gets ``unavailable`` instead of one more page."""
        size = len(response.body) if isinstance(response.body, bytes) else 0
        source = source_key(node.client_ip(request))
        if pending[source] and (
            pending[source] + size > lim.max_outgoing_bytes
            or node.outgoing + size > lim.max_outgoing_bytes_total
        ):
            node.resource_log.warning("http-unread", "%s has unread replies: refusing more", source)
            raise Unavailable("earlier replies to this source are still unread; read them first")
        pending[source] += size
        node.outgoing += size
        try:
            await response.prepare(request)
            await response.write_eof()
        finally:
            pending[source] -= size
            node.outgoing -= size
            if pending[source] <= 0:
                del pending[source]

    app.middlewares.append(errors)
    # inside the error layer, which writes the answers itself: CORS headers go on every
    # answer before it is sent, and preflights are answered before any handler runs
    app.middlewares.append(cors_middleware)

    async def index(request: web.Request) -> web.StreamResponse:
        if node.legacy.claims(request):  # a legacy query or websocket (node/legacy)
            served: web.StreamResponse = await node.legacy.serve(request)
            return served
        if "application/json" in request.headers.get("Accept", ""):
            doc = node.service.describe(node.key.address, node.key.pubkey_hex)
            return _json({**doc, "epoch": node.epoch()})
        from flocloud.web import dashboard_html

        return web.Response(text=dashboard_html(), content_type="text/html")

    async def healthz(request: web.Request) -> web.Response:
        listed = node.service.listed
        doc = {"ok": listed is not False, "node_id": node.key.address, "listed": listed}
        return _json(doc, 200 if listed is not False else 503)

    async def metrics(request: web.Request) -> web.Response:
        assert node.store is not None
        st = await node.store.stats()
        body = node.service.metrics.render(st.messages, st.db_bytes, st.commits, st.writes)
        return web.Response(
            body=body,
            headers={
                "Access-Control-Allow-Origin": "*",
                "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
            },
        )

    async def messages(request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(request.query)
        if "ids" in params:
            params["ids"] = [i for i in str(params["ids"]).split(",") if i]
        return _json(await node.service.query(from_query(params, Filter)))

    async def post_message(request: web.Request) -> web.Response:
        body = await request.read()
        return _json(await node.service.put(body, source=node.client_ip(request)))

    async def get_object(request: web.Request) -> web.Response:
        m = request.match_info
        q = from_query(dict(request.query), ObjectQuery)
        return _json(
            await node.service.object_get(m["app"], m["name"], q.version, q.consistent is True)
        )

    async def object_changes(request: web.Request) -> web.Response:
        m = request.match_info
        q = from_query(dict(request.query), ChangesQuery)
        return _json(await node.service.object_changes(m["app"], m["name"], q.since, q.mode))

    async def schemas(request: web.Request) -> web.Response:
        return _json(await node.service.schemas(request.match_info["app"]))

    async def network(request: web.Request) -> web.Response:
        peers = node.peers
        watched = peers.neighbours() if peers.view.nodes else set()

        def status(node_id: str) -> str:
            """This node's view: itself is up; neighbours as its heartbeats see them."""
            if node_id == node.key.address:
                return "up"
            if node_id not in watched:
                return "unknown"
            return "up" if peers.is_up(node_id) else "down"

        nodes = [dict(n, status=status(n["id"])) for n in node.network_nodes]
        if not any(n["id"] == node.key.address for n in nodes):
            nodes.insert(
                0,
                {"id": node.key.address, "uri": node.config.public_url or node.url, "status": "up"},
            )
        view = peers.view
        reg = node.registry
        return _json(
            {
                "nodes": nodes,
                "replication_factor": view.replication_factor,
                "write_quorum": view.write_quorum,
                "virtual_nodes": view.virtual_nodes,
                "config": dict(reg.config.raw) if reg is not None else {},
                "epoch": node.epoch(),
                "registry": node.config.chain.registry,
                "explorer": node.config.chain.explorer,
            }
        )

    async def digest(request: web.Request) -> web.Response:
        """The anti-entropy fingerprint of what this node holds for a key: replicas that
        answer the same ``[count, s1, s2]`` hold the same writes."""
        receiver = request.match_info["receiver"]
        fp = await node.service.store.key_digest(receiver)
        return _json({"receiver": receiver, "fingerprint": fp.to_wire()})

    async def not_found(request: web.Request) -> web.Response:
        raise NotFound(f"no such endpoint {request.path}")

    app.router.add_get("/", index)
    app.router.add_post("/", node.legacy.serve)
    app.router.add_route("OPTIONS", "/", node.legacy.serve)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ws", node.websocket)
    app.router.add_get("/api/messages", messages)
    app.router.add_post("/api/messages", post_message)
    app.router.add_get("/api/objects/{app}/{name}", get_object)
    app.router.add_get("/api/objects/{app}/{name}/changes", object_changes)
    app.router.add_get("/api/schemas/{app}", schemas)
    app.router.add_get("/api/network", network)
    app.router.add_get("/api/digest/{receiver}", digest)
    add_stats_route(app, node)
    add_static_routes(app)
    app.router.add_route("*", "/api/{rest:.*}", not_found)  # JSON errors, not HTML
    app.router.add_route("*", "/api", not_found)
