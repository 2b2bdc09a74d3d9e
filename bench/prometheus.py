"""`python -m bench.prometheus`: scraping 100,000 series while results keep flowing.

The memory store is filled with 100,000 series (1,000 clients x 100 series); the exporter
serves `/metrics`; a feeder task sends metric results (10 Graphite lines each) through the
result processor, the engine and a `prometheus` handler at a fixed rate, and records each
result's latency from the moment it was due (so a blocked event loop shows as latency). A
scraper in another process GETs `/metrics` several times, plain and gzipped.
Targets: a scrape in <= 1 s; p99 result latency during the scrapes <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.metrics.exporter import listener_access, start_exporter
from pipeline.metrics.graphite_mapping import series_id
from pipeline.server.results import ResultProcessor
from pipeline.store.base import SeriesSample
from pipeline.store.memory import MemoryStore

#: Run in a child process so that reading 10 MB pages does not load ogi's event loop. It prints
#: each scrape's start and end on the monotonic clock, which `time.perf_counter` shares across
#: processes on Linux, so results can be matched to the scrape they overlapped.
SCRAPER = r"""
import sys, time, urllib.request
url, count = sys.argv[1], int(sys.argv[2])
for n in range(2 * count):
    encoding = "gzip" if n % 2 else "identity"
    request = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as rsp:
        body = rsp.read()
    print(encoding, start, time.perf_counter(), len(body), flush=True)
    time.sleep(0.3)
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def message(i: int, clients: int) -> bytes:
    host = f"feed{i % clients}"
    now = int(time.time())
    output = "".join(f"{host}.cpu.cpu{n}.user {i % 97 + n} {now}\n" for n in range(10))
    return json.dumps({"client": host, "check": {
        "name": "metrics_cpu", "type": "metric", "handlers": ["prometheus"], "interval": 10,
        "issued": now, "executed": now, "output": output, "status": 0,
    }}).encode()


async def feed(processor: ResultProcessor, rate: float, stop: asyncio.Event,
               latencies: list[tuple[float, float]]) -> None:
    """Send results at `rate` per second; record (due time, latency) for each."""
    start = time.perf_counter()
    i = 0
    while not stop.is_set():
        due = start + i / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        await processor.process_message(message(i, 200))
        latencies.append((due, time.perf_counter() - due))
        i += 1
        if i % 10 == 0:
            await asyncio.sleep(0)  # behind schedule, results still arrive one by one, not in a burst


async def run(series: int, scrapes: int, rate: float) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "metrics": {"bind": "127.0.0.1", "port": 0},
        "handlers": {"prometheus": {"type": "prometheus", "mutator": "only_check_output"}},
    }
    store = MemoryStore()
    expires = time.time() + 3600
    per_client = 100
    await store.put_series({
        series_id(f"bench_metric_{n % per_client}", {"client": f"host{n // per_client}.example.com",
                                                     "check": "metrics_bench", "cpu": f"cpu{n % 8}"}):
        SeriesSample(float(n), time.time(), expires)
        for n in range(series)
    })
    registry = CollectorRegistry()
    engine = Engine(settings_of(settings), Context(settings=settings_of(settings), store=store, metrics=registry))
    processor = ResultProcessor(settings_of(settings), store, engine, metrics=registry)
    runner = await start_exporter(listener_access(settings), store, registry)

    stop = asyncio.Event()
    latencies: list[tuple[float, float]] = []
    feeder = asyncio.create_task(feed(processor, rate, stop, latencies))
    await asyncio.sleep(1.0)  # steady state before scraping
    scraper = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRAPER, runner.url, str(scrapes), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await scraper.communicate()
    await asyncio.sleep(0.5)
    stop.set()
    await feeder
    page = await runner.exporter.render()
    await runner.stop()
    await engine.close()

    timings: dict[str, list[float]] = {"identity": [], "gzip": []}
    windows: list[tuple[float, float]] = []
    sizes: dict[str, int] = {}
    for line in out.decode().splitlines():
        encoding, began, ended, size = line.split()
        timings[encoding].append(float(ended) - float(began))
        windows.append((float(began), float(ended)))
        sizes[encoding] = int(size)
    during = [lat for due, lat in latencies if any(a <= due + lat and due <= b for a, b in windows)]
    outside = [lat for due, lat in latencies if not any(a <= due + lat and due <= b for a, b in windows)]
    stored_lines = sum(1 for line in page.splitlines() if line.startswith(b"bench_metric_"))
    return {
        "benchmark": "GET /metrics of stored series while metric results flow through the prometheus handler",
        "series": series, "series_on_page": stored_lines,
        "scrape_s_max": round(max(timings["identity"]), 3), "scrape_s_median": round(percentile(timings["identity"], 0.5), 3),
        "scrape_gzip_s_max": round(max(timings["gzip"]), 3),
        "page_bytes": sizes.get("identity"), "page_gzip_bytes": sizes.get("gzip"),
        "scrape_target_s": 1.0,
        "results_per_s": rate, "results_during_scrapes": len(during),
        "latency_ms_p50_during": round(percentile(during, 0.5) * 1000, 2),
        "latency_ms_p99_during": round(percentile(during, 0.99) * 1000, 2),
        "latency_ms_max_during": round(max(during, default=0.0) * 1000, 2),
        "latency_ms_p99_outside": round(percentile(outside, 0.99) * 1000, 2),
        "latency_p99_target_ms": 100,
        "build_s_last": round(runner.exporter.stats.last_seconds, 3),
        "targets_met": max(timings["identity"] + timings["gzip"]) <= 1.0 and percentile(during, 0.99) <= 0.1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prometheus")
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=5, help="scrapes of each encoding")
    parser.add_argument("--rate", type=float, default=2000.0, help="results per second fed meanwhile")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.series, args.scrapes, args.rate))), flush=True)


if __name__ == "__main__":
    main()
