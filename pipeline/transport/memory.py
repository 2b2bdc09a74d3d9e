"""The embedded transport: named pipes as asyncio queues inside one process.

It behaves like Sensu's RabbitMQ layout, so code written against it works unchanged over
the real broker:

- A `direct` pipe is one shared queue (competing consumers: each message goes to exactly
  one subscriber). The queue exists from the first publish or subscribe and is never
  deleted, so messages published before anyone subscribes wait for the first consumer.
- A `fanout` pipe copies each message into every bound queue. A subscription binds its own
  anonymous queue, or the queue named by `queue=`; subscriptions sharing a queue name share
  its messages round-robin. A message published while no queue is bound is dropped, as
  RabbitMQ drops it, and a queue goes away with its last subscriber (Sensu declares every
  queue `auto_delete`).
- `async with message.process():` acks when the block ends normally; an exception (a
  cancellation included) puts the message back at the front of its queue for the next
  consumer, marked `redelivered`, and re-raises. Messages delivered to a subscription but
  not yet being processed when it closes are requeued the same way, as RabbitMQ requeues a
  closed channel's unacked messages.
- An exception (not a cancellation) counts as a failed attempt: after `max_attempts` the
  message moves to the direct pipe `<pipe>.failed` (pipes ogi owns, like `results`) or is
  dropped (fanout and `roundrobin:` pipes), counted in `counts`, as the RabbitMQ transport
  dead-letters it: a poison message cannot loop forever.

Memory: queues are unbounded, because a bounded direct queue would have to drop results.
Each waiting message costs its body plus about 100 bytes; a `results` pipe nobody consumes
grows without limit, so `depth()` is there to watch it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pipeline.transport.amqp_settings import DEFAULT_MAX_ATTEMPTS
from pipeline.transport.amqp_topology import FAILED_SUFFIX, ogi_owns
from pipeline.transport.base import Message, PipeKind, Subscription, Transport

log = logging.getLogger("ogi")


@dataclass(slots=True)
class _Entry:
    body: bytes
    redelivered: bool = False
    attempts: int = 0  # failed processing attempts so far


class _Queue:
    """A FIFO of entries with waiting consumers served in arrival order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: deque[_Entry] = deque()
        self.waiters: deque[asyncio.Future[_Entry | None]] = deque()
        self.subscribers = 0
        self.deleted = False

    def put(self, entry: _Entry, front: bool = False) -> None:
        if self.deleted:
            return  # like a message routed to a queue that no longer exists
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(entry)
                return
        if front:
            self.items.appendleft(entry)
        else:
            self.items.append(entry)

    def waiter(self) -> asyncio.Future[_Entry | None]:
        future: asyncio.Future[_Entry | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        return future


class MemoryMessage(Message):
    """One delivery from a memory queue."""

    def __init__(self, entry: _Entry, queue: _Queue, subscription: MemorySubscription) -> None:
        self.body = entry.body
        self.redelivered = entry.redelivered
        self._attempts = entry.attempts
        self._queue = queue
        self._subscription = subscription
        self._state = "delivered"  # -> processing -> settled

    def _requeue(self, attempts: int | None = None) -> None:
        self._state = "settled"
        entry = _Entry(self.body, redelivered=True, attempts=self._attempts if attempts is None else attempts)
        self._queue.put(entry, front=True)

    def _failed(self, exc: Exception) -> None:
        attempts = self._attempts + 1
        transport = self._subscription._transport
        if attempts < transport.max_attempts:
            self._requeue(attempts)
            return
        self._state = "settled"
        pipe = self._queue.name
        if self._subscription._kind == "direct" and ogi_owns(pipe):
            transport._direct_queue(pipe + FAILED_SUFFIX).put(_Entry(self.body))
            transport.counts["dead_lettered"] += 1
            outcome = f"moved to {pipe + FAILED_SUFFIX}"
        else:
            transport.counts["dropped_after_attempts"] += 1
            outcome = "dropped"
        log.error(
            "message failed %d times: %s", attempts, outcome,
            extra={"fields": {"queue": pipe, "attempts": attempts, "error": repr(exc)[:500]}},
        )

    @contextlib.asynccontextmanager
    async def process(self) -> AsyncIterator[None]:
        if self._state != "delivered":
            raise RuntimeError("message already processed, or requeued when its subscription closed")
        self._state = "processing"
        try:
            yield
        except Exception as exc:
            self._failed(exc)
            raise
        except BaseException:
            self._requeue()
            raise
        else:
            self._state = "settled"
        finally:
            self._subscription._unsettled.pop(self, None)


class MemorySubscription(Subscription):
    """Messages from one queue until `close()`."""

    def __init__(self, transport: MemoryTransport, queue: _Queue, kind: PipeKind) -> None:
        self._transport = transport
        self._queue = queue
        self._kind = kind
        self._closed = False
        self._waiting: asyncio.Future[_Entry | None] | None = None
        #: Delivered and not yet settled, in delivery order.
        self._unsettled: dict[MemoryMessage, None] = {}
        queue.subscribers += 1

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while not self._closed:
            entry = await self._next()
            if entry is None:
                return
            message = MemoryMessage(entry, self._queue, self)
            self._unsettled[message] = None
            yield message

    async def _next(self) -> _Entry | None:
        queue = self._queue
        if queue.items:
            return queue.items.popleft()
        future = self._waiting = queue.waiter()
        try:
            return await future
        except asyncio.CancelledError:
            # Handed a message in the same tick as the cancellation: give it back.
            if future.done() and not future.cancelled() and (entry := future.result()) is not None:
                queue.put(entry, front=True)
            raise
        finally:
            self._waiting = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)
        # Each requeue goes to the front, so walk backwards to keep the delivery order.
        for message in reversed(list(self._unsettled)):
            if message._state == "delivered":
                message._requeue()
        self._unsettled.clear()
        self._transport._unsubscribed(self, self._queue, self._kind)


class MemoryTransport(Transport):
    """The in-process transport: the embedded default and the reference for RabbitMQ."""

    def __init__(self, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.max_attempts = max_attempts
        self.counts: Counter[str] = Counter()
        self._direct: dict[str, _Queue] = {}
        #: fanout pipe -> queue name -> queue
        self._fanout: dict[str, dict[str, _Queue]] = {}
        self._subscriptions: set[MemorySubscription] = set()
        self._anonymous = itertools.count(1)
        self._closed = False

    def _direct_queue(self, pipe: str) -> _Queue:
        queue = self._direct.get(pipe)
        if queue is None:
            queue = self._direct[pipe] = _Queue(pipe)
        return queue

    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None:
        if self._closed:
            raise RuntimeError("memory transport is closed")
        if kind == "direct":
            self._direct_queue(pipe).put(_Entry(bytes(body)))
        elif kind == "fanout":
            for queue in self._fanout.get(pipe, {}).values():
                queue.put(_Entry(bytes(body)))
        else:
            raise ValueError(f"unknown pipe kind {kind!r} (known: direct, fanout)")

    async def publish_many(self, pipe: str, bodies: list[bytes], kind: PipeKind = "direct") -> None:
        if kind != "direct":
            await super().publish_many(pipe, bodies, kind)
            return
        if self._closed:
            raise RuntimeError("memory transport is closed")
        queue = self._direct_queue(pipe)
        for body in bodies:
            queue.put(_Entry(bytes(body)))

    async def subscribe(self, pipe: str, kind: PipeKind = "direct", queue: str | None = None) -> Subscription:
        if self._closed:
            raise RuntimeError("memory transport is closed")
        if kind == "direct":
            target = self._direct_queue(pipe)
        elif kind == "fanout":
            bound = self._fanout.setdefault(pipe, {})
            name = queue if queue is not None else f"{pipe}.anonymous.{next(self._anonymous)}"
            target = bound.get(name) or bound.setdefault(name, _Queue(name))
        else:
            raise ValueError(f"unknown pipe kind {kind!r} (known: direct, fanout)")
        subscription = MemorySubscription(self, target, kind)
        self._subscriptions.add(subscription)
        return subscription

    def _unsubscribed(self, subscription: MemorySubscription, queue: _Queue, kind: PipeKind) -> None:
        self._subscriptions.discard(subscription)
        queue.subscribers -= 1
        if kind == "fanout" and queue.subscribers == 0:
            queue.deleted = True
            for pipe, bound in list(self._fanout.items()):
                if bound.get(queue.name) is queue:
                    del bound[queue.name]
                    if not bound:
                        del self._fanout[pipe]

    def depth(self, pipe: str, kind: PipeKind = "direct") -> int:
        """Messages waiting in the pipe's queue(s), not yet delivered."""
        if kind == "direct":
            queue = self._direct.get(pipe)
            return len(queue.items) if queue else 0
        return sum(len(q.items) for q in self._fanout.get(pipe, {}).values())

    async def queue_stats(self, pipe: str) -> tuple[int, int]:
        """(messages waiting, consumers) of a direct pipe, as `/health` checks them."""
        queue = self._direct.get(pipe)
        return (len(queue.items), queue.subscribers) if queue else (0, 0)

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
