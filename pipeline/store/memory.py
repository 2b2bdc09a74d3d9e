"""The embedded store: Sensu 1.x's Redis data model in process memory.

It is what `ogi run` uses and the reference the Redis store is tested against, so it keeps the
semantics of Sensu's keys (docs/redis.md "Key layout"): JSON documents stored as text (what goes in is what
a Redis GET would give back, and callers never share state with the store), history trimmed
to 21, `last_ok`, the `ttl` index, aggregate member sets, and silences that expire.
"""

from __future__ import annotations

from typing import Any

from pipeline import jsoncodec
from pipeline.model import HISTORY_LENGTH, JSON, Check, Client, Clock, Event, system_clock
from pipeline.store.base import (
    INVALIDATED,
    TASK_LOCK_STALE,
    Recorded,
    SeriesSample,
    Store,
    last_ok_time,
    lock_stamp,
)


def _dump(value: JSON) -> bytes:
    return jsoncodec.dumps(value)


def _load(text: bytes) -> Any:
    return jsoncodec.loads(text)




def _seconds_left(deadline: float | None, now: float) -> int:
    # As Redis TTL: whole seconds, -1 for a key without expiry.
    return -1 if deadline is None else max(0, int(deadline - now + 0.999))


class MemoryStore(Store):
    """Clients, results, history, events, aggregates and silences in dicts."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._clients: dict[str, bytes] = {}
        # name -> (signature key value, deadline on the injected clock or None)
        self._signatures: dict[str, tuple[str, float | None]] = {}
        # client -> check -> last result / history / last OK / open event
        self._results: dict[str, dict[str, bytes]] = {}
        self._history: dict[str, dict[str, list[str]]] = {}
        self._last_ok: dict[str, dict[str, int]] = {}
        self._events: dict[str, dict[str, bytes]] = {}
        self._ttl: set[str] = set()
        self._keepalives: dict[str, float] = {}
        self._series: dict[str, SeriesSample] = {}
        self._stashes: dict[str, tuple[bytes, float | None]] = {}
        self._aggregates: dict[str, set[str]] = {}
        # id -> (entry JSON, deadline on the injected clock or None)
        self._silences: dict[str, tuple[bytes, float | None]] = {}
        # task -> lock stamp (10^-7 s) / server id; server id -> (entry JSON, deadline)
        self._task_locks: dict[str, int] = {}
        self._task_servers: dict[str, str] = {}
        self._servers: dict[str, tuple[bytes, float]] = {}

    # -- clients ---------------------------------------------------------------------
    async def get_client(self, name: str) -> Client | None:
        text = self._clients.get(name)
        return None if text is None else _load(text)

    async def put_client(self, client: Client) -> None:
        self._clients[str(client["name"])] = _dump(client)

    async def list_clients(self) -> list[Client]:
        return [_load(self._clients[name]) for name in sorted(self._clients)]

    async def delete_client(self, name: str, keep_signature: bool = False) -> None:
        self._clients.pop(name, None)
        if not keep_signature:
            self._signatures.pop(name, None)
        self._events.pop(name, None)
        self._history.pop(name, None)
        self._last_ok.pop(name, None)
        self._keepalives.pop(name, None)
        for check in self._results.pop(name, {}):
            self._ttl.discard(f"{name}:{check}")

    # -- signatures ------------------------------------------------------------------
    async def get_signature(self, name: str) -> str | None:
        found = self._signatures.get(name)
        if found is not None and found[1] is not None and self._clock() >= found[1]:
            del self._signatures[name]
            return None
        return None if found is None else found[0]

    async def claim_signature(self, name: str, signature: str | None) -> str:
        current = await self.get_signature(name)
        if current is None or (current == "" and signature):
            self._signatures[name] = (signature or "", None)
            return signature or ""
        return current

    async def invalidate_client(self, name: str, expire: int | None = None) -> None:
        if expire is not None and expire <= 0:
            self._signatures.pop(name, None)  # as Redis EXPIRE with no time left
            return
        self._signatures[name] = (INVALIDATED, None if expire is None else self._clock() + expire)

    # -- results ---------------------------------------------------------------------
    async def record_result(self, client: str, check: Check, stored: Check, aggregates: list[str]) -> Recorded:
        name = str(check["name"])
        member = f"{client}:{name}"
        # Serialise first: a result that is not JSON must change nothing.
        text = _dump(stored)
        for aggregate in aggregates:
            self._aggregates.setdefault(aggregate, set()).add(member)
        self._results.setdefault(client, {})[name] = text
        if check.get("ttl") is not None and check.get("ttl") is not False:
            self._ttl.add(member)
        histories = self._history.setdefault(client, {})
        history = [*histories.get(name, []), str(check.get("status"))][-HISTORY_LENGTH:]
        histories[name] = history
        oks = self._last_ok.setdefault(client, {})
        if check.get("status") == 0:
            oks[name] = last_ok_time(check, self._clock())
        event = self._events.get(client, {}).get(name)
        return Recorded(history=list(history), last_ok=oks.get(name), event=None if event is None else _load(event))

    async def get_result(self, client: str, check: str) -> Check | None:
        text = self._results.get(client, {}).get(check)
        return None if text is None else _load(text)

    async def list_results(self, client: str | None = None) -> list[tuple[str, Check]]:
        names = [client] if client is not None else sorted(self._results)
        return [
            (name, _load(self._results[name][check]))
            for name in names
            for check in sorted(self._results.get(name, {}))
        ]

    async def get_history(self, client: str, check: str) -> list[str]:
        return list(self._history.get(client, {}).get(check, []))

    async def delete_result(self, client: str, check: str) -> None:
        self._results.get(client, {}).pop(check, None)
        self._history.get(client, {}).pop(check, None)
        self._last_ok.get(client, {}).pop(check, None)
        self._ttl.discard(f"{client}:{check}")

    async def list_ttl(self) -> list[str]:
        return sorted(self._ttl)

    async def remove_ttl(self, member: str) -> None:
        self._ttl.discard(member)

    async def record_keepalive(self, client: Client, received: float) -> None:
        await self.put_client(client)
        self._keepalives[str(client["name"])] = received

    async def keepalive_times(self) -> dict[str, float]:
        return dict(self._keepalives)

    async def put_series(self, samples: dict[str, SeriesSample]) -> None:
        self._series.update(samples)

    async def list_series(self) -> dict[str, SeriesSample]:
        now = self._clock()
        expired = [key for key, sample in self._series.items() if sample.expires <= now]
        for key in expired:
            del self._series[key]
        return dict(self._series)

    # -- events ----------------------------------------------------------------------
    async def get_event(self, client: str, check: str) -> Event | None:
        text = self._events.get(client, {}).get(check)
        return None if text is None else _load(text)

    async def put_event(self, event: Event) -> None:
        client = str(event["client"]["name"])
        self._events.setdefault(client, {})[str(event["check"]["name"])] = _dump(event)

    async def delete_event(self, client: str, check: str) -> None:
        events = self._events.get(client)
        if events is not None:
            events.pop(check, None)
            if not events:
                del self._events[client]

    async def list_events(self, client: str | None = None) -> list[Event]:
        names = [client] if client is not None else sorted(self._events)
        return [_load(text) for name in names for _, text in sorted(self._events.get(name, {}).items())]

    async def list_events_json(self, client: str | None = None) -> list[bytes]:
        names = [client] if client is not None else sorted(self._events)
        return [text for name in names for _, text in sorted(self._events.get(name, {}).items())]

    # -- aggregates ------------------------------------------------------------------
    async def list_aggregates(self) -> list[str]:
        return sorted(self._aggregates)

    async def aggregate_members(self, name: str) -> list[str]:
        return sorted(self._aggregates.get(name, ()))

    # -- silences --------------------------------------------------------------------
    async def delete_aggregate(self, name: str) -> None:
        self._aggregates.pop(name, None)

    # -- stashes ---------------------------------------------------------------------
    def _live_stash(self, path: str, now: float) -> tuple[bytes, float | None] | None:
        found = self._stashes.get(path)
        if found is not None and found[1] is not None and now >= found[1]:
            del self._stashes[path]
            return None
        return found

    async def get_stash(self, path: str) -> JSON | None:
        found = self._live_stash(path, self._clock())
        return None if found is None else _load(found[0])

    async def put_stash(self, path: str, content: JSON, expire: int | None = None) -> None:
        if expire is not None and expire <= 0:
            self._stashes.pop(path, None)
            return
        self._stashes[path] = (_dump(content), None if expire is None else self._clock() + expire)

    async def delete_stash(self, path: str) -> None:
        self._stashes.pop(path, None)

    async def list_stashes(self) -> list[JSON]:
        now = self._clock()
        listed: list[JSON] = []
        for path in sorted(self._stashes):
            found = self._live_stash(path, now)
            if found is not None:
                left = _seconds_left(found[1], now)
                listed.append({"path": path, "content": _load(found[0]), "expire": left})
        return listed

    def _live_silence(self, silence_id: str, now: float, seconds_left: bool = True) -> JSON | None:
        found = self._silences.get(silence_id)
        if found is None:
            return None
        text, deadline = found
        if deadline is not None and now >= deadline:
            del self._silences[silence_id]
            return None
        entry: JSON = _load(text)
        if seconds_left:
            entry["expire"] = _seconds_left(deadline, now)
        return entry

    async def get_silences(self, ids: list[str], seconds_left: bool = True) -> list[JSON | None]:
        now = self._clock()
        return [self._live_silence(silence_id, now, seconds_left) for silence_id in ids]

    async def put_silence(self, entry: JSON, expire: int | None = None) -> None:
        silence_id = str(entry["id"])
        if expire is not None and expire <= 0:
            # As Redis EXPIRE with a non-positive time: the key is gone at once.
            self._silences.pop(silence_id, None)
            return
        deadline = None if expire is None else self._clock() + expire
        self._silences[silence_id] = (_dump(entry), deadline)

    async def delete_silence(self, silence_id: str) -> None:
        self._silences.pop(silence_id, None)

    async def list_silences(self) -> list[JSON]:
        now = self._clock()
        entries = [self._live_silence(silence_id, now) for silence_id in sorted(self._silences)]
        return [entry for entry in entries if entry is not None]

    # -- server tasks and registry ----------------------------------------------------
    async def acquire_task(self, task: str, owner: str, now: float) -> bool:
        stamp = lock_stamp(now)
        current = self._task_locks.get(task)
        stale = current is not None and stamp - current >= lock_stamp(TASK_LOCK_STALE)
        if current is None or self._task_servers.get(task) == owner or stale:
            self._task_locks[task] = stamp
            self._task_servers[task] = owner
            return True
        return False

    async def refresh_task(self, task: str, owner: str, now: float) -> bool:
        if self._task_servers.get(task) != owner:
            return False
        self._task_locks[task] = lock_stamp(now)
        return True

    async def release_task(self, task: str, owner: str) -> None:
        if self._task_servers.get(task) == owner:
            del self._task_servers[task]
            self._task_locks.pop(task, None)

    async def task_owner(self, task: str) -> str | None:
        return self._task_servers.get(task)

    async def register_server(self, info: JSON, expire: int = 30) -> None:
        self._servers[str(info["id"])] = (_dump(info), self._clock() + expire)

    async def unregister_server(self, server_id: str) -> None:
        self._servers.pop(server_id, None)

    async def list_servers(self) -> list[JSON]:
        now = self._clock()
        for server_id in [key for key, (_, deadline) in self._servers.items() if now >= deadline]:
            del self._servers[server_id]
        return [_load(self._servers[server_id][0]) for server_id in sorted(self._servers)]
