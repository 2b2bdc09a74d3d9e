"""Consuming from RabbitMQ: subscriptions, messages, acks, bounded retries and dead-lettering.

Each subscription has its own channel (its own prefetch, its consumer restored by aio-pika
after a reconnect). Deliveries wait in a local inbox until the iterator takes them; the
broker's prefetch bounds that inbox.

`async with message.process():` acks after the block. Acks are batched: those settled in the
same turn of the event loop go out together, one `multiple` ack for each run of consecutive
delivery tags (AckBatcher), without waiting for the socket to drain: at prefetch 100 that
halves the cost of consuming. An exception is a failed attempt:
- the first failure of a message never delivered before is rejected with requeue, so it
  keeps its place in the queue;
- a later one is published again to the same queue with an `x-ogi-attempts` header (after the
  broker confirmed the copy, the original is acked), because RabbitMQ's `redelivered` flag
  only says "at least once" and classic queues count nothing;
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
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel

from pipeline.transport.amqp_topology import QueueSpec, failed_queue, ogi_owns
from pipeline.transport.base import Message, PipeKind, Subscription

if TYPE_CHECKING:
    from pipeline.transport.rabbitmq import RabbitMQTransport

log = logging.getLogger("ogi")

ATTEMPTS_HEADER = "x-ogi-attempts"
#: Errors that mean "the channel or connection is gone", not "the broker refused".
CHANNEL_GONE = (aio_pika.exceptions.AMQPError, ConnectionError, OSError, RuntimeError, asyncio.TimeoutError)


def _channel_open(incoming: AbstractIncomingMessage) -> bool:
    try:
        return not incoming.channel.is_closed
    except aio_pika.exceptions.ChannelInvalidStateError:
        return False


class AckBatcher:
    """Sends acks in batches, never acking past a delivery that is still held.

    `hold` records a delivery tag when it arrives; `ack` marks it settled and schedules a flush
    for the end of this turn of the loop. The flush acks every settled tag below the lowest
    still-held tag of its channel with one `multiple` ack, and the others one by one, so a slow
    message never holds back the acks (and the prefetch window) of faster ones. A reject is
    sent at once and its tag released only after, so a `multiple` ack can never cover it.
    """

    def __init__(self, on_lost: Callable[[int], None]) -> None:
        self._held: dict[aiormq.abc.AbstractChannel, set[int]] = {}
        self._settled: dict[aiormq.abc.AbstractChannel, list[int]] = {}
        self._flushing: asyncio.Task[None] | None = None
        self._on_lost = on_lost

    def hold(self, channel: aiormq.abc.AbstractChannel, tag: int) -> None:
        self._held.setdefault(channel, set()).add(tag)

    def release(self, channel: aiormq.abc.AbstractChannel, tag: int) -> None:
        held = self._held.get(channel)
        if held is not None:
            held.discard(tag)

    def ack(self, channel: aiormq.abc.AbstractChannel, tag: int) -> None:
        self.release(channel, tag)
        self._settled.setdefault(channel, []).append(tag)
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        try:
            while self._settled:
                settled, self._settled = self._settled, {}
                for channel, tags in settled.items():
                    await self._send(channel, sorted(tags))
        finally:
            self._flushing = None
        for channel in [c for c in self._held if c.is_closed]:
            del self._held[channel]

    async def _send(self, channel: aiormq.abc.AbstractChannel, tags: list[int]) -> None:
        held = self._held.get(channel)
        low = min(held) if held else None
        run = len(tags) if low is None else next((i for i, tag in enumerate(tags) if tag > low), len(tags))
        sends = ([(tags[run - 1], run > 1)] if run else []) + [(tag, False) for tag in tags[run:]]
        for position, (tag, multiple) in enumerate(sends):
            try:
                await channel.basic_ack(tag, multiple=multiple, wait=False)
            except CHANNEL_GONE:
                # The broker requeues them when the channel goes: duplicates later, never a loss.
                self._on_lost(len(tags) if position == 0 else len(sends) - position)
                return

    async def drain(self) -> None:
        """Send every ack settled so far (before a channel closes)."""
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._settled:
            await self.flush()


class RabbitMQMessage(Message):
    """One delivery; settle it with `async with message.process():`."""

    __slots__ = ("body", "redelivered", "incoming", "channel", "_subscription", "_state")

    def __init__(self, incoming: AbstractIncomingMessage, channel: aiormq.abc.AbstractChannel,
                 subscription: RabbitMQSubscription) -> None:
        self.body = incoming.body
        self.redelivered = bool(incoming.redelivered)
        self.incoming = incoming
        self.channel = channel
        self._subscription = subscription
        self._state = "delivered"  # -> processing -> settled

    @property
    def attempts(self) -> int:
        """Failed attempts before this delivery (a redelivery without our header counts as one)."""
        value = (self.incoming.headers or {}).get(ATTEMPTS_HEADER)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return 1 if self.redelivered else 0

    @contextlib.asynccontextmanager
    async def process(self) -> AsyncIterator[None]:
        if self._state != "delivered":
            raise RuntimeError("message already processed, or requeued when its subscription closed")
        self._state = "processing"
        subscription = self._subscription
        try:
            yield
        except Exception as exc:
            await asyncio.shield(subscription._failed(self, exc))
            raise
        except BaseException:
            await asyncio.shield(subscription._settle(self, requeue=True))
            raise
        else:
            subscription._ack(self)


class RabbitMQSubscription(Subscription):
    """Messages from one queue, until `close()`."""

    def __init__(
        self, transport: RabbitMQTransport, pipe: str, kind: PipeKind, spec: QueueSpec,
        channel: AbstractRobustChannel, queue: AbstractQueue,
    ) -> None:
        self.pipe = pipe
        self.kind = kind
        self.spec = spec
        self._transport = transport
        self._channel = channel
        self._queue = queue
        self._consumer_tag: str | None = None
        self._inbox: asyncio.Queue[AbstractIncomingMessage | None] = asyncio.Queue()
        #: Delivered to the iterator and not yet settled, in delivery order.
        self._unsettled: dict[RabbitMQMessage, None] = {}
        self._acks = AckBatcher(self._lost)
        self._closed = False

    @property
    def queue_name(self) -> str:
        return self.spec.name

    async def start(self) -> None:
        self._consumer_tag = await self._queue.consume(self._deliver)

    async def _deliver(self, incoming: AbstractIncomingMessage) -> None:
        if incoming.delivery_tag is not None and _channel_open(incoming):
            self._acks.hold(incoming.channel, incoming.delivery_tag)
        if self._closed:
            await self._reject(incoming)
        else:
            self._inbox.put_nowait(incoming)

    def _lost(self, count: int) -> None:
        self._transport.counts["settle_lost"] += count
        log.warning("could not ack messages; the broker will deliver them again",
                    extra={"fields": {"queue": self.queue_name, "count": count}})

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            incoming = await self._inbox.get()
            if incoming is None:
                self._inbox.put_nowait(None)  # wake any other iterator too
                return
            try:
                channel = incoming.channel
            except aio_pika.exceptions.ChannelInvalidStateError:
                # Its channel died before we took it: the broker has requeued it already.
                self._transport.counts["stale_deliveries"] += 1
                continue
            message = RabbitMQMessage(incoming, channel, self)
            self._unsettled[message] = None
            yield message

    # --- settling ------------------------------------------------------------------------

    async def _reject(self, incoming: AbstractIncomingMessage) -> bool:
        """Requeue at once; the tag is released only once the reject is on its way."""
        if incoming.delivery_tag is None or not _channel_open(incoming):
            return False
        channel = incoming.channel
        try:
            await channel.basic_reject(incoming.delivery_tag, requeue=True)
        except CHANNEL_GONE:
            self._lost(1)
            return False
        finally:
            self._acks.release(channel, incoming.delivery_tag)
        return True

    def _ack(self, message: RabbitMQMessage) -> None:
        message._state = "settled"
        self._unsettled.pop(message, None)
        if message.incoming.delivery_tag is not None:
            self._acks.ack(message.channel, message.incoming.delivery_tag)
        if self._closed and not self._unsettled:
            self._transport._background(asyncio.ensure_future(self._close_channel_when_idle()))

    async def _settle(self, message: RabbitMQMessage, requeue: bool) -> None:
        if not requeue:
            self._ack(message)
            return
        message._state = "settled"
        self._unsettled.pop(message, None)
        if await self._reject(message.incoming):
            self._transport.counts["requeued"] += 1
        await self._close_channel_when_idle()

    async def _failed(self, message: RabbitMQMessage, exc: Exception) -> None:
        transport = self._transport
        previous = message.attempts
        attempt = previous + 1
        if attempt >= transport.settings.max_attempts:
            if self.kind == "direct" and ogi_owns(self.pipe):
                stored = await transport._publish_copy(
                    failed_queue(self.queue_name), message.incoming, attempt,
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
            await self._settle(message, requeue=True)
        elif await transport._publish_copy(self.spec, message.incoming, attempt, {}):
            transport.counts["retried"] += 1
            await self._settle(message, requeue=False)
        else:
            await self._settle(message, requeue=True)

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
        while not self._inbox.empty():
            incoming = self._inbox.get_nowait()
            if incoming is not None:
                await self._reject(incoming)
        for message in list(self._unsettled):
            if message._state == "delivered":
                message._state = "settled"
                self._unsettled.pop(message, None)
                await self._reject(message.incoming)
        self._inbox.put_nowait(None)
        self._transport._forget(self)
        await self._close_channel_when_idle()

    async def _close_channel_when_idle(self) -> None:
        # Messages still being processed keep the channel open so their acks can go through.
        if self._closed and not self._unsettled and not self._channel.is_closed:
            await self._acks.drain()
            with contextlib.suppress(*CHANNEL_GONE):
                await asyncio.wait_for(self._channel.close(), timeout=2)


def copy_message(incoming: AbstractIncomingMessage, attempt: int, extra: dict[str, Any]) -> aio_pika.Message:
    """The same body and properties, with the attempt count (and any extra headers)."""
    headers = dict(incoming.headers or {})
    headers[ATTEMPTS_HEADER] = attempt
    headers.update(extra)
    return aio_pika.Message(
        incoming.body,
        headers=headers,
        content_type=incoming.content_type,
        content_encoding=incoming.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=incoming.message_id,
        timestamp=incoming.timestamp,
        type=incoming.type,
        app_id=incoming.app_id,
    )
