"""The Redis store: Sensu 1.x's key layout (pipeline/store/redis_keys.py) on redis.asyncio.

A Sensu 1.x server can be replaced in place: clients, results, history, events, silences,
stashes and aggregates are read and written under Sensu's keys, in Sensu's types and JSON.
Every call goes through a `Batcher`: a result costs one command (a Lua script, atomic as
Sensu's MULTI) that records it and reads back history, last OK and the open event; concurrent
calls share pipelines; a lost connection raises `StoreUnavailable` (redis-py reconnects on
the next call). The plumbing, stashes, silences, task locks and the server registry are in
`pipeline/store/redis_base.py`.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline import jsoncodec
from pipeline.model import Check, Client, Event
from pipeline.store import redis_keys as keys
from pipeline.store.base import (
    COUNTER,
    GAUGE,
    INVALIDATED,
    Checked,
    Recorded,
    SeriesSample,
    is_proxy,
    last_ok_time,
    signature_refusal,
)
from pipeline.store.redis_base import RedisBase, as_text, expiry_args, load_json
from pipeline.store.redis_conn import Command

log = logging.getLogger("ogi")


def _int_or_none(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def _recorded(client: str, check: str, statuses: bytes | None, last: bytes | None, event: bytes | None) -> Recorded:
    return Recorded(
        statuses.decode("utf-8", "replace").split(",") if statuses else [],
        _int_or_none(last),
        None if event is None else load_json(event, f"{keys.events(client)} {check}"),
    )


class RedisStore(RedisBase):
    """Monitoring state in Redis under Sensu 1.x's keys."""

    # -- clients ---------------------------------------------------------------------
    async def get_client(self, name: str) -> Client | None:
        key = keys.client(name)
        (raw,) = await self._run(("GET", key))
        return load_json(raw, key)

    async def put_client(self, client: Client) -> None:
        name = str(client["name"])
        await self._run(("SET", keys.client(name), jsoncodec.dumps(client)), ("SADD", keys.CLIENTS, name))

    async def list_clients(self) -> list[Client]:
        names = await self._members(keys.CLIENTS)
        found = await self._mget([keys.client(name) for name in names])
        loaded = (load_json(raw, keys.client(name)) for name, raw in zip(names, found, strict=True))
        return [client for client in loaded if isinstance(client, dict)]

    async def delete_client(self, name: str, keep_signature: bool = False) -> None:
        checks = await self._members(keys.results(name))
        signature = () if keep_signature else (keys.client_signature(name),)
        commands: list[Command] = [
            ("SREM", keys.CLIENTS, name),
            ("DEL", keys.client(name), *signature, keys.events(name), keys.results(name)),
            ("HDEL", keys.KEEPALIVES, name),
        ]
        for check in checks:
            commands.append(("DEL", keys.result(name, check), keys.history(name, check), keys.last_ok(name, check)))
            commands.append(("SREM", keys.TTL, keys.member(name, check)))
        await self._run(*commands)

    async def lookup_client(self, name: str) -> tuple[Client | None, str | None]:
        key = keys.client(name)
        ((raw, signature),) = await self._run(("MGET", key, keys.client_signature(name)))
        return load_json(raw, key), None if signature is None else as_text(signature)

    # -- signatures ------------------------------------------------------------------
    async def get_signature(self, name: str) -> str | None:
        (raw,) = await self._run(("GET", keys.client_signature(name)))
        return None if raw is None else as_text(raw)

    async def claim_signature(self, name: str, signature: str | None) -> str:
        return as_text(await self._eval(keys.CLAIM_SIGNATURE, [keys.client_signature(name)], [signature or ""]))

    async def invalidate_client(self, name: str, expire: int | None = None) -> None:
        key = keys.client_signature(name)
        if expire is not None and expire <= 0:
            await self._run(("DEL", key))
            return
        expiry = () if expire is None else expiry_args(expire)
        await self._run(("SET", key, INVALIDATED, *expiry))

    async def _client_names(self, client: str | None) -> list[str]:
        """`[client]`, or every registered client (the `clients` set), as Sensu's API lists."""
        return [client] if client is not None else await self._members(keys.CLIENTS)

    # -- results ---------------------------------------------------------------------
    async def record_result(self, client: str, check: Check, stored: Check, aggregates: list[str]) -> Recorded:
        statuses, last, event = await self._eval(keys.RECORD_RESULT, [], self._record_args(client, check, stored, aggregates))
        return _recorded(client, str(check["name"]), statuses, last, event)

    def _record_args(self, client: str, check: Check, stored: Check, aggregates: list[str]) -> list[Any]:
        ttl = check.get("ttl")
        status = check.get("status")
        last_ok = last_ok_time(check, self.clock()) if status == 0 else ""
        return [client, str(check["name"]), jsoncodec.dumps(stored), str(status),
                "" if ttl is None or ttl is False else "1", last_ok, *aggregates]

    async def record_checked(
        self, name: str, sent_signature: Any, check: Check, stored: Check, aggregates: list[str],
        proxy_stored: Check | None = None, source_given: bool = False,
    ) -> Checked:
        if sent_signature is None:
            signed = ""
        elif isinstance(sent_signature, str):
            signed = "s" + sent_signature
        else:
            # Lua compares strings only; any other JSON value takes the two-step path.
            return await super().record_checked(
                name, sent_signature, check, stored, aggregates, proxy_stored, source_given)
        reply = await self._eval(
            keys.RECORD_CHECKED, [],
            [signed, "1" if source_given else "", "" if proxy_stored is None else jsoncodec.dumps(proxy_stored),
             *self._record_args(name, check, stored, aggregates)],
        )
        raw = reply[1]
        client = None
        if raw is not None:
            found = load_json(raw, keys.client(name))
            client = found if isinstance(found, dict) else None
        if not reply[0]:
            key = None if reply[2] is None else as_text(reply[2])
            return Checked(client, signature_refusal(client, key, sent_signature) or "signature refused")
        return Checked(client, None, _recorded(name, str(check["name"]), *reply[3:6]), is_proxy(client, source_given))

    async def get_result(self, client: str, check: str) -> Check | None:
        key = keys.result(client, check)
        (raw,) = await self._run(("GET", key))
        return load_json(raw, key)

    async def list_results(self, client: str | None = None) -> list[tuple[str, Check]]:
        names = await self._client_names(client)
        if not names:
            return []
        check_sets = await self._run(*(("SMEMBERS", keys.results(name)) for name in names))
        pairs = [(name, check) for name, checks in zip(names, check_sets, strict=True)
                 for check in sorted(as_text(c) for c in checks)]
        found = await self._mget([keys.result(name, check) for name, check in pairs])
        listed: list[tuple[str, Check]] = []
        for (name, check), raw in zip(pairs, found, strict=True):
            loaded = load_json(raw, keys.result(name, check))
            if isinstance(loaded, dict):
                listed.append((name, loaded))
        return listed

    async def get_history(self, client: str, check: str) -> list[str]:
        (statuses,) = await self._run(("LRANGE", keys.history(client, check), 0, -1))
        return [as_text(status) for status in statuses]

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
                times[as_text(name)] = float(raw)
            except ValueError:
                continue
        return times

    # -- metric series ---------------------------------------------------------------
    async def put_series(self, samples: dict[str, SeriesSample]) -> None:
        if not samples:
            return
        fields: list[Any] = []
        for series_id, sample in samples.items():
            stored: list[Any] = [sample.value, sample.updated, sample.expires]
            if sample.kind != GAUGE:  # a gauge stays three numbers, as servers before typed series read them
                stored.append(sample.kind)
            fields.extend((series_id, jsoncodec.dumps(stored)))
        await self._run(("HSET", keys.SERIES, *fields))

    async def list_series(self) -> dict[str, SeriesSample]:
        (found,) = await self._run(("HGETALL", keys.SERIES))
        now = self.clock()
        live: dict[str, SeriesSample] = {}
        gone: list[bytes] = []
        for field, raw in found.items():
            try:
                value, updated, expires, *kind = jsoncodec.loads(raw)  # no kind: stored before types, a gauge
                sample = SeriesSample(float(value), float(updated), float(expires), COUNTER if kind == [COUNTER] else GAUGE)
            except (ValueError, TypeError):
                sample = None
            if sample is None or sample.expires <= now:
                gone.append(field)
            else:
                live[as_text(field)] = sample
        if gone:
            await self._run(("HDEL", keys.SERIES, *gone))
        return live

    # -- events ----------------------------------------------------------------------
    async def get_event(self, client: str, check: str) -> Event | None:
        (raw,) = await self._run(("HGET", keys.events(client), check))
        return load_json(raw, f"{keys.events(client)} {check}")

    async def put_event(self, event: Event) -> None:
        client = str(event["client"]["name"])
        await self._run(("HSET", keys.events(client), str(event["check"]["name"]), jsoncodec.dumps(event)))

    async def delete_event(self, client: str, check: str) -> None:
        await self._run(("HDEL", keys.events(client), check))

    async def list_events(self, client: str | None = None) -> list[Event]:
        names = await self._client_names(client)
        if not names:
            return []
        tables = await self._run(*(("HGETALL", keys.events(name)) for name in names))
        listed: list[Event] = []
        for name, table in zip(names, tables, strict=True):
            for check in sorted(table, key=as_text):
                loaded = load_json(table[check], f"{keys.events(name)} {as_text(check)}")
                if isinstance(loaded, dict):
                    listed.append(loaded)
        return listed

    async def list_events_json(self, client: str | None = None) -> list[bytes]:
        names = await self._client_names(client)
        if not names:
            return []
        tables = await self._run(*(("HVALS", keys.events(name)) for name in names))
        listed: list[bytes] = []
        for name, values in zip(names, tables, strict=True):
            # Checking the braces costs little next to parsing, and keeps one broken value
            # (written by something else) from breaking the whole listing's JSON.
            objects = [raw for raw in values if raw[:1] == b"{" and raw[-1:] == b"}"]
            if len(objects) != len(values):
                log.warning("redis event value is not a JSON object; not listed",
                            extra={"fields": {"key": keys.events(name)}})
            listed += objects
        return listed

    # -- aggregates ------------------------------------------------------------------
    async def list_aggregates(self) -> list[str]:
        return await self._members(keys.AGGREGATES)

    async def aggregate_members(self, name: str) -> list[str]:
        return await self._members(keys.aggregate(name))

    async def delete_aggregate(self, name: str) -> None:
        await self._run(("DEL", keys.aggregate(name)), ("SREM", keys.AGGREGATES, name))
