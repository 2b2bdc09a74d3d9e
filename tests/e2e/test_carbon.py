"""End to end against a real carbon-cache: check results through ogi's chain into whisper files.

Each test starts Debian's carbon-cache (tests/e2e/carbon.py) on free loopback ports, runs metric
check results through ResultProcessor + Engine + MemoryStore to a `graphite` handler (or Sensu
1.x's `tcp` + `only_check_output`), closes the engine (which flushes) and reads the exact values
and timestamps back from the whisper files. Timestamps are a few tens of seconds in the past,
aligned to the 10 s step of the `test.` storage schema, so that whisper keeps them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bench.carbon import Carbon, available
from pipeline import jsoncodec
from pipeline.chain.engine import Engine
from pipeline.config.load import settings_of
from pipeline.extension import Context
from pipeline.registry import default_registry
from pipeline.server.results import ResultProcessor
from pipeline.store.memory import MemoryStore
from tests.helpers import require_service


@pytest.fixture
def carbon(tmp_path: Path) -> Iterator[Carbon]:
    require_service("carbon-cache", available=available())
    server = Carbon(tmp_path / "carbon")
    server.start()
    try:
        yield server
    finally:
        server.stop(graceful=False)


def past_step() -> int:
    """A 10 s-aligned time about a minute ago: inside the 1 h retention, never in the future."""
    return int(time.time()) // 10 * 10 - 60


class Chain:
    """ogi's result path with an in-memory store: results in, handlers out."""

    def __init__(self, handlers: dict[str, Any]) -> None:
        self.settings: dict[str, Any] = {"handlers": handlers}
        self.metrics = CollectorRegistry()
        store = MemoryStore()
        self.engine = Engine(settings_of(self.settings), Context(settings=settings_of(self.settings), store=store, metrics=self.metrics),
                             default_registry)
        self.processor = ResultProcessor(settings_of(self.settings), store, self.engine, metrics=self.metrics)

    async def result(self, client: str, check: str, output: str, executed: int, handlers: list[str]) -> None:
        message = {
            "client": client,
            "check": {
                "name": check, "type": "metric", "command": f"ogi-metrics-{check}", "interval": 10,
                "issued": executed, "executed": executed, "duration": 0.01, "status": 0,
                "output": output, "handlers": handlers,
            },
        }
        event = await self.processor.process_message(jsoncodec.dumps(message))
        assert event is not None, "a metric result always reaches its handlers"

    def count(self, name: str, handler: str = "graphite") -> float:
        return self.metrics.get_sample_value(f"{name}_total", {"handler": handler}) or 0.0

    async def close(self) -> None:
        await self.engine.close()


def graphite(carbon: Carbon, **extra: Any) -> dict[str, Any]:
    return {"type": "graphite", "host": "127.0.0.1", "port": carbon.port, "prefix": "test.ogi", **extra}


async def test_metric_results_reach_whisper_with_exact_values_and_timestamps(carbon: Carbon) -> None:
    base = past_step()
    chain = Chain({"graphite": graphite(carbon)})
    for step, (load1, load5) in enumerate([(0.76, 0.24), (0.8, 0.25), (0.91, 0.3)]):
        executed = base + 10 * step
        # load1 carries its own timestamp; load5 has none and gets the time the check executed
        output = f"host1.load.load1 {load1} {executed}\nhost1.load.load5 {load5}\n"
        await chain.result("host1", "load", output, executed, ["graphite"])
    await chain.close()

    expected1 = {base: 0.76, base + 10: 0.8, base + 20: 0.91}
    expected5 = {base: 0.24, base + 10: 0.25, base + 20: 0.3}
    assert carbon.wait_for(carbon.file("test.ogi.host1.load.load1"), expected1) == expected1
    assert carbon.wait_for(carbon.file("test.ogi.host1.load.load5"), expected5) == expected5
    assert chain.count("ogi_graphite_points_sent") == 6
    assert chain.count("ogi_graphite_points_dropped") == 0


async def test_sensu_1x_tcp_with_only_check_output_still_feeds_carbon_beside_the_graphite_handler(
    carbon: Carbon,
) -> None:
    base = past_step()
    chain = Chain({
        "legacy": {"type": "tcp", "socket": {"host": "127.0.0.1", "port": carbon.port}, "mutator": "only_check_output"},
        "graphite": graphite(carbon),
    })
    for step in range(3):
        executed = base + 10 * step
        output = f"test.legacy.host2.cpu.user {step * 1.5} {executed}\n"
        await chain.result("host2", "cpu", output, executed, ["legacy", "graphite"])
    await chain.close()

    expected = {base: 0.0, base + 10: 1.5, base + 20: 3.0}
    assert carbon.wait_for(carbon.file("test.legacy.host2.cpu.user"), expected) == expected  # written as printed
    assert carbon.wait_for(carbon.file("test.ogi.test.legacy.host2.cpu.user"), expected) == expected  # prefixed


async def test_points_sent_over_udp_reach_whisper(carbon: Carbon) -> None:
    base = past_step()
    chain = Chain({"graphite": graphite(carbon, protocol="udp")})
    output = "".join(f"host3.if.eth0.rx_bytes {1000 + i} {base - 10 * i}\n" for i in range(40))
    await chain.result("host3", "interface", output, base, ["graphite"])
    await chain.close()

    expected = {base - 10 * i: float(1000 + i) for i in range(40)}
    assert carbon.wait_for(carbon.file("test.ogi.host3.if.eth0.rx_bytes"), expected) == expected


async def test_tagged_points_are_stored_as_tagged_series(carbon: Carbon) -> None:
    base = past_step()
    chain = Chain({"graphite": graphite(carbon, tags=True)})
    message_tags = {"dc": "eu-1"}
    result = {
        "client": "host4",
        "check": {
            "name": "mem", "type": "metric", "executed": base, "status": 0, "handlers": ["graphite"],
            "output": f"host4.memory.used 2048 {base}\n", "output_metric_tags": message_tags,
        },
    }
    assert await chain.processor.process_result(result) is not None
    await chain.close()

    deadline = time.monotonic() + 30
    while not (files := list((carbon.whisper / "_tagged").rglob("*.wsp"))) and time.monotonic() < deadline:
        time.sleep(0.2)
    [file] = files
    assert carbon.wait_for(file, {base: 2048.0}) == {base: 2048.0}
    assert not carbon.file("test.ogi.host4.memory.used").exists()


async def test_a_carbon_restart_between_batches_loses_at_most_what_was_in_flight(carbon: Carbon) -> None:
    base = past_step()
    chain = Chain({"graphite": graphite(carbon, interval=0.05)})
    file = carbon.file("test.ogi.host5.disk.used")

    await chain.result("host5", "disk", f"host5.disk.used 10 {base - 20}\n", base - 20, ["graphite"])
    assert carbon.wait_for(file, {base - 20: 10.0}) == {base - 20: 10.0}

    carbon.stop()
    await chain.result("host5", "disk", f"host5.disk.used 11 {base - 10}\n", base - 10, ["graphite"])
    deadline = time.monotonic() + 10
    while chain.count("ogi_graphite_points_dropped") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chain.count("ogi_graphite_points_dropped") == 1  # the one point sent while carbon was away

    carbon.start()  # the same port
    await chain.result("host5", "disk", f"host5.disk.used 12 {base}\n", base, ["graphite"])
    await chain.close()

    expected = {base - 20: 10.0, base: 12.0}
    assert carbon.wait_for(file, expected) == expected
    assert chain.count("ogi_graphite_points_sent") == 2


async def test_with_carbon_down_results_are_handled_without_blocking_and_the_drops_are_counted(
    carbon: Carbon,
) -> None:
    carbon.stop()
    base = past_step()
    chain = Chain({"graphite": graphite(carbon, interval=0.05, timeout=1)})
    for step in range(5):
        output = "".join(f"host6.cpu.cpu{n}.idle {90 + n} {base + 10 * step}\n" for n in range(8))
        await chain.result("host6", "cpu", output, base + 10 * step, ["graphite"])
    await chain.close()

    assert chain.count("ogi_graphite_points_dropped") == 40
    assert chain.count("ogi_graphite_points_sent") == 0
    assert not any(chain.engine.metrics.handler_failures.values())
