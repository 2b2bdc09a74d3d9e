"""One slow or hanging handler delays nobody else (issue 13, finding 2).

As a user meets it: a `pipe` handler whose command hangs gets 150 events, and another
handler's events (in `ogi server`, over the real RabbitMQ) and the client's checks (in
`ogi run`) go on; a burst to a handler slower than the slots allow all completes, because
waiting for a slot does not count towards its timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.cli.run import AllInOne
from pipeline.config.load import settings_of
from pipeline.server.server import Server
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport
from pipeline.transport.rabbitmq import RabbitMQTransport
from tests.contract.transport_fixtures import settings_for
from tests.helpers import free_port


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
