"""Standalone checks: the ones a client schedules for itself (`"standalone": true`).

Each runs on its `cron`, else every `interval` seconds with Sensu's splay keyed on
`"<client>:<check>"` (pipeline/schedule/timing.py), so a client restarted keeps its rhythm and a
fleet of clients does not run the same check in the same second. A tick inside the check's
`subdue` window is skipped; `"publish": false` leaves the check unscheduled. A check that
cannot be scheduled (bad cron, no interval) is logged and left out; the others run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pipeline.model import JSON
from pipeline.schedule.timing import CheckSchedule, ScheduleError, standalone_key

if TYPE_CHECKING:
    from pipeline.agent.agent import Agent

log = logging.getLogger("ogi.client")


def standalone_checks(checks: dict[str, JSON]) -> dict[str, JSON]:
    """The local checks this client schedules itself."""
    return {
        name: check
        for name, check in checks.items()
        if check.get("standalone") is True and check.get("publish") is not False and isinstance(check.get("command"), str)
    }


class Standalone:
    """The standalone scheduler of one client: a timer task per check."""

    def __init__(self, client: Agent) -> None:
        self.client = client
        self.schedules: dict[str, CheckSchedule] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        client = self.client
        now = client.clock()
        self.schedules.clear()
        for name, check in standalone_checks(client.checks).items():
            try:
                schedule = CheckSchedule.for_check(standalone_key(client.name, name), check, now)
            except ScheduleError as exc:
                client.counts["standalone_unschedulable"] += 1
                log.error(
                    "standalone check cannot be scheduled",
                    extra={"fields": {"check": name, "path": exc.path, "error": exc.message}},
                )
                continue
            self.schedules[name] = schedule
            self._tasks.append(asyncio.create_task(self._loop(name, check, schedule), name=f"standalone:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, name: str, check: JSON, schedule: CheckSchedule) -> None:
        client = self.client
        definition = {**check, "name": name}
        while True:
            await client.sleep(max(0.0, schedule.next_at - client.clock()))
            now = client.clock()
            if not schedule.due(now):
                continue  # woke a little early
            if schedule.subdued(now):
                client.counts["subdued"] += 1
            else:
                client._spawn(client.run_check(dict(definition), issued=now))
            schedule.advance(now)
