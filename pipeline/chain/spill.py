"""Events a busy handler cannot take now, queued durably for it so their result can be acked.

A server acks a result once its event is stored and every route of it has finished, so the
broker's prefetch window (100) is the number of results in hand. Without this, the events of
one hanging handler waiting for its slots held that whole window, and every other handler's
events (and every other result) waited behind them. Now a route that finds no free slot
publishes its event to the handler's own queue, `ogi.handler.<name>` (a durable queue with
persistent, broker-confirmed messages over RabbitMQ), and the result is acked. Every server
consumes those queues and runs the route when a slot of that handler frees; that message is
acked only after the route ran, so a crash redelivers it: the no-loss promise holds for
the queued route as for the result.

An event is only queued when the publish is durable: over RabbitMQ, while connected with
nothing left in the reconnect buffer. Otherwise the route waits for its slot as before.
Queued events of one handler may run in another order than they arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from pipeline import jsoncodec
from pipeline.model import Event

if TYPE_CHECKING:  # the transport reaches the engine through the Context, not an import
    from pipeline.transport.base import Message, Subscription, Transport

#: The pipe of a handler's queue is this prefix and the handler's name.
PREFIX = "ogi.handler."
#: Queued events of one handler in hand at once per server (each then waits for a slot).
IN_HAND = 100
#: RabbitMQ's longest queue name, in UTF-8 bytes.
MAX_PIPE_BYTES = 255

RunQueued = Callable[[str, Event], Awaitable[None]]


def queue_pipe(handler: str) -> str | None:
    """The pipe of `handler`'s queue; None when RabbitMQ would refuse the name (too long)."""
    pipe = PREFIX + handler
    return None if len(pipe.encode("utf-8")) > MAX_PIPE_BYTES else pipe


class HandlerQueues:
    """Publishes events to handlers' queues and consumes those queues into `run(name, event)`."""

    def __init__(self, transport: Transport | None, run: RunQueued, log: logging.Logger) -> None:
        self._transport = transport
        self._run = run
        self._log = log
        self._subscriptions: dict[str, Subscription] = {}
        self._consumers: dict[str, asyncio.Task[None]] = {}
        self._opening: dict[str, asyncio.Future[bool]] = {}
        self._running: set[asyncio.Task[object]] = set()
        self._closed = False
        #: `queued` (events published to a handler's queue), `taken` (run from it), `bad` (unreadable).
        self.counts: Counter[str] = Counter()
        #: The same by handler (exported as `ogi_handler_queued_events_total` and `..._taken_total`).
        self.queued_by_handler: Counter[str] = Counter()
        self.taken_by_handler: Counter[str] = Counter()

    def durable(self) -> bool:
        """Whether a publish now is kept by the broker (not merely buffered in this process)."""
        transport = self._transport
        if transport is None or self._closed or not transport.connected:
            return False
        pending = getattr(transport, "pending", 0)
        return not (isinstance(pending, int) and pending > 0)

    async def queue(self, handler: str, event: Event) -> bool:
        """Queue `event` for `handler`; False (nothing queued) when that cannot be done durably."""
        pipe = queue_pipe(handler)
        if pipe is None or not self.durable() or not await self.consume(handler):
            return False
        assert self._transport is not None
        try:
            await self._transport.publish(pipe, jsoncodec.dumps(event))
        except Exception as error:
            self._log.warning("cannot queue an event for a busy handler; it waits in process",
                              extra={"fields": {"handler": handler, "error": repr(error)}})
            return False
        self.counts["queued"] += 1
        self.queued_by_handler[handler] += 1
        return True

    async def consume(self, handler: str) -> bool:
        """Subscribe to `handler`'s queue once (its consumer runs until close); False if that failed."""
        if handler in self._subscriptions:
            return True
        pipe = queue_pipe(handler)
        if pipe is None or self._transport is None or self._closed:
            return False
        opening = self._opening.get(handler)
        if opening is not None:
            return await asyncio.shield(opening)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._opening[handler] = future
        try:
            subscription = await self._transport.subscribe(pipe)
        except Exception as error:
            self._log.warning("cannot consume a handler queue", extra={"fields": {"handler": handler,
                                                                                  "error": repr(error)}})
            future.set_result(False)
            return False
        finally:
            self._opening.pop(handler, None)
        self._subscriptions[handler] = subscription
        self._consumers[handler] = asyncio.create_task(self._dispatch(handler, subscription))
        future.set_result(True)
        return True

    async def start(self, handlers: Iterable[str]) -> None:
        """Consume the queues of `handlers`, so events queued before a restart are handled."""
        for handler in handlers:
            await self.consume(handler)

    async def _dispatch(self, handler: str, subscription: Subscription) -> None:
        async def take(message: Message) -> None:
            async with message.process():
                try:
                    event = jsoncodec.loads(message.body)
                except ValueError:
                    event = None
                if not isinstance(event, dict):
                    self.counts["bad"] += 1
                    self._log.error("unreadable message in a handler queue dropped",
                                    extra={"fields": {"handler": handler}})
                    return
                self.counts["taken"] += 1
                self.taken_by_handler[handler] += 1
                task = asyncio.current_task()
                assert task is not None
                self._running.add(task)
                try:
                    await self._run(handler, event)
                finally:
                    self._running.discard(task)

        await subscription.dispatch(take, IN_HAND)

    async def close(self) -> None:
        """Stop consuming; queued events in hand, or running (their commands killed), go back to their queue."""
        self._closed = True
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for subscription in self._subscriptions.values():
            with contextlib.suppress(Exception):
                await subscription.close()
        for task in self._consumers.values():
            task.cancel()
        await asyncio.gather(*self._consumers.values(), return_exceptions=True)
        self._subscriptions.clear()
        self._consumers.clear()
