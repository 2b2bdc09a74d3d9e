"""The store's hand-packed pipelines (pipeline/store/redis_wire.py) against the real Redis.

Whatever the parser (hiredis or redis-py's pure-Python one), a batch must give the replies
redis-py's own calls give, error replies in place without losing the replies after them, and
a connection Redis dropped must be replaced without the caller noticing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis._parsers.resp2 import _AsyncRESP2Parser
from redis.asyncio.connection import Connection

from pipeline.store.redis_wire import exchange, pack
from tests.helpers import require_service


def redis_py_packing(*args: Any) -> bytes:
    return b"".join(Connection(host="127.0.0.1").pack_command(*args))


@pytest.mark.parametrize("args", [
    ("SET", "key", "value"),
    ("HSET", b"h", "field", 12, -3.5, 1e20, "é✓"),
    ("EVALSHA", "0" * 40, 2, "a", "b", "", b"\x00\xff", 0.1),
])
def test_packing_is_byte_for_byte_what_redis_py_sends(args: tuple[Any, ...]) -> None:
    assert pack([args]) == redis_py_packing(*args)


def test_a_batch_mixing_plain_and_buffer_arguments_packs_as_redis_py_sends_each_command() -> None:
    commands = [("SET", "a", 1), ("SET", bytearray(b"b"), memoryview(b"\x00v")), ("GET", "a")]
    assert pack(commands) == b"".join(redis_py_packing(*command) for command in commands)


def test_a_bool_is_refused_as_redis_py_refuses_it() -> None:
    with pytest.raises(rexc.DataError):
        pack([("SET", "key", True)])


@pytest.fixture(params=["hiredis", "python-parser"])
async def client(request: pytest.FixtureRequest, redis_db: int) -> AsyncIterator[aioredis.Redis]:
    require_service("redis", port=6379)
    extra = {"parser_class": _AsyncRESP2Parser} if request.param == "python-parser" else {}
    redis = aioredis.Redis(connection_pool=aioredis.ConnectionPool(host="127.0.0.1", port=6379, db=redis_db, **extra))
    await redis.flushdb()
    try:
        yield redis
    finally:
        await redis.flushdb()
        await redis.aclose()


async def test_replies_are_those_of_redis_py_calls_with_error_replies_in_place(client: aioredis.Redis) -> None:
    replies = await exchange(client, [
        ("SET", "text", "abc"),
        ("INCR", "text"),  # an error reply: a string is not a number
        ("HSET", "h", "a", 1, "b", 2),
        ("HGETALL", "h"),
        ("SADD", "s", "x", "y"),
        ("SMEMBERS", "s"),
        ("GET", "missing"),
        ("LRANGE", "missing", 0, -1),
    ], timeout=5)
    assert replies[0] is True
    assert isinstance(replies[1], rexc.ResponseError)
    assert replies[2:] == [2, {b"a": b"1", b"b": b"2"}, 2, {b"x", b"y"}, None, []]
    assert await client.get("text") == b"abc"


async def test_a_large_batch_reads_back_complete(client: aioredis.Redis) -> None:
    value = b"v" * 10_000
    await exchange(client, [("SET", f"k{i}", value) for i in range(500)], timeout=5)
    replies = await exchange(client, [("GET", f"k{i}") for i in range(500)], timeout=5)
    assert replies == [value] * 500


async def test_a_connection_redis_dropped_is_replaced_and_the_batch_still_runs(client: aioredis.Redis) -> None:
    await exchange(client, [("CLIENT", "SETNAME", "ogi-wire-test")], timeout=5)
    killer = aioredis.Redis(host="127.0.0.1", port=6379)
    try:
        assert await killer.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") >= 1
    finally:
        await killer.aclose()
    assert await exchange(client, [("SET", "after", "kill"), ("GET", "after")], timeout=5) == [True, b"kill"]
