"""The Redis store speaks Sensu 1.x's key layout, costs few round trips, and survives Redis going away.

Layout tests write through RedisStore and read the raw keys with redis-py (database 14 of the
shared Redis); fault tests run their own redis-server on a free port and stop it themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection

from bench.private_peers import PrivateRedis
from bench.private_peers import alive as _alive
from pipeline.config.load import env_settings, settings_of
from pipeline.errors import ConfigErrors
from pipeline.store.base import SeriesSample, StoreUnavailable
from pipeline.store.factory import store_from_settings
from pipeline.store.memory import MemoryStore
from pipeline.store.redis import RedisStore
from pipeline.store.redis_conn import connect
from tests.helpers import ROOT, free_port, make_result, require_service

NOW = 1_700_000_000.0


def clock() -> float:
    return NOW



async def key_types(raw_redis: aioredis.Redis) -> dict[str, str]:
    def text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    return {text(key): text(await raw_redis.type(key)) for key in await raw_redis.keys("*")}


async def get_json(raw_redis: aioredis.Redis, key: str) -> Any:
    value = await raw_redis.get(key)
    assert isinstance(value, bytes), f"{key} is missing"
    return json.loads(value)


# -- Sensu's layout -----------------------------------------------------------------------------


async def test_every_kind_of_state_lands_in_exactly_the_keys_and_types_sensu_uses(
    redis_store: RedisStore, raw_redis: aioredis.Redis
) -> None:
    await redis_store.record_keepalive({"name": "web1", "address": "10.0.0.1"}, received=NOW)
    for status in (0, 2, 2):
        await redis_store.record_result("web1", make_result(status, ttl=60), make_result(status, ttl=60), ["disk"])
    await redis_store.put_event({"id": "e1", "client": {"name": "web1"}, "check": make_result(2)})
    await redis_store.put_silence({"id": "web:*", "subscription": "web"}, expire=600)
    await redis_store.put_stash("app/web1", {"deploying": True}, expire=600)
    await redis_store.put_series({"load": SeriesSample(0.5, NOW, NOW + 60)})
    await redis_store.acquire_task("client_monitor", "server-1", NOW)
    await redis_store.register_server({"id": "server-1", "hostname": "h", "tasks": ["client_monitor"]})

    assert await key_types(raw_redis) == {
        "clients": "set", "client:web1": "string",
        "result:web1": "set", "result:web1:disk": "string",
        "history:web1:disk": "list", "history:web1:disk:last_ok": "string",
        "events:web1": "hash", "ttl": "set",
        "aggregates": "set", "aggregates:disk": "set",
        "silenced": "set", "silence:web:*": "string",
        "stashes": "set", "stash:app/web1": "string",
        "lock:task:client_monitor": "string", "task:client_monitor:server": "string",
        "servers": "set", "server:server-1": "string",
        "ogi:keepalives": "hash", "ogi:series": "hash",
    }
    assert await raw_redis.smembers("clients") == {b"web1"}
    assert await get_json(raw_redis, "client:web1") == {"name": "web1", "address": "10.0.0.1"}
    assert await raw_redis.smembers("result:web1") == {b"disk"}
    assert await get_json(raw_redis, "result:web1:disk") == make_result(2, ttl=60)
    assert await raw_redis.lrange("history:web1:disk", 0, -1) == [b"0", b"2", b"2"]
    assert await raw_redis.get("history:web1:disk:last_ok") == b"1000"
    assert json.loads((await raw_redis.hgetall("events:web1"))[b"disk"])["id"] == "e1"
    assert await raw_redis.smembers("ttl") == {b"web1:disk"}
    assert await raw_redis.smembers("aggregates") == {b"disk"}
    assert await raw_redis.smembers("aggregates:disk") == {b"web1:disk"}
    assert await raw_redis.smembers("silenced") == {b"silence:web:*"}
    assert 590 < await raw_redis.ttl("silence:web:*") <= 600
    assert await raw_redis.smembers("stashes") == {b"app/web1"}
    assert 590 < await raw_redis.ttl("stash:app/web1") <= 600
    assert await raw_redis.get("lock:task:client_monitor") == str(int(NOW * 10_000_000)).encode()
    assert await raw_redis.get("task:client_monitor:server") == b"server-1"
    assert await raw_redis.smembers("servers") == {b"server-1"}
    assert 20 < await raw_redis.ttl("server:server-1") <= 30
    assert await raw_redis.hgetall("ogi:keepalives") == {b"web1": repr(NOW).encode()}
    assert json.loads((await raw_redis.hgetall("ogi:series"))[b"load"]) == [0.5, NOW, NOW + 60]


async def test_the_history_list_is_trimmed_to_the_21_newest_statuses(redis_store: RedisStore, raw_redis: aioredis.Redis) -> None:
    for i in range(30):
        await redis_store.record_result("web1", make_result(i % 4), make_result(i % 4), [])
    assert await raw_redis.lrange("history:web1:disk", 0, -1) == [str(i % 4).encode() for i in range(9, 30)]


async def test_state_a_ruby_sensu_server_wrote_is_read_back_and_carried_on(redis_store: RedisStore, raw_redis: aioredis.Redis) -> None:
    client = {"name": "web1", "address": "10.0.0.1", "subscriptions": ["web", "client:web1"],
              "version": "1.9.0", "timestamp": 1460172826}
    event = {"id": "3a5c8ff6-6fa3-4f0b-9c3e-8b0d0a7f5a10", "action": "create", "occurrences": 4,
             "occurrences_watermark": 4, "client": client, "check": {"name": "disk", "status": 2, "output": "full"}}
    silence = {"id": "web:disk", "subscription": "web", "check": "disk", "reason": "ticket 42",
               "creator": "ops", "expire": 3600, "expire_on_resolve": True, "begin": None, "timestamp": 1460172800}
    await raw_redis.sadd("clients", "web1")
    await raw_redis.set("client:web1", json.dumps(client))
    await raw_redis.sadd("result:web1", "disk")
    await raw_redis.set("result:web1:disk", json.dumps({"name": "disk", "status": 2, "output": "full", "executed": 1460172820}))
    await raw_redis.rpush("history:web1:disk", "0", "0", "2", "2")
    await raw_redis.set("history:web1:disk:last_ok", "1460172700")
    await raw_redis.hset("events:web1", "disk", json.dumps(event))
    await raw_redis.sadd("ttl", "web1:disk")
    await raw_redis.sadd("aggregates", "disk")
    await raw_redis.sadd("aggregates:disk", "web1:disk")
    await raw_redis.sadd("silenced", "silence:web:disk")
    await raw_redis.set("silence:web:disk", json.dumps(silence))
    await raw_redis.expire("silence:web:disk", 3600)
    await raw_redis.sadd("stashes", "silence/web1")
    await raw_redis.set("stash:silence/web1", json.dumps({"reason": "legacy"}))

    assert await redis_store.list_clients() == [client]
    assert await redis_store.get_history("web1", "disk") == ["0", "0", "2", "2"]
    assert await redis_store.list_events() == [event]
    assert await redis_store.list_ttl() == ["web1:disk"]
    assert await redis_store.aggregate_members("disk") == ["web1:disk"]
    assert await redis_store.get_silences(["web:disk", "web:*"]) == [silence, None]
    assert await redis_store.list_silences() == [silence]
    assert await redis_store.list_stashes() == [{"path": "silence/web1", "content": {"reason": "legacy"}, "expire": -1}]
    recorded = await redis_store.record_result("web1", make_result(0, executed=1460172900), make_result(0), [])
    assert recorded.history == ["0", "0", "2", "2", "0"]
    assert recorded.last_ok == 1460172900
    assert recorded.event == event


async def test_a_key_that_does_not_hold_json_reads_as_absent_instead_of_failing(
    redis_store: RedisStore, raw_redis: aioredis.Redis
) -> None:
    await raw_redis.sadd("clients", "web1", "web2")
    await raw_redis.set("client:web1", "{not json")
    await raw_redis.set("client:web2", json.dumps({"name": "web2"}))
    assert await redis_store.get_client("web1") is None
    assert await redis_store.list_clients() == [{"name": "web2"}]


async def test_a_silence_a_sensu_server_wrote_shows_its_keys_ttl_as_expire(redis_store: RedisStore, raw_redis: aioredis.Redis) -> None:
    # Sensu keeps no `expire` in the entry: only the key's EXPIRE says how long it has left.
    silence = {"id": "web:*", "subscription": "web", "check": None, "reason": "deploy", "creator": "ops",
               "begin": 1460172800, "expire_on_resolve": False, "timestamp": 1460172800}
    await raw_redis.sadd("silenced", "silence:web:*")
    await raw_redis.set("silence:web:*", json.dumps(silence), ex=600)
    (found,) = await redis_store.get_silences(["web:*"])
    assert found == {**silence, "expire": 600}
    assert await redis_store.list_silences() == [{**silence, "expire": 600}]


async def test_signatures_use_sensus_plain_string_key(redis_store: RedisStore, raw_redis: aioredis.Redis) -> None:
    assert await redis_store.claim_signature("web1", "s3cret") == "s3cret"
    assert await raw_redis.get("client:web1:signature") == b"s3cret"
    await raw_redis.set("client:web2:signature", "")  # what Sensu's SETNX of an unsigned client leaves
    assert await redis_store.claim_signature("web2", "late") == "late"
    await redis_store.invalidate_client("web1", expire=3600)
    assert await raw_redis.get("client:web1:signature") == b"invalidated"
    assert 3590 <= await raw_redis.ttl("client:web1:signature") <= 3600


async def test_event_listings_as_json_hand_over_the_stored_text_and_skip_what_is_not_an_object(
    redis_store: RedisStore, raw_redis: aioredis.Redis
) -> None:
    await raw_redis.sadd("clients", "web1")
    text = b'{"client": {"name": "web1"}, "check": {"name": "disk", "status": 2}}'
    await raw_redis.hset("events:web1", mapping={"disk": text, "load": "{not json", "ntp": "[1, 2]"})
    assert await redis_store.list_events_json() == [text]


# -- round trips ---------------------------------------------------------------------------------


class CountingConnection(Connection):
    """A real connection that counts what it sends, apart from its own setup (AUTH, SELECT)."""

    sends = 0

    async def on_connect(self) -> None:
        self._in_setup = True
        try:
            await super().on_connect()
        finally:
            self._in_setup = False

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not getattr(self, "_in_setup", False):
            CountingConnection.sends += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def counted(raw_redis: aioredis.Redis, redis_db: int) -> AsyncIterator[RedisStore]:
    pool = ConnectionPool(connection_class=CountingConnection, host="127.0.0.1", port=6379, db=redis_db)
    store = RedisStore(client=aioredis.Redis(connection_pool=pool), clock=clock)
    await store.record_result("warm", make_result(0), make_result(0), [])  # loads the script once
    CountingConnection.sends = 0
    yield store
    await store.close()


async def test_a_result_and_its_event_cost_two_round_trips(counted: RedisStore) -> None:
    recorded = await counted.record_result("web1", make_result(2, ttl=60), make_result(2), ["disk", "prod"])
    await counted.put_event({"client": {"name": "web1"}, "check": make_result(2), "history": recorded.history})
    assert CountingConnection.sends == 2


async def test_looking_up_a_client_with_its_signature_costs_one_round_trip(counted: RedisStore) -> None:
    await counted.put_client({"name": "web1", "signature": "s3cret"})
    await counted.claim_signature("web1", "s3cret")
    CountingConnection.sends = 0
    assert await counted.lookup_client("web1") == ({"name": "web1", "signature": "s3cret"}, "s3cret")
    assert CountingConnection.sends == 1


async def test_silences_cost_one_round_trip_and_a_second_only_for_their_seconds_left(counted: RedisStore) -> None:
    await counted.put_silence({"id": "web:*"}, expire=60)
    CountingConnection.sends = 0
    assert await counted.get_silences(["web:*", "*:disk"], seconds_left=False) == [{"id": "web:*"}, None]
    assert CountingConnection.sends == 1
    assert await counted.get_silences(["*:disk"]) == [None]
    assert CountingConnection.sends == 2
    (entry,) = await counted.get_silences(["web:*"])
    assert entry is not None and 59 <= entry["expire"] <= 60
    assert CountingConnection.sends == 4


async def test_concurrent_results_share_their_pipelines(counted: RedisStore) -> None:
    async def one(i: int) -> None:
        recorded = await counted.record_result(f"web{i}", make_result(2), make_result(2), [])
        await counted.put_event({"client": {"name": f"web{i}"}, "check": make_result(2), "history": recorded.history})

    await asyncio.gather(*(one(i) for i in range(100)))
    assert CountingConnection.sends <= 2 * counted.batcher.max_in_flight
    assert len(await counted.list_events()) == 0  # no client registered: Sensu lists by `clients`
    assert await counted.get_event("web99", "disk") is not None


async def test_results_are_recorded_again_after_redis_forgot_its_scripts(counted: RedisStore, raw_redis: aioredis.Redis) -> None:
    await raw_redis.script_flush()
    assert (await counted.record_result("web1", make_result(2), make_result(2), [])).history == ["2"]
    assert await counted.acquire_task("client_monitor", "a", NOW)


# -- settings --------------------------------------------------------------------------------------


async def test_redis_url_from_the_environment_chooses_the_server_and_database(raw_redis: aioredis.Redis, redis_db: int) -> None:
    layers, errors = env_settings({"REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}"})
    assert errors == []
    settings: dict[str, Any] = {"store": {"name": "redis"}, "redis": {"host": "elsewhere", "port": 1}}
    for _origin, layer in layers:
        settings["redis"].update(layer["redis"])
    store = store_from_settings(settings_of(settings), clock)
    try:
        await store.put_client({"name": "from-url"})
    finally:
        await store.close()
    assert await raw_redis.smembers("clients") == {b"from-url"}


def test_the_store_defaults_to_the_callers_choice_and_refuses_unknown_names() -> None:
    assert isinstance(store_from_settings(settings_of({})), MemoryStore)
    assert isinstance(store_from_settings(settings_of({}), default="redis"), RedisStore)
    assert isinstance(store_from_settings(settings_of({"store": {"name": "memory"}}), default="redis"), MemoryStore)
    with pytest.raises(ConfigErrors, match=r"store\.name: must be one of memory, redis"):
        store_from_settings(settings_of({"store": {"name": "postgres"}}))


def test_bad_redis_settings_are_reported_by_their_path_all_at_once() -> None:
    with pytest.raises(ConfigErrors) as raised:
        connect({"port": "6379", "db": -1, "sentinels": [{"host": "s1", "port": 0}, "s2"]})
    assert [error.path for error in raised.value.errors] == [
        "redis.db", "redis.sentinels[0].port", "redis.sentinels[1]",
    ]
    with pytest.raises(ConfigErrors, match="redis.url: must start with redis://"):
        connect({"url": "http://127.0.0.1:6379"})


def test_tls_settings_in_sensus_form_give_a_tls_connection() -> None:
    client, _ = connect({"host": "redis.example", "port": 6380, "tls": {"verify_peer": False}})
    assert client.connection_pool.connection_class is SSLConnection
    plain, _ = connect({"host": "redis.example"})
    assert plain.connection_pool.connection_class is Connection


def test_every_json_block_in_docs_redis_md_is_accepted() -> None:
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "redis.md").read_text(), re.S)
    assert len(blocks) >= 4
    for block in blocks:
        settings = json.loads(block)
        store_from_settings(settings_of(settings), default="redis")


# -- faults: a private redis-server ----------------------------------------------------------------


@pytest.fixture
def private_dir() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        require_service("redis-server (Debian package redis-server)", available=False)
    directory = tempfile.mkdtemp(prefix="ogi-redis-")
    yield directory
    for pidfile in Path(directory).glob("*.pid"):
        pid = int(pidfile.read_text())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    shutil.rmtree(directory, ignore_errors=True)


async def test_an_unreachable_redis_raises_store_unavailable_and_ping_says_false() -> None:
    store = RedisStore({"host": "127.0.0.1", "port": free_port()})
    try:
        with pytest.raises(StoreUnavailable, match=r"redis 127\.0\.0\.1:\d+ db 0 is unavailable"):
            await store.get_client("web1")
        with pytest.raises(StoreUnavailable):
            await store.record_result("web1", make_result(2), make_result(2), [])
        assert await store.ping() is False
    finally:
        await store.close()


async def test_a_store_raises_unavailable_while_redis_is_down_and_works_again_after(private_dir: str) -> None:
    server = PrivateRedis(private_dir, free_port())
    server.start()
    store = RedisStore({"host": "127.0.0.1", "port": server.port})
    try:
        await store.put_client({"name": "before"})
        assert (await store.record_result("web1", make_result(2), make_result(2), [])).history == ["2"]
        server.stop()
        for _ in range(2):  # the first call finds the dead connection, the next one cannot connect
            with pytest.raises(StoreUnavailable):
                await store.record_result("web1", make_result(2), make_result(2), [])
            with pytest.raises(StoreUnavailable):
                await store.list_clients()
        assert await store.ping() is False
        server.start()
        assert await store.ping() is True
        # A new server: no data (no persistence here) and no cached script, and the store carries on.
        assert (await store.record_result("web1", make_result(2), make_result(2), [])).history == ["2"]
        await store.put_client({"name": "after"})
        assert [client["name"] for client in await store.list_clients()] == ["after"]
    finally:
        await store.close()


async def test_a_store_configured_with_sentinels_finds_and_uses_the_master(private_dir: str) -> None:
    master = PrivateRedis(private_dir, free_port())
    master.start()
    sentinel_port = free_port()
    config = Path(private_dir) / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndaemonize yes\ndir {private_dir}\n"
        f"pidfile {private_dir}/sentinel-{sentinel_port}.pid\n"
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1\n"
    )
    subprocess.run(["redis-server", str(config), "--sentinel"], check=True, capture_output=True)
    PrivateRedis._wait(lambda: subprocess.run(["redis-cli", "-p", str(sentinel_port), "ping"], capture_output=True,
                                              text=True).stdout.strip() == "PONG")
    store = store_from_settings(settings_of(
        {"store": {"name": "redis"}, "redis": {"sentinels": [{"host": "127.0.0.1", "port": sentinel_port}]}}),
    )
    try:
        await store.put_client({"name": "via-sentinel"})
    finally:
        await store.close()
    direct = aioredis.Redis(port=master.port)
    try:
        assert await direct.smembers("clients") == {b"via-sentinel"}
    finally:
        await direct.aclose()
