"""The distributed transport: Sensu 1.x's RabbitMQ topology over aio-pika robust connections.

A Ruby sensu-client 1.x publishing results and keepalives, or consuming check requests, works
against it unchanged (exchanges and bodies in amqp_topology.py). Where ogi alone owns a queue
it does better than Sensu: `results` and `keepalives` are durable, publishes on direct pipes
are persistent and wait for the broker's confirm, consumers ack only after processing
(amqp_consume.py), and a message that keeps failing is dead-lettered, not retried forever.

Connecting, reconnecting and failing over between brokers is amqp_connection.py. While
disconnected, `publish` keeps messages in a bounded buffer (oldest dropped and counted) and
sends them, in order, once the connection is back; `on_disconnect` / `on_reconnect` let a
server pause and resume its timers (Sensu's pause/resume).

A publish that returned while connected was confirmed by the broker; one that returned while
disconnected is buffered, not yet confirmed. A publish whose confirm was lost in a broker
blip is sent again: duplicates are possible, loss is not (except buffer overflow, counted).

A publish the broker refuses for good (refusals.py: a reserved name, a message too large, no
permission) is dropped, logged and counted as `publish_refused`, never buffered ahead of the
others. A buffered message that keeps failing while connected is retried with backoff and,
after `max_attempts`, dropped, logged and counted as `publish_failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustChannel
from aio_pika.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed
from aio_pika.robust_queue import RobustQueue

from pipeline.model import JSON
from pipeline.transport.amqp_channel import CHANNEL_GONE, use_lean_queues
from pipeline.transport.amqp_connection import PUBLISH_TIMEOUT, AmqpConnection
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
from pipeline.transport.base import PipeKind, Subscription, Transport
from pipeline.transport.refusals import PERMANENT, PublishRefused, publish_refusal

log = logging.getLogger("ogi")

#: Buffered messages sent concurrently once the connection is back.
FLUSH_BATCH = 100
#: Longest pause between two sends of a buffered message that failed while connected, in seconds.
MAX_RETRY_DELAY = 20.0

_Pending = tuple[str, bytes, PipeKind, int]  # pipe, body, kind, failed sends while connected


class RabbitMQTransport(AmqpConnection, Transport):
    """Sensu 1.x's RabbitMQ pipes, with durable results, confirms, retries and a reconnect buffer."""

    def __init__(
        self, settings: JSON | AmqpSettings | None = None, *, connection_name: str | None = None,
        publish_timeout: float = PUBLISH_TIMEOUT,
    ) -> None:
        super().__init__(settings if isinstance(settings, AmqpSettings) else amqp_settings(settings or {}),
                         connection_name)
        self.publish_timeout = publish_timeout
        self._exchanges: dict[str, tuple[str, AbstractExchange]] = {}
        self._queues: set[str] = set()
        self._declare_lock = asyncio.Lock()
        self._subscriptions: set[RabbitMQSubscription] = set()
        self._pending: deque[_Pending] = deque()

    @property
    def pending(self) -> int:
        """Messages buffered while disconnected, not yet sent."""
        return len(self._pending)

    def _connected_again(self) -> None:
        if self._pending:
            self._spawn("flush", self._flush())

    # --- publishing ----------------------------------------------------------------------

    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None:
        if self._closed:
            raise RuntimeError("rabbitmq transport is closed")
        exchange_type(kind)
        if not self._tried.is_set():
            if self._connection is None:
                self._spawn("connect", self._connect_loop())
            await self._tried.wait()
        refused = publish_refusal(pipe, body)
        if refused is not None:
            self._refused(refused)
            return
        if self._pending or not self._up:
            self._buffer(pipe, bytes(body), kind)
            return
        try:
            await self._send(pipe, bytes(body), kind)
        except TopologyConflict:
            raise
        except PublishRefused as exc:
            self._refused(exc)
        except CHANNEL_GONE as exc:
            log.warning("publish failed; buffered until the connection is back",
                        extra={"fields": {"pipe": pipe, "error": repr(exc)}})
            self._buffer(pipe, bytes(body), kind)

    async def publish_many(self, pipe: str, bodies: list[bytes], kind: PipeKind = "direct") -> None:
        """Each as `publish` does, sent back to back on the channel and their confirms awaited together."""
        if len(bodies) < 2:
            await super().publish_many(pipe, bodies, kind)
            return
        outcomes = await asyncio.gather(*(self.publish(pipe, body, kind) for body in bodies), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

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
        self._pending.append((pipe, body, kind, 0))
        self.counts["buffered"] += 1
        if self._up:
            self._spawn("flush", self._flush())

    def _refused(self, refused: PublishRefused) -> None:
        self.counts["publish_refused"] += 1
        log.error("message dropped: %s", refused.reason,
                  extra={"fields": {"pipe": refused.pipe, "dropped": self.counts["publish_refused"]}})

    async def _flush(self) -> None:
        while self._pending and self._up:
            batch = [self._pending.popleft() for _ in range(min(FLUSH_BATCH, len(self._pending)))]
            results = await asyncio.gather(*(self._send(*item[:3]) for item in batch), return_exceptions=True)
            failed: list[_Pending] = []
            for item, result in zip(batch, results, strict=True):
                if isinstance(result, TopologyConflict):
                    self.counts["unroutable_dropped"] += 1
                    log.error("buffered message dropped: %s", result, extra={"fields": {"pipe": item[0]}})
                elif isinstance(result, PublishRefused):
                    self._refused(result)
                elif isinstance(result, BaseException):
                    failed.append(self._failed_send(item, result))
            failed = [item for item in failed if item[3] < self.settings.max_attempts]
            if failed:
                self._pending.extendleft(reversed(failed))
                attempts = max(item[3] for item in failed)
                await asyncio.sleep(min(self.settings.reconnect_interval * 2 ** max(0, attempts - 1), MAX_RETRY_DELAY))

    def _failed_send(self, item: _Pending, error: BaseException) -> _Pending:
        """The item with one more failed send if the connection was up (a lost connection is no fault of the message)."""
        pipe, body, kind, attempts = item
        if not self._up:
            return item
        attempts += 1
        if attempts >= self.settings.max_attempts:
            self.counts["publish_failed"] += 1
            log.error("buffered message dropped after %d failed sends", attempts,
                      extra={"fields": {"pipe": pipe, "error": repr(error)[:300]}})
        return pipe, body, kind, attempts

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
        except PERMANENT as exc:
            raise PublishRefused(pipe, str(exc)) from exc
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
            except PERMANENT as exc:
                raise PublishRefused(pipe, str(exc)) from exc
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
            assert isinstance(amqp_queue, RobustQueue)
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
