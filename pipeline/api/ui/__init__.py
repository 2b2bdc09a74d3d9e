"""The web dashboard at `/ui/`, on the API's listener and behind its auth and TLS.

`static.py` serves the page and its plain JS/CSS assets (no build step), `proxy.py` passes the
page's calls to the other APIs of `dashboard.apis`, `graphs.py` gives the charts their points,
and `settings.py` reads the `dashboard` section. The page itself calls the API it is served by.
docs/dashboard.md says how to use it.
"""

from __future__ import annotations

from aiohttp import web

from pipeline.api.ui import proxy, static
from pipeline.api.ui.graphs import graph_handler
from pipeline.config.dashboard import DashboardConfig, dashboard_config, dashboard_config_errors

__all__ = ["DashboardConfig", "add_ui", "dashboard_config", "dashboard_config_errors"]


def add_ui(app: web.Application, config: DashboardConfig) -> None:
    """Add the dashboard's routes to the API application (none when `dashboard.enabled` is false)."""
    if not config.enabled:
        return
    shown = static.ui_settings(config)

    async def ui_settings(_: web.Request) -> web.Response:
        return web.Response(body=shown, content_type="application/json")

    app.cleanup_ctx.append(proxy.session_context)
    app.router.add_get("/ui", static.redirect_to_page)
    app.router.add_get("/ui/", static.page)
    app.router.add_get("/ui/static/{name}", static.asset)
    app.router.add_get("/ui/settings.json", ui_settings)
    app.router.add_get("/ui/graph", graph_handler(config))
    handler = proxy.proxy_handler(config)
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, "/ui/sites/{site}/{path:.*}", handler)
