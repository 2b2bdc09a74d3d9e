"""`python -m bench.statsd`: StatsD lines parsed and aggregated per second of CPU, one core.

The load is what an instrumented fleet sends one agent: 1,000 names (counters, a tenth of
them sampled at `@0.1`, gauges half of them `+`/`-` deltas, timers, histograms, sets), 20
lines to a datagram as StatsD clients batch them, fed to `StatsdAggregator.feed` exactly as
the agent's UDP protocol does, with a flush every 100,000 lines (far more often than a 10 s
flush_interval at this rate, so the flush's sort and formatting is counted). The figure is
lines over this process's CPU time (`time.process_time`), so another engineer's load on the
shared machine lengthens the wall clock, not the figure. Target: >= 100,000 lines/s.
"""

from __future__ import annotations

import argparse
import random
import time

from pipeline.metrics.statsd_parse import StatsdAggregator

TARGET = 100_000
PER_DATAGRAM = 20
FLUSH_EVERY = 100_000


def line(rng: random.Random, n: int) -> str:
    kind = n % 5
    if kind == 0:
        return f"app.requests.{n}:1|c" + ("|@0.1" if n % 10 == 0 else "")
    if kind == 1:
        sign = rng.choice(("+", "-", "")) if n % 2 else ""
        return f"app.queue.{n}:{sign}{rng.randint(0, 500)}|g"
    if kind == 2:
        return f"app.latency.{n}:{rng.uniform(0.5, 250):.3f}|ms"
    if kind == 3:
        return f"app.size.{n}:{rng.randint(100, 90_000)}|h"
    return f"app.users.{n}:user{rng.randint(0, 5_000)}|s"


def datagrams(count: int, names: int, seed: int = 15) -> list[bytes]:
    rng = random.Random(seed)
    lines = [line(rng, rng.randrange(names)) for _ in range(count)]
    return ["\n".join(lines[i:i + PER_DATAGRAM]).encode() for i in range(0, count, PER_DATAGRAM)]


def run(lines: int, names: int) -> dict[str, float]:
    packets = datagrams(lines, names)
    aggregator = StatsdAggregator()
    since_flush = 0
    flushed = 0
    start = time.process_time()
    for packet in packets:
        aggregator.feed(packet)
        since_flush += PER_DATAGRAM
        if since_flush >= FLUSH_EVERY:
            flushed += len(aggregator.flush(1_700_000_000, 10.0))
            since_flush = 0
    flushed += len(aggregator.flush(1_700_000_000, 10.0))
    cpu = time.process_time() - start
    assert aggregator.malformed == 0 and aggregator.lines == lines
    return {"lines": lines, "cpu_s": round(cpu, 3), "lines_per_s": round(lines / cpu), "graphite_lines": flushed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--names", type=int, default=1_000)
    args = parser.parse_args()
    figures = run(args.lines, args.names)
    print(figures)
    verdict = "met" if figures["lines_per_s"] >= TARGET else "NOT met"
    print(f"target >= {TARGET:,} lines/s: {verdict}")


if __name__ == "__main__":
    main()
