"""Server task election: each of Sensu's three server tasks runs on one server at a time.

Sensu 1.x's scheme (docs/redis.md "Task election"), over the Store's task locks: every `interval` (10 s) a
server refreshes the locks of the tasks it holds (a lock it finds taken by another server
means the task was lost: it is cancelled at once) and tries to take the others, in order.
A task is first tried `interval × tasks held` after the server began waiting for it, so at
start-up a server that already holds tasks lets the others win the next one and the tasks
spread over the servers; after that wait it is tried at every tick, so a task whose holder
died moves at the first tick after its lock went stale (30 s after its last refresh). The
server also keeps its registry entry (`servers`, `server:<id>`, 30 s) fresh.

Unlike Sensu, a server that stops or pauses deletes the locks it holds (only if still its
own), so another server takes its tasks at once instead of after 30 s.

`tick(now)` is one pass (tests drive it with their clock); `run()` ticks until cancelled and
then releases what it holds so another server takes over without waiting 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pipeline import SENSU_COMPAT_VERSION
from pipeline.hostaddr import first_ipv4
from pipeline.model import JSON, Clock, system_clock
from pipeline.store.base import Store, StoreError

log = logging.getLogger("ogi")

Runnable = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

#: Sensu's task names, in the order a server tries them.
TASK_NAMES = ("check_request_publisher", "client_monitor", "check_result_monitor")
#: Seconds between refreshes, elections and registry updates (Sensu: 10).
ELECTION_INTERVAL = 10.0
#: Seconds a registry entry lives without a refresh (Sensu: 30).
REGISTRY_EXPIRE = 30


class TaskElection:
    """Holds server tasks through the Store's locks and runs each one while it is held.

    `tasks` maps a task name to what starts it (e.g. `publisher.run`): called when the task
    is won, and the coroutine it returns is cancelled when the task is lost or released.
    """

    def __init__(
        self,
        store: Store,
        owner_id: str,
        tasks: Mapping[str, Runnable],
        clock: Clock = system_clock,
        sleep: Sleep = asyncio.sleep,
        interval: float = ELECTION_INTERVAL,
        hostname: str | None = None,
        address: str | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be above 0, got {interval}")
        self.store = store
        self.owner_id = owner_id
        self.tasks = dict(tasks)
        self.clock = clock
        self.interval = interval
        self._sleep = sleep
        self.hostname = hostname if hostname is not None else socket.gethostname()
        self.address = address if address is not None else first_ipv4()
        #: Task name -> the running task, for each task this server holds.
        self.running: dict[str, asyncio.Task[None]] = {}
        # Task name -> when this server started waiting to try it.
        self._waiting: dict[str, float] = {}

    @property
    def held(self) -> list[str]:
        """The names of the tasks this server holds, in task order."""
        return [name for name in self.tasks if name in self.running]

    def info(self, now: float) -> JSON:
        """This server's registry entry."""
        cpu = os.times()
        return {
            "id": self.owner_id,
            "hostname": self.hostname,
            "address": self.address,
            "tasks": self.held,
            "metrics": {"cpu": {"user": cpu.user, "system": cpu.system}},
            "sensu": {"version": SENSU_COMPAT_VERSION},
            "timestamp": int(now),
        }

    async def tick(self, now: float) -> None:
        """Refresh held tasks (stopping lost ones), try the others, update the registry."""
        await self._refresh(now)
        await self._elect(now)
        try:
            await self.store.register_server(self.info(now), REGISTRY_EXPIRE)
        except StoreError as error:
            log.warning("server registry not updated: %s", error, extra={"fields": {"server": self.owner_id}})

    async def _refresh(self, now: float) -> None:
        for name in self.held:
            try:
                kept = await self.store.refresh_task(name, self.owner_id, now)
            except StoreError as error:
                # Unrefreshed, the lock goes stale and another server may take the task: stop
                # it now rather than risk two servers publishing the same checks.
                log.warning("task stopped: its lock cannot be refreshed: %s", error,
                            extra={"fields": {"task": name, "server": self.owner_id}})
                await self._stop(name)
                continue
            if not kept:
                log.warning("task lost to another server", extra={"fields": {"task": name, "server": self.owner_id}})
                await self._stop(name)
            elif self.running[name].done():
                self._report_end(name, self.running[name])
                self._start(name)

    async def _elect(self, now: float) -> None:
        for name in self.tasks:
            if name in self.running:
                continue
            since = self._waiting.setdefault(name, now)
            if now < since + self.interval * len(self.running):
                continue
            try:
                won = await self.store.acquire_task(name, self.owner_id, now)
            except StoreError as error:
                log.warning("task election failed: %s", error, extra={"fields": {"task": name}})
                return
            if won:
                del self._waiting[name]
                log.info("task taken", extra={"fields": {"task": name, "server": self.owner_id}})
                self._start(name)

    def _start(self, name: str) -> None:
        self.running[name] = asyncio.create_task(self._guard(name), name=f"ogi-task-{name}")

    async def _guard(self, name: str) -> None:
        await self.tasks[name]()

    def _report_end(self, name: str, task: asyncio.Task[Any]) -> None:
        error = None if task.cancelled() else task.exception()
        log.error("task ended on its own; started again", exc_info=error,
                  extra={"fields": {"task": name, "server": self.owner_id}})

    async def _stop(self, name: str) -> None:
        task = self.running.pop(name, None)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def release_all(self) -> None:
        """Stop every held task and give up its lock (Sensu does this when it pauses or stops)."""
        for name in self.held:
            await self._stop(name)
            with contextlib.suppress(StoreError):
                await self.store.release_task(name, self.owner_id)
        self._waiting.clear()

    async def run(self) -> None:
        """Elect every `interval` until cancelled; then release the tasks and leave the registry."""
        try:
            while True:
                await self.tick(self.clock())
                await self._sleep(self.interval)
        finally:
            await self.release_all()
            with contextlib.suppress(StoreError):
                await self.store.unregister_server(self.owner_id)
