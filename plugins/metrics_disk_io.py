"""ogi-metrics-disk-io: block device I/O counters from /proc/diskstats.

For each device (loop and ram devices skipped) prints the counters since boot
`<scheme>.<device>.reads`, `.reads_merged`, `.read_sectors`, `.read_bytes`, `.read_time_ms`, `.writes`,
`.writes_merged`, `.write_sectors`, `.write_bytes`, `.write_time_ms`, `.io_time_ms`,
`.weighted_io_time_ms` and the gauge `.in_progress`. Sectors are always 512 bytes in this file, whatever
the device's own sector size. `--whole-disks` leaves out partitions; `--exclude` skips more device names.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, node, read_text

SKIPPED_PREFIXES = ("loop", "ram")
#: /proc/diskstats columns after major, minor and name, in kernel order.
COLUMNS = ("reads", "reads_merged", "read_sectors", "read_time_ms", "writes", "writes_merged", "write_sectors",
           "write_time_ms", "in_progress", "io_time_ms", "weighted_io_time_ms")


def parse_diskstats(text: str) -> Iterator[tuple[str, dict[str, int]]]:
    """(device name, {column: value}) for every line of /proc/diskstats."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 + len(COLUMNS):
            continue
        yield parts[2], {col: int(v) for col, v in zip(COLUMNS, parts[3:], strict=False)}


def device_points(name: str, stats: dict[str, int]) -> Iterator[Point]:
    prefix = node(name)
    for col in COLUMNS:
        yield f"{prefix}.{col}", stats[col]
        if col.endswith("_sectors"):
            yield f"{prefix}.{col[:-len('_sectors')]}_bytes", stats[col] * 512


class DiskIoMetrics(MetricPlugin):
    """Reads, writes, sectors, bytes and time per block device (counters)."""

    name = "disk_io"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--whole-disks", action="store_true",
                            help="only whole disks (those in /sys/block), not their partitions")
        parser.add_argument("-x", "--exclude", action="append", default=[], metavar="GLOB",
                            help="skip devices whose name matches (repeatable; e.g. 'dm-*')")

    def collect(self) -> Iterator[Point]:
        whole = set(os.listdir("/sys/block")) if self.args.whole_disks else None
        for name, stats in parse_diskstats(read_text("/proc/diskstats")):
            if name.startswith(SKIPPED_PREFIXES) or (whole is not None and name not in whole):
                continue
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.args.exclude):
                continue
            yield from device_points(name, stats)


main = DiskIoMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
