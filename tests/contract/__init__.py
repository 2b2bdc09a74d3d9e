"""Contract tests: one suite per seam, run against the embedded and the real backend."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pipeline.store.base import Store
from tests.helpers import FakeClock


@dataclass
class Backend:
    """A store under test, its injected clock, and how time passes for it."""

    kind: str
    store: Store
    clock: FakeClock

    async def elapse(self, seconds: float) -> None:
        """Let `seconds` pass: the injected clock moves, and Redis' own expiry timers run for real."""
        self.clock.now += seconds
        if self.kind == "redis":
            await asyncio.sleep(seconds + 0.1)
