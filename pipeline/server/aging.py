"""Stored results of checks that stopped reporting age out.

The server keeps the last result of every client and check it ever saw, and `/metrics`
exports one `ogi_check_status` series for each: checks that were renamed, removed or made up
would stay for ever. `sensu.limits.result_max_age` (7 days by default, 0 keeps them) removes
a result, with its history, once it was executed longer ago than that, unless the check has
an open event (resolve or delete the event first; a check with `ttl` raises one when it
stops). The sweep runs once an hour on the server that holds the `result_aging` task.
"""

from __future__ import annotations

import asyncio
import logging

from pipeline.model import Clock, system_clock
from pipeline.store.base import Store

log = logging.getLogger("ogi")

#: Seconds between two sweeps.
SWEEP_INTERVAL = 3600.0


class ResultAging:
    """Removes results older than `max_age` seconds whose check has no open event."""

    task_name = "result_aging"

    def __init__(self, store: Store, max_age: int, clock: Clock = system_clock,
                 interval: float = SWEEP_INTERVAL) -> None:
        self.store = store
        self.max_age = max_age
        self.clock = clock
        self.interval = interval
        self.removed = 0

    async def tick(self) -> list[tuple[str, str]]:
        """One sweep; the (client, check) pairs removed."""
        if self.max_age <= 0:
            return []
        oldest = self.clock() - self.max_age
        removed: list[tuple[str, str]] = []
        for client, result in await self.store.list_results():
            executed, name = result.get("executed"), result.get("name")
            if not isinstance(name, str) or not isinstance(executed, int | float) or executed >= oldest:
                continue
            if await self.store.get_event(client, name) is not None:
                continue
            await self.store.delete_result(client, name)
            removed.append((client, name))
        if removed:
            self.removed += len(removed)
            log.info("results of checks that stopped reporting removed",
                     extra={"fields": {"removed": len(removed), "max_age": self.max_age}})
        return removed

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as error:  # the store away: try at the next sweep
                log.warning("result aging failed", extra={"fields": {"error": repr(error)}})
            await asyncio.sleep(self.interval)
