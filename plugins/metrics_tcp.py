"""ogi-metrics-tcp: TCP connections by state, from /proc/net/tcp and /proc/net/tcp6.

Prints `<scheme>.established`, `.syn_sent`, `.syn_recv`, `.fin_wait1`, `.fin_wait2`, `.time_wait`, `.close`,
`.close_wait`, `.last_ack`, `.listen`, `.closing`, every one also when 0, and `.total` (IPv4 and IPv6
together). `--port N` counts only sockets whose local port is N (a server's connections).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator

from plugins.sdk import MetricPlugin, Point

#: The kernel's TCP states (include/net/tcp_states.h), as hex in the `st` column.
STATES = {1: "established", 2: "syn_sent", 3: "syn_recv", 4: "fin_wait1", 5: "fin_wait2", 6: "time_wait",
          7: "close", 8: "close_wait", 9: "last_ack", 10: "listen", 11: "closing", 12: "syn_recv"}
NAMES = ("established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait", "close", "close_wait",
         "last_ack", "listen", "closing")


def count(tables: Iterable[bytes], port: int | None = None) -> dict[str, int]:
    """Sockets per state in the contents of /proc/net/tcp-style tables (header lines skipped).
    State 12 (NEW_SYN_RECV, a request socket) counts as syn_recv."""
    counts = dict.fromkeys(NAMES, 0)
    total = 0
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split(None, 4)
            if len(fields) < 4:
                continue
            if port is not None and int(fields[1].rpartition(b":")[2], 16) != port:
                continue
            state = STATES.get(int(fields[3], 16))
            if state is not None:
                counts[state] += 1
                total += 1
    counts["total"] = total
    return counts


def _tables() -> Iterator[bytes]:
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, "rb") as f:
                yield f.read()
        except FileNotFoundError:
            continue  # a kernel without IPv6


class TcpMetrics(MetricPlugin):
    """TCP sockets per connection state, IPv4 and IPv6 together."""

    name = "tcp"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-p", "--port", type=int, default=None, help="only sockets with this local port")

    def collect(self) -> Iterator[Point]:
        return iter(count(_tables(), self.args.port).items())


main = TcpMetrics.main

if __name__ == "__main__":
    raise SystemExit(main())
