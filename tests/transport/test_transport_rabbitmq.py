"""RabbitMQTransport beyond the shared contract: settings, declarations, conflicts, reconnects, faults.

Broker tests run in a vhost of this module's own on the shared broker; connection loss is
made with a TCP relay the test cuts (real sockets, real broker), and the one restart test
stops and starts a private node on free ports.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import pytest

from bench.private_peers import PrivateRabbitMQ
from bench.vhost import fresh_vhost, rabbitmqctl
from pipeline.config.load import load_config, settings_of
from pipeline.config.validate import validate
from pipeline.errors import ConfigErrors
from pipeline.registry import default_registry
from pipeline.transport import transport_from_settings
from pipeline.transport.amqp_settings import Broker, amqp_settings
from pipeline.transport.base import Message
from pipeline.transport.memory import MemoryTransport
from pipeline.transport.rabbitmq import RabbitMQTransport, TopologyConflict
from tests.contract.transport_fixtures import (
    list_table,
    require_rabbitmq,
    settings_for,
)
from tests.helpers import ROOT

T = TypeVar("T")
GUARD = 10.0


async def guarded(awaitable: Awaitable[T], timeout: float = GUARD) -> T:
    return await asyncio.wait_for(awaitable, timeout)


async def until(condition: Callable[[], bool], timeout: float = GUARD) -> None:
    """Wait for a condition the transport reaches by itself (a reconnect), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def unique(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:8]}"


def keep_order(brokers: list[Broker]) -> None:
    """A `shuffle` that leaves the brokers in the order given."""


# --- settings (no broker) --------------------------------------------------------------------


def test_without_rabbitmq_settings_ogi_uses_sensus_defaults_and_a_prefetch_of_100() -> None:
    settings = amqp_settings({})
    assert [b.url for b in settings.brokers] == ["amqp://guest:guest@127.0.0.1:5672/%2F"]
    assert (settings.prefetch, settings.buffer_limit, settings.max_attempts) == (100, 10_000, 5)


def test_a_broker_object_becomes_a_url_with_its_vhost_credentials_and_heartbeat_escaped() -> None:
    settings = amqp_settings({"rabbitmq": {"host": "mq1", "port": 5673, "vhost": "/sensu", "user": "sensu",
                                           "password": "p@ss:w/rd", "heartbeat": 30, "prefetch": 7}})
    broker = settings.brokers[0]
    assert broker.url == "amqp://sensu:p%40ss%3Aw%2Frd@mq1:5673/%2Fsensu?heartbeat=30"
    assert broker.label == "amqp://mq1:5673/%2Fsensu"  # no password in logs
    assert settings.prefetch == 7


def test_an_array_of_brokers_is_shuffled_and_the_first_broker_setting_prefetch_decides_it() -> None:
    brokers = [{"host": "mq1", "prefetch": 5}, {"host": "mq2", "prefetch": 9}, {"host": "mq3"}]
    settings = amqp_settings({"rabbitmq": brokers}, shuffle=lambda items: items.reverse())
    assert [b.label.split("//")[1].split(":")[0] for b in settings.brokers] == ["mq3", "mq2", "mq1"]
    assert settings.prefetch == 5


def test_sensu_tls_settings_become_amqps_with_the_client_certificate() -> None:
    settings = amqp_settings({"rabbitmq": {"host": "mq", "port": 5671, "ssl": {
        "cert_chain_file": "/etc/sensu/ssl/cert.pem", "private_key_file": "/etc/sensu/ssl/key.pem",
        "verify_peer": False}}})
    url = settings.brokers[0].url
    assert url.startswith("amqps://guest:guest@mq:5671/%2F?")
    assert "certfile=%2Fetc%2Fsensu%2Fssl%2Fcert.pem" in url and "keyfile=%2Fetc%2Fsensu%2Fssl%2Fkey.pem" in url
    assert "no_verify_ssl=1" in url


def test_rabbitmq_url_from_the_environment_reaches_the_transport(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"rabbitmq": {"prefetch": 20}}))
    loaded = load_config([str(config)], [], env={"RABBITMQ_URL": "amqp://u:secret@mq.example:5680/prod"})
    settings = amqp_settings(loaded.settings)
    assert settings.brokers == (Broker("amqp://u:secret@mq.example:5680/prod", "amqp://mq.example:5680/prod"),)
    assert settings.prefetch == 20


def test_every_mistake_in_the_rabbitmq_settings_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigErrors) as raised:
        amqp_settings({"rabbitmq": [{"port": "5672", "heartbeat": -1}, {"prefetch": 0, "ssl": {"cert_chain_file": "c"}},
                                    {"url": "http://mq"}],
                       "transport": {"name": "rabbitmq", "max_attempts": 0, "buffer_limit": "big"}})
    paths = [error.path for error in raised.value.errors]
    assert paths == ["rabbitmq[0].port", "rabbitmq[0].heartbeat", "rabbitmq[1].ssl", "rabbitmq[1].prefetch",
                     "rabbitmq[2].url", "transport.buffer_limit", "transport.max_attempts"]


def test_the_transport_named_in_the_settings_is_built_and_an_unknown_one_is_refused() -> None:
    assert isinstance(transport_from_settings(settings_of({})), MemoryTransport)
    assert isinstance(transport_from_settings(settings_of({}), default="rabbitmq"), RabbitMQTransport)
    assert isinstance(transport_from_settings(settings_of({"transport": {"name": "rabbitmq"}})), RabbitMQTransport)
    memory = transport_from_settings(settings_of({"transport": {"name": "memory", "max_attempts": 2}}), default="rabbitmq")
    assert isinstance(memory, MemoryTransport) and memory.max_attempts == 2
    with pytest.raises(ConfigErrors, match='must be "memory", "rabbitmq" or "redis"'):
        settings_of({"transport": {"name": "kafka"}})


def test_every_json_block_in_the_rabbitmq_doc_is_valid_configuration() -> None:
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "docs" / "rabbitmq.md").read_text(), re.S)
    assert len(blocks) >= 5
    for block in blocks:
        settings = json.loads(block)
        assert validate(settings, default_registry)[0] == []
        amqp_settings(settings)  # raises ConfigErrors on any mistake


# --- a TCP relay the test can cut ------------------------------------------------------------


class CuttableRelay:
    """Relays TCP to the broker; `cut()` drops every connection and refuses new ones until `restore()`."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.open = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> CuttableRelay:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        self.open = False
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def relay() -> AsyncIterator[CuttableRelay]:
    require_rabbitmq()
    started = await CuttableRelay().start()
    try:
        yield started
    finally:
        await started.close()


async def until_acked(vhost: str, queue: str) -> None:
    """Wait until the broker has no unacknowledged message in `queue` (acks are sent without a reply)."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + GUARD
    while (await loop.run_in_executor(None, list_table, vhost, "list_queues", "messages_unacknowledged")
           )[queue]["messages_unacknowledged"] != "0":
        assert time.monotonic() < deadline, f"{queue}: messages still unacknowledged"
        await asyncio.sleep(0.05)


async def take(subscription: Any) -> Any:
    return await guarded(anext(aiter(subscription)))


# --- declarations as Sensu makes them --------------------------------------------------------


async def test_exchanges_are_declared_as_sensu_declares_them_and_only_results_queues_are_durable(
        rabbitmq_vhost: str) -> None:
    server = RabbitMQTransport(settings_for(rabbitmq_vhost))
    try:
        for pipe in ("results", "keepalives"):
            await server.subscribe(pipe)
        await server.subscribe("roundrobin:web", "direct")
        await server.subscribe("webserver", "fanout", "host1-1.9.0-1700000000")
        await server.subscribe("client:host1", "fanout", "host1-1.9.0-1700000000")
        queues = list_table(rabbitmq_vhost, "list_queues", "durable", "auto_delete")
        exchanges = list_table(rabbitmq_vhost, "list_exchanges", "type", "durable", "auto_delete")
    finally:
        await server.close()
    assert queues == {
        "results": {"durable": "true", "auto_delete": "false"},
        "keepalives": {"durable": "true", "auto_delete": "false"},
        "roundrobin:web": {"durable": "false", "auto_delete": "true"},
        "host1-1.9.0-1700000000": {"durable": "false", "auto_delete": "true"},
    }
    for name, kind in (("results", "direct"), ("keepalives", "direct"), ("roundrobin:web", "direct"),
                       ("webserver", "fanout"), ("client:host1", "fanout")):
        assert exchanges[name] == {"type": kind, "durable": "false", "auto_delete": "false"}


async def test_results_are_published_persistent_and_a_roundrobin_request_to_nobody_is_not_kept(
        rabbitmq_vhost: str) -> None:
    pipe = unique("results")
    client = RabbitMQTransport(settings_for(rabbitmq_vhost))
    try:
        await client.publish(pipe, b'{"client":"host1"}')
        await client.publish("roundrobin:" + unique("nobody"), b"request", "direct")
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1/{rabbitmq_vhost}")
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(pipe)
            message = await queue.get(timeout=5)
            assert message is not None
            assert (message.body, message.delivery_mode) == (b'{"client":"host1"}', aio_pika.DeliveryMode.PERSISTENT)
            await message.ack()
        assert not any(name.startswith("roundrobin:nobody") for name in list_table(rabbitmq_vhost, "list_queues"))
    finally:
        await client.close()


async def test_a_vhost_with_a_slash_is_reached_as_sensu_users_write_it() -> None:
    require_rabbitmq()
    with fresh_vhost(prefix="/ogi-slash-") as vhost:
        transport = RabbitMQTransport(settings_for(vhost))
        try:
            await transport.publish("results", b"x")
            assert await transport.depth("results") == 1
        finally:
            await transport.close()


async def test_a_sensu_servers_auto_delete_results_queue_stops_an_ogi_server_but_not_an_ogi_client(
        rabbitmq_vhost: str) -> None:
    pipe = unique("results")
    connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1/{rabbitmq_vhost}")
    ogi = RabbitMQTransport(settings_for(rabbitmq_vhost))
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(pipe, "direct", durable=False)
        sensu_queue = await channel.declare_queue(pipe, auto_delete=True)
        await sensu_queue.bind(exchange, "")
        with pytest.raises(TopologyConflict, match="docs/rabbitmq.md"):
            await ogi.subscribe(pipe)
        await ogi.publish(pipe, b"from an ogi client")
        message = await sensu_queue.get(timeout=5)
        assert message is not None and message.body == b"from an ogi client"
        assert ogi.counts["queue_conflicts"] == 1
        other = unique("results")
        await ogi.publish(other, b"still works")
        assert await ogi.depth(other) == 1
    finally:
        await ogi.close()
        await connection.close()


async def ack(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    await message.ack()


async def test_the_migration_in_the_doc_frees_the_vhost_for_an_ogi_server() -> None:
    """docs/rabbitmq.md, 'Migrating': the Sensu queues go with their last consumer, or with delete_queue."""
    require_rabbitmq()
    with fresh_vhost() as vhost:
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1/{vhost}")
        channel = await connection.channel()
        for pipe in ("results", "keepalives"):  # a Sensu server: auto-delete queues, results consumed
            exchange = await channel.declare_exchange(pipe, "direct", durable=False)
            queue = await channel.declare_queue(pipe, auto_delete=True)
            await queue.bind(exchange, "")
            if pipe == "results":
                await queue.consume(ack)
        ogi = RabbitMQTransport(settings_for(vhost))
        try:
            with pytest.raises(TopologyConflict, match="'results'.*docs/rabbitmq.md, 'Migrating'"):
                await ogi.subscribe("results")
            await connection.close()  # step 1: the last Sensu server stops
            loop = asyncio.get_running_loop()
            await until(lambda: "results" not in list_table(vhost, "list_queues"))
            # step 2: keepalives never had a consumer, so it stayed; the doc's command removes it
            assert list_table(vhost, "list_queues", "auto_delete") == {"keepalives": {"auto_delete": "true"}}
            await loop.run_in_executor(None, rabbitmqctl, "delete_queue", "-p", vhost, "keepalives")
            for pipe in ("results", "keepalives"):  # step 3
                await ogi.subscribe(pipe)
            assert list_table(vhost, "list_queues", "durable") == {"results": {"durable": "true"},
                                                                  "keepalives": {"durable": "true"}}
        finally:
            await ogi.close()
            await connection.close()


async def test_a_subscription_holds_at_most_prefetch_unacked_messages(rabbitmq_vhost: str) -> None:
    pipe = unique("results")
    settings = settings_for(rabbitmq_vhost)
    settings["rabbitmq"]["prefetch"] = 3
    transport = RabbitMQTransport(settings)
    try:
        for i in range(10):
            await transport.publish(pipe, str(i).encode())
        subscription = await transport.subscribe(pipe)
        iterator = aiter(subscription)
        held = [await guarded(anext(iterator)) for _ in range(3)]
        assert [m.body for m in held] == [b"0", b"1", b"2"]
        assert await transport.depth(pipe) == 7
    finally:
        await transport.close()


async def test_a_slow_message_does_not_hold_back_the_acks_of_faster_ones(rabbitmq_vhost: str) -> None:
    pipe = unique("results")
    settings = settings_for(rabbitmq_vhost)
    settings["rabbitmq"]["prefetch"] = 2
    transport = RabbitMQTransport(settings)
    try:
        for body in (b"slow", b"fast", b"next"):
            await transport.publish(pipe, body)
        iterator = aiter(await transport.subscribe(pipe))
        slow, fast = await guarded(anext(iterator)), await guarded(anext(iterator))
        async with slow.process():
            async with fast.process():
                pass
            # Only fast's ack frees a prefetch slot: "next" arrives while "slow" is still held.
            following = await guarded(anext(iterator))
            assert following.body == b"next"
            async with following.process():
                pass
        assert await transport.depth(pipe) == 0
    finally:
        await transport.close()


async def test_a_dead_lettered_message_keeps_its_body_and_says_why_and_where_from(rabbitmq_vhost: str) -> None:
    pipe = unique("results")
    settings = settings_for(rabbitmq_vhost, max_attempts=2)
    transport = RabbitMQTransport(settings)
    try:
        await transport.publish(pipe, b"poison")
        subscription = await transport.subscribe(pipe)
        iterator = aiter(subscription)
        for _ in range(2):
            message = await guarded(anext(iterator))
            with pytest.raises(KeyError):
                async with message.process():
                    raise KeyError("check")
        assert transport.counts["dead_lettered"] == 1
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1/{rabbitmq_vhost}")
        async with connection:
            failed = await (await connection.channel()).get_queue(pipe + ".failed")
            dead = await failed.get(timeout=5)
            assert dead is not None
            assert dead.body == b"poison" and dead.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert dead.headers["x-ogi-attempts"] == 2
            assert dead.headers["x-ogi-queue"] == pipe
            assert dead.headers["x-ogi-error"] == "KeyError: 'check'"
        assert await transport.depth(pipe) == 0
    finally:
        await transport.close()


# --- losing the connection -------------------------------------------------------------------


async def test_publishes_while_disconnected_are_buffered_up_to_the_limit_and_sent_when_back(
        rabbitmq_vhost: str, relay: CuttableRelay) -> None:
    pipe = unique("results")
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost, port=relay.port, buffer_limit=3))
    events: list[str] = []

    async def resumed() -> None:
        events.append("up")

    transport.on_disconnect(lambda: events.append("down"))
    transport.on_reconnect(resumed)
    try:
        subscription = await transport.subscribe(pipe)
        await transport.publish(pipe, b"0")
        iterator = aiter(subscription)
        first = await guarded(anext(iterator))
        async with first.process():
            pass
        await until_acked(rabbitmq_vhost, pipe)  # else the cut may beat the ack and "0" comes again
        relay.cut()
        await until(lambda: not transport.connected)
        for i in range(1, 6):
            await transport.publish(pipe, str(i).encode())
        assert (transport.pending, transport.counts["buffer_dropped"]) == (3, 2)
        relay.restore()
        await until(lambda: transport.connected)
        bodies = []
        for _ in range(3):
            message = await guarded(anext(iterator))  # the same subscription: its consumer was resumed
            async with message.process():
                bodies.append(message.body)
        assert bodies == [b"3", b"4", b"5"]
        assert events == ["down", "up"]
    finally:
        await transport.close()


async def test_a_message_being_processed_when_the_connection_drops_is_delivered_again_not_lost(
        rabbitmq_vhost: str, relay: CuttableRelay) -> None:
    pipe = unique("results")
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost, port=relay.port))
    try:
        await transport.publish(pipe, b"in flight")
        subscription = await transport.subscribe(pipe)
        iterator = aiter(subscription)
        message = await guarded(anext(iterator))
        async with message.process():
            relay.cut()
            await until(lambda: not transport.connected)
            relay.restore()
            await until(lambda: transport.connected)
        again = await guarded(anext(iterator))
        assert (again.body, again.redelivered) == (b"in flight", True)
        async with again.process():
            pass
        assert transport.counts["settle_lost"] == 1  # the ack that could not go out, counted
    finally:
        await transport.close()


async def test_a_dispatching_subscription_takes_and_acks_messages_again_after_the_broker_restarts(
        private_rabbitmq: PrivateRabbitMQ) -> None:
    settings = settings_for("/", port=private_rabbitmq.port)
    pipe = unique("results")
    transport = RabbitMQTransport(settings)
    handled: list[bytes] = []
    loop = asyncio.get_running_loop()

    async def handle(message: Message) -> None:
        async with message.process():
            handled.append(message.body)

    try:
        subscription = await transport.subscribe(pipe)
        dispatching = asyncio.create_task(subscription.dispatch(handle))
        await transport.publish(pipe, b"before")
        await until(lambda: handled == [b"before"])
        await loop.run_in_executor(None, private_rabbitmq.stop)
        await until(lambda: not transport.connected)
        await loop.run_in_executor(None, private_rabbitmq.start)
        await until(lambda: transport.connected, timeout=30)  # the queue, binding and consumer restored
        await transport.publish(pipe, b"after")
        await until(lambda: handled == [b"before", b"after"])
    finally:
        await transport.close()
    await guarded(dispatching)  # the transport closed the subscription: its dispatch ended
    checker = RabbitMQTransport(settings)
    try:
        assert await checker.depth(pipe) == 0, "both were acked: none came back when the consumer went away"
    finally:
        await checker.close()


async def test_a_dispatched_message_whose_connection_drops_mid_handler_is_handled_again_not_lost(
        rabbitmq_vhost: str, relay: CuttableRelay) -> None:
    pipe = unique("results")
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost, port=relay.port))
    outcomes: list[tuple[bytes, bool, str]] = []
    stuck = asyncio.Event()

    async def handle(message: Message) -> None:
        try:
            async with message.process():
                if not message.redelivered:
                    stuck.set()
                    await asyncio.sleep(GUARD)  # still at work when the connection drops
        except asyncio.CancelledError:
            outcomes.append((message.body, message.redelivered, "cancelled"))
            raise
        outcomes.append((message.body, message.redelivered, "done"))

    try:
        subscription = await transport.subscribe(pipe)
        dispatching = asyncio.create_task(subscription.dispatch(handle))
        await transport.publish(pipe, b"in flight")
        await guarded(stuck.wait())
        relay.cut()
        await until(lambda: not transport.connected)
        relay.restore()
        await until(lambda: len(outcomes) == 2)
        # Its ack could not have gone out: the work stops, and the broker gives the message again.
        assert outcomes == [(b"in flight", False, "cancelled"), (b"in flight", True, "done")]
    finally:
        await transport.close()
    await guarded(dispatching)


async def test_a_subscription_whose_queue_was_deleted_gets_it_back_and_goes_on_consuming(rabbitmq_vhost: str) -> None:
    pipe = unique("results")
    transport = RabbitMQTransport(settings_for(rabbitmq_vhost))
    handled: list[bytes] = []

    async def handle(message: Message) -> None:
        async with message.process():
            handled.append(message.body)

    try:
        subscription = await transport.subscribe(pipe)
        dispatching = asyncio.create_task(subscription.dispatch(handle))
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1/{rabbitmq_vhost}")
        async with connection:
            await (await connection.channel()).queue_delete(pipe)
        # aio-pika declares the queue again and resumes the consumer its own way; until then
        # the exchange routes to no queue, so publish until one arrives.
        deadline = time.monotonic() + GUARD
        sent = 0
        while not handled:
            assert time.monotonic() < deadline, "the consumer was not resumed"
            await transport.publish(pipe, f"again {sent}".encode())
            sent += 1
            await asyncio.sleep(0.1)
        while await transport.depth(pipe):  # the ones published after it are delivered too
            assert time.monotonic() < deadline, "messages left in the queue"
            await asyncio.sleep(0.05)
        await until_acked(rabbitmq_vhost, pipe)
        assert handled and all(body.startswith(b"again ") for body in handled)
    finally:
        await transport.close()
    await guarded(dispatching)


async def test_the_next_broker_is_used_when_the_first_refuses_and_when_the_connection_is_lost(
        rabbitmq_vhost: str, relay: CuttableRelay) -> None:
    # The refusing broker is a listener we own that closes every connection at once: a merely
    # free port could be taken by another process before the transport tries it.
    refusing, second = await CuttableRelay().start(), await CuttableRelay().start()
    refusing.cut()
    brokers = [{"host": "127.0.0.1", "port": port, "vhost": rabbitmq_vhost}
               for port in (refusing.port, relay.port, second.port)]
    settings = amqp_settings({"rabbitmq": brokers, "transport": {"reconnect_interval": 0.2}}, shuffle=keep_order)
    transport = RabbitMQTransport(settings)
    try:
        pipe = unique("results")
        subscription = await transport.subscribe(pipe)
        assert transport.connected and transport.broker.endswith(f":{relay.port}/{rabbitmq_vhost}")
        assert relay.writers and not second.writers
        relay.cut()  # and it stays refused: the transport must move on
        await until(lambda: not transport.connected)
        assert transport.last_error is not None
        await until(lambda: transport.connected, timeout=30)
        # The state names the broker that really carries the connection, not the next one tried.
        assert second.writers and not relay.writers
        assert transport.broker.endswith(f":{second.port}/{rabbitmq_vhost}")
        assert transport.last_error is None
        await transport.publish(pipe, b"via the second broker")
        assert (await take(subscription)).body == b"via the second broker"
        assert transport.broker.endswith(f":{second.port}/{rabbitmq_vhost}") and transport.connected
    finally:
        await transport.close()
        await second.close()
        await refusing.close()


async def test_no_result_is_lost_when_the_broker_stops_and_starts_again(private_rabbitmq: PrivateRabbitMQ) -> None:
    """Fault test: clients publish a steady stream; the node stops and starts; count every result."""
    settings = settings_for("/", port=private_rabbitmq.port)
    client, server = RabbitMQTransport(settings), RabbitMQTransport(settings)
    received: Counter[bytes] = Counter()
    published: list[bytes] = []
    loop = asyncio.get_running_loop()

    async def consume() -> None:
        async for message in await server.subscribe("results"):
            async with message.process():
                received[message.body] += 1

    async def publish(count: int, pause: float) -> None:
        for _ in range(count):
            body = json.dumps({"client": "host1", "check": {"name": "seq", "output": str(len(published)),
                                                           "status": 0}}).encode()
            await client.publish("results", body)
            published.append(body)
            await asyncio.sleep(pause)

    consumer = asyncio.create_task(consume())
    try:
        await publish(300, 0.002)
        await loop.run_in_executor(None, private_rabbitmq.stop)
        down = publish(200, 0.005)  # while the broker is down: buffered
        await asyncio.gather(down, loop.run_in_executor(None, private_rabbitmq.start))
        await publish(300, 0.002)
        await until(lambda: set(published) <= set(received), timeout=60)
    finally:
        await client.close()
        await server.close()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    missing = set(published) - set(received)
    duplicates = sum(received.values()) - len(received)
    print(f"\nbroker restart: published {len(published)}, received {len(received)} distinct, "
          f"missing {len(missing)}, duplicates {duplicates}, client counts {dict(client.counts)}, "
          f"server counts {dict(server.counts)}")
    assert not missing
    assert client.counts["disconnects"] == 1 and server.counts["disconnects"] == 1
