"""Load-and-fault run (issue 13): `python -m bench.soak [--minutes 2]`, at most 10 minutes.

Steady results at a fixed rate go through a private RabbitMQ node into `ogi server` and `ogi api`
(subprocesses, a private Redis store). Meanwhile 1,000 slow connections trickle bytes into an
`ogi client`'s 3030, one check in ten also goes to a pipe handler that hangs, a poison
`POST /request` names an `amq.*` subscription, Redis restarts (at 40% of the run) and the broker
restarts (at 65%). Every result goes to a `tcp` handler whose peer here counts the distinct
sequence numbers. Printed: results published and handled (none lost), the API's p99 latency
(GET /events every 100 ms, throughout), what `GET /health` answered (every second: each status
and each reason a 412 gave), and the server's RSS at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.api import percentile
from bench.private_peers import PrivateRabbitMQ, PrivateRedis, free_port, port_answers
from pipeline.transport.amqp_settings import amqp_settings
from pipeline.transport.rabbitmq import RabbitMQTransport

OGI = str(Path(sys.executable).parent / "ogi")
SEQ = re.compile(rb"soak-seq-(\d+)")
SLOW_CONNECTIONS = 1000


class Sink:
    """The `tcp` handler's peer: counts the distinct sequence numbers it is sent."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.port = 0

    async def start(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        self.seen.update(int(n) for n in SEQ.findall(data))
        writer.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def config(rabbit_port: int, redis_port: int, api_port: int, sink_port: int, hang: Path) -> dict[str, Any]:
    return {
        "rabbitmq": {"host": "127.0.0.1", "port": rabbit_port},
        "redis": {"host": "127.0.0.1", "port": redis_port},
        "transport": {"name": "rabbitmq", "reconnect_interval": 0.5},
        "api": {"port": api_port},
        "handlers": {
            "count": {"type": "tcp", "socket": {"host": "127.0.0.1", "port": sink_port}, "timeout": 10},
            "hang": {"type": "pipe", "command": f"cat >> {hang}; sleep 3600"},
        },
        "checks": {"seq": {"command": "true", "standalone": True, "interval": 3600, "handlers": ["count"]}},
    }


async def slow_connection(port: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    """One sender trickling a byte every 0.4 s (what once held a connection for ever)."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["connect_failed"] += 1
            await asyncio.sleep(1)
            continue
        stats["opened"] += 1
        try:
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"{")
                await writer.drain()
                await asyncio.sleep(0.4)
        except OSError:
            pass
        stats["closed_by_agent"] += 1
        writer.close()
        await asyncio.sleep(1)  # a refused sender comes back, not in a tight loop


async def slow_senders(port: int, seconds: float) -> None:
    """The child process holding the slow connections (apart, so its load does not skew the timings)."""
    stop = asyncio.Event()
    stats = {"opened": 0, "closed_by_agent": 0, "connect_failed": 0}
    tasks = [asyncio.create_task(slow_connection(port, stop, stats)) for _ in range(SLOW_CONNECTIONS)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(stats), flush=True)


async def poll_api(url: str, stop: asyncio.Event, latencies: list[float], statuses: dict[int, int]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(f"{url}/events") as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (aiohttp.ClientError, TimeoutError):
                statuses[0] = statuses.get(0, 0) + 1
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - started)))


async def poll_health(url: str, stop: asyncio.Event, statuses: dict[int, int], reasons: dict[str, int]) -> None:
    """`GET /health` every second: how often each status came, and each reason of a 412 (its first words)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            try:
                async with session.get(f"{url}/health") as response:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 412:
                        for reason in await response.json():
                            # the transport's or store's error follows a colon; its text varies
                            key = str(reason).split(":", 1)[0]
                            reasons[key] = reasons.get(key, 0) + 1
            except (aiohttp.ClientError, TimeoutError, ValueError):
                statuses[0] = statuses.get(0, 0) + 1
            await asyncio.sleep(1)


async def restart(loop: asyncio.AbstractEventLoop, stop: Any, start: Any) -> None:
    await loop.run_in_executor(None, stop)
    await asyncio.sleep(2)
    await loop.run_in_executor(None, start)


async def soak(args: argparse.Namespace, base: Path, rabbit: PrivateRabbitMQ, redis: PrivateRedis) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    sink = Sink()
    await sink.start()
    api_port, socket_port = free_port(), free_port()
    hang = base / "hang.out"
    (base / "ogi.json").write_text(json.dumps(config(rabbit.port, redis.port, api_port, sink.port, hang)))
    client = {"client": {"name": "soak-agent", "subscriptions": ["linux"], "socket": {"port": socket_port}}}
    (base / "client.json").write_text(json.dumps(client))
    logs = {name: open(base / f"{name}.log", "wb") for name in ("server", "api", "client")}  # noqa: SIM115
    conf = ["-c", str(base / "ogi.json"), "-L", "warn"]
    procs = {
        "server": subprocess.Popen([OGI, "server", *conf], stdout=logs["server"], stderr=subprocess.STDOUT),
        "api": subprocess.Popen([OGI, "api", *conf], stdout=logs["api"], stderr=subprocess.STDOUT),
        "client": subprocess.Popen([OGI, "client", *conf, "-c", str(base / "client.json")],
                                   stdout=logs["client"], stderr=subprocess.STDOUT),
    }
    url = f"http://127.0.0.1:{api_port}"
    publisher = RabbitMQTransport(amqp_settings({"rabbitmq": {"host": "127.0.0.1", "port": rabbit.port},
                                               "transport": {"reconnect_interval": 0.5}}))
    stop = asyncio.Event()
    try:
        for _ in range(300):
            if port_answers("127.0.0.1", api_port, 0.2) and port_answers("127.0.0.1", socket_port, 0.2):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # the server subscribed
        rss_start = rss_mib(procs["server"].pid)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        health: dict[int, int] = {}
        health_reasons: dict[str, int] = {}
        background = [asyncio.create_task(poll_api(url, stop, latencies, statuses)),
                      asyncio.create_task(poll_health(url, stop, health, health_reasons))]
        duration = args.minutes * 60
        slow = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.soak", "--slow-senders", str(socket_port), "--minutes", str(args.minutes),
            stdout=subprocess.PIPE)
        async with aiohttp.ClientSession() as session, session.post(
                f"{url}/request", json={"check": "seq", "subscribers": ["amq.x"]}) as response:
            poison_status = response.status
        started = time.monotonic()
        published = 0
        faults: dict[str, float] = {}
        while (elapsed := time.monotonic() - started) < duration:
            # Every result of soak-0 and soak-10 also goes to the hanging handler: their later
            # results must not wait for the hung runs (docs/chain.md "Order").
            handlers = ["count", "hang"] if published % 10 == 0 else ["count"]
            body = {"client": f"soak-{published % 20}",
                    "check": {"name": "seq", "status": 2, "output": f"soak-seq-{published}", "handlers": handlers}}
            await publisher.publish("results", json.dumps(body).encode())
            published += 1
            # the faults run beside the publisher, which goes on (buffering while the broker is down)
            if "redis" not in faults and elapsed > duration * 0.4:
                faults["redis"] = elapsed
                background.append(asyncio.create_task(restart(loop, redis.stop, redis.start)))
            if "broker" not in faults and elapsed > duration * 0.65:
                faults["broker"] = elapsed
                background.append(asyncio.create_task(restart(loop, rabbit.stop, rabbit.start)))
            await asyncio.sleep(1 / args.rate)
        deadline = time.monotonic() + 120
        while len(sink.seen) < published and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        rss_end = rss_mib(procs["server"].pid)
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
        slow_out, _ = await slow.communicate()
        slow_stats = json.loads(slow_out or b"{}")
        missing = sorted(set(range(published)) - sink.seen)
        return {
            "benchmark": f"soak, {args.minutes} min, {args.rate} results/s, {SLOW_CONNECTIONS} slow socket "
                         "connections, a hanging handler, a poison /request, Redis and broker restarts",
            "published": published, "handled": len(sink.seen & set(range(published))), "lost": len(missing),
            "lost_first": missing[:10], "faults_at_s": {k: round(v) for k, v in faults.items()},
            "poison_request_status": poison_status,
            "api_polls": len(latencies), "api_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "api_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
            "api_max_ms": round(max(latencies, default=0) * 1000, 1), "api_statuses": statuses,
            "health_statuses": health, "health_412_reasons": health_reasons,
            "slow_connections": slow_stats,
            "server_rss_mib": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
            "hang_handler_started": hang.exists(),
        }
    finally:
        stop.set()
        await publisher.close(flush_timeout=5)
        for process in procs.values():
            process.terminate()
        for process in procs.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the run (at most 10)")
    parser.add_argument("--slow-senders", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=50.0, help="results published a second")
    args = parser.parse_args()
    args.minutes = min(args.minutes, 10.0)
    if args.slow_senders:
        asyncio.run(slow_senders(args.slow_senders, args.minutes * 60))
        return
    base = Path(tempfile.mkdtemp(prefix="ogi-bench-soak-"))
    rabbit = PrivateRabbitMQ()
    redis = PrivateRedis(str(base), free_port())
    try:
        rabbit.start()
        redis.start()
        print(json.dumps(asyncio.run(soak(args, base, rabbit, redis))), flush=True)
    finally:
        rabbit.destroy()
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            redis.stop()
        if os.environ.get("OGI_SOAK_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"logs kept in {base}", file=sys.stderr)


if __name__ == "__main__":
    main()
