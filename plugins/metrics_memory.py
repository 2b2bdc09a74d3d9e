"""ogi-metrics-memory: memory use from /proc/meminfo, in bytes.

Prints `<scheme>.total`, `.free`, `.available`, `.buffers`, `.cached`, `.used` and `.used_percent`.
`used` is total - free - buffers - cached (`free(1)`'s definition before procps 3.3.10), so the four
add up to total; `available` is the kernel's estimate of what new programs can get without swapping
(MemAvailable, Linux 3.14+; on older kernels it is left out).
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, read_key_values


def memory(info: dict[str, int]) -> Iterator[Point]:
    """The points from /proc/meminfo values already in bytes."""
    total, free = info["MemTotal"], info["MemFree"]
    buffers, cached = info.get("Buffers", 0), info.get("Cached", 0)
    used = max(total - free - buffers - cached, 0)
    yield "total", total
    yield "free", free
    if "MemAvailable" in info:
        yield "available", info["MemAvailable"]
    yield "buffers", buffers
    yield "cached", cached
    yield "used", used
    yield "used_percent", round(100.0 * used / total, 2) if total else 0


class MemoryMetrics(MetricPlugin):
    """Memory total, free, available, buffers, cached and used, in bytes."""

    name = "memory"

    def collect(self) -> Iterator[Point]:
        return memory(read_key_values("/proc/meminfo", scale=1024))


main = MemoryMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
