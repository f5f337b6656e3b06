"""HTTP routes of a supernode: self-description, dashboard, metrics, read APIs.

Invariant: errors are JSON ``{"error": {"code", "message"}}`` with a 4xx status (5xx only
for ``internal``/``unavailable``); read endpoints allow any origin (CORS) because all data
served is public and signed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from flocloud.protocol.errors import BadFormat, FlocloudError, NotFound

if TYPE_CHECKING:
    from .server import Node

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


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BadFormat(f"{name} must be an integer") from None


def add_routes(app: web.Application, node: Node) -> None:
    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except FlocloudError as exc:
            node.service.metrics.rejected[exc.code] += 1
            return _error(exc)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            return _json({"error": {"code": "internal", "message": "internal error"}}, 500)

    app.middlewares.append(errors)

    async def index(request: web.Request) -> web.StreamResponse:
        if node.legacy.claims(request):  # a legacy query or websocket (node/legacy)
            return await node.legacy.serve(request)
        if "application/json" in request.headers.get("Accept", ""):
            return _json(node.service.describe(node.key.address, node.key.pubkey_hex))
        from flocloud.web import dashboard_html

        return web.Response(text=dashboard_html(), content_type="text/html")

    async def healthz(request: web.Request) -> web.Response:
        return _json({"ok": True, "node_id": node.key.address})

    async def metrics(request: web.Request) -> web.Response:
        assert node.store is not None
        st = await node.store.stats()
        text = node.service.metrics.render(st.messages, st.db_bytes, st.commits, st.writes)
        return web.Response(
            text=text,
            content_type="text/plain",
            charset="utf-8",
            headers={"Access-Control-Allow-Origin": "*"},
        )

    async def messages(request: web.Request) -> web.Response:
        q = request.query
        filt: dict[str, Any] = {
            k: q[k]
            for k in ("receiver", "application", "type", "sender", "comment", "order", "kind")
            if k in q
        }
        for k in ("after", "limit", "since", "until"):
            v = _int(q.get(k), k)
            if v is not None:
                filt[k] = v
        if "ids" in q:
            filt["ids"] = q["ids"].split(",")
        if q.get("include_deleted") in ("1", "true"):
            filt["include_deleted"] = True
        return _json(await node.service.query(filt))

    async def post_message(request: web.Request) -> web.Response:
        body = await request.read()
        return _json(await node.service.put(body))

    async def get_object(request: web.Request) -> web.Response:
        m = request.match_info
        return _json(
            await node.service.object_get(
                m["app"], m["name"], _int(request.query.get("version"), "version")
            )
        )

    async def object_changes(request: web.Request) -> web.Response:
        m, q = request.match_info, request.query
        since = _int(q.get("since"), "since") or 0
        return _json(
            await node.service.object_changes(m["app"], m["name"], since, q.get("mode", "patches"))
        )

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
        return _json({"nodes": nodes})

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
    app.router.add_route("*", "/api/{rest:.*}", not_found)  # JSON errors, not HTML
