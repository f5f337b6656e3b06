"""HTTP face of flocloud.web: CORS for every route, and the static files every supernode
serves (the browser client ``/flocloud.js``, its types, the demo app).

Invariants: every response carries ``Access-Control-Allow-Origin: *`` and every
``OPTIONS`` preflight is answered (204) before routing, writes included: everything a
node serves is public and every write is signed, so no origin needs to be trusted. The
files served are the ones committed in ``static/`` (no build step at run time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

__all__ = ["CORS_HEADERS", "add_static_routes", "cors_middleware", "static_bytes"]

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Max-Age": "600",
}
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def cors_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.method == "OPTIONS":
        asked = request.headers.get("Access-Control-Request-Headers", "Content-Type")
        return web.Response(
            status=204, headers={**CORS_HEADERS, "Access-Control-Allow-Headers": asked}
        )
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(CORS_HEADERS)
        raise
    if not response.prepared:  # a websocket upgrade is already sent
        response.headers.update(CORS_HEADERS)
    return response


def static_bytes(name: str) -> bytes:
    """A committed file of ``flocloud/web`` (e.g. ``static/flocloud.js``)."""
    return resources.files(__package__).joinpath(name).read_bytes()


_FILES = {
    "/flocloud.js": ("static/flocloud.js", "text/javascript"),
    "/flocloud.d.ts": ("flocloud.d.ts", "text/plain"),
    "/demo/": ("static/demo.html", "text/html"),
}


def add_static_routes(app: web.Application) -> None:
    """``GET /flocloud.js``, ``/flocloud.d.ts`` and the demo app at ``/demo/``."""

    def serve(path: str, ctype: str) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=static_bytes(path),
                content_type=ctype,
                charset="utf-8",
                headers={"Cache-Control": "no-cache"},
            )

        return handler

    for route, (path, ctype) in _FILES.items():
        app.router.add_get(route, serve(path, ctype))

    async def demo_redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/demo/")

    app.router.add_get("/demo", demo_redirect)

    async def no_icon(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)  # pages carry their icon inline

    app.router.add_get("/favicon.ico", no_icon)
