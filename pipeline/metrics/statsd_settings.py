"""`client.statsd`: the agent's StatsD listener, read once (typed section of Settings).

Present (and not `"enabled": false`) turns the listener on: `bind` (default 127.0.0.1), `port`
(default 8125, UDP; 0 takes a free port), `flush_interval` (seconds, default 10) and `handlers`
(where the flushed `statsd` metric result goes; default `["default"]`, as for a check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.model import is_int, is_number

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 8125
DEFAULT_FLUSH_INTERVAL = 10.0
KEYS = ("enabled", "bind", "port", "flush_interval", "handlers")


@dataclass(frozen=True)
class StatsdSettings:
    """Where the agent listens for StatsD lines and how often it flushes them."""

    bind: str = DEFAULT_BIND
    port: int = DEFAULT_PORT
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    handlers: tuple[str, ...] = ("default",)


def statsd_settings(raw: Any) -> StatsdSettings | None:
    """The listener's settings from the merged JSON; None when off; ConfigErrors naming each wrong key."""
    client = raw.get("client") if isinstance(raw, dict) else None
    section = client.get("statsd") if isinstance(client, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigErrors([ConfigError("client.statsd", "must be an object", section)])
    errors: list[ConfigError] = []
    for key in section:
        if key not in KEYS:
            errors.append(ConfigError(f"client.statsd.{key}", f"is not a StatsD setting (known: {', '.join(KEYS)})"))
    enabled = section.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(ConfigError("client.statsd.enabled", "must be true or false", enabled))
    bind = section.get("bind", DEFAULT_BIND)
    if not isinstance(bind, str) or not bind:
        errors.append(ConfigError("client.statsd.bind", "must be a non-empty string (an address)", bind))
    port = section.get("port", DEFAULT_PORT)
    if not is_int(port) or not 0 <= port <= 65535:
        errors.append(ConfigError("client.statsd.port", "must be an integer UDP port (0-65535)", port))
    interval = section.get("flush_interval", DEFAULT_FLUSH_INTERVAL)
    if not is_number(interval) or interval <= 0:
        errors.append(ConfigError("client.statsd.flush_interval", "must be a number of seconds greater than 0",
                                  interval))
    handlers = section.get("handlers", ["default"])
    if not isinstance(handlers, list) or not all(isinstance(h, str) and h for h in handlers):
        errors.append(ConfigError("client.statsd.handlers", "must be an array of handler names", handlers))
    if errors:
        raise ConfigErrors(errors)
    if enabled is False:
        return None
    return StatsdSettings(bind=bind, port=port, flush_interval=float(interval), handlers=tuple(handlers))
