"""One slow or hanging handler delays nobody else (issue 13, finding 2).

As a user meets it: a `pipe` handler whose command hangs gets 150 events, and another
handler's events (in `ogi server`, over the real RabbitMQ) and the client's checks (in
`ogi run`) go on; a burst to a handler slower than the slots allow all completes, because
waiting for a slot does not count towards its timeout; and the hanging handler does not
hold up the later results of its own check either (recorded, and handed to the check's
other handler, while it hangs).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pipeline.cli.run import AllInOne
from pipeline.config.load import settings_of
from pipeline.server.server import Server
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.contract.transport_fixtures import settings_for
from tests.helpers import free_port

#: Results of one client and check sent while the first one's `hang` handler hangs.
RUNS = 5
#: Seconds within which the later results must be recorded and handled: well before the
#: hanging handler's timeout (20 s), which is when they came through before.
SOON = 8


def result(client: str, check: str, handlers: list[str]) -> bytes:
    return json.dumps({"client": client, "check": {
        "name": check, "output": "down", "status": 2, "handlers": handlers, "issued": int(time.time()),
    }}).encode()


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


def hanging_and_quick(tmp_path: Path) -> dict[str, Any]:
    return {
        "handlers": {
            "hang": {"type": "pipe", "command": f"cat >/dev/null; echo started >> {tmp_path / 'hang'}; sleep 600"},
            "quick": {"type": "pipe", "command": f"cat >/dev/null; echo done >> {tmp_path / 'quick'}"},
        },
    }


@pytest.mark.services
async def test_a_hanging_handler_does_not_delay_another_handlers_events_in_ogi_server(
    rabbitmq_vhost: str, tmp_path: Path,
) -> None:
    settings = {**settings_for(rabbitmq_vhost), **hanging_and_quick(tmp_path)}
    transport, feeder = RabbitMQTransport(settings), RabbitMQTransport(settings)
    server = Server(settings_of(settings), MemoryStore(), transport, elect=False, run_tasks=False, serve_metrics=False)
    await server.start()
    try:
        for n in range(150):
            await feeder.publish("results", result(f"web-{n}", "disk", ["hang"]))
        await until(lambda: lines(tmp_path / "hang") >= 6, 20)
        for n in range(5):
            await feeder.publish("results", result(f"db-{n}", "ntp", ["quick"]))
        # Before: the 100 results in hand all waited for the hanging handler's slots (60 s).
        await until(lambda: lines(tmp_path / "quick") == 5, 15)
        # The hanging handler holds its share (half the 12 slots) and no more.
        assert lines(tmp_path / "hang") == 6
        # Its other events were queued for it, durably, and their results acked.
        await until(lambda: server.engine.queues.counts["queued"] == 144, 15)
        assert await feeder.depth("results") == 0
    finally:
        await server.stop()
        await transport.close()
        await feeder.close()


async def test_a_hanging_handler_does_not_stop_the_clients_checks_in_ogi_run(tmp_path: Path) -> None:
    ticks = tmp_path / "ticks"
    settings: dict[str, Any] = {
        **hanging_and_quick(tmp_path),
        "client": {"name": "box", "subscriptions": [], "socket": {"port": free_port()}},
        "checks": {"tick": {"command": f"echo tick >> {ticks}", "standalone": True, "interval": 1,
                            "handlers": []}},
        "api": {"port": free_port()},
    }
    everything = AllInOne(settings_of(settings), quiet=True)
    await everything.start()
    try:
        for n in range(150):
            await everything.transport.publish("results", result(f"web-{n}", "disk", ["hang"]))
        await until(lambda: lines(tmp_path / "hang") >= 6, 20)
        before = lines(ticks)
        # Before: the handlers held all 12 process slots the client's checks ran in too.
        await until(lambda: lines(ticks) >= before + 3, 15)
    finally:
        await everything.stop()


async def test_a_burst_to_a_slow_handler_all_completes_because_waiting_for_a_slot_is_not_timed(
    tmp_path: Path,
) -> None:
    done = tmp_path / "done"
    settings = {
        "sensu": {"spawn": {"limit": 20}},
        "handlers": {"slow": {"type": "pipe", "command": f"cat >/dev/null; sleep 5; echo ok >> {done}",
                              "timeout": 6}},
    }
    transport = MemoryTransport()
    server = Server(settings_of(settings), MemoryStore(), transport, elect=False, run_tasks=False, serve_metrics=False)
    await server.start()
    try:
        for n in range(40):
            await transport.publish("results", result(f"web-{n}", "disk", ["slow"]))
        # 10 at a time (half of 20 slots), 5 s each: four rounds. Before, a route's deadline
        # (timeout + 5 s) ran from the moment it queued, so the third and fourth rounds were killed.
        await until(lambda: lines(done) == 40, 60)
        assert server.engine.metrics.handler_timeouts.get("slow", 0) == 0
    finally:
        await server.stop()


def hang_and_quick_on_one_check(tmp_path: Path) -> dict[str, Any]:
    # Names of their own: the module's vhost still holds events queued for `hang` above.
    return {
        "handlers": {
            "stuck": {"type": "pipe", "command": f"cat >/dev/null; echo started >> {tmp_path / 'hang'}; sleep 30",
                      "timeout": 20},
            "fast": {"type": "pipe", "command": f"grep -o 'run [0-9]*' >> {tmp_path / 'quick'}"},
        },
    }


def run_result(n: int) -> bytes:
    return json.dumps({"client": "web-01", "check": {
        "name": "disk", "output": f"run {n}", "status": 2, "handlers": ["stuck", "fast"], "issued": int(time.time()),
    }}).encode()


def quick_runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "quick"
    return path.read_text().splitlines() if path.exists() else []


async def test_a_hanging_handler_does_not_hold_up_its_own_checks_later_results_in_ogi_run(tmp_path: Path) -> None:
    port = free_port()
    settings: dict[str, Any] = {
        **hang_and_quick_on_one_check(tmp_path),
        "client": {"name": "box", "subscriptions": [], "socket": {"port": free_port()}},
        "api": {"port": port},
    }
    everything = AllInOne(settings_of(settings), quiet=True)
    await everything.start()
    try:
        await everything.transport.publish("results", run_result(1))
        await until(lambda: lines(tmp_path / "hang") == 1, 10)
        for n in range(2, RUNS + 1):
            await everything.transport.publish("results", run_result(n))
        # Before: each later result waited for the hanging run before it (20 s apiece).
        await until(lambda: len(quick_runs(tmp_path)) == RUNS, SOON)
        # each reached `fast` once; those runs may overlap, so their lines come in any order
        assert sorted(quick_runs(tmp_path)) == [f"run {n}" for n in range(1, RUNS + 1)]
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/events/web-01/disk") as answer:
            event = await answer.json()
        assert (event["check"]["output"], event["occurrences"]) == (f"run {RUNS}", RUNS)
        assert event["check"]["history"] == ["2"] * RUNS
        assert lines(tmp_path / "hang") == RUNS  # every run reached the hanging handler too
    finally:
        await everything.stop()


@pytest.mark.services
async def test_a_hanging_handler_does_not_hold_up_its_own_checks_later_results_over_rabbitmq_and_redis(
    rabbitmq_vhost: str, raw_redis: Any, redis_db: int, tmp_path: Path,
) -> None:
    from pipeline.store.redis import RedisStore

    settings = {**settings_for(rabbitmq_vhost), **hang_and_quick_on_one_check(tmp_path)}
    store = RedisStore({"host": "127.0.0.1", "port": 6379, "db": redis_db})
    transport, feeder = RabbitMQTransport(settings), RabbitMQTransport(settings)
    server = Server(settings_of(settings), store, transport, elect=False, run_tasks=False, serve_metrics=False)
    await server.start()
    try:
        await feeder.publish("results", run_result(1))
        await until(lambda: lines(tmp_path / "hang") == 1, 10)
        for n in range(2, RUNS + 1):
            await feeder.publish("results", run_result(n))
        await until(lambda: len(quick_runs(tmp_path)) == RUNS, SOON)
        # each reached `fast` once; those runs may overlap, so their lines come in any order
        assert sorted(quick_runs(tmp_path)) == [f"run {n}" for n in range(1, RUNS + 1)]
        event = await store.get_event("web-01", "disk")
        assert event is not None and (event["check"]["output"], event["occurrences"]) == (f"run {RUNS}", RUNS)
        assert (await store.get_history("web-01", "disk"))[-RUNS:] == ["2"] * RUNS
        # The results are in hand, not acked: each waits for its own run of the hanging handler.
        assert lines(tmp_path / "hang") == RUNS
    finally:
        await server.stop()
        await transport.close()
        await feeder.close()
        await store.close()
