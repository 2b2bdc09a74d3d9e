"""MemoryTransport behaves like Sensu's RabbitMQ layout: direct = shared queue, fanout = copies."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.transport.base import Message, Subscription
from pipeline.transport.memory import MemoryMessage, MemoryTransport


async def take(subscription: Subscription, count: int) -> list[bytes]:
    """Receive and ack `count` messages."""
    bodies: list[bytes] = []
    iterator = aiter(subscription)
    for _ in range(count):
        message = await anext(iterator)
        async with message.process():
            bodies.append(message.body)
    return bodies


async def next_message(subscription: Subscription) -> Message:
    return await anext(aiter(subscription))


async def nothing_arrives(subscription: Subscription) -> bool:
    """True if no message is waiting for this subscription (checked without timing)."""
    task = asyncio.create_task(next_message(subscription))
    for _ in range(5):
        await asyncio.sleep(0)
    arrived = task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return not arrived


async def test_a_direct_pipe_keeps_messages_published_before_anyone_subscribes() -> None:
    transport = MemoryTransport()
    await transport.publish("results", b"1")
    await transport.publish("results", b"2")
    assert transport.depth("results") == 2
    subscription = await transport.subscribe("results")
    assert await take(subscription, 2) == [b"1", b"2"]
    assert transport.depth("results") == 0


async def test_a_direct_pipe_gives_each_message_to_exactly_one_consumer() -> None:
    transport = MemoryTransport()
    first = await transport.subscribe("results")
    second = await transport.subscribe("results")
    received: dict[str, list[bytes]] = {"first": [], "second": []}

    async def consume(name: str, subscription: Subscription) -> None:
        async for message in subscription:
            async with message.process():
                received[name].append(message.body)
                await asyncio.sleep(0)

    tasks = [asyncio.create_task(consume("first", first)), asyncio.create_task(consume("second", second))]
    await asyncio.sleep(0)
    bodies = [str(n).encode() for n in range(100)]
    for body in bodies:
        await transport.publish("results", body)
    while sum(len(v) for v in received.values()) < 100:
        await asyncio.sleep(0)
    await transport.close()
    await asyncio.gather(*tasks)
    assert sorted(received["first"] + received["second"], key=int) == bodies
    assert received["first"] and received["second"], "both competing consumers got work"


async def test_a_fanout_pipe_gives_every_subscriber_its_own_copy() -> None:
    transport = MemoryTransport()
    a = await transport.subscribe("linux", kind="fanout")
    b = await transport.subscribe("linux", kind="fanout")
    await transport.publish("linux", b"check-request", kind="fanout")
    assert await take(a, 1) == [b"check-request"]
    assert await take(b, 1) == [b"check-request"]


async def test_a_fanout_message_without_subscribers_is_dropped() -> None:
    transport = MemoryTransport()
    await transport.publish("linux", b"lost", kind="fanout")
    late = await transport.subscribe("linux", kind="fanout")
    assert await nothing_arrives(late)
    await transport.publish("linux", b"kept", kind="fanout")
    assert await take(late, 1) == [b"kept"]


async def test_fanout_subscribers_sharing_a_queue_name_share_its_messages() -> None:
    transport = MemoryTransport()
    one = await transport.subscribe("roundrobin:web", kind="fanout", queue="web-pool")
    two = await transport.subscribe("roundrobin:web", kind="fanout", queue="web-pool")
    other = await transport.subscribe("roundrobin:web", kind="fanout", queue="audit")
    for n in range(4):
        await transport.publish("roundrobin:web", str(n).encode(), kind="fanout")
    assert transport.depth("roundrobin:web", kind="fanout") == 8
    shared = await take(one, 2) + await take(two, 2)
    assert sorted(shared) == [b"0", b"1", b"2", b"3"]
    assert await take(other, 4) == [b"0", b"1", b"2", b"3"]


async def test_an_exception_while_processing_requeues_the_message_for_the_next_consumer() -> None:
    transport = MemoryTransport()
    await transport.publish("results", b"first")
    await transport.publish("results", b"second")
    failing = await transport.subscribe("results")
    message = await next_message(failing)
    assert isinstance(message, MemoryMessage)
    assert not message.redelivered
    with pytest.raises(RuntimeError, match="handler broke"):
        async with message.process():
            raise RuntimeError("handler broke")
    await failing.close()
    healthy = await transport.subscribe("results")
    again = await next_message(healthy)
    assert isinstance(again, MemoryMessage)
    assert again.body == b"first"
    assert again.redelivered
    async with again.process():
        pass
    assert await take(healthy, 1) == [b"second"]


async def test_a_cancelled_processing_requeues_the_message() -> None:
    transport = MemoryTransport()
    await transport.publish("results", b"in-flight")
    subscription = await transport.subscribe("results")
    message = await next_message(subscription)
    started = asyncio.Event()

    async def work() -> None:
        async with message.process():
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert transport.depth("results") == 1


async def test_an_acked_message_is_gone() -> None:
    transport = MemoryTransport()
    await transport.publish("results", b"done")
    subscription = await transport.subscribe("results")
    assert await take(subscription, 1) == [b"done"]
    assert transport.depth("results") == 0
    assert await nothing_arrives(subscription)


async def test_a_message_cannot_be_processed_twice() -> None:
    transport = MemoryTransport()
    await transport.publish("results", b"once")
    subscription = await transport.subscribe("results")
    message = await next_message(subscription)
    async with message.process():
        pass
    with pytest.raises(RuntimeError):
        async with message.process():
            pass


async def test_delivered_but_unprocessed_messages_are_requeued_in_order_when_the_subscription_closes() -> None:
    transport = MemoryTransport()
    for body in (b"a", b"b", b"c"):
        await transport.publish("results", body)
    subscription = await transport.subscribe("results")
    iterator = aiter(subscription)
    await anext(iterator)
    await anext(iterator)
    await subscription.close()
    assert transport.depth("results") == 3
    successor = await transport.subscribe("results")
    assert await take(successor, 3) == [b"a", b"b", b"c"]


async def test_iteration_ends_after_close() -> None:
    transport = MemoryTransport()
    subscription = await transport.subscribe("results")
    received: list[bytes] = []

    async def consume() -> None:
        async for message in subscription:
            received.append(message.body)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await subscription.close()
    await task
    await transport.publish("results", b"after")
    assert received == []
    assert transport.depth("results") == 1


async def test_closing_the_transport_ends_every_subscription_and_refuses_publishes() -> None:
    transport = MemoryTransport()
    direct = await transport.subscribe("results")
    fanout = await transport.subscribe("linux", kind="fanout")
    tasks = [asyncio.create_task(take(s, 1)) for s in (direct, fanout)]
    await asyncio.sleep(0)
    await transport.close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StopAsyncIteration) for r in results)
    with pytest.raises(RuntimeError):
        await transport.publish("results", b"x")


async def test_a_fanout_queue_goes_away_with_its_last_subscriber() -> None:
    transport = MemoryTransport()
    subscription = await transport.subscribe("linux", kind="fanout", queue="client-1")
    await transport.publish("linux", b"request", kind="fanout")
    await subscription.close()
    assert transport.depth("linux", kind="fanout") == 0
    again = await transport.subscribe("linux", kind="fanout", queue="client-1")
    assert await nothing_arrives(again)


async def test_an_unknown_pipe_kind_is_refused() -> None:
    transport = MemoryTransport()
    with pytest.raises(ValueError, match="unknown pipe kind"):
        await transport.publish("x", b"", kind="topic")  # type: ignore[arg-type]
