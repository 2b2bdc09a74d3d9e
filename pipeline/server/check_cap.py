"""A bound on the distinct check names one client may have results for.

A result may name any check, and the server keeps a result, a history and a series
(`ogi_check_status`) per name: 200,000 made-up names took a server from 51 to 1,297 MiB. So a
client holds at most `sensu.limits.checks_per_client` names (10,000 by default); a result
for a new name beyond that is rejected (`ogi_results_rejected_total{reason="too_many_checks"}`,
one log line) while results for the names it has go on.

The names are known per client in this process, read once from the store; when the cap is
reached the store is read again (at most once a minute per client), so names deleted or aged
out there free room.
"""

from __future__ import annotations

import time

from pipeline.store.base import Store

#: Seconds between two re-reads of one client's names from the store while it is at the cap.
RECOUNT_INTERVAL = 60.0
#: Clients whose names are kept in memory; past this the memory is reset and refilled from the store.
MAX_CLIENTS = 100_000


class CheckNames:
    """The check names of each client, up to `cap` per client."""

    def __init__(self, store: Store, cap: int) -> None:
        self.store = store
        self.cap = cap
        self._names: dict[str, set[str]] = {}
        self._recounted: dict[str, float] = {}

    async def admit(self, client: str, check: str) -> bool:
        """True if `client` may have a result for `check` (it has it already, or has room)."""
        names = self._names.get(client)
        if names is not None and check in names:
            return True
        if names is None or len(names) >= self.cap and time.monotonic() - self._recounted.get(client, 0.0) > RECOUNT_INTERVAL:
            names = await self._read(client)
        if check in names:
            return True
        if len(names) >= self.cap:
            return False
        names.add(check)
        return True

    async def _read(self, client: str) -> set[str]:
        if len(self._names) >= MAX_CLIENTS:
            self._names.clear()
            self._recounted.clear()
        names = {str(result.get("name")) for _, result in await self.store.list_results(client)}
        self._names[client] = names
        self._recounted[client] = time.monotonic()
        return names
