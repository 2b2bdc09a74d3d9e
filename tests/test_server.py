"""The server pauses while the store is unavailable and loses nothing when it comes back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pipeline.results import ResultProcessor
from pipeline.server import ResultConsumer
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

    async def process(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def result(n: int) -> bytes:
    return json.dumps({"client": "web1", "check": {"name": f"c{n}", "output": "down", "status": 2}}).encode()


async def test_results_wait_while_the_store_is_down_and_are_all_processed_once_it_is_back():
    store, engine, transport = FlakyStore(), Recording(), MemoryTransport()
    consumer = ResultConsumer(transport, ResultProcessor({}, store, engine), probe_interval=0.01)
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
