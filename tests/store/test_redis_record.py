"""One result in one Lua call: the keys it writes are Sensu 1.x's, whichever call records it.

The script builds the key names from the client and check names itself (reference §1), so
these tests read the raw keys back with redis-py (the `raw_redis` and `redis_store` fixtures of tests/conftest.py).
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from pipeline.store.redis import RedisStore
from tests.helpers import make_result


async def snapshot(raw_redis: aioredis.Redis) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key in sorted(await raw_redis.keys("*")):
        kind = (await raw_redis.type(key)).decode()
        name = key.decode()
        if kind == "string":
            found[name] = await raw_redis.get(key)
        elif kind == "set":
            found[name] = await raw_redis.smembers(key)
        elif kind == "list":
            found[name] = await raw_redis.lrange(key, 0, -1)
        else:
            found[name] = await raw_redis.hgetall(key)
    return found


async def test_a_checked_result_lands_in_sensus_keys_as_a_recorded_one_does(redis_store: RedisStore, raw_redis: aioredis.Redis) -> None:
    for status in (0, 2):
        await redis_store.record_result("web1", make_result(status, ttl=60), make_result(status, ttl=60), ["disks", "prod"])
    recorded = await snapshot(raw_redis)
    await raw_redis.flushdb()
    for status in (0, 2):
        checked = await redis_store.record_checked("web1", None, make_result(status, ttl=60), make_result(status, ttl=60), ["disks", "prod"])
        assert checked.refusal is None
    assert await snapshot(raw_redis) == recorded
    assert json.loads(recorded.pop("result:web1:disk")) == make_result(2, ttl=60)
    assert recorded == {
        "aggregates": {b"disks", b"prod"},
        "aggregates:disks": {b"web1:disk"},
        "aggregates:prod": {b"web1:disk"},
        "history:web1:disk": [b"0", b"2"],
        "history:web1:disk:last_ok": b"1000",
        "result:web1": {b"disk"},
        "ttl": {b"web1:disk"},
    }


async def test_names_with_dots_and_dashes_make_the_same_keys_a_ruby_sensu_reads(redis_store: RedisStore, raw_redis: aioredis.Redis) -> None:
    await raw_redis.set("client:db-1.example.com", json.dumps({"name": "db-1.example.com", "signature": "s"}))
    await raw_redis.hset("events:db-1.example.com", "check_x.y-z", json.dumps({"id": "e1"}))
    odd = {"name": "check_x.y-z", "status": 1, "output": "warn", "executed": 5}
    checked = await redis_store.record_checked("db-1.example.com", "s", odd, odd, [])
    assert checked.client == {"name": "db-1.example.com", "signature": "s"}
    assert checked.recorded is not None and checked.recorded.event == {"id": "e1"}
    assert await raw_redis.smembers("result:db-1.example.com") == {b"check_x.y-z"}
    assert await raw_redis.lrange("history:db-1.example.com:check_x.y-z", 0, -1) == [b"1"]
    assert await raw_redis.exists("history:db-1.example.com:check_x.y-z:last_ok") == 0
