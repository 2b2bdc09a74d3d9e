"""Faults while results stream in: a killed server, a restarted broker, a restarted Redis, a dead task holder;
and a server killed while a handler hangs (its events in slots, and queued for it).

Every test runs its own RabbitMQ node and redis-server on free ports (tests/e2e/peers.py) and
`ogi server` processes pointed at them. An in-test publisher (ogi's RabbitMQ transport, as an
ogi client publishes: persistent, confirmed, buffered while disconnected) sends results
`seq_0`, `seq_1`, ... each a distinct failing check, so each makes an event whose pipe handler
appends the check name to a file. Then: every published result was handled (none lost);
duplicates (redeliveries after a fault) are allowed, counted and printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.private_peers import PrivateRabbitMQ, PrivateRedis
from bench.vhost import rabbitmqctl
from pipeline.jsoncodec import dumps
from pipeline.transport.rabbitmq import RabbitMQTransport

OGI = str(Path(sys.executable).parent / "ogi")
#: Results per second the publisher aims at (each spawns a handler process).
RATE = 40
#: Seconds to wait, after publishing stopped, for every result to be handled.
SETTLE = 40.0
TASK = "check_request_publisher"


class Stream:
    """Publishes `seq_<n>` results at RATE per second until stopped; counts what it published."""

    def __init__(self, rabbitmq_port: int) -> None:
        self.transport = RabbitMQTransport(
            {"rabbitmq": {"host": "127.0.0.1", "port": rabbitmq_port},
             "transport": {"name": "rabbitmq", "reconnect_interval": 0.2}},
            connection_name="ogi fault-test publisher",
        )
        self.published = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            result = {"client": "fault-test", "check": {
                "name": f"seq_{self.published}", "status": 2, "output": f"seq {self.published}",
                "handlers": ["record"], "issued": int(now), "executed": int(now), "duration": 0.001}}
            await self.transport.publish("results", dumps(result))
            self.published += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1 / RATE)

    async def stop(self) -> int:
        """Stop publishing, send what is buffered, and return how many results were published."""
        self._stop.set()
        assert self._task is not None
        await self._task
        await self.transport.close(flush_timeout=30)
        counts = self.transport.counts
        assert counts["buffer_dropped"] == 0 and counts["dropped_at_close"] == 0, counts
        return self.published


class Servers:
    """`ogi server` processes over the private broker and Redis, with one `record` pipe handler."""

    def __init__(self, tmp_path: Path, rabbitmq_port: int, redis_port: int) -> None:
        self.dir = tmp_path
        self.handled = tmp_path / "handled.txt"
        config = {
            "rabbitmq": {"host": "127.0.0.1", "port": rabbitmq_port},
            "transport": {"name": "rabbitmq", "reconnect_interval": 0.2},
            "redis": {"host": "127.0.0.1", "port": redis_port},
            "handlers": {"record": {"type": "pipe",
                                    "command": f"grep -o 'seq_[0-9]*' | head -n 1 >> {self.handled}"}},
        }
        (tmp_path / "server.json").write_text(json.dumps(config))
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.dir / f"server-{len(self.processes)}.log"
        process = subprocess.Popen([OGI, "server", "-c", str(self.dir / "server.json"), "-l", str(log)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        path = self.dir / f"server-{self.processes.index(process)}.log"
        return path.read_text() if path.exists() else ""

    def handled_names(self) -> list[str]:
        if not self.handled.exists():
            return []
        return [line for line in self.handled.read_text().splitlines() if line.startswith("seq_")]

    def stop_all(self) -> list[int | None]:
        codes: list[int | None] = []
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            codes.append(process.returncode)
        return codes


@pytest.fixture
def servers(tmp_path: Path, private_rabbitmq: PrivateRabbitMQ, private_redis: PrivateRedis) -> Iterator[Servers]:
    group = Servers(tmp_path, private_rabbitmq.port, private_redis.port)
    try:
        yield group
    finally:
        group.stop_all()


async def settle(servers: Servers, published: int, case: str) -> None:
    """Wait until every published result was handled; print the figures; assert none was lost."""
    expected = {f"seq_{n}" for n in range(published)}
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline and not expected <= set(servers.handled_names()):
        await asyncio.sleep(0.5)
    names = servers.handled_names()
    handled = set(names)
    duplicates = sum(count - 1 for count in Counter(names).values())
    lost = sorted(expected - handled, key=lambda name: int(name[4:]))
    print(f"\n[fault {case}] published={published} handled={len(handled & expected)} "
          f"duplicates={duplicates} lost={len(lost)}")
    assert published > 0
    assert not lost, f"{len(lost)} results lost, first {lost[:10]}; server log tail: " + "".join(
        servers.log(p)[-1500:] for p in servers.processes)
    assert handled == expected, f"handled results nobody published: {sorted(handled - expected)[:10]}"


async def test_a_server_killed_mid_stream_loses_no_result_once_another_server_starts(
    servers: Servers, private_rabbitmq: PrivateRabbitMQ
) -> None:
    first = servers.start()
    stream = Stream(private_rabbitmq.port)
    stream.start()
    await asyncio.sleep(5)
    first.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.wait)
    await asyncio.sleep(2)  # results pile up in the queue while no server runs
    servers.start()
    await asyncio.sleep(4)
    await settle(servers, await stream.stop(), "a: SIGKILL server")


async def test_a_broker_stopped_and_started_mid_stream_loses_no_result(
    servers: Servers, private_rabbitmq: PrivateRabbitMQ
) -> None:
    server = servers.start()
    stream = Stream(private_rabbitmq.port)
    stream.start()
    await asyncio.sleep(4)
    await asyncio.to_thread(private_rabbitmq.stop)
    await asyncio.sleep(2)  # the publisher buffers meanwhile, as an ogi client does
    await asyncio.to_thread(private_rabbitmq.start)
    await asyncio.sleep(6)
    await settle(servers, await stream.stop(), "b: RabbitMQ restart")
    assert stream.transport.counts["buffered"] > 0, "the publisher saw the broker go away"
    assert server.poll() is None, "the server survived the broker restart"


async def test_redis_stopped_and_started_mid_stream_loses_no_result(
    servers: Servers, private_rabbitmq: PrivateRabbitMQ, private_redis: PrivateRedis
) -> None:
    server = servers.start()
    stream = Stream(private_rabbitmq.port)
    stream.start()
    await asyncio.sleep(4)
    await asyncio.to_thread(private_redis.stop)
    await asyncio.sleep(3)  # the server pauses consuming; results wait in RabbitMQ
    await asyncio.to_thread(private_redis.start)
    await asyncio.sleep(4)
    await settle(servers, await stream.stop(), "c: Redis restart")
    assert "consuming paused" in servers.log(server), "the server saw Redis go away"
    assert server.poll() is None, "the server survived the Redis restart"


def holder(redis_port: int) -> str | None:
    value = redis.Redis(port=redis_port, decode_responses=True).get(f"task:{TASK}:server")
    return str(value) if value is not None else None


def process_of(servers: Servers, server_id: str) -> subprocess.Popen[bytes]:
    """The process whose log says it took the task under this id."""
    for process in servers.processes:
        for line in servers.log(process).splitlines():
            if "task taken" in line and server_id in line and TASK in line:
                return process
    raise AssertionError(f"no server log says {server_id} took {TASK}")


async def wait_until(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        await asyncio.sleep(0.2)
    return None


async def test_killing_the_server_holding_the_tasks_moves_them_to_the_other_server_within_45_seconds(
    servers: Servers, private_rabbitmq: PrivateRabbitMQ, private_redis: PrivateRedis
) -> None:
    servers.start()
    servers.start()
    first_id = await wait_until(lambda: holder(private_redis.port), 20)
    assert first_id, f"no server took {TASK}"
    victim = await wait_until(lambda: process_of(servers, first_id) if first_id in "".join(
        servers.log(p) for p in servers.processes) else None, 10)
    assert victim is not None
    stream = Stream(private_rabbitmq.port)
    stream.start()
    await asyncio.sleep(2)
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    await asyncio.to_thread(victim.wait)
    second_id = await wait_until(lambda: (h := holder(private_redis.port)) and h != first_id and h, 45)
    moved = time.monotonic() - killed
    print(f"\n[fault d: task holder killed] {TASK} moved from {first_id} to {second_id} in {moved:.1f} s")
    assert second_id, f"{TASK} still held by the dead server {first_id} after 45 s"
    survivor = next(p for p in servers.processes if p is not victim)
    assert process_of(servers, second_id) is survivor
    await settle(servers, await stream.stop(), "d: task holder killed")


#: Results of one check sent to a hanging handler: its share of the 12 process slots (6), and 2 more.
HUNG_RUNS = 8


async def test_a_server_killed_while_a_handler_hangs_loses_none_of_its_events(
    tmp_path: Path, private_rabbitmq: PrivateRabbitMQ, private_redis: PrivateRedis,
) -> None:
    """Runs 1-6 of one check hang in `hang`'s slots (their results unacked), runs 7-8 are queued
    for it (their results acked) and `quick` had all 8, since the check's later results do not
    wait for the hanging ones. SIGKILL; a new server, with `hang` hanging no more, runs all 8."""
    release, pids, hung_done, quick = (tmp_path / name for name in ("release", "pids", "hang_done", "quick"))
    config = {
        "rabbitmq": {"host": "127.0.0.1", "port": private_rabbitmq.port},
        "transport": {"name": "rabbitmq", "reconnect_interval": 0.2},
        "redis": {"host": "127.0.0.1", "port": private_redis.port},
        "handlers": {
            "hang": {"type": "pipe", "timeout": 50,
                     "command": f"run=$(grep -o 'run [0-9]*' | head -n 1); echo $$ >> {pids}; "
                                f"[ -e {release} ] || sleep 60; echo \"$run\" >> {hung_done}"},
            "quick": {"type": "pipe", "command": f"grep -o 'run [0-9]*' | head -n 1 >> {quick}"},
        },
    }
    (tmp_path / "server.json").write_text(json.dumps(config))

    def start(n: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([OGI, "server", "-c", str(tmp_path / "server.json"), "-l", str(tmp_path / f"server-{n}.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def read(path: Path) -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    def queued_for_hang() -> int:
        listed = rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages", node=private_rabbitmq.node)
        return sum(int(line.split("\t")[1]) for line in listed.splitlines() if line.startswith("ogi.handler.hang\t"))

    first = start(0)
    second: subprocess.Popen[bytes] | None = None
    publisher = RabbitMQTransport({"rabbitmq": config["rabbitmq"], "transport": config["transport"]})
    try:
        for n in range(1, HUNG_RUNS + 1):
            now = int(time.time())
            await publisher.publish("results", dumps({"client": "web-01", "check": {
                "name": "disk", "output": f"run {n}", "status": 2, "handlers": ["hang", "quick"],
                "issued": now, "executed": now}}))
        in_flight = await wait_until(lambda: len(read(pids)) == 6 and len(read(quick)) == HUNG_RUNS
                                     and queued_for_hang() == HUNG_RUNS - 6, 30)
        assert in_flight, f"hanging {len(read(pids))}, quick {read(quick)}; log: {(tmp_path / 'server-0.log').read_text()[-1500:]}"
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        for pid in read(pids):  # the killed server's hanging commands, each in a session of its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)
        release.touch()
        second = start(1)
        expected = {f"run {n}" for n in range(1, HUNG_RUNS + 1)}
        await wait_until(lambda: expected <= set(read(hung_done)), SETTLE)
        print(f"\n[fault e: server killed, handler hanging] hang ran {sorted(set(read(hung_done)))} "
              f"({len(read(hung_done))} runs), quick ran {len(read(quick))} runs")
        assert set(read(hung_done)) == expected, f"lost: {sorted(expected - set(read(hung_done)))}"
    finally:
        await publisher.close()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
