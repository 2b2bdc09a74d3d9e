"""The Redis transport beyond the contract: Sensu's own keys, nothing lost to a killed consumer,
publishes kept while Redis is away, and the configuration that chooses it.

The contract suite (tests/contract/test_transport.py) runs over this transport too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bench.private_peers import PrivateRedis
from pipeline.config.load import settings_of
from pipeline.config.validate import validate
from pipeline.registry import default_registry
from pipeline.transport import transport_from_settings
from pipeline.transport.redis import RedisTransport
from tests.contract.transport_fixtures import redis_settings_for, transport_redis_db
from tests.helpers import ROOT, free_port

GUARD = 10.0


@pytest.fixture
async def db() -> AsyncIterator[int]:
    yield transport_redis_db()


@pytest.fixture
async def raw(db: int) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host="127.0.0.1", port=6379, db=db)
    yield client
    await client.aclose()


def pipe_name(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:8]}"


async def test_a_ruby_client_rpushing_onto_sensus_results_list_reaches_an_ogi_consumer(
        db: int, raw: aioredis.Redis) -> None:
    pipe = pipe_name("results")
    transport = RedisTransport(redis_settings_for(db))
    try:
        subscription = await transport.subscribe(pipe)
        result = {"client": "i-ruby", "check": {"name": "disk", "output": "ok", "status": 0}}
        await raw.rpush(f"transport:{db}:list:{pipe}", json.dumps(result))  # what sensu-transport does
        message = await asyncio.wait_for(anext(aiter(subscription)), GUARD)
        async with message.process():
            assert json.loads(message.body) == result
        assert await raw.llen(f"transport:{db}:list:{pipe}") == 0
    finally:
        await transport.close()


async def test_ogi_publishes_where_a_ruby_peer_reads_a_list_for_direct_pipes_a_channel_for_fanout(
        db: int, raw: aioredis.Redis) -> None:
    pipe = pipe_name("webserver")
    listener = raw.pubsub()
    await listener.subscribe(f"transport:{db}:channel:{pipe}")
    assert (await listener.get_message(timeout=GUARD))["type"] == "subscribe"  # type: ignore[index]
    transport = RedisTransport(redis_settings_for(db))
    try:
        await transport.publish(pipe, b'{"name":"check_http"}', "fanout")
        await transport.publish("roundrobin:" + pipe, b"one", "direct")
        copy = await listener.get_message(ignore_subscribe_messages=True, timeout=GUARD)
        assert copy is not None and copy["data"] == b'{"name":"check_http"}'
        assert await raw.lrange(f"transport:{db}:list:roundrobin:{pipe}", 0, -1) == [b"one"]
    finally:
        await listener.aclose()
        await transport.close()


CONSUMER = """
import asyncio, sys
from pipeline.transport.redis import RedisTransport

async def main():
    db, pipe = int(sys.argv[1]), sys.argv[2]
    transport = RedisTransport({"redis": {"db": db}}, heartbeat=0.2)
    subscription = await transport.subscribe(pipe)
    message = await anext(aiter(subscription))
    async with message.process():
        print("taken", message.body.decode(), flush=True)
        await asyncio.sleep(3600)  # killed here, mid-result

asyncio.run(main())
"""


async def test_a_consumer_killed_mid_result_loses_nothing_another_gets_it_redelivered(
        db: int, raw: aioredis.Redis) -> None:
    pipe = pipe_name("results")
    publisher = RedisTransport(redis_settings_for(db))
    await publisher.publish(pipe, b"result-1")
    await publisher.publish(pipe, b"result-2")
    child = subprocess.Popen([sys.executable, "-c", CONSUMER, str(db), pipe], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), GUARD)
        assert line.strip() == "taken result-1"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=GUARD)
        # Sensu's BLPOP would have lost result-1 here; it sits in the dead consumer's list.
        assert await raw.llen(f"transport:{db}:list:{pipe}") == 1
        survivor = RedisTransport(redis_settings_for(db), heartbeat=0.2)
        subscription = await survivor.subscribe(pipe)
        got = []
        iterator = aiter(subscription)
        while len(got) < 2:
            message = await asyncio.wait_for(anext(iterator), GUARD)
            async with message.process():
                got.append((message.body, message.redelivered))
        assert sorted(got) == [(b"result-1", True), (b"result-2", False)]
        assert survivor.counts["recovered"] == 1
        assert await raw.keys(f"transport:{db}:processing:{pipe}:*") == []  # acked: nothing held anywhere
        await survivor.close()
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        await publisher.close()


async def test_a_closed_subscription_acks_the_message_it_was_processing_and_holds_nothing(
        db: int, raw: aioredis.Redis) -> None:
    pipe = pipe_name("results")
    transport = RedisTransport(redis_settings_for(db))
    try:
        await transport.publish(pipe, b"in-hand")
        subscription = await transport.subscribe(pipe)
        message = await asyncio.wait_for(anext(aiter(subscription)), GUARD)
        async with message.process():
            await subscription.close()  # a server stopping while a result is handled
        assert await raw.llen(f"transport:{db}:list:{pipe}") == 0
        await asyncio.sleep(0.05)  # the owner entry goes in a task of its own
        assert await raw.keys(f"transport:{db}:processing:{pipe}:*") == []
        assert await raw.zcard(f"transport:{db}:owners:{pipe}") == 0
    finally:
        await transport.close()


async def test_publishes_while_redis_is_down_wait_and_go_out_in_order_when_it_is_back(tmp_path: object) -> None:
    port = free_port()
    peer = PrivateRedis(str(tmp_path), port)
    peer.start()
    settings = {"redis": {"host": "127.0.0.1", "port": port}, "transport": {"name": "redis", "reconnect_interval": 0.1}}
    transport = RedisTransport(settings, heartbeat=0.1)
    events: list[str] = []
    transport.on_disconnect(lambda: events.append("down"))
    transport.on_reconnect(lambda: events.append("up"))
    try:
        await transport.publish("results", b"before")
        peer.stop()
        await transport.publish("results", b"while-down-1")
        await transport.publish("results", b"while-down-2")
        assert not transport.connected and events == ["down"]
        peer.start()
        reader = aioredis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            if await reader.llen("transport:0:list:results") == 2:
                break
            await asyncio.sleep(0.05)
        # The first publish was lost with the unsaved restart; the two made while down were kept.
        assert await reader.lrange("transport:0:list:results", 0, -1) == [b"while-down-1", b"while-down-2"]
        assert transport.connected and events == ["down", "up"]
        await reader.aclose()
    finally:
        await transport.close()
        peer.stop()


def test_the_redis_transport_is_chosen_by_name_and_checked_like_any_setting() -> None:
    assert isinstance(transport_from_settings(settings_of({"transport": {"name": "redis"}})), RedisTransport)
    errors, _ = validate({"transport": {"name": "redis"}, "redis": {"port": "6379"}}, default_registry)
    assert [e.path for e in errors] == ["redis.port"]
    assert validate({"transport": {"name": "redis"}, "redis": {"host": "127.0.0.1", "db": 2}},
                    default_registry)[0] == []


def test_check_config_accepts_a_redis_transport_configuration(tmp_path: object) -> None:
    config = os.path.join(str(tmp_path), "config.json")
    with open(config, "w") as out:
        json.dump({"transport": {"name": "redis"}, "redis": {"host": "127.0.0.1", "port": 6379}}, out)
    ogi = os.path.join(os.path.dirname(sys.executable), "ogi")
    done = subprocess.run([ogi, "check-config", "-c", config], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "OK"), done.stdout + done.stderr


def test_the_redis_transport_example_in_the_docs_is_valid_configuration() -> None:
    text = (ROOT / "docs" / "redis.md").read_text()
    section = text.split("## The Redis transport", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```json\n")[1:]]
    assert blocks
    for block in blocks:
        settings = json.loads(block)
        assert validate(settings, default_registry)[0] == []
        assert isinstance(transport_from_settings(settings_of(settings)), RedisTransport)
