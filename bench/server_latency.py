"""`python -m bench.server`'s latency and memory instruments: the `benchlatency` handler's
histogram of publish -> handler time, late results per second of the run, and RSS.
"""

from __future__ import annotations

import time
from array import array
from typing import ClassVar

from pipeline.extension import Handler
from pipeline.model import Event
from pipeline.registry import default_registry

P99_TARGET_MS = 50.0
RSS_GROWTH_TARGET = 0.05
BUCKET_S = 0.0001  # latency histogram resolution
BUCKETS = 50_000  # up to 5 s; slower goes in the last bucket


class BenchlatencyHandler(Handler):
    """Records handler time minus the result's `check.bench_sent` in a fixed histogram.

    Also counts, per second of the run (by send time), the results later than the target:
    whether the late ones are spread over the run or bunched in a few seconds tells a server
    that is too slow from a machine that was, for a few seconds, too busy.
    """

    type_name = "benchlatency"
    allowed_keys: ClassVar[frozenset[str]] = frozenset()
    histogram: ClassVar[array[int]] = array("q", bytes(8 * BUCKETS))
    started: ClassVar[float] = 0.0
    late: ClassVar[array[int]] = array("q")

    @classmethod
    def start_run(cls, seconds: float) -> None:
        """Empty histogram and late counts for a run of `seconds` that starts now."""
        cls.histogram = array("q", bytes(8 * BUCKETS))
        cls.started = time.time()
        cls.late = array("q", bytes(8 * (int(seconds) + 60)))  # slack: the publisher starts and ends a little after the run

    async def handle(self, event: Event, payload: bytes) -> None:
        sent = event["check"].get("bench_sent")
        if isinstance(sent, float):
            latency = time.time() - sent
            slot = int(latency / BUCKET_S)
            BenchlatencyHandler.histogram[min(max(slot, 0), BUCKETS - 1)] += 1
            if latency * 1000 > P99_TARGET_MS:
                late = BenchlatencyHandler.late
                second = int(sent - BenchlatencyHandler.started)
                if 0 <= second < len(late):
                    late[second] += 1


def late_figures(late: array[int]) -> dict[str, int]:
    """How many results were later than the target, and in how many seconds of the run."""
    return {"late_results": sum(late), "late_seconds": sum(1 for n in late if n)}


default_registry.register("handlers", "benchlatency", BenchlatencyHandler)


def percentile_ms(histogram: array[int], share: float) -> float:
    total = sum(histogram)
    seen = 0
    for slot, count in enumerate(histogram):
        seen += count
        if total and seen >= share * total:
            return round((slot + 1) * BUCKET_S * 1000, 2)
    return float("nan")


def rss_mib(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
