"""The fallback of pipeline/store/redis_wire.py: redis-py's own pipeline gives what the hand-packed one gives.

On a redis-py the hand-packed path was not tested with, `exchange` falls back to redis-py's
pipeline: these tests force that fallback and run the same store work both ways.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from pipeline.store import redis_wire
from pipeline.store.base import StoreUnavailable
from pipeline.store.redis import RedisStore
from tests.helpers import FakeClock, free_port, make_result

COMMANDS: list[tuple[Any, ...]] = [
    ("SET", "k", "v"), ("GET", "k"), ("HSET", "h", "a", 1), ("HGETALL", "h"), ("SADD", "s", "x", "y"),
    ("SMEMBERS", "s"), ("HGETALL", "k"), ("INCRBY", "n", 3), ("GET", "missing"), ("EVALSHA", "0" * 40, 0),
]


def described(replies: list[Any]) -> list[Any]:
    """Replies with error instances as (class name, first words of the message)."""
    return [(type(r).__name__, str(r).split()[0]) if isinstance(r, Exception) else r for r in replies]


def test_only_a_tested_redis_py_gets_the_hand_packed_pipelines() -> None:
    assert redis_wire.supported("8.2.0") and redis_wire.supported("5.3.1")
    assert not redis_wire.supported("8.3.0")
    assert not redis_wire.supported("5.2.1")
    assert not redis_wire.supported("nine")
    assert redis_wire.hand_packed  # the pinned redis-py here is a tested one


@pytest.mark.parametrize("hand_packed", [True, False], ids=["hand-packed", "redis-py pipeline"])
async def test_replies_and_error_replies_come_back_in_place_either_way(
        raw_redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch, hand_packed: bool) -> None:
    monkeypatch.setattr(redis_wire, "hand_packed", hand_packed)
    replies = await redis_wire.exchange(raw_redis, COMMANDS, timeout=5.0)
    assert described(replies) == [
        True, b"v", 1, {b"a": b"1"}, 2, {b"x", b"y"}, ("ResponseError", "WRONGTYPE"), 3, None,
        ("NoScriptError", "No"),
    ]


@pytest.mark.parametrize("hand_packed", [True, False], ids=["hand-packed", "redis-py pipeline"])
async def test_the_store_records_results_and_events_the_same_either_way(
        raw_redis: aioredis.Redis, redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch,
        hand_packed: bool) -> None:
    monkeypatch.setattr(redis_wire, "hand_packed", hand_packed)
    await redis_store.put_client({"name": "web1", "address": "10.0.0.1"})
    for status in (0, 2, 2):
        recorded = await redis_store.record_result("web1", make_result(status), make_result(status), ["disk"])
    await redis_store.put_event({"id": "e1", "client": {"name": "web1"}, "check": make_result(2)})
    await raw_redis.script_flush()  # Redis forgot the record script: the store loads it again
    again = await redis_store.record_result("web1", make_result(0), make_result(0), [])
    assert recorded.history == ["0", "2", "2"] and again.history == ["0", "2", "2", "0"]
    assert again.event is not None and again.event["id"] == "e1"
    assert [e["id"] for e in await redis_store.list_events()] == ["e1"]
    assert await redis_store.aggregate_members("disk") == ["web1:disk"]
    assert await raw_redis.lrange("history:web1:disk", 0, -1) == [b"0", b"2", b"2", b"0"]


async def test_a_redis_that_is_not_there_is_unavailable_through_the_fallback_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_wire, "hand_packed", False)
    store = RedisStore({"host": "127.0.0.1", "port": free_port(), "db": 0}, clock=FakeClock())
    try:
        with pytest.raises(StoreUnavailable):
            await store.record_result("web1", make_result(2), make_result(2), [])
    finally:
        await store.close()


def test_a_redis_py_without_the_expected_internals_is_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(redis_wire.rconn.AbstractConnection, "send_packed_command")
    assert not redis_wire.supported("8.2.0")
