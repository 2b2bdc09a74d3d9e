"""Per-key ordering: results of one client and check are recorded, and handed on, in arrival order."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from types import TracebackType


class KeyedOrder:
    """Runs work for the same key one at a time, in arrival order; different keys in parallel.

    `hold(key)` is the context manager; the result processor uses `enter` and `wait` directly
    and ends its turn with a `Turn` (the engine may end it first), because a key that is free
    (nearly always) then costs two dict operations and no future, generator or context manager
    per result.
    """

    def __init__(self) -> None:
        # A key is held while it is in the dict; its value is the queue of waiters, if any.
        self._held: dict[Hashable, deque[asyncio.Future[None]] | None] = {}

    def enter(self, key: Hashable) -> asyncio.Future[None] | None:
        """Take the key's turn: None when it is ours now, else a future to `wait` for."""
        held = self._held
        if key not in held:
            held[key] = None
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = held[key]
        if queue is None:
            held[key] = deque((waiter,))
        else:
            queue.append(waiter)
        return waiter

    async def wait(self, key: Hashable, waiter: asyncio.Future[None]) -> None:
        """Wait for the turn `enter` queued; cancelled, it gives the turn up (or on, if it came)."""
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # The turn came as the waiter was cancelled: pass it on.
                self.leave(key)
            else:
                # A cancelled waiter stays queued and is skipped when its turn comes, so its
                # successor still waits for the work ahead of both.
                waiter.cancel()
            raise

    def leave(self, key: Hashable) -> None:
        """End the turn: the next live waiter for the key gets it."""
        queue = self._held.get(key)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        del self._held[key]

    def hold(self, key: Hashable) -> _Hold:
        """`async with order.hold(key):` runs the block in the key's turn."""
        return _Hold(self, key)


class Turn:
    """The turn `enter` gave, ended by the first `end()`: whoever finishes the ordered part first."""

    __slots__ = ("_order", "_key")

    def __init__(self, order: KeyedOrder, key: Hashable) -> None:
        self._order: KeyedOrder | None = order
        self._key = key

    def end(self) -> None:
        order = self._order
        if order is not None:
            self._order = None
            order.leave(self._key)


class _Hold:
    __slots__ = ("_order", "_key")

    def __init__(self, order: KeyedOrder, key: Hashable) -> None:
        self._order = order
        self._key = key

    async def __aenter__(self) -> None:
        waiter = self._order.enter(self._key)
        if waiter is not None:
            await self._order.wait(self._key, waiter)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None,
    ) -> None:
        self._order.leave(self._key)
