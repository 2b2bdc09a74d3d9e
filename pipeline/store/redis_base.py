"""The Redis store's plumbing, and the keys the API and the servers share besides monitoring state.

`RedisBase` sends every command through a `Batcher` (pipelines shared by concurrent calls, Lua
scripts by SHA1) and keeps Sensu 1.x's stashes, silences, task locks and server registry;
`pipeline/store/redis.py` adds clients, results, keepalives, events and aggregates.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from pipeline import jsoncodec
from pipeline.model import JSON, Clock, system_clock
from pipeline.store import redis_keys as keys
from pipeline.store.base import TASK_LOCK_STALE, Store, lock_stamp
from pipeline.store.redis_conn import Batcher, Command, RedisSettings, ScriptMissing, connect

log = logging.getLogger("ogi")

#: Keys per MGET, so one huge registry never makes one huge reply.
MGET_SLICE = 1000
#: SHA1 of each Lua script, as EVALSHA names it.
_SHAS: dict[str, str] = {}


def as_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def load_json(raw: bytes | None, key: str) -> Any:
    """Parsed JSON, or None for a missing key or one that does not hold JSON (logged)."""
    if raw is None:
        return None
    try:
        return jsoncodec.loads(raw)
    except ValueError:
        log.warning("redis key does not hold JSON; ignored", extra={"fields": {"key": key}})
        return None


def expiry_args(expire: float) -> tuple[str, int]:
    if float(expire).is_integer():
        return "EX", int(expire)
    return "PX", max(1, int(expire * 1000))


def _slices(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), MGET_SLICE):
        yield items[start:start + MGET_SLICE]


class RedisBase(Store):
    """Batched commands and scripts, stashes, silences, task locks and the server registry."""

    def __init__(self, settings: RedisSettings | JSON | str | None = None, clock: Clock = system_clock,
                 client: aioredis.Redis | None = None) -> None:
        if client is None:
            client, self.where = connect(settings)
        else:
            self.where = "redis"
        self.client = client
        self.clock = clock
        self.batcher = Batcher(client, self.where)
        #: Why the last `ping` failed; None once it answers.
        self.last_error: str | None = None

    async def _run(self, *commands: Command) -> list[Any]:
        return await self.batcher.run(commands)

    async def _eval(self, script: str, names: list[str], args: list[Any]) -> Any:
        """Run a Lua script by its SHA1, loading it first where Redis has not cached it."""
        sha = _SHAS.get(script)
        if sha is None:
            sha = _SHAS[script] = hashlib.sha1(script.encode("utf-8")).hexdigest()
        command = ("EVALSHA", sha, len(names), *names, *args)
        run = self.batcher.run
        try:
            (reply,) = await run((command,))
        except ScriptMissing:
            await run((("SCRIPT", "LOAD", script),))
            (reply,) = await run((command,))
        return reply

    async def _members(self, key: str) -> list[str]:
        (found,) = await self._run(("SMEMBERS", key))
        return sorted(as_text(member) for member in found)

    async def _mget(self, names: list[str]) -> list[bytes | None]:
        if not names:
            return []
        replies = await self._run(*(("MGET", *part) for part in _slices(names)))
        return [value for reply in replies for value in reply]

    async def ping(self) -> bool:
        try:
            answered = bool(await self.client.ping())
        except Exception as error:
            self.last_error = str(error) or repr(error)  # shown by /info and `ogi status`
            return False
        self.last_error = None
        return answered

    async def close(self) -> None:
        await self.client.aclose()
    async def _put_listed(self, key: str, value: JSON, expire: int | None, listing: str, member: str) -> None:
        """SET `key` to `value` (expiring after `expire` s) and add `member` to the `listing` set.

        As Redis EXPIRE with a non-positive time, `expire` <= 0 removes the key (and the member).
        """
        if expire is not None and expire <= 0:
            await self._run(("DEL", key), ("SREM", listing, member))
            return
        expiry = () if expire is None else expiry_args(expire)
        await self._run(("SET", key, jsoncodec.dumps(value), *expiry), ("SADD", listing, member))

    # -- stashes ---------------------------------------------------------------------
    async def get_stash(self, path: str) -> JSON | None:
        key = keys.stash(path)
        (raw,) = await self._run(("GET", key))
        return load_json(raw, key)

    async def put_stash(self, path: str, content: JSON, expire: int | None = None) -> None:
        await self._put_listed(keys.stash(path), content, expire, keys.STASHES, path)

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
            content = load_json(raw, keys.stash(path))
            if content is not None:
                listed.append({"path": path, "content": content, "expire": int(left) if left >= 0 else -1})
        if gone:
            await self._run(("SREM", keys.STASHES, *gone))
        return listed

    # -- silences --------------------------------------------------------------------
    async def _with_seconds_left(self, silence_keys: list[str], found: list[bytes | None]) -> list[JSON | None]:
        """Parsed entries with `expire` set from their keys' TTL (one more round trip, only when any was found)."""
        entries: list[JSON | None] = []
        for key, raw in zip(silence_keys, found, strict=True):
            entry = load_json(raw, key)
            entries.append(entry if isinstance(entry, dict) else None)
        live = [i for i, entry in enumerate(entries) if entry is not None]
        if live:
            ttls = await self._run(*(("TTL", silence_keys[i]) for i in live))
            for i, left in zip(live, ttls, strict=True):
                entry = entries[i]
                if entry is not None:
                    # -2: expired between the two calls; show it as ending now.
                    entry["expire"] = int(left) if left >= 0 else (-1 if left == -1 else 0)
        return entries

    async def get_silences(self, ids: list[str], seconds_left: bool = True) -> list[JSON | None]:
        silence_keys = [keys.silence(silence_id) for silence_id in ids]
        found = await self._mget(silence_keys)
        if seconds_left:
            return await self._with_seconds_left(silence_keys, found)
        return [load_json(raw, key) for key, raw in zip(silence_keys, found, strict=True)]

    async def put_silence(self, entry: JSON, expire: int | None = None) -> None:
        key = keys.silence(str(entry["id"]))
        await self._put_listed(key, entry, expire, keys.SILENCED, key)

    async def delete_silence(self, silence_id: str) -> None:
        key = keys.silence(silence_id)
        await self._run(("DEL", key), ("SREM", keys.SILENCED, key))

    async def list_silences(self) -> list[JSON]:
        silence_keys = await self._members(keys.SILENCED)
        found = await self._mget(silence_keys)
        gone = [key for key, raw in zip(silence_keys, found, strict=True) if raw is None]
        if gone:
            await self._run(("SREM", keys.SILENCED, *gone))
        return [entry for entry in await self._with_seconds_left(silence_keys, found) if entry is not None]

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
        return None if raw is None else as_text(raw)

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
        loaded = (load_json(raw, keys.server(i)) for i, raw in zip(ids, found, strict=True) if raw is not None)
        return [info for info in loaded if isinstance(info, dict)]
