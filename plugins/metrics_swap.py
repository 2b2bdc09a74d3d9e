"""ogi-metrics-swap: swap space from /proc/meminfo (bytes) and swap traffic from /proc/vmstat (pages).

Prints `<scheme>.total`, `.free`, `.used`, `.cached`, `.used_percent` and the counters `<scheme>.in` and
`<scheme>.out` (pages swapped in and out since boot, collectd's swap_io; graph with `perSecond()`).
A machine without swap prints zeros, so its graphs and thresholds keep working.
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, read_key_values


def swap(info: dict[str, int], vmstat: dict[str, int]) -> Iterator[Point]:
    """The points from /proc/meminfo values in bytes and /proc/vmstat counters."""
    total, free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    used = max(total - free, 0)
    yield "total", total
    yield "free", free
    yield "used", used
    yield "cached", info.get("SwapCached", 0)
    yield "used_percent", round(100.0 * used / total, 2) if total else 0
    yield "in", vmstat.get("pswpin", 0)
    yield "out", vmstat.get("pswpout", 0)


class SwapMetrics(MetricPlugin):
    """Swap total, free, used and cached in bytes; pages swapped in and out (counters)."""

    name = "swap"

    def collect(self) -> Iterator[Point]:
        return swap(read_key_values("/proc/meminfo", scale=1024), read_key_values("/proc/vmstat"))


main = SwapMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
