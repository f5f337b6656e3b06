"""flocloud.web: what a supernode serves to browsers.

- ``static/flocloud.js``: the browser client, bundled from ``js/`` by ``scripts/build-web``
  and committed (no build step at run time; ``bundle.py`` checks it matches its sources);
- ``static/dashboard.html`` at ``GET /``, ``static/demo.html`` at ``GET /demo/``;
- ``routes.py``: CORS for every route and the static routes.

Invariant: the pages are static files with no third-party scripts and no external
network; they use only ``/flocloud.js`` and public endpoints (``GET /`` as JSON,
``/api/network``, ``/api/stats``, the websocket protocol, the chain explorer the node
names), so they show exactly what any client could see.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["dashboard_html"]


def dashboard_html() -> str:
    """The dashboard page."""
    return resources.files(__package__).joinpath("static/dashboard.html").read_text("utf-8")
