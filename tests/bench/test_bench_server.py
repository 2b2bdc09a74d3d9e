"""bench.server's latency handler: late results are counted in the second they were sent."""

from __future__ import annotations

import time
from typing import Any

from bench.server_latency import BenchlatencyHandler, late_figures
from pipeline.config.load import settings_of
from pipeline.extension import Context


async def test_late_results_are_counted_per_second_of_sending() -> None:
    handler = BenchlatencyHandler("latency", {}, Context(settings=settings_of({})))
    BenchlatencyHandler.start_run(20)
    started = BenchlatencyHandler.started = BenchlatencyHandler.started - 10  # the run began 10 s ago

    def event(sent: float) -> Any:
        return {"check": {"bench_sent": sent}}

    await handler.handle(event(time.time()), b"")  # on time, however slow this machine is
    await handler.handle(event(started + 9.8), b"")  # late, second 9
    await handler.handle(event(started + 9.7), b"")  # late, second 9
    await handler.handle(event(started + 2.5), b"")  # late, second 2
    assert sum(BenchlatencyHandler.histogram) == 4
    assert late_figures(BenchlatencyHandler.late) == {"late_results": 3, "late_seconds": 2}
    assert BenchlatencyHandler.late[9] == 2 and BenchlatencyHandler.late[2] == 1
