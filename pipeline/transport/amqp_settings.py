"""RabbitMQ settings in Sensu 1.x's form, turned into broker URLs for aio-pika.

`rabbitmq` is one broker object, an array of them (tried in shuffled order, as Sensu does),
or a URL string. A broker object takes `host`, `port`, `vhost`, `user`, `password`,
`heartbeat`, `prefetch` and `ssl` ({`cert_chain_file`, `private_key_file`}, plus ogi's
`ca_file` and `verify_peer`), or a `url` that wins over the separate keys; `RABBITMQ_URL`
arrives as `rabbitmq.url` (pipeline/config/load.py). ogi's own knobs sit beside `name` in
`transport`: `buffer_limit`, `max_attempts`, `reconnect_interval`.

Everything is parsed without I/O, so the config checker can report mistakes; certificate
files are read only when a connection opens.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.model import JSON, is_int

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5672
DEFAULT_VHOST = "/"
DEFAULT_USER = "guest"
DEFAULT_PASSWORD = "guest"
#: Sensu's prefetch of 1 halves throughput; 100 keeps the broker streaming while results are processed.
DEFAULT_PREFETCH = 100
#: Messages kept while disconnected before the oldest are dropped (and counted).
DEFAULT_BUFFER_LIMIT = 10_000
#: Processing attempts before a failing message is dead-lettered to `<queue>.failed`.
DEFAULT_MAX_ATTEMPTS = 5
#: Seconds between reconnect attempts (Sensu backs off from 2 s to 20 s).
DEFAULT_RECONNECT_INTERVAL = 2.0


@dataclass(frozen=True)
class Broker:
    """One broker: the URL aio-pika connects with, and a password-free label for logs."""

    url: str
    label: str


@dataclass(frozen=True)
class AmqpSettings:
    """Everything RabbitMQTransport needs, parsed and checked."""

    brokers: tuple[Broker, ...] = field(default_factory=lambda: (broker_from_object({}, "rabbitmq"),))
    prefetch: int = DEFAULT_PREFETCH
    buffer_limit: int = DEFAULT_BUFFER_LIMIT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    reconnect_interval: float = DEFAULT_RECONNECT_INTERVAL


def _int(value: Any, path: str, errors: list[ConfigError], low: int, high: int) -> int | None:
    if not is_int(value) or not low <= value <= high:
        errors.append(ConfigError(path, f"must be an integer from {low} to {high}", value))
        return None
    return int(value)


def _str(value: Any, path: str, errors: list[ConfigError], empty_ok: bool = False) -> str | None:
    if not isinstance(value, str) or (not value and not empty_ok):
        errors.append(ConfigError(path, "must be a non-empty string", value))
        return None
    return value


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def broker_from_url(url: str, path: str, errors: list[ConfigError] | None = None) -> Broker:
    """A broker from an `amqp://` or `amqps://` URL (Sensu's `RABBITMQ_URL`)."""
    errors = errors if errors is not None else []
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        errors.append(ConfigError(path, f"is not a valid URL: {exc}", url))
        return Broker(url, url)
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        errors.append(ConfigError(path, "must be an amqp:// or amqps:// URL with a host", url))
    netloc = parts.hostname or ""
    label = f"{parts.scheme}://{_url_host(netloc)}:{parts.port or (5671 if parts.scheme == 'amqps' else 5672)}"
    label += parts.path or "/"
    return Broker(url, label)


def broker_from_object(broker: dict[str, Any], path: str, errors: list[ConfigError] | None = None) -> Broker:
    """A broker from Sensu's object form; `url` wins over the separate keys."""
    errors = errors if errors is not None else []
    if "url" in broker:
        url = _str(broker["url"], f"{path}.url", errors)
        return broker_from_url(url, f"{path}.url", errors) if url else Broker("", "")
    host = _str(broker.get("host", DEFAULT_HOST), f"{path}.host", errors) or DEFAULT_HOST
    port = _int(broker.get("port", DEFAULT_PORT), f"{path}.port", errors, 1, 65535) or DEFAULT_PORT
    vhost = _str(broker.get("vhost", DEFAULT_VHOST), f"{path}.vhost", errors) or DEFAULT_VHOST
    user = _str(broker.get("user", DEFAULT_USER), f"{path}.user", errors) or DEFAULT_USER
    password = _str(broker.get("password", DEFAULT_PASSWORD), f"{path}.password", errors, empty_ok=True)
    query: dict[str, str] = {}
    if "heartbeat" in broker:
        heartbeat = _int(broker["heartbeat"], f"{path}.heartbeat", errors, 0, 65535)
        if heartbeat is not None:
            query["heartbeat"] = str(heartbeat)
    scheme = "amqp"
    tls = broker.get("ssl", broker.get("tls"))
    if tls not in (None, False):
        scheme = "amqps"
        query.update(_tls_query(tls, f"{path}.ssl", errors))
    url = (
        f"{scheme}://{quote(user, safe='')}:{quote(password or '', safe='')}@{_url_host(host)}:{port}"
        f"/{quote(vhost, safe='')}"
    )
    if query:
        url += "?" + urlencode(query)
    return Broker(url, f"{scheme}://{_url_host(host)}:{port}/{quote(vhost, safe='')}")


def _tls_query(tls: Any, path: str, errors: list[ConfigError]) -> dict[str, str]:
    """Sensu's `ssl` object as aiormq's URL parameters (certificates are read at connect time)."""
    if tls is True:
        return {}
    if not isinstance(tls, dict):
        errors.append(ConfigError(path, "must be true, false or an object", tls))
        return {}
    query: dict[str, str] = {}
    for key, param in (("cert_chain_file", "certfile"), ("private_key_file", "keyfile"), ("ca_file", "cafile")):
        if key in tls:
            value = _str(tls[key], f"{path}.{key}", errors)
            if value:
                query[param] = value
    if ("certfile" in query) != ("keyfile" in query):
        errors.append(ConfigError(path, "cert_chain_file and private_key_file come in pairs: set both or neither"))
    if "verify_peer" in tls:
        if not isinstance(tls["verify_peer"], bool):
            errors.append(ConfigError(f"{path}.verify_peer", "must be true or false", tls["verify_peer"]))
        elif not tls["verify_peer"]:
            query["no_verify_ssl"] = "1"
    return query


def _knob(section: dict[str, Any], key: str, errors: list[ConfigError], default: Any, low: float, high: float,
          integer: bool = True) -> Any:
    if key not in section:
        return default
    value = section[key]
    ok = is_int(value) if integer else isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        errors.append(ConfigError(f"transport.{key}", f"must be {kind} from {low:g} to {high:g}", value))
        return default
    return value


def amqp_settings(settings: JSON, shuffle: Callable[[list[Broker]], None] = random.shuffle) -> AmqpSettings:
    """Parse `rabbitmq` (object, array or URL string) and ogi's `transport` knobs; ConfigErrors lists every mistake."""
    errors: list[ConfigError] = []
    raw = settings.get("rabbitmq", {})
    entries: list[tuple[dict[str, Any], str]] = []
    brokers: list[Broker] = []
    if isinstance(raw, str):
        brokers.append(broker_from_url(raw, "rabbitmq", errors))
    elif isinstance(raw, dict):
        entries.append((raw, "rabbitmq"))
    elif isinstance(raw, list) and raw:
        for i, item in enumerate(raw):
            if isinstance(item, dict):
                entries.append((item, f"rabbitmq[{i}]"))
            elif isinstance(item, str):
                brokers.append(broker_from_url(item, f"rabbitmq[{i}]", errors))
            else:
                errors.append(ConfigError(f"rabbitmq[{i}]", "must be an object (a broker) or a URL", item))
    else:
        errors.append(ConfigError("rabbitmq", "must be an object, a non-empty array of brokers or a URL", raw))
    prefetch: int | None = None
    for entry, path in entries:
        brokers.append(broker_from_object(entry, path, errors))
        if "prefetch" in entry:
            value = _int(entry["prefetch"], f"{path}.prefetch", errors, 1, 65535)
            if prefetch is None:  # the first broker that sets it decides: prefetch is per consumer, not per broker
                prefetch = value
    transport = settings.get("transport")
    section = transport if isinstance(transport, dict) else {}
    buffer_limit = _knob(section, "buffer_limit", errors, DEFAULT_BUFFER_LIMIT, 0, 10_000_000)
    max_attempts = _knob(section, "max_attempts", errors, DEFAULT_MAX_ATTEMPTS, 1, 1000)
    reconnect = _knob(section, "reconnect_interval", errors, DEFAULT_RECONNECT_INTERVAL, 0.1, 300, integer=False)
    if errors:
        raise ConfigErrors(errors)
    shuffle(brokers)
    return AmqpSettings(
        brokers=tuple(brokers),
        prefetch=prefetch or DEFAULT_PREFETCH,
        buffer_limit=buffer_limit,
        max_attempts=max_attempts,
        reconnect_interval=float(reconnect),
    )
