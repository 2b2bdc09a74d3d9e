"""The distributed transport: Sensu 1.x's RabbitMQ topology over aio-pika robust connections.

A Ruby sensu-client 1.x publishing results and keepalives, or consuming check requests, works
against it unchanged (exchanges and bodies in amqp_topology.py). Where ogi alone owns a queue
it does better than Sensu: `results` and `keepalives` are durable, publishes on direct pipes
are persistent and wait for the broker's confirm, consumers ack only after processing
(amqp_consume.py), and a message that keeps failing is dead-lettered, not retried forever.

Connections: the brokers are tried in shuffled order until one answers, then aio-pika's
robust connection reconnects on its own, re-declaring exchanges, queues and bindings and
resuming consumers; with several brokers the URL rotates while the connection is down. While
disconnected, `publish` keeps messages in a bounded buffer (oldest dropped and counted) and
sends them, in order, once the connection is back; `on_disconnect` / `on_reconnect` let a
server pause and resume its timers (Sensu's pause/resume).

A publish that returned while connected was confirmed by the broker; one that returned while
disconnected is buffered, not yet confirmed. A publish whose confirm was lost in a broker
blip is sent again: duplicates are possible, loss is not (except buffer overflow, counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
from collections import Counter, deque
from collections.abc import Coroutine
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel
from aio_pika.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed
from aio_pika.robust_connection import RobustConnection
from yarl import URL

from pipeline.model import JSON
from pipeline.transport import amqp_frames
from pipeline.transport.amqp_channel import CHANNEL_GONE, LeanQueue, use_lean_queues
from pipeline.transport.amqp_consume import RabbitMQMessage, RabbitMQSubscription, copy_message
from pipeline.transport.amqp_settings import AmqpSettings, amqp_settings
from pipeline.transport.amqp_topology import (
    QueueSpec,
    TopologyConflict,
    conflict,
    direct_queue,
    exchange_type,
    ogi_owns,
    subscription_queue,
)
from pipeline.transport.base import ConnectionCallback, PipeKind, Subscription, Transport

log = logging.getLogger("ogi")

CONNECT_TIMEOUT = 10.0
#: A confirm slower than this counts as lost; the message goes back to the buffer.
PUBLISH_TIMEOUT = 30.0
#: Buffered messages sent concurrently once the connection is back.
FLUSH_BATCH = 100
MAX_BACKOFF = 20.0


class RabbitMQTransport(Transport):
    """Sensu 1.x's RabbitMQ pipes, with durable results, confirms, retries and a reconnect buffer."""

    def __init__(
        self, settings: JSON | AmqpSettings | None = None, *, connection_name: str | None = None,
        publish_timeout: float = PUBLISH_TIMEOUT,
    ) -> None:
        self.settings = settings if isinstance(settings, AmqpSettings) else amqp_settings(settings or {})
        self.connection_name = connection_name or f"ogi {socket.gethostname()} {os.getpid()}"
        self.publish_timeout = publish_timeout
        self.counts: Counter[str] = Counter()
        self._connection: RobustConnection | None = None
        self._broker = 0
        self._publish_channel: AbstractRobustChannel | None = None
        self._topology_channel: AbstractRobustChannel | None = None
        self._exchanges: dict[str, tuple[str, AbstractExchange]] = {}
        self._queues: set[str] = set()
        self._declare_lock = asyncio.Lock()
        self._subscriptions: set[RabbitMQSubscription] = set()
        self._pending: deque[tuple[str, bytes, PipeKind]] = deque()
        self._up = False
        self._ready = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._tried = asyncio.Event()
        self._closed = False
        self._closing = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._on_disconnect: list[ConnectionCallback] = []
        self._on_reconnect: list[ConnectionCallback] = []

    # --- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._up

    @property
    def pending(self) -> int:
        """Messages buffered while disconnected, not yet sent."""
        return len(self._pending)

    @property
    def broker(self) -> str:
        """The broker in use (or tried next), without the password."""
        return self.settings.brokers[self._broker].label

    def on_disconnect(self, callback: ConnectionCallback) -> None:
        self._on_disconnect.append(callback)

    def on_reconnect(self, callback: ConnectionCallback) -> None:
        self._on_reconnect.append(callback)

    def _fire(self, callbacks: list[ConnectionCallback]) -> None:
        for callback in callbacks:
            try:
                result = callback()
            except Exception:
                log.exception("transport connection callback failed")
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Future[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("transport connection callback failed", exc_info=task.exception())

    def _background(self, task: asyncio.Future[Any]) -> None:
        """Keep a reference to a fire-and-forget task until it ends."""
        self._callback_tasks.add(task)
        task.add_done_callback(self._callback_tasks.discard)

    def _spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = self._tasks.get(name)
        if task is not None and not task.done():
            coro.close()
            return
        self._tasks[name] = asyncio.ensure_future(coro)

    # --- connecting ----------------------------------------------------------------------

    async def connect(self, timeout: float | None = None) -> None:
        """Wait until connected (retrying the brokers meanwhile); TimeoutError after `timeout` s."""
        if self._closed:
            raise RuntimeError("rabbitmq transport is closed")
        if self._up:
            return
        if self._connection is None:  # afterwards aio-pika reconnects by itself
            self._spawn("connect", self._connect_loop())
        ready = asyncio.ensure_future(self._ready.wait())
        closed = asyncio.ensure_future(self._closed_event.wait())
        try:
            await asyncio.wait_for(asyncio.wait((ready, closed), return_when=asyncio.FIRST_COMPLETED), timeout)
        finally:
            ready.cancel()
            closed.cancel()
        if not self._up:
            raise RuntimeError("rabbitmq transport closed while connecting")

    async def _connect_loop(self) -> None:
        delay = self.settings.reconnect_interval
        brokers = self.settings.brokers
        while not self._closed:
            for _ in range(len(brokers)):
                broker = brokers[self._broker]
                try:
                    await self._open(broker.url)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("cannot connect to RabbitMQ; trying again",
                                extra={"fields": {"broker": broker.label, "error": repr(exc)}})
                    self._broker = (self._broker + 1) % len(brokers)
                    continue
                log.info("connected to RabbitMQ", extra={"fields": {"broker": broker.label}})
                self._tried.set()
                self._became_ready()
                return
            self._tried.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _open(self, url: str) -> None:
        amqp_frames.install()
        connection = await aio_pika.connect_robust(
            url, timeout=CONNECT_TIMEOUT, reconnect_interval=self.settings.reconnect_interval,
            client_properties={"connection_name": self.connection_name},
        )
        try:
            self._topology_channel = await connection.channel(publisher_confirms=False)
            self._publish_channel = await connection.channel(publisher_confirms=True)
        except BaseException:
            await connection.close()
            raise
        if self._closed:
            await connection.close()
            return
        assert isinstance(connection, RobustConnection)
        self._connection = connection
        connection.close_callbacks.add(self._lost)
        connection.reconnect_callbacks.add(self._restored)

    def _became_ready(self) -> None:
        self._up = True
        self._ready.set()
        if self._pending:
            self._spawn("flush", self._flush())

    def _lost(self, _sender: Any, exc: BaseException | None = None) -> None:
        if self._closing or not self._up:
            return
        self._up = False
        self._ready.clear()
        self.counts["disconnects"] += 1
        log.warning("RabbitMQ connection lost; buffering publishes until it is back",
                    extra={"fields": {"broker": self.broker, "error": repr(exc)}})
        self._fire(self._on_disconnect)
        if len(self.settings.brokers) > 1:
            self._spawn("rotate", self._rotate())

    def _restored(self, _sender: Any) -> None:
        if self._closing:
            return
        if self._connection is not None:
            urls = [URL(broker.url) for broker in self.settings.brokers]
            if self._connection.url in urls:
                self._broker = urls.index(self._connection.url)
        log.info("RabbitMQ connection back; consumers resumed",
                 extra={"fields": {"broker": self.broker, "buffered": len(self._pending)}})
        self._became_ready()
        self._fire(self._on_reconnect)

    async def _rotate(self) -> None:
        # aio-pika reconnects to `connection.url`; moving it on while down is how we fail over.
        connection = self._connection
        while connection is not None and not self._up and not self._closing:
            await asyncio.sleep(self.settings.reconnect_interval)
            if self._up or connection.connected.is_set():  # connected, restoring channels: stay
                return
            self._broker = (self._broker + 1) % len(self.settings.brokers)
            connection.url = URL(self.settings.brokers[self._broker].url)

    # --- publishing ----------------------------------------------------------------------

    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None:
        if self._closed:
            raise RuntimeError("rabbitmq transport is closed")
        exchange_type(kind)
        if not self._tried.is_set():
            if self._connection is None:
                self._spawn("connect", self._connect_loop())
            await self._tried.wait()
        if self._pending or not self._up:
            self._buffer(pipe, bytes(body), kind)
            return
        try:
            await self._send(pipe, bytes(body), kind)
        except TopologyConflict:
            raise
        except CHANNEL_GONE as exc:
            log.warning("publish failed; buffered until the connection is back",
                        extra={"fields": {"pipe": pipe, "error": repr(exc)}})
            self._buffer(pipe, bytes(body), kind)

    def _buffer(self, pipe: str, body: bytes, kind: PipeKind) -> None:
        limit = self.settings.buffer_limit
        if limit == 0:
            self.counts["buffer_dropped"] += 1
            return
        if len(self._pending) >= limit:
            self._pending.popleft()
            if self.counts["buffer_dropped"] % 1000 == 0:
                log.error("publish buffer full: dropping the oldest messages",
                          extra={"fields": {"limit": limit, "dropped": self.counts["buffer_dropped"] + 1}})
            self.counts["buffer_dropped"] += 1
        self._pending.append((pipe, body, kind))
        self.counts["buffered"] += 1
        if self._up:
            self._spawn("flush", self._flush())

    async def _flush(self) -> None:
        while self._pending and self._up:
            batch = [self._pending.popleft() for _ in range(min(FLUSH_BATCH, len(self._pending)))]
            results = await asyncio.gather(*(self._send(*item) for item in batch), return_exceptions=True)
            failed = []
            for item, result in zip(batch, results, strict=True):
                if isinstance(result, TopologyConflict):
                    self.counts["unroutable_dropped"] += 1
                    log.error("buffered message dropped: %s", result, extra={"fields": {"pipe": item[0]}})
                elif isinstance(result, BaseException):
                    failed.append(item)
            if failed:
                self._pending.extendleft(reversed(failed))
                await asyncio.sleep(self.settings.reconnect_interval)

    async def _send(self, pipe: str, body: bytes, kind: PipeKind) -> None:
        exchange = await self._route(pipe, kind)
        mode = aio_pika.DeliveryMode.PERSISTENT if kind == "direct" else aio_pika.DeliveryMode.NOT_PERSISTENT
        try:
            await exchange.publish(aio_pika.Message(body, delivery_mode=mode), routing_key="", mandatory=False,
                                   timeout=self.publish_timeout)
        except ChannelNotFoundEntity:
            # Someone deleted the exchange under us: declare it again on the retry.
            self._exchanges.pop(pipe, None)
            self._queues.discard(pipe)
            raise
        self.counts["published"] += 1

    async def _route(self, pipe: str, kind: PipeKind) -> AbstractExchange:
        """The exchange handle to publish to, declaring the exchange (and an ogi-owned queue) once."""
        known = self._exchanges.get(pipe)
        if known is not None and known[0] == kind:
            return known[1]
        async with self._declare_lock:
            known = self._exchanges.get(pipe)
            if known is not None and known[0] == kind:
                return known[1]
            topology, publisher = self._topology_channel, self._publish_channel
            assert topology is not None and publisher is not None
            etype = exchange_type(kind)
            try:
                await topology.declare_exchange(pipe, etype, durable=False)
            except ChannelPreconditionFailed as exc:
                raise conflict(f"{etype} exchange", pipe, "not durable", exc) from exc
            if etype == "direct" and ogi_owns(pipe):
                # So results published before any server subscribed wait for it (Sensu lost them).
                await self._declare_queue(topology, direct_queue(pipe), pipe, required=False)
            handle = await publisher.get_exchange(pipe, ensure=False)
            self._exchanges[pipe] = (kind, handle)
            return handle

    async def _declare_queue(self, channel: AbstractRobustChannel, spec: QueueSpec, exchange: str | None,
                             required: bool = True) -> None:
        if spec.name in self._queues:
            return
        try:
            queue = await channel.declare_queue(spec.name, durable=spec.durable, auto_delete=spec.auto_delete)
            if exchange is not None:
                await queue.bind(exchange, routing_key="")
        except ChannelPreconditionFailed as exc:
            refused = conflict("queue", spec.name, spec.flags(), exc)
            if required:
                raise refused from exc
            # A publisher can still publish: whoever declared the queue bound it.
            self.counts["queue_conflicts"] += 1
            log.warning("%s", refused, extra={"fields": {"queue": spec.name}})
            return
        self._queues.add(spec.name)

    async def _publish_copy(self, spec: QueueSpec, message: RabbitMQMessage, attempt: int,
                            extra: dict[str, Any]) -> bool:
        """Publish a copy of a delivery straight to a queue and wait for the confirm; False if it failed."""
        try:
            if spec.durable and spec.name not in self._queues:
                assert self._topology_channel is not None
                async with self._declare_lock:
                    await self._declare_queue(self._topology_channel, spec, None)
            assert self._publish_channel is not None
            await self._publish_channel.default_exchange.publish(
                copy_message(message, attempt, extra), routing_key=spec.name, timeout=self.publish_timeout)
            return True
        except (TopologyConflict, *CHANNEL_GONE) as exc:
            log.warning("could not republish a failed message; requeued instead",
                        extra={"fields": {"queue": spec.name, "error": repr(exc)}})
            return False

    # --- subscribing ---------------------------------------------------------------------

    async def subscribe(self, pipe: str, kind: PipeKind = "direct", queue: str | None = None) -> Subscription:
        if self._closed:
            raise RuntimeError("rabbitmq transport is closed")
        etype = exchange_type(kind)
        await self.connect()
        assert self._connection is not None
        spec = subscription_queue(pipe, kind, queue)
        channel: AbstractRobustChannel = await self._connection.channel()
        use_lean_queues(channel)
        try:
            await channel.set_qos(prefetch_count=self.settings.prefetch)
            try:
                exchange = await channel.declare_exchange(pipe, etype, durable=False)
            except ChannelPreconditionFailed as exc:
                raise conflict(f"{etype} exchange", pipe, "not durable", exc) from exc
            try:
                amqp_queue = await channel.declare_queue(spec.name, durable=spec.durable, auto_delete=spec.auto_delete)
            except ChannelPreconditionFailed as exc:
                raise conflict("queue", spec.name, spec.flags(), exc) from exc
            await amqp_queue.bind(exchange, routing_key="")
            assert isinstance(amqp_queue, LeanQueue)
            subscription = RabbitMQSubscription(self, pipe, kind, spec, channel, amqp_queue)
            await subscription.start()
        except BaseException:
            with contextlib.suppress(*CHANNEL_GONE):
                await channel.close()
            raise
        self._subscriptions.add(subscription)
        return subscription

    def _forget(self, subscription: RabbitMQSubscription) -> None:
        self._subscriptions.discard(subscription)

    async def depth(self, pipe: str) -> int:
        """Messages waiting (ready, not delivered) in a direct pipe's queue; 0 if it does not exist."""
        return (await self.queue_stats(pipe))[0]

    async def queue_stats(self, pipe: str) -> tuple[int, int]:
        """(messages ready, consumers) of a direct pipe's queue, from a passive declare; (0, 0)
        if it does not exist. `/health?consumers=&messages=` checks these."""
        await self.connect()
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            queue = await channel.declare_queue(pipe, passive=True, robust=False)
            result = queue.declaration_result
            return int(result.message_count or 0), int(result.consumer_count or 0)
        except ChannelNotFoundEntity:
            return 0, 0
        finally:
            with contextlib.suppress(*CHANNEL_GONE):
                await channel.close()

    # --- closing -------------------------------------------------------------------------

    async def close(self, flush_timeout: float = 5.0) -> None:
        """End subscriptions, send what is buffered (up to `flush_timeout` s), close the connection."""
        if self._closed:
            return
        self._closed = True
        self._closed_event.set()
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._pending and self._up:
            self._spawn("flush", self._flush())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._tasks["flush"]), flush_timeout)
        if self._pending:
            self.counts["dropped_at_close"] += len(self._pending)
            log.error("RabbitMQ transport closed with buffered messages unsent",
                      extra={"fields": {"dropped": len(self._pending), "broker": self.broker}})
            self._pending.clear()
        self._closing = True
        self._up = False
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tried.set()
        if self._connection is not None:
            with contextlib.suppress(*CHANNEL_GONE):
                await self._connection.close()
