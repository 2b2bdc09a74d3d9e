"""Choosing the store from settings: `"store": {"name": "redis"}` or `"memory"`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.model import JSON, Clock, system_clock
from pipeline.store.base import Store

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

STORE_NAMES = ("memory", "redis")


def store_name(settings: JSON, default: str = "memory") -> str:
    """The configured store name; `default` when `store.name` is not set."""
    section = settings.get("store")
    if section is None:
        return default
    if not isinstance(section, dict):
        raise ConfigErrors([ConfigError("store", "must be an object", section)])
    name = section.get("name", default)
    if name not in STORE_NAMES:
        raise ConfigErrors([ConfigError("store.name", f"must be one of {', '.join(STORE_NAMES)}", name)])
    return str(name)


def store_from_settings(settings: Settings, clock: Clock = system_clock, default: str = "memory") -> Store:
    """The store the settings name (`default`: "memory" for `ogi run`, "redis" for `ogi server`).

    The Redis store takes the checked `redis` section (or the URL `REDIS_URL` put in `redis.url`)
    and connects on first use, so building it never blocks.
    """
    if settings.store(default) == "redis":
        from pipeline.store.redis import RedisStore  # redis-py is only imported when used
        from pipeline.store.redis_conn import redis_settings

        return RedisStore(settings.redis if settings.redis is not None else redis_settings(None), clock=clock)
    from pipeline.store.memory import MemoryStore

    return MemoryStore(clock=clock)
