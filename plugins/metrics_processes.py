"""ogi-metrics-processes: processes by state, from /proc/<pid>/stat.

Prints `<scheme>.running` (R), `.sleeping` (S), `.blocked` (D, uninterruptible: usually waiting for disk),
`.zombies` (Z), `.stopped` (T and t), `.paging` (W), `.dead` (X), `.idle` (I, idle kernel threads), every one
of them also when 0, then `.total`, `.threads` (the sum of every process's threads) and the counter
`.forks` (processes created since boot, from /proc/stat: collectd's fork_rate with `perSecond()`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from plugins.sdk import MetricPlugin, Point, read_text

STATES = {"R": "running", "S": "sleeping", "D": "blocked", "Z": "zombies", "T": "stopped", "t": "stopped",
          "W": "paging", "X": "dead", "x": "dead", "I": "idle"}
NAMES = ("running", "sleeping", "blocked", "zombies", "stopped", "paging", "dead", "idle")


def count(stats: Iterable[bytes]) -> dict[str, int]:
    """State counts, total and threads from the contents of /proc/<pid>/stat files. The command name in
    parentheses may itself hold spaces and parentheses, so the fields are read after its last `)`."""
    counts = dict.fromkeys(NAMES, 0)
    total = threads = 0
    for stat in stats:
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) < 18:
            continue
        total += 1
        state = STATES.get(fields[0].decode("ascii", "replace"))
        if state is not None:
            counts[state] += 1
        threads += int(fields[17])
    counts["total"] = total
    counts["threads"] = threads
    return counts


def _stat_files() -> Iterator[bytes]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    yield f.read()
            except OSError:
                continue  # the process ended since the listing


def forks(proc_stat: str) -> int | None:
    for line in proc_stat.splitlines():
        if line.startswith("processes "):
            return int(line.split()[1])
    return None


class ProcessesMetrics(MetricPlugin):
    """Process counts by state, the total, threads and forks since boot."""

    name = "processes"

    def collect(self) -> Iterator[Point]:
        yield from count(_stat_files()).items()
        created = forks(read_text("/proc/stat"))
        if created is not None:
            yield "forks", created


main = ProcessesMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
