"""The `Transport` seam: named pipes between clients and servers.

Pipes keep Sensu's names: `results`, `keepalives`, one per subscription, `roundrobin:NAME`,
`client:NAME`. A `direct` pipe has one shared queue (competing consumers: each message goes
to one subscriber); a `fanout` pipe gives each subscriber its own copy. `transport/memory.py`
is the embedded default, `transport/rabbitmq.py` the distributed one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Literal

PipeKind = Literal["direct", "fanout"]


class Message(ABC):
    """One delivered message. Process it inside `async with message.process():`."""

    body: bytes

    @abstractmethod
    def process(self) -> AbstractAsyncContextManager[None]:
        """Acknowledge when the block ends normally; requeue when it raises."""


class Subscription(ABC):
    """An async iterator of messages from one pipe."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Message]: ...

    @abstractmethod
    async def close(self) -> None: ...


class Transport(ABC):
    """Publishes to and subscribes to pipes."""

    @abstractmethod
    async def publish(self, pipe: str, body: bytes, kind: PipeKind = "direct") -> None: ...

    @abstractmethod
    async def subscribe(self, pipe: str, kind: PipeKind = "direct", queue: str | None = None) -> Subscription:
        """Subscribe to a pipe. For `fanout`, `queue` names this subscriber's own queue."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close connections; open subscriptions end."""
