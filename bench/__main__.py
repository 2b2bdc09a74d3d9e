"""`make bench`: the engine's throughput on one core.

1. Metric results (10 Graphite lines each) as JSON messages through the result processor,
   the memory store and a `tcp` handler (`only_check_output`, connection kept open) into a
   TCP sink running in another process. Target: >= 20,000 results/s.
2. Standard results (status 2) through gates and an attribute filter into a handler that
   does nothing. Target: >= 30,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context, Handler
from pipeline.model import Event
from pipeline.registry import Registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore


class NullHandler(Handler):
    """Counts events and does nothing else."""

    type_name = "null"
    allowed_keys = frozenset()
    handled = 0

    async def handle(self, event: Event, payload: bytes) -> None:
        NullHandler.handled += 1


def metric_message(i: int, clients: int) -> bytes:
    host = f"host{i % clients}"
    now = 1_700_000_000 + i
    output = "".join(f"{host}.cpu.cpu{n}.user {i % 97 + n} {now}\n" for n in range(10))
    return json.dumps(
        {
            "client": host,
            "check": {
                "name": f"metrics_cpu{i % 5}", "type": "metric", "handlers": ["graphite"],
                "command": "metrics-cpu", "interval": 10, "issued": now, "executed": now,
                "duration": 0.01, "output": output, "status": 0,
            },
        }
    ).encode()


def standard_message(i: int, clients: int) -> bytes:
    now = 1_700_000_000 + i
    return json.dumps(
        {
            "client": f"host{i % clients}",
            "check": {
                "name": f"check_disk{i % 7}", "handlers": ["notify"], "command": "check-disk",
                "interval": 60, "issued": now, "executed": now, "duration": 0.01,
                "output": "CRITICAL: / is 97% full", "status": 2,
            },
        }
    ).encode()


async def run_processor(settings: dict[str, Any], registry: Registry, messages: list[bytes]) -> tuple[float, float]:
    store = MemoryStore()
    metrics = CollectorRegistry()
    context = Context(settings=settings_of(settings), store=store, metrics=metrics)
    engine = Engine(settings_of(settings), context, registry)
    processor = ResultProcessor(settings_of(settings), store, engine, metrics=metrics)
    # register clients first, as keepalives would, so the run measures steady state
    for body in messages[:1000]:
        await processor.process_message(body)
    wall, cpu = time.perf_counter(), time.process_time()
    for body in messages:
        await processor.process_message(body)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await engine.close()
    return wall, cpu


def bench_metrics(count: int) -> dict[str, Any]:
    sink = subprocess.Popen([sys.executable, "-m", "bench.sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sink.stdout and sink.stdin
    port = int(sink.stdout.readline())
    settings = {
        "handlers": {
            "graphite": {
                "type": "tcp", "socket": {"host": "127.0.0.1", "port": port},
                "mutator": "only_check_output", "keepalive": True,
            }
        }
    }
    messages = [metric_message(i, 100) for i in range(count)]
    wall, cpu = asyncio.run(run_processor(settings, Registry(), messages))
    sink.stdin.write("count\n")
    sink.stdin.flush()
    lines = int(sink.stdout.readline())
    sink.wait(5)
    expected = (count + 1000) * 10
    return {
        "benchmark": "metric results -> tcp (only_check_output, keepalive) -> sink",
        "results": count, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "results_per_s": round(count / wall), "target_per_s": 20000,
        "lines_received": lines, "lines_expected": expected,
    }


def bench_standard(count: int) -> dict[str, Any]:
    registry = Registry()
    registry.register("handlers", "null", NullHandler)
    settings = {
        "handlers": {
            "notify": {"type": "null", "severities": ["critical", "ok"], "filters": ["production"]},
        },
        "filters": {"production": {"attributes": {"check": {"status": "eval: value >= 1"}}}},
    }
    messages = [standard_message(i, 1000) for i in range(count)]
    NullHandler.handled = 0
    wall, cpu = asyncio.run(run_processor(settings, registry, messages))
    return {
        "benchmark": "standard results -> gates -> attribute filter -> null handler",
        "results": count, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "events_per_s": round(count / wall), "target_per_s": 30000,
        "handled": NullHandler.handled - 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    for result in (bench_metrics(args.count), bench_standard(args.count)):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
