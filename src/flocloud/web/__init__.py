"""flocloud.web: the dashboard page every supernode serves at ``GET /`` (text/html).

Invariant: the page is static (one HTML file, no build step, no third-party scripts); it
reads only public endpoints of the node that serves it (``GET /`` as JSON, ``/metrics``,
``/api/network`` when present) and the public websocket protocol, so it shows exactly what
any client could see.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["dashboard_html"]


def dashboard_html() -> str:
    """The dashboard page."""
    return resources.files(__package__).joinpath("static/dashboard.html").read_text("utf-8")
