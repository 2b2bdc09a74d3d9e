"""Bounds for ogi's HTTP listeners (the API and `/metrics`): a connection cap, a header deadline,
a body deadline and an idle keep-alive limit.

aiohttp has knobs for header sizes and keep-alive but none for how long a request's headers may
take: a client sending one header line every 10 s held a connection for ever, and 300 of them
stopped the API. `serve` therefore wraps aiohttp's own protocol: a connection that has not
delivered a complete request head within `header_timeout` of connecting (or of its previous
response) is closed, and past `max_connections` a new connection is closed at once. A request
body must arrive within `body_timeout` (408 otherwise, from `body_deadline`). Only aiohttp's
public API is used (`web.Server` as the protocol factory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pipeline.netlimits import ConnectionCap, Refusals

log = logging.getLogger("ogi.http")

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_KEEPALIVE_TIMEOUT = 15.0
#: Longest request line of the API, in bytes (aiohttp's default is 8190): a 1,024-character stash
#: path of 4-byte characters is 12,288 bytes percent-encoded, and must fit. A longer line is
#: refused by aiohttp itself (400, text/plain).
MAX_REQUEST_LINE = 16384


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one HTTP listener; each a key of its section (`api.max_connections`, ...)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT


KEYS = ("max_connections", "header_timeout", "body_timeout", "keepalive_timeout")


def http_limits(section: dict[str, Any], path: str, errors: list[Any]) -> HttpLimits:
    """The limits set in `section`; a ConfigError appended to `errors` for each wrong one."""
    from pipeline.errors import ConfigError

    found: dict[str, Any] = {}
    for key in KEYS:
        if key not in section:
            continue
        value = section[key]
        integral = key == "max_connections"
        ok = (isinstance(value, int) if integral else isinstance(value, int | float)) and not isinstance(value, bool)
        if not ok or value <= 0:
            kind = "an integer" if integral else "a number of seconds"
            errors.append(ConfigError(f"{path}.{key}", f"must be {kind} greater than 0", value))
            continue
        found[key] = value if integral else float(value)
    return HttpLimits(**found)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the time its pending request head started."""

    def __init__(self, guard: Guard, inner: Any) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None
        self.waiting_since: float | None = None  # a request head is due since then
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if not self.guard.cap.enter():
            self.guard.refusals.refuse("connections", "refusing an HTTP connection: too many open",
                                       listener=self.guard.name, open=self.guard.cap.open)
            transport.abort()  # type: ignore[attr-defined]
            return
        self.admitted = True
        self.waiting_since = asyncio.get_running_loop().time()
        self.guard.open[transport] = self
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.admitted:
            return
        self.admitted = False
        self.guard.cap.leave()
        self.guard.open.pop(self.transport, None)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Guard:
    """The open connections of one HTTP listener and the sweep that enforces the header deadline."""

    def __init__(self, name: str, limits: HttpLimits) -> None:
        self.name = name
        self.limits = limits
        self.cap = ConnectionCap(limits.max_connections)
        self.refusals = Refusals(log)
        self.open: dict[asyncio.BaseTransport | None, _Guarded] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def factory(self, server: web.Server) -> Any:
        return lambda: _Guarded(self, server())

    def started(self, request: web.Request) -> None:
        """A request head arrived: its connection owes none until the response is sent."""
        conn = self.open.get(request.transport)
        if conn is not None:
            conn.waiting_since = None

    def finished(self, request: web.Request) -> None:
        conn = self.open.get(request.transport)
        if conn is not None:
            conn.waiting_since = asyncio.get_running_loop().time()

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name=f"{self.name}-header-deadline")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        interval = min(1.0, self.limits.header_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            cutoff = loop.time() - self.limits.header_timeout
            for transport, conn in list(self.open.items()):
                if conn.waiting_since is not None and conn.waiting_since < cutoff and transport is not None:
                    self.refusals.refuse("header_timeout", "closing an HTTP connection that sent no complete "
                                         "request head in time", listener=self.name,
                                         seconds=self.limits.header_timeout)
                    transport.close()


GUARD = web.AppKey("http_guard", Guard)


def deadlines(guard: Guard) -> Middleware:
    """Marks each request's start and end for the header deadline; reads its body under `body_timeout`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard.started(request)
        try:
            if request.body_exists:
                try:
                    await asyncio.wait_for(request.read(), guard.limits.body_timeout)
                except TimeoutError:
                    guard.refusals.refuse("body_timeout", "a request body did not arrive in time",
                                          listener=guard.name, seconds=guard.limits.body_timeout)
                    response = web.json_response(
                        {"error": f"the request body did not arrive within {guard.limits.body_timeout:g} s"},
                        status=408)
                    response.force_close()
                    return response
            return await handler(request)
        finally:
            guard.finished(request)

    return middleware


async def serve(
    runner: web.AppRunner, guard: Guard, bind: str, port: int, ssl_context: ssl.SSLContext | None
) -> asyncio.AbstractServer:
    """Listen with `runner`'s aiohttp server behind `guard`; close the returned server before `runner.cleanup()`."""
    server = runner.server
    assert server is not None, "runner.setup() first"
    loop = asyncio.get_running_loop()
    listening = await loop.create_server(guard.factory(server), bind, port, ssl=ssl_context, reuse_address=True)
    guard.start()
    return listening


def listening_port(server: asyncio.AbstractServer, default: int) -> int:
    sockets = getattr(server, "sockets", None) or ()
    return int(sockets[0].getsockname()[1]) if sockets else default
