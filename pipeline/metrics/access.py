"""Who may read `/metrics`, and over what: `metrics.user`/`metrics.password` and `metrics.ssl`.

The same keys as the API's: basic auth when both `user` and `password` are set (compared in
constant time, 401 with a `WWW-Authenticate` challenge otherwise), TLS when `ssl` names a
`cert_file` and `key_file`. A Prometheus scrape job then sets `basic_auth` and `scheme: https`
(docs/prometheus.md).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pipeline.basicauth import authorized
from pipeline.errors import ConfigError
from pipeline.httplimits import HttpLimits

KEYS = frozenset({"user", "password", "ssl"})
REALM = 'Basic realm="ogi metrics"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Access:
    """Basic auth credentials and TLS files of the `/metrics` listener (each None when unset)."""

    user: str | None = None
    password: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    #: Connection cap and read deadlines of the listener (`metrics.max_connections`, ...).
    limits: HttpLimits = field(default_factory=HttpLimits)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context, or None; OSError or ssl.SSLError when the files cannot be loaded."""
        if self.cert_file is None or self.key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def middleware(self) -> Any:
        if self.user is None or self.password is None:
            return None
        user, password = self.user.encode(), self.password.encode()

        @web.middleware
        async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not authorized(request.headers.get("Authorization", ""), user, password):
                return web.Response(status=401, text="ogi /metrics wants credentials (metrics.user)\n",
                                    headers={"WWW-Authenticate": REALM})
            return await handler(request)

        return basic_auth


def access(metrics: dict[str, Any], errors: list[ConfigError]) -> Access:
    """Read the access keys of the `metrics` object, appending what is wrong to `errors`."""
    found: dict[str, str | None] = {}
    for key in ("user", "password"):
        value = metrics.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            errors.append(ConfigError(f"metrics.{key}", "must be a non-empty string", "<redacted>" if key == "password" else value))
            value = None
        found[key] = value
    if (found["user"] is None) != (found["password"] is None):
        errors.append(ConfigError("metrics", "user and password go together: set both for basic auth, or neither"))
    cert_file = key_file = None
    section = metrics.get("ssl")
    if section is not None:
        if not isinstance(section, dict):
            errors.append(ConfigError("metrics.ssl", "must be an object with cert_file and key_file", section))
        else:
            for key in ("cert_file", "key_file"):
                if not isinstance(section.get(key), str) or not section[key]:
                    errors.append(ConfigError(f"metrics.ssl.{key}", "is required: the path of a PEM file", section.get(key)))
            errors += [ConfigError(f"metrics.ssl.{k}", "unknown key (ssl takes cert_file and key_file)")
                       for k in sorted(set(section) - {"cert_file", "key_file"})]
            cert_file, key_file = section.get("cert_file"), section.get("key_file")
    return Access(found["user"], found["password"], cert_file, key_file)
