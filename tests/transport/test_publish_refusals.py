"""Publishes RabbitMQ refuses for good do not jam the ones behind them (issue 13, finding 1).

Against the real broker, in a vhost of this module's own: a check request to an `amq.*`
subscription, once buffered and retried at the head of the reconnect buffer for ever, held
back every later result of `ogi api` while each got its 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.api import build_app
from pipeline.config.load import settings_of
from pipeline.store.memory import MemoryStore
from pipeline.transport.base import Subscription
from pipeline.transport.rabbitmq import RabbitMQTransport
from pipeline.transport.refusals import MAX_BODY_BYTES, name_refusal
from tests.contract.transport_fixtures import settings_for

pytestmark = pytest.mark.services

CHECKS = {
    "disk": {"command": "check-disk", "subscribers": ["linux"], "interval": 60},
    "reserved": {"command": "true", "subscribers": ["amq.topic"], "interval": 60},
}


@pytest.fixture
async def transports(rabbitmq_vhost: str) -> AsyncIterator[tuple[RabbitMQTransport, RabbitMQTransport]]:
    publisher = RabbitMQTransport(settings_for(rabbitmq_vhost))
    consumer = RabbitMQTransport(settings_for(rabbitmq_vhost))
    try:
        yield publisher, consumer
    finally:
        await publisher.close(flush_timeout=1)
        await consumer.close(flush_timeout=1)


async def received(subscription: Subscription, count: int, timeout: float = 15) -> list[Any]:
    """The first `count` bodies of a subscription opened before anything was published."""
    bodies: list[Any] = []

    async def take() -> None:
        async for message in subscription:
            async with message.process():
                bodies.append(json.loads(message.body))
            if len(bodies) == count:
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(take(), timeout)
    await subscription.close()
    return bodies


def test_the_names_rabbitmq_refuses_are_told_apart_from_those_it_takes() -> None:
    assert name_refusal("amq.direct") and name_refusal("") and name_refusal("é" * 128)
    assert name_refusal("linux") is None and name_refusal("roundrobin:amq.x") is None
    assert name_refusal("x" * 255) is None


async def test_a_poison_publish_is_dropped_and_counted_and_every_result_after_it_is_delivered(
    transports: tuple[RabbitMQTransport, RabbitMQTransport],
) -> None:
    publisher, consumer = transports
    pipe = "results"
    subscription = await consumer.subscribe(pipe)  # the queue exists before the first publish
    await publisher.publish("amq.evil", b'{"poison": true}', "fanout")
    await publisher.publish(pipe, b"x" * (MAX_BODY_BYTES + 1))
    for number in range(50):
        await publisher.publish(pipe, json.dumps({"n": number}).encode())
    bodies = await received(subscription, 50)
    assert [body["n"] for body in bodies] == list(range(50))
    assert publisher.counts["publish_refused"] == 2
    assert publisher.pending == 0
    assert publisher.connected


async def test_ogi_api_refuses_a_request_rabbitmq_would_refuse_and_still_delivers_the_results_after_it(
    transports: tuple[RabbitMQTransport, RabbitMQTransport],
) -> None:
    publisher, consumer = transports
    subscription = await consumer.subscribe("results")
    app = build_app(settings_of({"checks": CHECKS}), MemoryStore(), publisher)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    try:
        for subscribers in (["amq.direct"], ["linux", "amq.fanout"], ["x" * 256]):
            response = await client.post("/request", json={"check": "disk", "subscribers": subscribers})
            assert response.status == 400, subscribers
            assert "cannot be published to" in (await response.json())["error"]
        response = await client.post("/request", json={"check": "reserved"})
        assert response.status == 400  # a definition's own subscribers are checked too
        response = await client.post("/request", json={"check": "disk", "subscribers": [""]})
        assert response.status == 400
        assert (await client.post("/request", json={"check": "disk"})).status == 202
        for number in range(20):
            result = {"source": f"host-{number}", "name": "disk", "output": "ok", "status": 0}
            assert (await client.post("/results", json=result)).status == 202
        bodies = await received(subscription, 20)
        assert sorted(body["check"]["source"] for body in bodies) == sorted(f"host-{n}" for n in range(20))
        assert (await client.get("/health")).status == 204
        info = await (await client.get("/info")).json()
        assert info["transport"]["backlog"] == 0
    finally:
        await client.close()


async def test_health_reports_a_publish_backlog() -> None:
    # Nothing listens on port 1: every publish waits in the reconnect buffer.
    transport = RabbitMQTransport({"rabbitmq": {"host": "127.0.0.1", "port": 1}})
    app = build_app(settings_of({"checks": CHECKS}), MemoryStore(), transport)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.post("/request", json={"check": "disk"})).status == 202
        response = await client.get("/health")
        assert response.status == 412
        reasons = await response.json()
        assert any("publish backlog (1 messages" in reason for reason in reasons), reasons
        assert (await (await client.get("/info")).json())["transport"]["backlog"] == 1
        assert not any("backlog" in r for r in await (await client.get("/health?backlog=5")).json())
    finally:
        await client.close()
        await transport.close(flush_timeout=0)


async def test_a_poison_message_is_retried_with_growing_pauses_before_it_is_dead_lettered(rabbitmq_vhost: str) -> None:
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost, max_attempts=4))
    pipe = f"results-poison-{id(transport)}"
    try:
        await transport.publish(pipe, b"poison")
        iterator = aiter(await transport.subscribe(pipe))
        seen: list[float] = []
        loop = asyncio.get_running_loop()
        for _ in range(4):
            message = await asyncio.wait_for(anext(iterator), 10)
            seen.append(loop.time())
            with pytest.raises(KeyError):
                async with message.process():
                    raise KeyError("check")
        assert transport.counts["dead_lettered"] == 1
        gaps = [later - earlier for earlier, later in zip(seen, seen[1:], strict=False)]
        # 0.1 s, then 0.2 s, then 0.4 s: not five attempts spent within a few milliseconds
        assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4, gaps
    finally:
        await transport.close()
