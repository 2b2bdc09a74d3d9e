"""The server's periodic tasks, and the TTL monitor.

Sensu 1.x runs three elected tasks on its servers (docs/redis.md "Task election"): `check_request_publisher`
(pipeline/server/publisher.py), `client_monitor` (the keepalive monitor, pipeline/server/keepalives.py) and
`check_result_monitor` (the TTL monitor, here). Each is an object with `async run()`, which
loops until cancelled, and a single step (`tick(now)`, `publish_due(now)`) that tests call
with an injected clock. Election between servers is not done here: a task lock wraps
`run()` from outside (run it while the lock is held, cancel it when the lock is lost), and
`task_name` is the name the lock is taken under.

The monitors publish results to the `results` pipe, as Sensu does, so a keepalive or TTL
result goes through the same processing, history and handlers as any other.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

from pipeline import jsoncodec
from pipeline.model import JSON, Check, Client, Clock, system_clock
from pipeline.store.base import Store
from pipeline.transport.base import Transport
from pipeline.transport.pipes import RESULTS

if TYPE_CHECKING:
    from pipeline.config.settings import Settings

log = logging.getLogger("ogi")

Sleep = Callable[[float], Awaitable[None]]

#: Sensu's monitor period (client monitor and TTL monitor), seconds.
MONITOR_INTERVAL = 30.0


def result_payload(client: Client | str, check: Check) -> JSON:
    """A result as a client would send it, signed with the client's signature if it has one.

    ogi's result processor drops results of a signed client that lack its signature, so results
    the server makes up for a client carry it.
    """
    if isinstance(client, str):
        return {"client": client, "check": check}
    payload: JSON = {"client": client["name"], "check": check}
    signature = client.get("signature")
    if isinstance(signature, str) and signature:
        payload["signature"] = signature
    return payload


async def publish_result(transport: Transport, payload: JSON, pipe: str = RESULTS) -> None:
    await transport.publish(pipe, jsoncodec.dumps(payload), "direct")


class PeriodicTask(ABC):
    """A server task that runs `tick(now)` every `interval` seconds.

    The first tick comes one interval after `run()` starts, as in Sensu: a server that starts
    after an outage first lets clients send keepalives and results before judging their age.
    Ticks keep their rhythm (a slow tick does not push the next one back) and an error in one
    tick is logged and the loop goes on.
    """

    task_name: ClassVar[str]

    def __init__(self, clock: Clock = system_clock, interval: float = MONITOR_INTERVAL, sleep: Sleep = asyncio.sleep):
        if interval <= 0:
            raise ValueError(f"interval must be above 0, got {interval}")
        self.clock = clock
        self.interval = interval
        self._sleep = sleep

    @abstractmethod
    async def tick(self, now: float) -> Any:
        """One pass of the task at `now`."""

    async def run(self) -> None:
        """Tick every interval until cancelled."""
        next_at = self.clock() + self.interval
        while True:
            await self._sleep(max(0.0, next_at - self.clock()))
            now = self.clock()
            try:
                await self.tick(now)
            except Exception:
                log.exception("%s failed; it runs again next interval", self.task_name,
                              extra={"fields": {"task": self.task_name}})
            next_at += self.interval
            if next_at <= self.clock():
                # Stalled for longer than an interval: skip the missed ticks, keep the rhythm.
                behind = self.clock() - next_at
                next_at += (behind // self.interval + 1) * self.interval


class ResultMonitor(PeriodicTask):
    """A periodic server task that reads the store and publishes results on the results pipe."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        transport: Transport,
        clock: Clock = system_clock,
        interval: float = MONITOR_INTERVAL,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(clock, interval, sleep)
        self.settings = settings
        self.store = store
        self.transport = transport
        self.pipe = settings.limits.results_pipe


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class TtlMonitor(ResultMonitor):
    """Sensu's check result monitor: a check with `ttl` whose results stopped raises an event.

    Every interval, each `client:check` in the store's ttl index is looked at: a result older
    than its `ttl` is republished with status `ttl_status` (default 1) and the output
    "Last check execution was N seconds ago", unless the client's keepalive event is open
    (a client that is down already has its event; one per check would only add noise).
    `force_resolve` results are skipped; members whose result is gone leave the index.
    """

    task_name = "check_result_monitor"

    async def tick(self, now: float) -> list[JSON]:
        """Publish a result for every stale check; return the published payloads."""
        published: list[JSON] = []
        for member in await self.store.list_ttl():
            client_name, _, check_name = member.partition(":")
            result = await self.store.get_result(client_name, check_name)
            if result is None:
                await self.store.remove_ttl(member)
                continue
            ttl, executed = result.get("ttl"), result.get("executed")
            if not (_number(ttl) and _number(executed)):
                continue  # the check no longer has a ttl (or never ran): nothing to judge
            if result.get("force_resolve") is not None and result.get("force_resolve") is not False:
                continue
            age = int(now - executed)
            if age < ttl:
                continue
            if await self.store.get_event(client_name, "keepalive") is not None:
                continue
            status = result.get("ttl_status")
            if not isinstance(status, int) or isinstance(status, bool):
                status = 1
            check = {
                **result,
                "output": f"Last check execution was {age} seconds ago",
                "status": status,
                "interval": int(self.interval) if float(self.interval).is_integer() else self.interval,
            }
            client = await self.store.get_client(client_name)
            payload = result_payload(client if client is not None else client_name, check)
            await publish_result(self.transport, payload, self.pipe)
            log.info("check result is stale (ttl)", extra={"fields": {
                "client": client_name, "check": check_name, "age": age, "ttl": ttl}})
            published.append(payload)
        return published
