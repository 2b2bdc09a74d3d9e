"""The `Transport` seam: named pipes between clients and servers.

Pipes keep Sensu's names: `results`, `keepalives`, one per subscription, `roundrobin:NAME`,
`client:NAME`. A `direct` pipe has one shared queue (competing consumers: each message goes
to one subscriber); a `fanout` pipe gives each subscriber its own copy. `transport/memory.py`
is the embedded default, `transport/rabbitmq.py` the distributed one.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Literal

PipeKind = Literal["direct", "fanout"]
#: Called with no arguments; it may return an awaitable, which the transport runs as a task.
ConnectionCallback = Callable[[], object]
#: Processes one message (inside `message.process()`); it should not raise.
MessageHandler = Callable[["Message"], Awaitable[None]]

log = logging.getLogger("ogi")


async def run_handler(handler: MessageHandler, message: Message) -> None:
    """`handler(message)`, an exception escaping it logged rather than raised (a handler should not raise)."""
    try:
        await handler(message)
    except Exception:
        log.exception("message handler failed")


class Message(ABC):
    """One delivered message. Process it inside `async with message.process():`."""

    body: bytes
    #: Delivered before: processing failed, or its consumer went away before acknowledging it.
    redelivered: bool = False

    @abstractmethod
    def process(self) -> AbstractAsyncContextManager[None]:
        """Acknowledge when the block ends normally; requeue when it raises.

        An exception counts as a failed attempt: after `max_attempts` (default 5) the message
        is dead-lettered to the pipe's `<pipe>.failed` queue (direct pipes) or dropped (fanout,
        `roundrobin:`), counted, so a poison message cannot loop forever. A cancellation
        requeues without counting.
        """


class Subscription(ABC):
    """An async iterator of messages from one pipe; or `dispatch` them to a handler."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Message]: ...

    async def dispatch(self, handler: MessageHandler, limit: int = 100) -> None:
        """Run `handler(message)` for each message until the subscription ends (or this is cancelled).

        Handlers run concurrently and start in arrival order, so per-key ordering downstream
        holds; at most `limit` run at once. An exception escaping a handler is logged.
        """
        slots = asyncio.Semaphore(limit)
        running: set[asyncio.Task[None]] = set()

        async def run(message: Message) -> None:
            try:
                await run_handler(handler, message)
            finally:
                slots.release()

        async for message in self:
            await slots.acquire()
            task = asyncio.create_task(run(message))
            running.add(task)
            task.add_done_callback(running.discard)

    def in_hand(self, limit: int) -> int:
        """How many messages `dispatch(handler, limit)` can have running at once."""
        return limit

    @abstractmethod
    async def close(self) -> None: ...


class Transport(ABC):
    """Publishes to and subscribes to pipes."""

    @abstractmethod
    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None: ...

    async def publish_many(self, pipe: str, bodies: list[bytes], kind: PipeKind = "direct") -> None:
        """Publish `bodies` in order, as `publish` would each; a transport may send them together."""
        for body in bodies:
            await self.publish(pipe, body, kind)

    @abstractmethod
    async def subscribe(self, pipe: str, kind: PipeKind = "direct", queue: str | None = None) -> Subscription:
        """Subscribe to a pipe. For `fanout`, `queue` names this subscriber's own queue."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close connections; open subscriptions end."""

    def connect_soon(self) -> None:  # noqa: B027 - optional hook
        """Begin connecting in the background now rather than at the first publish or subscription.

        For a daemon that may publish nothing for hours (`ogi api`), so that `connected` says
        whether the broker can be reached, not only whether it has been asked yet.
        """

    @property
    def connected(self) -> bool:
        """False while the connection to the broker is lost (an in-process transport never loses it)."""
        return True

    def on_disconnect(self, callback: ConnectionCallback) -> None:  # noqa: B027 - optional hook
        """Call `callback()` each time the connection is lost (a server pauses its timers: Sensu's pause)."""

    def on_reconnect(self, callback: ConnectionCallback) -> None:  # noqa: B027 - optional hook
        """Call `callback()` each time the connection is back, consumers resumed (Sensu's resume)."""
