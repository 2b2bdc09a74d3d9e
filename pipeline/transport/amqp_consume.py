"""Consuming from RabbitMQ: subscriptions, messages, acks, bounded retries and dead-lettering.

Each subscription has its own channel (its own prefetch, its consumer restored by aio-pika
after a reconnect). Its queue is a LeanQueue (amqp_channel.py; aio-pika's own queue on an
untested aio-pika): the consumer gets aiormq's delivery as it is, in the task aiormq starts
for it, without an aio-pika IncomingMessage and the second task that comes with one (a third
of the cost of consuming). Deliveries wait in a local inbox
until the iterator takes them (the broker's prefetch bounds that inbox), or `dispatch` runs
its handler at once inside the delivery's task, the prefetch bounding how many run. A
handler still running when its channel dies is cancelled: the broker requeues its message
anyway, as the ack can no longer be sent.

`async with message.process():` acks after the block. Acks are batched: those settled in the
same turn of the event loop go out together, one `multiple` ack for each run of consecutive
delivery tags (AckBatcher), without waiting for the socket to drain: at prefetch 100 that
halves the cost of consuming. An exception is a failed attempt:
- the first failure of a message never delivered before is rejected with requeue, so it
  keeps its place in the queue;
- a later one is published again to the same queue with an `x-ogi-attempts` header (after the
  broker confirmed the copy, the original is acked), because RabbitMQ's `redelivered` flag
  only says "at least once" and classic queues count nothing;
- each retry waits RETRY_DELAY seconds, doubled per failed attempt (at most MAX_RETRY_DELAY),
  so a message failing for a passing reason is not spent in a few milliseconds;
- at `max_attempts` the message goes to the durable `<queue>.failed` (queues ogi owns, like
  `results`) with `x-ogi-error` and `x-ogi-queue` headers, or is dropped (a client's check
  request), counted and logged.
A cancellation requeues without counting. An ack that cannot be sent (the channel died) is
counted: the broker redelivers that message, so a broker blip gives duplicates, never loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from aio_pika.robust_queue import RobustQueue
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from pipeline.transport.amqp_channel import CHANNEL_GONE, AckBatcher
from pipeline.transport.amqp_topology import QueueSpec, failed_queue, ogi_owns
from pipeline.transport.base import Message, MessageHandler, PipeKind, Subscription, run_handler

if TYPE_CHECKING:
    from pipeline.transport.rabbitmq import RabbitMQTransport

log = logging.getLogger("ogi")

ATTEMPTS_HEADER = "x-ogi-attempts"
#: Seconds before the first retry of a failed message; doubled for each later one.
RETRY_DELAY = 0.1
MAX_RETRY_DELAY = 2.0

class RabbitMQMessage(Message):
    """One delivery; settle it with `async with message.process():`."""

    __slots__ = ("body", "redelivered", "tag", "channel", "properties", "_subscription", "_state")

    def __init__(self, subscription: RabbitMQSubscription, body: bytes, tag: int, redelivered: bool,
                 channel: aiormq.abc.AbstractChannel, properties: Basic.Properties) -> None:
        self.body = body
        self.redelivered = redelivered
        self.tag = tag
        self.channel = channel
        self.properties = properties
        self._subscription = subscription
        self._state = "delivered"  # -> processing -> settled

    @property
    def attempts(self) -> int:
        """Failed attempts before this delivery (a redelivery without our header counts as one)."""
        value = (self.properties.headers or {}).get(ATTEMPTS_HEADER)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return 1 if self.redelivered else 0

    def process(self) -> RabbitMQMessage:
        if self._state != "delivered":
            raise RuntimeError("message already processed, or requeued when its subscription closed")
        return self

    # A context manager of its own, not a generator one: one object less per message.
    async def __aenter__(self) -> None:
        if self._state != "delivered":
            raise RuntimeError("message already processed, or requeued when its subscription closed")
        self._state = "processing"

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        subscription = self._subscription
        if exc is None:
            subscription._ack(self)
        elif isinstance(exc, Exception):
            await asyncio.shield(subscription._failed(self, exc))
        else:
            await asyncio.shield(subscription._settle(self, requeue=True))


class RabbitMQSubscription(Subscription):
    """Messages from one queue, until `close()`."""

    def __init__(
        self, transport: RabbitMQTransport, pipe: str, kind: PipeKind, spec: QueueSpec,
        channel: AbstractRobustChannel, queue: RobustQueue,
    ) -> None:
        self.pipe = pipe
        self.kind = kind
        self.spec = spec
        self._transport = transport
        self._channel = channel
        self._queue = queue
        self._consumer_tag: str | None = None
        self._inbox: asyncio.Queue[RabbitMQMessage | None] = asyncio.Queue()
        #: Delivered and not yet settled, in delivery order.
        self._unsettled: dict[RabbitMQMessage, None] = {}
        self._acks = AckBatcher(self._lost)
        self._handler: MessageHandler | None = None
        self._closed = False
        self._ended = asyncio.Event()

    @property
    def queue_name(self) -> str:
        return self.spec.name

    async def start(self) -> None:
        self._consumer_tag = await self._queue.consume(self._deliver)

    async def _deliver(self, delivered: DeliveredMessage | AbstractIncomingMessage) -> None:
        message: RabbitMQMessage | None
        if isinstance(delivered, DeliveredMessage):
            # A consumer's delivery is always a Basic.Deliver, with a tag.
            delivery = cast(Basic.Deliver, delivered.delivery)
            message = RabbitMQMessage(self, delivered.body, cast(int, delivery.delivery_tag), delivery.redelivered,
                                      delivered.channel, delivered.header.properties)
        else:
            message = self._from_incoming(delivered)
        if message is None or message.channel.is_closed:
            # Its channel died before we got it: the broker has requeued it already.
            self._transport.counts["stale_deliveries"] += 1
            return
        self._acks.hold(message.channel, message.tag)
        if self._closed:
            await self._reject(message)
            return
        self._unsettled[message] = None
        handler = self._handler
        if handler is None:
            self._inbox.put_nowait(message)
            return
        await run_handler(handler, message)

    def _from_incoming(self, incoming: AbstractIncomingMessage) -> RabbitMQMessage | None:
        """The message of a consumer aio-pika restored its own way (see LeanQueue); None if stale."""
        try:
            channel = incoming.channel
        except aio_pika.exceptions.ChannelInvalidStateError:
            return None
        if incoming.delivery_tag is None:
            return None
        return RabbitMQMessage(self, incoming.body, incoming.delivery_tag, bool(incoming.redelivered),
                               channel, incoming.properties)

    def _lost(self, count: int) -> None:
        self._transport.counts["settle_lost"] += count
        log.warning("could not ack messages; the broker will deliver them again",
                    extra={"fields": {"queue": self.queue_name, "count": count}})

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            message = await self._inbox.get()
            if message is None:
                self._inbox.put_nowait(None)  # wake any other iterator too
                return
            if self._taken(message):
                yield message

    def _taken(self, message: RabbitMQMessage) -> bool:
        """False for a message requeued by close() or whose channel died while it waited."""
        if message._state != "delivered":
            return False
        if message.channel.is_closed:
            # The broker has requeued it already.
            self._unsettled.pop(message, None)
            message._state = "settled"
            self._transport.counts["stale_deliveries"] += 1
            return False
        return True

    def in_hand(self, limit: int) -> int:
        return self._transport.settings.prefetch

    async def dispatch(self, handler: MessageHandler, limit: int = 100) -> None:
        """Run `handler(message)` inside each delivery's own task; the prefetch, not `limit`, bounds them.

        A handler still running when its channel dies is cancelled (its message comes again).
        """
        if self._handler is not None:
            raise RuntimeError("this subscription is already dispatching")
        # Messages that came before: each in a task of its own, in order. Each round yields
        # once so those tasks start before any delivery still waiting to run goes to the handler.
        while not self._inbox.empty():
            while not self._inbox.empty():
                message = self._inbox.get_nowait()
                if message is None:
                    self._inbox.put_nowait(None)
                    return
                if self._taken(message):
                    # A task of the channel's, as a delivery's is, so it ends with the channel too.
                    message.channel.create_task(run_handler(handler, message))
            await asyncio.sleep(0)
        self._handler = handler
        try:
            await self._ended.wait()
        finally:
            self._handler = None

    # --- settling ------------------------------------------------------------------------

    async def _reject(self, message: RabbitMQMessage) -> bool:
        """Requeue at once; the tag is released only once the reject is on its way."""
        channel = message.channel
        if channel.is_closed:
            return False
        try:
            await channel.basic_reject(message.tag, requeue=True)
        except CHANNEL_GONE:
            self._lost(1)
            return False
        finally:
            self._acks.release(channel, message.tag)
        return True

    def _ack(self, message: RabbitMQMessage) -> None:
        message._state = "settled"
        self._unsettled.pop(message, None)
        self._acks.ack(message.channel, message.tag)
        if self._closed and not self._unsettled:
            self._transport._background(asyncio.ensure_future(self._close_channel_when_idle()))

    async def _settle(self, message: RabbitMQMessage, requeue: bool) -> None:
        if not requeue:
            self._ack(message)
            return
        message._state = "settled"
        self._unsettled.pop(message, None)
        if await self._reject(message):
            self._transport.counts["requeued"] += 1
        await self._close_channel_when_idle()

    async def _failed(self, message: RabbitMQMessage, exc: Exception) -> None:
        transport = self._transport
        previous = message.attempts
        attempt = previous + 1
        if attempt >= transport.settings.max_attempts:
            if self.kind == "direct" and ogi_owns(self.pipe):
                stored = await transport._publish_copy(
                    failed_queue(self.queue_name), message, attempt,
                    {"x-ogi-error": f"{type(exc).__name__}: {exc}"[:500], "x-ogi-queue": self.queue_name,
                     "x-ogi-failed-at": int(time.time())},
                )
                if not stored:
                    await self._settle(message, requeue=True)
                    return
                transport.counts["dead_lettered"] += 1
                outcome = f"moved to {self.queue_name}.failed"
            else:
                transport.counts["dropped_after_attempts"] += 1
                outcome = "dropped"
            log.error("message failed %d times: %s", attempt, outcome,
                      extra={"fields": {"queue": self.queue_name, "attempts": attempt, "error": repr(exc)[:500]}})
            await self._settle(message, requeue=False)
        elif previous == 0:
            await asyncio.sleep(RETRY_DELAY)
            await self._settle(message, requeue=True)
        elif await self._backoff(attempt) and await transport._publish_copy(self.spec, message, attempt, {}):
            transport.counts["retried"] += 1
            await self._settle(message, requeue=False)
        else:
            await self._settle(message, requeue=True)

    async def _backoff(self, attempt: int) -> bool:
        await asyncio.sleep(min(RETRY_DELAY * 2 ** (attempt - 1), MAX_RETRY_DELAY))
        return True

    # --- closing -------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop consuming; messages not yet being processed go back to the queue."""
        if self._closed:
            return
        self._closed = True
        tag, self._consumer_tag = self._consumer_tag, None
        if tag is not None:
            with contextlib.suppress(*CHANNEL_GONE):
                await asyncio.wait_for(self._queue.cancel(tag), timeout=2)
        for message in list(self._unsettled):
            if message._state == "delivered":
                message._state = "settled"
                self._unsettled.pop(message, None)
                await self._reject(message)
        self._inbox.put_nowait(None)
        self._ended.set()
        self._transport._forget(self)
        await self._close_channel_when_idle()

    async def _close_channel_when_idle(self) -> None:
        # Messages still being processed keep the channel open so their acks can go through.
        if self._closed and not self._unsettled and not self._channel.is_closed:
            await self._acks.drain()
            with contextlib.suppress(*CHANNEL_GONE):
                await asyncio.wait_for(self._channel.close(), timeout=2)


def copy_message(message: RabbitMQMessage, attempt: int, extra: dict[str, Any]) -> aio_pika.Message:
    """The same body and properties, with the attempt count (and any extra headers)."""
    properties = message.properties
    headers = dict(properties.headers or {})
    headers[ATTEMPTS_HEADER] = attempt
    headers.update(extra)
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=properties.content_type,
        content_encoding=properties.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=properties.message_id,
        timestamp=properties.timestamp,
        type=properties.message_type,
        app_id=properties.app_id,
    )
