"""A Ruby sensu-client 1.x talks to ogi over RabbitMQ with no change.

There is no Ruby Sensu on this machine (shared/reference/ecosystem.md §5), so raw aio-pika
plays the Ruby client, doing exactly what sensu-transport 1.x does (reference §1): exchanges
not durable, its own queues auto-delete, empty routing keys, JSON bodies. The test module has
a vhost of its own, so the real pipe names (`results`, `keepalives`) are used.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from pipeline.agent.agent import subscription_pipe
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.contract.transport_fixtures import settings_for

GUARD = 10.0
#: What a Ruby sensu-client 1.9 publishes to `results` after running a check.
RUBY_RESULT = {
    "client": "host1",
    "check": {"name": "check_disk", "command": "check-disk-usage.rb -w 80 -c 90", "output": "CheckDisk OK: all ok\n",
              "status": 0, "issued": 1_700_000_000, "executed": 1_700_000_001, "duration": 0.123},
}
RUBY_KEEPALIVE = {"name": "host1", "address": "10.0.0.1", "subscriptions": ["webserver", "client:host1"],
                  "version": "1.9.0", "timestamp": 1_700_000_000}


@pytest.fixture
async def ruby(rabbitmq_vhost: str) -> AsyncIterator[AbstractChannel]:
    """A channel used the way sensu-transport's Ruby client uses its own."""
    connection: AbstractRobustConnection = await aio_pika.connect_robust(
        f"amqp://guest:guest@127.0.0.1/{rabbitmq_vhost}")
    async with connection:
        yield await connection.channel(publisher_confirms=False)


@pytest.fixture
async def ogi(rabbitmq_vhost: str) -> AsyncIterator[RabbitMQTransport]:
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost))
    try:
        yield transport
    finally:
        await transport.close()


async def ruby_publishes(channel: AbstractChannel, pipe: str, payload: dict[str, Any]) -> bytes:
    """sensu-client 1.x: declare the direct exchange (not durable), publish the JSON with routing key ""."""
    exchange = await channel.declare_exchange(pipe, aio_pika.ExchangeType.DIRECT, durable=False)
    body = json.dumps(payload).encode()
    await exchange.publish(aio_pika.Message(body), routing_key="")
    return body


async def test_a_result_published_by_a_ruby_sensu_client_reaches_an_ogi_server(
        ruby: AbstractChannel, ogi: RabbitMQTransport) -> None:
    subscription = await ogi.subscribe("results")
    body = await ruby_publishes(ruby, "results", RUBY_RESULT)
    message = await asyncio.wait_for(anext(aiter(subscription)), GUARD)
    async with message.process():
        assert message.body == body
        assert json.loads(message.body) == RUBY_RESULT


async def test_a_ruby_result_published_while_no_ogi_server_runs_waits_in_the_durable_queue(
        ruby: AbstractChannel, ogi: RabbitMQTransport) -> None:
    await ogi.subscribe("keepalives")  # an ogi server declared its queue once, then stopped
    await ogi.close()
    body = await ruby_publishes(ruby, "keepalives", RUBY_KEEPALIVE)
    server = RabbitMQTransport(ogi.settings)
    try:
        message = await asyncio.wait_for(anext(aiter(await server.subscribe("keepalives"))), GUARD)
        async with message.process():
            assert message.body == body
    finally:
        await server.close()


async def ruby_subscribes(channel: AbstractChannel, subscription: str, client: str = "host1") -> aio_pika.abc.AbstractQueue:
    """sensu-client 1.x: a fanout exchange and its own auto-delete queue, or the shared roundrobin queue."""
    if subscription.startswith(("roundrobin:", "direct:")):
        exchange = await channel.declare_exchange(subscription, aio_pika.ExchangeType.DIRECT, durable=False)
        queue = await channel.declare_queue(subscription, auto_delete=True)
    else:
        exchange = await channel.declare_exchange(subscription, aio_pika.ExchangeType.FANOUT, durable=False)
        queue = await channel.declare_queue(f"{client}-1.9.0-1700000000", auto_delete=True)
    await queue.bind(exchange, routing_key="")
    return queue


@pytest.mark.parametrize("subscription", ["webserver", "client:host1", "roundrobin:web"])
async def test_a_ruby_sensu_client_receives_the_check_requests_an_ogi_server_publishes(
        ruby: AbstractChannel, ogi: RabbitMQTransport, subscription: str) -> None:
    queue = await ruby_subscribes(ruby, subscription)
    request = json.dumps({"name": "check_disk", "command": "check-disk-usage.rb", "issued": 1_700_000_000}).encode()
    pipe, kind, _ = subscription_pipe(subscription, "unused")
    await ogi.publish(pipe, request, kind)
    async with queue.iterator() as messages:
        message = await asyncio.wait_for(anext(aiter(messages)), GUARD)
        await message.ack()
    assert message.body == request


async def test_ruby_declarations_succeed_after_ogi_declared_every_exchange_and_queue(
        ruby: AbstractChannel, ogi: RabbitMQTransport, rabbitmq_vhost: str) -> None:
    await ogi.subscribe("results")
    await ogi.subscribe("keepalives")
    await ogi.subscribe("roundrobin:db", "direct")
    await ogi.subscribe("webserver", "fanout", "ogi-host2-0.1.0-1700000000")
    await ogi.publish("client:host1", b"{}", "fanout")
    # Any PRECONDITION_FAILED here would close the channel and raise.
    for pipe in ("results", "keepalives"):
        await ruby.declare_exchange(pipe, aio_pika.ExchangeType.DIRECT, durable=False)
    await ruby_subscribes(ruby, "roundrobin:db")
    await ruby_subscribes(ruby, "webserver")
    await ruby_subscribes(ruby, "client:host1")
    assert not ruby.is_closed
