"""Connecting to Redis from Sensu-style settings, and the batch that shares pipelines.

Settings take Sensu 1.x's `redis` object (`host`, `port`, `db`, `password`, `tls`/`ssl`,
`sentinels`, `master`) or a URL (`redis.url`, which `REDIS_URL` sets). `Batcher` sends the
commands of the store calls made in one loop turn as one pipeline, so many concurrent results
cost one round trip, and turns connection failures into `StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from pipeline.errors import ConfigError, ConfigErrors
from pipeline.model import JSON
from pipeline.store.base import StoreError, StoreUnavailable
from pipeline.store.redis_wire import Command, exchange

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_MASTER = "mymaster"
#: Seconds to wait for a connection, and for a reply, before the store counts as unavailable.
CONNECT_TIMEOUT = 2.0
REPLY_TIMEOUT = 5.0
#: Pipelines on the wire at once; further calls wait and go together in the next one. One is
#: fastest: each send costs a syscall and a wake-up of Redis, so fewer, larger pipelines win
#: (bench/server.py, 2 cores: about 2,600 results/s against 1,800 with 4 in flight).
MAX_IN_FLIGHT = 1

# Replies that mean "not now" rather than "wrong": a replica after a failover, a loading
# server, a master a sentinel has lost (sensu#1123 crashed on READONLY).
_UNAVAILABLE_REPLIES = ("READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


def _int(value: Any, path: str, errors: list[ConfigError], low: int = 0, high: int = 2**31) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.append(ConfigError(path, f"must be an integer from {low} to {high}", value))
        return None
    return value


def _str(value: Any, path: str, errors: list[ConfigError]) -> str | None:
    if not isinstance(value, str) or not value:
        errors.append(ConfigError(path, "must be a non-empty string", value))
        return None
    return value


def _tls_kwargs(value: Any, errors: list[ConfigError], path: str) -> dict[str, Any]:
    """`tls`/`ssl`: true, or Sensu's object (`cert_chain_file`, `private_key_file`, `verify_peer`)."""
    if value is False or value is None:
        return {}
    if value is True:
        return {"ssl": True}
    if not isinstance(value, dict):
        errors.append(ConfigError(path, "must be true, false or an object", value))
        return {}
    kwargs: dict[str, Any] = {"ssl": True}
    for names, key in (
        (("ca_file", "ca_certs"), "ssl_ca_certs"),
        (("cert_chain_file", "certfile"), "ssl_certfile"),
        (("private_key_file", "keyfile"), "ssl_keyfile"),
    ):
        for name in names:
            if name in value:
                kwargs[key] = _str(value[name], f"{path}.{name}", errors)
    if "verify_peer" in value:
        if not isinstance(value["verify_peer"], bool):
            errors.append(ConfigError(f"{path}.verify_peer", "must be true or false", value["verify_peer"]))
        elif not value["verify_peer"]:
            kwargs["ssl_cert_reqs"] = ssl.CERT_NONE
            kwargs["ssl_check_hostname"] = False
    return kwargs


def _common_kwargs() -> dict[str, Any]:
    # One quick retry reconnects a connection the server dropped (a restart); more would only
    # delay StoreUnavailable while the server is really gone.
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": REPLY_TIMEOUT,
        "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        "health_check_interval": 15,
    }


@dataclass(frozen=True)
class RedisSettings:
    """The checked `redis` settings: a URL, sentinels, or a host and port, plus what they share."""

    kwargs: dict[str, Any]
    db: int = 0
    password: str | None = None
    username: str | None = None
    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = DEFAULT_MASTER
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT


def redis_settings(settings: JSON | str | None) -> RedisSettings:
    """Check the `redis` settings (object or URL) without connecting; ConfigErrors names every
    wrong key (paths under `redis`).

    `url` wins over everything else (it is how `REDIS_URL` overrides a file), then
    `sentinels` over `host`/`port`.
    """
    if settings is None:
        settings = {}
    if isinstance(settings, str):
        settings = {"url": settings}
    if not isinstance(settings, dict):
        raise ConfigErrors([ConfigError("redis", "must be an object or a URL string", settings)])
    errors: list[ConfigError] = []
    kwargs = _common_kwargs()
    db = _int(settings.get("db", 0), "redis.db", errors, 0, 1 << 16)
    password = settings.get("password")
    if password is not None:
        password = _str(password, "redis.password", errors)
    username = settings.get("username")
    if username is not None:
        username = _str(username, "redis.username", errors)
    for name in ("tls", "ssl"):
        if name in settings:
            kwargs.update(_tls_kwargs(settings[name], errors, f"redis.{name}"))
    common = RedisSettings(kwargs, db or 0, password, username)

    url = settings.get("url")
    if url is not None:
        url = _str(url, "redis.url", errors)
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            errors.append(ConfigError("redis.url", "must start with redis://, rediss:// or unix://", url))
        elif url is not None:
            try:
                parse_url(url)
            except ValueError as error:
                errors.append(ConfigError("redis.url", f"is not a Redis URL: {error}", url))
        if errors:
            raise ConfigErrors(errors)
        return replace(common, url=url)

    sentinels = settings.get("sentinels")
    if sentinels is not None:
        hosts: list[tuple[str, int]] = []
        if not isinstance(sentinels, list) or not sentinels:
            errors.append(ConfigError("redis.sentinels", "must be a non-empty array of {host, port}", sentinels))
        else:
            for i, entry in enumerate(sentinels):
                path = f"redis.sentinels[{i}]"
                if not isinstance(entry, dict):
                    errors.append(ConfigError(path, "must be an object with host and port", entry))
                    continue
                host = _str(entry.get("host", DEFAULT_HOST), f"{path}.host", errors)
                port = _int(entry.get("port", DEFAULT_SENTINEL_PORT), f"{path}.port", errors, 1, 65535)
                if host is not None and port is not None:
                    hosts.append((host, port))
        master = _str(settings.get("master", DEFAULT_MASTER), "redis.master", errors)
        if errors:
            raise ConfigErrors(errors)
        return replace(common, sentinels=tuple(hosts), master=str(master))

    host = _str(settings.get("host", DEFAULT_HOST), "redis.host", errors)
    port = _int(settings.get("port", DEFAULT_PORT), "redis.port", errors, 1, 65535)
    if errors:
        raise ConfigErrors(errors)
    return replace(common, host=str(host), port=int(port or DEFAULT_PORT))


def connect(settings: RedisSettings | JSON | str | None) -> tuple[aioredis.Redis, str]:
    """A client for the `redis` settings (checked already, or as `redis_settings` takes them) and
    how to name it in messages.

    Nothing is connected yet: redis-py opens connections on first use.
    """
    found = settings if isinstance(settings, RedisSettings) else redis_settings(settings)
    if found.url is not None:
        client = aioredis.Redis.from_url(found.url, **found.kwargs)
        given = client.connection_pool.connection_kwargs
        described = f"redis {given.get('host', found.url)}:{given.get('port', '')} db {given.get('db', 0)}"
        return client, described
    if found.sentinels:
        sentinel = Sentinel(
            list(found.sentinels),
            sentinel_kwargs={"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": REPLY_TIMEOUT},
            db=found.db, password=found.password, username=found.username, **found.kwargs,
        )
        hosts = ", ".join(f"{h}:{p}" for h, p in found.sentinels)
        return sentinel.master_for(found.master), f"redis master {found.master!r} via sentinels {hosts}"
    client = aioredis.Redis(host=found.host, port=found.port, db=found.db, password=found.password,
                            username=found.username, **found.kwargs)
    return client, f"redis {found.host}:{found.port} db {found.db}"


class ScriptMissing(StoreError):
    """Redis does not have a script cached (a restarted server); load it and ask again."""


def unavailable_reply(error: BaseException) -> bool:
    """Whether a Redis error reply means the server cannot serve now (not a wrong command)."""
    text = str(error)
    return any(text.startswith(word) or f" {word} " in text or f"-{word}" in text for word in _UNAVAILABLE_REPLIES)


def translate(error: BaseException, where: str) -> StoreError:
    """The store's exception for a redis-py one."""
    if isinstance(error, rexc.NoScriptError):
        return ScriptMissing(f"{where} lost a script: {error}")
    if isinstance(error, rexc.ConnectionError | rexc.TimeoutError | OSError | asyncio.TimeoutError):
        return StoreUnavailable(f"{where} is unavailable: {error or type(error).__name__}")
    if isinstance(error, rexc.ReadOnlyError) or (isinstance(error, rexc.ResponseError) and unavailable_reply(error)):
        return StoreUnavailable(f"{where} cannot serve now: {error}")
    return StoreError(f"{where} refused a command: {error}")


class Batcher:
    """Runs the commands of concurrent calls together, one pipeline per batch.

    A call's commands join the batch being gathered; a batch is sent once the calls of the
    current loop turn have joined it, with at most `max_in_flight` pipelines on the wire, so
    a busy server sends fewer, larger pipelines instead of one round trip per result. Each
    call's commands stay contiguous and in order on one connection. The pipeline is not a
    MULTI: what must be atomic (recording a result, task locks) is one Lua script, and
    MULTI's extra replies cost a fifth of the throughput (about 8,000 against 10,000
    results/s at concurrency 100 on a 2-core machine).
    """

    def __init__(self, client: aioredis.Redis, where: str, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.client = client
        self.where = where
        self.max_in_flight = max_in_flight
        self._pending: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]] = []
        self._scheduled = False
        self._in_flight = 0
        #: Pipelines sent and calls they carried (for the benchmark and the tests).
        self.pipelines = 0
        self.calls = 0

    async def run(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to `commands`, in order; raises StoreUnavailable or StoreError."""
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append((commands, future))
        if not self._scheduled and self._in_flight < self.max_in_flight:
            self._scheduled = True
            loop.call_soon(self._flush)
        replies = await future
        for reply in replies:
            if isinstance(reply, Exception):
                raise translate(reply, self.where)
        return replies

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(batch))
        task.add_done_callback(self._sent)

    def _sent(self, _task: asyncio.Future[None]) -> None:
        self._in_flight -= 1
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _send(self, batch: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]]) -> None:
        self.pipelines += 1
        self.calls += len(batch)
        try:
            replies = await exchange(self.client, [c for commands, _ in batch for c in commands], REPLY_TIMEOUT)
        except (TimeoutError, rexc.RedisError, OSError) as error:
            failure = translate(error, self.where)
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        except BaseException as error:  # cancelled at shutdown: nobody may wait forever
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreUnavailable(f"{self.where}: batch interrupted ({error!r})"))
            raise
        start = 0
        for commands, future in batch:
            end = start + len(commands)
            if not future.done():
                future.set_result(replies[start:end])
            start = end
