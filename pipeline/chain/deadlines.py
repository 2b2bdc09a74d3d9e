"""Cheap per-route timeouts and a cheap bounded pool for the engine's hot path.

`asyncio.timeout()` schedules and cancels one timer per use, about 5 µs: a sixth of the budget of
an event at 30,000 events/s. The engine's route timeouts are a safety net measured in seconds,
so one `Watchdog` timer ticking while routes are in flight does the same job: it cancels the
task of a route past its deadline, and the route tells that cancellation apart from any other
(shutdown) the way `asyncio.timeout` does, through `Task.uncancel()`.

Measured: `asyncio.timeout()` about 5 µs per route (a timer scheduled and cancelled on the
loop's heap) -> a set add and discard per route, plus one timer per `TICK` while any route is
in flight (commit b34a61c, which records no benchmark run). `Pool` replaces
`asyncio.Semaphore` on the same path: `take()` is a plain call when a slot is free, where
`acquire()` is a coroutine to await; no separate figure was recorded for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

#: How often the watchdog looks for routes past their deadline, in seconds.
TICK = 0.1


class Deadline:
    """One route's deadline; `expired` once the watchdog has cancelled its task."""

    __slots__ = ("when", "task", "cancelling", "expired", "settled")

    def __init__(self, when: float, task: asyncio.Task[object], cancelling: int) -> None:
        self.when = when
        self.task = task
        self.cancelling = cancelling
        self.expired = False
        self.settled = False


class Watchdog:
    """Cancels the task of every registered route whose deadline has passed."""

    def __init__(self, tick: float = TICK) -> None:
        self._tick = tick
        self._active: set[Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, seconds: float) -> Deadline:
        """Register a deadline `seconds` from now for the current task."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # first use, or another loop (one per test): what was pending belonged to the old one
            self._loop = loop
            self._timer = None
            self._active.clear()
        task = asyncio.current_task(loop)
        assert task is not None, "routes run inside a task"
        deadline = Deadline(loop.time() + seconds, task, task.cancelling())
        self._active.add(deadline)
        if self._timer is None:
            self._timer = loop.call_later(self._tick, self._check)
        return deadline

    def timed_out(self, deadline: Deadline) -> bool:
        """After a CancelledError: True if the watchdog caused it and nobody else cancelled the task."""
        if not deadline.expired or deadline.settled:
            return False
        deadline.settled = True
        return deadline.task.uncancel() <= deadline.cancelling

    def stop(self, deadline: Deadline) -> None:
        """The route is done; withdraw its deadline."""
        self._active.discard(deadline)
        if deadline.expired and not deadline.settled:
            # the route swallowed our CancelledError: undo the cancel request it left behind
            deadline.settled = True
            deadline.task.uncancel()

    def _check(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        for deadline in self._active:
            if not deadline.expired and deadline.when <= now:
                deadline.expired = True
                deadline.task.cancel("route timeout")
        if self._active:
            self._timer = loop.call_later(self._tick, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Pool:
    """A bounded pool with a synchronous fast path: `if not pool.take(): await pool.wait()`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take a slot if one is free right now (and nobody queues before us)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Queue for a slot; on return the caller holds it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give()  # handed a slot just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)
            raise

    def give(self) -> None:
        """Return a slot: hand it to the first waiter, else free it."""
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self._free += 1

    @property
    def in_use(self) -> int:
        return self.size - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)
