"""The Redis store: Sensu 1.x's key layout (pipeline/store/redis_keys.py) on redis.asyncio.

A Sensu 1.x server can be replaced in place: clients, results, history, events, silences,
stashes and aggregates are read and written under Sensu's keys, in Sensu's types and JSON.
Every call goes through a `Batcher`: a result costs one command (a Lua script, atomic as
Sensu's MULTI) that records it and reads back history, last OK and the open event; concurrent
calls share pipelines; a lost connection raises `StoreUnavailable` (redis-py reconnects on
the next call).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from pipeline import jsoncodec
from pipeline.model import HISTORY_LENGTH, JSON, Check, Client, Clock, Event, system_clock
from pipeline.store import redis_keys as keys
from pipeline.store.base import TASK_LOCK_STALE, Recorded, SeriesSample, Store, lock_stamp
from pipeline.store.redis_conn import Batcher, Command, ScriptMissing, connect

log = logging.getLogger("ogi")

#: Keys per MGET, so one huge registry never makes one huge reply.
MGET_SLICE = 1000


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _load(raw: bytes | None, key: str) -> Any:
    """Parsed JSON, or None for a missing key or one that does not hold JSON (logged)."""
    if raw is None:
        return None
    try:
        return jsoncodec.loads(raw)
    except ValueError:
        log.warning("redis key does not hold JSON; ignored", extra={"fields": {"key": key}})
        return None


def _last_ok(check: Check, now: float) -> int:
    # As Sensu: `executed` (now if missing), read back as an integer.
    executed = check.get("executed")
    if isinstance(executed, int | float) and not isinstance(executed, bool):
        try:
            return int(executed)
        except (OverflowError, ValueError):
            pass
    return int(now)


def _int_or_none(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def _expiry(expire: float) -> tuple[str, int]:
    if float(expire).is_integer():
        return "EX", int(expire)
    return "PX", max(1, int(expire * 1000))


def _slices(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), MGET_SLICE):
        yield items[start:start + MGET_SLICE]


class RedisStore(Store):
    """Monitoring state in Redis under Sensu 1.x's keys."""

    def __init__(self, settings: JSON | str | None = None, clock: Clock = system_clock,
                 client: aioredis.Redis | None = None) -> None:
        if client is None:
            client, self.where = connect(settings)
        else:
            self.where = "redis"
        self.client = client
        self.clock = clock
        self.batcher = Batcher(client, self.where)

    async def _run(self, *commands: Command) -> list[Any]:
        return await self.batcher.run(commands)

    async def _eval(self, script: str, names: list[str], args: list[Any]) -> Any:
        """Run a Lua script by its SHA1, loading it first where Redis has not cached it."""
        sha = hashlib.sha1(script.encode("utf-8")).hexdigest()
        command = ("EVALSHA", sha, len(names), *names, *args)
        try:
            (reply,) = await self._run(command)
        except ScriptMissing:
            await self._run(("SCRIPT", "LOAD", script))
            (reply,) = await self._run(command)
        return reply

    async def _members(self, key: str) -> list[str]:
        (found,) = await self._run(("SMEMBERS", key))
        return sorted(_text(member) for member in found)

    async def _mget(self, names: list[str]) -> list[bytes | None]:
        if not names:
            return []
        replies = await self._run(*(("MGET", *part) for part in _slices(names)))
        return [value for reply in replies for value in reply]

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self.client.aclose()

    # -- clients ---------------------------------------------------------------------
    async def get_client(self, name: str) -> Client | None:
        key = keys.client(name)
        (raw,) = await self._run(("GET", key))
        return _load(raw, key)

    async def put_client(self, client: Client) -> None:
        name = str(client["name"])
        await self._run(("SET", keys.client(name), jsoncodec.dumps(client)), ("SADD", keys.CLIENTS, name))

    async def list_clients(self) -> list[Client]:
        names = await self._members(keys.CLIENTS)
        found = await self._mget([keys.client(name) for name in names])
        loaded = (_load(raw, keys.client(name)) for name, raw in zip(names, found, strict=True))
        return [client for client in loaded if isinstance(client, dict)]

    async def delete_client(self, name: str) -> None:
        checks = await self._members(keys.results(name))
        commands: list[Command] = [
            ("SREM", keys.CLIENTS, name),
            ("DEL", keys.client(name), keys.client_signature(name), keys.events(name), keys.results(name)),
            ("HDEL", keys.KEEPALIVES, name),
        ]
        for check in checks:
            commands.append(("DEL", keys.result(name, check), keys.history(name, check), keys.last_ok(name, check)))
            commands.append(("SREM", keys.TTL, keys.member(name, check)))
        await self._run(*commands)

    # -- results ---------------------------------------------------------------------
    async def record_result(self, client: str, check: Check, stored: Check, aggregates: list[str]) -> Recorded:
        name = str(check["name"])
        has_ttl = check.get("ttl") is not None and check.get("ttl") is not False
        last_ok = _last_ok(check, self.clock()) if check.get("status") == 0 else ""
        names = [
            keys.results(client), keys.result(client, name), keys.history(client, name),
            keys.last_ok(client, name), keys.events(client), keys.TTL, keys.AGGREGATES,
            *(keys.aggregate(aggregate) for aggregate in aggregates),
        ]
        args = [name, jsoncodec.dumps(stored), str(check.get("status")), keys.member(client, name),
                "1" if has_ttl else "", last_ok, HISTORY_LENGTH, *aggregates]
        statuses, last, event = await self._eval(keys.RECORD_RESULT, names, args)
        return Recorded(
            history=_text(statuses).split(",") if statuses else [],
            last_ok=_int_or_none(last),
            event=_load(event, f"{keys.events(client)} {name}"),
        )

    async def get_result(self, client: str, check: str) -> Check | None:
        key = keys.result(client, check)
        (raw,) = await self._run(("GET", key))
        return _load(raw, key)

    async def list_results(self, client: str | None = None) -> list[tuple[str, Check]]:
        names = [client] if client is not None else await self._members(keys.CLIENTS)
        if not names:
            return []
        check_sets = await self._run(*(("SMEMBERS", keys.results(name)) for name in names))
        pairs = [(name, check) for name, checks in zip(names, check_sets, strict=True)
                 for check in sorted(_text(c) for c in checks)]
        found = await self._mget([keys.result(name, check) for name, check in pairs])
        listed: list[tuple[str, Check]] = []
        for (name, check), raw in zip(pairs, found, strict=True):
            loaded = _load(raw, keys.result(name, check))
            if isinstance(loaded, dict):
                listed.append((name, loaded))
        return listed

    async def get_history(self, client: str, check: str) -> list[str]:
        (statuses,) = await self._run(("LRANGE", keys.history(client, check), 0, -1))
        return [_text(status) for status in statuses]

    async def delete_result(self, client: str, check: str) -> None:
        await self._run(
            ("SREM", keys.results(client), check),
            ("DEL", keys.result(client, check), keys.history(client, check), keys.last_ok(client, check)),
            ("SREM", keys.TTL, keys.member(client, check)),
        )

    async def list_ttl(self) -> list[str]:
        return await self._members(keys.TTL)

    async def remove_ttl(self, member: str) -> None:
        await self._run(("SREM", keys.TTL, member))

    # -- keepalives ------------------------------------------------------------------
    async def record_keepalive(self, client: Client, received: float) -> None:
        name = str(client["name"])
        await self._run(
            ("SET", keys.client(name), jsoncodec.dumps(client)),
            ("SADD", keys.CLIENTS, name),
            ("HSET", keys.KEEPALIVES, name, repr(float(received))),
        )

    async def keepalive_times(self) -> dict[str, float]:
        (found,) = await self._run(("HGETALL", keys.KEEPALIVES))
        times: dict[str, float] = {}
        for name, raw in found.items():
            try:
                times[_text(name)] = float(raw)
            except ValueError:
                continue
        return times

    # -- metric series ---------------------------------------------------------------
    async def put_series(self, samples: dict[str, SeriesSample]) -> None:
        if not samples:
            return
        fields: list[Any] = []
        for series_id, sample in samples.items():
            fields.extend((series_id, jsoncodec.dumps([sample.value, sample.updated, sample.expires])))
        await self._run(("HSET", keys.SERIES, *fields))

    async def list_series(self) -> dict[str, SeriesSample]:
        (found,) = await self._run(("HGETALL", keys.SERIES))
        now = self.clock()
        live: dict[str, SeriesSample] = {}
        gone: list[bytes] = []
        for field, raw in found.items():
            try:
                value, updated, expires = jsoncodec.loads(raw)
                sample = SeriesSample(float(value), float(updated), float(expires))
            except (ValueError, TypeError):
                sample = None
            if sample is None or sample.expires <= now:
                gone.append(field)
            else:
                live[_text(field)] = sample
        if gone:
            await self._run(("HDEL", keys.SERIES, *gone))
        return live

    # -- events ----------------------------------------------------------------------
    async def get_event(self, client: str, check: str) -> Event | None:
        (raw,) = await self._run(("HGET", keys.events(client), check))
        return _load(raw, f"{keys.events(client)} {check}")

    async def put_event(self, event: Event) -> None:
        client = str(event["client"]["name"])
        await self._run(("HSET", keys.events(client), str(event["check"]["name"]), jsoncodec.dumps(event)))

    async def delete_event(self, client: str, check: str) -> None:
        await self._run(("HDEL", keys.events(client), check))

    async def list_events(self, client: str | None = None) -> list[Event]:
        # As Sensu's API: the events of the registered clients (the `clients` set).
        names = [client] if client is not None else await self._members(keys.CLIENTS)
        if not names:
            return []
        tables = await self._run(*(("HGETALL", keys.events(name)) for name in names))
        listed: list[Event] = []
        for name, table in zip(names, tables, strict=True):
            for check in sorted(table, key=_text):
                loaded = _load(table[check], f"{keys.events(name)} {_text(check)}")
                if isinstance(loaded, dict):
                    listed.append(loaded)
        return listed

    # -- aggregates ------------------------------------------------------------------
    async def list_aggregates(self) -> list[str]:
        return await self._members(keys.AGGREGATES)

    async def aggregate_members(self, name: str) -> list[str]:
        return await self._members(keys.aggregate(name))

    async def delete_aggregate(self, name: str) -> None:
        await self._run(("DEL", keys.aggregate(name)), ("SREM", keys.AGGREGATES, name))

    # -- stashes ---------------------------------------------------------------------
    async def get_stash(self, path: str) -> JSON | None:
        key = keys.stash(path)
        (raw,) = await self._run(("GET", key))
        return _load(raw, key)

    async def put_stash(self, path: str, content: JSON, expire: int | None = None) -> None:
        key = keys.stash(path)
        if expire is not None and expire <= 0:
            await self._run(("DEL", key), ("SREM", keys.STASHES, path))
            return
        expiry = () if expire is None else _expiry(expire)
        await self._run(("SET", key, jsoncodec.dumps(content), *expiry), ("SADD", keys.STASHES, path))

    async def delete_stash(self, path: str) -> None:
        await self._run(("DEL", keys.stash(path)), ("SREM", keys.STASHES, path))

    async def list_stashes(self) -> list[JSON]:
        paths = await self._members(keys.STASHES)
        if not paths:
            return []
        replies = await self._run(*(cmd for path in paths for cmd in (("GET", keys.stash(path)), ("TTL", keys.stash(path)))))
        listed: list[JSON] = []
        gone: list[str] = []
        for i, path in enumerate(paths):
            raw, left = replies[2 * i], replies[2 * i + 1]
            if raw is None:
                gone.append(path)  # expired: Sensu's API drops it from the set when listing
                continue
            content = _load(raw, keys.stash(path))
            if content is not None:
                listed.append({"path": path, "content": content, "expire": int(left) if left >= 0 else -1})
        if gone:
            await self._run(("SREM", keys.STASHES, *gone))
        return listed

    # -- silences --------------------------------------------------------------------
    async def get_silences(self, ids: list[str]) -> list[JSON | None]:
        found = await self._mget([keys.silence(silence_id) for silence_id in ids])
        return [_load(raw, keys.silence(silence_id)) for silence_id, raw in zip(ids, found, strict=True)]

    async def put_silence(self, entry: JSON, expire: int | None = None) -> None:
        key = keys.silence(str(entry["id"]))
        if expire is not None and expire <= 0:
            # As Redis EXPIRE with a non-positive time: the key is gone at once.
            await self._run(("DEL", key), ("SREM", keys.SILENCED, key))
            return
        expiry = () if expire is None else _expiry(expire)
        await self._run(("SET", key, jsoncodec.dumps(entry), *expiry), ("SADD", keys.SILENCED, key))

    async def delete_silence(self, silence_id: str) -> None:
        key = keys.silence(silence_id)
        await self._run(("DEL", key), ("SREM", keys.SILENCED, key))

    async def list_silences(self) -> list[JSON]:
        silence_keys = await self._members(keys.SILENCED)
        found = await self._mget(silence_keys)
        gone = [key for key, raw in zip(silence_keys, found, strict=True) if raw is None]
        if gone:
            await self._run(("SREM", keys.SILENCED, *gone))
        loaded = (_load(raw, key) for key, raw in zip(silence_keys, found, strict=True) if raw is not None)
        return [entry for entry in loaded if isinstance(entry, dict)]

    # -- server tasks and registry ----------------------------------------------------
    async def _task_script(self, script: str, task: str, owner: str, now: float = 0.0) -> bool:
        names = [keys.task_lock(task), keys.task_server(task)]
        return bool(await self._eval(script, names, [owner, lock_stamp(now), lock_stamp(TASK_LOCK_STALE)]))

    async def acquire_task(self, task: str, owner: str, now: float) -> bool:
        return await self._task_script(keys.ACQUIRE_TASK, task, owner, now)

    async def refresh_task(self, task: str, owner: str, now: float) -> bool:
        return await self._task_script(keys.REFRESH_TASK, task, owner, now)

    async def release_task(self, task: str, owner: str) -> None:
        await self._task_script(keys.RELEASE_TASK, task, owner)

    async def task_owner(self, task: str) -> str | None:
        (raw,) = await self._run(("GET", keys.task_server(task)))
        return None if raw is None else _text(raw)

    async def register_server(self, info: JSON, expire: int = 30) -> None:
        server_id = str(info["id"])
        await self._run(("SET", keys.server(server_id), jsoncodec.dumps(info), "EX", int(expire)),
                        ("SADD", keys.SERVERS, server_id))

    async def unregister_server(self, server_id: str) -> None:
        await self._run(("DEL", keys.server(server_id)), ("SREM", keys.SERVERS, server_id))

    async def list_servers(self) -> list[JSON]:
        ids = await self._members(keys.SERVERS)
        found = await self._mget([keys.server(server_id) for server_id in ids])
        gone = [server_id for server_id, raw in zip(ids, found, strict=True) if raw is None]
        if gone:
            await self._run(("SREM", keys.SERVERS, *gone))
        loaded = (_load(raw, keys.server(i)) for i, raw in zip(ids, found, strict=True) if raw is not None)
        return [info for info in loaded if isinstance(info, dict)]
