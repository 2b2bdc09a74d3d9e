"""ogi-metrics-uptime: seconds since boot from /proc/uptime.

Prints `<scheme>.seconds` (collectd's uptime, whole seconds) and `<scheme>.idle_seconds` (the time all
CPUs together spent idle, so it can exceed `seconds` on a machine with several).
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, read_text


def parse_uptime(text: str) -> tuple[float, float]:
    up, idle = text.split()[:2]
    return float(up), float(idle)


class UptimeMetrics(MetricPlugin):
    """Seconds since boot, and seconds the CPUs spent idle."""

    name = "uptime"

    def collect(self) -> Iterator[Point]:
        up, idle = parse_uptime(read_text("/proc/uptime"))
        yield "seconds", int(up)
        yield "idle_seconds", int(idle)


main = UptimeMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
