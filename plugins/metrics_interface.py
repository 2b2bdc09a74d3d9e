"""ogi-metrics-interface: network interface counters from /proc/net/dev.

For each interface prints the counters since boot `<scheme>.<interface>.rx_bytes`, `.rx_packets`,
`.rx_errors`, `.rx_drops`, `.tx_bytes`, `.tx_packets`, `.tx_errors`, `.tx_drops` (the interface name as one
node: `eth0.100` -> `eth0_100`). `--skip-lo` leaves out the loopback; `--exclude` more names.
"""

from __future__ import annotations

import argparse
import fnmatch
from collections.abc import Iterator

from plugins.sdk import MetricPlugin, Point, node, read_text

#: (name, column) in /proc/net/dev's 16 numbers after the interface name
COLUMNS = (("rx_bytes", 0), ("rx_packets", 1), ("rx_errors", 2), ("rx_drops", 3),
           ("tx_bytes", 8), ("tx_packets", 9), ("tx_errors", 10), ("tx_drops", 11))


def parse_net_dev(text: str) -> Iterator[tuple[str, dict[str, int]]]:
    """(interface, {counter: value}) for each interface line (the two header lines have no colon
    before their numbers)."""
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        numbers = rest.split()
        if not sep or len(numbers) < 16 or not numbers[0].isdigit():
            continue
        yield name.strip(), {key: int(numbers[col]) for key, col in COLUMNS}


class InterfaceMetrics(MetricPlugin):
    """Bytes, packets, errors and drops received and sent per network interface (counters)."""

    name = "interface"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--skip-lo", action="store_true", help="leave out the loopback interface lo")
        parser.add_argument("-x", "--exclude", action="append", default=[], metavar="GLOB",
                            help="skip interfaces whose name matches (repeatable; e.g. 'veth*')")

    def collect(self) -> Iterator[Point]:
        skip = [*self.args.exclude, *(["lo"] if self.args.skip_lo else [])]
        for name, counters in parse_net_dev(read_text("/proc/net/dev")):
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in skip):
                continue
            prefix = node(name)
            for key, value in counters.items():
                yield f"{prefix}.{key}", value


main = InterfaceMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
