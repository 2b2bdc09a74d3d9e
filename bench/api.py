"""`python -m bench.api`: the HTTP API under load.

The store holds 1,000 clients with 10 open events each (10,000 events, about 10 MB of JSON).
The API serves it on a loopback port in this process; the load comes from other processes, so
the figures are the server's:

1. `GET /events`, one request at a time, N times: latency percentiles. Target p99 <= 100 ms.
2. `GET /clients/NAME` for random names over keep-alive connections (several client processes,
   each with a pool of connections; `wrk` instead when it is installed): requests per second.
   Target >= 2,000 req/s.

The store is Redis (db 12, flushed first), as issue 6 asks; `--store memory` uses the memory store.
Either way the API sends the events as the JSON text the store keeps (`Store.list_events_json`);
with Redis most of the time goes into reading the 1,000 HVALS replies, which redis-py does about
twice as fast with `hiredis` installed (`--profile` prints where the time goes).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import shutil
import subprocess
import sys
import time
from typing import Any

from redis.utils import HIREDIS_AVAILABLE

from pipeline import heap
from pipeline.api import start_api
from pipeline.config.load import settings_of
from pipeline.store.base import Store
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport

START = 1_700_000_000

#: Sequential GET /events in a child process; prints one latency (seconds) per line.
EVENTS_CLIENT = r"""
import sys, time, urllib.request
url, count = sys.argv[1], int(sys.argv[2])
for _ in range(count):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as rsp:
        size = len(rsp.read())
    print(time.perf_counter() - start, size, flush=True)
"""

#: GET /clients/NAME from a pool of keep-alive connections for a while; prints "requests errors".
LOAD_CLIENT = r"""
import asyncio, random, sys, time
import aiohttp
base, clients, connections, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
async def worker(session, deadline, counts):
    while time.perf_counter() < deadline:
        async with session.get(f"{base}/clients/client-{random.randrange(clients):04d}") as rsp:
            await rsp.read()
            counts[0 if rsp.status == 200 else 1] += 1
async def main():
    counts = [0, 0]
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(worker(session, deadline, counts) for _ in range(connections)))
    print(counts[0], counts[1], flush=True)
asyncio.run(main())
"""

WRK_SCRIPT = r"""
request = function()
  return wrk.format("GET", string.format("/clients/client-%04d", math.random(0, CLIENTS - 1)))
end
response = function(status, headers, body)
  if status ~= 200 and not shown then
    print("first failure: " .. status .. " " .. body)
    shown = true
  end
end
"""


def client_doc(i: int) -> dict[str, Any]:
    name = f"client-{i:04d}"
    return {"name": name, "address": f"10.0.{i // 250}.{i % 250}", "subscriptions": ["linux", f"client:{name}"],
            "version": "1.9.0", "timestamp": START, "environment": "production"}


def event_doc(client: dict[str, Any], n: int) -> dict[str, Any]:
    check = {
        "name": f"check-{n}", "command": f"/usr/lib/nagios/plugins/check_thing -w 80 -c 90 --item {n}",
        "subscribers": ["linux"], "interval": 60, "handlers": ["default", "slack"], "type": "standard",
        "issued": START, "executed": START, "duration": 0.123,
        "output": f"THING CRITICAL - item {n} at 97% (threshold 90%) on {client['name']}|used=97%;80;90;0;100",
        "status": 2, "history": ["0"] * 18 + ["2", "2", "2"], "total_state_change": 6,
    }
    return {"id": f"00000000-0000-4000-8000-{int(client['name'][-4:]) * 100 + n:012d}", "action": "create",
            "timestamp": START, "occurrences": 3, "occurrences_watermark": 3, "last_ok": START - 180,
            "last_state_change": START - 120, "silenced": False, "silenced_by": [], "client": client,
            "check": check}


async def make_store(kind: str) -> Store:
    if kind == "memory":
        return MemoryStore()
    from pipeline.store.redis import RedisStore

    # db 12: the Redis store's own tests use 14 and may run meanwhile
    store = RedisStore({"host": "127.0.0.1", "port": 6379, "db": 12})
    await store.client.flushdb()
    return store


async def fill(store: Store, clients: int, per_client: int) -> None:
    for i in range(clients):
        client = client_doc(i)
        await store.put_client(client)
        for n in range(per_client):
            await store.put_event(event_doc(client, n))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def bench_events(url: str, count: int) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", EVENTS_CLIENT, url + "/events", str(count),
                                                   stdout=subprocess.PIPE)
    output, _ = await process.communicate()
    rows = [line.split() for line in output.decode().splitlines()]
    latencies = [float(row[0]) for row in rows]
    return {
        "benchmark": "GET /events, 10,000 open events over 1,000 clients, one request at a time",
        "requests": len(latencies), "bytes": int(rows[0][1]) if rows else 0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1), "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=0) * 1000, 1), "target_p99_ms": 100,
    }


async def bench_store(store: Store, count: int, profile: bool) -> dict[str, Any]:
    """`list_events_json` alone, in this process: the store's share of a GET /events."""
    profiler = cProfile.Profile() if profile else None
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await store.list_events_json()
        if profiler is not None:
            profiler.disable()
        latencies.append(time.perf_counter() - start)
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    return {"benchmark": "Store.list_events_json alone (10,000 events)", "calls": count,
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 1), "max_ms": round(max(latencies) * 1000, 1)}


async def bench_clients(url: str, clients: int, processes: int, connections: int, seconds: float,
                        use_wrk: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "GET /clients/NAME over keep-alive connections", "target_per_s": 2000}
    if use_wrk:
        script = WRK_SCRIPT.replace("CLIENTS", str(clients))
        with open("/tmp/ogi-bench-api.lua", "w") as file:
            file.write(script)
        process = await asyncio.create_subprocess_exec(
            "wrk", "-t", str(processes), "-c", str(processes * connections), "-d", f"{seconds:g}s",
            "-s", "/tmp/ogi-bench-api.lua", url, stdout=subprocess.PIPE)
        output, _ = await process.communicate()
        text = output.decode()
        found = [line for line in text.splitlines() if line.startswith("Requests/sec")]
        result.update(tool="wrk", requests_per_s=round(float(found[0].split()[1])) if found else None,
                      connections=processes * connections, wrk=[line.strip() for line in text.splitlines() if "failure" in line or "Non-2xx" in line][:2])
        return result
    started = time.perf_counter()
    children = [await asyncio.create_subprocess_exec(sys.executable, "-c", LOAD_CLIENT, url, str(clients),
                                                     str(connections), str(seconds), stdout=subprocess.PIPE)
                for _ in range(processes)]
    outputs = [await child.communicate() for child in children]
    elapsed = time.perf_counter() - started
    ok = sum(int(out.split()[0]) for out, _ in outputs)
    errors = sum(int(out.split()[1]) for out, _ in outputs)
    result.update(tool="aiohttp client", processes=processes, connections=processes * connections,
                  seconds=round(elapsed, 2), requests=ok, errors=errors, requests_per_s=round(ok / seconds))
    return result


async def run(args: argparse.Namespace) -> None:
    store = await make_store(args.store)
    began = time.perf_counter()
    await fill(store, args.clients, args.events_per_client)
    print(json.dumps({"store": args.store, "clients": args.clients, "events": args.clients * args.events_per_client,
                      "fill_s": round(time.perf_counter() - began, 2), "hiredis": HIREDIS_AVAILABLE}), flush=True)
    print(json.dumps(await bench_store(store, 20, args.profile)), flush=True)
    runner = await start_api(settings_of({"api": {"port": 0}}), store, MemoryTransport())
    heap.settle()  # as `ogi api` does once started
    try:
        print(json.dumps(await bench_events(runner.url, args.requests)), flush=True)
        use_wrk = shutil.which("wrk") is not None and not args.no_wrk
        print(json.dumps(await bench_clients(runner.url, args.clients, args.processes, args.connections,
                                             args.seconds, use_wrk)), flush=True)
    finally:
        await runner.stop()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api")
    parser.add_argument("--store", choices=("memory", "redis"), default="redis")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events-per-client", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200, help="GET /events requests")
    parser.add_argument("--processes", type=int, default=2, help="load processes (wrk threads)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections per process")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-wrk", action="store_true", help="use the aiohttp client even if wrk is installed")
    parser.add_argument("--profile", action="store_true", help="cProfile list_events_json (to stderr)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
