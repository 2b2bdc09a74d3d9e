"""`python -m bench.server`: `ogi server` over the shared RabbitMQ and Redis (issue 5's benchmark).

Everything runs in a fresh vhost `ogi-bench-<pid>` (created and deleted here) and Redis db 9
(flushed before and after). The graphite handler writes to a TCP sink in another process
(bench/sink.py), not to carbon: carbon's own cost stays out of the figures (bench/graphite.py
measures it). One JSON line per figure, each beside its target:

1. **raw**: aio-pika alone consuming and acking `--messages` 600-byte persistent messages from a
   durable queue, prefetch 100 (preloaded, then timed until the last ack).
2. **ogi**: the same number of Sensu-shaped metric results (10 Graphite lines each, 200 clients,
   5 checks) preloaded into `results`, then one in-process `Server` (RedisStore,
   RabbitMQTransport, graphite handler) timed until every result is processed and acked.
   Target: >= 80 % of raw. The sink's line count and the queue left empty check the work.
3. **latency**: a publisher process sends results at half the ogi rate for `--minutes`, each
   with its send time (`check.bench_sent`); a handler in this process records handler time -
   send time. Target: p99 <= 50 ms. `late_results` / `late_seconds`: how many took longer, and
   in how many of the run's seconds (by send time) they were sent.
4. **memory**: this process's RSS (the server's; publisher and sink are other processes) every
   5 s over that run. Target: flat (growth after the first fifth of the run <= 5 %).
5. **workers 2** (`--workers 2`): two server processes consume a preloaded `results`; no target.

What goes in (result bodies, preloading, the publisher process) is bench/server_load.py; the
latency handler and the histogram and memory figures are bench/server_latency.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from typing import Any

import aio_pika
import redis

from bench.server_latency import (
    P99_TARGET_MS,
    RSS_GROWTH_TARGET,
    BenchlatencyHandler,
    late_figures,
    percentile_ms,
    rss_mib,
)
from bench.server_load import amqp_url, depth, preload, preload_elsewhere, publish, raw_body, result_body
from bench.vhost import fresh_vhost
from pipeline import heap
from pipeline.config.load import settings_of
from pipeline.server.server import Server
from pipeline.store.redis import RedisStore
from pipeline.transport.rabbitmq import RabbitMQTransport

REDIS_DB = 9
RAW_TARGET_SHARE = 0.80



def settings_for(vhost: str, sink_port: int) -> dict[str, Any]:
    return {
        "rabbitmq": {"host": "127.0.0.1", "port": 5672, "vhost": vhost, "user": "guest", "password": "guest",
                     "prefetch": 100},
        "redis": {"host": "127.0.0.1", "port": 6379, "db": REDIS_DB},
        "handlers": {
            "graphite": {"type": "graphite", "host": "127.0.0.1", "port": sink_port, "mutator": "only_check_output"},
            "latency": {"type": "benchlatency", "mutator": "only_check_output"},
        },
    }


# --- the broker ---------------------------------------------------------------------------


async def raw_rate(vhost: str, count: int) -> dict[str, Any]:
    preload_elsewhere(vhost, "bench.raw", count)
    connection = await aio_pika.connect(amqp_url(vhost))
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        queue = await channel.declare_queue("bench.raw", durable=True, auto_delete=False)
        done = asyncio.Event()
        acked = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal acked
            await message.ack()
            acked += 1
            if acked == count:
                done.set()

        start = time.perf_counter()
        await queue.consume(on_message)
        await done.wait()
        wall = time.perf_counter() - start
    return {"figure": "raw", "messages": count, "wall_s": round(wall, 3), "per_s": round(count / wall)}


# --- ogi ----------------------------------------------------------------------------------

class Sink:
    """bench/sink.py in its own process: counts the Graphite lines it receives."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.sink"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def lines(self) -> int:
        out, _ = self.process.communicate("count\n", timeout=30)
        return int(out.strip())


async def open_server(settings: dict[str, Any]) -> Server:
    server = Server(settings_of(settings), RedisStore(settings["redis"]), RabbitMQTransport(settings), run_tasks=False,
                    serve_metrics=False)
    await server.start()
    heap.settle()  # as `ogi server` does once started
    return server


async def close_server(server: Server) -> None:
    await server.stop()
    await server.transport.close()
    await server.store.close()


def accepted(server: Server) -> int:
    return int(server.metrics.get_sample_value("ogi_results_total") or 0)


async def ogi_rate(vhost: str, count: int, raw_per_s: float) -> dict[str, Any]:
    preload_elsewhere(vhost, "results", count)
    sink = Sink()
    start = time.perf_counter()
    cpu = time.process_time()
    server = await open_server(settings_for(vhost, sink.port))
    while accepted(server) < count or server.consumer._tasks:
        await asyncio.sleep(0.02)  # reading the counter costs: 1 % of the run at this pace
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    await close_server(server)
    left = await depth(vhost, "results")
    per_s = count / wall
    return {"figure": "ogi_one_process", "results": count, "wall_s": round(wall, 3), "per_s": round(per_s),
            "share_of_raw": round(per_s / raw_per_s, 3), "target_share_of_raw": RAW_TARGET_SHARE,
            "ok": per_s >= RAW_TARGET_SHARE * raw_per_s, "cpu_us_per_result": round(cpu / count * 1e6, 1),
            "graphite_lines": sink.lines(), "expected_lines": count * 10, "left_in_queue": left}


async def steady(vhost: str, rate: float, seconds: float) -> list[dict[str, Any]]:
    """Latency and memory at `rate` results/s for `seconds`, publisher in another process."""
    sink = Sink()
    server = await open_server(settings_for(vhost, sink.port))
    BenchlatencyHandler.start_run(seconds)
    publisher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.server", "--publish", vhost, str(rate), str(seconds), stdout=subprocess.PIPE)
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    while publisher.returncode is None:
        samples.append((time.monotonic() - start, rss_mib()))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(publisher.wait(), 5.0)
    assert publisher.stdout is not None
    published = int((await publisher.stdout.read()).strip() or 0)
    while sum(BenchlatencyHandler.histogram) < published and time.monotonic() - start < seconds + 30:
        await asyncio.sleep(0.05)
    await close_server(server)
    sink.lines()
    histogram = BenchlatencyHandler.histogram
    handled = sum(histogram)
    p99 = percentile_ms(histogram, 0.99)
    warm = [rss for t, rss in samples if t >= seconds / 5] or [samples[-1][1]]
    growth = (warm[-1] - warm[0]) / warm[0]
    return [
        {"figure": "latency_publish_to_handler", "rate_per_s": round(rate), "published": published,
         "handled": handled, "p50_ms": percentile_ms(histogram, 0.5), "p99_ms": p99,
         "max_ms": percentile_ms(histogram, 1.0), **late_figures(BenchlatencyHandler.late), "seconds": round(seconds),
         "target_p99_ms": P99_TARGET_MS, "ok": p99 <= P99_TARGET_MS},
        {"figure": "memory_rss", "minutes": round(seconds / 60, 2), "rss_mib_samples_every_5s": [round(r, 1) for _, r in samples],
         "rss_after_first_fifth_mib": round(warm[0], 1), "rss_end_mib": round(warm[-1], 1),
         "growth": round(growth, 4), "target_growth": RSS_GROWTH_TARGET, "ok": growth <= RSS_GROWTH_TARGET},
    ]


# --- several processes --------------------------------------------------------------------

async def child(vhost: str, sink_port: int) -> None:
    """A worker process: consume until told to stop; print accepted count, first and last times."""
    server = await open_server(settings_for(vhost, sink_port))
    print("ready", flush=True)
    stop = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    first = last = 0.0
    seen = 0
    while not stop.done():
        now = accepted(server)
        if now != seen and not server.consumer._tasks:
            first = first or time.time()
            last, seen = time.time(), now
        elif now != seen:
            first = first or time.time()
        await asyncio.sleep(0.02)
    await close_server(server)
    print(json.dumps({"accepted": accepted(server), "first": first, "last": last}), flush=True)


async def workers_rate(vhost: str, count: int, workers: int) -> dict[str, Any]:
    # Loaded first (the publisher would compete for the cores); the workers start together and
    # the clock runs from the first result either takes to the last one.
    preload_elsewhere(vhost, "results", count)
    sink = Sink()
    children = [subprocess.Popen([sys.executable, "-m", "bench.server", "--child", vhost, str(sink.port)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    for process in children:
        assert process.stdout is not None
        process.stdout.readline()
    while await depth(vhost, "results"):
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    reports = [json.loads(process.communicate("stop\n", timeout=60)[0].strip().splitlines()[-1]) for process in children]
    total = sum(r["accepted"] for r in reports)
    wall = max(r["last"] for r in reports) - min(r["first"] for r in reports if r["first"])
    return {"figure": f"ogi_workers_{workers}", "results": total, "expected": count, "wall_s": round(wall, 3),
            "per_s": round(total / wall), "per_worker": [r["accepted"] for r in reports], "target": None,
            "graphite_lines": sink.lines()}


# --- main ---------------------------------------------------------------------------------

def flush_redis() -> None:
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


def emit(figure: dict[str, Any]) -> None:
    print(json.dumps(figure), flush=True)


async def run(args: argparse.Namespace) -> None:
    with fresh_vhost(prefix="ogi-bench-") as vhost:
        flush_redis()
        try:
            raw = await raw_rate(vhost, args.messages)
            emit(raw)
            ogi = await ogi_rate(vhost, args.messages, raw["per_s"])
            emit(ogi)
            flush_redis()
            rate = args.latency_rate or ogi["per_s"] / 2
            for figure in await steady(vhost, rate, args.minutes * 60):
                emit(figure)
            if args.workers > 1:
                flush_redis()
                emit(await workers_rate(vhost, args.messages, args.workers))
        finally:
            flush_redis()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the latency and memory run")
    parser.add_argument("--workers", type=int, default=1, help="also measure N server processes (N > 1)")
    parser.add_argument("--publish", nargs=3, metavar=("VHOST", "RATE", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--latency-rate", type=float, help="results/s of the latency run (default: half the ogi rate)")
    parser.add_argument("--preload", nargs=3, metavar=("VHOST", "QUEUE", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("VHOST", "SINK_PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        vhost, rate, seconds = args.publish
        print(asyncio.run(publish(vhost, float(rate), float(seconds))), flush=True)
    elif args.preload:
        vhost, queue, count = args.preload
        bodies = (raw_body(i) if queue == "bench.raw" else result_body(i) for i in range(int(count)))
        asyncio.run(preload(vhost, queue, bodies, exchange="" if queue == "bench.raw" else "results"))
    elif args.child:
        asyncio.run(child(args.child[0], int(args.child[1])))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
