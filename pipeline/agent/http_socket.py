"""The client's HTTP socket (`client.http_socket`, 127.0.0.1:3031), as Sensu 1.x's.

- `GET /info`: this client's name, the Sensu version ogi speaks and what it has published.
- `POST /results`: one check result (or an array) as JSON, validated exactly as on the 3030
  socket (pipeline/agent/socket_input.py `parse_results`); 202 `{"response": "ok"}`, 400
  with the reason for a malformed body, 415 when the body is not sent as `application/json`.
- `GET /settings`: the loaded settings with secrets redacted (the default keys plus
  `client.redact`).

With `user` and `password` set, `/settings` asks for HTTP basic auth, and with
`protect_all_endpoints: true` every endpoint does (Sensu's rules). `"enabled": false` turns the
socket off. Bodies are capped at the server's message size; a port already taken is logged
and the client runs on without the socket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from pipeline import jsoncodec
from pipeline.agent.socket_input import Invalid, parse_results
from pipeline.basicauth import authorized
from pipeline.model import JSON, MAX_MESSAGE_SIZE, Clock, system_clock

log = logging.getLogger("ogi.client.http")

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 3031

Publish = Callable[[JSON], Awaitable[None]]


@dataclass(frozen=True)
class HttpOptions:
    """`client.http_socket` with Sensu's defaults."""

    enabled: bool = True
    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    user: str | None = None
    password: str | None = None
    protect_all_endpoints: bool = False

    @classmethod
    def of(cls, client: JSON) -> HttpOptions:
        raw: Any = client.get("http_socket")
        raw = raw if isinstance(raw, dict) else {}
        text = {k: raw[k] for k in ("user", "password") if isinstance(raw.get(k), str)}
        return cls(enabled=raw.get("enabled", True) is not False, bind=str(raw.get("bind") or DEFAULT_BIND),
                   port=int(raw.get("port", DEFAULT_PORT)), protect_all_endpoints=raw.get("protect_all_endpoints") is True,
                   **text)

    @property
    def auth(self) -> bool:
        return self.user is not None and self.password is not None


def _reply(status: int, body: Any, **headers: str) -> web.Response:
    return web.Response(status=status, body=jsoncodec.dumps(body), content_type="application/json", headers=headers)


class HttpSocket:
    """The listener; `info()` and `settings()` are asked at each request, so a reload shows."""

    def __init__(self, options: HttpOptions, publish: Publish, info: Callable[[], JSON],
                 settings: Callable[[], JSON], clock: Clock = system_clock) -> None:
        self.options = options
        self.publish = publish
        self.info = info
        self.settings = settings
        self.clock = clock
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_MESSAGE_SIZE, middlewares=[self._auth])
        app.router.add_get("/info", self._info)
        app.router.add_post("/results", self._results)
        app.router.add_get("/settings", self._settings)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.options.bind, self.options.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1]) if runner.addresses else self.options.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        options = self.options
        protected = options.auth and (options.protect_all_endpoints or request.path == "/settings")
        if protected and not self._authorized(request.headers.get("Authorization", "")):
            return _reply(401, {"response": "unauthorized"}, **{"WWW-Authenticate": 'Basic realm="Restricted Area"'})
        return await handler(request)

    def _authorized(self, header: str) -> bool:
        return authorized(header, str(self.options.user).encode(), str(self.options.password).encode())

    async def _info(self, request: web.Request) -> web.Response:
        return _reply(200, self.info())

    async def _settings(self, request: web.Request) -> web.Response:
        return _reply(200, self.settings())

    async def _results(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return _reply(415, {"response": "invalid", "reason": "send the result as application/json"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _reply(413, {"response": "invalid", "reason": f"body over {MAX_MESSAGE_SIZE} bytes"})
        try:
            data = jsoncodec.loads(body)
        except (ValueError, RecursionError) as error:
            return _reply(400, {"response": "invalid", "reason": f"body is not JSON: {str(error)[:80]}"})
        try:
            results = parse_results(data, self.clock())
        except Invalid as invalid:
            return _reply(400, {"response": "invalid", "reason": str(invalid)})
        for result in results:
            await self.publish(result)
        return _reply(202, {"response": "ok"})
