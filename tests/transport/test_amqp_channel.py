"""Lean consumers only on a tested aio-pika; on any other, aio-pika's own queues do the same work.

The fallback tests run the RabbitMQ transport against the real broker with LeanQueue turned
off, as on a machine with an aio-pika it was not tested with.
"""

from __future__ import annotations

import asyncio

import pytest
from aio_pika.robust_queue import RobustQueue

from pipeline.transport import amqp_channel
from pipeline.transport.amqp_channel import LeanQueue
from pipeline.transport.base import Message
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.contract.transport_fixtures import require_rabbitmq, settings_for


def test_only_a_tested_aio_pika_gets_lean_queues() -> None:
    assert amqp_channel.supported("10.2.1") and amqp_channel.supported("9.4.0")
    assert not amqp_channel.supported("10.3.0")
    assert not amqp_channel.supported("9.3.2")
    assert not amqp_channel.supported("ten")
    assert amqp_channel.supported()  # the pinned aio-pika here is a tested one


@pytest.fixture
async def untested_aio_pika(rabbitmq_vhost: str, monkeypatch: pytest.MonkeyPatch) -> RabbitMQTransport:
    require_rabbitmq()
    monkeypatch.setattr(amqp_channel, "TESTED_AIO_PIKA", ((0, 0), (0, 1)))
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost))
    yield transport  # type: ignore[misc]
    await transport.close()


async def test_the_fallback_uses_aio_pikas_queue_and_delivers_in_order_acking_each(
        untested_aio_pika: RabbitMQTransport) -> None:
    transport = untested_aio_pika
    subscription = await transport.subscribe("results-lean-fallback")
    assert type(subscription._queue) is RobustQueue and not isinstance(subscription._queue, LeanQueue)
    for i in range(3):
        await transport.publish("results-lean-fallback", f"r{i}".encode())
    iterator = aiter(subscription)
    message = await asyncio.wait_for(anext(iterator), 10)
    with pytest.raises(ValueError):
        async with message.process():
            raise ValueError("handler crashed")
    got = []
    while len(got) < 3:
        message = await asyncio.wait_for(anext(iterator), 10)
        async with message.process():
            got.append((message.body, message.redelivered))
    # the failed one comes again, marked redelivered (after those the prefetch had already taken)
    assert sorted(got) == [(b"r0", True), (b"r1", False), (b"r2", False)]
    await subscription.close()
    assert (await transport.queue_stats("results-lean-fallback"))[0] == 0  # every one was acked


async def test_the_fallback_dispatches_every_message_once(untested_aio_pika: RabbitMQTransport) -> None:
    transport = untested_aio_pika
    subscription = await transport.subscribe("results-lean-dispatch")
    sent = [str(i).encode() for i in range(50)]
    got: list[bytes] = []
    done = asyncio.Event()

    async def handle(message: Message) -> None:
        async with message.process():
            got.append(message.body)
        if len(got) == len(sent):
            done.set()

    dispatching = asyncio.create_task(subscription.dispatch(handle))
    for body in sent:
        await transport.publish("results-lean-dispatch", body)
    await asyncio.wait_for(done.wait(), 10)
    await subscription.close()
    await asyncio.wait_for(dispatching, 10)
    assert got == sent
