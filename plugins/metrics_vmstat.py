"""ogi-metrics-vmstat: paging counters from /proc/vmstat.

Prints `<scheme>.pgpgin`, `.pgpgout` (KiB paged in/out from disk), `.pswpin`, `.pswpout` (pages swapped),
`.pgfault`, `.pgmajfault` (page faults, major ones needing disk), all counters since boot (graph with
`perSecond()`); `--all` prints every counter the kernel has (about 150 of them), under the same names.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, node, read_key_values

SELECTED = ("pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault")


class VmstatMetrics(MetricPlugin):
    """Virtual memory counters: paging, swapping and page faults."""

    name = "vmstat"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--all", action="store_true", help="print every counter in /proc/vmstat")

    def collect(self) -> Iterator[Point]:
        counters = read_key_values("/proc/vmstat")
        if self.args.all:
            for key, value in counters.items():
                yield node(key), value
            return
        for key in SELECTED:
            if key in counters:
                yield key, counters[key]


main = VmstatMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
