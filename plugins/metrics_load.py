"""ogi-metrics-load: the load averages from /proc/loadavg.

Prints `<scheme>.load1`, `<scheme>.load5`, `<scheme>.load15`; with `--per-core` also
`<scheme>.per_core.load1` (and 5, 15): the averages divided by the number of CPUs online, so one alert
threshold fits machines of every size.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, read_text


def parse_loadavg(text: str) -> tuple[float, float, float]:
    one, five, fifteen = text.split()[:3]
    return float(one), float(five), float(fifteen)


class LoadMetrics(MetricPlugin):
    """Load averages over 1, 5 and 15 minutes, optionally per CPU core."""

    name = "load"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--per-core", action="store_true",
                            help="also print the averages divided by the number of CPUs (<scheme>.per_core.*)")

    def collect(self) -> Iterator[Point]:
        averages = parse_loadavg(read_text("/proc/loadavg"))
        names = ("load1", "load5", "load15")
        for name, value in zip(names, averages, strict=True):
            yield name, value
        if self.args.per_core:
            cores = os.cpu_count() or 1  # CPUs online, as the kernel counts them for the load
            for name, value in zip(names, averages, strict=True):
                yield f"per_core.{name}", round(value / cores, 4)


main = LoadMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
