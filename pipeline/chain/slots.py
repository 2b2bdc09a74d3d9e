"""Who may run a handler now: a shared pool per kind of route, and a share of it per handler.

Command routes (`pipe` handlers) draw on a pool of `sensu.spawn.limit` process slots of the
engine's own (the client in `ogi run` has its own), in-process routes on the
`sensu.handlers.concurrency` pool. Each handler also holds at most its share of its pool
(`sensu.handlers.share`, half by default): a handler that hangs fills its share and no more,
and the others keep the rest. A route waits for its share first and then for the shared pool,
so the events of a hanging handler queue behind each other, not in front of anyone else's.

While a command route holds its slot, `PROCESS_SLOT_HELD` is set in its context, so the
commands it runs (its mutator, its handler) do not wait for a second one.
"""

from __future__ import annotations

import math

from pipeline.chain.deadlines import Pool

#: Part of a pool one handler may hold when `sensu.handlers.share` is not set.
DEFAULT_SHARE = 0.5


class HandlerSlots:
    """A shared pool and, per handler name, a pool of that handler's share of it."""

    def __init__(self, size: int, share: float = DEFAULT_SHARE) -> None:
        self.shared = Pool(size)
        self.share = max(1, math.floor(size * share))
        self._own: dict[str, Pool] = {}

    def own(self, name: str) -> Pool:
        pool = self._own.get(name)
        if pool is None:
            pool = self._own[name] = Pool(self.share)
        return pool

    def take(self, name: str) -> bool:
        """Both slots if both are free right now (and nobody waits for them), else neither."""
        own = self.own(name)
        if not own.take():
            return False
        if self.shared.take():
            return True
        own.give()
        return False

    def busy(self, name: str) -> bool:
        """True when the handler's own share is used up (its next event would wait)."""
        own = self._own.get(name)
        return own is not None and (own.in_use >= own.size or own.waiting > 0)

    async def wait(self, name: str) -> None:
        """Queue for the handler's share, then for the shared pool; on return both are held."""
        own = self.own(name)
        if not own.take():
            await own.wait()
        try:
            if not self.shared.take():
                await self.shared.wait()
        except BaseException:
            own.give()
            raise

    def give(self, name: str) -> None:
        self.shared.give()
        self.own(name).give()
