"""The server pauses while the store is unavailable and loses nothing when it comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from pipeline.config.load import settings_of
from pipeline.server.results import ResultProcessor
from pipeline.server.server import ResultConsumer
from pipeline.store.base import StoreUnavailable
from pipeline.store.memory import MemoryStore
from pipeline.transport.memory import MemoryTransport


class FlakyStore(MemoryStore):
    """The memory store, unavailable while `down` is set (as Redis during a failover)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def record_result(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise StoreUnavailable("connection refused")
        return await super().record_result(*args, **kwargs)

    async def ping(self) -> bool:
        return not self.down


class Recording:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def process(self, event: dict[str, Any], *_: Any) -> None:
        self.events.append(event)


def result(n: int) -> bytes:
    return json.dumps({"client": "web1", "check": {"name": f"c{n}", "output": "down", "status": 2}}).encode()


async def test_results_wait_while_the_store_is_down_and_are_all_processed_once_it_is_back():
    store, engine, transport = FlakyStore(), Recording(), MemoryTransport()
    consumer = ResultConsumer(transport, ResultProcessor(settings_of({}), store, engine), probe_interval=0.01)
    running = asyncio.create_task(consumer.run())
    await transport.publish("results", result(0))
    for _ in range(100):
        if engine.events:
            break
        await asyncio.sleep(0.01)
    store.down = True
    for n in range(1, 6):
        await transport.publish("results", result(n))
    await asyncio.sleep(0.1)
    assert consumer.paused and len(engine.events) == 1, "nothing is processed, or lost, while the store is down"
    store.down = False
    for _ in range(200):
        if len(engine.events) == 6:
            break
        await asyncio.sleep(0.01)
    assert sorted(e["check"]["name"] for e in engine.events) == [f"c{n}" for n in range(6)]
    assert not consumer.paused and consumer.paused_count == 1
    assert transport.counts["dead_lettered"] == 0, "an unavailable store is not the message's fault"
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


def check_result(check: str, output: str) -> bytes:
    return json.dumps({"client": "web1", "check": {"name": check, "output": output, "status": 2}}).encode()


async def wait_for(engine: Recording, count: int, seconds: float) -> None:
    for _ in range(int(seconds / 0.005)):
        if len(engine.events) >= count:
            return
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def consuming(**options: Any) -> AsyncIterator[tuple[Recording, MemoryTransport]]:
    """A ResultConsumer with `options` running over the memory backends, stopped afterwards."""
    engine, transport = Recording(), MemoryTransport()
    running = asyncio.create_task(ResultConsumer(transport, ResultProcessor(settings_of({}), MemoryStore(), engine), **options).run())
    try:
        yield engine, transport
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_full_batch_goes_at_once_and_its_results_keep_their_arrival_order():
    # A linger far longer than the test: only a full batch can release these results.
    async with consuming(linger=60, batch_size=5) as (engine, transport):
        for n in range(10):
            await transport.publish("results", check_result("disk" if n % 2 else "load", str(n)))
        await wait_for(engine, 10, 5)
    assert [e["check"]["output"] for e in engine.events if e["check"]["name"] == "disk"] == ["1", "3", "5", "7", "9"]
    assert [e["check"]["output"] for e in engine.events if e["check"]["name"] == "load"] == ["0", "2", "4", "6", "8"]
    assert [e["occurrences"] for e in engine.events if e["check"]["name"] == "disk"] == [1, 2, 3, 4, 5]


async def test_a_lone_result_waits_for_company_no_longer_than_the_linger():
    async with consuming(linger=0.3, batch_size=50) as (engine, transport):
        await transport.publish("results", check_result("disk", "full"))
        await asyncio.sleep(0.1)
        assert engine.events == [], "it waits for others to share the store's round trip"
        await wait_for(engine, 1, 2)
    assert [e["check"]["output"] for e in engine.events] == ["full"]


async def test_with_one_message_in_hand_nothing_waits():
    # As with Sensu's prefetch of 1: no batch can form, so waiting would only slow it down.
    async with consuming(concurrency=1, linger=60) as (engine, transport):
        for n in range(3):
            await transport.publish("results", check_result("disk", str(n)))
        await wait_for(engine, 3, 2)
    assert [e["check"]["output"] for e in engine.events] == ["0", "1", "2"]


async def test_a_waiting_result_cancelled_does_not_take_its_batch_with_it():
    engine, transport = Recording(), MemoryTransport()
    consumer = ResultConsumer(transport, ResultProcessor(settings_of({}), MemoryStore(), engine), linger=0.2, batch_size=50)
    running = asyncio.create_task(consumer.run())
    try:
        for n in range(3):
            await transport.publish("results", check_result(f"c{n}", str(n)))
        for _ in range(100):
            if len(consumer._tasks) == 3:
                break
            await asyncio.sleep(0.005)
        next(iter(consumer._tasks)).cancel()  # as a channel that died cancels its deliveries' tasks
        await wait_for(engine, 2, 2)
        await asyncio.sleep(0.05)
        assert len(engine.events) == 2
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
