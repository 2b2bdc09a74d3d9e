"""`python -m bench.graphite`: points per second from ogi's engine into a real carbon-cache.

One carbon-cache (Debian's, started as in tests/e2e/carbon.py) takes two loads in one run:

1. **carbon alone**: the same number of pre-formatted plaintext lines written with raw sockets,
   in connections of 5,000 lines one after the other, as graphyte sends ogi's batches (one long
   connection measured the same).
2. **ogi**: metric check results (JSON, `--points` Graphite lines each) through
   ResultProcessor + Engine + MemoryStore into a `graphite` handler, until `engine.close()`
   returns (every batch written to carbon's sockets).

In both, the clock stops only when carbon has *read* everything: no bytes left in its sockets'
receive queues and no connection waiting to be accepted (/proc/net/tcp), so the kernel's socket
buffers do not flatter either figure.

Each point has its own whisper slot (1 s step), so after each phase the bench counts the slots
filled in the whisper files: the delivered figures are checked against what carbon stored.
CPU per point: ogi's is this process's `time.process_time` (event loop and sending thread),
carbon's is its /proc utime + stime over the same phase. `ogi_engine_s` is when the last result
had its points queued: the engine's own pace, which carbon's reading then catches up with
(kernel socket buffers hold the difference). Target: ogi delivers >= 100,000 points/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.carbon import Carbon, available
from pipeline import jsoncodec
from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.registry import default_registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore

TARGET = 100_000


def timestamps(now: int, per_series: int) -> int:
    """First timestamp of a run: every point a distinct past second inside the 2 h retention."""
    return now - per_series - 120


def raw_lines(clients: int, points: int, per_series: int, first: int) -> list[bytes]:
    chunks = []
    for k in range(per_series):
        ts = first + k
        chunks.append(
            "".join(
                f"bench.raw.host{c}.metric{n} {k % 1000 + n * 0.5} {ts}\n" for c in range(clients) for n in range(points)
            ).encode()
        )
    return chunks


def results(clients: int, points: int, per_series: int, first: int) -> list[bytes]:
    messages = []
    for k in range(per_series):
        ts = first + k
        for c in range(clients):
            output = "".join(f"host{c}.metric{n} {k % 1000 + n * 0.5} {ts}\n" for n in range(points))
            messages.append(jsoncodec.dumps({
                "client": f"host{c}",
                "check": {
                    "name": "metrics_bench", "type": "metric", "command": "ogi-metrics-bench", "interval": 10,
                    "issued": ts, "executed": ts, "duration": 0.01, "status": 0, "output": output,
                    "handlers": ["graphite"],
                },
            }))
    return messages


def drained(carbon: Carbon) -> float:
    """perf_counter time at which carbon has read everything sent to it."""
    while carbon.unread():
        time.sleep(0.02)
    return time.perf_counter()


def blast(carbon: Carbon, chunks: list[bytes], lines_per_connection: int = 5000) -> float:
    """Send the lines in connections of `lines_per_connection`; seconds until carbon has read them."""
    start = time.perf_counter()
    data = b"".join(chunks)
    lines = data.split(b"\n")[:-1]
    for i in range(0, len(lines), lines_per_connection):
        with socket.create_connection(("127.0.0.1", carbon.port)) as sock:
            sock.sendall(b"\n".join(lines[i : i + lines_per_connection]) + b"\n")
    return drained(carbon) - start


async def through_ogi(carbon: Carbon, messages: list[bytes]) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "handlers": {
            "graphite": {
                "type": "graphite", "host": "127.0.0.1", "port": carbon.port, "prefix": "bench.ogi",
                "mutator": "only_check_output",
            }
        }
    }
    metrics = CollectorRegistry()
    store = MemoryStore()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, metrics=metrics), default_registry)
    processor = ResultProcessor(settings_of(settings), store, engine, metrics=metrics)
    wall, cpu = time.perf_counter(), time.process_time()
    for body in messages:
        await processor.process_message(body)
    queued = time.perf_counter() - wall
    await engine.close()
    cpu = time.process_time() - cpu
    wall = drained(carbon) - wall

    def count(name: str) -> int:
        return int(metrics.get_sample_value(f"{name}_total", {"handler": "graphite"}) or 0)

    return {"wall": wall, "cpu": cpu, "queued_s": queued, "sent": count("ogi_graphite_points_sent"),
            "dropped": count("ogi_graphite_points_dropped")}


def settle(carbon: Carbon, under: str, first: int, last: int, expected: int, timeout: float = 180.0) -> int:
    """Points carbon stored under a path, once it reaches `expected` or stops growing."""
    deadline = time.monotonic() + timeout
    found, still = -1, 0
    while time.monotonic() < deadline:
        now = carbon.count_points(under, first - 1, last + 1)  # whisper starts after `from`
        if now >= expected:
            return now
        still = still + 1 if now == found else 0
        if still >= 10:
            return now
        found = now
        time.sleep(1)
    return found


def run(clients: int, points: int, per_series: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="ogi-bench-carbon-"))
    # Debian's writer pace (500 updates/s), so the writer does not take the receiver's GIL more
    # than it would in production; creates unlimited, since every series is new
    carbon = Carbon(base, MAX_UPDATES_PER_SECOND=500)
    carbon.set_schemas("[bench]\npattern = ^bench\\.\nretentions = 1s:2h\n\n[default]\npattern = .*\nretentions = 60s:1d\n")
    total = clients * points * per_series
    try:
        carbon.start()
        first = timestamps(int(time.time()), per_series)
        last = first + per_series - 1

        chunks = raw_lines(clients, points, per_series, first)
        carbon_cpu = carbon.cpu_seconds()
        raw_wall = blast(carbon, chunks)
        raw_cpu = carbon.cpu_seconds() - carbon_cpu
        raw_stored = settle(carbon, "bench.raw", first, last, total)
        del chunks

        messages = results(clients, points, per_series, first)
        carbon_cpu = carbon.cpu_seconds()
        ogi = asyncio.run(through_ogi(carbon, messages))
        ogi_carbon_cpu = carbon.cpu_seconds() - carbon_cpu
        ogi_stored = settle(carbon, "bench.ogi", first, last, total)
    finally:
        carbon.stop(graceful=False)
        shutil.rmtree(base, ignore_errors=True)
    return {
        "benchmark": f"metric results ({points} lines each) -> engine -> graphite handler -> carbon-cache",
        "points": total, "results": clients * per_series,
        "ogi_wall_s": round(ogi["wall"], 3), "ogi_points_per_s": round(ogi["sent"] / ogi["wall"]),
        "target_points_per_s": TARGET,
        "ogi_cpu_us_per_point": round(ogi["cpu"] / total * 1e6, 2),
        "ogi_engine_s": round(ogi["queued_s"], 3),
        "ogi_engine_points_per_s": round(total / ogi["queued_s"]),
        "sent": ogi["sent"], "dropped": ogi["dropped"], "stored_by_carbon": ogi_stored,
        "carbon_cpu_us_per_point_from_ogi": round(ogi_carbon_cpu / total * 1e6, 2),
        "carbon_alone_wall_s": round(raw_wall, 3), "carbon_alone_points_per_s": round(total / raw_wall),
        "carbon_alone_cpu_us_per_point": round(raw_cpu / total * 1e6, 2),
        "carbon_alone_stored": raw_stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.graphite")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--points", type=int, default=50, help="Graphite lines per check result")
    parser.add_argument("--per-series", type=int, default=1000, help="points per series (one result per client each)")
    args = parser.parse_args()
    if not available():
        raise SystemExit("bench.graphite needs Debian's graphite-carbon and python3-whisper")
    print(json.dumps(run(args.clients, args.points, args.per_series)), flush=True)


if __name__ == "__main__":
    main()
