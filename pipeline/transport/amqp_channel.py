"""The channel-level pieces of consuming: lean consumers and batched acks.

`LeanQueue` hands aiormq's deliveries to the consumer callback as they come (no aio-pika
IncomingMessage, no second task per message) while aio-pika's robust channel still restores
the consumer after a reconnect. `AckBatcher` sends the acks settled in one turn of the loop as
few `multiple` acks as the held deliveries allow. pipeline/transport/amqp_consume.py builds
subscriptions and messages on them.

Measured (commit e67225e): an aio-pika IncomingMessage and the second task that comes with it
were a third of the cost of consuming; batched acks halve the cost of consuming at prefetch
100 (pipeline/transport/amqp_consume.py). Neither commit recorded the benchmark it ran.

`LeanQueue` reads aio-pika's internals (`RobustQueue._consumers`, `RobustChannel.QUEUE_CLASS`,
`get_underlay_channel`): tested with aio-pika 9.4 to 10.2 (pyproject.toml pins
`aio-pika<10.3`). On any other aio-pika, or when those internals are not there,
`use_lean_queues` leaves aio-pika's own queues in place (consumers then get IncomingMessages,
which the subscription takes too) and says so once in the log. `AckBatcher` uses only aiormq's
public `basic_ack`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

import aio_pika
import aiormq.abc
from aio_pika.abc import AbstractRobustChannel, ConsumerTag, TimeoutType
from aio_pika.robust_channel import RobustChannel
from aio_pika.robust_queue import RobustQueue
from aiormq.abc import DeliveredMessage
from pamqp.common import Arguments

from pipeline.libversions import installed, release_in

#: Errors that mean "the channel or connection is gone", not "the broker refused".
CHANNEL_GONE = (aio_pika.exceptions.AMQPError, ConnectionError, OSError, RuntimeError, asyncio.TimeoutError)


class LeanQueue(RobustQueue):
    """A robust queue whose consumers get aiormq's `DeliveredMessage` in aiormq's own task.

    It records each consumer as RobustQueue does, so the channel restores it (through this
    `consume`) after a reconnect. aio-pika's own recovery of a consumer the broker cancelled
    goes through the plain `Queue.consume` and hands the callback an IncomingMessage instead:
    callbacks must take both.
    """

    async def consume(
        self,
        callback: Callable[[Any], Awaitable[Any]],
        no_ack: bool = False,
        exclusive: bool = False,
        arguments: Arguments = None,
        consumer_tag: ConsumerTag | None = None,
        timeout: TimeoutType = None,
        robust: bool = True,
    ) -> ConsumerTag:
        channel = await self.channel.get_underlay_channel()
        raw = cast(Callable[[DeliveredMessage], Coroutine[Any, Any, Any]], callback)
        result = await channel.basic_consume(
            queue=self.name, consumer_callback=raw, no_ack=no_ack, exclusive=exclusive, arguments=arguments,
            consumer_tag=consumer_tag, timeout=timeout,
        )
        if result.consumer_tag is None:
            raise RuntimeError("the broker gave no consumer tag")
        if robust:
            self._consumers[result.consumer_tag] = {
                "callback": callback, "no_ack": no_ack, "exclusive": exclusive, "arguments": arguments,
            }
        return result.consumer_tag


#: The aio-pika releases (major, minor) LeanQueue was tested with: [low, high).
TESTED_AIO_PIKA = ((9, 4), (10, 3))
log = logging.getLogger("ogi")
_warned = False


def supported(version: str | None = None) -> bool:
    """Whether the installed aio-pika is one LeanQueue was tested with, its internals as expected."""
    version = version if version is not None else installed("aio-pika")
    if version is None or not release_in(version, *TESTED_AIO_PIKA):
        return False
    return (hasattr(RobustChannel, "QUEUE_CLASS")
            and hasattr(RobustChannel, "get_underlay_channel")
            # LeanQueue.consume records its consumers where RobustQueue's restore reads them
            and "_consumers" in RobustQueue.__init__.__code__.co_names)


def use_lean_queues(channel: AbstractRobustChannel) -> bool:
    """Queues declared on `channel` from now on are LeanQueues.

    False (aio-pika's own RobustQueue stays) when the installed aio-pika is not one this was tested with.
    """
    global _warned
    if not isinstance(channel, RobustChannel) or not supported():
        if not _warned:
            _warned = True
            log.warning("aio-pika is not a version the lean consumers were tested with; using aio-pika's own queues",
                        extra={"fields": {"tested": f"{TESTED_AIO_PIKA[0]} to {TESTED_AIO_PIKA[1]} (exclusive)"}})
        return False
    channel.QUEUE_CLASS = LeanQueue
    return True


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
