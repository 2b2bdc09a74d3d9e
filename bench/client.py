"""`python -m bench.client`: how many checks one client executes per second, at what CPU.

1. Throughput: N on-demand runs of a trivial command (`true`) through the client with
   `sensu.spawn.limit` 12, results published to the memory transport and counted.
   Targets: >= 600 executions/s and <= 1.5 ms of client CPU per check.
2. Scheduler drift at that load: 600 standalone checks at `interval` 1 for a few seconds;
   drift is how late the scheduler wakes for each tick (the sleep it asked for vs when it
   woke). Target: under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import statistics
import time
from typing import Any

from pipeline.agent.agent import Agent
from pipeline.agent.process.execute import use_pidfd_child_watcher
from pipeline.config.load import settings_of
from pipeline.transport.memory import MemoryTransport


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def drain(transport: MemoryTransport, counter: list[int]) -> None:
    results = await transport.subscribe("results")
    async for message in results:
        async with message.process():
            counter[0] += 1


async def throughput(count: int) -> dict[str, Any]:
    use_pidfd_child_watcher()
    transport = MemoryTransport()
    settings = {"client": {"name": "bench", "socket": {"enabled": False}}, "sensu": {"spawn": {"limit": 12}}}
    client = Agent(settings_of(settings), transport, keepalive_interval=3600)
    counter = [0]
    consumer = asyncio.create_task(drain(transport, counter))
    checks = [{"name": f"check_{i}", "command": "true", "interval": 60} for i in range(count)]
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client.run_check(check) for check in checks))
    while counter[0] < count:
        await asyncio.sleep(0.001)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    consumer.cancel()
    await transport.close()
    return {
        "benchmark": "client executions of `true`, spawn limit 12",
        "executions": count, "wall_s": round(wall, 3), "per_s": round(count / wall),
        "target_per_s": 600, "client_cpu_ms_per_check": round(cpu / count * 1000, 3), "target_cpu_ms": 1.5,
    }


async def drift(checks: int, seconds: float) -> dict[str, Any]:
    use_pidfd_child_watcher()
    lateness: list[float] = []

    async def measuring_sleep(delay: float) -> None:
        target = time.time() + delay
        await asyncio.sleep(delay)
        lateness.append(time.time() - target)

    transport = MemoryTransport()
    settings = {
        "client": {"name": "bench", "socket": {"enabled": False}},
        "sensu": {"spawn": {"limit": 12}},
        "checks": {f"c{i}": {"command": "true", "standalone": True, "interval": 1} for i in range(checks)},
    }
    client = Agent(settings_of(settings), transport, keepalive_interval=3600, sleep=measuring_sleep)
    counter = [0]
    consumer = asyncio.create_task(drain(transport, counter))
    await client.start()
    await asyncio.sleep(1.5)  # every check has had its first (splayed) tick
    lateness.clear()
    done, cpu = counter[0], time.process_time()
    await asyncio.sleep(seconds)
    executed, cpu = counter[0] - done, time.process_time() - cpu
    await client.stop()
    consumer.cancel()
    await transport.close()
    lateness.sort()
    return {
        "benchmark": f"{checks} standalone checks at interval 1 s for {seconds} s",
        "executions": executed, "per_s": round(executed / seconds),
        "ticks_skipped_still_running": client.counts["skipped_running"],
        "client_cpu_ms_per_check": round(cpu / max(executed, 1) * 1000, 3),
        "drift_ms_p50": round(statistics.median(lateness) * 1000, 1),
        "drift_ms_p99": round(lateness[int(len(lateness) * 0.99)] * 1000, 1),
        "drift_ms_max": round(lateness[-1] * 1000, 1), "target_drift_ms": 50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.client")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--checks", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    logging.getLogger("ogi").setLevel(logging.ERROR)  # a skipped tick is a figure here, not a log line
    print(json.dumps(asyncio.run(throughput(args.count))), flush=True)
    print(json.dumps(asyncio.run(drift(args.checks, args.seconds))), flush=True)


if __name__ == "__main__":
    main()
