"""The API application: its routes, middlewares, and the listener.

`build_app(settings, store, transport, clock)` (typed `Settings`) gives the aiohttp application (tests drive it
with aiohttp's TestClient); `start_api(...)` serves it at `api.bind`:`api.port` (127.0.0.1:4567
by default), with TLS when `api.ssl` names a certificate and key, and returns an `ApiRunner`
whose `stop()` closes it. The API is stateless over the Store and the Transport, so several
can run behind a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_middlewares import normalize_path_middleware

from pipeline.api import aggregates, checks, clients, events, results, silenced, stashes, system
from pipeline.api.http import API, Api
from pipeline.api.middleware import basic_auth, body_cap, envelope, host_check, json_bodies, path_hygiene
from pipeline.api.openapi import serve_openapi
from pipeline.api.ui import add_ui
from pipeline.config.api import ApiConfig
from pipeline.httplimits import GUARD, MAX_REQUEST_LINE, Guard, deadlines, listening_port, serve
from pipeline.model import Clock, system_clock
from pipeline.store.base import Store
from pipeline.transport.base import Transport

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: (method, path, handler): every route of the API. GET routes answer HEAD too.
ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/info", system.info),
    ("GET", "/health", system.health),
    ("GET", "/settings", system.settings),
    ("GET", "/openapi.json", serve_openapi),
    ("GET", "/clients", clients.list_clients),
    ("POST", "/clients", clients.create_client),
    ("GET", "/clients/{name}", clients.get_client),
    ("DELETE", "/clients/{name}", clients.delete_client),
    ("GET", "/clients/{name}/history", clients.client_history),
    ("GET", "/checks", checks.list_checks),
    ("GET", "/checks/{name}", checks.get_check),
    ("DELETE", "/checks/{name}", checks.delete_check),
    ("POST", "/request", checks.request_check),
    ("POST", "/resolve", events.resolve),
    ("GET", "/results", results.list_results),
    ("POST", "/results", results.post_result),
    ("GET", "/results/{client}", results.client_results),
    ("GET", "/results/{client}/{check}", results.get_result),
    ("DELETE", "/results/{client}/{check}", results.delete_result),
    ("GET", "/aggregates", aggregates.list_aggregates),
    ("GET", "/aggregates/{name}", aggregates.get_aggregate),
    ("DELETE", "/aggregates/{name}", aggregates.delete_aggregate),
    ("GET", "/aggregates/{name}/clients", aggregates.aggregate_clients),
    ("GET", "/aggregates/{name}/checks", aggregates.aggregate_checks),
    ("GET", "/aggregates/{name}/results/{severity}", aggregates.aggregate_results),
    ("GET", "/stashes", stashes.list_stashes),
    ("POST", "/stashes", stashes.create_stash),
    ("GET", "/stashes/{path:.+}", stashes.get_stash),
    ("POST", "/stashes/{path:.+}", stashes.put_stash),
    ("DELETE", "/stashes/{path:.+}", stashes.delete_stash),
    # Sensu 1.9 also answers `/stash/PATH` (`^/stash(?:es)?/`); sensu-plugin's stash silencing uses it.
    ("GET", "/stash/{path:.+}", stashes.get_stash),
    ("POST", "/stash/{path:.+}", stashes.put_stash),
    ("DELETE", "/stash/{path:.+}", stashes.delete_stash),
    ("GET", "/silenced", silenced.list_silenced),
    ("POST", "/silenced", silenced.create_silence),
    ("GET", "/silenced/ids/{id}", silenced.get_silence),
    ("GET", "/silenced/subscriptions/{subscription}", silenced.subscription_silences),
    ("GET", "/silenced/checks/{check}", silenced.check_silences),
    ("POST", "/silenced/clear", silenced.clear_silence),
]
# `/incidents` is Sensu's other name for `/events`.
for _base in ("/events", "/incidents"):
    ROUTES += [
        ("GET", _base, events.list_events),
        ("GET", _base + "/{client}", events.client_events),
        ("GET", _base + "/{client}/{check}", events.get_event),
        ("DELETE", _base + "/{client}/{check}", events.delete_event),
    ]


def build_app(
    settings: Settings,
    store: Store,
    transport: Transport,
    clock: Clock = system_clock,
    *,
    delete_poll_interval: float = 1.0,
) -> web.Application:
    """The API application over `store` and `transport`, configured by `settings.api` and `settings.dashboard`."""
    config = settings.api
    middlewares: list[Middleware] = [envelope(config)]
    hosts = host_check(config)
    if hosts is not None:
        middlewares.append(hosts)
    if config.auth:
        middlewares.append(basic_auth(config))
    guard = Guard("api", config.limits)
    middlewares += [
        path_hygiene,
        body_cap(config),
        # Sensu's routes allowed a trailing slash: such a path is redirected (308) to the one without.
        normalize_path_middleware(append_slash=False, remove_slash=True,
                                  redirect_class=web.HTTPPermanentRedirect),
        # After the normalizer, which clones the request and cannot once the body is read.
        deadlines(guard),
        json_bodies,
    ]
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body_size)
    api = Api(settings, store, transport, clock, config, delete_poll_interval)
    app[API] = api
    app[GUARD] = guard
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)  # HEAD too
        else:
            app.router.add_route(method, path, handler)
    add_ui(app, settings.dashboard)  # the dashboard at /ui/ (pipeline/api/ui/)

    async def cancel_background(_: web.Application) -> None:
        for task in list(api.tasks):
            task.cancel()
        await api.drain()

    app.on_shutdown.append(cancel_background)
    return app


@dataclass
class ApiRunner:
    """A running API listener; `stop()` closes it."""

    app: web.Application
    runner: web.AppRunner
    config: ApiConfig
    port: int
    server: asyncio.AbstractServer | None = None
    guard: Guard | None = None

    @property
    def url(self) -> str:
        bind = self.config.bind
        host = f"[{bind}]" if ":" in bind else bind
        return f"{'https' if self.config.tls else 'http'}://{host}:{self.port}"

    async def reload(self, settings: Settings) -> None:
        """Answer from `settings` (checks, /settings, /info) from now on; the listener and its `api` options stay."""
        self.app[API].settings = settings

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.guard is not None:
            await self.guard.stop()
        await self.runner.cleanup()


async def start_api(settings: Settings, store: Store, transport: Transport, clock: Clock = system_clock) -> ApiRunner:
    """Serve the API at the `api` section's address (port 0 picks a free one)."""
    config = settings.api
    ssl_context = config.ssl_context()
    app = build_app(settings, store, transport, clock)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, max_line_size=MAX_REQUEST_LINE,
                           keepalive_timeout=config.limits.keepalive_timeout)
    await runner.setup()
    guard = app[GUARD]
    try:
        server = await serve(runner, guard, config.bind, config.port, ssl_context)
    except OSError:
        await runner.cleanup()
        raise
    port = listening_port(server, config.port)
    # Publishing would connect the transport only at the first request that publishes: until
    # then /health said "not connected to the transport" of a broker it had never tried.
    transport.connect_soon()
    fields = {"bind": config.bind, "port": port, "tls": config.tls, "auth": config.auth}
    log.info("api listening", extra={"fields": fields})
    if not config.loopback_only and not config.auth:
        log.warning("the API listens beyond loopback without authentication: anyone who can reach "
                    "it can read settings, delete clients and silence checks; set api.user and api.password",
                    extra={"fields": fields})
    return ApiRunner(app, runner, config, port, server, guard)
