"""The benchmark's lean publisher: what it sends is what aio-pika's consumer gets, persistent and confirmed."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from bench.amqp_publisher import ConfirmingPublisher


async def test_every_body_arrives_in_order_persistent_and_confirmed(rabbitmq_vhost: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("bench.results", "direct", durable=False)
        queue = await channel.declare_queue("bench.publisher", durable=True, auto_delete=False)
        await queue.bind(exchange, routing_key="")
        publisher = await ConfirmingPublisher.open("127.0.0.1", 5672, rabbitmq_vhost, "guest", "guest",
                                                   exchange="bench.results")
        bodies = [b'{"n": %d}' % i + b"x" * (i % 7) for i in range(500)]
        try:
            publisher.publish(bodies[:200])
            publisher.publish(bodies[200:])
            assert await publisher.wait_confirmed(timeout=10) == 500
            assert publisher.nacked == 0
        finally:
            await publisher.close()
        got: list[tuple[bytes, object]] = []
        async with queue.iterator() as messages:
            async for message in messages:
                got.append((message.body, message.delivery_mode))
                await message.ack()
                if len(got) == len(bodies):
                    break
        assert [body for body, _ in got] == bodies
        assert {mode for _, mode in got} == {aio_pika.DeliveryMode.PERSISTENT}


async def test_a_refused_login_is_an_error_not_a_hang(rabbitmq_vhost: str) -> None:
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(ConfirmingPublisher.open("127.0.0.1", 5672, rabbitmq_vhost, "guest", "wrong",
                                                        exchange="bench.results"), timeout=10)
