"""bench.server's latency handler: late results are counted in the second they were sent."""

from __future__ import annotations

import time
from array import array
from typing import Any

from bench.server import BUCKETS, BenchlatencyHandler, late_figures
from pipeline.extension import Context


async def test_late_results_are_counted_per_second_of_sending() -> None:
    handler = BenchlatencyHandler("latency", {}, Context(settings={}))
    BenchlatencyHandler.histogram = array("q", bytes(8 * BUCKETS))
    now = time.time()
    BenchlatencyHandler.started = now - 10
    BenchlatencyHandler.late = array("q", bytes(8 * 20))

    def event(sent: float) -> Any:
        return {"check": {"bench_sent": sent}}

    await handler.handle(event(now - 0.001), b"")  # on time, sent in second 9
    await handler.handle(event(now - 0.2), b"")  # late, second 9
    await handler.handle(event(now - 0.3), b"")  # late, second 9
    await handler.handle(event(now - 7.5), b"")  # late, second 2
    assert sum(BenchlatencyHandler.histogram) == 4
    assert late_figures(BenchlatencyHandler.late) == {"late_results": 3, "late_seconds": 2}
    assert BenchlatencyHandler.late[9] == 2 and BenchlatencyHandler.late[2] == 1
