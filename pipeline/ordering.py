"""Per-key ordering: results of one client and check are processed in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable


class KeyedOrder:
    """Runs work for the same key one at a time, in arrival order; different keys in parallel."""

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        try:
            if previous is not None:
                await asyncio.shield(previous)
            yield
        finally:
            # A waiter cancelled before its turn must not let its successor overtake the
            # work still running ahead of it.
            if previous is not None and not previous.done():
                def release(_f: asyncio.Future[None]) -> None:
                    if not mine.done():
                        mine.set_result(None)

                previous.add_done_callback(release)
            else:
                mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]
