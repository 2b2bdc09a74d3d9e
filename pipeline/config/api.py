"""The `api` settings: where the API listens, who may use it, and its limits.

```json
"api": {"bind": "127.0.0.1", "port": 4567, "user": "admin", "password": "secret",
        "ssl": {"cert_file": "/etc/ogi/api.crt", "key_file": "/etc/ogi/api.key"},
        "max_body_size": 1048576, "close_connections": false,
        "max_connections": 512, "header_timeout": 10, "body_timeout": 30, "keepalive_timeout": 15,
        "hosts": ["monitoring.example.com"],
        "cors": {"Origin": "https://dashboard.example.com"}}
```

`bind` defaults to 127.0.0.1 (Sensu listened on 0.0.0.0). Basic auth applies when both `user`
and `password` are set. `close_connections: true` sends `Connection: close` on every response
as Sensu's server did; by default connections stay open for HTTP/1.1 keep-alive.

Browser safety: no CORS headers are sent unless `cors.Origin` (or `cors.origin`) names the one
origin allowed (Sensu sent `*`); the other CORS keys default to Sensu's values. A request's
`Host` must be the bind address, a loopback name when bound to loopback, or one of `hosts`
(a bind on 0.0.0.0/:: without `hosts` accepts any), which stops DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.httplimits import HttpLimits, http_limits
from pipeline.model import JSON, is_int

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 4567
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_CORS = {
    "Origin": "*",
    "Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Credentials": "true",
    "Headers": "Origin, X-Requested-With, Content-Type, Accept, Authorization",
}


@dataclass(frozen=True)
class ApiConfig:
    """The parsed `api` section."""

    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    user: str | None = None
    password: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    max_body_size: int = DEFAULT_MAX_BODY
    close_connections: bool = False
    cors: dict[str, str] = field(default_factory=dict)  # empty: no CORS headers at all
    limits: HttpLimits = field(default_factory=HttpLimits)
    hosts: tuple[str, ...] = ()

    @property
    def auth(self) -> bool:
        return self.user is not None and self.password is not None

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context, or None; ConfigErrors when the certificate or key cannot be loaded."""
        if self.cert_file is None or self.key_file is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            raise ConfigErrors([ConfigError("api.ssl", f"cannot load the certificate and key: {error}")]) from error
        return context

    @property
    def loopback_only(self) -> bool:
        """Whether the bind address is reachable from this host alone."""
        if self.bind == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.bind).is_loopback
        except ValueError:
            return False  # a host name: assume it resolves beyond loopback


def api_config_errors(settings: JSON) -> list[ConfigError]:
    """Every problem in the `api` section (none when it is absent)."""
    try:
        api_config(settings)
    except ConfigErrors as errors:
        return errors.errors
    return []


def api_config(settings: JSON) -> ApiConfig:
    """Parse the `api` section with defaults; ConfigErrors lists every mistake."""
    api = settings.get("api", {})
    if api is None:
        api = {}
    if not isinstance(api, dict):
        raise ConfigErrors([ConfigError("api", "must be an object", api)])
    errors: list[ConfigError] = []

    def string(key: str, default: str | None) -> str | None:
        value = api.get(key, default)
        if value is not None and (not isinstance(value, str) or not value):
            errors.append(ConfigError(f"api.{key}", "must be a non-empty string", value))
            return default
        return value

    bind = string("bind", DEFAULT_BIND) or DEFAULT_BIND
    user = string("user", None)
    password = string("password", None)
    if (user is None) != (password is None):
        errors.append(ConfigError("api", "user and password go together: set both for basic auth, or neither"))
    port = api.get("port", DEFAULT_PORT)
    if not is_int(port) or not 0 <= port <= 65535:
        errors.append(ConfigError("api.port", "must be an integer port number (1-65535, or 0 for any)", port))
        port = DEFAULT_PORT
    max_body = api.get("max_body_size", DEFAULT_MAX_BODY)
    if not is_int(max_body) or max_body < 1:
        errors.append(ConfigError("api.max_body_size", "must be an integer number of bytes above 0", max_body))
        max_body = DEFAULT_MAX_BODY
    close = api.get("close_connections", False)
    if not isinstance(close, bool):
        errors.append(ConfigError("api.close_connections", "must be true or false", close))
        close = False
    cert_file, key_file = _ssl_files(api.get("ssl"), errors)
    cors = _cors(api.get("cors"), errors)
    limits = http_limits(api, "api", errors)
    hosts = api.get("hosts", [])
    if not (isinstance(hosts, list) and all(isinstance(h, str) and h for h in hosts)):
        errors.append(ConfigError("api.hosts", "must be a list of host names", hosts))
        hosts = []
    if errors:
        raise ConfigErrors(errors)
    return ApiConfig(bind, port, user, password, cert_file, key_file, max_body, close, cors, limits,
                     tuple(h.lower() for h in hosts))


def _cors(given: Any, errors: list[ConfigError]) -> dict[str, str]:
    """The CORS headers to send: none unless an origin is named; keys as Sensu spelled them or lower case."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        errors.append(ConfigError("api.cors", "must be an object", given))
        return {}
    cors: dict[str, str] = {}
    for key, value in given.items():
        name = key.capitalize() if isinstance(key, str) else key
        if name not in DEFAULT_CORS:
            errors.append(ConfigError(f"api.cors.{key}", f"is not one of {', '.join(DEFAULT_CORS)}", value))
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            errors.append(ConfigError(f"api.cors.{key}", "must be a one-line string", value))
        else:
            cors[name] = value
    if not cors:
        return {}
    if "Origin" not in cors:
        errors.append(ConfigError("api.cors.Origin", "is required: the one origin allowed to call the API"))
        return {}
    return {**DEFAULT_CORS, **cors}


def _ssl_files(section: Any, errors: list[ConfigError]) -> tuple[str | None, str | None]:
    if section is None:
        return None, None
    if not isinstance(section, dict):
        errors.append(ConfigError("api.ssl", "must be an object with cert_file and key_file", section))
        return None, None
    files: list[str | None] = []
    for key in ("cert_file", "key_file"):
        value = section.get(key)
        if not isinstance(value, str) or not value:
            errors.append(ConfigError(f"api.ssl.{key}", "is required: the path of a PEM file", value))
            files.append(None)
        else:
            files.append(value)
    if None in files:
        return None, None
    return files[0], files[1]
