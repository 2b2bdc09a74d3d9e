"""The dashboard's page and assets, with headers that keep a browser strict about them.

The page loads only its own scripts and styles (no inline script or style, so the
Content-Security-Policy can forbid both), and may not be framed by another site.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from pipeline import jsoncodec
from pipeline.config.dashboard import LOCAL_SITE, DashboardConfig

STATIC = Path(__file__).resolve().parent / "static"
_ASSET = re.compile(r"^[a-z][a-z0-9_-]*\.(js|css|svg|png)\Z")
_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml", "png": "image/png"}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def guarded(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(HEADERS)
    return response


async def redirect_to_page(request: web.Request) -> web.StreamResponse:
    # Relative, so the page works behind a reverse proxy that adds a path prefix.
    raise web.HTTPPermanentRedirect("ui/")


async def page(request: web.Request) -> web.StreamResponse:
    return guarded(web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html", charset="utf-8"))


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    match = _ASSET.match(name)
    path = STATIC / name
    if match is None or not path.is_file():
        raise web.HTTPNotFound()
    return guarded(web.Response(body=path.read_bytes(), content_type=_TYPES[match.group(1)]))


def ui_settings(config: DashboardConfig) -> bytes:
    """What the page needs to know of the settings (no URL or credential of another site)."""
    source = "graphite" if config.graphite_url else "prometheus" if config.prometheus_url else "ogi"
    return jsoncodec.dumps({
        "refresh": config.refresh,
        "graph_hours": config.graph_hours,
        "graph_source": source,
        "sites": [LOCAL_SITE, *(site.name for site in config.apis)],
    })
