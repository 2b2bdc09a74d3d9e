"""The Transport contract: what clients and servers rely on, for memory, RabbitMQ and Redis.

Every test runs against the embedded MemoryTransport, a RabbitMQTransport on the shared
broker, in a vhost of this module's own, a RabbitMQTransport over TLS (client certificate,
broker verified against its authority) to a private node, and a RedisTransport on the local
Redis, in a database this run claims; pipe names are unique per test so the tests never see each
other's queues. A direct pipe not named `roundrobin:`/`direct:` behaves like
`results`: ogi owns its durable queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from pipeline.transport.base import Message, Subscription, Transport
from pipeline.transport.memory import MemoryTransport
from tests.contract.transport_fixtures import (
    redis_settings_for,
    require_rabbitmq,
    settings_for,
    transport_redis_db,
)
from tests.helpers import TlsBroker

T = TypeVar("T")
#: Generous bound on a wait that should end at once; a hang fails the test instead of blocking the run.
GUARD = 10.0


async def guarded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, GUARD)


@dataclass
class Backend:
    """Makes transports of one kind: every `make()` of the memory kind is the same in-process bus."""

    kind: str
    vhost: str | None = None
    redis_db: int = 0
    #: Settings of a RabbitMQ transport elsewhere than a vhost of the shared broker.
    settings: dict[str, Any] | None = None
    made: list[Transport] = field(default_factory=list)

    def make(self) -> Transport:
        if self.kind == "memory":
            if not self.made:
                self.made.append(MemoryTransport())
            return self.made[0]
        if self.kind == "redis":
            from pipeline.transport.redis import RedisTransport

            made = RedisTransport(redis_settings_for(self.redis_db))
            self.made.append(made)
            return made
        from pipeline.transport.rabbitmq import RabbitMQTransport

        if self.settings is not None:
            transport = RabbitMQTransport(self.settings)
            self.made.append(transport)
            return transport
        assert self.vhost is not None
        transport = RabbitMQTransport(settings_for(self.vhost))
        self.made.append(transport)
        return transport

    @staticmethod
    def name(base: str) -> str:
        return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["memory", "rabbitmq", "rabbitmq-tls", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "rabbitmq":
        require_rabbitmq()
        made = Backend("rabbitmq", request.getfixturevalue("rabbitmq_vhost"))
    elif request.param == "rabbitmq-tls":
        broker: TlsBroker = request.getfixturevalue("rabbitmq_tls")
        made = Backend("rabbitmq", settings={"rabbitmq": broker.rabbitmq(),
                                             "transport": {"name": "rabbitmq", "reconnect_interval": 0.2}})
    elif request.param == "redis":
        made = Backend("redis", redis_db=transport_redis_db())
    else:
        made = Backend("memory")
    try:
        yield made
    finally:
        for transport in made.made:
            await transport.close()


async def receive(subscription: Subscription, count: int, each: Callable[[Message], Awaitable[None]] | None = None,
                  ) -> list[bytes]:
    """Take and ack `count` messages."""
    bodies: list[bytes] = []
    iterator = aiter(subscription)
    while len(bodies) < count:
        message = await guarded(anext(iterator))
        async with message.process():
            bodies.append(message.body)
            if each is not None:
                await each(message)
    return bodies


async def test_each_message_on_a_direct_pipe_goes_to_exactly_one_of_its_competing_consumers(backend: Backend) -> None:
    pipe = backend.name("results")
    first = await backend.make().subscribe(pipe)
    second = await backend.make().subscribe(pipe)
    publisher = backend.make()
    sent = [str(i).encode() for i in range(20)]
    got: dict[str, list[bytes]] = {"first": [], "second": []}
    done = asyncio.Event()

    async def consume(name: str, subscription: Subscription) -> None:
        async for message in subscription:
            async with message.process():
                got[name].append(message.body)
                await asyncio.sleep(0)  # let the other consumer in, as real processing would
            if len(got["first"]) + len(got["second"]) == len(sent):
                done.set()

    tasks = [asyncio.create_task(consume("first", first)), asyncio.create_task(consume("second", second))]
    for body in sent:
        await publisher.publish(pipe, body)
    await guarded(done.wait())
    await first.close()
    await second.close()
    await guarded(asyncio.gather(*tasks))
    assert sorted(got["first"] + got["second"]) == sorted(sent)
    assert got["first"] and got["second"]


async def test_results_published_before_any_server_subscribed_wait_for_the_first_one(backend: Backend) -> None:
    pipe = backend.name("results")
    client = backend.make()
    for body in (b"1", b"2", b"3"):
        await client.publish(pipe, body)
    server = await backend.make().subscribe(pipe)
    assert await receive(server, 3) == [b"1", b"2", b"3"]


async def test_a_batch_published_together_arrives_whole_and_in_order_on_a_direct_pipe(backend: Backend) -> None:
    pipe = backend.name("results")
    client = backend.make()
    await client.publish(pipe, b"before")
    await client.publish_many(pipe, [str(i).encode() for i in range(50)])
    await client.publish_many(pipe, [b"alone"])
    await client.publish_many(pipe, [])
    server = await backend.make().subscribe(pipe)
    assert await receive(server, 52) == [b"before", *(str(i).encode() for i in range(50)), b"alone"]


async def test_a_batch_on_a_fanout_pipe_reaches_every_subscriber_in_order(backend: Backend) -> None:
    pipe = backend.name("webserver")
    one = await backend.make().subscribe(pipe, "fanout", f"{pipe}-host1-1.0-1")
    two = await backend.make().subscribe(pipe, "fanout", f"{pipe}-host2-1.0-1")
    await backend.make().publish_many(pipe, [b"a", b"b", b"c"], "fanout")
    for subscription in (one, two):
        assert await receive(subscription, 3) == [b"a", b"b", b"c"]


async def test_a_fanout_pipe_gives_every_subscriber_its_own_copy_in_order(backend: Backend) -> None:
    pipe = backend.name("webserver")
    one = await backend.make().subscribe(pipe, "fanout", f"{pipe}-host1-1.0-1")
    two = await backend.make().subscribe(pipe, "fanout", f"{pipe}-host2-1.0-1")
    anonymous = await backend.make().subscribe(pipe, "fanout")
    server = backend.make()
    for body in (b"a", b"b", b"c"):
        await server.publish(pipe, body, "fanout")
    for subscription in (one, two, anonymous):
        assert await receive(subscription, 3) == [b"a", b"b", b"c"]


async def test_a_roundrobin_subscription_gives_each_request_to_one_of_its_subscribers(backend: Backend) -> None:
    pipe = "roundrobin:" + backend.name("web")
    clients = [await backend.make().subscribe(pipe, "direct") for _ in range(3)]
    server = backend.make()
    sent = [f"request {i}".encode() for i in range(9)]
    got: list[bytes] = []
    done = asyncio.Event()

    async def consume(subscription: Subscription) -> None:
        async for message in subscription:
            async with message.process():
                got.append(message.body)
                await asyncio.sleep(0)
            if len(got) == len(sent):
                done.set()

    tasks = [asyncio.create_task(consume(s)) for s in clients]
    for body in sent:
        await server.publish(pipe, body, "direct")
    await guarded(done.wait())
    for subscription in clients:
        await subscription.close()
    await guarded(asyncio.gather(*tasks))
    assert sorted(got) == sorted(sent)


async def test_a_message_whose_processing_raises_comes_back_and_an_acked_one_does_not(backend: Backend) -> None:
    pipe = backend.name("results")
    transport = backend.make()
    await transport.publish(pipe, b"first")
    subscription = await transport.subscribe(pipe)
    iterator = aiter(subscription)
    message = await guarded(anext(iterator))
    assert (message.body, message.redelivered) == (b"first", False)
    with pytest.raises(ValueError):
        async with message.process():
            raise ValueError("handler crashed")
    again = await guarded(anext(iterator))
    assert (again.body, again.redelivered) == (b"first", True)
    async with again.process():
        pass
    await transport.publish(pipe, b"second")
    following = await guarded(anext(iterator))
    assert following.body == b"second"  # "first" was acked: it never comes a third time
    async with following.process():
        pass


async def test_a_message_that_always_fails_is_moved_to_the_failed_pipe_after_five_attempts(backend: Backend) -> None:
    pipe = backend.name("results")
    transport = backend.make()
    failed = await transport.subscribe(pipe + ".failed")
    subscription = await transport.subscribe(pipe)
    await transport.publish(pipe, b"poison")
    await transport.publish(pipe, b"fine")
    attempts = 0
    processed: list[bytes] = []
    iterator = aiter(subscription)
    while processed != [b"fine"] or attempts < 5:
        message = await guarded(anext(iterator))
        try:
            async with message.process():
                if message.body == b"poison":
                    attempts += 1
                    raise RuntimeError("cannot process this one")
                processed.append(message.body)
        except RuntimeError:
            pass
    assert attempts == 5
    assert await receive(failed, 1) == [b"poison"]
    await transport.publish(pipe, b"after")
    assert await receive(subscription, 1) == [b"after"]  # the poison message is gone from the queue


async def test_a_message_taken_but_not_processed_when_its_subscription_closes_is_delivered_again(
        backend: Backend) -> None:
    pipe = backend.name("results")
    transport = backend.make()
    await transport.publish(pipe, b"1")
    subscription = await transport.subscribe(pipe)
    message = await guarded(anext(aiter(subscription)))
    assert message.body == b"1"
    await subscription.close()
    with pytest.raises(RuntimeError):
        async with message.process():
            pass
    later = await backend.make().subscribe(pipe)
    assert await receive(later, 1) == [b"1"]


async def test_closing_a_subscription_ends_its_iteration(backend: Backend) -> None:
    subscription = await backend.make().subscribe(backend.name("results"))

    async def iterate() -> int:
        return len([message async for message in subscription])

    task = asyncio.create_task(iterate())
    await asyncio.sleep(0)
    await subscription.close()
    assert await guarded(task) == 0


async def test_closing_the_transport_ends_its_subscriptions_and_a_publish_afterwards_raises(backend: Backend) -> None:
    transport = backend.make()
    pipe = backend.name("results")
    direct = await transport.subscribe(pipe)
    fanout = await transport.subscribe(backend.name("web"), "fanout", backend.name("host1"))
    tasks = [asyncio.create_task(receive(s, 1)) for s in (direct, fanout)]
    await asyncio.sleep(0)
    await transport.close()
    for task in tasks:
        with pytest.raises(StopAsyncIteration):
            await guarded(task)
    with pytest.raises(RuntimeError, match="closed"):
        await transport.publish(pipe, b"late")
    with pytest.raises(RuntimeError, match="closed"):
        await transport.subscribe(pipe)


async def test_an_unknown_pipe_kind_is_refused(backend: Backend) -> None:
    transport = backend.make()
    with pytest.raises(ValueError, match="unknown pipe kind"):
        await transport.publish(backend.name("results"), b"x", "topic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown pipe kind"):
        await transport.subscribe(backend.name("results"), "topic")  # type: ignore[arg-type]


async def test_a_transport_that_never_lost_its_connection_says_it_is_connected(backend: Backend) -> None:
    transport = backend.make()
    events: list[str] = []
    transport.on_disconnect(lambda: events.append("down"))
    transport.on_reconnect(lambda: events.append("up"))
    await transport.subscribe(backend.name("results"))
    assert transport.connected
    assert events == []


async def test_dispatch_starts_a_handler_per_message_in_arrival_order_and_acks_each(backend: Backend) -> None:
    pipe = backend.name("results")
    transport = backend.make()
    sent = [str(i).encode() for i in range(300)]
    for body in sent[:150]:
        await transport.publish(pipe, body)
    subscription = await transport.subscribe(pipe)
    await asyncio.sleep(0.2)  # over RabbitMQ a prefetch's worth is delivered before dispatch starts
    started: list[bytes] = []
    done = asyncio.Event()

    async def handle(message: Message) -> None:
        started.append(message.body)
        async with message.process():
            await asyncio.sleep(0.001 * (len(started) % 3))  # finish out of order, as real work does
        if len(started) == len(sent):
            done.set()

    dispatching = asyncio.create_task(subscription.dispatch(handle))
    for body in sent[150:]:
        await transport.publish(pipe, body)
    await guarded(done.wait())
    await subscription.close()
    await guarded(dispatching)  # closing the subscription ends its dispatch
    assert started == sent
    await transport.publish(pipe, b"after")
    assert await receive(await backend.make().subscribe(pipe), 1) == [b"after"]  # every other one was acked


async def test_queue_stats_count_the_messages_waiting_and_the_consumers_of_a_direct_pipe(backend: Backend) -> None:
    pipe = backend.name("results")
    publisher = backend.make()
    assert await publisher.queue_stats(pipe) == (0, 0)  # type: ignore[attr-defined]
    for body in (b"1", b"2"):
        await publisher.publish(pipe, body)
    assert await publisher.queue_stats(pipe) == (2, 0)  # type: ignore[attr-defined]
    first = await backend.make().subscribe(pipe)
    assert await receive(first, 2) == [b"1", b"2"]
    second = await backend.make().subscribe(pipe)
    await wait_until(lambda: publisher.queue_stats(pipe), (0, 2))  # type: ignore[attr-defined]
    await first.close()
    await wait_until(lambda: publisher.queue_stats(pipe), (0, 1))  # type: ignore[attr-defined]
    await second.close()


async def wait_until(ask: Callable[[], Awaitable[Any]], wanted: Any, seconds: float = 5.0) -> None:
    """The broker counts asynchronously: ask until the answer is `wanted`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (found := await ask()) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"still {found}, wanted {wanted}"
        await asyncio.sleep(0.05)
