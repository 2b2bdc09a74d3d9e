"""ogi-metrics-cpu: CPU time from /proc/stat, in total and per CPU, as counters.

Prints `<scheme>.total.<field>` and `<scheme>.cpu<N>.<field>` for the fields user nice system idle iowait irq
softirq steal guest guest_nice. Like collectd's cpu plugin, the values are the kernel's cumulative counters in
jiffies (USER_HZ, 100 per second on Linux): graph them with Graphite's `perSecond()` (jiffies per second;
100 = one CPU fully busy) or `nonNegativeDerivative()`. The kernel counts guest time inside user (and
guest_nice inside nice) as well, so do not add guest to user.
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, read_text

FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")


def parse_stat(text: str) -> Iterator[tuple[str, str, int]]:
    """(`total` or `cpuN`, field, jiffies) for every cpu line of /proc/stat; older kernels' shorter lines
    give only the fields they have."""
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        parts = line.split()
        cpu = "total" if parts[0] == "cpu" else parts[0]
        for field, value in zip(FIELDS, parts[1:], strict=False):
            yield cpu, field, int(value)


class CpuMetrics(MetricPlugin):
    """CPU time per state from /proc/stat (counters in jiffies), in total and per CPU."""

    name = "cpu"

    def collect(self) -> Iterator[Point]:
        for cpu, field, value in parse_stat(read_text("/proc/stat")):
            yield f"{cpu}.{field}", value


main = CpuMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
