"""Standalone checks: the ones a client schedules for itself (`"standalone": true`).

Each runs on its `cron`, else every `interval` seconds with Sensu's splay keyed on
`"<client>:<check>"` (pipeline/schedule/timing.py), so a client restarted keeps its rhythm and a
fleet of clients does not run the same check in the same second. A tick inside the check's
`subdue` window is skipped; `"publish": false` leaves the check unscheduled. A check that
cannot be scheduled (bad cron, no interval) is logged and left out; the others run.

One timer serves them all: a heap of the checks by their next tick and one task that sleeps to
the earliest. A task and a sleep per check cost the agent a timer handle, a future and a task
wake-up per run; at thousands of checks a second that was a few percent of its CPU. Wake-ups
are at least `GATHER` apart, so checks whose ticks fall within a few milliseconds of each
other start together: one wake-up of the loop and one hand-over to the spawn threads for all
of them, the way a Nagios core runs every event that is due in one pass.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from typing import TYPE_CHECKING

from pipeline.model import JSON
from pipeline.schedule.timing import CheckSchedule, ScheduleError, standalone_key

if TYPE_CHECKING:
    from pipeline.agent.agent import Agent

log = logging.getLogger("ogi.client")

#: Shortest time between two wake-ups of the scheduler, in seconds: a run starts at most this
#: late. `ogi run` at 1,000 checks/s, three rounds each: its own CPU was 0.52-0.56 of the
#: plugins' with no gathering, 0.45-0.51 at 5 ms and 0.42-0.43 at 20 ms.
GATHER = 0.02


def standalone_checks(checks: dict[str, JSON]) -> dict[str, JSON]:
    """The local checks this client schedules itself."""
    return {
        name: check
        for name, check in checks.items()
        if check.get("standalone") is True and check.get("publish") is not False and isinstance(check.get("command"), str)
    }


class Standalone:
    """The standalone scheduler of one client: one timer over every check's next tick."""

    def __init__(self, client: Agent) -> None:
        self.client = client
        self.schedules: dict[str, CheckSchedule] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        client = self.client
        now = client.clock()
        self.schedules.clear()
        #: (next tick, order, name, definition): the order breaks ties without comparing dicts.
        due: list[tuple[float, int, str, JSON]] = []
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
            due.append((schedule.next_at, len(due), name, {**check, "name": name}))
        if due:
            heapq.heapify(due)
            self._task = asyncio.create_task(self._loop(due), name="standalone")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self, due: list[tuple[float, int, str, JSON]]) -> None:
        client = self.client
        schedules = self.schedules
        woke = -GATHER
        while True:
            now = client.clock()
            await client.sleep(max(0.0, due[0][0] - now, woke + GATHER - now))
            now = woke = client.clock()
            while due[0][0] <= now:  # the heap never empties: each check goes back in
                _, order, name, definition = due[0]
                schedule = schedules[name]
                if schedule.subdued(now):
                    client.counts["subdued"] += 1
                else:
                    client._spawn(client.run_check(dict(definition), issued=now))
                heapq.heapreplace(due, (schedule.advance(now), order, name, definition))
